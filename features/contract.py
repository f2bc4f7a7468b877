"""The data contract: the three tables every command reads, and where they live on disk.

A *contract directory* (``--data DIR``) holds ``customers.parquet``, ``transactions.parquet`` and
optionally ``events.parquet``, plus ``quarantine/`` (rows that broke the contract, with a reason)
and ``manifest.json`` (row counts, reasons with a sample line, formats read, event-type mapping).
Ingest replaces the directory as a whole. See ``docs/schema.md`` for the full description.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

CUSTOMERS = "customers"
TRANSACTIONS = "transactions"
EVENTS = "events"
TABLES = (CUSTOMERS, TRANSACTIONS, EVENTS)


@dataclass(frozen=True)
class Column:
    """One contract column: name, logical type, and whether a value is required."""

    name: str
    dtype: str  # "string" | "timestamp" | "float" | "int" | "bool"
    required: bool = True


#: Optional column of ``customers``: when the customer ended the relationship (a membership or
#: subscription cancelled, an account closed); blank while they are a customer
#: (``features.endings``).
ENDED_AT = "ended_at"
#: Optional column of ``customers``: when a customer whose subscriptions had all ended came back
#: (the start of the new one; ``ended_at`` is then the end before it). Ingest writes it from a
#: subscriptions export (:func:`features.endings.ends_over_rows`); from it on, the end is past.
RETURNED_AT = "returned_at"
#: Optional column of ``customers``: the CRM says not to contact the customer (opted out,
#: deceased, blocked by credit control); false when absent. Never a model input: scoring keeps
#: the customer's scores and recommends no contact (``features.contact_flags``).
DO_NOT_CONTACT = "do_not_contact"
#: Optional columns of ``customers``: the CRM bars one channel (Salesforce's
#: ``HasOptedOutOfEmail`` and ``DoNotCall``, HubSpot's ``Unsubscribed from all email``, Zoho's
#: ``Email Opt Out``); false when absent. Scoring recommends a contact by another channel, or none
#: (``serving.channels``).
DO_NOT_EMAIL = "do_not_email"
DO_NOT_CALL = "do_not_call"
#: The contact flags of ``customers`` and the channel each bars (None: every channel).
CONTACT_FLAGS: dict[str, str | None] = {
    DO_NOT_CONTACT: None,
    DO_NOT_EMAIL: "email",
    DO_NOT_CALL: "phone",
}

#: Optional column of ``transactions``: the end of the period the payment covers (an invoice's
#: service period end, a contract's end: Stripe's ``period_end``, a 36-month deal's end). A
#: customer paid ahead through the label window has not churned for want of a purchase in it,
#: and ``paid_ahead_days`` tells the model how long they are covered. Blank: no term known.
COVERS_UNTIL = "covers_until"
#: Optional column of ``events``: how many events of its type the row stands for (a product
#: analytics export's daily aggregate: ``Total Events``, ``sessions``); 1 when absent or blank. A
#: whole number; rows of 0 are set aside by ingest and count nothing in the features.
EVENT_COUNT = "event_count"
#: Quarantine reasons of an ``event_count`` that is no count, and of a row of 0 events (set
#: aside: a daily aggregate's day without activity is read right, not misread).
NOT_A_COUNT = f"{EVENT_COUNT} below 0 or not a whole number"
NO_EVENT = f"no event in the row ({EVENT_COUNT} 0)"

CONTRACT: dict[str, tuple[Column, ...]] = {
    CUSTOMERS: (
        Column("customer_id", "string"),
        Column("signup_at", "timestamp"),
        Column("region", "string", required=False),
        Column("channel", "string", required=False),
        Column("segment", "string", required=False),
        Column(ENDED_AT, "timestamp", required=False),
        Column(RETURNED_AT, "timestamp", required=False),
        Column(DO_NOT_CONTACT, "bool", required=False),
        Column(DO_NOT_EMAIL, "bool", required=False),
        Column(DO_NOT_CALL, "bool", required=False),
    ),
    TRANSACTIONS: (
        Column("customer_id", "string"),
        Column("ordered_at", "timestamp"),
        Column("amount", "float"),
        Column("order_id", "string", required=False),
        Column("quantity", "float", required=False),
        Column("margin", "float", required=False),
        Column("category", "string", required=False),
        Column(COVERS_UNTIL, "timestamp", required=False),
    ),
    EVENTS: (
        Column("customer_id", "string"),
        Column("occurred_at", "timestamp"),
        Column("event_type", "string"),
        Column("value", "float", required=False),
        Column(EVENT_COUNT, "float", required=False),
    ),
}

#: Column of ``customers.parquet`` (beside the contract's) naming the export files (absolute
#: paths, one per line) that list each customer: its customers files, the one of its record last;
#: without a customers file, the file of its first order or event. Scores go back only into the
#: CRM the customer came from. Written by ingest; features skip it.
EXPORT_FILE = "export_file"
#: How :data:`EXPORT_FILE` joins a customer's files.
EXPORT_FILES_SEP = "\n"

#: Key of ``manifest.json``: each of those files' name -> the ``files:`` section of the map file
#: that read it (None: the map file's top level). Files of different sections are different tools.
CUSTOMER_FILES = "customer_files"

#: The file of a contract directory that says how it was written (counts, formats, zone).
MANIFEST = "manifest.json"
#: Key of ``manifest.json``: the zone whose wall clock the stored times are (``--timezone``, an
#: IANA name, or "UTC"). A directory without it (written before it was kept, or by other means
#: than ingest) is read as UTC, not recorded: :func:`recorded_zone` says None.
BUSINESS_ZONE = "business_zone"

#: Engagement event types the features know by name. Other types are kept and counted as ``other``.
EVENT_TYPES = (
    "visit",
    "login",
    "email_open",
    "email_click",
    "support_ticket",
    "complaint",
    "survey",
)

#: Timestamp column of each table (the column that point-in-time logic filters on).
TIME_COLUMN = {CUSTOMERS: "signup_at", TRANSACTIONS: "ordered_at", EVENTS: "occurred_at"}


#: The unreadable manifests :func:`recorded_zone` has warned of in this process.
_UNREADABLE: set[str] = set()


def local_folder(data_dir: str | Path) -> Path:
    """``data_dir`` as a local path: a ``file://`` URI (Spark's name of a local folder) as its
    folder; any other path as given."""
    from urllib.parse import unquote, urlparse

    text = str(data_dir)
    if text.startswith("file:"):
        return Path(unquote(urlparse(text).path))
    return Path(data_dir)


#: Reads a remote file's text (``features.engine.Engine.read_text``), None where there is none.
TextReader = Callable[[str], "str | None"]


def recorded_zone(data_dir: str | Path, read_text: TextReader | None = None) -> str | None:
    """The business zone ``data_dir``'s ``manifest.json`` records, None when it records none (no
    manifest, no key, a remote URI without ``read_text``: :func:`local_folder`). A manifest that
    cannot be read, or a zone no zone database knows, records none too: warned of, naming the
    file, as the times are then read as UTC."""
    import json
    import warnings
    from zoneinfo import ZoneInfo

    given = str(data_dir)  # a URI Spark's file systems resolve (features.engine.is_uri)
    remote = "://" in given and not given.startswith(("/", "file:"))
    path = f"{given.rstrip('/')}/{MANIFEST}" if remote else local_folder(data_dir) / MANIFEST
    try:
        if remote:
            text = read_text(str(path)) if read_text is not None else None
        else:
            text = Path(path).read_text("utf-8") if Path(path).is_file() else None
        if text is None:
            return None
        zone = json.loads(text).get(BUSINESS_ZONE)
        if zone is not None:
            ZoneInfo(zone)
    except (OSError, ValueError, KeyError, AttributeError, TypeError, RuntimeError) as exc:
        # RuntimeError: features.engine.EngineError, a store that refuses
        said = (
            f"{path}: {BUSINESS_ZONE} cannot be read ({' '.join(str(exc).split())[:120]}): the "
            "data's times are read as UTC; run `lifecycle ingest` again to record their zone"
        )
        if said not in _UNREADABLE:  # once per process, whichever check asks first
            _UNREADABLE.add(said)
            warnings.warn(said, stacklevel=2)
        return None
    return zone


def required_columns(table: str) -> list[str]:
    """Names of the columns a table must have."""
    return [c.name for c in CONTRACT[table] if c.required]


def contract_columns(table: str) -> list[str]:
    """Names of all columns the contract knows for a table, required first."""
    return [c.name for c in CONTRACT[table]]


def table_path(data_dir: str | Path, table: str) -> Path:
    """Path of a contract table inside a contract directory."""
    return Path(data_dir) / f"{table}.parquet"


def export_files(values: pd.Series) -> pd.Series:
    """:data:`EXPORT_FILE` values as lists of files, the one of the customer's record last (NA
    where none is recorded)."""
    return values.astype("string").str.split(EXPORT_FILES_SEP)


def quarantine_path(data_dir: str | Path, table: str) -> Path:
    """Path of a table's quarantine file (rejected rows with a ``reason`` column)."""
    return Path(data_dir) / "quarantine" / f"{table}.parquet"


