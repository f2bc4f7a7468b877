"""Feature and label snapshots: load a contract directory, stack cutoffs, compute, write Parquet.

The definitions live in :mod:`features.definitions`; this module only wires tables, cutoffs and
configuration together and runs the query on the backend (embedded DuckDB by default).
"""

from __future__ import annotations

import secrets
import sys
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Literal, TypeAlias

import ibis
import ibis.expr.types as ir
import pandas as pd
from ibis.backends import BaseBackend

from features import catalog
from features import definitions as d
from features.atomic_file import replaced_file
from features.config import DEFAULT_CONFIG, FeatureConfig
from features.contract import (
    CONTRACT,
    COVERS_UNTIL,
    CUSTOMERS,
    EVENTS,
    TRANSACTIONS,
    contract_columns,
    required_columns,
    table_path,
)
from features.engine import Engine, EngineError, Move, is_spark_error, is_uri, open_engine

CutoffLike: TypeAlias = date | datetime | str | pd.Timestamp
ValueColumn = Literal["revenue", "margin"]
LABEL_COLUMNS = ("churned", "future_orders", "future_value")


@dataclass(frozen=True)
class Tables:
    """The contract tables of one data directory as Ibis tables on one backend."""

    backend: BaseBackend
    customers: ir.Table
    transactions: ir.Table
    events: ir.Table | None = None


def feature_columns(config: FeatureConfig = DEFAULT_CONFIG) -> list[str]:
    """Columns of the feature table in a stable order (excludes ``customer_id``, ``cutoff`` and
    labels)."""
    return d.feature_columns(config)


def model_inputs(config: FeatureConfig = DEFAULT_CONFIG) -> list[str]:
    """The feature table's columns that are model inputs (less ``catalog.NOT_MODEL_INPUTS``)."""
    return [c for c in feature_columns(config) if c not in catalog.NOT_MODEL_INPUTS]


# --- loading ------------------------------------------------------------------------------------


def connect(data_dir: str | Path, backend: BaseBackend | None = None) -> Tables:
    """Register a contract directory's Parquet tables (views, no copy) on a backend.

    ``events.parquet`` is optional. Raises ``FileNotFoundError`` / ``ValueError`` naming the
    file and column when a required table or column is missing. On Spark, ``data_dir`` may be
    any URI its file systems read (``hdfs://``, ``s3a://``, ...).
    """
    con = backend if backend is not None else ibis.duckdb.connect()
    tables = {}
    for name in (CUSTOMERS, TRANSACTIONS, EVENTS):
        path = table_location(data_dir, name)
        table = _read_table(con, path, name)
        if table is None:
            continue
        table = _checked_columns(table, name, path)
        tables[name] = table.select(*[c for c in contract_columns(name) if c in table.columns])
    _check_unique_customers(tables[CUSTOMERS], table_path(data_dir, CUSTOMERS))
    return Tables(con, tables[CUSTOMERS], tables[TRANSACTIONS], tables.get(EVENTS))


def table_location(data_dir: str | Path, name: str) -> Path | str:
    """Where a contract table is: its path, or its URI under a URI ``data_dir`` (Spark)."""
    if is_uri(data_dir):
        return f"{str(data_dir).rstrip('/')}/{name}.parquet"
    return table_path(data_dir, name)


def _read_table(con: BaseBackend, path: Path | str, name: str) -> ir.Table | None:
    """The table at ``path`` (None for an absent optional table); the same message for an
    absent required table whether the engine is DuckDB or Spark."""
    missing = f"{path}: missing; a contract directory needs {name}.parquet"
    if isinstance(path, Path):
        if path.exists():
            return _read_parquet(con, path, name)
        if name == EVENTS:
            return None
        raise FileNotFoundError(missing)
    try:  # a URI: only the engine can tell whether it is there
        return _read_parquet(con, path, name)
    except Exception as exc:
        if not is_spark_error(exc) or "PATH_NOT_FOUND" not in str(exc):
            raise
        if name == EVENTS:
            return None
        raise FileNotFoundError(missing) from None


