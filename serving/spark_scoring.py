"""Batch scoring on Spark: the champion models score on the executors, the driver only plans.

What runs where:

1. driver: reads the champions' versions and configs from the MLflow registry (small);
2. executors: compute the feature snapshot from the Ibis definitions and write it as Parquet
   (``features.snapshots.write_snapshots``, partitioned by ``cutoff_day``) beside the scores'
   place, moved in with them once they are written;
3. driver: fits BG/NBD + Gamma-Gamma on the buyers' seven summary columns (optionally a stable
   customer-hash sample of them) -- the only rows that reach the driver;
4. executors: ``mapInPandas`` over Arrow batches of the snapshot; each Python worker loads the
   same registered champions (once, cached per worker, versions checked against the driver's),
   adds the calendar and BTYD columns and applies ``serving.batch.score_snapshot`` -- the code
   of ``lifecycle score`` -- to the batch, and the tier hold against the scoring ``out`` held
   (``serving.spark_hold``); the scores are written as Parquet partitioned by ``as_of_day``.
   Nothing is collected to the driver.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from features.contract import CONTACT_FLAGS, CUSTOMERS, ENDED_AT, RETURNED_AT
from features.endings import (
    ENDED_DAYS,
    ENDS_IN_DAYS,
    own_ended_days,
    own_ends_in_days,
    reads_notices,
)
from features.engine import Engine, Move
from features.snapshots import CUTOFF_PARTITION, sample_customers, table_location, timed_step
from serving.action_hold import held_line
from serving.batch import set_prediction_threads
from training.dataset import (
    BTYD_INPUTS,
    add_calendar_columns,
    apply_btyd,
    data_bounds,
    fit_btyd,
    with_model_columns,
)

AS_OF_PARTITION = "as_of_day"
#: Rows of the snapshot scored on the driver to learn the score table's Spark schema.
_SCHEMA_ROWS = 32
_WORKER_CHAMPIONS: dict[tuple, Any] = {}  # per executor Python worker: loaded once


@dataclass(frozen=True)
class SparkScores:
    """What a Spark scoring run wrote."""

    scores: str
    snapshot: str
    rows: int
    churn_version: str
    clv_version: str
    hold: str = ""  # what the tier hold did (``serving.spark_hold``), for the log


def snapshot_path(out: str | Path) -> str:
    """Where the feature snapshot goes: next to the scores, as ``lifecycle score`` does."""
    text = str(out).rstrip("/")
    stem = text.removesuffix(".parquet")
    return f"{stem}.snapshot.parquet"


def load_champions_for(tracking_uri: str, project: str):
    """``serving.batch.load_champions``: the project's registered champion pair."""
    from serving.batch import load_champions

    return load_champions(tracking_uri, project)


