# ruff: noqa: F811  (tests take the imported fixtures `spark_engine`, `*_dir` as arguments)
"""The same Ibis definitions on DuckDB and on Spark give the same tables and the same scores.

Every family (rfm, engagement with events, static, calendar, BTYD) and the labels are built on
both engines for synthetic data with events and for CDNOW, at 1 and 12 cutoffs, and compared
column by column (floats within 1e-6, nulls in the same places, strings equal). Engine quirks
(the session time zone, midnight boundaries, integer division, nulls) have their own data.
The champion models score on Spark executors and the scores equal ``lifecycle score``'s.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cli_runs import cli_ok
from spark_fixtures import cdnow_dir, spark_engine, synthetic_dir  # noqa: F401 (fixtures)
from typer.testing import CliRunner

from features.engine import (
    EngineError,
    open_engine,
    require_java,
    require_pyspark,
    session_settings,
    spark_session,
)
from features.snapshots import build_snapshots, connect, read_snapshots, sample_customers

SYNTHETIC_CUTOFFS = [d.date() for d in pd.date_range("2025-01-01", periods=12, freq="MS")]
CDNOW_CUTOFFS = [d.date() for d in pd.date_range("1997-04-01", periods=12, freq="MS")]
KEYS = ["cutoff", "customer_id"]
REPO = Path(__file__).resolve().parents[1]


def assert_equal_tables(duck: pd.DataFrame, spark: pd.DataFrame, tol: float = 1e-6) -> None:
    """Same columns, same rows, every column equal (floats within ``tol``, nulls alike)."""
    assert list(spark.columns) == list(duck.columns)
    keys = [k for k in KEYS if k in duck.columns]
    duck = duck.sort_values(keys, ignore_index=True)
    spark = spark.sort_values(keys, ignore_index=True)
    assert len(duck) == len(spark) and len(duck) > 0
    for column in duck.columns:
        a, b = duck[column], spark[column]
        if column in ("cutoff", "as_of"):
            assert (pd.to_datetime(a) == pd.to_datetime(b)).all(), column
        elif pd.api.types.is_numeric_dtype(a.dtype) and not pd.api.types.is_bool_dtype(a.dtype):
            x, y = a.astype("float64").to_numpy(), b.astype("float64").to_numpy()
            assert np.array_equal(np.isnan(x), np.isnan(y)), f"{column}: nulls differ"
            np.testing.assert_allclose(y, x, rtol=0, atol=tol, equal_nan=True, err_msg=column)
        else:
            x = a.astype(object).map(lambda v: list(v) if isinstance(v, list | np.ndarray) else v)
            y = b.astype(object).map(lambda v: list(v) if isinstance(v, list | np.ndarray) else v)
            assert (
                x.fillna("<null>").astype(str).tolist() == y.fillna("<null>").astype(str).tolist()
            ), column


# --- features and labels ------------------------------------------------------------------------


@pytest.mark.spark
@pytest.mark.parametrize(
    ("data", "cutoffs", "horizon", "labels"),
    [
        (
            "synthetic",
            SYNTHETIC_CUTOFFS[-3:-2],
            90,
            {"value": "margin", "annual_discount_rate": 0.1},
        ),
        ("cdnow", ["1997-10-01"], 273, {}),
        ("cdnow", CDNOW_CUTOFFS, 90, {"annual_discount_rate": 0.05}),
    ],
    ids=["synthetic-1-cutoff", "cdnow-1-cutoff", "cdnow-12-cutoffs"],
)
def test_features_and_labels_are_equal(request, spark_engine, data, cutoffs, horizon, labels):
    data_dir = request.getfixturevalue(f"{data}_dir")
    duck = build_snapshots(data_dir, cutoffs, horizon_days=horizon, progress=False, **labels)
    spark = build_snapshots(
        data_dir, cutoffs, horizon_days=horizon, progress=False, engine=spark_engine, **labels
    )
    assert_equal_tables(duck, spark)
    assert duck["is_prospect"].eq(0).any() and duck["churned"].notna().any()
    if data == "synthetic":  # events, survey scores and static attributes are really there
        assert duck["events_all"].gt(0).any() and duck["satisfaction_mean_180d"].notna().any()
        assert duck["region"].notna().all()


@pytest.mark.spark
def test_training_frames_are_equal_at_twelve_cutoffs(spark_engine, synthetic_dir):
    """Features, both label horizons, calendar and BTYD columns, for a half sample of customers
    (BTYD fitted on the sample): what ``lifecycle train --engine spark`` hands to LightGBM."""
    from training.config import load_config
    from training.dataset import BuildSettings, build_frame, building_on

    data_dir, cutoffs, fraction = synthetic_dir, SYNTHETIC_CUTOFFS, 0.5
    cfg = load_config(REPO / "experiments" / "btyd-features.yaml")
    args = {"churn_horizon_days": 90, "value_horizon_days": 180, "progress": False}
    with building_on(BuildSettings(None, fraction)):
        duck = build_frame(data_dir, cutoffs, cfg, **args)
    with building_on(BuildSettings(spark_engine, fraction)):
        spark = build_frame(data_dir, cutoffs, cfg, **args)
    assert_equal_tables(duck, spark)
    assert duck["cutoff"].nunique() == 12
    assert duck["btyd_p_alive"].notna().any() and duck["cutoff_month"].nunique() == 12
    everyone = connect(data_dir).customers.customer_id.to_pandas()
    assert set(duck["customer_id"]) <= set(everyone[in_sample(everyone, fraction)])
    assert 0.35 < duck["customer_id"].nunique() / everyone.nunique() < 0.65


@pytest.mark.spark
def test_purchase_seasonality_is_the_same_on_both_engines(spark_engine, synthetic_dir):
    """The monthly repeat purchase days behind ``training.seasonality`` and the fit on them."""
    from datetime import date, datetime

    from features.definitions import monthly_purchase_days
    from training.dataset import BuildSettings, building_on
    from training.seasonality import seasonality_of

    before = datetime(2025, 7, 1)
    duck = monthly_purchase_days(connect(synthetic_dir).transactions, before).to_pandas()
    spark = monthly_purchase_days(
        connect(synthetic_dir, spark_engine.backend).transactions, before
    ).to_pandas()
    for frame in (duck, spark):
        for column in ("month", "first_month"):
            frame[column] = pd.to_datetime(frame[column])
    pd.testing.assert_frame_equal(duck, spark, check_dtype=False)
    assert duck["month"].nunique() == 30 and duck["repeat_days"].sum() > 0
    assert duck["first_month"].nunique() > 1  # one row per month and acquisition cohort
    with building_on(BuildSettings(spark_engine)):
        on_spark = seasonality_of(synthetic_dir, date(2025, 7, 1))
    assert on_spark == seasonality_of(synthetic_dir, date(2025, 7, 1))


@pytest.mark.spark
def test_cli_features_on_spark_read_and_write_uris(spark_engine, synthetic_dir, tmp_path):
    """``lifecycle features --engine spark --data file://... --out file://...``: the contract read
    through Spark's Hadoop file systems, Parquet partitioned by cutoff day written by Spark."""
    from lifecycle_cli import app

    cutoffs, out = SYNTHETIC_CUTOFFS[-3:], tmp_path / "features"
    args = [
        "features",
        "--data",
        f"file://{synthetic_dir}",
        "--horizon-days",
        "30",
        "--out",
        f"file://{out}",
    ]
    args += [a for c in cutoffs for a in ("--cutoff", str(c))]
    result = CliRunner().invoke(app, [*args, "--engine", "spark", "--spark-master", "local[2]"])
    assert result.exit_code == 0, result.output
    partitions = sorted(p.name for p in out.iterdir() if p.is_dir())
    assert partitions == [f"cutoff_day={c}" for c in cutoffs]
    duck = build_snapshots(synthetic_dir, cutoffs, horizon_days=30, progress=False)
    assert_equal_tables(duck, read_snapshots(out)[list(duck.columns)])
    # the cutoff is a naive timestamp as DuckDB writes it (not Spark's zone-aware INT96): a
    # Spark reader in another session zone sees the same day
    import pyarrow.parquet as pq

    part = next((out / f"cutoff_day={cutoffs[0]}").glob("*.parquet"))
    assert pq.read_schema(part).field("cutoff").type.tz is None
    assert (
        pq.ParquetFile(part)
        .schema.column(pq.ParquetFile(part).schema_arrow.get_field_index("cutoff"))
        .physical_type
        == "INT64"
    )
    spark_engine.spark.conf.set("spark.sql.session.timeZone", "America/Los_Angeles")
    try:
        seen = spark_engine.spark.read.parquet(str(out)).select("cutoff").distinct().toPandas()
    finally:
        spark_engine.spark.conf.set("spark.sql.session.timeZone", "UTC")
    assert sorted(seen["cutoff"].dt.strftime("%Y-%m-%d %H:%M")) == [f"{c} 00:00" for c in cutoffs]
    # run again over its own output: replaced (written aside first); over a folder of the
    # user's: refused, nothing deleted (it deleted the data set given as --out)
    again = CliRunner().invoke(app, [*args, "--engine", "spark", "--spark-master", "local[2]"])
    assert again.exit_code == 0, again.output
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == partitions
    assert not list(tmp_path.glob("*.staging*"))
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    args_mine = [*args[: args.index("--out")], "--out", f"file://{mine}"]
    args_mine += args[args.index("--out") + 2 :]
    refused = CliRunner().invoke(
        app, [*args_mine, "--engine", "spark", "--spark-master", "local[2]"]
    )
    assert refused.exit_code == 2 and "holds files this command did not write (notes.txt)" in (
        refused.output
    ), refused.output
    assert (mine / "notes.txt").read_text() == "keep"