#: The columns a quarantine file puts before the source row: where it came from and why.
QUARANTINE_COLUMNS = ("source_file", "source_row", "source_line", "reason")


#: Column of a contract table's quarantine: the row's customer id as ingest read it (mapped and
#: cleaned, as the contract would hold it), where there is one.
QUARANTINED_ID = "customer_id (as ingested)"
#: The quarantine reason of a row whose customer the customers table does not hold.
UNKNOWN_CUSTOMER = "unknown customer_id"
#: The quarantine reason of a line that repeats the header (two exports pasted together): no row.
REPEATED_HEADER = "repeated header row"


def quarantine_rows(
    source: pd.DataFrame, path, rows, reasons, lines=None, ids=None
) -> pd.DataFrame:
    """Quarantined source rows as read, behind ``source_file``, ``source_row`` (1-based),
    ``source_line`` (the physical line, when known), ``reason`` and (``ids``) the customer id
    as ingested. A source column with one of those names (a returns export's ``reason``) is
    kept as ``<name> (in the file)``."""
    out = source.rename(
        columns={
            c: f"{c} (in the file)" for c in source if c in (*QUARANTINE_COLUMNS, QUARANTINED_ID)
        }
    )
    if ids is not None:
        out.insert(0, QUARANTINED_ID, pd.Series(np.asarray(ids, dtype=object), out.index, "string"))
    out.insert(0, "reason", pd.Series(np.asarray(reasons, dtype=object), out.index, "string"))
    if lines is not None:
        out.insert(0, "source_line", np.asarray(lines, dtype="int64"))
    out.insert(0, "source_row", np.asarray(rows, dtype="int64"))
    out.insert(0, "source_file", str(path))
    return out