def _read_parquet(con: BaseBackend, path: Path | str, name: str) -> ir.Table:
    """A contract file as a table; nanosecond timestamps, which DuckDB reads and Spark cannot
    (what pandas writes by default), are refused naming the file and how to write it."""
    try:
        return con.read_parquet(path, table_name=name)
    except Exception as exc:
        if not is_spark_error(exc) or "TIMESTAMP(NANOS" not in str(exc):
            raise
    raise EngineError(
        f"{path}: nanosecond timestamps, which Spark cannot read: write them in microseconds, "
        "as lifecycle ingest does (pandas: df.to_parquet(path, coerce_timestamps='us', "
        "allow_truncated_timestamps=True))"
    )


#: The Ibis type of each contract dtype.
_IBIS_TYPES = {
    "string": "string",
    "timestamp": "timestamp",
    "float": "float64",
    "int": "int64",
    "bool": "boolean",
}
_TYPE_CHECKS = {
    "string": ("a string", lambda t: t.is_string()),
    "timestamp": (
        "a naive timestamp (the business's wall clock)",
        lambda t: t.is_timestamp() and t.timezone is None,
    ),
    "float": ("a number", lambda t: t.is_numeric()),
    "int": ("a number", lambda t: t.is_numeric()),
    "bool": ("true or false", lambda t: t.is_boolean()),
}


def _checked_columns(table: ir.Table, name: str, path: Path | str) -> ir.Table:
    """``table`` with its required columns present and every contract column of the expected
    type. A column holding no value is a blank column of its type, whatever type its file gives
    it (pandas writes a column of None as Parquet's null type: NULL on DuckDB, int32 on Spark)."""
    missing = [c for c in required_columns(name) if c not in table.columns]
    if missing:
        raise ValueError(
            f"{path}: column {missing[0]!r} is missing; {name} needs {required_columns(name)}, "
            f"found {list(table.columns)}"
        )
    for column in CONTRACT[name]:
        if column.name not in table.columns:
            continue
        expected, ok = _TYPE_CHECKS[column.dtype]
        found = table[column.name].type()
        if ok(found):
            continue
        if table[column.name].count().execute() == 0:
            blank = ibis.null(_IBIS_TYPES[column.dtype])
            table = table.mutate(**{column.name: blank})
            continue
        raise ValueError(f"{path}: column {column.name!r} must be {expected}, found {found}")
    return table


def _check_unique_customers(customers: ir.Table, path: Path) -> None:
    """Each ``customer_id`` once (a duplicate would silently duplicate feature rows)."""
    counts = customers.group_by("customer_id").aggregate(n=customers.count())
    duplicates = counts.filter(counts.n > 1).limit(3).to_pandas()
    if len(duplicates):
        raise ValueError(
            f"{path}: column 'customer_id' must be unique; repeated: "
            f"{', '.join(map(repr, duplicates.customer_id))}"
        )


def normalize_cutoffs(cutoffs: Sequence[CutoffLike] | CutoffLike) -> list[pd.Timestamp]:
    """Cutoffs as sorted, unique, naive midnight timestamps; rejects any other time of day."""
    if isinstance(cutoffs, str | date | datetime | pd.Timestamp):
        cutoffs = [cutoffs]
    stamps = []
    for value in cutoffs:
        stamp = pd.Timestamp(value)
        if stamp.tzinfo is not None:
            stamp = stamp.tz_convert("UTC").tz_localize(None)
        if stamp != stamp.normalize():
            raise ValueError(f"cutoff must be a date (midnight), got {value!r}")
        stamps.append(stamp)
    if not stamps:
        raise ValueError("cutoffs must name at least one date, got none")
    return sorted(set(stamps))


# --- expressions --------------------------------------------------------------------------------


