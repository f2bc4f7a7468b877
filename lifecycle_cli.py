"""The ``lifecycle`` command line: a thin layer over the features, training and serving packages.

Imports of heavy libraries happen inside the commands, so ``lifecycle --help`` is instant.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import sys
import traceback
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn, cast

import typer
from typer.core import TyperGroup

from training import DEFAULT_TRACKING_URI

if TYPE_CHECKING:
    from features.engine import Engine
    from features.snapshots import ValueColumn


class _OneLineUserErrors(TyperGroup):
    """Runs every command; a user error (see ``_user_error``) becomes one ``error: ...`` line on
    stderr and exit code 2, never a traceback. ``LIFECYCLE_DEBUG=1`` shows the traceback."""

    def invoke(self, ctx):
        # MLflow announces creating and migrating its store tables on every new store: noise here;
        # and it logs every database error it re-raises (a full disk: ~90 lines of SQL and
        # traceback) before the one line below says what happened (LIFECYCLE_DEBUG=1: both).
        debug = os.environ.get("LIFECYCLE_DEBUG") == "1"
        level = logging.WARNING if debug else logging.CRITICAL
        logging.getLogger("mlflow.store.db.utils").setLevel(level)
        warnings.showwarning = _show_warning
        try:
            return super().invoke(ctx)
        except Exception as exc:
            if _spark_interrupted():  # Ctrl-C: what failed after it followed from it
                raise typer.Exit(130) from exc
            message = _user_error(exc)
            if message is None or os.environ.get("LIFECYCLE_DEBUG") == "1":
                raise
            _fail(message)


def _spark_interrupted() -> bool:
    engine = sys.modules.get("features.engine")  # not imported here: Spark runs have loaded it
    return engine is not None and engine.interrupted()


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Our own warnings as one ``warning: ...`` line; a library's keep where they come from."""
    if category is UserWarning:
        _log(f"warning: {' '.join(str(message).split())}")
    else:
        _log(warnings.formatwarning(message, category, filename, lineno, line).rstrip())


def _user_error(exc: BaseException) -> str | None:
    """The one-line message of an error the user can fix (bad config or YAML, missing file or data
    set, a plan the data cannot hold, no champion, a rejected export); None for a bug."""
    import yaml
    from pydantic import ValidationError

    from features.mapping import IngestError
    from training.bundle import BundleError
    from training.config import ConfigError, validation_problems
    from training.splits import PlanError

    if isinstance(exc, ValidationError):
        message = f"{exc.title}: {validation_problems(exc)}"
    elif isinstance(exc, yaml.YAMLError):
        message = f"not valid YAML: {exc}"
    elif isinstance(exc, (KeyError, IndexError)):  # LookupErrors that are bugs, not user errors
        return None
    elif (full := _disk_full(exc)) is not None:  # before OSError: MLflow's do not name a path
        message = (
            f"the disk of the MLflow store {_store_place()} is full ({full}): free space where "
            "mlflow.db and mlruns/ live, then run again (the champion is unchanged; a run cut "
            "short is marked FAILED, at the latest by the next `lifecycle train`)"
        )
    elif isinstance(exc, (ConfigError, PlanError, IngestError, BundleError, LookupError, OSError)):
        message = str(exc)
    elif (damaged := _damaged_data(exc)) is not None:
        message = damaged
    elif (broken := _in_chain(exc, DAMAGED_SQLITE)) is not None:
        message = (
            f"a SQLite database this command uses is damaged ({broken}): restore it from a "
            "backup (the MLflow store: mlflow.db with mlruns/; tuning: optuna.db), or point "
            "--tracking-uri (MLFLOW_TRACKING_URI) at another store"
        )
    else:
        return None
    return message


#: What SQLite says of a damaged database file (truncated, overwritten).
DAMAGED_SQLITE = ("database disk image is malformed", "file is not a database")


def _in_chain(exc: BaseException, needles: tuple[str, ...]) -> str | None:
    """The first of ``needles`` found in ``exc`` or the exceptions it was raised from."""
    seen: BaseException | None = exc
    while seen is not None:
        text = str(seen)
        if found := next((n for n in needles if n in text), None):
            return found
        seen = seen.__cause__ or seen.__context__
    return None


def _first_line(exc: BaseException) -> str:
    """The exception's first meaningful line, for an error message (its class when empty)."""
    from features.engine import one_line

    return one_line(exc, 200) or type(exc).__name__


#: The contract directories ``--data`` named in this process (``_data_set``), newest last: where
#: to look for a damaged file when the engine fails to decode one.
_DATA_SETS: list[Path] = []


def _damaged_data(exc: BaseException) -> str | None:
    """A DuckDB read that failed on a damaged Parquet file (pages garbled, footer whole: the
    schema check of ``_data_set`` passes), naming the file when one of the data sets holds it."""
    import duckdb

    if not isinstance(exc, duckdb.Error) or isinstance(exc, duckdb.OutOfMemoryException):
        return None
    first = _first_line(exc)
    if not any(w in first.lower() for w in ("corrupt", "parquet", "decompress", "invalid")):
        return None
    import pyarrow as pa
    import pyarrow.parquet as pq

    for data in reversed(_DATA_SETS):
        for path in sorted(data.glob("*.parquet")):
            try:
                pq.ParquetFile(path).read()
            except (pa.ArrowException, OSError) as bad:
                why = " ".join(str(bad).split())[:160]
                return (
                    f"data set {data}: {path.name} is damaged ({why}); "
                    "its pages cannot be decoded. Write it again (lifecycle ingest, or copy it "
                    "whole) and re-run"
                )
    return f"reading the data failed: {first} (a damaged Parquet file? write it again and re-run)"


def _disk_full(exc: BaseException) -> str | None:
    """What a full disk of the MLflow store said: an MLflow error caused by one (its SQLite
    store's, in any wrapper), or an ENOSPC that MLflow's artifact store raised without naming
    the file (an OSError naming its file says where itself); None for anything else."""
    from mlflow.exceptions import MlflowException

    if isinstance(exc, MlflowException):  # not e.g. typer's Exit after a handled disk error
        return _in_chain(
            exc, ("database or disk is full", "No space left on device", "disk I/O error")
        )
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC and exc.filename is None:
        frames = traceback.extract_tb(exc.__traceback__)
        if any(f"{os.sep}mlflow{os.sep}" in frame.filename for frame in frames):
            return exc.strerror or "No space left on device"
    return None


#: The MLflow stores the command named (--tracking-uri or its config's), newest last.
_STORES: list[str] = []


def _tracking_store(value: str | None) -> str | None:
    """Option callback: remember the store, for a message about its disk."""
    if value:
        _STORES.append(value)
    return value


def _store_place() -> str:
    """Where the command's MLflow store lives, for a message: the SQLite file's folder."""
    from training.registry import sqlite_store

    if not _STORES:
        return "(sqlite:///mlflow.db unless --tracking-uri says otherwise)"
    path = sqlite_store(_STORES[-1])
    return f"in {os.path.abspath(path.parent)}" if path is not None else _STORES[-1]