def score_on_spark(
    engine: Engine,
    data_dir: str | Path,
    as_of: date,
    out: str | Path,
    *,
    tracking_uri: str,
    project: str,
    scoring_config=None,
    btyd_sample_fraction: float = 1.0,
    progress: bool = True,
) -> SparkScores:
    """Score every customer known at ``as_of`` with the champions; write scores and snapshot.

    ``out`` is a directory of Parquet files partitioned by ``as_of_day`` (replaced); the
    snapshot goes to :func:`snapshot_path`. ``btyd_sample_fraction`` < 1 fits the BTYD
    columns' models on that share of buyers (by customer hash) instead of all of them.
    """
    from features.snapshots import write_snapshots
    from serving.batch import check_data_zone
    from serving.scoring import PROJECT_MARKER
    from serving.spark_hold import find_previous, kept_frame, previous_path, with_previous

    champions = load_champions_for(tracking_uri, project)
    check_data_zone(data_dir, champions, engine.read_text)
    cfg = champions.snapshot_config()
    snapshot_dir = snapshot_path(out)
    # what is there must be an earlier Spark scoring's: replacing deletes the whole directory
    scores_owned, snapshot_owned = (
        (f"{AS_OF_PARTITION}=", PROJECT_MARKER),
        (f"{CUTOFF_PARTITION}=",),
    )
    engine.check_replaceable(str(out), scores_owned)
    engine.check_replaceable(snapshot_dir, snapshot_owned, "--out's snapshot")
    kept_dir, kept_owned = previous_path(str(out)), (f"{AS_OF_PARTITION}=", PROJECT_MARKER)
    engine.check_replaceable(kept_dir, kept_owned, "--out's previous scoring")
    # each run's own staging directories: a concurrent run never deletes them
    snapshot_staging = engine.staging_path(snapshot_dir)  # published with the scores, not before
    staging = engine.staging_path(str(out))
    kept_staging = engine.staging_path(kept_dir)
    try:
        written = write_snapshots(
            engine, data_dir, [as_of], snapshot_staging, config=cfg.features, progress=progress
        )
        if written.rows == 0:
            from serving.batch import nothing_to_score

            raise nothing_to_score(data_dir, as_of)
        with engine.job(f"scoring {data_dir} as of {as_of}"):
            features = engine.spark.read.parquet(snapshot_staging).drop("cutoff_day")
            features = _with_customer_ends(engine, features, data_dir)
            notices = reads_notices(as_of, data_bounds(data_dir)[1])
            with timed_step(
                f"BG/NBD + Gamma-Gamma on the driver (the buyers of {written.rows:,} customers)",
                progress,
            ):
                models = _fit_btyd_on_driver(
                    engine, snapshot_staging, btyd_sample_fraction, data_dir
                )
            horizons = (
                champions.churn_config.labels.churn_horizon_days,
                champions.clv_config.labels.value_horizon_days,
            )
            config = _scoring_config(champions, scoring_config)
            versions = _versions(champions)
            previous, keep, hold = find_previous(
                engine, str(out), snapshot_dir, project, as_of, config, versions
            )
            features = with_previous(features, previous)
            before = previous.as_of if previous is not None else None
            sample = features.limit(_SCHEMA_ROWS).toPandas()
            schema = _spark_schema(
                score_batch(sample, champions, models, horizons, as_of, config, before, notices)[0]
            )
            held = engine.spark.sparkContext.accumulator(0)

            def score_partition(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
                worker = _worker_champions(tracking_uri, project, versions)
                for batch in batches:
                    scores, n = score_batch(
                        batch, worker, models, horizons, as_of, config, before, notices
                    )
                    held.add(n)
                    yield scores

            from pyspark.sql import functions as F

            scores = features.mapInPandas(score_partition, schema)
            scores = scores.withColumn(AS_OF_PARTITION, F.lit(f"{as_of:%Y-%m-%d}"))
            with timed_step(
                f"scoring {written.rows:,} customers on the executors -> {out}", progress
            ):
                scores.write.mode("overwrite").partitionBy(AS_OF_PARTITION).parquet(staging)
                rows = engine.spark.read.parquet(staging).count()
                _write_project_marker(engine, staging, project, data_dir)
                moves = [
                    Move(snapshot_staging, snapshot_dir, snapshot_owned, "--out's snapshot"),
                    Move(staging, str(out), scores_owned),
                ]
                if keep is not None:  # the scoring replaced here: what a re-run compares with
                    kept = kept_frame(keep[1], keep[0])
                    kept.write.mode("overwrite").partitionBy(AS_OF_PARTITION).parquet(kept_staging)
                    _write_project_marker(engine, kept_staging, project, data_dir)
                    # first: killed after it, --out still holds the scoring it copies
                    moves.insert(0, Move(kept_staging, kept_dir, kept_owned, "--out's previous"))
                engine.publish_together(*moves)
            if previous is not None:
                hold = held_line(held.value, previous.as_of, config)
    except BaseException:
        # a failed run leaves no debris
        engine.remove_quietly(snapshot_staging, staging, kept_staging)
        raise
    return SparkScores(str(out), snapshot_dir, rows, *versions, hold=hold)


def _write_project_marker(engine: Engine, out: str | Path, project: str, data_dir) -> None:
    """Record in the score directory which project scored it (``lifecycle export`` checks it)
    and from which data, through Spark's file system so that any URI Spark wrote to works."""
    import json

    from serving.scoring import PROJECT_MARKER

    data = str(data_dir) if "://" in str(data_dir) else str(Path(data_dir).absolute())
    fs, path = engine.hadoop_file(f"{str(out).rstrip('/')}/{PROJECT_MARKER}")
    stream = fs.create(path, True)
    try:
        stream.write(bytearray(json.dumps({"project": project, "data": data}).encode("utf-8")))
    finally:
        stream.close()


def _with_customer_ends(engine: Engine, features, data_dir):
    """The snapshot's rows with their customer's ``ended_at`` and ``returned_at``
    (``features.endings``) and contact flags (``features.contact_flags``), those of them the
    customers table has."""
    customers = engine.spark.read.parquet(str(table_location(data_dir, CUSTOMERS)))
    carried = [c for c in (ENDED_AT, RETURNED_AT, *CONTACT_FLAGS) if c in customers.columns]
    if not carried:
        return features
    return features.join(customers.select("customer_id", *carried), "customer_id", "left")


def score_batch(
    batch: pd.DataFrame,
    champions,
    models: dict,
    horizons: tuple[int, int],
    as_of: date,
    config,
    previous_as_of: date | None = None,
    notices: bool = False,
) -> tuple[pd.DataFrame, int]:
    """One Arrow batch of the snapshot -> its scores, with the code of ``lifecycle score``, and
    how many of them kept their tier of the scoring of ``previous_as_of``, whose columns the
    batch carries (``serving.spark_hold``). ``notices``: the batch's ends still ahead are read
    (``features.endings.reads_notices``), as ``lifecycle score`` reads them."""
    from serving.action_hold import hold_tiers
    from serving.batch import score_snapshot
    from serving.spark_hold import split_batch

    batch, previous = split_batch(batch.reset_index(drop=True), previous_as_of)
    batch["cutoff"] = pd.to_datetime(batch["cutoff"]).astype("datetime64[us]")
    if ENDED_AT in batch.columns:
        batch[ENDED_DAYS] = own_ended_days(batch)
        if notices:
            batch[ENDS_IN_DAYS] = own_ends_in_days(batch)
    batch = apply_btyd(add_calendar_columns(batch), models, *horizons)
    batch = with_model_columns(batch, champions.feature_columns)  # as feature_snapshot
    scores = score_snapshot(batch, champions, as_of, config)
    held = 0
    if previous is not None:
        scores, held = hold_tiers(scores, batch, previous, config)
    scores["as_of"] = pd.to_datetime(scores["as_of"]).astype("datetime64[us]")
    return scores, held


def read_scores(path: str | Path) -> pd.DataFrame:
    """A score directory written by :func:`score_on_spark`, sorted by ``customer_id``."""
    frame = pd.read_parquet(path).drop(columns=[AS_OF_PARTITION], errors="ignore")
    frame["reasons"] = frame["reasons"].map(lambda r: [] if r is None else list(r))
    return frame.sort_values("customer_id", ignore_index=True)


def _fit_btyd_on_driver(engine: Engine, snapshot_dir: str, fraction: float, data_dir) -> dict:
    """BTYD models fitted on the buyers' summary columns (the only rows the driver sees), the
    ended customers left out as ``training.dataset.buyers_at_risk`` leaves them out."""
    snapshot = engine.backend.read_parquet(snapshot_dir)
    buyers = sample_customers(snapshot.filter(snapshot.is_prospect == 0), fraction)
    columns = [*BTYD_INPUTS, "customer_id", "recency_days"]
    customers = engine.backend.read_parquet(str(table_location(data_dir, CUSTOMERS)))
    if ENDED_AT in customers.columns:
        carried = [c for c in (ENDED_AT, RETURNED_AT) if c in customers.columns]
        ends = customers.select(*carried, customer_id_end=customers.customer_id)
        buyers = buyers.left_join(ends, buyers.customer_id == ends.customer_id_end)
        columns.extend(carried)
    frame = buyers.select(*columns).to_pandas()
    if frame.empty:  # nobody bought before the date: fit_btyd says so, as on DuckDB
        frame = snapshot.select("customer_id", *BTYD_INPUTS).to_pandas()
    frame["cutoff"] = pd.to_datetime(frame["cutoff"]).astype("datetime64[us]")
    if ENDED_AT in frame.columns:
        frame[ENDED_DAYS] = own_ended_days(frame)
    return fit_btyd(frame)


def _versions(champions) -> tuple[str, str]:
    """The churn and CLV model versions of a champion pair."""
    return str(champions.churn_version), str(champions.clv_version)


def _scoring_config(champions, scoring_config):
    """The scoring config the executors apply, its label language decided here on the driver
    (an executor's environment may not carry the driver's LIFECYCLE_LANG)."""
    from serving.config import stored_scoring_config
    from serving.scoring import label_language

    if scoring_config is None:
        scoring_config = stored_scoring_config(champions.scoring)
    return scoring_config.model_copy(update={"language": label_language(scoring_config)})


def _worker_champions(tracking_uri: str, project: str, versions: tuple[str, str]):
    """The champions on an executor: loaded from the registry once per Python worker; a
    champion promoted while the job runs stops it rather than mixing model versions."""
    key = (tracking_uri, project, versions)
    if key not in _WORKER_CHAMPIONS:
        champions = load_champions_for(tracking_uri, project)
        found = _versions(champions)
        if found != versions:
            raise RuntimeError(
                f"{tracking_uri}: the champions changed during scoring (churn v{versions[0]}, "
                f"clv v{versions[1]} -> v{found[0]}, v{found[1]}); run the scoring again"
            )
        set_prediction_threads(champions, task_cpus())  # process-wide: once per worker
        _WORKER_CHAMPIONS.clear()
        _WORKER_CHAMPIONS[key] = champions
    return _WORKER_CHAMPIONS[key]


def task_cpus() -> int:
    """The cores Spark gave this task (``spark.task.cpus``, 1 by default): the LightGBM threads
    of an executor's Python worker. Spark runs one task per core, so OpenMP's default (every core
    of the machine, per worker) would put cores x cores threads on the executor's cores."""
    from pyspark import TaskContext

    context = TaskContext.get()
    return max(1, int(context.cpus())) if context is not None else 1


def _spark_schema(sample: pd.DataFrame):
    """The Spark schema of a score frame from a scored sample (naive timestamps stay naive)."""
    import pyarrow as pa
    from pyspark.sql import types as T

    def spark_type(t: pa.DataType, name: str):
        if pa.types.is_string(t) or pa.types.is_large_string(t):
            return T.StringType()
        if pa.types.is_floating(t):
            return T.DoubleType()
        if pa.types.is_integer(t):
            return T.LongType()
        if pa.types.is_boolean(t):
            return T.BooleanType()
        if pa.types.is_timestamp(t):
            return T.TimestampNTZType() if t.tz is None else T.TimestampType()
        if pa.types.is_list(t) or pa.types.is_large_list(t):
            return T.ArrayType(T.StringType())  # reasons: a list of sentences, maybe empty
        if pa.types.is_null(t):  # a text column null in every sampled row (no uplift champion)
            return T.StringType()
        raise TypeError(f"score column {name!r}: no Spark type for {t}")

    arrow = pa.Schema.from_pandas(sample, preserve_index=False)
    return T.StructType([T.StructField(f.name, spark_type(f.type, f.name), True) for f in arrow])