def feature_table(
    tables: Tables,
    cutoffs: Sequence[CutoffLike] | CutoffLike,
    config: FeatureConfig = DEFAULT_CONFIG,
) -> ir.Table:
    """Features for every customer existing at each cutoff: one row per ``(customer_id, cutoff)``.

    All cutoffs are stacked into one query; only rows with timestamp ``< cutoff`` are read.
    """
    stamps = normalize_cutoffs(cutoffs)
    windows = {*d.rfm_windows(config), *d.event_windows(config), *d.survey_windows()}
    cuts = d.cutoffs_table(_cutoff_literals(stamps), windows)
    last = ibis.literal(stamps[-1].to_pydatetime(), type="timestamp")
    transactions = tables.transactions.filter(tables.transactions.ordered_at < last)
    rfm = "rfm" in config.families
    static = _static_columns(tables) if "static" in config.families else []
    stacked = d.stack(d.purchase_rows(transactions) if rfm else transactions, cuts, "ordered_at")
    history = d.transaction_aggregates(stacked, d.rfm_windows(config) if rfm else None)
    base = d.population(tables.customers, history, cuts, keep=static)
    columns: dict[str, ir.Value] = {}
    if "static" in config.families:
        columns |= d.static_features(base, tables.customers)
    if rfm:
        base = d.left_join(base, _category_breadth(transactions, cuts, last))
        columns |= d.rfm_features(base, config)
    if "engagement" in config.families:
        events = tables.events if tables.events is not None else _empty(EVENTS)
        ends = d.engagement_ends([s.to_pydatetime() for s in stamps], config)
        intervals = d.event_intervals(events, ends)
        base = d.left_join(base, d.engagement_aggregates(intervals, cuts, config))
        columns |= d.engagement_features(base, config)
    return base.select(
        "customer_id", "cutoff", **{c: columns[c] for c in d.feature_columns(config)}
    )


def label_table(
    tables: Tables,
    cutoffs: Sequence[CutoffLike] | CutoffLike,
    horizon_days: int,
    *,
    value: ValueColumn = "revenue",
    annual_discount_rate: float = 0.0,
) -> ir.Table:
    """Labels over ``[T, T + horizon_days)`` for the same population as :func:`feature_table`.

    ``value="margin"`` sums the ``margin`` column instead of ``amount``; a positive
    ``annual_discount_rate`` discounts each transaction by ``exp(-rate * days / 365)``.
    """
    if horizon_days <= 0:
        raise ValueError(f"horizon_days must be a positive number of days, got {horizon_days!r}")
    if annual_discount_rate < 0:
        raise ValueError(f"annual_discount_rate must be >= 0, got {annual_discount_rate!r}")
    if value not in ("revenue", "margin"):
        raise ValueError(f"value must be 'revenue' or 'margin', got {value!r}")
    value_column = {"revenue": "amount", "margin": "margin"}[value]
    if value_column not in tables.transactions.columns:
        raise ValueError(
            f"value={value!r} needs the transactions column {value_column!r}, which is missing"
        )
    stamps = normalize_cutoffs(cutoffs)
    cuts = _cutoff_literals(stamps)
    base = d.population(tables.customers, d.customer_firsts(tables.transactions), cuts)
    future = d.future_aggregates(
        tables.transactions, cuts, horizon_days, value_column, annual_discount_rate
    )
    base = d.left_join(base, future)
    if COVERS_UNTIL in tables.transactions.columns:
        base = d.left_join(base, d.coverage_at_end(tables.transactions, cuts, horizon_days))
    return base.select("customer_id", "cutoff", **d.label_columns(base))


def _cutoff_literals(stamps: list[pd.Timestamp]) -> ir.Table:
    """The cutoffs as a one-column (``cutoff``) in-memory table."""
    return ibis.memtable(pd.DataFrame({"cutoff": pd.DatetimeIndex(stamps).as_unit("us")}))


def _static_columns(tables: Tables) -> list[str]:
    return [c for c in d.STATIC_COLUMNS if c in tables.customers.columns]


def _category_breadth(transactions: ir.Table, cuts: ir.Table, last: ir.Value) -> ir.Table:
    """Category breadth per customer and cutoff (no rows when there is no category column)."""
    if "category" not in transactions.columns:
        empty = cuts.select(
            customer_id=ibis.null("string"), cutoff=cuts.cutoff, category_breadth=ibis.literal(0)
        )
        return empty.limit(0)
    return d.category_breadth(d.category_firsts(transactions, last), cuts)