app = typer.Typer(
    cls=_OneLineUserErrors,
    help="Customer lifecycle platform: ingest CRM data, build point-in-time features, "
    "train churn and CLV models, backtest, and score customers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
experiment_app = typer.Typer(
    help="Run experiments defined in experiments/*.yaml.", no_args_is_help=True
)
app.add_typer(experiment_app, name="experiment")


def _fail(message: str) -> NoReturn:
    """The one way a command stops on a user error: one line on stderr, exit code 2."""
    typer.secho(f"error: {' '.join(message.split())}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code=2)


def _log(message: str) -> None:
    typer.echo(message, err=True)


@contextmanager
def _plan_must_fit(what: object) -> Iterator[None]:
    """A cutoff plan the data cannot hold is a one-line error about ``what``, not a traceback."""
    from training.splits import PlanError

    try:
        yield
    except PlanError as exc:
        _fail(f"{what}: {exc}")


def _data_set(data: Path | None) -> Path | None:
    """``--data``: a missing, empty, incompatible or row-less contract directory is a one-line
    error naming the data set and what is missing, before any work starts."""
    if data is None:
        return None
    from features.contract import CUSTOMERS, TRANSACTIONS, table_path

    hint = f"run `lifecycle ingest --out {data}` or `lifecycle generate --out {data}` first"
    if not data.exists():
        _fail(f"data set {data}: the directory does not exist; {hint}")
    if not data.is_dir():
        _fail(
            f"data set {data}: not a directory; --data takes the contract directory ingest writes"
        )
    missing = [
        f"{t}.parquet" for t in (CUSTOMERS, TRANSACTIONS) if not table_path(data, t).exists()
    ]
    if missing:
        state = (
            "the directory is empty"
            if not any(data.iterdir())
            else f"no {' and no '.join(missing)}"
        )
        _fail(
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
            _fail(
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
        _fail(f"data set {data}: {' '.join(str(exc).split())}")
    for table, n in rows.items():
        if n == 0:
            quarantine = data / "quarantine" / f"{table}.parquet"
            where = (
                f"; the rejected rows and their reasons are in {quarantine}"
                if quarantine.exists()
                else ""
            )
            _fail(
                f"data set {data}: {table}.parquet has 0 rows (nothing was accepted at "
                f"ingest){where}"
            )
    _all_rows_usable(data, tables)
    _not_dated_in_the_future(data, tables)
    _DATA_SETS.append(data)
    return data


def _latest_possible_time() -> datetime:
    """The end of tomorrow (naive UTC): no export holds a later time, a later one is a wrong row
    (2099 typed for 1999). The CLI's clock; features and training take their dates as arguments."""
    from datetime import UTC

    today = datetime.now(UTC).replace(tzinfo=None, hour=0, minute=0, second=0, microsecond=0)
    return today + timedelta(days=2)


def _not_dated_in_the_future(data: str | Path, tables) -> None:
    """A transaction dated after tomorrow (in a table written by other means than ingest, which
    quarantines such rows) would become the data's end, and every default date would follow it."""
    last = tables.transactions.ordered_at.max().execute()
    if last is not None and last >= _latest_possible_time():
        _fail(
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
        _fail(
            f"data set {data}: rows no feature can use: "
            + "; ".join(u.described() for u in found)
            + ". Run `lifecycle ingest` (it quarantines such rows) or fix the job that writes "
            "the tables; nothing was computed"
        )


DataDir = Annotated[
    Path,
    typer.Option(
        "--data", callback=_data_set, help="Contract directory (from ingest or generate)."
    ),
]


@app.command()
def ingest(
    transactions: Annotated[
        list[Path],
        typer.Option(
            help="Transactions export (CSV, TSV, whitespace, Parquet or a workbook; .gz, .bz2, "
            ".xz or a .zip of one). Repeat it, or quote a "
            "pattern ('orders_*.csv'), for several exports, oldest first: a later file's orders "
            "replace an earlier one's, rows repeated across files are kept once."
        ),
    ],
    out: Annotated[Path, typer.Option(help="Output contract directory (replaced as a whole).")],
    customers: Annotated[
        list[Path] | None,
        typer.Option(help="Customers export (repeatable, oldest first: the latest record wins)."),
    ] = None,
    events: Annotated[
        list[Path] | None,
        typer.Option(
            help="Engagement events export (repeatable: one per tool, e.g. newsletter opens and "
            "help-desk tickets; a map file's files: section maps each its own way)."
        ),
    ] = None,
    map: Annotated[
        str | None,
        typer.Option(
            "--map",
            help='Column mapping, e.g. "customer_id=Customer '
            'ID,ordered_at=InvoiceDate,quantity=Quantity,unit_price=UnitPrice"; quote names '
            'holding commas: amount="Umsatz (EUR, netto)". '
            "Keys may be qualified: events.occurred_at=...",
        ),
    ] = None,
    map_file: Annotated[
        Path | None,
        typer.Option(
            help="YAML map file: columns:, values: (e.g. event_type: {Case: support_ticket}), "
            "format keys (encoding, sep, sheet, decimal, thousands, date_format, date_order, "
            "timezone, currency) and files: (a file name or pattern -> its own columns:, "
            "values:, formats, for exports of other tools). customer_email (mapped for the "
            "customers file and another file) finds that file's customers by e-mail."
        ),
    ] = None,
    date_format: Annotated[
        str | None, typer.Option(help="strptime format of the date columns (default: detected).")
    ] = None,
    date_order: Annotated[
        str | None,
        typer.Option(
            help="dmy or mdy: how to read 05/03/2024 (default: detected from the values, else "
            "reported guess)."
        ),
    ] = None,
    timezone: Annotated[
        str | None,
        typer.Option(
            help="Time zone of times written without an offset, e.g. Asia/Shanghai for a "
            "Fxiaoke export (default: UTC); times with an offset keep theirs."
        ),
    ] = None,
    sep: Annotated[
        str | None,
        typer.Option(
            help="Column separator: , ; tab | whitespace (default: sniffed, quotes respected)."
        ),
    ] = None,
    encoding: Annotated[
        str | None,
        typer.Option(
            help="Text encoding: utf-8, utf-8-sig, gbk, gb18030, latin-1, cp1252 (default: UTF-8, "
            "BOM or GBK detected)."
        ),
    ] = None,
    sheet: Annotated[
        str | None,
        typer.Option(
            help="Sheet of a workbook export (.xlsx, .xls, .ods) to read (default: the first "
            "that holds anything)."
        ),
    ] = None,
    decimal: Annotated[
        str | None, typer.Option(help="Decimal separator . or , (default: detected).")
    ] = None,
    thousands: Annotated[
        str | None,
        typer.Option(help="Thousands separator , . space ' or none (default: detected)."),
    ] = None,
    strict_values: Annotated[
        bool,
        typer.Option(
            "--strict-values",
            help="Quarantine events whose type maps to no contract type (default: count them as "
            "other).",
        ),
    ] = False,
    min_accepted_share: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=1.0,
            help="Fail (and write nothing) when a table accepts a smaller share of its rows.",
        ),
    ] = 0.5,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Read, map, validate and report; write nothing (to try a map file)."
        ),
    ] = False,
    campaigns: Annotated[
        Path | None,
        typer.Option(
            help="Campaigns export (customer_id, sent_at, campaign_id, action, arm, cost) for "
            "uplift."
        ),
    ] = None,
    campaigns_map: Annotated[
        str | None,
        typer.Option(
            help='Campaigns column mapping, e.g. "arm=Group,sent_at=Send Date" (same syntax as '
            "--map)."
        ),
    ] = None,
    unquoted: Annotated[list[str] | None, typer.Argument(hidden=True)] = None,
) -> None:
    """Validate CRM exports into contract tables; bad rows go to DIR/quarantine with a reason."""
    from features.ingest import ingest as run_ingest
    from features.mapping import IngestError, load_mapping

    if unquoted:  # an unquoted pattern: the shell gave the option its first file, the rest loose
        more = f" and {len(unquoted) - 1} more" if len(unquoted) > 1 else ""
        _fail(
            f"{unquoted[0]}{more}: files given without an option (an unquoted pattern such as "
            "--transactions deals_*.csv, expanded by the shell?): quote the pattern "
            "(--transactions 'deals_*.csv') or repeat the option for each file"
        )

    try:
        mapping = load_mapping(
            map,
            map_file,
            date_format,
            date_order=date_order,
            timezone=timezone,
            sep=sep,
            sheet=sheet,
            encoding=encoding,
            decimal=decimal,
            thousands=thousands,
        )
        campaigns_source = None
        if campaigns is not None:  # written with the other tables, in the same swap
            from features.campaigns import CampaignsSource
            from features.mapping import parse_map_option
            from features.numbers import forced_format

            campaigns_source = CampaignsSource(
                campaigns,
                parse_map_option(campaigns_map) if campaigns_map else None,
                date_format=mapping.date_format,
                date_order=mapping.date_order,
                timezone=mapping.timezone,
                number_format=forced_format(mapping.decimal, mapping.thousands),
            )
        reports = run_ingest(
            out,
            transactions,
            mapping,
            customers=customers,
            events=events,
            log=_log,
            strict_values=strict_values,
            min_accepted_share=min_accepted_share,
            dry_run=dry_run,
            latest=_latest_possible_time(),
            campaigns=campaigns_source,
        )
    except IngestError as exc:
        _fail(str(exc))
    campaign_report = reports.pop("campaigns", None)
    total_read = sum(r.rows_read for r in reports.values())
    total_q = sum(r.quarantined for r in reports.values())
    where = f"dry run, nothing written to {out}" if dry_run else f"ingested into {out}"
    typer.echo(
        f"{where}: {total_read:,} rows read, {total_read - total_q:,} accepted, {total_q:,} "
        "quarantined"
    )
    if campaign_report is not None:
        report = campaign_report
        typer.echo(
            f"campaigns: {report.rows_read:,} rows read, {report.accepted:,} accepted, "
            f"{report.quarantined:,} quarantined"
        )


@app.command()
def generate(
    out: Annotated[Path, typer.Option(help="Output contract directory.")],
    customers: Annotated[int, typer.Option(min=1, help="Number of customers.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    start: Annotated[str, typer.Option(help="First day of the simulated period.")] = "2023-01-01",
    end: Annotated[
        str, typer.Option(help="End of the simulated period (exclusive: no data on or after it).")
    ] = "2026-01-01",
    campaigns: Annotated[
        bool,
        typer.Option(
            "--campaigns",
            help="Add a randomized retention campaign (email, discount, call vs control) sent 120 "
            "days "
            "before --end, with a 90-day window; true effects in campaign_truth.parquet.",
        ),
    ] = False,
) -> None:
    """Generate a synthetic CRM data set with ground truth (truth.parquet)."""
    from features.synthetic import generate as run_generate

    spec = None
    if campaigns:
        from features.synthetic_campaigns import CampaignSpec

        sent = date.fromordinal(_parse_date(end, "--end").toordinal() - 120)
        spec = CampaignSpec(sent_at=str(sent), campaign_id=f"retention-{sent:%Y-%m}", seed=seed)
    summary = run_generate(out, customers, seed, start=start, end=end, campaigns=spec)
    typer.echo(json.dumps(summary.to_dict(), indent=2, default=str))


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
def _engine(name: str, spark_master: str | None) -> Iterator[Engine]:
    """The engine of ``--engine``; environment problems and failed Spark jobs are one-line
    errors."""
    from features.engine import EngineError, open_engine, plain_interrupts

    with plain_interrupts():
        try:
            yield open_engine(name, master=spark_master)
        except EngineError as exc:
            _fail(str(exc))


EngineData = Annotated[
    str,
    typer.Option(
        "--data",
        help="Contract directory (from ingest or generate); "
        "with --engine spark also a URI (file://, hdfs://, s3a://, gs://, abfss://).",
    ),
]


def _engine_data(data: str | Path, engine: str) -> str | Path:
    """``--data`` of a command with ``--engine``: a local contract directory is checked now
    (:func:`_data_set`); a URI is for Spark only, and Spark checks it (:func:`_spark_paths`)."""
    from features.engine import is_uri

    if not is_uri(data):
        local = Path(data)
        _data_set(local)
        return local
    if engine == "duckdb":
        _fail(
            f"--data {data}: a URI is read with --engine spark only; DuckDB reads local contract "
            "directories"
        )
    return str(data)


def _local_out(out: str, engine: str) -> Path:
    """``--out`` on DuckDB: a local path (a URI is written by --engine spark only)."""
    from features.engine import is_uri

    if is_uri(out):
        _fail(f"--out {out}: a URI is written with --engine spark only; DuckDB writes local files")
    return Path(out)


def _spark_paths(on, data: str | Path, out: str | None = None) -> None:
    """On Spark, before any job: a ``--data`` URI must hold something and an ``--out`` URI must be
    on a file system Spark has (one line naming the path otherwise)."""
    from features.engine import is_uri

    if is_uri(data) and not on.reach(data, "--data"):
        _fail(
            f"data set {data}: the directory does not exist (a contract directory needs "
            "customers.parquet and transactions.parquet)"
        )
    if out is not None and is_uri(out):
        on.reach(out, "--out")
    if is_uri(data):  # a local directory had these checks in _data_set; a URI gets them on Spark
        from features.snapshots import connect

        with on.job(f"checking the data set {data}"):
            try:
                tables = connect(data, on.backend)
            except (ValueError, OSError) as exc:
                _fail(f"data set {data}: {' '.join(str(exc).split())}")
            _all_rows_usable(data, tables)
            _not_dated_in_the_future(data, tables)


def _data_name(data: str | Path) -> str:
    """The data set's name (the default project): the folder's or the URI's last segment."""
    from features.engine import is_uri

    return str(data).rstrip("/").rsplit("/", 1)[-1] if is_uri(data) else Path(data).resolve().name


@app.command()
def features(
    data: EngineData,
    cutoff: Annotated[list[str], typer.Option(help="Cutoff date(s) YYYY-MM-DD; repeat to stack.")],
    out: Annotated[
        str, typer.Option(help="Output Parquet file (--engine spark: a directory or URI).")
    ],
    horizon_days: Annotated[
        int | None, typer.Option(min=1, help="Add labels over [T, T+H).")
    ] = None,
    value: Annotated[str, typer.Option(help="Value label: revenue or margin.")] = "revenue",
    engine: EngineOption = "duckdb",
    spark_master: SparkMasterOption = None,
) -> None:
    """Compute point-in-time features (and labels) at one or more cutoffs.

    With --engine spark, OUT is a Parquet directory partitioned by cutoff_day, written by Spark."""
    from features.snapshots import write_snapshots

    if value not in ("revenue", "margin"):
        _fail(f"--value {value!r}: expected revenue or margin")
    label = cast("ValueColumn", value)
    source = _engine_data(data, engine)
    cutoffs = [_parse_date(c, "--cutoff") for c in cutoff]
    if engine != "duckdb":
        from training.dataset import BuildSettings, building_on

        with _engine(engine, spark_master) as spark, building_on(BuildSettings(spark)):
            _spark_paths(spark, source, out)
            _check_cutoffs(source, cutoffs, horizon_days)
            written = write_snapshots(
                spark, source, cutoffs, out, horizon_days=horizon_days, value=label
            )
        typer.echo(
            f"wrote {written.rows:,} rows x {written.columns} columns to {out} (Spark, by "
            "cutoff_day)"
        )
        return
    _check_cutoffs(source, cutoffs, horizon_days)
    written = write_snapshots(
        None, source, cutoffs, _local_out(out, engine), horizon_days=horizon_days, value=label
    )
    typer.echo(f"wrote {written.rows:,} rows x {written.columns} columns to {out}")


def _check_cutoffs(source: str | Path, cutoffs: list[date], horizon_days: int | None) -> None:
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
        callback=_tracking_store,
        help="MLflow tracking URI (default: MLFLOW_TRACKING_URI, else sqlite:///mlflow.db).",
    ),
]
ConfigTrackingUriOption = Annotated[
    str | None,
    typer.Option(
        "--tracking-uri",
        callback=_tracking_store,
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
        "--data", callback=_data_set, help="Contract directory; default: the config's data."
    ),
]


def _store(cfg, tracking_uri: str | None) -> str | None:
    """The MLflow store a config-driven command uses instead of the config's default: the
    --tracking-uri given, else MLFLOW_TRACKING_URI unless the YAML names its own store."""
    if tracking_uri or "tracking_uri" in cfg.tracking.model_fields_set:
        return tracking_uri
    return os.environ.get("MLFLOW_TRACKING_URI")


def _load(
    config: Path, data: str | Path | None, engine: str = "duckdb", tracking_uri: str | None = None
):
    """The experiment config (a ConfigError is a user error) and its checked data set. Its MLflow
    store: ``tracking_uri`` (--tracking-uri), else the YAML's, else MLFLOW_TRACKING_URI."""
    from training.config import load_config, moved_to

    cfg = load_config(config)
    if tracking_uri := _store(cfg, tracking_uri):
        cfg = cfg.model_copy(update={"tracking": moved_to(cfg.tracking, tracking_uri)})
    _tracking_store(cfg.tracking.tracking_uri)  # the store a full disk's message names
    data_dir = data or cfg.data
    if data_dir is None:
        _fail(f"{config}: no data directory: pass --data or set 'data:' in the config")
    return cfg, _engine_data(data_dir, engine)


@app.command()
def train(
    config: ConfigPath = DEFAULT_CONFIG,
    data: Annotated[
        str | None,
        typer.Option(
            "--data",
            help="Contract directory (--engine spark: also a URI); default: the config's data.",
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option(help="Promote to champion even if worse than the current one.")
    ] = False,
    no_register: Annotated[
        bool, typer.Option("--no-register", help="Track the run but register nothing.")
    ] = False,
    project: ProjectOption = None,
    engine: EngineOption = "duckdb",
    spark_master: SparkMasterOption = None,
    sample_fraction: Annotated[
        float,
        typer.Option(
            min=0.001,
            max=1.0,
            help="Train on this share of customers (stable customer_id "
            "hash; logged to MLflow); BTYD fits use the same sample.",
        ),
    ] = 1.0,
    churn_horizon_days: Annotated[
        int | None,
        typer.Option(
            min=7, max=730, help="Override the config's labels.churn_horizon_days (short data)."
        ),
    ] = None,
    value_horizon_days: Annotated[
        int | None,
        typer.Option(
            min=7, max=1095, help="Override the config's labels.value_horizon_days (short data)."
        ),
    ] = None,
    tracking_uri: ConfigTrackingUriOption = None,
) -> None:
    """Train churn and CLV models on rolling snapshots; track in MLflow; apply promotion gate."""
    from serving.monitor import reference_mix
    from serving.scoring import fit_scoring_thresholds
    from training.dataset import BuildSettings, building_on, log_build_settings
    from training.train import train as run_train

    cfg, data_dir = _load(config, data, engine, tracking_uri)
    horizons = {
        k: v
        for k, v in (
            ("churn_horizon_days", churn_horizon_days),
            ("value_horizon_days", value_horizon_days),
        )
        if v is not None
    }
    if horizons:  # logged with the run's config like any other setting
        cfg = cfg.model_copy(update={"labels": cfg.labels.model_copy(update=horizons)})
    if force:
        _log("--force: the promotion gate is overridden; a worse model may become champion")
    with _plan_must_fit(config), _engine(engine, spark_master) as on:
        if engine != "duckdb":
            _spark_paths(on, data_dir)
        settings = BuildSettings(on if engine != "duckdb" else None, sample_fraction)
        with building_on(settings):
            result = run_train(
                cfg,
                data_dir,
                project=project,
                force=force,
                register=not no_register,
                scoring_thresholds=fit_scoring_thresholds,
                log=_log,
                reference_mix=reference_mix,
            )
        if not result.repeated:  # a repeat's run is the decided version's: not this build's
            log_build_settings(result.run_id, settings, tracking_uri=cfg.tracking.tracking_uri)
    m = result.metrics
    typer.echo(f"run {result.run_id} ({result.seconds:.0f} s) in {cfg.tracking.tracking_uri}")
    typer.echo(f"{'test metric':<18}{'lightgbm':>12}{'btyd':>12}")
    for key in (
        "churn_auc",
        "churn_pr_auc",
        "churn_brier",
        "clv_mae",
        "clv_spearman",
        "clv_gini",
        "clv_total_ratio",
    ):
        # a repeat's metrics are its decided version's run's: gone when that run was collected
        model, btyd = (
            _metric_cell(m[f"test_{who}{key}"]) if f"test_{who}{key}" in m else "-"
            for who in ("", "btyd_")
        )
        typer.echo(f"{key:<18}{model:>12} {btyd:>11}")
    truth = sorted(k for k in m if k.startswith("test_truth_"))
    if truth:
        typer.echo("against the generator's truth (synthetic data):")
    for key in truth:
        typer.echo(f"  {key.removeprefix('test_truth_'):<28}{m[key]:>12.4f}")


def _metric_cell(value: float) -> str:
    """A metric for the table: 4 decimals, fewer for large money (a rupiah MAE) so that columns
    never run together."""
    text = f"{value:.4f}"
    return text if len(text) <= 11 else f"{value:.4g}" if abs(value) >= 1e11 else f"{value:.0f}"


@app.command()
def tune(
    config: ConfigPath = DEFAULT_CONFIG,
    data: OptionalData = None,
    trials: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Finished trials each study should hold; a resumed study runs only the missing "
            "ones (default: the config's).",
        ),
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Where to write the tuned config.")] = None,
    project: ProjectOption = None,
    tracking_uri: ConfigTrackingUriOption = None,
) -> None:
    """Tune LightGBM with Optuna (TPE + pruning; resumable SQLite studies per project: a killed
    tune continues, its interrupted trial failed and retried); write the best config."""
    from training.tune import tune as run_tune

    cfg, data_dir = _load(config, data, tracking_uri=tracking_uri)
    with _plan_must_fit(config):
        _, path = run_tune(cfg, data_dir, trials=trials, out=out, log=_log, project=project)
    typer.echo(f"tuned config: {path}  (train with: lifecycle train --config {path})")


@app.command()
def backtest(
    data: EngineData,
    cutoff: Annotated[
        str, typer.Option(help="Backtest cutoff YYYY-MM-DD: models see only data before it.")
    ],
    horizon_days: Annotated[int, typer.Option(min=1, help="Evaluate on [cutoff, cutoff + H).")],
    out: Annotated[Path, typer.Option(help="Output JSON file.")],
    config: ConfigPath = DEFAULT_CONFIG,
    dataset: Annotated[str | None, typer.Option(help="Name of the data set in the JSON.")] = None,
    project: ProjectOption = None,
    engine: EngineOption = "duckdb",
    spark_master: SparkMasterOption = None,
    allow_partial_window: Annotated[
        bool,
        typer.Option(
            "--allow-partial-window",
            help="Run although the outcome window runs past the end of the data (recorded in "
            "the JSON; its customers count as churned for the missing days).",
        ),
    ] = False,
    seasonality: Annotated[
        bool,
        typer.Option(
            "--seasonality/--no-seasonality",
            help="Carry the churn forecast to H on the base's purchase seasonality when the "
            "history before the cutoff shows one (logged; JSON 'seasonality'); "
            "--no-seasonality: calendar days.",
        ),
    ] = True,
    tracking_uri: ConfigTrackingUriOption = None,
) -> None:
    """Fit on data before the cutoff; compare LightGBM with BG/NBD + Gamma-Gamma on the horizon."""
    from training.backtest import backtest as run_backtest
    from training.backtest import format_table, write_result
    from training.config import resolve_project
    from training.dataset import BuildSettings, building_on

    cfg, data_dir = _load(config, data, engine, tracking_uri)
    cfg = cfg.model_copy(update={"project": resolve_project(cfg, data_dir, project)})
    with (
        _plan_must_fit(f"backtest at {cutoff} over {horizon_days} days"),
        _engine(engine, spark_master) as on,
        building_on(BuildSettings(on if engine != "duckdb" else None)),
    ):
        if engine != "duckdb":
            _spark_paths(on, data_dir)
        from serving.scoring import range_groups  # coverage of the value ranges per stage/segment

        result = run_backtest(
            data_dir,
            _parse_date(cutoff, "--cutoff"),
            horizon_days,
            cfg,
            dataset=dataset,
            log=_log,
            range_groups=range_groups,
            allow_partial_window=allow_partial_window,
            seasonal=seasonality,
        )
    write_result(result, out)
    typer.echo(format_table(result))
    typer.echo(f"wrote {out}")


@app.command()
def score(
    data: EngineData,
    out: Annotated[
        str, typer.Option(help="Scores file (.parquet); --engine spark: a directory or URI.")
    ] = "data/scores.parquet",
    as_of: Annotated[
        str | None,
        typer.Option(help="Scoring date YYYY-MM-DD (default: day after the last transaction)."),
    ] = None,
    csv: Annotated[
        bool, typer.Option("--csv", help="Also write a CSV next to the Parquet file.")
    ] = False,
    scoring_config: Annotated[
        Path | None, typer.Option(help="YAML with stage rules, tiers and actions.")
    ] = None,
    tracking_uri: TrackingUriOption = DEFAULT_TRACKING_URI,
    project: Annotated[
        str | None,
        typer.Option(
            "--project",
            help="Project whose champion pair scores (default: the data directory's name).",
        ),
    ] = None,
    allow_missing: Annotated[
        bool,
        typer.Option(
            "--allow-missing",
            help="Score data lacking a feature family the champions were trained "
            "with (e.g. no events.parquet): those features are imputed, with a warning.",
        ),
    ] = False,
    engine: EngineOption = "duckdb",
    spark_master: SparkMasterOption = None,
    history: Annotated[
        Path | None,
        typer.Option(
            help="Score history root: the run is also kept under HISTORY/<project>/as_of=DATE/ for "
            "`lifecycle monitor` (default: score_history next to OUT; --no-history: not kept)."
        ),
    ] = None,
    no_history: Annotated[
        bool, typer.Option("--no-history", help="Do not keep this run in the score history.")
    ] = False,
) -> None:
    """Score every customer with the champion models; write Parquet (and CSV) and print a summary.

    With --engine spark the models score on the executors: OUT and its .snapshot.parquet are
    Parquet directories partitioned by day, written by Spark (no CSV, no summary on the driver)."""
    from serving.batch import (
        MissingFeatureData,
        check_feature_data,
        feature_snapshot,
        load_champions,
        score_snapshot,
        write_scores,
    )
    from serving.config import load_scoring_config
    from serving.scoring import people_rows, summarise

    source = _engine_data(data, engine)
    day = _parse_date(as_of, "--as-of") if as_of else None
    project = project or _data_name(source)
    champions = load_champions(tracking_uri, project)
    config = load_scoring_config(scoring_config, champions.scoring) if scoring_config else None

    def checked_feature_data() -> None:
        try:
            for warning in check_feature_data(source, champions, allow_missing):
                _log(f"warning: {warning}")
        except MissingFeatureData as exc:
            _fail(str(exc))

    if engine != "duckdb":  # data and OUT may be URIs: Spark reads the data's facts and bounds
        from serving.spark_scoring import score_on_spark
        from training.dataset import BuildSettings, building_on

        with _engine(engine, spark_master) as on, building_on(BuildSettings(on)):
            _spark_paths(on, source, out)
            checked_feature_data()
            day = _scoring_day(source, day)
            if not no_history:
                _log(
                    "note: --engine spark keeps no score history (the scores stay on the cluster); "
                    "`lifecycle monitor` scores the dates it compares itself"
                )
            done = score_on_spark(
                on,
                source,
                day,
                out,
                tracking_uri=tracking_uri,
                scoring_config=config,
                project=project,
            )
        _log(done.hold)
        typer.echo(
            f"scored {done.rows:,} customers as of {day} on Spark with churn "
            f"v{done.churn_version}, clv v{done.clv_version}: {done.scores} (features: "
            f"{done.snapshot})"
        )
        return
    out_file = _local_out(out, engine)
    from features.atomic_file import check_file_target
    from serving.batch import score_files, scored_days

    for target in score_files(out_file, csv):  # before any work, and before the history
        check_file_target(target)
    day = _scoring_day(source, day)
    if (held := max(scored_days(out_file), default=day)) > day:
        _log(
            f"warning: {out_file} holds scores as of {held}; they are replaced by older ones "
            f"(as of {day}), which `lifecycle export` and the service then read. To fill the "
            "score history with a past date, give that run another --out"
        )
    checked_feature_data()
    snapshot = feature_snapshot(source, day, champions)
    scores = score_snapshot(snapshot, champions, day, config)
    from serving.action_hold import held_scores
    from serving.config import stored_scoring_config

    history_root = history or out_file.parent / "score_history"
    scores, said = held_scores(
        scores,
        snapshot,
        config or stored_scoring_config(champions.scoring),
        history_root,
        project,
        day,
    )
    _log(said)
    if not no_history:  # first: a history that cannot be written leaves --out as it was
        from serving.score_history import write_partition

        kept = write_partition(history_root, project, day, scores, snapshot)
        _log(f"kept in the score history: {kept}")
    snapshot_path = write_scores(
        out_file, scores, snapshot, people_rows(scores) if csv else None, source
    )
    if not no_history:  # the CRM reads these now: the next week's tier hold compares with them
        from serving.score_history import mark_sent

        if trouble := mark_sent(history_root, project, day):
            _log(trouble)
    summary = summarise(scores)
    typer.echo(
        f"scored {len(scores):,} customers as of {day} with the {champions.project} champion pair "
        f"v{champions.version}: {out_file} (features: {snapshot_path})"
    )
    typer.echo(json.dumps(summary, indent=2, default=str))


def _scoring_day(source: str | Path, as_of: date | None) -> date:
    """``--as-of``, else the day after the last transaction; a date long after the data warned."""
    from training.dataset import check_window, customers_from, data_bounds, export_warnings

    bounds = data_bounds(source)
    day = as_of or bounds[1]
    if warning := check_window(bounds, day, None, "--as-of"):
        _log(warning)
    for said in export_warnings(source, day, bounds[1]):
        _log(said)
    if as_of is None and (later := customers_from(source, day)):
        _log(
            f"warning: {later:,} customers of the customers table first appear on or after "
            f"{day}, the day after the last transaction, so they are not scored; pass --as-of "
            "a later date to include them (as prospects)"
        )
    return day


@experiment_app.command("run")
def experiment_run(
    name: Annotated[
        str,
        typer.Argument(
            help="Experiment: NAME (experiments/NAME.yaml here, else the shipped one) or the "
            "path of a YAML file."
        ),
    ],
    data: OptionalData = None,
    backtest_cutoff: Annotated[
        str | None, typer.Option(help="Backtest instead of training: YYYY-MM-DD.")
    ] = None,
    horizon_days: Annotated[
        int | None, typer.Option(min=1, help="Backtest horizon (with --backtest-cutoff).")
    ] = None,
    project: ProjectOption = None,
    tracking_uri: ConfigTrackingUriOption = None,
) -> None:
    """Run one experiment as an MLflow run in the MLflow experiment PROJECT/NAME; registers none."""
    from experiments.runner import run_experiment

    if (backtest_cutoff is None) != (horizon_days is None):
        _fail("--backtest-cutoff and --horizon-days go together")
    bt = (
        (_parse_date(backtest_cutoff, "--backtest-cutoff"), horizon_days)
        if backtest_cutoff and horizon_days is not None  # both or neither, checked above
        else None
    )
    from experiments.runner import experiment_file, load_experiment

    experiment = load_experiment(name)
    if data is None:  # the experiment's own data set gets the checks of --data
        data = _data_set(experiment.data)
    tracking_uri = _store(experiment, tracking_uri)
    with _plan_must_fit(str(experiment_file(name))):
        from serving.scoring import range_groups  # coverage of the value ranges per stage/segment

        run = run_experiment(
            name,
            data=data,
            backtest=bt,
            project=project,
            log=_log,
            range_groups=range_groups,
            tracking_uri=tracking_uri,
        )
    typer.echo(
        f"{run.kind} run {run.run_id} in MLflow experiment {run.mlflow_experiment!r} "
        "(for comparison: nothing registered, the champion unchanged)"
    )
    for key in (
        "churn_auc",
        "churn_pr_auc",
        "churn_brier",
        "clv_mae",
        "clv_spearman",
        "clv_gini",
        "clv_total_ratio",
    ):
        if f"test_{key}" in run.metrics:
            typer.echo(f"  {key:<18}{run.metrics['test_' + key]:>10.4f}")


@app.command()
def compare(
    names: Annotated[
        list[str] | None, typer.Argument(help="Experiments to compare (default: all in the store).")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            help="HTML report (default: reports/compare.html, reports/compare-KIND.html)."
        ),
    ] = None,
    kind: Annotated[
        str | None,
        typer.Option(
            help="Only runs of this kind: train, backtest or uplift (Qini, uplift plots, policy "
            "value)."
        ),
    ] = None,
    data: Annotated[
        str | None,
        typer.Option("--data", help="Only runs whose data tag is this (e.g. synthetic, cdnow)."),
    ] = None,
    project: Annotated[
        str | None,
        typer.Option(
            "--project",
            help="Only this project's runs (its <project>/NAME experiments and runs tagged "
            "with it; a run without a project tag belongs to the project named like its data tag).",
        ),
    ] = None,
    n_boot: Annotated[
        int, typer.Option(min=20, help="Bootstrap resamples for the noise check.")
    ] = 200,
    tracking_uri: TrackingUriOption = DEFAULT_TRACKING_URI,
) -> None:
    """Latest run of each experiment side by side (best marked, noise flagged), an HTML report."""
    import os

    from experiments.compare import compare_experiments, format_table
    from experiments.narrative import what_this_says
    from experiments.report import write_report

    # a comparison downloads a dozen small artifacts: no progress bar each (the user can set it)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    from experiments.runs import COMPARED_KINDS

    if kind is not None and kind not in COMPARED_KINDS:
        _fail(f"--kind {kind!r}: runs are compared by kind {', '.join(COMPARED_KINDS)}")
    if project is None and data is None:
        from experiments.runs import RunFilter, projects_with_runs

        mixed = projects_with_runs(tracking_uri, RunFilter(kind=kind))
        if len(mixed) > 1:
            _fail(
                f"the store holds runs of {len(mixed)} projects ({', '.join(mixed)}): a "
                "comparison ranks runs on one data set; pass --project NAME (or --data NAME)"
            )
    try:
        comparison = compare_experiments(
            names or None, tracking_uri, kind=kind, data=data, project=project, n_boot=n_boot
        )
    except LookupError as exc:
        _fail(str(exc))
    if comparison.missing:  # a name given that has no run: a typo, or not run yet
        _fail(
            f"no finished run for {', '.join(comparison.missing)} (other filters: "
            f"{'project ' + project if project else 'none'}); compared would be only "
            f"{', '.join(comparison.runs)}: check the name, or run `lifecycle experiment run NAME`"
        )
    kinds = sorted({r.kind or "?" for r in comparison.runs.values()})
    if kind is None and len(kinds) > 1:
        by_kind = "; ".join(
            f"{k}: {', '.join(n for n, r in comparison.runs.items() if (r.kind or '?') == k)}"
            for k in kinds
        )
        _fail(
            f"the latest runs are of several kinds ({by_kind}): a training run's test window and "
            f"a backtest's are different targets; pass --kind {' or --kind '.join(kinds)}"
        )
    typer.echo(format_table(comparison))
    typer.echo("")
    for sentence in what_this_says(comparison):
        typer.echo(f"- {sentence}")
    out = out or Path("reports/compare.html" if kind is None else f"reports/compare-{kind}.html")
    typer.echo(f"report: {write_report(comparison, out)}")