def quarantined_customers(data_dir: str | Path) -> dict[str, str]:
    """Customer id -> why ingest set its record aside (reason, file and line), for the ids of the
    customers (or, without a customers file, transactions) quarantine that no accepted customer
    has; empty when the directory holds no such quarantine (or one written before ids were kept)."""
    customers = table_path(data_dir, CUSTOMERS)
    try:
        accepted = set(pd.read_parquet(customers, columns=["customer_id"])["customer_id"])
    except (OSError, ValueError, KeyError):
        return {}
    out: dict[str, str] = {}
    # customers derived from transactions (no customers file, no customers quarantine): a
    # customer none of whose transactions was accepted does not exist
    table = CUSTOMERS if quarantine_path(data_dir, CUSTOMERS).exists() else TRANSACTIONS
    try:
        rows = pd.read_parquet(quarantine_path(data_dir, table))
    except (OSError, ValueError):
        return out
    if QUARANTINED_ID in rows:
        rows = rows[rows[QUARANTINED_ID].notna() & ~rows[QUARANTINED_ID].isin(accepted)]
        # each id's first quarantined row, worded column-wise (a 1M-row transactions
        # quarantine is read when the service starts and on every reload)
        rows = rows.drop_duplicates(QUARANTINED_ID)
        lines = pd.to_numeric(rows.get("source_line", rows["source_row"]), errors="coerce")
        lines = lines.fillna(0).astype("int64")
        where = ("line " + lines.astype(str)).where(
            lines > 0, "row " + rows["source_row"].astype(str)
        )
        files = rows["source_file"].astype(str)
        names = files.map({f: Path(f).name for f in files.unique()})
        said = rows["reason"].astype(str) + " (" + names + " " + where + ")"
        out = dict(zip(rows[QUARANTINED_ID].astype(str), said, strict=True))
    return out