def _empty(table: str) -> ir.Table:
    """An empty table with the contract's required columns (for an absent optional table)."""
    schema = {c.name: _IBIS_TYPES[c.dtype] for c in CONTRACT[table]}
    empty = pd.DataFrame({name: pd.Series([], dtype=object) for name in schema})
    return ibis.memtable(empty, schema=schema)


# --- running ------------------------------------------------------------------------------------


def snapshot_table(
    tables: Tables,
    cutoffs: Sequence[CutoffLike] | CutoffLike,
    *,
    horizon_days: int | None = None,
    config: FeatureConfig = DEFAULT_CONFIG,
    value: ValueColumn = "revenue",
    annual_discount_rate: float = 0.0,
    sample_fraction: float = 1.0,
) -> ir.Table:
    """Features, labels when ``horizon_days`` is given, for the customers in the sample."""
    expr = feature_table(tables, cutoffs, config)
    if horizon_days is not None:
        labels = label_table(
            tables, cutoffs, horizon_days, value=value, annual_discount_rate=annual_discount_rate
        )
        expr = d.left_join(expr, labels)
    return sample_customers(expr, sample_fraction)


def sample_customers(table: ir.Table, fraction: float) -> ir.Table:
    """The rows of the customers whose hash falls in the first ``fraction`` of the hash range.

    The hash is the first 32 bits of ``md5(customer_id)`` (hex, compared as text): the same on
    every engine, run and cutoff, so a customer is in or out of the sample with all their rows,
    and a 20% sample is part of a 50% one.
    """
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"sample fraction must be in (0, 1], got {fraction!r}")
    if fraction == 1.0:
        return table
    threshold = f"{min(int(fraction * 16**8), 16**8 - 1):08x}"
    return table.filter(table.customer_id.hexdigest("md5").substr(0, 8) < threshold)


def rounded(table: ir.Table) -> ir.Table:
    """Float columns rounded to ``FLOAT_DECIMALS`` (parallel float sums differ in the last bits
    from run to run, and with them LightGBM's bins; nine decimals keep the values)."""
    floats = [c for c, t in table.schema().items() if t.is_floating()]
    return table.mutate(**{c: table[c].round(FLOAT_DECIMALS) for c in floats})


FLOAT_DECIMALS = 9
#: The partition column of feature directories written by Spark (``cutoff_day=YYYY-MM-DD``).
CUTOFF_PARTITION = "cutoff_day"


def build_snapshots(
    data_dir: str | Path,
    cutoffs: Sequence[CutoffLike] | CutoffLike,
    *,
    horizon_days: int | None = None,
    config: FeatureConfig = DEFAULT_CONFIG,
    value: ValueColumn = "revenue",
    annual_discount_rate: float = 0.0,
    progress: bool = True,
    engine: Engine | None = None,
    sample_fraction: float = 1.0,
) -> pd.DataFrame:
    """Features (and labels when ``horizon_days`` is given) sorted by ``cutoff``, ``customer_id``.

    Warns when a label horizon runs past the data. On a Spark ``engine`` the rows are computed on
    Spark and collected (sample them with ``sample_fraction``); :func:`write_snapshots` writes
    from the executors instead (and streams DuckDB's rows into one file).
    """
    labelled = " + labels" if horizon_days else ""
    with (
        _snapshot_expr(
            engine, data_dir, cutoffs, horizon_days, config, value, annual_discount_rate,
            sample_fraction,
        ) as (what, expr),
        timed_step(f"features{labelled} for {what}", progress),
    ):  # fmt: skip
        if engine is not None and engine.is_spark:
            frame = rounded(expr).to_pandas()
            frame = frame.sort_values(["cutoff", "customer_id"], ignore_index=True)
        else:
            frame = expr.order_by(["cutoff", "customer_id"]).to_pandas()
    _set_frame_types(frame)
    # DuckDB adds floats in parallel, in an order that changes from run to run: the last bits of
    # sums differ, and with them LightGBM's bins. Nine decimals keep the values and drop the noise.
    floats = [c for c, dtype in frame.dtypes.items() if dtype == "float64"]
    frame[floats] = frame[floats].round(FLOAT_DECIMALS)
    return frame