def _parse_date(text: str, option: str) -> date:
    try:
        return datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError:
        _fail(f"{option}: {text!r} is not a date of the form YYYY-MM-DD")


def _export_project(option: str | None, scored_by: str | None, scores: Path) -> str:
    """The export's project: ``--project``, else the one whose models scored the file; the
    scores of another project are refused (they would overwrite this project's export state)."""
    if option and scored_by and option != scored_by:
        _fail(
            f"--scores {scores} holds project {scored_by!r}'s scores, not {option!r}: export them "
            f"with --project {scored_by}, or score {option} (lifecycle score --project {option} "
            "--out FILE) and pass --scores FILE"
        )
    if option and not scored_by:
        _log(
            f"warning: --scores {scores} does not record which project scored it (scored before "
            f"this was recorded); exported as project {option!r} unchecked"
        )
    if not option and not scored_by and scores.is_dir():
        from serving.scoring import PROJECT_MARKER

        _fail(
            f"--scores {scores} is a Spark score directory without {PROJECT_MARKER} (written "
            "before it was recorded): name the project that scored it with --project"
        )
    return option or scored_by or "default"


def _why_stopped(
    batches: int, customers: int, retry_after: float | None, max_seconds: float
) -> str:
    """Why a webhook export left batches for the next run, and how many customers wait."""
    left = f"{batches} batches ({customers:,} customers) not delivered (waiting in the journal)"
    if retry_after is None:
        why, then = f"time limit of {max_seconds:.0f} s reached", "to resume"
    else:
        why = (
            f"the receiver asked to wait {retry_after:.0f} s (Retry-After), past the time limit "
            f"of {max_seconds:.0f} s"
        )
        then = "once that wait is over"
    return f"{why}: {left}; run the same command again {then}"


