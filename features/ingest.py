"""Ingest: turn CRM exports (CSV or Parquet) into validated contract tables.

Every source row ends up either accepted (in ``DIR/<table>.parquet``) or quarantined (in
``DIR/quarantine/<table>.parquet`` with the reason); ``accepted + quarantined == rows read``.
A file that cannot be used at all raises :class:`IngestError` naming the file and the column.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from features.contract import (
    CONTRACT,
    CUSTOMERS,
    EVENTS,
    TIME_COLUMN,
    TRANSACTIONS,
    quarantine_path,
    table_path,
)
from features.mapping import ColumnMapping, IngestError

#: Formats tried, in order, when no date format is given (a column must parse as a whole).
CANDIDATE_DATE_FORMATS = (
    "%Y%m%d",
    "ISO8601",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y",
    "%d/%m/%Y %H:%M",
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y",
    "%d.%m.%Y %H:%M",
    "%d.%m.%Y",
)
#: A date column in which fewer than this share of values parse is unusable (not a row problem).
MIN_PARSABLE_SHARE = 0.5


@dataclass
class TableReport:
    """Counts of one table's ingest."""

    table: str
    source_file: str
    rows_read: int = 0
    accepted: int = 0
    quarantined: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    date_format: str | None = None


def read_source(path: Path) -> pd.DataFrame:
    """Read a CSV/TSV/whitespace-separated or Parquet export with every column as text."""
    if not path.exists():
        raise IngestError(f"{path}: file does not exist")
    if path.stat().st_size == 0:
        raise IngestError(f"{path}: file is empty; expected a header and at least one row")
    if path.suffix.lower() in {".parquet", ".pq"}:
        frame = pd.read_parquet(path)
        frame = frame.astype("string")
    else:
        frame = pd.read_csv(
            path, sep=_sniff_separator(path), dtype="string", keep_default_na=False,
            na_values=[""], skipinitialspace=True, engine="python" if _is_whitespace(path) else "c",
        )
    frame.columns = [str(c).strip() for c in frame.columns]
    if frame.empty:
        raise IngestError(f"{path}: file has a header but no rows; expected at least one row")
    return frame


def _first_line(path: Path) -> str:
    with path.open("r", encoding="utf-8", errors="replace") as handle:
        return handle.readline()


def _is_whitespace(path: Path) -> bool:
    return _sniff_separator(path) == r"\s+"


def _sniff_separator(path: Path) -> str:
    header = _first_line(path)
    for sep in ("\t", ",", ";", "|"):
        if sep in header:
            return sep
    return r"\s+"


def _source_column(frame: pd.DataFrame, path: Path, table: str, column: str,
                   mapping: ColumnMapping, required: bool) -> pd.Series | None:
    """The source values for a contract column, or a clear error when a required one is missing."""
    name = mapping.source_for(table, column) or column
    if name in frame.columns:
        return frame[name]
    mapped = mapping.source_for(table, column)
    if mapped is not None:
        raise IngestError(
            f"{path}: column {mapped!r} (mapped to {table}.{column}) not found; "
            f"columns in the file: {list(frame.columns)}"
        )
    if required:
        raise IngestError(
            f"{path}: no column for required contract column {table}.{column}; "
            f"add a mapping like --map \"{column}=<Source Column>\"; "
            f"columns in the file: {list(frame.columns)}"
        )
    return None


def parse_dates(values: pd.Series, path: Path, column: str, date_format: str | None) -> tuple[pd.Series, str]:
    """Parse a text date column; returns the timestamps (NaT where unparsable) and the format used."""
    text = values.str.strip()
    present = text.notna()
    formats = [date_format] if date_format else list(CANDIDATE_DATE_FORMATS)
    best, best_ok, best_fmt = None, -1, formats[0]
    for fmt in formats:
        parsed = pd.to_datetime(text, format=fmt, errors="coerce")
        ok = int((parsed.notna() & present).sum())
        if ok > best_ok:
            best, best_ok, best_fmt = parsed, ok, fmt
        if ok == int(present.sum()):
            break
    n_present = int(present.sum())
    if n_present == 0 or best_ok < MIN_PARSABLE_SHARE * n_present:
        examples = list(text[present].head(3))
        expected = date_format or "a date such as 2024-01-31, 20240131 or 01/31/2024 13:05"
        raise IngestError(
            f"{path}: column {column!r} is not a usable date column "
            f"({best_ok} of {n_present} values parse); expected {expected}; found e.g. {examples}"
        )
    parsed = best.dt.tz_localize(None) if getattr(best.dt, "tz", None) is not None else best
    return parsed.astype("datetime64[us]"), best_fmt