@pytest.mark.spark
def test_ctrl_c_during_a_spark_job_exits_130_and_keeps_the_previous_output(
    spark_engine, synthetic_dir, tmp_path
):
    """Ctrl-C while Spark works: exit 130 and nothing else said, as without Spark (PySpark's own
    handler cancelled the jobs over py4j from inside the handler: two py4j tracebacks, then
    "failed on Spark", exit 2); the previous output stays whole, no staging folder is left."""
    import signal
    import subprocess
    import time

    from lifecycle_cli import app

    out = tmp_path / "features"
    args = ["features", "--data", str(synthetic_dir), "--horizon-days", "30", "--out", str(out)]
    args += ["--engine", "spark", "--spark-master", "local[2]"]
    handler = signal.getsignal(signal.SIGINT)
    first = CliRunner().invoke(app, [*args, "--cutoff", str(SYNTHETIC_CUTOFFS[-1])])
    assert first.exit_code == 0, first.output
    assert signal.getsignal(signal.SIGINT) is handler  # the command's own handler is undone
    before = sorted(p.relative_to(out).as_posix() for p in out.rglob("*"))
    busy = [*args, *(a for c in SYNTHETIC_CUTOFFS for a in ("--cutoff", str(c)))]
    process = subprocess.Popen(
        [sys.executable, "-c", "from lifecycle_cli import app; app()", *busy],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    said = []
    while process.stderr is not None and not any("features for" in s for s in said):
        said.append(process.stderr.readline())
        assert said[-1], "".join(said)  # the job's progress line came before the end
    time.sleep(2)  # into the job (at once, Python code of ours still ran: no py4j call to hit)
    assert process.poll() is None, "the job ended before Ctrl-C"
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=180)
    assert process.returncode == 130, err
    assert "Traceback" not in err and "failed on Spark" not in err, err
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == before
    assert not list(tmp_path.glob("*.staging*"))


@pytest.mark.spark
def test_what_out_holds_is_checked_again_when_the_output_is_put_in_place(spark_engine, tmp_path):
    """A file put into --out while the job ran (after the check at its start) is not deleted
    with the previous output: the move refuses, naming it."""
    from features.engine import Move

    out, staging = tmp_path / "features", tmp_path / "features.staging-1-ab-host"
    for folder in (out, staging):
        (folder / "cutoff_day=2025-01-01").mkdir(parents=True)
        (folder / "cutoff_day=2025-01-01" / "part-0.parquet").write_text("x")
    spark_engine.check_replaceable(str(out), ("cutoff_day=",))  # at the job's start: fine
    (out / "notes.txt").write_text("keep")  # meanwhile
    with pytest.raises(EngineError, match=r"holds files this command did not write \(notes.txt\)"):
        spark_engine.publish_together(Move(str(staging), str(out), ("cutoff_day=",)))
    assert (out / "notes.txt").read_text() == "keep" and staging.exists()
    (out / "notes.txt").unlink()
    spark_engine.publish_together(Move(str(staging), str(out), ("cutoff_day=",)))
    assert not staging.exists() and (out / "cutoff_day=2025-01-01" / "part-0.parquet").exists()