@app.command()
def export(
    to: Annotated[
        str, typer.Option("--to", help="csv (a CRM import file) or webhook (signed JSON POSTs).")
    ],
    crm: Annotated[
        str,
        typer.Option(
            help="Field mapping: zoho, zoho-cn, fxiaoke, salesforce, hubspot, generic, or a YAML "
            "path."
        ),
    ] = "generic",
    url: Annotated[str | None, typer.Option(help="Webhook URL (with --to webhook).")] = None,
    scores: Annotated[Path, typer.Option(help="Scores from `lifecycle score`.")] = Path(
        "data/scores.parquet"
    ),
    project: Annotated[
        str | None,
        typer.Option(
            help="Project name: state is kept per project and target (default: the project "
            "whose models scored --scores, else 'default'); another project's scores are refused."
        ),
    ] = None,
    target: Annotated[
        str | None,
        typer.Option(
            help="Target name (default: the CRM for csv; for webhook the URL's host, with a "
            "hash of its path)."
        ),
    ] = None,
    full: Annotated[
        bool,
        typer.Option("--full", help="Send every customer, not only those whose fields changed."),
    ] = False,
    out: Annotated[
        Path | None, typer.Option(help="CSV file (default: EXPORTS/PROJECT/TARGET/CRM-TIME.csv).")
    ] = None,
    exports_dir: Annotated[
        Path, typer.Option("--exports-dir", help="Where export state lives.")
    ] = Path("data/exports"),
    batch_size: Annotated[
        int, typer.Option(min=1, max=10_000, help="Customers per webhook batch.")
    ] = 200,
    timeout: Annotated[float, typer.Option(min=0.1, help="Seconds per webhook request.")] = 10.0,
    max_attempts: Annotated[
        int, typer.Option(min=1, help="Attempts per batch before the dead-letter file.")
    ] = 8,
    max_seconds: Annotated[
        float, typer.Option(min=1, help="Time bound of the whole webhook export.")
    ] = 600.0,
    secret_env: Annotated[
        str, typer.Option(help="Environment variable with the shared HMAC secret.")
    ] = "LIFECYCLE_WEBHOOK_SECRET",
    progress: Annotated[bool, typer.Option(help="Progress bar of batches on stderr.")] = True,
    allow_older: Annotated[
        bool,
        typer.Option(
            "--allow-older",
            help="Export scores older than those already exported to this target (a rollback).",
        ),
    ] = False,
    customers_from: Annotated[
        list[str] | None,
        typer.Option(
            "--customers-from",
            help="Only customers whose export file (as ingested) matches this name or pattern, "
            "e.g. 'hubspot_*.csv': one CRM's customers of a project fed by several. Repeatable.",
        ),
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option(
            help="Contract directory the scores came from (default: the one the scoring "
            "recorded); read for --customers-from."
        ),
    ] = None,
) -> None:
    """Write the latest scores into a CRM: an import file per CRM, or a signed, idempotent,
    resumable webhook push; by default only customers whose exported fields changed."""
    from serving.writeback.csv_export import CsvResult, export_csv
    from serving.writeback.fields import MappingError, load_mapping
    from serving.writeback.journal import JournalError, state_dir
    from serving.writeback.origins import keep_from, mixed_tools_note, scored_data
    from serving.writeback.plan import load_scores, scores_project
    from serving.writeback.webhook import (
        RetryPolicy,
        WebhookError,
        WebhookResult,
        check_url,
        default_target,
        export_webhook,
        secret_from_env,
    )

    if to not in ("csv", "webhook"):
        _fail(f"--to {to!r}: expected csv or webhook")
    if (to == "webhook") != (url is not None):
        _fail("--url is required with --to webhook, and only with it")
    try:
        if url is not None:
            check_url(url)  # before its host names the target
        mapping = load_mapping(crm)
        frame = load_scores(scores)
        project = _export_project(project, scores_project(frame), scores)
        data_dir = scored_data(frame, data)
        if customers_from:
            frame, said = keep_from(frame, customers_from, data_dir)
            _log(said)
        elif note := mixed_tools_note(frame, data_dir, mapping.name):
            _log(note)
        # url is set exactly when --to webhook (checked above)
        name = target or (mapping.name if url is None else default_target(url))
        state = state_dir(exports_dir, project, name)
        res: CsvResult | WebhookResult
        if url is None:
            res = export_csv(
                frame, str(scores), mapping, state, out=out, full=full, allow_older=allow_older
            )
        else:
            policy = RetryPolicy(
                max_attempts=max_attempts, timeout=timeout, max_seconds=max_seconds
            )
            res = export_webhook(
                frame,
                str(scores),
                mapping,
                state,
                url,
                secret_from_env(secret_env),
                project=project,
                target=name,
                full=full,
                batch_size=batch_size,
                policy=policy,
                progress=progress,
                allow_older=allow_older,
            )
    except (MappingError, JournalError, WebhookError) as exc:
        _fail(str(exc))
    if res.rejects:
        _log(
            f"{len(res.rejects):,} score rows not exported (reasons in "
            f"{state / 'rejected.jsonl'}), e.g. {res.rejects[0].customer_id!r}: "
            f"{res.rejects[0].reason}"
        )
    if res.gone:
        _log(
            f"{res.gone:,} customers exported before are not in these scores: deleted or merged "
            f"in the source? (listed in {state / 'journal.sqlite'}, table not_in_scores; no "
            "deletion is sent)"
        )
    if isinstance(res, CsvResult):
        if res.replaced:
            _log(
                f"{len(res.replaced)} file(s) of an earlier export were still at {out}: they may "
                f"never have been imported, so their {res.carried:,} customers in these scores "
                "are written again with them (move or delete the files once imported, and only "
                "the changes are written)"
            )
        if res.path is None:
            typer.echo(
                f"{project}/{name}: no customer changed since the last export ({res.unchanged:,} "
                "unchanged); no file written (--full to write everyone)"
            )
        else:
            files = (
                str(res.path)
                if len(res.paths) == 1
                else f"{len(res.paths)} files of at most {mapping.max_rows_per_file:,} rows "
                f"(the CRM's limit per file): {', '.join(map(str, res.paths))}"
            )
            typer.echo(
                f"{project}/{name}: wrote {res.written:,} customers to {files} "
                f"({res.unchanged:,} unchanged, not written)"
            )
        return
    if res.auth_error:
        _fail(
            f"the receiver rejected the request: {res.auth_error}. Check that {secret_env} holds "
            "the receiver's shared secret; the batches stay in the journal and the next run "
            "resumes them"
        )
    if res.route_error:
        _fail(
            f"no receiver at this URL: {res.route_error}. Check --url; the batches "
            "stay in the journal and the next run resumes them"
        )
    typer.echo(
        f"{project}/{name}: {res.customers_sent:,} customers in {res.delivered} batches delivered "
        f"({res.resumed_delivered} of them resumed from an interrupted run), {res.retries} "
        f"retries, {res.dead} batches dead-lettered ({res.dead_customers:,} customers), "
        f"{res.unchanged:,} customers unchanged"
    )
    if res.rejected_ids:
        shown = ", ".join(res.rejected_ids[:5]) + (", ..." if len(res.rejected_ids) > 5 else "")
        typer.secho(
            f"{len(res.rejected_ids):,} customers rejected by the receiver, each dead-lettered "
            f"alone (the others of their batches go on): {shown}",
            fg=typer.colors.RED,
            err=True,
        )
    if res.dead:
        typer.secho(
            f"{res.dead} batches failed for good: see {res.dead_letter}; their customers are "
            "sent again by the next export",
            fg=typer.colors.RED,
            err=True,
        )
    if res.not_attempted:
        why = _why_stopped(res.not_attempted, res.waiting_customers, res.retry_after, max_seconds)
        typer.secho(why, fg=typer.colors.RED, err=True)
    if not res.ok:
        raise typer.Exit(code=1)