def parse_numbers(values: pd.Series) -> pd.Series:
    """Parse a text number column (NaN where unparsable)."""
    cleaned = values.str.strip().str.replace(r"^\$", "", regex=True)
    return pd.to_numeric(cleaned, errors="coerce").astype("float64")


class _Validator:
    """Collects per-row problems of one table: the first reason found for a row wins."""

    def __init__(self, n_rows: int):
        self.reason = np.full(n_rows, None, dtype=object)

    def flag(self, bad: pd.Series | np.ndarray, reason: str) -> None:
        mask = np.asarray(bad, dtype=bool) & pd.isna(self.reason)
        self.reason[mask] = reason

    @property
    def ok(self) -> np.ndarray:
        return pd.isna(self.reason)


def _normalise_ids(values: pd.Series) -> pd.Series:
    """Strip ids; ``"17850.0"`` (an integer id that went through a float column) becomes ``"17850"``."""
    ids = values.str.strip().str.replace(r"^(\d+)\.0+$", r"\1", regex=True)
    return ids.where(ids != "", pd.NA)


def _build_table(table: str, frame: pd.DataFrame, path: Path, mapping: ColumnMapping,
                 known_ids: set[str] | None, report: TableReport) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Validate one source frame; return (accepted contract rows, quarantined source rows)."""
    check = _Validator(len(frame))
    out = pd.DataFrame(index=frame.index)
    for col in CONTRACT[table]:
        if table == TRANSACTIONS and col.name == "amount":
            continue
        source = _source_column(frame, path, table, col.name, mapping, col.required)
        if source is None:
            continue
        if col.dtype == "timestamp":
            out[col.name], report.date_format = parse_dates(source, path, source.name, mapping.date_format)
            check.flag(source.isna(), f"missing {col.name}")
            check.flag(out[col.name].isna(), f"unparsable {col.name}")
        elif col.dtype == "float":
            out[col.name] = parse_numbers(source)
            check.flag(source.notna() & out[col.name].isna(), f"{col.name} is not a number")
        else:
            out[col.name] = _normalise_ids(source) if col.name == "customer_id" else source.str.strip()
            if col.required:
                check.flag(out[col.name].isna(), f"missing {col.name}")
    if table == TRANSACTIONS:
        out["amount"] = _amount(frame, path, mapping, out, check)
    if known_ids is not None:
        check.flag(out["customer_id"].notna() & ~out["customer_id"].isin(known_ids), "unknown customer_id")
    if table == CUSTOMERS:
        check.flag(out["customer_id"].duplicated() & out["customer_id"].notna(), "duplicate customer_id")
    ok = check.ok
    quarantined = frame.loc[~ok].copy()
    quarantined.insert(0, "reason", check.reason[~ok])
    quarantined.insert(0, "source_row", (np.flatnonzero(~ok) + 1).astype("int64"))
    quarantined.insert(0, "source_file", str(path))
    accepted = out.loc[ok].reset_index(drop=True)
    report.rows_read += len(frame)
    report.accepted += len(accepted)
    report.quarantined += len(quarantined)
    for reason, n in pd.Series(check.reason[~ok]).value_counts().items():
        report.reasons[reason] = report.reasons.get(reason, 0) + int(n)
    return accepted, quarantined


def _amount(frame: pd.DataFrame, path: Path, mapping: ColumnMapping, out: pd.DataFrame,
            check: _Validator) -> pd.Series:
    """``amount`` directly, or ``quantity x unit_price`` when the mapping gives those instead."""
    direct = mapping.source_for(TRANSACTIONS, "amount")
    unit_price_col = mapping.source_for(TRANSACTIONS, "unit_price")
    if direct is None and unit_price_col is not None:
        unit = _source_column(frame, path, TRANSACTIONS, "unit_price", mapping, required=True)
        if "quantity" not in out:
            raise IngestError(
                f"{path}: amount is computed as quantity x unit_price but no column is mapped to "
                f"quantity; columns in the file: {list(frame.columns)}"
            )
        price = parse_numbers(unit)
        check.flag(unit.isna(), "missing unit_price")
        check.flag(unit.notna() & price.isna(), "unit_price is not a number")
        check.flag(out["quantity"].isna(), "missing quantity")
        return (out["quantity"] * price).round(6)
    source = _source_column(frame, path, TRANSACTIONS, "amount", mapping, required=True)
    amount = parse_numbers(source)
    check.flag(source.isna(), "missing amount")
    check.flag(source.notna() & amount.isna(), "amount is not a number")
    return amount


def _derive_customers(transactions: pd.DataFrame, events: pd.DataFrame | None) -> pd.DataFrame:
    """Customers table when no customers file is given: first contact = first transaction/event."""
    parts = [transactions[["customer_id", "ordered_at"]].rename(columns={"ordered_at": "signup_at"})]
    if events is not None:
        parts.append(events[["customer_id", "occurred_at"]].rename(columns={"occurred_at": "signup_at"}))
    first = pd.concat(parts).groupby("customer_id", as_index=False)["signup_at"].min()
    for col in ("region", "channel", "segment"):
        first[col] = pd.Series(pd.NA, index=first.index, dtype="string")
    return first


def _write(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False)


def _to_contract_types(frame: pd.DataFrame, table: str) -> pd.DataFrame:
    columns = {}
    for col in CONTRACT[table]:
        if col.name not in frame:
            if col.required:
                continue
            values = pd.Series(None, index=frame.index, dtype="object")
        else:
            values = frame[col.name]
        kind = {"string": "string", "timestamp": "datetime64[us]", "float": "float64"}[col.dtype]
        columns[col.name] = values.astype(kind) if col.dtype != "float" else pd.to_numeric(values).astype(kind)
    return pd.DataFrame(columns).sort_values(
        [TIME_COLUMN[table], "customer_id"], kind="stable"
    ).reset_index(drop=True)


def ingest(out_dir: str | Path, transactions: str | Path, mapping: ColumnMapping,
           customers: str | Path | None = None, events: str | Path | None = None,
           log=print) -> dict[str, TableReport]:
    """Ingest exports into a contract directory and return the per-table counts."""
    out_dir = Path(out_dir)
    reports: dict[str, TableReport] = {}
    quarantined: dict[str, pd.DataFrame] = {}
    known_ids: set[str] | None = None
    customers_frame = None
    if customers is not None:
        customers_frame, reports[CUSTOMERS], quarantined[CUSTOMERS] = _ingest_one(
            CUSTOMERS, Path(customers), mapping, None, log)
        known_ids = set(customers_frame["customer_id"])
    tx_frame, reports[TRANSACTIONS], quarantined[TRANSACTIONS] = _ingest_one(
        TRANSACTIONS, Path(transactions), mapping, known_ids, log)
    ev_frame = None
    if events is not None:
        ids_for_events = known_ids
        ev_frame, reports[EVENTS], quarantined[EVENTS] = _ingest_one(
            EVENTS, Path(events), mapping, ids_for_events, log)
    if customers_frame is None:
        customers_frame = _derive_customers(tx_frame, ev_frame)
        log(f"customers: derived {len(customers_frame):,} customers from first contact "
            "(no customers file given)")
    tables = {CUSTOMERS: customers_frame, TRANSACTIONS: tx_frame, EVENTS: ev_frame}
    for table, frame in tables.items():
        if frame is None:
            continue
        _write(_to_contract_types(frame, table), table_path(out_dir, table))
    for table, frame in quarantined.items():
        _write(frame.astype({c: "string" for c in frame.columns if c not in {"source_row"}}),
               quarantine_path(out_dir, table))
    manifest = {"tables": {t: asdict(r) for t, r in reports.items()},
                "customers": len(customers_frame)}
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str))
    return reports


def _ingest_one(table: str, path: Path, mapping: ColumnMapping, known_ids: set[str] | None,
                log) -> tuple[pd.DataFrame, TableReport, pd.DataFrame]:
    report = TableReport(table=table, source_file=str(path))
    log(f"{table}: reading {path} ...")
    frame = read_source(path)
    log(f"{table}: {len(frame):,} rows read, validating ...")
    accepted, quarantined = _build_table(table, frame, path, mapping, known_ids, report)
    assert report.accepted + report.quarantined == report.rows_read
    detail = ", ".join(f"{k}: {v:,}" for k, v in sorted(report.reasons.items())) or "none"
    fmt = f" (dates parsed as {report.date_format})" if report.date_format else ""
    log(f"{table}: {report.accepted:,} accepted, {report.quarantined:,} quarantined "
        f"[{detail}]{fmt}")
    return accepted, report, quarantined


def print_to_stderr(message: str) -> None:
    """Progress printer for long steps."""
    print(message, file=sys.stderr, flush=True)