@pytest.mark.spark
@pytest.mark.parametrize("exchange", [True, False])
def test_the_previous_output_is_never_deleted_before_the_new_one_is_in_place(
    spark_engine, tmp_path, monkeypatch, exchange
):
    """Publishing deleted the old output, then renamed the new one in: readers saw a partial
    directory that still had ``_SUCCESS``, and a kill in between lost both. Locally the two are
    exchanged in one step; elsewhere (``exchange`` unavailable) the old one loses its
    ``_SUCCESS`` first and is moved aside, then deleted once the new one is in place."""
    import features.atomic_dir
    from features.engine import Move

    if not exchange:
        monkeypatch.setattr(features.atomic_dir, "exchange", lambda a, b: False)
    out, staging = tmp_path / "features", tmp_path / "features.staging-1-ab-host"
    for folder, day in ((out, "2025-01-01"), (staging, "2025-02-01")):
        (folder / f"cutoff_day={day}").mkdir(parents=True)
        (folder / f"cutoff_day={day}" / "part-0.parquet").write_text(day)
        (folder / "_SUCCESS").write_text("")
    steps: list[tuple[str, str]] = []
    real = type(spark_engine).hadoop_file

    class Recording:
        def __init__(self, fs):
            self.fs = fs

        def __getattr__(self, name):
            return getattr(self.fs, name)

        def delete(self, path, recursive):
            steps.append(("delete", str(path.getName())))
            return self.fs.delete(path, recursive)

        def rename(self, source, target):
            steps.append(("rename", f"{source.getName()}->{target.getName()}"))
            return self.fs.rename(source, target)

    def recorded(self, text):
        fs, path = real(self, text)
        return Recording(fs), path

    monkeypatch.setattr(type(spark_engine), "hadoop_file", recorded)  # a frozen dataclass
    spark_engine.publish(Move(str(staging), str(out), ("cutoff_day=",)))
    shown = sorted(p.name for p in out.iterdir() if not p.name.endswith(".crc"))  # Hadoop's
    assert shown == ["_SUCCESS", "cutoff_day=2025-02-01"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["features"]  # nothing left aside
    assert ("delete", "features") not in steps, steps  # never deleted in place
    if not exchange:
        moved_in = steps.index(("rename", "features.staging-1-ab-host->features"))
        aside = f"features.replaced-{os.getpid()}"
        assert steps.index(("rename", f"features->{aside}")) < moved_in, steps
        assert steps[-1] == ("delete", aside), steps  # deleted once the new one is in place
        assert ("delete", "_SUCCESS") in steps[: steps.index(("rename", f"features->{aside}"))]


@pytest.mark.spark
def test_uris_spark_cannot_reach_are_one_line_naming_the_path(
    spark_engine, synthetic_dir, tmp_path
):
    """A scheme with no Hadoop file system, a URI with nothing there, and a URI given to DuckDB:
    one error line naming the option and the path, before any job runs."""
    from lifecycle_cli import app

    def run(*args: str) -> str:
        result = CliRunner().invoke(app, ["features", "--cutoff", "2025-06-01", *args])
        assert result.exit_code == 2, result.output
        assert result.output.count("error:") == 1 and "Traceback" not in result.output
        return " ".join(result.output.split())

    spark = ("--engine", "spark", "--spark-master", "local[2]")
    local = str(synthetic_dir)
    message = run("--data", "nosuchfs://crm/contract", "--out", str(tmp_path / "f"), *spark)
    assert "--data nosuchfs://crm/contract: Spark cannot reach this path" in message
    assert 'No FileSystem for scheme "nosuchfs"' in message
    message = run("--data", local, "--out", "s3a://crm/features", *spark)
    assert "--out s3a://crm/features: Spark cannot reach this path" in message
    assert "org.apache.hadoop:hadoop-aws" in message  # what to add for s3a://
    message = run("--data", f"file://{tmp_path}/nothing", "--out", str(tmp_path / "f"), *spark)
    assert f"data set file://{tmp_path}/nothing: the directory does not exist" in message
    message = run("--data", f"file://{synthetic_dir}", "--out", str(tmp_path / "f"))
    assert f"--data file://{synthetic_dir}: a URI is read with --engine spark only" in message
    message = run("--data", local, "--out", f"file://{tmp_path}/f")
    assert f"--out file://{tmp_path}/f: a URI is written with --engine spark only" in message
    assert not (tmp_path / "f").exists()


@pytest.mark.spark
def test_a_uri_gets_the_checks_of_a_local_data_set(spark_engine, synthetic_dir, tmp_path):
    """Rows without a customer id, of an unknown customer or with an infinite amount, and a
    transaction dated in 2099, in a contract read by URI: the same one-line refusals as for a
    local directory, counted and dated, before any feature job."""
    from lifecycle_cli import app

    def refused(transactions: pd.DataFrame) -> str:
        folder = tmp_path / f"data{len(list(tmp_path.iterdir()))}"
        folder.mkdir()
        for name in ("customers", "events"):
            (folder / f"{name}.parquet").write_bytes(
                (synthetic_dir / f"{name}.parquet").read_bytes()
            )
        transactions.to_parquet(folder / "transactions.parquet", index=False)
        args = ["features", "--cutoff", "2025-06-01", "--data", f"file://{folder}"]
        args += ["--out", str(tmp_path / "f"), "--engine", "spark", "--spark-master", "local[2]"]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 2, result.output
        assert result.output.count("error:") == 1 and "Traceback" not in result.output
        assert not (tmp_path / "f").exists()
        return " ".join(result.output.split())

    tx = pd.read_parquet(synthetic_dir / "transactions.parquet")
    broken = tx.assign(customer_id=tx["customer_id"].where(tx.index >= 3))
    broken.loc[broken.index[3], "amount"] = float("inf")
    broken.loc[broken.index[4:6], "customer_id"] = "ghost"
    message = refused(broken)
    assert "transactions.parquet: 3 row(s) with no customer_id" in message
    assert "1 row(s) with an amount that is missing or not a finite number" in message
    assert "amount=inf" in message
    assert (
        "2 row(s) with a customer_id not in customers.parquet (e.g. customer_id='ghost'" in message
    )
    late = tx.copy()
    late.loc[late.index[0], "ordered_at"] = pd.Timestamp("2099-01-01")
    assert "its last transaction is dated 2099-01-01, after today" in refused(late)


@pytest.mark.spark
def test_feature_sources_of_a_uri_are_read_on_spark(spark_engine, cdnow_dir, synthetic_dir):
    """What a data set can feed (events there, static attributes with values) is the same read
    from a URI on Spark as from the local folder's Parquet files: CDNOW has no events and empty
    static columns, the synthetic set has both."""
    from features.definitions import STATIC_COLUMNS
    from training.dataset import BuildSettings, building_on
    from training.families import missing_sources

    families = ("engagement", "static", "rfm")
    for data_dir in (cdnow_dir, synthetic_dir):
        local = missing_sources(data_dir, families, STATIC_COLUMNS)
        with building_on(BuildSettings(spark_engine)):
            remote = missing_sources(f"file://{data_dir}/", families, STATIC_COLUMNS)
        assert remote == local
    assert set(missing_sources(cdnow_dir, families, STATIC_COLUMNS)) == {"engagement", "static"}
    assert missing_sources(synthetic_dir, families, STATIC_COLUMNS) == {}
    with pytest.raises(ValueError, match="a URI is read with --engine spark only"):
        missing_sources(f"file://{synthetic_dir}", families)


# --- engine quirks ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def boundary_dir(tmp_path_factory):
    """Rows on and around midnights and a DST change (America/Los_Angeles, 2025-03-09), returns,
    prospects, nulls in categories and survey scores, a customer with one purchase day, event
    rows that stand for several events or none, periods paid ahead."""

    def ts(*values: str) -> pd.Series:
        return pd.Series(pd.to_datetime(list(values), format="ISO8601")).astype("datetime64[us]")

    customers = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d"],
            "signup_at": ts(
                "2025-01-01 23:59:59",
                "2025-03-08 23:30",
                "2025-03-31 23:59:59.999999",
                "2025-04-01 00:00",
            ),
            "region": ["north", None, "south", "north"],
        }
    )
    transactions = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "a", "b", "b", "c"],
            "ordered_at": ts(
                "2025-01-02 00:00",
                "2025-03-09 02:30",
                "2025-03-09 23:59:59",
                "2025-04-01 00:00",
                "2025-03-08 23:30",
                "2025-03-10 00:30",
                "2025-03-31 23:59:59.999999",
            ),
            "amount": [10.0, 7.0, -3.0, 100.0, 5.5, 1.0, 0.0],
            "category": ["x", None, "y", "x", "y", "y", None],
            # a period paid ahead: through 04-11, and one ending in the middle of 04-01
            "covers_until": ts("NaT", "2025-04-11", "NaT", "NaT", "NaT", "2025-04-01 12:00", "NaT"),
        }
    )
    events = pd.DataFrame(
        {
            "customer_id": ["a", "a", "b", "b", "c"],
            "occurred_at": ts(
                "2025-03-09 02:30",
                "2025-03-31 23:59:59",
                "2025-03-02 00:00",
                "2025-02-01 00:00",
                "2025-04-01 00:00",
            ),
            "event_type": ["survey", "complaint", "survey", "visit", "login"],
            "value": [4.0, None, None, None, None],
            "event_count": [2.0, None, 3.0, 0.0, None],  # a daily aggregate's rows
        }
    )
    out = tmp_path_factory.mktemp("boundaries")
    for name, frame in (
        ("customers", customers),
        ("transactions", transactions),
        ("events", events),
    ):
        frame.to_parquet(out / f"{name}.parquet", index=False)
    return out