def _set_frame_types(frame: pd.DataFrame) -> None:
    frame["cutoff"] = frame["cutoff"].astype("datetime64[us]")
    if "churned" in frame:
        frame["churned"] = frame["churned"].astype("Int8")  # int8 with nulls, as the schema says


#: Rows per Arrow batch streamed from DuckDB into a feature file.
WRITE_BATCH_ROWS = 100_000


def write_snapshots(
    engine: Engine | None,
    data_dir: str | Path,
    cutoffs: Sequence[CutoffLike] | CutoffLike,
    out: str | Path,
    *,
    horizon_days: int | None = None,
    config: FeatureConfig = DEFAULT_CONFIG,
    value: ValueColumn = "revenue",
    annual_discount_rate: float = 0.0,
    progress: bool = True,
) -> WrittenSnapshots:
    """Features (and labels) written to ``out`` without holding the table in memory
    (``lifecycle features``); the rows, columns and types of :func:`build_snapshots`.

    On Spark the executors write Parquet partitioned by ``cutoff_day`` under the directory
    ``out`` (replaced); nothing is collected to the driver. On DuckDB (``engine`` None) the rows,
    sorted by ``cutoff`` and ``customer_id``, are streamed in Arrow batches into the single
    Parquet file ``out`` with pandas' metadata (floats rounded by DuckDB); the file is replaced
    whole, so a failed or killed write leaves the previous one.
    """
    engine = engine if engine is not None else open_engine("duckdb")
    with _snapshot_expr(
        engine, data_dir, cutoffs, horizon_days, config, value, annual_discount_rate
    ) as (what, expr):
        with timed_step(f"features for {what} -> {out}", progress):
            write = _write_partitioned if engine.is_spark else _write_file
            return write(engine, rounded(expr), out)


def _write_partitioned(engine: Engine, expr: ir.Table, out: str | Path) -> WrittenSnapshots:
    """Written aside (a run's own staging directory), then put in place of what ``out`` held,
    which must be an earlier feature output (``Engine.check_replaceable``): a kill or a failure
    leaves the previous one, and nothing of the user's is deleted."""
    out, owned = str(out).rstrip("/"), (f"{CUTOFF_PARTITION}=",)
    engine.check_replaceable(out, owned)
    staging = engine.staging_path(out)
    expr = expr.mutate(**{CUTOFF_PARTITION: expr.cutoff.strftime("%Y-%m-%d")})
    frame = engine.dataframe(expr)
    # a naive timestamp, as the data's and DuckDB's: Spark's zone-aware TIMESTAMP (Parquet
    # INT96) showed a reader in another session zone 2025-08-31 17:00 for 2025-09-01
    frame = frame.withColumn("cutoff", frame["cutoff"].cast("timestamp_ntz"))
    try:
        frame.write.mode("overwrite").partitionBy(CUTOFF_PARTITION).parquet(staging)
        try:
            rows = engine.spark.read.parquet(staging).count()
        except Exception as exc:  # no row at all: Spark wrote no file to read a schema from
            if "UNABLE_TO_INFER_SCHEMA" not in str(exc):
                raise
            rows = 0
        engine.publish_together(Move(staging, out, owned))  # under the folder's lock
    except BaseException:
        engine.remove_quietly(staging)
        raise
    return WrittenSnapshots(out, rows, len(expr.columns) - 1)


def _write_file(duckdb: Engine, expr: ir.Table, out: str | Path) -> WrittenSnapshots:
    # a view (it registers the cutoff table) read through DuckDB's own Arrow reader: Ibis 12's
    # batch reader does not run on duckdb 2.0
    view = f"feature_rows_{secrets.token_hex(6)}"
    duckdb.backend.create_view(view, expr.order_by(["cutoff", "customer_id"]))
    try:
        return _stream_into(duckdb, view, out)
    finally:
        duckdb.backend.drop_view(view, force=True)


