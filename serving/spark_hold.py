"""The tier hold of Spark scoring (``serving.action_hold``), the previous scoring on the cluster.

``lifecycle score --engine spark`` keeps no local score history; the scoring the CRM received
is the one its scores directory (``--out``) holds, so that is the previous scoring a new run
compares with. Its hold columns (and each customer's ``complaint_30d`` from its snapshot) are
joined to the new snapshot by ``customer_id`` before ``mapInPandas``, and every batch applies
``action_hold.hold_tiers`` -- the code of ``lifecycle score`` -- to its own rows.

A run of a date the directory already holds (a re-run) must compare with the scoring before it,
which the directory no longer holds: each run that replaces an earlier date therefore keeps that
date's hold columns beside the scores (``<out>.previous.parquet``, partitioned by ``as_of_day``,
published with the scores), and a re-run compares with those.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any

import pandas as pd

from features.engine import Engine
from serving.action_hold import COMPLAINT_COLUMN, Previous, other_versions_line

#: Score columns the hold compares (``action_hold.hold_mask``).
HOLD_COLUMNS = (
    "stage",
    "priority_tier",
    "priority_score",
    "churn_model_version",
    "clv_model_version",
)
#: Prefix of the previous scoring's columns joined to the snapshot (removed before scoring).
PREFIX = "__previous_"
AS_OF_PARTITION = "as_of_day"


def previous_path(out: str) -> str:
    """Where the scoring before the one in ``out`` is kept: ``<out>.previous.parquet``."""
    return f"{str(out).rstrip('/').removesuffix('.parquet')}.previous.parquet"


@dataclass(frozen=True)
class SparkPrevious:
    """The previous scoring found for a run: its date and its hold columns as a Spark DataFrame
    (``customer_id``, :data:`HOLD_COLUMNS`, ``complaint_30d`` when its snapshot had it)."""

    as_of: date
    frame: Any


def find_previous(
    engine: Engine, out: str, snapshot_dir: str, project: str, as_of: date, config, versions
) -> tuple[SparkPrevious | None, tuple[date, Any] | None, str]:
    """The scoring a Spark run at ``as_of`` holds tiers against, the one to keep as
    ``.previous`` (None: keep what is there), and the log line saying what the hold does.

    Candidates: the scoring ``out`` holds (a whole one, of ``project``), else the one kept in
    ``.previous``; the latest strictly before ``as_of`` and at most ``hold.within_days`` before
    it, of the same churn and CLV model versions."""
    in_out = _scoring_at(engine, out, project, snapshot_dir)
    keep = in_out if in_out is not None and in_out[0] < as_of else None
    if config.hold.margin <= 0:  # the replaced scoring is still kept: a re-run may hold again
        return None, keep, "tier hold: off"
    kept = _scoring_at(engine, previous_path(out), project, None)
    found = next((c for c in (in_out, kept) if c is not None and c[0] < as_of), None)
    if found is None:
        return (
            None,
            None,
            f"tier hold: no earlier scoring of {project} in {out}: every tier as scored",
        )
    day, frame = found
    if (as_of - day).days > config.hold.within_days:
        said = (
            f"tier hold: the scoring of {project} in {out} is of {day}, more than "
            f"{config.hold.within_days} days before {as_of}: every tier as scored"
        )
        return None, keep, said
    with engine.job(f"reading the model versions of the scoring of {day}"):
        found_versions = {
            (str(r[0]), str(r[1]))
            for r in frame.select("churn_model_version", "clv_model_version").distinct().collect()
        }
    if found_versions != {tuple(map(str, versions))}:
        return None, keep, other_versions_line(day)
    return SparkPrevious(day, frame), keep, ""


def _scoring_at(
    engine: Engine, path: str, project: str, snapshot_dir: str | None
) -> tuple[date, Any] | None:
    """(date, hold columns) of the latest whole scoring of ``project`` at ``path``; None when
    there is none (nothing there, no ``_SUCCESS``, another project's, no dated partition)."""
    fs, where = engine.hadoop_file(path)
    if not fs.exists(where) or not fs.exists(engine.hadoop_file(f"{path}/_SUCCESS")[1]):
        return None
    if (owner := _project_of(engine, path)) is not None and owner != project:
        return None
    days = sorted(
        date.fromisoformat(name.split("=", 1)[1])
        for child in fs.listStatus(where)
        if (name := str(child.getPath().getName())).startswith(f"{AS_OF_PARTITION}=")
    )
    if not days:
        return None
    from pyspark.sql import functions as F

    scores = engine.spark.read.parquet(path)
    frame = scores.filter(F.col(AS_OF_PARTITION) == days[-1].isoformat())
    columns = ["customer_id", *HOLD_COLUMNS]
    if COMPLAINT_COLUMN in scores.columns:  # a kept .previous carries it
        columns.append(COMPLAINT_COLUMN)
    frame = frame.select(*columns)
    if snapshot_dir is not None and COMPLAINT_COLUMN not in columns:
        snapshot = _complaints(engine, snapshot_dir, days[-1])
        if snapshot is not None:
            frame = frame.join(snapshot, on="customer_id", how="left")
    return days[-1], frame


def _complaints(engine: Engine, snapshot_dir: str, day: date) -> Any:
    """``customer_id`` and ``complaint_30d`` of the snapshot of the scoring of ``day`` (None
    without them, or when the snapshot beside the scores is of another date: a run killed
    between publishing its snapshot and its scores; its complaints would hide new ones)."""
    from pyspark.sql import functions as F

    from features.snapshots import CUTOFF_PARTITION

    fs, where = engine.hadoop_file(f"{snapshot_dir.rstrip('/')}/{CUTOFF_PARTITION}={day}")
    if not fs.exists(where):
        return None
    snapshot = engine.spark.read.parquet(snapshot_dir)
    if COMPLAINT_COLUMN not in snapshot.columns:
        return None
    snapshot = snapshot.filter(F.col(CUTOFF_PARTITION) == day.isoformat())
    return snapshot.select("customer_id", COMPLAINT_COLUMN).dropDuplicates(["customer_id"])


def _project_of(engine: Engine, path: str) -> str | None:
    """The project a score directory's marker names (None without a marker)."""
    from serving.scoring import PROJECT_MARKER

    marker = f"{path.rstrip('/')}/{PROJECT_MARKER}"
    fs, where = engine.hadoop_file(marker)
    if not fs.exists(where):
        return None
    stream = fs.open(where)  # Spark's readers skip names starting with "_"
    try:
        text = engine.spark._jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8")
    finally:
        stream.close()
    return json.loads(str(text)).get("project")


def with_previous(features: Any, previous: SparkPrevious | None) -> Any:
    """The snapshot with the previous scoring's hold columns joined (prefixed) by customer."""
    if previous is None:
        return features
    frame = previous.frame
    renamed = frame.select(
        "customer_id", *[frame[c].alias(f"{PREFIX}{c}") for c in frame.columns[1:]]
    )
    return features.join(renamed, on="customer_id", how="left")


def kept_frame(previous_frame: Any, as_of: date) -> Any:
    """What ``.previous`` keeps of a scoring: its hold columns with its date as partition."""
    from pyspark.sql import functions as F

    return previous_frame.withColumn(AS_OF_PARTITION, F.lit(as_of.isoformat()))


def split_batch(batch: pd.DataFrame, as_of: date | None) -> tuple[pd.DataFrame, Previous | None]:
    """A snapshot batch without the previous scoring's columns, and those as a
    ``action_hold.Previous`` of the batch's customers who had a previous score."""
    joined = [c for c in batch.columns if c.startswith(PREFIX)]
    if not joined:
        return batch, None
    features = batch.drop(columns=joined)
    if as_of is None:
        return features, None
    before = batch[["customer_id", *joined]].rename(columns=lambda c: c.removeprefix(PREFIX))
    before = before[before["priority_tier"].notna()].reset_index(drop=True)
    scores = before[["customer_id", *HOLD_COLUMNS]]
    complaints = before[[c for c in ("customer_id", COMPLAINT_COLUMN) if c in before.columns]]
    return features, Previous(as_of, scores, complaints)