@app.command()
def uplift(
    data: Annotated[
        Path,
        typer.Option(
            "--data",
            help="Contract directory with a campaigns table (from ingest "
            "--campaigns, generate --campaigns or --hillstrom).",
        ),
    ],
    horizon_days: Annotated[
        int | None, typer.Option(min=1, help="Campaign window in days (default 90).")
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option(help="Measure outcomes as of YYYY-MM-DD (default: the data's end)."),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", help="YAML of uplift settings (training.uplift_run.UpliftRunConfig)."
        ),
    ] = None,
    n_boot: Annotated[
        int | None, typer.Option(min=20, help="Bootstrap resamples for the intervals.")
    ] = None,
    hillstrom: Annotated[
        Path | None, typer.Option(help="First ingest this Hillstrom CSV into --data.")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Folder for the measured tables (CSV).")] = None,
    tracking_uri: TrackingUriOption = DEFAULT_TRACKING_URI,
    experiment: Annotated[str, typer.Option(help="MLflow experiment of the run.")] = "uplift",
    project: Annotated[
        str | None,
        typer.Option(help="Register the models as PROJECT.uplift (Qini promotion gate)."),
    ] = None,
    force: Annotated[
        bool, typer.Option(help="Promote to champion even if the Qini is worse.")
    ] = False,
) -> None:
    """Who is worth calling: uplift models per campaign action vs control, Qini and policy value."""
    from features.hillstrom import ingest_hillstrom
    from training.uplift_run import (
        evaluate,
        format_tables,
        load_campaign_data,
        load_run_config,
        log_to_mlflow,
        write_tables,
    )

    if hillstrom is not None:
        try:
            ingest_hillstrom(data, hillstrom, log=_log)
        except (ValueError, OSError) as exc:  # IngestError included
            _fail(str(exc))
    elif not data.is_dir() or not any(data.iterdir()):
        state = "the directory is empty" if data.is_dir() else "the directory does not exist"
        _fail(
            f"data set {data}: {state}, so no campaigns table (uplift needs campaigns.parquet, and "
            "customers.parquet and transactions.parquet for the outcomes); run `lifecycle ingest "
            "--out DIR ... --campaigns FILE`, `lifecycle generate --campaigns ...` or `lifecycle "
            "uplift --hillstrom CSV`"
        )
    as_of_day = _parse_date(as_of, "--as-of") if as_of else None
    if as_of_day is not None and (data / "transactions.parquet").exists():
        from training.dataset import data_bounds

        end = data_bounds(data)[1]
        if as_of_day > end:
            _log(
                f"warning: --as-of {as_of_day} is after the data's last purchase day "
                f"({end - timedelta(days=1)}): outcome windows that end by {as_of_day} count as "
                "over, with no purchase after that day; right only if the export covers up to "
                "--as-of (leave it out to measure up to the data's end)"
            )
    try:
        cfg = load_run_config(config, horizon_days=horizon_days, n_boot=n_boot)
        campaign = load_campaign_data(data, cfg, as_of_day, log=_log)
    except (ValueError, FileNotFoundError) as exc:
        _fail(str(exc))
    result = evaluate(campaign, cfg, log=_log)
    run_id, decision = log_to_mlflow(
        result,
        cfg,
        data,
        tracking_uri,
        experiment,
        data=campaign,
        project=project,
        force=force,
        log=_log,
    )
    typer.echo(format_tables(result))
    if decision is not None:
        kept = decision.get("champion_version")
        verdict = (
            "PROMOTED"
            if decision["promoted"]
            else f"kept champion v{kept}"
            if kept
            else "not promoted"
        )
        typer.echo(
            f"registered {decision['model']} v{decision['version']}: {verdict}: "
            f"{decision['reason']}"
        )
        policy = decision.get("policy") or {}
        costs = ", ".join(f"{a} {c:,.2f}" for a, c in sorted((policy.get("costs") or {}).items()))
        if decision["promoted"] and not decision.get("trusted_actions"):
            typer.echo(
                "champion, but it trusts no action (forced past the evidence gate): "
                f"`lifecycle score --project {project}` keeps today's rules"
            )
        elif decision["promoted"]:
            typer.echo(
                "scoring with it (champion): the trusted action "
                f"({', '.join(decision['trusted_actions'])}) with the greatest value saved over "
                f"{policy.get('horizon_days')} days net of its cost per contact ({costs}); "
                f"`lifecycle score --project {project}`"
            )
        else:
            kept = decision.get("champion_version")
            typer.echo(
                f"`lifecycle score --project {project}` goes on with "
                + (f"uplift champion v{kept}" if kept else "today's rules (no uplift champion)")
            )
    if out is not None:
        typer.echo(f"tables: {', '.join(str(p) for p in write_tables(result, out))}")
    _warn_unlabelled_actions(result.metrics["action"])  # the measured ones
    from training.config import tracked_experiment_name
    from training.uplift_run import run_project

    where = tracked_experiment_name(run_project(project, data), experiment)
    typer.echo(f"MLflow run {run_id} in experiment {where!r} ({tracking_uri})")