def _stream_into(duckdb: Engine, view: str, out: str | Path) -> WrittenSnapshots:
    import pyarrow as pa
    import pyarrow.parquet as pq

    query = duckdb.backend.con.sql(f"SELECT * FROM {view}")
    with replaced_file(out) as tmp, query.to_arrow_reader(WRITE_BATCH_ROWS) as batches:
        typed = batches.schema.empty_table().to_pandas()
        _set_frame_types(typed)
        schema = pa.Schema.from_pandas(typed, preserve_index=False)
        rows = 0
        with pq.ParquetWriter(tmp, schema) as writer:
            for batch in batches:
                writer.write_batch(batch.cast(schema))
                rows += batch.num_rows
    return WrittenSnapshots(str(out), rows, len(schema))


@contextmanager
def _snapshot_expr(
    engine: Engine | None,
    data_dir: str | Path,
    cutoffs: Sequence[CutoffLike] | CutoffLike,
    horizon_days: int | None,
    config: FeatureConfig,
    value: ValueColumn,
    annual_discount_rate: float,
    sample_fraction: float = 1.0,
) -> Iterator[tuple[str, ir.Table]]:
    """On ``engine`` (DuckDB when None): the cutoffs in words and the :func:`snapshot_table`
    expression; warns when a label horizon runs past the data."""
    stamps = normalize_cutoffs(cutoffs)
    what = f"{len(stamps)} cutoff(s) {stamps[0]:%Y-%m-%d}..{stamps[-1]:%Y-%m-%d}"
    with _on(engine, f"features for {what} from {data_dir}"):
        tables = connect(data_dir, engine.backend if engine is not None else None)
        if horizon_days is not None:
            _warn_if_censored(tables, stamps, horizon_days)
        yield (
            what,
            snapshot_table(
                tables,
                stamps,
                horizon_days=horizon_days,
                config=config,
                value=value,
                annual_discount_rate=annual_discount_rate,
                sample_fraction=sample_fraction,
            ),
        )


@dataclass(frozen=True)
class WrittenSnapshots:
    """Where a feature table was written, and its size."""

    path: str
    rows: int
    columns: int


def read_snapshots(path: str | Path) -> pd.DataFrame:
    """A feature directory written by :func:`write_snapshots` as one frame (for checks and tests),
    sorted by ``cutoff`` and ``customer_id``, without the partition column."""
    frame = pd.read_parquet(path).drop(columns=[CUTOFF_PARTITION], errors="ignore")
    frame["cutoff"] = frame["cutoff"].astype("datetime64[us]")
    return frame.sort_values(["cutoff", "customer_id"], ignore_index=True)


@contextmanager
def _on(engine: Engine | None, what: str) -> Iterator[None]:
    if engine is None:
        yield
        return
    with engine.job(what):
        yield


def _warn_if_censored(tables: Tables, stamps: list[pd.Timestamp], horizon_days: int) -> None:
    last = tables.transactions.ordered_at.max().to_pandas()
    if last is None or pd.isna(last):
        return
    data_end = pd.Timestamp(last).normalize() + pd.Timedelta(days=1)
    late = [s for s in stamps if s + pd.Timedelta(days=horizon_days) > data_end]
    if late:
        warnings.warn(
            f"labels are right-censored for {len(late)} cutoff(s) from {late[0]:%Y-%m-%d}: "
            f"the {horizon_days}-day horizon runs past the last transaction day "
            f"{data_end - pd.Timedelta(days=1):%Y-%m-%d}",
            stacklevel=3,
        )


@contextmanager
def timed_step(message: str, enabled: bool) -> Iterator[None]:
    """Print ``message ...`` and, when done, the elapsed seconds (to stderr)."""
    start = time.perf_counter()
    if enabled:
        print(f"{message} ...", file=sys.stderr, flush=True)
    yield
    if enabled:
        print(
            f"{message}: done in {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True
        )