@pytest.mark.spark
def test_a_column_with_no_value_is_blank_on_both_engines(spark_engine, synthetic_dir, tmp_path):
    """An optional column blank in every row, written from a pandas column of None (Parquet's
    null type: DuckDB reads it as NULL, Spark as int32), is a blank column of its contract type:
    the same features as without its values, on both engines (it was refused, on DuckDB "found
    unknown(...)", on Spark "must be a string, found int32")."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "events.parquet").write_bytes((synthetic_dir / "events.parquet").read_bytes())
    customers = pd.read_parquet(synthetic_dir / "customers.parquet")
    customers["segment"] = customers["ended_at"] = pd.Series(
        None, index=customers.index, dtype=object
    )
    customers.to_parquet(data / "customers.parquet", index=False)
    transactions = pd.read_parquet(synthetic_dir / "transactions.parquet")
    transactions["covers_until"] = pd.Series(None, index=transactions.index, dtype=object)
    transactions.to_parquet(data / "transactions.parquet", index=False)
    cutoff, horizon = SYNTHETIC_CUTOFFS[-3], 30
    duck = build_snapshots(data, [cutoff], horizon_days=horizon, progress=False)
    spark = build_snapshots(
        data, [cutoff], horizon_days=horizon, progress=False, engine=spark_engine
    )
    assert_equal_tables(duck, spark)
    assert duck["segment"].isna().all() and duck["paid_ahead_days"].isna().all()
    valued = build_snapshots(synthetic_dir, [cutoff], horizon_days=horizon, progress=False)
    assert_equal_tables(valued.drop(columns="segment"), duck.drop(columns="segment"))


@pytest.mark.spark
def test_nanosecond_timestamps_spark_cannot_read_are_named_with_the_fix(
    spark_engine, synthetic_dir, tmp_path
):
    """A contract written with pandas' defaults holds nanosecond timestamps: DuckDB reads them,
    Spark cannot; the refusal names the file and how to write it (it said only "reading <data>
    failed on Spark: [PARQUET_TYPE_ILLEGAL] Illegal Parquet type: INT64 (TIMESTAMP(NANOS,...")."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    data = tmp_path / "data"
    data.mkdir()
    for name in ("customers", "events"):
        (data / f"{name}.parquet").write_bytes((synthetic_dir / f"{name}.parquet").read_bytes())
    table = pq.read_table(synthetic_dir / "transactions.parquet")
    at = table.schema.get_field_index("ordered_at")
    table = table.set_column(at, "ordered_at", table["ordered_at"].cast(pa.timestamp("ns")))
    pq.write_table(table, data / "transactions.parquet")
    assert len(build_snapshots(data, ["2025-06-01"], progress=False)) > 0  # DuckDB reads them
    with pytest.raises(EngineError) as info:
        build_snapshots(data, ["2025-06-01"], progress=False, engine=spark_engine)
    said = str(info.value)
    assert f"{data / 'transactions.parquet'}: nanosecond timestamps" in said, said
    assert "coerce_timestamps='us'" in said and "\n" not in said


@pytest.mark.spark
def test_a_local_session_keeps_task_results_in_process(spark_engine):
    """A ``local[...]`` session binds to loopback and sends task results up to 128 MiB directly:
    the 12-cutoff CDNOW features once failed in CI with ``TaskResultLost`` when a result over the
    1 MiB default was parked in the block manager and its fetch back over the network failed."""
    conf = spark_engine.spark.sparkContext.getConf()
    assert conf.get("spark.task.maxDirectResultSize") == "128m"
    assert conf.get("spark.driver.host") == "127.0.0.1"
    assert conf.get("spark.driver.bindAddress") == "127.0.0.1"
    one_task = spark_engine.spark.range(0, 1_000_000, numPartitions=1).selectExpr("id", "id * 2")
    assert len(one_task.toPandas()) == 1_000_000  # one ~16 MiB task result


@pytest.mark.spark
def test_scoring_workers_predict_on_the_task_cores_only(spark_engine):
    """Each executor Python worker gives LightGBM the task's cores (``spark.task.cpus``), not
    OpenMP's default of every core per worker; outside a task, one."""
    from serving.spark_scoring import task_cpus

    def threads(batches):
        from types import SimpleNamespace

        import lightgbm  # noqa: F401 (loads LightGBM's OpenMP runtime)
        from threadpoolctl import threadpool_info

        from serving.batch import set_prediction_threads
        from serving.spark_scoring import task_cpus

        pair = SimpleNamespace(churn=SimpleNamespace(), clv=SimpleNamespace())
        for _batch in batches:
            set_prediction_threads(pair, task_cpus())  # as each scoring worker does
            openmp = {p["num_threads"] for p in threadpool_info() if p["user_api"] == "openmp"}
            yield pd.DataFrame({"cpus": task_cpus(), "openmp": sorted(openmp)})

    frame = spark_engine.spark.range(0, 4, numPartitions=2).toDF("id")
    got = frame.mapInPandas(threads, "cpus long, openmp long").toPandas()
    task = int(spark_engine.spark.sparkContext.getConf().get("spark.task.cpus", "1"))
    assert set(got["cpus"]) == {task} and set(got["openmp"]) == {task}
    assert task_cpus() == 1  # on the driver, outside any task


@pytest.mark.spark
@pytest.mark.parametrize("time_zone", ["America/Los_Angeles", "Asia/Kolkata"])
def test_session_time_zone_changes_nothing(spark_engine, boundary_dir, time_zone):
    """Naive timestamps are wall-clock UTC: a Spark session set to another zone (with a DST gap
    at 02:30 on 2025-03-09 inside the windows) gives the DuckDB answers -- lifecycle's jobs run in
    UTC and give the session its zone back; midnight rows fall on the right side."""
    cutoffs = ["2025-03-09", "2025-03-10", "2025-04-01"]
    duck = build_snapshots(boundary_dir, cutoffs, horizon_days=1, progress=False)
    spark_engine.spark.conf.set("spark.sql.session.timeZone", time_zone)
    try:
        spark = build_snapshots(
            boundary_dir, cutoffs, horizon_days=1, progress=False, engine=spark_engine
        )
        assert spark_engine.spark.conf.get("spark.sql.session.timeZone") == time_zone
    finally:
        spark_engine.spark.conf.set("spark.sql.session.timeZone", "UTC")
    assert_equal_tables(duck, spark, tol=1e-9)
    row = duck.set_index(KEYS).loc[(pd.Timestamp("2025-04-01"), "a")]
    assert row["orders_all"] == 2 and row["recency_days"] == 23  # 04-01 00:00 is not before T
    assert row["churned"] == 0  # ... it is in [T, T+1 day)
    assert row["paid_ahead_days"] == 10
    row = duck.set_index(KEYS).loc[(pd.Timestamp("2025-04-01"), "b")]
    assert row["events_all"] == 3 and row["days_since_last_event"] == 30  # the 0 row is none
    assert row["paid_ahead_days"] == 0.5 and row["churned"] == 1  # covered to noon, not to 04-02


# --- sampling -----------------------------------------------------------------------------------


def in_sample(ids: pd.Series, fraction: float) -> np.ndarray:
    """The sampling rule in plain Python: first 8 hex digits of md5 below fraction * 16**8."""
    threshold = int(fraction * 16**8)
    return np.array([int(hashlib.md5(i.encode()).hexdigest()[:8], 16) < threshold for i in ids])


@pytest.mark.spark
def test_customer_sample_is_the_same_on_both_engines(spark_engine, cdnow_dir):
    duck = connect(cdnow_dir)
    spark = connect(cdnow_dir, spark_engine.backend)
    everyone = duck.customers.customer_id.to_pandas()
    picked = {}
    for fraction in (0.2, 0.5):
        on_duck = set(sample_customers(duck.customers, fraction).customer_id.to_pandas())
        on_spark = set(sample_customers(spark.customers, fraction).customer_id.to_pandas())
        assert on_duck == on_spark == set(everyone[in_sample(everyone, fraction)])
        assert abs(len(on_duck) / len(everyone) - fraction) < 0.02
        picked[fraction] = on_duck
    assert picked[0.2] < picked[0.5]  # a smaller sample is part of a larger one
    with pytest.raises(ValueError, match="sample fraction"):
        sample_customers(duck.customers, 0.0)


# --- batch scoring ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def spark_store(tmp_path_factory):
    """One trained store (600 customers) the Spark scoring tests read: scoring writes nothing
    into it (its scores go to each test's --out; a test that changes the data copies it)."""
    from service_fixtures import prepare_store

    return prepare_store(tmp_path_factory.mktemp("spark-store"), n_customers=600)


@pytest.mark.spark
def test_spark_scores_equal_lifecycle_score(spark_engine, spark_store, tmp_path, monkeypatch):
    """The registered champions score on the executors (mapInPandas) exactly as in process:
    ``lifecycle score --engine spark`` with the data and the output as ``file://`` URIs (the
    default scoring day and the feature sources read on Spark)."""
    import mlflow

    from lifecycle_cli import app
    from serving.spark_scoring import read_scores

    store = spark_store
    out = tmp_path / "spark-scores"
    args = ["score", "--engine", "spark", "--spark-master", "local[2]"]
    args += ["--data", f"file://{store.data_dir}", "--out", f"file://{out}"]
    args += ["--tracking-uri", store.tracking_uri, "--project", store.project]
    try:
        result = CliRunner().invoke(app, args)
    finally:
        mlflow.set_tracking_uri(None)
    assert result.exit_code == 0, result.output
    duck = pd.read_parquet(store.scores).sort_values("customer_id", ignore_index=True)
    spark = read_scores(out)
    assert f"scored {len(duck):,} customers as of {store.as_of} on Spark" in result.output
    assert [p.name for p in out.iterdir() if p.is_dir()] == [f"as_of_day={store.as_of}"]
    assert_equal_tables(duck, spark[list(duck.columns)])
    assert duck["churn_probability"].notna().any() and duck["reasons"].map(len).gt(0).any()
    # the directory records its project: export refuses it under another one, takes it as is
    exports = ["export", "--to", "csv", "--crm", "hubspot", "--scores", str(out)]
    exports += ["--exports-dir", str(tmp_path / "exports")]
    other = CliRunner().invoke(app, [*exports, "--project", "someone-else"])
    assert other.exit_code == 2 and f"holds project '{store.project}'" in other.output
    done = CliRunner().invoke(app, [*exports, "--out", str(tmp_path / "hubspot.csv")])
    assert done.exit_code == 0, done.output
    written = pd.read_csv(tmp_path / "hubspot.csv")
    assert f"{store.project}/hubspot: wrote {len(duck):,} customers" in done.output
    assert len(written) == len(duck)
    from serving.writeback.plan import load_scores

    recorded = load_scores(out).attrs["lifecycle_data"]  # for export --customers-from
    assert Path(recorded.removeprefix("file:")) == store.data_dir.absolute()
    assert not list(tmp_path.glob("*.staging*"))  # written aside, then moved in place whole
    snapshot = tmp_path / "spark-scores.snapshot.parquet"
    scored = sorted(p.name for p in snapshot.iterdir() if p.is_dir())
    assert scored == [f"cutoff_day={store.as_of}"]
    # a run that fails after its snapshot is written (here fitting BTYD) leaves the previous
    # scores and their snapshot as they were, not a new snapshot beside the old scores
    import serving.spark_scoring as spark_scoring

    def full_disk(*_):
        raise OSError("No space left on device")

    monkeypatch.setattr(spark_scoring, "_fit_btyd_on_driver", full_disk)
    earlier = store.as_of - timedelta(days=7)
    try:
        failed = CliRunner().invoke(app, [*args, "--as-of", str(earlier)])
    finally:
        mlflow.set_tracking_uri(None)
    assert failed.exit_code != 0
    assert "No space left on device" in f"{failed.output}{failed.exception}"
    assert sorted(p.name for p in snapshot.iterdir() if p.is_dir()) == scored
    # what it wrote aside is gone
    assert not list(tmp_path.glob("*.staging*"))
    assert_equal_tables(read_scores(out), spark)
    monkeypatch.undo()
    # an --out that is not an earlier Spark scoring's is refused before any job: replacing it
    # deleted the data set itself (--out = --data), a user's folder, a DuckDB scores file
    before = sorted(p.name for p in store.data_dir.iterdir())
    plain = tmp_path / "duck.parquet"
    plain.write_bytes(b"a DuckDB scores file")
    for target, said in (
        (store.data_dir, "holds files this command did not write (customers.parquet"),
        (plain, "is a file, and Spark writes a directory there"),
    ):
        args_out = [*args[: args.index("--out")], "--out", f"file://{target}"]
        args_out += args[args.index("--out") + 2 :]
        try:
            refused = CliRunner().invoke(app, args_out)
        finally:
            mlflow.set_tracking_uri(None)
        assert refused.exit_code == 2 and said in refused.output, refused.output
    assert sorted(p.name for p in store.data_dir.iterdir()) == before
    assert plain.read_bytes() == b"a DuckDB scores file"
    # a directory without its marker (written before markers) needs --project; one without
    # _SUCCESS (a run that did not finish) is refused
    (out / "_lifecycle_project.json").unlink()
    unmarked = CliRunner().invoke(app, exports)
    assert unmarked.exit_code == 2 and "name the project that scored it" in unmarked.output
    (out / "_SUCCESS").unlink()
    cut = CliRunner().invoke(app, [*exports, "--project", store.project])
    assert cut.exit_code == 2 and "incomplete Spark score directory" in cut.output, cut.output


@pytest.mark.spark
def test_spark_scoring_holds_tiers_as_lifecycle_score_does(spark_engine, spark_store, tmp_path):
    """Two weekly scorings on Spark keep the tiers ``lifecycle score`` keeps with its score
    history (serving.action_hold): the previous scoring is the one --out holds, and a re-run of
    a date compares with the scoring before it (kept as <out>.previous.parquet)."""
    import re

    from serving.spark_scoring import read_scores

    store = spark_store
    common = ["--data", str(store.data_dir), "--tracking-uri", store.tracking_uri]
    common += ["--project", store.project]
    spark_args = ["score", "--engine", "spark", "--spark-master", "local[2]", *common]
    spark_out = tmp_path / "spark-scores"
    week = store.as_of - timedelta(days=7)

    def held(output: str) -> int:
        return int(re.search(r"tier hold: ([\d,]+) customers keep", output)[1].replace(",", ""))

    duck_out = tmp_path / "duck.parquet"
    for day in (week, store.as_of):
        said = cli_ok(["score", *common, "--as-of", str(day), "--out", str(duck_out)])
    duck_held = held(said)
    duck = pd.read_parquet(duck_out).sort_values("customer_id", ignore_index=True)

    first = cli_ok([*spark_args, "--as-of", str(week), "--out", str(spark_out)])
    assert f"tier hold: no earlier scoring of {store.project} in {spark_out}" in first
    second = cli_ok([*spark_args, "--as-of", str(store.as_of), "--out", str(spark_out)])
    assert duck_held > 0 and held(second) == duck_held, second
    assert_equal_tables(duck, read_scores(spark_out)[list(duck.columns)])
    kept = tmp_path / "spark-scores.previous.parquet"
    assert sorted(p.name for p in kept.iterdir() if p.is_dir()) == [f"as_of_day={week}"]
    # a re-run of the date compares with the week before, not with itself
    again = cli_ok([*spark_args, "--as-of", str(store.as_of), "--out", str(spark_out)])
    assert held(again) == duck_held
    assert_equal_tables(duck, read_scores(spark_out)[list(duck.columns)])
    assert sorted(p.name for p in kept.iterdir() if p.is_dir()) == [f"as_of_day={week}"]


@pytest.mark.spark
def test_spark_hold_keeps_the_scoring_a_run_without_hold_replaces_and_no_other_dates_complaints(
    spark_engine, spark_store, tmp_path
):
    """A run with the hold off still keeps the scoring it replaces as <out>.previous.parquet (a
    re-run of its date with the hold on compared with the one before that, 14 days back, and
    held other customers); and the complaints of the scoring --out holds come from its own
    date's snapshot, not from a snapshot of another date beside it (a run killed between
    publishing its snapshot and its scores), whose complaints would hide new ones."""
    import shutil

    from serving.action_hold import COMPLAINT_COLUMN
    from serving.spark_hold import _scoring_at
    from serving.spark_scoring import snapshot_path

    store = spark_store
    common = ["--data", str(store.data_dir), "--tracking-uri", store.tracking_uri]
    common += ["--project", store.project]
    out = tmp_path / "spark-scores"
    spark_args = ["score", "--engine", "spark", "--spark-master", "local[2]", *common]
    spark_args += ["--out", str(out)]
    off = tmp_path / "off.yaml"
    off.write_text("hold:\n  margin: 0\n")
    w2, w1, w0 = (store.as_of - timedelta(days=d) for d in (14, 7, 0))
    kept, snapshot = tmp_path / "spark-scores.previous.parquet", Path(snapshot_path(out))

    def kept_days() -> list[str]:
        return sorted(p.name for p in kept.iterdir() if p.is_dir())

    cli_ok([*spark_args, "--as-of", str(w2)])
    cli_ok([*spark_args, "--as-of", str(w1)])
    shutil.copytree(snapshot, tmp_path / "w1-snapshot")
    assert kept_days() == [f"as_of_day={w2}"]
    assert "tier hold: off" in cli_ok(
        [*spark_args, "--as-of", str(w0), "--scoring-config", str(off)]
    )
    assert kept_days() == [f"as_of_day={w1}"]
    again = cli_ok([*spark_args, "--as-of", str(w0)])
    assert f"customers keep their tier of {w1}" in again, again

    day, frame = _scoring_at(spark_engine, str(out), store.project, str(snapshot))
    assert day == w0 and COMPLAINT_COLUMN in frame.columns  # its own snapshot: its complaints
    shutil.rmtree(snapshot)
    shutil.copytree(tmp_path / "w1-snapshot", snapshot)  # the snapshot of another date
    day, frame = _scoring_at(spark_engine, str(out), store.project, str(snapshot))
    assert day == w0 and COMPLAINT_COLUMN not in frame.columns


# --- bad environment and input ------------------------------------------------------------------


def test_no_pyspark_is_one_line_naming_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyspark", None)
    with pytest.raises(EngineError, match=r"pip install 'lifecycle\[spark\]'") as info:
        require_pyspark()
    assert "\n" not in str(info.value)


def test_no_java_is_one_line_naming_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    with pytest.raises(EngineError, match=f"JAVA_HOME={tmp_path} has no bin/java"):
        require_java()
    monkeypatch.delenv("JAVA_HOME")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(EngineError, match="needs Java, which is not installed.*Java 17"):
        require_java()


def test_unknown_engine_is_a_one_line_cli_error(synthetic_dir, tmp_path):
    from lifecycle_cli import app

    result = CliRunner().invoke(
        app,
        [
            "features",
            "--data",
            str(synthetic_dir),
            "--cutoff",
            "2025-06-01",
            "--out",
            str(tmp_path / "f"),
            "--engine",
            "flink",
        ],
    )
    assert result.exit_code == 2
    assert "--engine 'flink': expected one of duckdb, spark" in result.output


@pytest.mark.spark
def test_missing_tables_and_failed_jobs_are_one_line(spark_engine, synthetic_dir, tmp_path):
    # a missing table: the same message on both engines
    (tmp_path / "partial").mkdir()
    (tmp_path / "partial" / "customers.parquet").write_bytes(
        (synthetic_dir / "customers.parquet").read_bytes()
    )
    messages = []
    for backend in (None, spark_engine.backend):
        with pytest.raises(FileNotFoundError) as info:
            connect(tmp_path / "partial", backend)
        messages.append(str(info.value))
    assert messages[0] == messages[1]
    assert (
        "transactions.parquet: missing; a contract directory needs transactions.parquet"
        in messages[0]
    )
    with pytest.raises(FileNotFoundError, match="transactions.parquet: missing"):
        connect(f"file://{tmp_path}/partial", spark_engine.backend)  # a URI only Spark resolves
    # a Spark job that fails: a damaged events file, found only when the job reads it
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("customers", "transactions", "events"):
        (broken / f"{name}.parquet").write_bytes((synthetic_dir / f"{name}.parquet").read_bytes())
    events = (broken / "events.parquet").read_bytes()
    (broken / "events.parquet").write_bytes(events[:4] + b"\0" * (len(events) - 8) + events[-4:])
    with pytest.raises((EngineError, ValueError, OSError)) as info:
        build_snapshots(broken, ["2025-06-01"], progress=False, engine=spark_engine)
    assert "\n" not in str(info.value) and "events.parquet" in str(info.value)


def test_duckdb_only_install_imports_no_pyspark():
    """The DuckDB path never imports pyspark (a DuckDB-only ``pip install`` works)."""
    import subprocess

    code = (
        "import sys; import features.engine, features.snapshots, training.dataset, "
        "serving.spark_scoring, lifecycle_cli; "
        "from features.engine import open_engine; open_engine('duckdb'); "
        "sys.exit('pyspark' in sys.modules)"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    assert (
        subprocess.run([sys.executable, "-c", code], check=False, env=env, timeout=120).returncode
        == 0
    )


def test_open_engine_duckdb_needs_no_spark():
    engine = open_engine("duckdb")
    assert engine.name == "duckdb" and engine.spark is None and not engine.is_spark
    with pytest.raises(EngineError, match="need --engine spark"):
        engine.dataframe(None)


def test_only_local_masters_get_the_local_settings_and_conf_wins():
    local = session_settings("local[2]")
    assert (
        local["spark.driver.host"] == "127.0.0.1" and local["spark.sql.session.timeZone"] == "UTC"
    )
    cluster = session_settings("spark://head:7077", {"spark.sql.shuffle.partitions": "64"})
    assert "spark.driver.host" not in cluster and "spark.task.maxDirectResultSize" not in cluster
    assert cluster["spark.sql.shuffle.partitions"] == "64"
    assert "spark.driver.host" not in session_settings(None)  # spark-submit decides
    mine = session_settings("local[*]", {"spark.driver.host": "10.0.0.5"})
    assert mine["spark.driver.host"] == "10.0.0.5"


@pytest.mark.spark
def test_a_setting_the_user_gives_wins_over_the_defaults_on_a_running_session(spark_engine):
    """``conf`` wins over :data:`SPARK_DEFAULTS` also when the session already runs (the defaults
    used to be set again after ``getOrCreate`` and overwrote it)."""
    key = "spark.sql.execution.arrow.pyspark.enabled"
    session = spark_engine.spark
    try:
        assert spark_session("local[2]", conf={key: "false"}) is session
        assert session.conf.get(key) == "false"
        spark_session("local[2]")
        assert session.conf.get(key) == "true"
    finally:
        session.conf.set(key, "true")


def test_sampling_fraction_and_engine_are_logged_on_the_run(tmp_path):
    import mlflow

    from training.dataset import BuildSettings, build_settings, building_on, log_build_settings

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    try:
        # An explicit experiment: an earlier test may have left another store's experiment active.
        experiment_id = mlflow.create_experiment("sampling")
        with mlflow.start_run(experiment_id=experiment_id) as run:
            pass
        with building_on(BuildSettings(None, 0.2)):
            assert build_settings().sample_fraction == 0.2
            log_build_settings(run.info.run_id)
        assert build_settings().sample_fraction == 1.0  # only inside the block
        params = mlflow.get_run(run.info.run_id).data.params
    finally:
        mlflow.set_tracking_uri(None)
    assert params["data_sample_fraction"] == "0.2" and params["data_engine"] == "duckdb"
    with pytest.raises(ValueError, match="sample fraction"):
        BuildSettings(None, 1.5)


@pytest.mark.spark
def test_a_long_spark_job_reports_its_tasks_while_it_runs(spark_engine):
    """Lines while the work runs (how long, tasks done of the running stages), none after it,
    one reporter however deep the jobs nest; a tracker that fails ends the lines, not the job."""
    from features.spark_progress import reporting

    lines: list[str] = []
    spark = spark_engine.spark

    def slow_one(_: int) -> int:  # nested: pickled by value for the executors
        import time

        time.sleep(0.5)
        return 1

    with reporting(spark, "counting", period=0.3, write=lines.append):
        with reporting(spark, "nested", period=0.05, write=lines.append):
            # 8 tasks that each sleep 0.5 s on 2 cores: at least 2 s however warm the JVM is
            # (a 30M-row sum finished inside one period in CI)
            total = spark.sparkContext.parallelize(range(8), 8).map(slow_one).sum()
    after = len(lines)
    assert total == 8 and lines, "no progress line for a job of at least 2 seconds"
    assert all(line.startswith("counting: running for ") for line in lines), lines
    assert any(" of 8 tasks done" in line for line in lines), lines
    time.sleep(0.7)
    assert len(lines) == after  # the reporter stopped with the work

    class Gone:
        @property
        def sparkContext(self):
            raise RuntimeError("session stopped")

    with reporting(Gone(), "gone", period=0.05, write=lines.append):
        time.sleep(0.3)
    assert len(lines) == after


def test_a_progress_line_names_the_work_time_and_tasks():
    from types import SimpleNamespace

    from features.spark_progress import progress_line

    stage = SimpleNamespace(numTasks=400, numCompletedTasks=120, numFailedTasks=3)
    assert progress_line("features for 1 cutoff(s)", 125.0, [stage, stage]) == (
        "features for 1 cutoff(s): running for 2.1 min; 2 stage(s) at work, 240 of 800 tasks "
        "done, 6 failed"
    )
    assert progress_line("scoring", 31.0, []) == (
        "scoring: running for 31 s (on the driver, or between stages)"
    )


@pytest.mark.spark
def test_spark_scores_customers_who_ended_as_lifecycle_score(spark_engine, spark_store, tmp_path):
    """Customers whose end (``customers.ended_at``) has passed are scored by rule on the
    executors as in process: churned, probability 1, value 0, with the same reason (not those
    who came back since, ``customers.returned_at``); and those
    the CRM says not to contact (``customers.do_not_contact``) get no contact there too, those
    opted out of email (``do_not_email``) a call or nothing."""
    import shutil
    from dataclasses import replace

    from serving.spark_scoring import read_scores

    store = replace(spark_store, data_dir=tmp_path / "data")  # its own data: ends are added
    shutil.copytree(spark_store.data_dir, store.data_dir)
    as_of = pd.Timestamp(store.as_of)
    customers = pd.read_parquet(store.data_dir / "customers.parquet")
    last = (
        pd.read_parquet(store.data_dir / "transactions.parquet")
        .groupby("customer_id")["ordered_at"]
        .max()
    )
    gone = last[last < as_of - pd.Timedelta(days=40)].index[:5]
    leaving = last[last >= as_of - pd.Timedelta(days=10)].index[:3]  # a notice given
    customers["ended_at"] = pd.Series(pd.NaT, index=customers.index, dtype="datetime64[us]")
    customers.loc[customers["customer_id"].isin(gone), "ended_at"] = as_of - pd.Timedelta(days=30)
    customers.loc[customers["customer_id"].isin(leaving), "ended_at"] = as_of + pd.Timedelta(
        days=20
    )
    back = last[last < as_of - pd.Timedelta(days=40)].index[5:7]  # a new subscription, unpaid
    customers.loc[customers["customer_id"].isin(back), "ended_at"] = as_of - pd.Timedelta(days=30)
    customers["returned_at"] = pd.Series(pd.NaT, index=customers.index, dtype="datetime64[us]")
    customers.loc[customers["customer_id"].isin(back), "returned_at"] = as_of - pd.Timedelta(days=5)
    between = (last >= as_of - pd.Timedelta(days=40)) & (last < as_of - pd.Timedelta(days=10))
    barred = last[between].index[:4]  # neither ended nor under notice
    customers["do_not_contact"] = customers["customer_id"].isin(barred)
    emailless = last[between].index[4:14]  # opted out of email: a call or nothing
    customers["do_not_email"] = customers["customer_id"].isin(emailless)
    customers.to_parquet(store.data_dir / "customers.parquet", index=False)
    common = ["--tracking-uri", store.tracking_uri, "--project", store.project]
    common += ["--as-of", str(store.as_of)]
    duck_out, spark_out = tmp_path / "duck.parquet", tmp_path / "spark-scores"
    cli_ok(["score", "--data", str(store.data_dir), "--out", str(duck_out), *common])
    spark_args = ["score", "--engine", "spark", "--spark-master", "local[2]"]
    spark_args += ["--data", f"file://{store.data_dir}", "--out", f"file://{spark_out}"]
    cli_ok([*spark_args, *common])
    duck = pd.read_parquet(duck_out).sort_values("customer_id", ignore_index=True)
    spark = read_scores(spark_out)
    assert_equal_tables(duck, spark[list(duck.columns)])
    ended = duck[duck["customer_id"].isin(gone)]
    assert len(ended) == 5 and (ended["stage"] == "churned").all()
    assert (ended["churn_probability"] == 1.0).all() and (ended["predicted_value"] == 0).all()
    assert ended["reasons"].map(lambda r: r[0].startswith("ended 30 days ago")).all()
    returned = duck[duck["customer_id"].isin(back)]
    assert len(returned) == 2 and (returned["churn_probability"] < 1.0).all()
    assert not returned["reasons"].map(lambda r: len(r) > 0 and r[0].startswith("ended")).any()
    from features.endings import reads_notices
    from training.dataset import data_bounds

    assert reads_notices(store.as_of, data_bounds(store.data_dir)[1])  # at the data's end
    noticed = duck[duck["customer_id"].isin(leaving)]
    assert len(noticed) == 3 and (noticed["stage"] == "declining").all()
    assert noticed["reasons"].map(lambda r: r[0].startswith("ends in 20 days")).all()
    flagged = duck["customer_id"].isin(barred)
    assert (duck.loc[flagged, "recommended_action"] == "do_not_contact").sum() == 4
    no_email = duck["customer_id"].isin(emailless).to_numpy()
    assert not (duck.loc[~flagged & ~no_email, "recommended_action"] == "do_not_contact").any()
    reached = duck.loc[no_email, "recommended_action"]
    assert len(reached) == 10 and not reached.str.contains("email|campaign").any()
    moved = duck.loc[no_email & (duck["priority_tier"] != "P1").to_numpy(), "reasons"]
    assert len(moved) and moved.map(lambda r: r[0].startswith("opted out of email")).all()