def _warn_unlabelled_actions(actions) -> None:
    """Name the campaign actions without plain words in a language, and how to add them."""
    from serving.labels import LABELS_DIR_ENV, unlabelled_actions

    codes = {str(a) for a in actions.dropna().unique()}
    for language in ("en", "zh"):
        if missing := unlabelled_actions(codes, language):
            _log(
                f"note: actions {missing} have no {language} label: recommended_action_label and "
                f"the CRM exports show the code; put labels in $"
                + LABELS_DIR_ENV
                + f"/actions.{language}.yaml (actions: {{{missing[0]}: ...}}, see docs/scoring.md)"
            )


@app.command()
def monitor(
    data: DataDir,
    project: Annotated[
        str | None,
        typer.Option(
            "--project",
            help="Project whose champion pair is monitored (default: the data directory's name).",
        ),
    ] = None,
    as_of: Annotated[
        str | None, typer.Option(help="Monitored date YYYY-MM-DD (default: the data's end).")
    ] = None,
    tracking_uri: TrackingUriOption = DEFAULT_TRACKING_URI,
    history: Annotated[
        Path,
        typer.Option(
            help="Score history root: where `lifecycle score` kept it, the score_history folder "
            "next to its --out (its default --out data/scores.parquet: data/score_history)."
        ),
    ] = Path("data/score_history"),
    config: Annotated[
        Path | None, typer.Option(help="Thresholds YAML (see serving/monitor_config.py).")
    ] = None,
    out: Annotated[Path, typer.Option(help="Folder for monitor.json and monitor.html.")] = Path(
        "reports/monitor"
    ),
) -> None:
    """Drift (inputs, scores) and realized performance of the champion pair; verdict ok/warn/alert.
    Exit code 0 for ok and warn, 3 for alert (2: a user error)."""
    from serving.monitor_config import load_monitor_config
    from serving.monitor_run import run_monitor

    try:
        cfg = load_monitor_config(config)
    except (OSError, ValueError) as exc:
        _fail(str(exc))
    if out.exists() and not out.is_dir():
        _fail(f"--out {out}: is a file; it names the folder monitor.json and monitor.html go to")
    result, paths = run_monitor(
        data_dir=data,
        as_of=_parse_date(as_of, "--as-of") if as_of else None,
        project=project or data.resolve().name,
        tracking_uri=tracking_uri,
        history_root=history,
        out_dir=out,
        cfg=cfg,
        log=_log,
    )
    typer.echo(result.summary())
    typer.echo(
        f"report: {paths['json']} and {paths['html']} (MLflow run {result.report['mlflow_run_id']})"
    )
    raise typer.Exit(code=result.exit_code)


