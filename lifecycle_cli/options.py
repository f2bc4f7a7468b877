"""Options shared by several commands, and the checks of what they name (a data set, an engine,
a config, an MLflow store, a date) before any work starts."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from lifecycle_cli.errors import fail, remember_data_set, tracking_store

if TYPE_CHECKING:
    from features.engine import Engine


def data_set(data: Path | None) -> Path | None:
    """``--data``: a missing, empty, incompatible or row-less contract directory is a one-line
    error naming the data set and what is missing, before any work starts."""
    if data is None:
        return None
    from features.contract import CUSTOMERS, TRANSACTIONS, table_path

    hint = f"run `lifecycle ingest --out {data}` or `lifecycle generate --out {data}` first"
    if not data.exists():
        fail(f"data set {data}: the directory does not exist; {hint}")
    if not data.is_dir():
        fail(f"data set {data}: not a directory; --data takes the contract directory ingest writes")
    missing = [
        f"{t}.parquet" for t in (CUSTOMERS, TRANSACTIONS) if not table_path(data, t).exists()
    ]
    if missing:
        state = (
            "the directory is empty"
            if not any(data.iterdir())
            else f"no {' and no '.join(missing)}"
        )
        fail(
            f"data set {data}: {state} (a contract directory needs customers.parquet and "
            f"transactions.parquet); {hint}"
        )
    import pyarrow as pa
    import pyarrow.parquet as pq

    from features.contract import TABLES
    from features.snapshots import connect

    for table in TABLES:
        path = table_path(data, table)
        try:
            if path.exists():
                pq.read_schema(path)
        except (pa.ArrowException, OSError) as exc:
            fail(
                f"data set {data}: {path.name} is not a readable Parquet file ({exc}); run ingest "
                "again"
            )
    try:  # the contract's own checks: required columns, types, unique customer ids
        tables = connect(data)
        rows = {
            TRANSACTIONS: tables.transactions.count().execute(),
            CUSTOMERS: tables.customers.count().execute(),
        }
    except (ValueError, OSError) as exc:
        fail(f"data set {data}: {' '.join(str(exc).split())}")
    for table, n in rows.items():
        if n == 0:
            quarantine = data / "quarantine" / f"{table}.parquet"
            where = (
                f"; the rejected rows and their reasons are in {quarantine}"
                if quarantine.exists()
                else ""
            )
            fail(
                f"data set {data}: {table}.parquet has 0 rows (nothing was accepted at "
                f"ingest){where}"
            )
    _all_rows_usable(data, tables)
    _not_dated_in_the_future(data, tables)
    remember_data_set(data)
    return data


#: The zone whose day begins first (UTC+14, Kiritimati's): a stored table's times are its
#: business's wall clock; where the data set does not record that zone (``manifest.json``'s
#: ``business_zone``), no business's tomorrow ends later.
FIRST_ZONE = "Etc/GMT-14"


def latest_possible_time(zone: str | None = None) -> datetime:
    """The end of tomorrow in ``zone`` (the business's, ``--timezone``; default UTC), naive as
    ingest stores times: no export holds a later time, a later one is a wrong row (2099 typed
    for 1999). The CLI's clock; features and training take their dates as arguments."""
    from zoneinfo import ZoneInfo

    now = datetime.now(ZoneInfo(zone or "UTC"))
    today = now.replace(tzinfo=None, hour=0, minute=0, second=0, microsecond=0)
    # its last microsecond: a date without a time on the day after tomorrow (a booking of an
    # appointment book) is after it, as later times of that day are
    return today + timedelta(days=2) - timedelta(microseconds=1)


def _not_dated_in_the_future(data: str | Path, tables) -> None:
    """A transaction dated after tomorrow (in a table written by other means than ingest, which
    quarantines such rows) would become the data's end, and every default date would follow it.
    Tomorrow is the recorded business zone's; the earliest zone's when none is recorded."""
    from features.contract import recorded_zone

    last = tables.transactions.ordered_at.max().execute()
    if last is not None and last >= latest_possible_time(recorded_zone(data) or FIRST_ZONE):
        fail(
            f"data set {data}: its last transaction is dated {last:%Y-%m-%d}, after today: a "
            "wrongly dated row? fix it (lifecycle ingest quarantines such rows) before scoring "
            "or training"
        )


def _all_rows_usable(data: str | Path, tables) -> None:
    """Refuse a contract with rows no feature can use (a table written by other means than
    ingest, which quarantines them): they would be left out unseen or stop scoring midway. One
    line, naming each table, reason, count and a first row."""
    from features.unusable_rows import unusable_rows

    found = unusable_rows(tables.customers, tables.transactions, tables.events)
    if found:
        fail(
            f"data set {data}: rows no feature can use: "
            + "; ".join(u.described() for u in found)
            + ". Run `lifecycle ingest` (it quarantines such rows) or fix the job that writes "
            "the tables; nothing was computed"
        )


DataDir = Annotated[
    Path,
    typer.Option("--data", callback=data_set, help="Contract directory (from ingest or generate)."),
]


EngineOption = Annotated[
    str,
    typer.Option(
        "--engine",
        # "\\[": Rich would read [spark] as markup and drop it
        help="Where features are computed: duckdb (in process) or spark "
        "(pip install '.\\[spark]').",
    ),
]


SparkMasterOption = Annotated[
    str | None,
    typer.Option(
        "--spark-master",
        help="Spark master URL, e.g. local[4], spark://host:7077, yarn "
        "(default: spark-submit's, else local[*]).",
    ),
]


@contextmanager
def running_on(name: str, spark_master: str | None) -> Iterator[Engine]:
    """The engine of ``--engine``; environment problems and failed Spark jobs are one-line
    errors."""
    from features.engine import EngineError, open_engine, plain_interrupts

    with plain_interrupts():
        try:
            yield open_engine(name, master=spark_master)
        except EngineError as exc:
            fail(str(exc))


EngineData = Annotated[
    str,
    typer.Option(
        "--data",
        help="Contract directory (from ingest or generate); "
        "with --engine spark also a URI (file://, hdfs://, s3a://, gs://, abfss://).",
    ),
]


def engine_data(data: str | Path, engine: str) -> str | Path:
    """``--data`` of a command with ``--engine``: a local contract directory is checked now
    (:func:`data_set`); a URI is for Spark only, and Spark checks it (:func:`spark_paths`)."""
    from features.engine import is_uri

    if not is_uri(data):
        local = Path(data)
        data_set(local)
        return local
    if engine == "duckdb":
        fail(
            f"--data {data}: a URI is read with --engine spark only; DuckDB reads local contract "
            "directories"
        )
    return str(data)


def local_out(out: str, engine: str) -> Path:
    """``--out`` on DuckDB: a local path (a URI is written by --engine spark only)."""
    from features.engine import is_uri

    if is_uri(out):
        fail(f"--out {out}: a URI is written with --engine spark only; DuckDB writes local files")
    return Path(out)


def spark_paths(on, data: str | Path, out: str | None = None) -> None:
    """On Spark, before any job: a ``--data`` URI must hold something and an ``--out`` URI must be
    on a file system Spark has (one line naming the path otherwise)."""
    from features.engine import is_uri

    if is_uri(data) and not on.reach(data, "--data"):
        fail(
            f"data set {data}: the directory does not exist (a contract directory needs "
            "customers.parquet and transactions.parquet)"
        )
    if out is not None and is_uri(out):
        on.reach(out, "--out")
    if is_uri(data):  # a local directory had these checks in data_set; a URI gets them on Spark
        from features.snapshots import connect

        with on.job(f"checking the data set {data}"):
            try:
                tables = connect(data, on.backend)
            except (ValueError, OSError) as exc:
                fail(f"data set {data}: {' '.join(str(exc).split())}")
            _all_rows_usable(data, tables)
            _not_dated_in_the_future(data, tables)


def data_name(data: str | Path) -> str:
    """The data set's name (the default project): the folder's or the URI's last segment."""
    from features.engine import is_uri

    return str(data).rstrip("/").rsplit("/", 1)[-1] if is_uri(data) else Path(data).resolve().name


def check_cutoffs(source: str | Path, cutoffs: list[date], horizon_days: int | None) -> None:
    """Labels need outcome windows the data covers: refuse a cutoff at or after its end."""
    from training.dataset import check_window, data_bounds

    if horizon_days is None:
        return
    bounds = data_bounds(source)
    for c in cutoffs:  # a window that only runs past the end is warned of by the label build
        check_window(bounds, c, horizon_days, "--cutoff")


ConfigPath = Annotated[Path, typer.Option("--config", help="Experiment YAML (see experiments/).")]


#: The config of train, tune, backtest and retrain: RFM, engagement, static and calendar features
#: with BG/NBD + Gamma-Gamma as features and as the models' starting point (docs/results.md);
#: found in the working directory, else shipped with the code (``training.config.config_file``).
DEFAULT_CONFIG = Path("experiments/btyd-features.yaml")


TrackingUriOption = Annotated[
    str,
    typer.Option(
        "--tracking-uri",
        envvar="MLFLOW_TRACKING_URI",
        callback=tracking_store,
        help="MLflow tracking URI (default: MLFLOW_TRACKING_URI, else sqlite:///mlflow.db).",
    ),
]


ConfigTrackingUriOption = Annotated[
    str | None,
    typer.Option(
        "--tracking-uri",
        callback=tracking_store,
        help="MLflow tracking URI (default: the config's tracking.tracking_uri, else "
        "MLFLOW_TRACKING_URI, else sqlite:///mlflow.db).",
    ),
]


ProjectOption = Annotated[
    str | None,
    typer.Option(
        "--project",
        help="Project whose models, MLflow experiments and champion to use "
        "(default: the config's project:, else the data directory's name).",
    ),
]


OptionalData = Annotated[
    Path | None,
    typer.Option(
        "--data", callback=data_set, help="Contract directory; default: the config's data."
    ),
]

#: The test metrics ``train`` and ``experiment run`` print (MLflow has them all, ``test_`` first).
HEADLINE_METRICS = (
    "churn_auc",
    "churn_pr_auc",
    "churn_brier",
    "clv_mae",
    "clv_spearman",
    "clv_gini",
    "clv_total_ratio",
)


def chosen_store(cfg, tracking_uri: str | None) -> str | None:
    """The MLflow store a config-driven command uses instead of the config's default: the
    --tracking-uri given, else MLFLOW_TRACKING_URI unless the YAML names its own store."""
    if tracking_uri or "tracking_uri" in cfg.tracking.model_fields_set:
        return tracking_uri
    return os.environ.get("MLFLOW_TRACKING_URI")


def config_and_data(
    config: Path, data: str | Path | None, engine: str = "duckdb", tracking_uri: str | None = None
):
    """The experiment config (a ConfigError is a user error) and its checked data set. Its MLflow
    store: ``tracking_uri`` (--tracking-uri), else the YAML's, else MLFLOW_TRACKING_URI."""
    from training.config import load_config, moved_to

    cfg = load_config(config)
    from serving.config import check_scoring_section

    check_scoring_section(cfg.scoring, config)
    if tracking_uri := chosen_store(cfg, tracking_uri):
        cfg = cfg.model_copy(update={"tracking": moved_to(cfg.tracking, tracking_uri)})
    tracking_store(cfg.tracking.tracking_uri)  # the store a full disk's message names
    data_dir = data or cfg.data
    if data_dir is None:
        fail(f"{config}: no data directory: pass --data or set 'data:' in the config")
    return cfg, engine_data(data_dir, engine)


def parse_date(text: str, option: str) -> date:
    try:
        return datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError:
        fail(f"{option}: {text!r} is not a date of the form YYYY-MM-DD")