@app.command()
def retrain(
    data: DataDir,
    config: ConfigPath = DEFAULT_CONFIG,
    project: Annotated[
        str | None,
        typer.Option("--project", help="Project to retrain (default: the data directory's name)."),
    ] = None,
    as_of: Annotated[
        str | None, typer.Option(help="Scoring and monitoring date (default: the data's end).")
    ] = None,
    tracking_uri: TrackingUriOption = DEFAULT_TRACKING_URI,
    history: Annotated[
        Path,
        typer.Option(help="Score history root (as `lifecycle monitor --history`)."),
    ] = Path("data/score_history"),
    monitor_config: Annotated[Path | None, typer.Option(help="Monitor thresholds YAML.")] = None,
    out: Annotated[Path, typer.Option(help="Folder for the monitor report.")] = Path(
        "reports/monitor"
    ),
    state: Annotated[
        Path,
        typer.Option(
            help="Folder for the job's step records (the lock is beside the MLflow store)."
        ),
    ] = Path("data/retrain_state"),
    scores: Annotated[
        Path,
        typer.Option(
            help="Scores Parquet written for `lifecycle export` and the service, with its "
            ".snapshot.parquet and .csv (as `lifecycle score --out ... --csv`)."
        ),
    ] = Path("data/scores.parquet"),
    keep_history_days: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Remove score history dates older than this many days at the end (default: "
            "keep all; the monitor judges the last 365 days).",
        ),
    ] = None,
) -> None:
    """Train -> gate -> score -> monitor as one job: one at a time (lock), resumable after a kill,
    a re-run with the same inputs does nothing new. Exit code 3 when the monitor alerts."""
    from serving.retrain import RetrainBusy, RetrainSettings, RollbackRefused, summary_lines
    from serving.retrain import retrain as run_retrain

    settings = RetrainSettings(
        config=config,
        data_dir=data,
        project=project or data.resolve().name,
        tracking_uri=tracking_uri,
        history_root=history,
        reports=out,
        state_dir=state,
        as_of=_parse_date(as_of, "--as-of") if as_of else None,
        monitor_config=monitor_config,
        scores=scores,
        keep_history_days=keep_history_days,
    )
    try:
        with _plan_must_fit(config):
            summary, code = run_retrain(settings, log=_log)
    except (RetrainBusy, RollbackRefused) as exc:
        _fail(str(exc))
    typer.echo("\n".join(summary_lines(summary)))
    raise typer.Exit(code=code)


@app.command()
def prune(
    project: Annotated[str, typer.Option("--project", help="Project whose store to prune.")],
    tracking_uri: TrackingUriOption = DEFAULT_TRACKING_URI,
    keep_versions: Annotated[
        int, typer.Option(min=1, help="Newest registered versions kept whatever they are.")
    ] = 4,
    keep_monitor_runs: Annotated[int, typer.Option(min=1, help="Newest monitor runs kept.")] = 4,
    dry_run: Annotated[bool, typer.Option(help="Say what would go; remove nothing.")] = False,
) -> None:
    """Remove what a year of retrains leaves in the MLflow store: versions the gate never promoted
    (with their runs and stored pairs) but the newest, and older monitor runs; the champion and
    every former champion stay. What it removed is deleted for good (only that) and a SQLite
    store compacted."""
    from serving.retention import plan_prune
    from serving.retention import prune as run_prune
    from training.registry import require_store

    try:
        require_store(tracking_uri)
    except LookupError as exc:
        _fail(str(exc))
    plan = plan_prune(tracking_uri, project, keep_versions, keep_monitor_runs)
    for line in plan.lines():
        _log(line)
    if dry_run:
        _log("prune: --dry-run: nothing removed")
        return
    try:
        freed = run_prune(tracking_uri, plan, log=_log)
    except RuntimeError as exc:
        _fail(str(exc))
    typer.echo(f"prune {project}: {freed / 1e6:,.1f} MB freed")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
