"""Ingest: turn CRM exports (CSV or Parquet) into validated contract tables.

Every source row ends up either accepted (in ``DIR/<table>.parquet``) or quarantined (in
``DIR/quarantine/<table>.parquet`` with the reason); ``accepted + quarantined == rows read``.
A file that cannot be used at all raises :class:`IngestError` naming the file and the column, and
so does a table whose accepted share is below ``min_accepted_share``. The output directory is
replaced as a whole, only when every table passed (see :mod:`features.atomic_dir`).

Reading (encoding, separator, row structure) is :mod:`features.csv_source`; numbers
:mod:`features.numbers`; dates :mod:`features.dates`; event-type values :mod:`features.values`.
"""

from __future__ import annotations

import itertools
import json
import re
import warnings
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from features.atomic_dir import check_replaceable, replaced_directory
from features.contact_flags import NO_WORDS, YES_WORDS, flag_columns, read_flags
from features.contract import (
    CONTACT_FLAGS,
    CONTRACT,
    CUSTOMER_FILES,
    CUSTOMERS,
    DO_NOT_CALL,
    DO_NOT_CONTACT,
    DO_NOT_EMAIL,
    ENDED_AT,
    EVENT_TYPES,
    EVENTS,
    EXPORT_FILE,
    EXPORT_FILES_SEP,
    REPEATED_HEADER,
    TABLES,
    TIME_COLUMN,
    TRANSACTIONS,
    UNKNOWN_CUSTOMER,
    quarantine_path,
    quarantine_rows,
    table_path,
)
from features.csv_source import REPEATED, EmptyExport, SourceFile, fold_name, read_source
from features.customer_emails import (
    CUSTOMER_EMAIL,
    NO_SUCH_EMAIL,
    EmailIndex,
    email_column,
    folded,
    relay_note,
    shared_address_note,
    unknown_ids_are_emails,
)
from features.customer_ids import (
    CUSTOMER_ALIAS,
    FLOAT_ID,
    MERGED_INTO,
    alias_index,
    aliases_that_are_ids,
    among,
    case_twins,
    id_rewrites,
    masked_ids,
    match_aliases,
    match_leading_zeros,
    match_phone_numbers,
    match_plus_tags,
    match_salesforce_ids,
    merge_requests,
    name_twins,
    normalise_ids,
    other_id_columns,
    placeholder_ids,
    resolve_merges,
    scientific_ids,
    unknown_ids_of_another_column,
)
from features.dates import detect_order, european_file, parse_dates, placeholder_dates
from features.gaps import ids_end_early, month_gaps
from features.grouped_reports import grouped_ids, subtotal_rows
from features.ingest_warnings import (
    buyers_without_sales,
    event_warnings,
    files_without_events,
    history_shrinks,
    ids_lowered,
    same_person_in_two_tools,
)
from features.mapping import VALUE_COLUMNS, ColumnMapping, FileMapping, IngestError
from features.numbers import (
    CURRENCIES,
    YEN_SIGNS,
    ZERO_DECIMAL_CURRENCIES,
    NumberFormat,
    detect_format,
    forced_format,
    parse_numbers,
)
from features.refunds import REFUNDED_AMOUNT, net_of_refunds
from features.values import (
    CANCELLED_ORDER,
    EXCLUDED,
    EXCLUDED_CUSTOMER,
    IGNORE,
    IGNORED_BY_MAP,
    MERGED,
    NO_SALE,
    NOT_AN_ACTION,
    OPEN_ORDER,
    ORDER,
    ORDER_EVENT,
    ORDER_LINE,
    OTHER,
    PAYMENT,
    REFUNDED_ORDER,
    REPORT_ROW,
    SET_ASIDE,
    STATUS_SYNONYMS,
    ValueMapping,
    map_values,
)

#: The other ways an export writes a customer's id, by their ``TableReport.formats`` key: each
#: puts the unknown ids that are a known customer's in the customers' form.
ID_FORMS = {
    "salesforce ids": match_salesforce_ids,
    "leading zeros": match_leading_zeros,
    "+tags": match_plus_tags,
    "phone numbers": match_phone_numbers,
}
#: ``TableReport.formats`` key of a report grouped by customer (``features.grouped_reports``).
GROUPED = "grouped report"
#: A date column in which fewer than this share of values parse is unusable (not a row problem).
MIN_PARSABLE_SHARE = 0.5
#: Default lowest share of accepted rows per table; below it ingest fails and writes nothing.
MIN_ACCEPTED_SHARE = 0.5
UNMAPPED = "unmapped event_type"
#: Everything ingest writes into ``--out`` (anything else there makes ingest refuse the directory).
OWNED = {
    f"{folder}{t}.parquet" for t in (*TABLES, "campaigns") for folder in ("", "quarantine/")
} | {"manifest.json"}
NUMBER_INPUTS = ("amount", "unit_price", REFUNDED_AMOUNT, "quantity", "margin", "value")
#: A table's export: one file, or several (a list; a quoted pattern such as ``orders_*.csv``).
Files = str | Path | Sequence[str | Path]


@dataclass
class TableReport:
    """Counts and detected formats of one table's ingest."""

    table: str
    source_file: str
    rows_read: int = 0
    accepted: int = 0
    quarantined: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    date_format: str | None = None
    formats: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    samples: dict[str, str] = field(default_factory=dict)
    currencies: dict[str, int] = field(default_factory=dict)
    event_types: dict[str, int] = field(default_factory=dict)
    value_mapping: list[dict] = field(default_factory=list)
    unmapped: list[dict] = field(default_factory=list)
    #: transactions: the amount (as read) of the quarantined rows per reason, where it parsed
    quarantined_amount: dict[str, float] = field(default_factory=dict)
    #: the day/month order of ``a/b/yyyy`` dates when the values told it (or it was forced);
    #: None when it was assumed or not needed. A campaigns file of the same export that cannot
    #: tell its own follows it.
    day_first: bool | None = None

    @property
    def judged_rows(self) -> int:
        """The rows ``--min-accepted-share`` judges: all but those the export itself sets aside
        (cancelled, refunded or open orders; a newsletter's sends and bounces): a file of
        cancellations is read right, not misread."""
        return self.rows_read - sum(self.reasons.get(r, 0) for r in SET_ASIDE)

    @property
    def accepted_share(self) -> float:
        if not self.judged_rows:  # no rows, or every row an order the export says is no sale
            return 1.0 if self.rows_read else 0.0
        return self.accepted / self.judged_rows


@dataclass
class _Table:
    accepted: pd.DataFrame
    quarantined: pd.DataFrame
    report: TableReport
    #: customer ids (as stored) of the quarantined rows that no accepted row has
    quarantined_ids: frozenset[str] = frozenset()
    #: customers: those of them whose rows the map file's ``exclude:`` set aside (a test account)
    excluded_ids: frozenset[str] = frozenset()
    #: where each accepted row came from: its 1-based data row and physical line in the file
    rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype="int64"))
    lines: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype="int64"))
    #: order ids (as stored) of the file's cancelled orders: a later file's cancellation
    #: replaces an earlier file's lines of the order as its accepted lines would
    cancelled_orders: frozenset[str] = frozenset()
    #: of those, the cancelled and refunded ones (not open), None without a status column: a
    #: later file without one does not bring them back
    voided_orders: frozenset[str] | None = None
    #: order ids (as stored) the file holds only refund rows of: where an earlier file has the
    #: order's sale, the sale is replaced and these go with it (the order was refunded)
    refund_orders: frozenset[str] = frozenset()
    #: order id -> reason, of the orders the file lists only in rows it quarantined (not as no
    #: sale): a later file's row that did not read is not an order it no longer lists
    unread_orders: dict[str, str] = field(default_factory=dict)
    #: customers: the column of e-mail addresses (mapped to customer_email, or found), if any
    email_column: str | None = None
    #: customers: the values of the file's other columns that could be ids of its customers
    other_ids: dict[str, np.ndarray] = field(default_factory=dict)
    #: customers: customer id by the value of the column mapped to customer_alias, if any
    aliases: pd.Series | None = None
    alias_column: str | None = None
    #: customers: merged record's id -> the id it names as merged into (``merged_into``)
    merge_requests: dict[str, str] = field(default_factory=dict)
    #: the file's ``a/b/yyyy`` dates fit both orders and the order was assumed: another file of
    #: the export that tells it is followed instead (:func:`_ingest_files`)
    order_assumed: bool = False
    #: transactions: the currency its amounts are kept in (:func:`_kept_currency`), if known
    currency: str | None = None


@dataclass(frozen=True)
class _KnownCustomers:
    """What the rows of the transactions and events files are checked against."""

    ids: set[str]
    #: ids (as stored) of the customers file's quarantined rows that no accepted row has
    quarantined: frozenset[str] = frozenset()
    #: the quarantined ones whose rows the map file excludes: their other rows are set aside too
    excluded: frozenset[str] = frozenset()
    #: the accepted customers by e-mail, when the customers file's e-mail column is mapped
    emails: EmailIndex | None = None
    #: the customers file's e-mail column (mapped, or found), for a hint
    email_column: str | None = None
    #: the customers file's other columns that could be ids (``other_id_columns``), for a hint
    other_ids: dict[str, np.ndarray] = field(default_factory=dict)
    #: customer id by alias (the customers file's column mapped to customer_alias), if mapped
    aliases: pd.Series | None = None
    alias_column: str | None = None


class _Validator:
    """Collects per-row problems of one table: the first reason found for a row wins."""

    def __init__(self, n_rows: int):
        self.reason = np.full(n_rows, None, dtype=object)

    def flag(self, bad: pd.Series | np.ndarray, reason: str) -> None:
        mask = np.asarray(pd.Series(bad).fillna(False), dtype=bool) & pd.isna(self.reason)
        self.reason[mask] = reason

    def no_sale(self, bad: pd.Series | np.ndarray, reason: str) -> None:
        """Flag rows the export says are no sale (cancelled, open), taking over a missing,
        unreadable, placeholder or future value's reason: an open deal has no close date yet (or
        a CRM's 1970-01-01 for none), and is no misread row (what ``--min-accepted-share``
        counts); a later file's cancellation then replaces an earlier file's lines whatever
        date the cancelled row carries."""
        taken = pd.Series(self.reason, dtype="object").fillna("")
        value_problem = (
            taken.str.startswith(("missing ", "unparsable "))
            | taken.str.endswith((" is not a number", " in the future"))
            | taken.str.contains(" is a placeholder for a missing ", regex=False)
        )
        mask = np.asarray(pd.Series(bad).fillna(False), dtype=bool) & value_problem.to_numpy()
        self.reason[mask] = reason
        self.flag(bad, reason)

    def set_aside(self, bad: pd.Series | np.ndarray, reason: str) -> None:
        """Flag rows to set aside whatever else was found (what the sender did, a newsletter's
        send or bounce; a row the map file excludes): a send to a subscriber who is no customer
        (an unknown id) is set aside as the send it is, not judged by ``--min-accepted-share`` as
        a misread row (it would never be accepted)."""
        self.reason[np.asarray(pd.Series(bad).fillna(False), dtype=bool)] = reason

    @property
    def ok(self) -> np.ndarray:
        return pd.isna(self.reason)


def _find(frame: pd.DataFrame, name: str) -> str | None:
    """A source column by exact name, else by loose name (case, width, spacing), else with
    spaces, underscores and hyphens ignored ("CustomerID" for "Customer ID"), when unique."""
    if name in frame.columns:
        return name
    for fold in (fold_name, _bare_name):
        loose = [c for c in frame.columns if fold(str(c)) == fold(name)]
        if len(loose) == 1:
            return loose[0]
    return None


def _bare_name(name: str) -> str:
    return re.sub(r"[\s_\-]+", "", fold_name(name))


def _did_you_mean(frame: pd.DataFrame, name: str) -> str:
    """ " (did you mean 'Customer ID'?)" for the closest column name, or ""."""
    import difflib

    names = {_bare_name(str(c)): str(c) for c in frame.columns}
    close = difflib.get_close_matches(_bare_name(name), list(names), n=1, cutoff=0.6)
    return f" (did you mean {names[close[0]]!r}?)" if close else ""


def _source_column(
    frame: pd.DataFrame, path: Path, table: str, column: str, mapping: FileMapping, required: bool
) -> pd.Series | None:
    """The source values for a contract column, or a clear error when a required one is missing."""
    mapped = mapping.source_for(table, column)
    found = _find(frame, mapped or column)
    if found is not None and mapped is None and found in frame.attrs.get(REPEATED, ()):
        raise IngestError(
            f"{path}: the header has more than one column {found!r}, so {table}.{column} could "
            f'be either; rename one in the file, or map the one to use (--map "{column}={found}" '
            f'is the first, --map "{column}={found}.1" the second)'
        )
    if found is not None:
        return frame[found]
    if mapped is not None and mapped.startswith(CONSTANT):
        return constant_column(path, table, column, mapped, frame.index)
    if mapped is not None:
        section = mapping.inherited_from_top(table, column)
        inherited = (
            f" (from the map file's top-level columns:, which files: {section!r} inherits as it "
            f"does not name {column}; map {column} in the sections of the files that have "
            f"{mapped!r} instead of at the top level)"
            if section is not None
            else ""
        )
        raise IngestError(
            f"{path}: column {mapped!r} (mapped to {table}.{column}) not found{inherited}"
            f"{_did_you_mean(frame, mapped)}; columns in the file: {list(frame.columns)}"
        )
    if required:
        hint = f'add a mapping like --map "{column}=<Source Column>"'
        if column == "customer_id" and table != CUSTOMERS and (at := email_column(frame, set())):
            hint = (  # a tool that names people by address (Zendesk, Klaviyo)
                f"its column {at!r} holds e-mail addresses: to find the customers by them, map "
                f'--map "{table}.customer_email={at}" with the customers file\'s '
                "customers.customer_email"
            )
        raise IngestError(
            f"{path}: no column for required contract column {table}.{column}; {hint}; "
            f"columns in the file: {list(frame.columns)}"
        )
    return None


#: A mapped source written ``=VALUE`` (and no column of that name) is VALUE on every row: a
#: tickets export without a type column is ``event_type: "=support_ticket"``.
CONSTANT = "="
#: Columns that identify or date a row: one value for every row of a file would be wrong.
NOT_CONSTANT = frozenset(
    {"customer_id", "customer_email", "order_id", "sent_at", *TIME_COLUMN.values()}
)


def constant_column(path: Path, table: str, column: str, mapped: str, index: pd.Index) -> pd.Series:
    """The values of a contract column mapped to a constant (``=VALUE``)."""
    value = mapped.removeprefix(CONSTANT).strip()
    if column in NOT_CONSTANT or not value:
        what = "an id or a time differs from row to row" if value else "no value after '='"
        raise IngestError(
            f"{path}: {table}.{column} mapped to {mapped!r}: a value for every row ('=VALUE') "
            f"cannot be used here ({what}); map the column of the file that holds it"
        )
    return pd.Series(value, index=index, dtype="string")


#: Column names (letters only, lower case) of a yes/no flag of a refunded sale.
REFUND_FLAGS = frozenset({"refunded", "isrefunded", "wasrefunded", "refund"})


def _unread_refund_flags(frame: pd.DataFrame, used: set) -> list[str]:
    """A warning for an unread yes/no column flagging refunded sales (Teachable's and Gumroad's
    ``Refunded`` TRUE/FALSE): its refunded sales were counted."""
    for column in frame.columns:
        if column in used or re.sub(r"[^a-z]", "", str(column).casefold()) not in REFUND_FLAGS:
            continue
        values = frame[column].dropna().astype("string").str.strip()
        words = values.str.casefold()
        yes, no = values[words.isin(YES_WORDS)], values[words.isin(NO_WORDS)]
        if len(yes) and words.isin(YES_WORDS | NO_WORDS).all():
            said = f"{yes.iloc[0]!r}: refunded" + (
                f", {no.iloc[0]!r}: completed" if len(no) else ""
            )
            return [
                f"column {column!r}, not read, flags {len(yes):,} refunded sales: they were "
                "counted as sales; map it as the status (--map "
                f'"transactions.status={column}") with values: {{status: {{{said}}}}}'
            ]
    return []


def _unread_statuses(frame: pd.DataFrame, used: set, status_read: bool) -> list[str]:
    """A warning for an unread column named like a status or a document type whose values say
    no sale: without a status read (a billing export's ``Status`` of voided and unpaid invoices,
    Recurly's ``state``) every row was counted as a sale; beside the status read, a column
    telling credit notes or refunds apart (Xero's ``Type`` ACCRECCREDIT beside its ``Status``,
    Shopline's 付款狀態 beside 訂單狀態) was not read, and they were counted as sales."""
    statuses = ValueMapping({}, builtin=True, synonyms=STATUS_SYNONYMS)
    told = {"credit_note", "refunded"} if status_read else None
    for column in frame.columns:
        bare = _bare_name(str(column))
        if column in used or bare not in (
            STATUS_NAMES | TYPE_NAMES if status_read else STATUS_NAMES
        ):
            continue
        counts = frame[column].dropna().astype("string").str.strip().value_counts().head(50)
        unsold = {
            str(v): int(n)
            for v, n in counts.items()
            if (target := statuses.lookup(str(v))[0]) not in (None, "completed")
            and (told is None or target in told)
        }
        if not unsold:
            continue
        examples = ", ".join(f"{v!r} x {n:,}" for v, n in list(unsold.items())[:3])
        if status_read:
            return [
                f"column {column!r}, not read, tells credit notes or refunds ({examples}) that "
                "the status read does not: they were counted as sales; map it as the status "
                f'(--map "transactions.status={column}", with exclude: for the other column\'s '
                "voided or draft values) if it is the document's type"
            ]
        return [
            f"no status read, but column {column!r} holds statuses of no sale ({examples}): "
            "every row was counted as a sale; map it with "
            f'--map "transactions.status={column}" if it is the order\'s status'
        ]
    return []


#: Column names (bare) CRMs give an opt-out of email, named when unmapped: Salesforce's report
#: label and API name, Zoho's, HubSpot's.
OPT_OUT_NAMES = {
    DO_NOT_EMAIL: frozenset(
        {"emailoptout", "hasoptedoutofemail", "unsubscribedfromallemail", "optedoutofemail"}
    )
}


#: Column names (bare: lower case, letters and digits) taken for a row's status when unmapped.
STATUS_NAMES = frozenset(
    {
        "status",
        "state",
        "orderstatus",
        "invoicestatus",
        "paymentstatus",
        "financialstatus",
        "付款狀態",
        "付款状态",
        "支付状态",
        "退款状态",
        "退款狀態",
        "订单状态",
        "訂單狀態",
    }
)
#: Column names of a document's type (invoice or credit note) beside its status.
TYPE_NAMES = frozenset({"type", "documenttype", "transactiontype", "invoicetype", "doctype"})


def _lookalike_columns(
    table: str, frame: pd.DataFrame, inputs: dict[str, pd.Series], mapping: FileMapping
) -> list[str]:
    """Warnings for an optional contract column left empty while an unused column of the file
    holds its name (``sales_region`` for ``region``: an export whose column was renamed)."""
    used = {s.name for s in inputs.values()}
    said = []
    for col in CONTRACT[table]:
        if col.required or col.name in inputs or mapping.source_for(table, col.name):
            continue
        alike = [
            str(c)
            for c in frame.columns
            if c not in used and _bare_name(col.name.replace("_", "")) in _bare_name(str(c))
        ]
        if alike:
            said.append(
                f"no column {col.name} (optional, left empty), but {alike[0]!r} looks like it: "
                f'map it with --map "{table}.{col.name}={alike[0]}" if it is'
            )
    for flag, names in OPT_OUT_NAMES.items() if table == CUSTOMERS else ():
        if flag in inputs or mapping.source_for(table, flag):
            continue
        alike = [str(c) for c in frame.columns if c not in used and _bare_name(str(c)) in names]
        if alike:  # unread, every opted-out customer would be recommended an email
            said.append(
                f"no column {flag} (optional, left empty), but {alike[0]!r} looks like a CRM's "
                f"opt-out of email: every customer may be recommended an email; map it with "
                f'--map "{table}.{flag}={alike[0]}" if it is'
            )
    if table == CUSTOMERS and ENDED_AT not in inputs and not mapping.source_for(table, ENDED_AT):
        ends = [
            str(c)
            for c in frame.columns
            if c not in used and _names_an_end(str(c)) and _mostly_dates(frame[c])
        ]
        ends.sort(key=lambda c: "end" not in _bare_name(c))  # Ended At before Canceled At
        if ends:
            said.append(
                f"{ends[0]!r} looks like the date customers ended (a cancellation, a closed "
                f'account): map it with --map "customers.{ENDED_AT}={ends[0]}" if it is; ended '
                "customers are then left out of training and scored churned (blank: still a "
                "customer)"
            )
    if table == TRANSACTIONS:
        said += _unread_statuses(frame, used, "status" in inputs)
        said += _unread_refund_flags(frame, used)
    if table == TRANSACTIONS and "currency" not in inputs:
        # Salesforce reports of a multi-currency org: "Amount Currency" (or the record's
        # "Opportunity Currency") beside plain amounts; unread, a EUR row is summed as USD
        codes = [
            str(c) for c in frame.columns if c not in used and "currency" in _bare_name(str(c))
        ]
        if codes:
            said.append(
                f"amounts read without a currency column, but {codes[0]!r} looks like one: rows "
                "in another currency would be summed with the rest; map it with "
                f'--map "transactions.currency={codes[0]}" if it is'
            )
    return said


#: Words of a customers file's column that may hold the date a customer ended (``ended_at``).
END_WORDS = (
    "cancel",
    "churn",
    "ended",
    "enddate",
    "closedat",
    "closeddate",
    "terminat",
    "取消",
    "解约",
    "流失",
    "退订",
)
#: ...unless it says what else the column is (the reason of a cancellation, who cancelled).
NOT_A_DATE_WORDS = ("reason", "by", "type", "status", "note", "comment", "原因")


def _mostly_dates(values: pd.Series) -> bool:
    """Whether most filled cells of a column read as dates (a hint's check, not ingest's)."""
    filled = values.dropna().astype(str).str.strip()
    filled = filled[filled != ""].head(200)
    if filled.empty:
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        read = pd.to_datetime(filled, errors="coerce", format="mixed")
    return bool(read.notna().mean() >= MIN_PARSABLE_SHARE)


def _names_an_end(column: str) -> bool:
    bare = _bare_name(column)
    return any(w in bare for w in END_WORDS) and not any(w in bare for w in NOT_A_DATE_WORDS)


def _inputs(
    table: str, frame: pd.DataFrame, path: Path, mapping: FileMapping, several: bool = False
) -> dict[str, pd.Series]:
    """Source series per contract column (and derived input) of a table; of one of ``several``
    customers files, a mapped column ``CARRIED`` across files that this file lacks is left out."""
    found: dict[str, pd.Series] = {}
    if (email := _email_input(table, frame, path, mapping)) is not None:
        found[CUSTOMER_EMAIL] = email
    for other_id in (CUSTOMER_ALIAS, MERGED_INTO):
        if table == CUSTOMERS and mapping.source_for(CUSTOMERS, other_id) is not None:
            column = _source_column(frame, path, CUSTOMERS, other_id, mapping, True)
            assert column is not None  # required: an error names the mapped column when absent
            found[other_id] = column
    amount_derived = (
        table == TRANSACTIONS
        and mapping.source_for(TRANSACTIONS, "amount") is None
        and mapping.source_for(TRANSACTIONS, "unit_price") is not None
    )
    for col in CONTRACT[table]:
        required = col.required and not (amount_derived and col.name == "amount")
        if col.name == "customer_id" and table != CUSTOMERS and CUSTOMER_EMAIL in found:
            required = False  # found by e-mail where it is not given
        if amount_derived and col.name == "amount":
            continue
        if (
            col.name == "customer_id"
            and not required
            and _unqualified_absent(frame, table, col.name, mapping)
        ):
            continue  # an e-mail-only file under an unqualified customer_id mapping
        if several and col.name in CARRIED and _lacks_mapped(frame, table, col.name, mapping):
            continue  # a contact list beside the CRM export: the flags come from that one
        series = _source_column(frame, path, table, col.name, mapping, required)
        if series is not None:
            found[col.name] = series
    if table == TRANSACTIONS and mapping.source_for(TRANSACTIONS, "status") is not None:
        found["status"] = _source_column(frame, path, table, "status", mapping, required=True)
    if table == TRANSACTIONS and mapping.source_for(TRANSACTIONS, REFUNDED_AMOUNT) is not None:
        found[REFUNDED_AMOUNT] = _source_column(frame, path, table, REFUNDED_AMOUNT, mapping, True)
    if table == TRANSACTIONS:  # mapped, or a column named like it (Shopify's "Currency")
        currency = _source_column(frame, path, table, "currency", mapping, required=False)
        if currency is not None:
            found["currency"] = currency
    if amount_derived:
        found["unit_price"] = _source_column(
            frame, path, table, "unit_price", mapping, required=True
        )
        if "quantity" not in found:
            raise IngestError(
                f"{path}: amount is computed as quantity x unit_price but no column is mapped to "
                f"quantity; columns in the file: {list(frame.columns)}"
            )
    return found


def _email_input(
    table: str, frame: pd.DataFrame, path: Path, mapping: FileMapping
) -> pd.Series | None:
    """The e-mail addresses customers are matched by (:mod:`features.customer_emails`): required
    where mapped for this table (or for the customers file); an unqualified ``customer_email``
    applies to the other files that have the column."""
    if mapping.source_for(table, CUSTOMER_EMAIL) is None:
        return None
    required = table == CUSTOMERS or f"{table}.{CUSTOMER_EMAIL}" in mapping.columns
    if not required and _unqualified_absent(frame, table, CUSTOMER_EMAIL, mapping):
        return None
    return _source_column(frame, path, table, CUSTOMER_EMAIL, mapping, required)


def _lacks_mapped(frame: pd.DataFrame, table: str, column: str, mapping: FileMapping) -> bool:
    """Whether ``column`` is mapped to a source column (not a ``=VALUE``) this file lacks."""
    mapped = mapping.source_for(table, column)
    return mapped is not None and not mapped.startswith(CONSTANT) and _find(frame, mapped) is None


def _unqualified_absent(frame: pd.DataFrame, table: str, column: str, mapping: FileMapping) -> bool:
    """Whether ``column`` is mapped only unqualified (for every table) to a source column this
    file does not have: such a mapping is not this file's."""
    mapped = mapping.source_for(table, column)
    return (
        mapped is not None
        and f"{table}.{column}" not in mapping.columns
        and _find(frame, mapped) is None
    )


def _report_groups(
    table: str, inputs: dict[str, pd.Series], check: _Validator, report: TableReport
) -> None:
    """Each transaction of a report grouped by customer gets the name of its group row; group
    and subtotal rows are set aside (``features.grouped_reports``); in a table, only subtotal
    rows are."""
    if "customer_id" not in inputs or TIME_COLUMN[table] not in inputs:
        return
    ids = inputs["customer_id"]
    when = inputs[TIME_COLUMN[table]].astype("string").str.strip().fillna("")
    dated = when.ne("").to_numpy(dtype=bool)
    grouped = grouped_ids(ids, dated, check.ok)
    if grouped is None:
        check.flag(subtotal_rows(ids, dated) & check.ok, REPORT_ROW)
        return
    inputs["customer_id"] = grouped.ids.rename(ids.name)
    check.flag(grouped.report_rows, REPORT_ROW)
    report.formats[GROUPED] = (
        f"a report grouped by customer: {grouped.filled:,} rows take the name of the group row "
        f"above them ({grouped.groups:,} groups); group and subtotal rows set aside"
    )


def _number_format(
    source: SourceFile,
    inputs: dict[str, pd.Series],
    mapping: FileMapping,
    report: TableReport,
    clean: np.ndarray,
) -> NumberFormat:
    forced = forced_format(mapping.decimal, mapping.thousands)
    if forced is not None:
        fmt = forced
    else:
        columns = [inputs[c][clean] for c in NUMBER_INPUTS if c in inputs]
        if not columns:
            return NumberFormat()
        fmt, warning = detect_format(columns, source.sep)
        if warning:
            report.warnings.append(warning)
    report.formats["numbers"] = fmt.describe()
    return fmt


def _build_table(
    table: str,
    source: SourceFile,
    mapping: FileMapping,
    known: _KnownCustomers | None,
    strict_values: bool,
    latest: pd.Timestamp | None = None,
    day_first: bool | None = None,
    several: bool = False,
) -> _Table:
    """Validate one source file; return accepted contract rows, quarantined source rows and the
    report. A time after ``latest`` is a wrong row (dated in the future); rows of transactions
    and events are checked against the ``known`` customers (None: no customers file).
    ``several``: one of several customers files, which may lack a mapped end or contact flag
    column (the others carry theirs: :func:`_carry_across_files`).
    ``day_first``: the day/month order the other files of the export told, followed where this
    file's ``a/b/yyyy`` dates fit both orders."""
    frame, path = source.frame, source.path
    report = TableReport(table=table, source_file=str(path))
    report.formats["encoding"] = source.encoding or source.kind
    for note in source.notes:
        key, _, text = note.partition(" ")
        report.formats[key] = text
    report.warnings.extend(source.warnings)
    check = _Validator(len(frame))
    for reason in pd.unique(source.problems[pd.notna(source.problems)]):
        check.flag(source.problems == reason, str(reason))
    check.flag(_repeated_header(frame), REPEATED_HEADER)  # two exports pasted together
    _exclude(table, frame, path, mapping, check, report)
    inputs = _inputs(table, frame, path, mapping, several)
    if table != CUSTOMERS:  # a report grouped by customer: names above their rows
        _report_groups(table, inputs, check, report)
    clean = check.ok.copy()
    report.warnings += _lookalike_columns(table, frame, inputs, mapping)
    numbers = _number_format(source, inputs, mapping, report, clean)
    time_inputs = [c.name for c in CONTRACT[table] if c.dtype == "timestamp" and c.name in inputs]
    european = european_file(numbers.decimal, source.sep)
    order = detect_order([inputs[c][clean] for c in time_inputs], mapping.date_order, european)
    order_assumed = order.how == "assumed"
    if order_assumed and day_first is not None:
        how = "as the other files of the export showed (these dates fit both)"
        order = replace(order, day_first=day_first, how=how, warning=None)
    out = pd.DataFrame(index=frame.index)
    out["customer_id"] = pd.Series(pd.NA, index=frame.index, dtype="string")
    dates_used = []
    for col in CONTRACT[table]:
        if col.name not in inputs:
            continue
        values = inputs[col.name]
        if col.dtype == "timestamp":
            out[col.name], described = parse_dates(
                values, order, mapping.date_format, mapping.timezone
            )
            dates_used.append(f"{col.name}: {described}")
            placeholder, why = placeholder_dates(out[col.name])
            if not col.required:  # an end date: blank or a "no end" placeholder while a customer
                # a word ('N/A', 'Active') is no end, but dates in a format not read are refused
                dated = clean & values.astype("string").str.contains(r"\d", na=False).to_numpy()
                if dated.any():
                    _check_date_column(out[col.name], values, dated, path, mapping.date_format)
                _optional_dates(out, col.name, values, placeholder, check, report, latest)
                continue
            _check_date_column(out[col.name], values, clean, path, mapping.date_format)
            check.flag(values.isna(), f"missing {col.name}")
            check.flag(out[col.name].isna(), f"unparsable {col.name}")
            if latest is not None:
                check.flag(out[col.name] > latest, f"{col.name} in the future")
            check.flag(placeholder.to_numpy(), f"{col.name} is {why}")
        elif col.dtype == "float":
            if table == TRANSACTIONS and col.name == "amount":
                continue
            out[col.name], _ = parse_numbers(values, numbers)
            check.flag(values.notna() & out[col.name].isna(), f"{col.name} is not a number")
        elif col.dtype == "bool":  # contact flags: a few odd values are no, named
            out[col.name], odd_flags = read_flags(values, clean, path, col.name)
            report.warnings.extend([odd_flags] if odd_flags else [])
        else:
            out[col.name] = (
                normalise_ids(values) if col.name == "customer_id" else values.str.strip()
            )
            if col.name == "customer_id" and (rewritten := id_rewrites(values, out[col.name])):
                report.formats["customer_id"] = rewritten
            if col.name == "customer_id" and (odd := scientific_ids(values)):
                report.warnings.append(odd)
            if col.name == "customer_id" and (hidden := masked_ids(out[col.name], values.name)):
                report.warnings.append(hidden)
            if (
                col.name == "customer_id"
                and table != CUSTOMERS
                and (guests := placeholder_ids(_named(out[col.name], clean, known), values.name))
            ):
                report.warnings.append(guests)
            defines_customers = table == CUSTOMERS or (table == TRANSACTIONS and known is None)
            if (
                col.name == "customer_id"
                and defines_customers
                and (twins := case_twins(out[col.name]))
            ):
                report.warnings.append(twins)
            if (
                col.name == "customer_id"
                and defines_customers
                and (twins := name_twins(out[col.name]))
            ):
                report.warnings.append(twins)
            if col.required and not (col.name == "customer_id" and CUSTOMER_EMAIL in inputs):
                check.flag(out[col.name].isna(), f"missing {col.name}")
    if CUSTOMER_EMAIL in inputs and table == CUSTOMERS:  # for the index; not written
        out[CUSTOMER_EMAIL] = inputs[CUSTOMER_EMAIL].astype("string")
    elif CUSTOMER_EMAIL in inputs:
        _found_by_email(table, path, out, inputs[CUSTOMER_EMAIL], known, check, report)
    if time_inputs:
        report.date_format = order.described("; ".join(dates_used))
        report.formats["dates"] = report.date_format
        if order.warning:
            report.warnings.append(order.warning)
        if order.told:
            report.day_first = order.day_first
    refund_rows = np.zeros(len(frame), dtype=bool)  # refunds booked as rows of their own
    factor = pd.Series(1.0, index=out.index)  # what each row was multiplied by (a refund too)
    if table == TRANSACTIONS:
        out["amount"], factor = _amount(inputs, out, check, numbers, mapping, report)
        _stripe_refunds(out, report)
        if "status" in inputs:
            # a repeated header's 'Deal Stage' is no status to map or warn of
            status = inputs["status"].where(clean)
            refund_rows = _cancelled(status, out, check, mapping, report)
    if known is not None:
        for key, match in ID_FORMS.items():  # a known customer's id written another way
            if matched := match(out["customer_id"], known.ids):
                out["customer_id"], report.formats[key] = matched
        check.set_aside(out["customer_id"].isin(known.excluded), EXCLUDED_CUSTOMER)
        check.flag(
            out["customer_id"].isin(known.quarantined),
            "customer_id quarantined in the customers file",
        )
        if known.aliases is not None:
            out["customer_id"], n = match_aliases(out["customer_id"], known.ids, known.aliases)
            if n:
                report.formats[CUSTOMER_ALIAS] = (
                    f"{n:,} rows found by the customers file's {known.alias_column}"
                )
        unknown = out["customer_id"].notna() & ~among(out["customer_id"], known.ids)
        check.flag(unknown, UNKNOWN_CUSTOMER)
        id_column = inputs["customer_id"].name if "customer_id" in inputs else None
        hint = unknown_ids_are_emails(
            table,
            out.loc[unknown, "customer_id"],
            id_column,
            known.email_column,
            pd.Series(list(itertools.islice(known.ids, 1000)), dtype="string"),
        )
        if hint and CUSTOMER_EMAIL not in inputs:
            report.warnings.append(hint)
        elif unknown.any() and CUSTOMER_EMAIL not in inputs:
            other = unknown_ids_of_another_column(
                table, out.loc[unknown, "customer_id"], known.other_ids
            )
            if other:
                report.warnings.append(other)
    if table == CUSTOMERS:
        kept = out["customer_id"].where(check.ok)  # a duplicate of a quarantined row is not one
        repeated = kept.duplicated() & kept.notna()
        check.flag(repeated, "duplicate customer_id")
        if repeated.any() and ENDED_AT in inputs:
            report.warnings.append(
                f"{int(repeated.sum()):,} rows repeat a customer_id of this file with an end date "
                "column: one row per subscription or membership? The customers table holds one "
                "row per customer (the first is kept): give each customer one row, its end blank "
                "while any of its subscriptions is live, else the latest end"
            )
        merged = pd.Series(dtype="string")
        requests: dict[str, str] = {}
        if MERGED_INTO in inputs:
            requests = merge_requests(out["customer_id"], inputs[MERGED_INTO], check.ok)
            listed = set(out["customer_id"][check.ok].dropna())
            survivors, lost = resolve_merges(requests, listed - set(requests))
            merged = pd.Series(survivors, dtype="string")
            check.flag(out["customer_id"].isin(merged.index), MERGED)
            report.warnings.extend([lost] if lost else [])
            if len(merged):
                report.formats[MERGED_INTO] = (
                    f"{len(merged):,} records merged into another customer: rows of other files "
                    "naming them are the surviving customer's"
                )
    if table == TRANSACTIONS and "amount" in inputs and "order_id" in out:
        check.set_aside(_lines_of_totals(inputs["amount"], out["order_id"], check), ORDER_LINE)
    if table in (TRANSACTIONS, EVENTS):
        _repeated_rows(source.frame, out.get("order_id"), check, report)
    if REFUNDED_AMOUNT in inputs:  # on the rows kept: an order appended twice is one order
        _net_of_refunds(inputs[REFUNDED_AMOUNT], out, check, numbers, factor, report)
    _map_values(table, out, mapping, check, report, strict_values)
    if table == TRANSACTIONS:  # on the rows accepted in the end
        report.warnings.extend(_amount_notes(inputs, out, check.ok, list(frame.columns)))
        if total := _repeated_totals(inputs, out, check.ok, frame):
            report.warnings.append(total)
    when = {TRANSACTIONS: "ordered_at", EVENTS: "occurred_at"}.get(table)
    if when in out and (gaps := month_gaps(out[when][check.ok])):
        report.warnings.append(gaps)
    if when in out:
        no_customer = np.isin(check.reason, ["missing customer_id", EXCLUDED])
        if ended := ids_end_early(out[when], no_customer, check.ok):
            report.warnings.append(ended)
    if table == EVENTS:
        report.warnings += event_warnings(out[check.ok], report.value_mapping)
    if table == EVENTS and (only_sends := _only_sends(check, report)):
        report.warnings.append(only_sends)
    table_out = _split(table, source, out, check, report)
    table_out.order_assumed = order_assumed
    if table == TRANSACTIONS:
        table_out.currency = _kept_currency(mapping, report.currencies)
    if table == TRANSACTIONS and "order_id" in out and refund_rows.any():
        # orders this file holds only refund rows of: a later file refunding an earlier sale
        kept = out.loc[check.ok, "order_id"]
        only = pd.Series(refund_rows[check.ok], index=kept.index).groupby(kept).all()
        table_out.refund_orders = frozenset(only.index[only.to_numpy(dtype=bool)])
    if table == CUSTOMERS:
        for field in flag_columns(table_out.accepted.columns):
            flagged = int(table_out.accepted[field].sum())
            report.formats[field] = f"{flagged:,} customers {FLAG_WORDS[field]}"
        id_column = inputs["customer_id"].name
        table_out.email_column = (
            str(inputs[CUSTOMER_EMAIL].name)
            if CUSTOMER_EMAIL in inputs
            else email_column(frame, {str(id_column)})
        )
        if CUSTOMER_EMAIL not in inputs and table_out.email_column is not None:
            ok = check.ok
            shared = shared_address_note(
                out.loc[ok, "customer_id"],
                frame.loc[ok, table_out.email_column],
                table_out.email_column,
            )
            report.warnings.extend([shared] if shared else [])
        if CUSTOMER_ALIAS in inputs:
            ok = check.ok
            aliases, shared = alias_index(
                out.loc[ok, "customer_id"], inputs[CUSTOMER_ALIAS][ok].reset_index(drop=True)
            )
            table_out.aliases = aliases
            table_out.alias_column = f"{str(inputs[CUSTOMER_ALIAS].name)!r} ({CUSTOMER_ALIAS})"
            if shared:
                report.warnings.append(shared)
        table_out.merge_requests = requests
        if len(merged):  # a merged record's id names its survivor, as an alias does
            both = (
                pd.concat([merged, table_out.aliases]) if table_out.aliases is not None else merged
            )
            table_out.aliases = both[~both.index.duplicated()]
            column = f"{str(inputs[MERGED_INTO].name)!r} ({MERGED_INTO})"
            table_out.alias_column = " or ".join(filter(None, [table_out.alias_column, column]))
        mapped = {str(v.name) for v in inputs.values()}  # signup date, region...: no other ids
        table_out.other_ids = other_id_columns(frame, {*mapped, str(table_out.email_column)})
    return table_out


def _named(ids: pd.Series, clean: np.ndarray, known: _KnownCustomers | None) -> pd.Series:
    """The ids of the rows still clean that name a customer: any id without a customers file,
    else a customer of it (an unknown id is quarantined as such)."""
    ids = ids.where(clean)
    return ids if known is None else ids.where(among(ids, known.ids))


def _only_sends(check: _Validator, report: TableReport) -> str | None:
    """A warning for an events file none of whose rows is a customer action: every row kept from
    the quarantine by a problem of its own is a send, delivery or bounce (a mailing tool's
    delivery log, or a status column mapped as the type). Such a file adds no engagement at all,
    and ``--min-accepted-share`` does not judge rows set aside, so without this it passes
    silently."""
    aside = int(np.sum(check.reason == NOT_AN_ACTION))
    if not aside or np.any(check.ok):
        return None
    names = [repr(r["source"]) for r in report.value_mapping if r["target"] == IGNORE][:3]
    return (
        f"no row of this file is a customer action ({aside:,} sends, deliveries or bounces set "
        f"aside: {', '.join(names)}), so it adds no engagement; if "
        "its type column holds the customers' own actions (opens, clicks) under these names, "
        "map them: values: {event_type: {<name>: email_open}}; if the type column mapped is a "
        "delivery status, map the column holding the event instead"
    )


def _found_by_email(
    table: str,
    path: Path,
    out: pd.DataFrame,
    emails: pd.Series,
    known: _KnownCustomers | None,
    check: _Validator,
    report: TableReport,
) -> None:
    """Rows whose customer_id is not a known customer take the customer of their e-mail."""
    if known is None or known.emails is None:
        raise IngestError(
            f"{path}: {table}.customer_email is mapped (customers found by e-mail), but "
            + (
                "no customers file was given: give --customers with an e-mail column"
                if known is None
                else "the customers file's e-mail column is not: map customers.customer_email="
                f"{known.email_column or '<its e-mail column>'}"
            )
        )
    out["customer_id"], reason, n, disagree = known.emails.match(  # a quarantined id is kept
        out["customer_id"], emails, known.ids | known.quarantined
    )
    report.warnings += [disagree] if disagree else []
    for why in pd.unique(reason.dropna()):
        check.flag(reason == why, str(why))
    report.formats[CUSTOMER_EMAIL] = (
        f"{n:,} rows found by e-mail ({str(emails.name)!r} = the customers file's "
        f"{known.emails.column!r}, compared without case)"
    )


#: Share of accepted lines with a quantity other than 1 past which an ``amount`` column named
#: like a price (and not like a total) is probably a unit price.
PRICE_LIKE_QUANTITY_SHARE = 0.05
#: Words of a column name that holds no money although it has a money word ('Due Date'): whole
#: words ('id' is in 'Amount Paid').
NOT_MONEY_WORDS = ("date", "time", "quantity", "qty", "count", "id", "currency")
#: Zero amounts are worth a note from this share of the accepted rows.
ZERO_AMOUNT_SHARE = 0.005
LINE_TOTAL_WORDS = ("total", "line", "sum", "extended", "amount", "gross", "net")
#: A price column that holds the line's total by its platform's documentation, with a column
#: only that platform's reports have: Amazon's order reports' ``item-price`` is price x quantity.
LINE_TOTAL_PRICES = {"item-price": "amazon-order-id"}
#: Share of the orders with a paid row past which orders paid on several days (a booking's
#: deposit and balance, instalments) are worth a note: each day counts as a purchase.
SEVERAL_DAYS_SHARE = 0.02


#: Share of the orders of several accepted lines past which an amount the same on each line of
#: an order whose lines differ otherwise is an order total repeated on its item lines.
REPEATED_TOTAL_SHARE = 0.5


def _repeated_totals(
    inputs: dict[str, pd.Series], out: pd.DataFrame, ok: np.ndarray, frame: pd.DataFrame
) -> str | None:
    """A note when ``amount`` looks like an order total written on each of its item lines
    (Shopee's ``Grand Total``, one row per item): most orders of several lines hold one amount
    on all their lines though another money or quantity column of the lines differs (the
    items' prices; a ticket export whose tickets all cost 25.00 differs in names alone), all on
    one day (a payment plan's instalments fall on several). Every line counts, so such an
    order's revenue would be its total times its lines."""
    source = inputs.get("amount")
    if source is None or "order_id" not in out:
        return None
    orders = out["order_id"][ok]
    several = orders.notna() & orders.duplicated(keep=False)
    if not several.any():
        return None
    orders = orders[several]
    amounts = out["amount"][ok][several]
    same = amounts.groupby(orders).transform("nunique").eq(1)
    if "ordered_at" in out:  # lines on several days are instalments of a plan, not items
        days = out["ordered_at"][ok][several].dt.floor("D")
        same &= days.groupby(orders).transform("nunique").eq(1)
    money = [
        c
        for c in frame.columns
        if c != source.name and any(w in fold_name(str(c)) for w in (*MONEY_WORDS, *COUNT_WORDS))
    ]
    if not money:
        return None
    lines = frame.loc[ok][several.to_numpy()][money][same.to_numpy()]
    varying = lines.groupby(orders[same].to_numpy()).nunique().gt(1).sum(axis=1)
    repeated = varying[varying >= 1]
    n_orders = orders.nunique()
    if len(repeated) <= REPEATED_TOTAL_SHARE * n_orders:
        return None
    example = str(repeated.index[0])
    return (
        f"{len(repeated):,} of the {n_orders:,} orders of several lines hold the same amount on "
        f"every line though their lines differ (e.g. order {example!r}): {source.name!r} looks "
        "like the order's total repeated on each item line, and every line counts, so each "
        "such order's revenue is its total times its lines; map the line's own amount (amount= "
        "a line total, or quantity= and unit_price=) instead"
    )


#: Words of a column name that holds a count of items (a line's quantity).
COUNT_WORDS = ("qty", "quantity", "menge", "quantité", "数量", "số lượng", "จำนวน", "jumlah")
#: Words of a column name that holds money (another amount column a zero amount may be in).
MONEY_WORDS = ("amount", "total", "due", "price", "value", "revenue", "betrag", "montant", "金额")


def _amount_notes(
    inputs: dict[str, pd.Series], out: pd.DataFrame, ok: np.ndarray, columns: list
) -> list[str]:
    """What the accepted amounts say that a user should know: returns or cancellations kept as
    negative amounts, rows of amount 0 (no purchase: an unpaid invoice's 'amount paid'), and an
    ``amount`` that looks like a unit price beside quantities."""
    notes = []
    zero = ok & (out["amount"] == 0).fillna(False).to_numpy(bool)
    paid_day = _on_a_purchase_day(out, ok)
    if n := int((zero & paid_day).sum()):  # a sample or a free item on a paid order
        notes.append(
            f"{n:,} accepted rows of amount 0 are on days their customer paid for other rows "
            "(free samples, free-of-charge items, a bundle's lines): part of that day's purchase"
        )
    zero &= ~paid_day
    if (n := int(zero.sum())) and n >= ZERO_AMOUNT_SHARE * ok.sum():
        statuses = ""
        if "status" in inputs:
            top = pd.Series(inputs["status"].to_numpy()[zero], dtype="string").value_counts()
            top = top.head(3)
            statuses = " (status " + ", ".join(f"{s!r}: {c:,}" for s, c in top.items()) + ")"
        used = str(inputs["amount"].name) if "amount" in inputs else None
        others = [
            str(c)
            for c in columns
            if str(c) != used
            and any(w in fold_name(str(c)) for w in MONEY_WORDS)
            and not set(re.split(r"[\W_]+", fold_name(str(c)))) & set(NOT_MONEY_WORDS)
        ]
        where = f" (this file's other money columns: {others})" if others else ""
        notes.append(
            f"{n:,} accepted rows have an amount of 0{statuses}: a purchase counts only with an "
            "amount above 0, so they are no activity of their customers (right for a free "
            "trial's or a 100%-off coupon's $0 invoice: no money yet); if they are orders "
            "(an invoice issued and not paid yet), map the amount column that holds their "
            f"value{where}; if they are visits the customer did not pay for (a warranty repair, a "
            "free check-up), give the file as --events too (event_type: '=visit' in its files: "
            "section) so that they count as the customer's visits"
        )
    negative = ok & (out["amount"] < 0).to_numpy()
    discounts = negative & _on_a_purchase_day(out, ok)
    if n := int((negative & ~discounts).sum()):
        returns = negative & ~discounts
        example = f", e.g. order {out['order_id'][returns].iloc[0]!r}" if "order_id" in out else ""
        notes.append(
            f"{n:,} accepted rows have a negative amount (returns or cancellations{example}): "
            "kept as returns, they lower the customer's spend"
            + ("" if "status" in inputs else "; map a status column to quarantine cancelled orders")
        )
    if n := int(discounts.sum()):
        notes.append(
            f"{n:,} accepted rows with a negative amount are on a day whose rows of the same "
            "customer sum above 0: read as part of that day's purchase (a discount line or a "
            "same-day cancellation: the day's value is net of them), not as returns"
        )
    source = inputs.get("amount")
    name = fold_name(str(source.name)) if source is not None else ""
    if (
        source is not None
        and "quantity" in inputs
        and "price" in name
        and not any(word in name for word in LINE_TOTAL_WORDS)
        and LINE_TOTAL_PRICES.get(str(source.name).strip().lower()) not in columns
    ):
        other = ok & (out["quantity"].notna() & (out["quantity"] != 1)).to_numpy()
        if ok.any() and other.sum() > PRICE_LIKE_QUANTITY_SHARE * ok.sum():
            notes.append(
                f"amount comes from {source.name!r} while {other.sum() / ok.sum():.0%} of the "
                f"rows have a quantity other than 1 ({inputs['quantity'].name!r}): if "
                f"{source.name!r} is a unit price, map unit_price={source.name} instead "
                "(amount = quantity x unit_price)"
            )
    if several_days := _orders_on_several_days(out, ok):
        notes.append(several_days)
    if shared := _orders_of_several_customers(out, ok):
        notes.append(shared)
    return notes


def _orders_spread(
    values: pd.Series, orders: pd.Series, rows: np.ndarray
) -> tuple[pd.Series, int] | None:
    """Of the ``rows`` (with an order id), the orders holding several distinct ``values`` (their
    count by order) and the number of orders; None when fewer than 3 orders, or
    ``SEVERAL_DAYS_SHARE`` of them, do."""
    if not rows.any():
        return None
    counts = values[rows].groupby(orders[rows]).nunique()
    several = counts[counts > 1]
    if len(several) < max(3, SEVERAL_DAYS_SHARE * len(counts)):
        return None
    return several, len(counts)


def _orders_of_several_customers(out: pd.DataFrame, ok: np.ndarray) -> str | None:
    """Orders whose accepted rows name several customers: an event export keyed by attendee (a
    friend's ticket credited to the friend, paid by the buyer)."""
    if "order_id" not in out:
        return None
    rows = ok & out["order_id"].notna().to_numpy(bool)
    if (spread := _orders_spread(out["customer_id"], out["order_id"], rows)) is None:
        return None
    several, n_orders = spread
    example = str(several.index[0])
    names = out["customer_id"][rows & (out["order_id"] == example).to_numpy(bool)].unique()[:3]
    return (
        f"{len(several):,} of the {n_orders:,} orders name several customers (e.g. order "
        f"{example!r}: {', '.join(repr(str(n)) for n in names)}): each is credited with its "
        "rows, as an event export keyed by attendee credits the buyer's payment to each guest; "
        "key the file by who paid (the buyer's e-mail or id) if one customer paid the order"
    )


def _orders_on_several_days(out: pd.DataFrame, ok: np.ndarray) -> str | None:
    """Orders whose accepted rows of a positive amount are on several days: a payments ledger's
    deposit and balance of one booking, or instalments, each read as a purchase day."""
    if "order_id" not in out:
        return None
    paid = ok & (out["amount"] > 0).fillna(False).to_numpy(bool) & out["order_id"].notna()
    days = out["ordered_at"].dt.floor("D")
    if (spread := _orders_spread(days, out["order_id"], np.asarray(paid, bool))) is None:
        return None
    several, n_orders = spread
    example = str(several.index[0])
    return (
        f"{len(several):,} of the {n_orders:,} orders have paid rows on several days (e.g. "
        f"order {example!r} on {int(several.iloc[0])} days): each day counts as a purchase, so a "
        "booking paid as a deposit and a balance, or an order paid in instalments, is read as "
        "several purchases; if these rows are payments of one sale, give the export of the "
        "sales (one row per booking or order, dated when it was made) instead"
    )


def _exclude(
    table: str,
    frame: pd.DataFrame,
    path: Path,
    mapping: FileMapping,
    check: _Validator,
    report: TableReport,
) -> None:
    """Set aside the rows the map file's ``exclude:`` names (whatever else is wrong with them),
    saying per column how many; a column a table-qualified key names must be in the file."""
    said = []
    for name, (values, named) in mapping.excluded_in(table).items():
        column = _find(frame, name)
        if column is None:
            if named:
                raise IngestError(
                    f"{path}: exclude: column {name!r} not found{_did_you_mean(frame, name)}; "
                    f"columns: {list(frame.columns)}"
                )
            continue
        cells = _excluded_text(frame[column].astype("string").fillna(""))  # "" names a blank
        wanted = _excluded_text(pd.Series(values, dtype="string"))
        hit = cells.isin(wanted).fillna(False).to_numpy(bool)
        check.set_aside(hit, EXCLUDED)
        unmatched = [v for v, w in zip(values, wanted, strict=True) if not cells.eq(w).any()]
        said.append(f"{int(hit.sum()):,} rows with {column!r} in {values}")
        said[-1] += _unmatched_note(unmatched, cells)
    if said:
        report.formats["exclude"] = "; ".join(said)


def _unmatched_note(unmatched: list[str], cells: pd.Series) -> str:
    """Names ``exclude:`` values no row holds; a number there, beside cells with leading zeros,
    was likely unquoted in YAML (``000142`` is read as octal ``98``)."""
    if not unmatched:
        return ""
    note = f" (no row holds {', '.join(repr(v) for v in unmatched)}"
    if any(v.isdigit() for v in unmatched) and cells.str.match(r"0\d").fillna(False).any():
        note += "; quote values with leading zeros in the map file, '000142': unquoted, YAML "
        note += "reads them as other numbers"
    return note + ")"


def _excluded_text(values: pd.Series) -> pd.Series:
    """Cells or ``exclude:`` values as compared: case and outer spaces ignored, a whole number
    with or without a float column's ``.0`` (``3`` in a map file is a CSV's ``3.0``)."""
    return values.str.strip().str.casefold().str.replace(FLOAT_ID, r"\1", regex=True)


def _on_a_purchase_day(out: pd.DataFrame, ok: np.ndarray) -> np.ndarray:
    """Rows on a day whose ``ok`` rows of the same customer sum above 0 (as the features read a
    negative row there: a discount line of that day's purchase, ``features.definitions``)."""
    if not {"customer_id", "ordered_at"} <= set(out.columns):
        return np.zeros(len(out), dtype=bool)
    day = out["ordered_at"].dt.floor("D")
    amount = out["amount"].where(ok, 0.0)
    net = amount.groupby([out["customer_id"], day], dropna=False).transform("sum")
    return (net > 0).fillna(False).to_numpy(dtype=bool)


def _repeated_header(frame: pd.DataFrame) -> np.ndarray:
    """Rows that repeat the header: at least two cells, and most, equal their column's name."""
    if frame.empty or len(frame.columns) < 2:
        return np.zeros(len(frame), dtype=bool)
    same = np.column_stack(
        [frame[c].astype("string").str.strip().eq(str(c).strip()).fillna(False) for c in frame]
    ).sum(axis=1)
    return (same >= 2) & (same * 2 > len(frame.columns))


def _repeated_rows(
    frame: pd.DataFrame, orders: pd.Series | None, check: _Validator, report: TableReport
) -> None:
    """Rows identical to an earlier one, order id included, are an export appended twice: never
    revenue twice; but a line repeated within its order's own run of lines is an item scanned
    again (a till writes a line per scan; :func:`_scanned_again`): kept, and reported. Without an
    order id a repeat may be a real second purchase (CDNOW has 255 such lines): kept, and
    reported."""
    repeated = frame.duplicated(keep="first").to_numpy()
    if orders is not None:
        again = repeated & _scanned_again(frame, orders)
        check.flag(repeated & ~again, "duplicate row (same as an earlier line)")
        if n := int((again & check.ok).sum()):
            example = orders.to_numpy()[again & check.ok][0]
            report.warnings.append(
                f"{n:,} lines repeat an earlier line of their own order (e.g. order "
                f"{str(example)!r}): kept as items scanned again (a till writes one line per "
                "scan); an order of several lines written twice whole, or a line repeated "
                "elsewhere in the file, is quarantined as a duplicate row"
            )
    elif (n := int((repeated & check.ok).sum())) and report.table == EVENTS:
        report.warnings.append(
            f"{n:,} rows are identical to an earlier line; kept (two visits or opens can share "
            "a time); remove them from the export if the tool wrote them twice"
        )
    elif n:
        report.warnings.append(
            f"{n:,} rows are identical to an earlier line; kept (without an order id a repeat "
            "can be a second purchase; map order_id to quarantine true duplicates)"
        )


def _scanned_again(frame: pd.DataFrame, orders: pd.Series) -> np.ndarray:
    """Rows within the same run of their order's lines as the first row identical to them,
    except the copies of an order written whole several times: a run that is one block of two or
    more different lines repeated (A C A C; A A C A A C, a join fan-out) keeps its first block.
    Repeated scans (A A: two coffees; A A C C; a croissant scanned twice beside a coffee) are
    kept, as is a run holding a line the file holds once."""
    again = np.zeros(len(frame), dtype=bool)
    involved = frame.duplicated(keep=False).to_numpy()  # lines the file holds more than once
    if not involved.any():
        return again
    order = pd.Series(orders.astype("string").fillna("").to_numpy())
    run = order.ne(order.shift()).cumsum().to_numpy()
    line = pd.util.hash_pandas_object(frame[involved], index=False).to_numpy()
    key = pd.DataFrame({"line": line, "run": run[involved]})
    same_run = key["run"].eq(key.groupby("line")["run"].transform("first")).to_numpy()
    once = pd.Series(~involved).groupby(run).any()  # a run with a line the file holds once
    repeats = key.duplicated(["run", "line"]).groupby(key["run"]).transform("any")
    candidate = (~key["run"].map(once).to_numpy(bool)) & repeats.to_numpy()
    copy = np.zeros(len(key), dtype=bool)
    at = np.flatnonzero(candidate)
    runs, lines = key["run"].to_numpy()[at], key["line"].to_numpy()[at]
    for part in np.split(np.arange(len(at)), np.flatnonzero(np.diff(runs)) + 1):
        if (block := _repeated_block(lines[part])) is not None:
            copy[at[part[block:]]] = True
    again[involved] = same_run & ~copy
    return again


def _repeated_block(seq: np.ndarray) -> int | None:
    """The length of the block of two or more different lines that ``seq`` repeats whole
    (``A C A C``: 2), None when it is no such repetition (``A A``, ``A A C C``)."""
    n = len(seq)
    for k in range(2, n + 1):
        p = n // k
        if n % k == 0 and len(set(seq[:p].tolist())) >= 2 and (seq.reshape(k, p) == seq[:p]).all():
            return p
    return None


#: Ends after the export on at least this many rows, and this share of the ends, are warned of:
#: a renewal date filled for every member, not notices given.
FUTURE_ENDS_MIN = 10
FUTURE_ENDS_SHARE = 1 / 3
#: Ends on at least this share of the customers (or a third of them on the signup day) are
#: warned of: a date every customer has, not the end of those who left.
ALL_ENDS_SHARE = 0.995


def _optional_dates(
    out: pd.DataFrame,
    name: str,
    values: pd.Series,
    placeholder: pd.Series,
    check: _Validator,
    report: TableReport,
    latest: pd.Timestamp | None = None,
) -> None:
    """An optional date (``customers.ended_at``) where no date means "still a customer": blank,
    a placeholder such as 9999-12-31, a word ('N/A', 'Active') and an end before the signup (by
    day: an earlier membership's end kept after a re-join) are read as no end, counted and named;
    the customer and their rows stay. A date after the export is kept (a notice given); when
    many are (after ``latest``), the column may be a renewal date, and a warning says so."""
    worded = (values.notna() & out[name].isna()).to_numpy()
    out.loc[placeholder.to_numpy(), name] = pd.NaT
    before = np.zeros(len(out), dtype=bool)
    if "signup_at" in out:
        days = out[name].dt.normalize() < out["signup_at"].dt.normalize()
        before = days.fillna(False).to_numpy()
        out.loc[before, name] = pd.NaT
    ok = check.ok
    said = []
    if blank := int((placeholder.to_numpy() & ok).sum()):
        said.append(f"{blank:,} placeholder date(s) such as 9999-12-31")
    if words := int((worded & ok).sum()):
        top = values[worded & ok].value_counts().head(3)
        said.append(
            f"{words:,} value(s) that are no date ("
            + ", ".join(f"{v!r} x {n:,}" for v, n in top.items())
            + ")"
        )
    if early := int((before & ok).sum()):
        said.append(f"{early:,} end(s) before the customer's signup (an earlier membership's?)")
    dated = int((out[name].notna() & ok).sum())
    tail = f"; read as no end (still a customer): {'; '.join(said)}" if said else ""
    report.formats[name] = f"{dated:,} rows with an end date{tail}"
    ahead = np.zeros(len(out), dtype=bool)
    if latest is not None:
        ahead = (out[name] > latest).fillna(False).to_numpy(dtype=bool) & ok
    if (n := int(ahead.sum())) >= FUTURE_ENDS_MIN and n >= FUTURE_ENDS_SHARE * dated:
        example = values[ahead].iloc[0]
        report.warnings.append(
            f"{n:,} of the {dated:,} {name} dates are still ahead (e.g. "
            f"{example!r}): each is read as a notice given, its customer scored as leaving on "
            "that day; if the column is the paid period's end of members who renew (Memberful's "
            "Expires At, a subscription's current period end), map the end of those who "
            "cancelled only (blank for the others)"
        )
    elif dated >= FUTURE_ENDS_MIN:
        on_signup = 0
        if "signup_at" in out:
            same = out[name].dt.floor("D") == out["signup_at"].dt.floor("D")
            on_signup = int((same.fillna(False).to_numpy(dtype=bool) & ok).sum())
        if dated < ALL_ENDS_SHARE * int(ok.sum()) and on_signup < FUTURE_ENDS_SHARE * dated:
            return  # a base most of whose customers left over the years has ends for most
        report.warnings.append(
            f"{dated:,} of the {int(ok.sum()):,} customers have an {name} date"
            + (f", {on_signup:,} of them on the day they signed up" if on_signup else "")
            + ": each is read as the day they ended, active customers too; if the column is a "
            "date every customer has (a status date, the record's last change), map a column "
            "holding the end of those who left only (blank for the others)"
        )


def _check_date_column(
    parsed: pd.Series, values: pd.Series, clean: np.ndarray, path: Path, date_format: str | None
) -> None:
    present = values.notna() & clean
    n_present, ok = int(present.sum()), int((parsed.notna() & present).sum())
    if n_present == 0 or ok < MIN_PARSABLE_SHARE * n_present:
        examples = list(values[present].head(3))
        expected = date_format or (
            "a date such as 2024-01-31, 20240131, 01/31/2024 13:05, 2024年1月31日, "
            "an Excel serial day, or Unix seconds, milliseconds, microseconds or nanoseconds "
            "since 1970 (10, 13, 16 or 19 digits); or pass --date-format (date_format: in the "
            "map file) with the values' form, e.g. --date-format '%H:%M %d/%m/%Y' for "
            "'14:02 05/03/2024'"
        )
        raise IngestError(
            f"{path}: column {values.name!r} is not a usable date column "
            f"({ok} of {n_present} values parse); expected {expected}; found e.g. {examples}"
        )


def _amount(
    inputs: dict[str, pd.Series],
    out: pd.DataFrame,
    check: _Validator,
    numbers: NumberFormat,
    mapping: FileMapping,
    report: TableReport,
) -> tuple[pd.Series, pd.Series]:
    """``amount`` directly, or ``quantity x unit_price`` when the mapping gives those instead; and
    the factor each row's amount was multiplied by, which its refund is too: the rate of
    ``currency_rates`` times 0.01 for a column in cents (1 where neither)."""
    texts = [inputs[c] for c in ("unit_price", "amount", "currency") if c in inputs]
    yen = _yen(mapping, texts, report)
    if "unit_price" in inputs:
        unit = inputs["unit_price"]
        price, currency = parse_numbers(unit, numbers, yen)
        check.flag(unit.isna(), "missing unit_price")
        check.flag(unit.notna() & price.isna(), "unit_price is not a number")
        check.flag(out["quantity"].isna(), "missing quantity")
        amount = (out["quantity"] * price).round(6)
    else:
        source = inputs["amount"]
        amount, currency = parse_numbers(source, numbers, yen)
        check.flag(source.isna(), "missing amount")
        check.flag(source.notna() & amount.isna(), "amount is not a number")
    if "currency" in inputs:
        column = _order_field(inputs["currency"], out, blank_is_missing=True)
        currency = _currency_column(column, currency, check, yen)
    told = _kept_currency(mapping, {})  # the map file's currency: of the amounts unmarked
    amount, cents = _from_cents(
        inputs.get("unit_price", inputs.get("amount")),
        amount,
        currency if told is None else currency.fillna(told),
        report,
    )
    amount, rate = _check_currency(currency, amount, check, mapping, report)
    return amount, cents * rate.fillna(1.0)


def _from_cents(
    source: pd.Series | None, amount: pd.Series, currency: pd.Series, report: TableReport
) -> tuple[pd.Series, pd.Series]:
    """Amounts of a column named in cents (Recurly's ``total_in_cents``, an ``amount_cents``) in
    the currency's units: divided by 100, but for currencies without cents; said in the report.
    Also the factor each row was multiplied by (0.01 or 1: its refund is in the same unit)."""
    name = str(source.name) if source is not None else ""
    factor = pd.Series(1.0, index=amount.index)
    if "cents" not in re.split(r"[\W_]+", fold_name(name)):
        return amount, factor
    whole = currency.isin(ZERO_DECIMAL_CURRENCIES).fillna(False).to_numpy(bool)
    report.formats["amount"] = f"{name!r} read in cents: divided by 100" + (
        f" (not the {int(whole.sum()):,} rows in a currency without cents)" if whole.any() else ""
    )
    return amount.where(whole, (amount / 100).round(6)), factor.where(whole, 0.01)


#: Cells of a refund column that say nothing was refunded.
NO_REFUND = ("-", "--", "–", "—")


def _net_of_refunds(
    source: pd.Series,
    out: pd.DataFrame,
    check: _Validator,
    numbers: NumberFormat,
    factor: pd.Series,
    report: TableReport,
) -> None:
    """The amounts less the mapped refunds (:mod:`features.refunds`); a sale refunded whole is no
    sale, a refund that is not a number quarantines its row. A refund is in its row's currency:
    converted at the rate its amount was (``currency_rates``), in cents where it was."""
    source = source.mask(source.str.strip().isin(NO_REFUND))  # a dash: nothing refunded
    refunded, _ = parse_numbers(source, numbers)
    check.flag(source.notna() & refunded.isna(), f"{REFUNDED_AMOUNT} is not a number")
    refunded = refunded.where(factor == 1.0, (refunded * factor).round(6))
    refunds = net_of_refunds(out["amount"], refunded, out.get("order_id"), check.ok)
    out["amount"] = refunds.amount
    check.no_sale(refunds.whole, REFUNDED_ORDER)
    if refunds.note:
        report.formats[REFUNDED_AMOUNT] = refunds.note


def _lines_of_totals(amount: pd.Series, orders: pd.Series, check: _Validator) -> np.ndarray:
    """Rows without an amount, quarantined only for a missing value, of an order whose total is
    on another row of the file: WooCommerce's line items (the order id alone), eBay's items of
    a multi-item order. The total is the one row of the order with an amount: an order with
    amounts on several rows has line amounts, and its row without one is missing its amount.
    (A group count, not ``isin`` of Arrow strings: 7.6 s on a million rows.)"""
    blank = amount.isna().to_numpy()
    if not blank.any():
        return blank
    priced = amount.notna().groupby(orders).transform("sum")  # NaN for a row without an order
    lines = blank & priced.eq(1).to_numpy()
    reasons = pd.Series(check.reason[lines], dtype="object").fillna("")
    lines[lines] = reasons.str.startswith("missing ").to_numpy()
    return lines


#: ``formats`` key of the note that a ``¥`` was read as the yuan, the map file not saying.
YEN = "¥"
YEN_READ_AS_CNY = (
    "read as CNY (the yuan); if the amounts are yen, set currency: JPY in the map file"
)


#: Marks only the yen has, and only the yuan.
YEN_ONLY, YUAN_ONLY = ("円", "JPY"), ("元", "RMB", "CNY")


def _marked(texts: list[pd.Series], marks: tuple[str, ...]) -> bool:
    """Whether any of ``texts`` holds one of ``marks``."""
    pattern = "|".join(marks)
    return any(t.str.contains(pattern, na=False).any() for t in texts)


def _yen(mapping: FileMapping, texts: list[pd.Series], report: TableReport) -> str:
    """The code of the sign ``¥`` (the yen's and the yuan's): the map file's ``currency:`` when
    JPY or CNY, JPY beside amounts marked ``円`` or JPY (and none ``元``, RMB, CNY), else CNY,
    said in the report when ``texts`` hold the sign."""
    said = _currency_code(mapping.currency.strip()) if mapping.currency else None
    if said in ("JPY", "CNY"):
        return said
    if _marked(texts, YEN_ONLY) and not _marked(texts, YUAN_ONLY):  # ￥ beside 円: the yen
        return "JPY"
    if _marked(texts, YEN_SIGNS):
        report.formats[YEN] = YEN_READ_AS_CNY
    return "CNY"


def _currency_column(column: pd.Series, marks: pd.Series, check: _Validator, yen: str) -> pd.Series:
    """Each row's currency from a mapped column (a code or sign, ``¥`` as ``yen``), else the
    amount's own mark; a row whose column and mark disagree is quarantined."""
    column = column.astype("string").str.strip()
    code = column.map(_currency_code, na_action="ignore").where(~column.isin(YEN_SIGNS), yen)
    marks = pd.Series(marks, index=column.index, dtype="object")
    check.flag(
        code.notna() & marks.notna() & (code != marks), "currency column and amount disagree"
    )
    return code.astype("object").where(code.notna(), marks)


def _currency_code(text: str) -> str:
    """A currency sign or code as its ISO code (``￥`` -> ``CNY``, ``usd`` -> ``USD``)."""
    return CURRENCIES.get(text, CURRENCIES.get(text.upper(), text.upper()))


#: What ingest does with amounts in another currency than the one kept, and how to choose.
OTHER_CURRENCIES = (
    "quarantined the others (set currency: in the map file to choose, and "
    "currency_rates: {EUR: 1.08, ...} there to convert the others at a fixed rate)"
)


def _kept_currency(mapping: FileMapping, currencies: dict[str, int]) -> str | None:
    """The currency a file's amounts are kept in: the map file's ``currency:``, else the one
    most amounts are marked with (``currencies``, most first); None without either."""
    code = (mapping.currency or "").strip()
    return _currency_code(code) if code else next(iter(currencies), None)


def _check_currency(
    currency: pd.Series,
    amount: pd.Series,
    check: _Validator,
    mapping: FileMapping,
    report: TableReport,
) -> tuple[pd.Series, pd.Series]:
    """One currency per amount column: rows marked with another one are converted at the map
    file's ``currency_rates``, or else quarantined (never summed as they are). Returns the
    amounts in the kept currency, and the rate of each row converted (NaN for the others)."""
    seen = currency[amount.notna()].value_counts()
    report.currencies = {str(k): int(v) for k, v in seen.items()}
    told = bool((mapping.currency or "").strip())
    if mapping.currency_rates and not told:
        raise IngestError(
            f"{report.source_file}: currency_rates need the currency they convert to: set "
            "currency: in the map file (e.g. currency: USD)"
        )
    expected = _kept_currency(mapping, report.currencies)
    if not told and len(seen) > 1:
        report.warnings.append(
            f"amounts in several currencies {report.currencies}; kept {expected}, "
            + OTHER_CURRENCIES
        )
    if expected is None:
        return amount, pd.Series(np.nan, index=amount.index)
    rates = {_currency_code(k): float(v) for k, v in mapping.currency_rates.items()}
    rate = currency.map(rates).astype("float64").where(currency != expected)
    converted = rate.notna() & amount.notna()
    if converted.any():
        counts = currency[converted].value_counts()
        report.formats["currency_rates"] = (
            ", ".join(f"{k} {n:,} rows x {rates[str(k)]:g}" for k, n in counts.items())
            + f" into {expected}"
        )
    check.flag(
        currency.notna() & (currency != expected) & rate.isna(), f"currency is not {expected}"
    )
    return amount.where(~converted, (amount * rate).round(6)), rate.where(converted)


def _order_field(values: pd.Series, out: pd.DataFrame, blank_is_missing: bool = False) -> pd.Series:
    """An order-level field (status, currency), stripped; a missing cell takes its order's first
    value (Shopify writes them on an order's first line only). ``blank_is_missing``: an empty
    cell counts as missing too."""
    values = values.astype("string").str.strip()
    if blank_is_missing:
        values = values.replace("", pd.NA)
    if "order_id" in out and not _written_per_line(values, out["order_id"]):
        values = values.fillna(values.groupby(out["order_id"]).transform("first"))
    return values


def _written_per_line(values: pd.Series, orders: pd.Series) -> bool:
    """Whether some order has a value on a line after a blank one: the field is then each
    line's own (a till's voided line flagged VOID among blank ones), not its order's written
    on the first line only (Shopify), so a blank cell is not filled from the order."""
    blank_before = values.isna().astype("int8").groupby(orders).cummax().eq(1)
    return bool((values.notna() & blank_before).any())


def _cancelled(
    status: pd.Series,
    out: pd.DataFrame,
    check: _Validator,
    mapping: FileMapping,
    report: TableReport,
) -> np.ndarray:
    """Quarantine cancelled orders and orders refunded whole; a blank status takes its order's
    status (Shopify's later lines). Returns which rows are refunds booked as rows of their own
    (kept as returns)."""
    status = _order_field(status, out)
    values = ValueMapping(
        mapping.values_for(TRANSACTIONS, "status"), builtin=True, synonyms=STATUS_SYNONYMS
    )
    mapped, table = map_values(status, values)
    unknown = table[table["target"].isna()]
    if not unknown.empty:
        report.warnings.append(
            "order statuses read as completed (not known as cancelled, refunded, open, credit "
            "note or payment): "
            + ", ".join(
                f"{s!r} {n}" for s, n in zip(unknown["source"], unknown["rows"], strict=True)
            )
            + "; map them under values: {status: ...} to cancelled, refunded or open (a deal "
            "not won yet, an order not paid) if they are no sale, to payment (money received "
            "for an invoice), or to credit_note (a credit note whose positive amount is money "
            "given back)"
        )
    report.formats["status"] = ", ".join(
        f"{s!r} -> {t if isinstance(t, str) and t else 'completed'}"
        for s, t in zip(table["source"], table["target"], strict=True)
    )
    check.no_sale(mapped == "cancelled", CANCELLED_ORDER)
    check.no_sale(mapped == "open", OPEN_ORDER)
    check.no_sale(mapped == "payment", PAYMENT)
    _credit_notes_negative(mapped, out, report)
    # refunded whole: not revenue; a refund row of its own (amount <= 0) is a return, kept --
    # unless its order is one refunded whole here: the sale it returns is not counted, so its
    # refund rows (and zero lines) are not either (else the order nets to minus its amount)
    refunded = (mapped == "refunded").fillna(False).to_numpy(dtype=bool)
    whole = refunded & (out["amount"] > 0).fillna(False).to_numpy(dtype=bool)
    if "order_id" in out:
        sales = ~refunded & check.ok
        partial = _partial_refunds(out, whole, sales)
        out.loc[partial, "amount"] = -out.loc[partial, "amount"]  # a return of part of it
        whole &= ~partial
        orders = out["order_id"][whole].dropna()
        whole |= refunded & out["order_id"].isin(orders).fillna(False).to_numpy(dtype=bool)
        whole |= _sales_refunded(out, whole, sales)
        if whole.sum() >= REFUND_FILE_SHARE * max(int(check.ok.sum()), 1):
            refunds_apart = out["order_id"][whole & check.ok].dropna()
            if len(refunds_apart) and not refunds_apart.isin(out["order_id"][sales]).any():
                report.warnings.append(_refunds_of_no_sale(refunds_apart, status))
    check.flag(whole, REFUNDED_ORDER)
    return refunded & ~whole


#: A file at least this share of whose usable rows are refunded orders is a file of refunds.
REFUND_FILE_SHARE = 0.5


def _refunds_of_no_sale(orders: pd.Series, status: pd.Series) -> str:
    """The warning for a file of refunded orders none of which names a sale of the file (a
    billing system's credit notes export, a payment processor's refunds)."""
    words = ", ".join(repr(str(v)) for v in status[orders.index].dropna().unique()[:3])
    return (
        f"{len(orders):,} rows are refunded orders ({words}) and none names an order sold in "
        f"this file (e.g. {str(orders.iloc[0])!r}): set aside, they lower no revenue unless "
        "another file holds the sales they refund under the same order ids; if they are credit "
        "notes or refunds of their own (money given back), map their status to credit_note "
        "(values: {status: {<value>: credit_note}}) to net them from revenue"
    )


#: Stripe's ids of money given back: a refund (``re_``, ``pyr_``) or a credit note (``cn_``).
STRIPE_REFUND_ID = r"^(?:re|pyr|cn)_[A-Za-z0-9]{8,}$"


def _stripe_refunds(out: pd.DataFrame, report: TableReport) -> None:
    """Rows whose order id is a Stripe refund's or credit note's (``re_...``: its refunds export,
    status ``succeeded``, positive amounts) give money back: read as negative, never as sales
    (read as sales they added a tester's 287 refunds, $18,175, and as many purchase days)."""
    if "order_id" not in out:
        return
    ids = out["order_id"].astype("string")
    given_back = ids.str.fullmatch(STRIPE_REFUND_ID).fillna(False).to_numpy(dtype=bool)
    _given_back(out, given_back, report, "rows are Stripe refunds or credit notes (ids re_...)")


def _credit_notes_negative(mapped: pd.Series, out: pd.DataFrame, report: TableReport) -> None:
    """A credit note booked with a positive amount (an ERP's invoice lines: the document type
    tells the sign) gives that amount back: read as negative, a return netted from revenue, never
    a sale (counted as one it added to revenue and made the day a purchase day)."""
    credit = (mapped == "credit_note").fillna(False).to_numpy(dtype=bool)
    _given_back(out, credit, report, f"of {int(credit.sum()):,} credit-note rows")


def _given_back(out: pd.DataFrame, rows: np.ndarray, report: TableReport, what: str) -> None:
    """``rows`` with a positive amount read as negative (money given back), said in the report
    as ``N <what> had a positive amount``."""
    flip = rows & (out["amount"] > 0).fillna(False).to_numpy(dtype=bool)
    if flip.any():
        out.loc[flip, "amount"] = -out.loc[flip, "amount"]
        report.formats["credit notes"] = (
            f"{int(flip.sum()):,} {what} had a positive amount: read as negative (money given "
            "back, netted from revenue)"
        )


def _partial_refunds(out: pd.DataFrame, refund: np.ndarray, sale: np.ndarray) -> np.ndarray:
    """The positive ``refund`` rows that give back part of their order: it has ``sale`` rows
    summing to more, none of the refund's amount (a 5.00 refund row beside a 9.99 sale): booked as
    a return of that amount, not as the order refunded whole."""
    has_order = out["order_id"].notna().to_numpy()
    if not (refund & has_order).any():
        return np.zeros(len(out), dtype=bool)
    order = out["order_id"].astype("string")
    amount = out["amount"].round(2)
    sold = sale & has_order & (out["amount"] > 0).fillna(False).to_numpy(dtype=bool)
    total = amount[sold].groupby(order[sold]).sum()
    same = pd.MultiIndex.from_arrays([order[sold], amount[sold]])
    pairs = pd.MultiIndex.from_arrays([order, amount])
    more = order.map(total).astype("float64").fillna(0).to_numpy() > amount.to_numpy()
    twin = pairs.isin(same)
    return refund & has_order & more & ~twin


def _sales_refunded(out: pd.DataFrame, refund: np.ndarray, sale: np.ndarray) -> np.ndarray:
    """The ``sale`` rows a positive ``refund`` row of the same order and amount refunds (an app
    store books a refund as a row of its own beside the sale, with the sale's transaction id and
    amount, dated after it): as many of each order's earlier sales of that amount as it has such
    refunds, first first. A line refunded on its receipt (the same time) takes no twin with it
    (a till's second scan of the item stays a sale)."""
    positive = (out["amount"] > 0).fillna(False).to_numpy(dtype=bool)
    if not (refund & positive).any():
        return np.zeros(len(out), dtype=bool)
    key = pd.DataFrame(
        {
            "order": out["order_id"].astype("string"),
            "amount": out["amount"].round(2),
            "at": out["ordered_at"],
        }
    )
    by = ["order", "amount"]
    refunds = key[refund & positive].groupby(by)["at"].agg(["size", "max"])
    at = np.flatnonzero(sale & positive & key["order"].notna().to_numpy())
    sales = key.iloc[at].join(refunds, on=by)
    earlier = (sales["at"] < sales["max"]).fillna(False).to_numpy(dtype=bool)
    rank = sales[earlier].groupby(by).cumcount().to_numpy()
    hit = np.zeros(len(out), dtype=bool)
    hit[at[earlier]] = rank < sales["size"].to_numpy()[earlier]
    return hit


def _map_values(
    table: str,
    out: pd.DataFrame,
    mapping: FileMapping,
    check: _Validator,
    report: TableReport,
    strict_values: bool,
) -> None:
    for column in VALUE_COLUMNS:
        if column not in out:
            continue
        explicit = mapping.values_for(table, column)
        if column == "status":
            continue
        if column != "event_type":
            if explicit:
                mapped, _ = map_values(out[column], ValueMapping(explicit, builtin=False))
                out[column] = mapped.fillna(out[column])
            continue
        values = ValueMapping(explicit, builtin=True)
        mapped, table_ = map_values(out[column], values)
        ignored = (mapped == IGNORE).fillna(False).to_numpy(bool)
        mine = table_.loc[(table_["target"] == IGNORE) & (table_["how"] == "values:"), "source"]
        by_map = out[column].isin(mine).fillna(False).to_numpy(bool)  # the map file's own choice
        check.set_aside(by_map, IGNORED_BY_MAP)
        check.set_aside(ignored & ~by_map, NOT_AN_ACTION)
        check.flag((mapped == ORDER).fillna(False).to_numpy(bool), ORDER_EVENT)
        unmapped = out[column].notna() & mapped.isna()
        if strict_values:
            check.flag(unmapped, UNMAPPED)
        considered = check.ok | np.isin(
            check.reason, (UNMAPPED, NOT_AN_ACTION, IGNORED_BY_MAP, ORDER_EVENT)
        )
        counts = out.loc[considered, column].value_counts()
        table_["rows"] = table_["source"].map(counts).fillna(0).astype("int64")
        table_ = table_[table_["rows"] > 0]
        records = [
            {**r, "rows": int(r["rows"]), "target": None if pd.isna(r["target"]) else r["target"]}
            for r in table_.to_dict("records")
        ]
        report.value_mapping = records
        report.unmapped = [
            {"source": r["source"], "rows": r["rows"], "hint": values.hint(r["source"], column)}
            for r in records
            if r["target"] is None
        ]
        if strict_values:  # the hints' "kept as other" is not what happened to them
            for item in report.unmapped:
                item["hint"] = item["hint"].replace("kept as other", "quarantined")
        out[column] = mapped.fillna(OTHER)
        final = out.loc[check.ok, column].value_counts()
        report.event_types = {t: int(final.get(t, 0)) for t in (*EVENT_TYPES, OTHER)}


def _split(
    table: str, source: SourceFile, out: pd.DataFrame, check: _Validator, report: TableReport
) -> _Table:
    ok = check.ok
    bad = np.flatnonzero(~ok)
    quarantined = quarantine_rows(
        source.frame.loc[~ok],
        source.path,
        bad + 1,
        check.reason[~ok],
        source.lines[~ok],
        out["customer_id"].to_numpy(dtype=object)[~ok] if "customer_id" in out else None,
    )
    accepted = out.loc[ok].reset_index(drop=True)
    report.rows_read = len(source.frame)
    report.accepted = len(accepted)
    report.quarantined = len(quarantined)
    reasons = pd.Series(check.reason[~ok], dtype="object")
    for reason, n in reasons.value_counts().items():
        report.reasons[str(reason)] = int(n)
        first = int(bad[int(np.flatnonzero(reasons.to_numpy() == reason)[0])])
        where = (
            f"{'row' if source.kind == 'workbook' else 'line'} {source.lines[first]}"
            if source.lines[first]
            else f"row {first + 1}"
        )
        report.samples[str(reason)] = f"{where}: {source.raw_record(first)}"
    if table == TRANSACTIONS and "amount" in out and len(bad):
        amounts = pd.Series(out["amount"].to_numpy(dtype="float64", na_value=np.nan)[bad])
        by_reason = amounts.groupby(reasons.to_numpy()).sum(min_count=1).dropna()
        by_reason = by_reason.drop(REPORT_ROW, errors="ignore")  # sums of the rows kept
        report.quarantined_amount = {str(k): round(float(v), 2) for k, v in by_reason.items()}
    assert report.accepted + report.quarantined == report.rows_read
    rejected: frozenset[str] = frozenset()
    excluded: frozenset[str] = frozenset()
    if table == CUSTOMERS:  # what the transactions and events of these customers are told
        ids = out["customer_id"]
        rejected = frozenset(ids[~ok].dropna()) - frozenset(ids[ok].dropna())
        rejected -= frozenset(ids[check.reason == MERGED].dropna())  # found as their survivor
        excluded = frozenset(ids[check.reason == EXCLUDED].dropna()) & rejected
    cancelled: frozenset[str] = frozenset()
    unread: dict[str, str] = {}
    voided: frozenset[str] | None = None
    if table == TRANSACTIONS and "order_id" in out:
        gone = np.isin(check.reason, NO_SALE)
        cancelled = frozenset(out.loc[gone, "order_id"].dropna())
        held = pd.Series(check.reason, index=out.index)[~ok & ~gone]
        held = held.groupby(out.loc[held.index, "order_id"]).first()
        unread = {
            str(k): str(v) for k, v in held.drop(accepted["order_id"], errors="ignore").items()
        }
        if "status" in report.formats:
            void = np.isin(check.reason, (CANCELLED_ORDER, REFUNDED_ORDER))
            voided = frozenset(out.loc[void, "order_id"].dropna())
    return _Table(
        accepted,
        quarantined,
        report,
        rejected,
        excluded,
        np.flatnonzero(ok) + 1,
        source.lines[ok],
        cancelled,
        unread_orders=unread,
        voided_orders=voided,
    )


def _derive_customers(transactions: pd.DataFrame, events: pd.DataFrame | None) -> pd.DataFrame:
    """Customers table when no customers file is given: first contact = first transaction/event
    (its file is the customer's ``EXPORT_FILE``)."""
    columns = ["customer_id", "signup_at", EXPORT_FILE]
    parts = [transactions.rename(columns={"ordered_at": "signup_at"})[columns]]
    if events is not None:
        parts.append(events.rename(columns={"occurred_at": "signup_at"})[columns])
    rows = pd.concat(parts, ignore_index=True)
    first = rows.loc[rows.groupby("customer_id", sort=True)["signup_at"].idxmin()]
    first = first.reset_index(drop=True)
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
        if col.dtype == "bool":  # a flag absent (no column, another file's customer) is no
            columns[col.name] = values.astype("boolean").fillna(False).astype(bool)
            continue
        kind = {"string": "string", "timestamp": "datetime64[us]", "float": "float64"}[col.dtype]
        columns[col.name] = (
            values.astype(kind) if col.dtype != "float" else pd.to_numeric(values).astype(kind)
        )
    if table == CUSTOMERS and EXPORT_FILE in frame:
        columns[EXPORT_FILE] = frame[EXPORT_FILE].astype("string")
    return (
        pd.DataFrame(columns)
        .sort_values([TIME_COLUMN[table], "customer_id"], kind="stable")
        .reset_index(drop=True)
    )


def ingest(
    out_dir: str | Path,
    transactions: Files,
    mapping: ColumnMapping,
    customers: Files | None = None,
    events: Files | None = None,
    log=print,
    strict_values: bool = False,
    min_accepted_share: float = MIN_ACCEPTED_SHARE,
    dry_run: bool = False,
    latest: pd.Timestamp | None = None,
    campaigns=None,
) -> dict[str, TableReport]:
    """Ingest exports into a contract directory (replaced as a whole) and return the per-table
    counts. A table may come as several files (a path or a list; a quoted pattern is expanded):
    each is validated alone, then they are put together as :mod:`features.export_files` says.

    ``campaigns`` (a :class:`features.campaigns.CampaignsSource`) is validated against the new
    customers and written in the same swap: a failing campaigns file leaves the previous
    directory whole, and a kill never leaves new tables beside old campaigns.

    With ``dry_run`` everything is read, mapped, validated and reported, and nothing is written.
    ``latest`` (naive UTC; the CLI passes the end of tomorrow): rows dated after it are
    quarantined as in the future (a 2099 typed for 1999), never the data's end.
    """
    out_dir = Path(out_dir)
    if not 0.0 <= min_accepted_share <= 1.0:
        raise IngestError(
            f"--min-accepted-share {min_accepted_share}: expected a share between 0 and 1"
        )
    if not dry_run:
        check_replaceable(out_dir.absolute(), OWNED)
    given = ((CUSTOMERS, customers), (TRANSACTIONS, transactions), (EVENTS, events))
    mapping.check_sections_used(
        [path for table, files in given if files is not None for path in _paths(table, files)]
        + ([Path(campaigns.path)] if campaigns is not None else [])
    )
    built: dict[str, _Table] = {}
    known: _KnownCustomers | None = None
    per_file: list[TableReport] = []
    origins: dict[str, str | None] = {}  # the files customers come from -> their section
    if customers is not None:
        built[CUSTOMERS] = _ingest_files(
            CUSTOMERS, customers, mapping, None, log, strict_values, latest, per_file, origins
        )
        known = _known_customers(built[CUSTOMERS], log)
    first_contact = None if customers is not None else origins
    for table, files in ((TRANSACTIONS, transactions), (EVENTS, events)):
        if files is not None:  # each file in the day/month order the tables before it told
            built[table] = _ingest_files(
                table,
                files,
                mapping,
                known,
                log,
                strict_values,
                latest,
                per_file,
                first_contact,
                _told_order(b.report.day_first for b in built.values()),
            )
    require_share(per_file, min_accepted_share)  # each file on its own
    if (sales := built[TRANSACTIONS].report).accepted == 0 and sales.rows_read:
        aside = ", ".join(f"{r}: {n:,}" for r, n in sales.reasons.items())
        hint = (
            " If a status means a paid order in this export, map it: values: {status: "
            "{<status>: completed}}"
            if any(r in NO_SALE for r in sales.reasons)
            else ""
        )
        raise IngestError(
            f"{sales.source_file}: transactions: no sale left, every row was set aside ({aside}): "
            f"nothing to learn from; nothing written.{hint}"
        )
    sold = built[TRANSACTIONS]
    customers = built[CUSTOMERS].accepted["customer_id"] if CUSTOMERS in built else None
    if unsold := buyers_without_sales(sold.accepted, sold.quarantined, customers):
        sold.report.warnings.append(unsold)
        log(f"{TRANSACTIONS}: warning: {unsold}")
    if (
        EVENTS in built
        and CUSTOMERS in built
        and (silent := files_without_events(built[CUSTOMERS].accepted, built[EVENTS].accepted))
    ):
        built[EVENTS].report.warnings.append(silent)
        log(f"{EVENTS}: warning: {silent}")
    reports = {t: b.report for t, b in built.items()}
    tables = {t: b.accepted for t, b in built.items()}
    if customers is None:
        tables[CUSTOMERS] = _derive_customers(tables[TRANSACTIONS], tables.get(EVENTS))
        log(
            f"customers: derived {len(tables[CUSTOMERS]):,} customers from first contact "
            "(no customers file given)"
        )
    campaign_rows = None
    if campaigns is not None:
        from features.campaigns import CAMPAIGNS, read_campaigns

        customer_ids = set(tables[CUSTOMERS]["customer_id"].astype(str))
        campaign_rows = read_campaigns(
            campaigns,
            customer_ids,
            min_accepted_share,
            log,
            latest,
            day_first=_told_order(b.report.day_first for b in built.values()),
            emails=known.emails if known is not None else None,
        )
        reports[CAMPAIGNS] = campaign_rows[2]
    if dry_run:
        return reports
    if shrunk := history_shrinks(out_dir, tables[TRANSACTIONS]):
        log(f"transactions: warning: {shrunk}")
    if lowered := ids_lowered(out_dir):
        log(f"customers: warning: {lowered}")
    with replaced_directory(out_dir, OWNED) as staging:
        if campaign_rows is not None:
            from features.campaigns import campaigns_path

            accepted, quarantined, _ = campaign_rows
            _write(accepted, campaigns_path(staging))
            _write(quarantined, quarantine_path(staging, CAMPAIGNS))
        for table, frame in tables.items():
            _write(_to_contract_types(frame, table), table_path(staging, table))
        for table, b in built.items():
            frame = b.quarantined
            _write(
                frame.astype(
                    {c: "string" for c in frame.columns if c not in {"source_row", "source_line"}}
                ),
                quarantine_path(staging, table),
            )
        manifest = {
            "tables": {t: asdict(r) for t, r in reports.items()},
            "customers": len(tables[CUSTOMERS]),
            CUSTOMER_FILES: origins,
        }
        (staging / "manifest.json").write_text(
            json.dumps(manifest, indent=2, ensure_ascii=False, default=str), encoding="utf-8"
        )
    return reports


def _known_customers(customers: _Table, log) -> _KnownCustomers:
    """The accepted customers (of all customers files) the other tables are checked against; their
    e-mail index is built once, here, and an address several of them give is warned of."""
    accepted = customers.accepted
    emails = None
    if CUSTOMER_EMAIL in accepted and customers.email_column is not None:
        emails = EmailIndex.of(accepted, customers.email_column)
        if customers.email_column in customers.quarantined:  # source rows: their own column
            held = folded(customers.quarantined[customers.email_column]).dropna()
            emails = replace(emails, quarantined=frozenset(held) - set(emails.ids) - emails.shared)
        if shared := emails.shared_note():  # within a file or across customers files
            shared += same_person_in_two_tools(accepted, emails.shared)
            customers.report.warnings.append(shared)
            log(f"{CUSTOMERS}: warning: {shared}")
        if relayed := relay_note(accepted[CUSTOMER_EMAIL], customers.email_column):
            customers.report.warnings.append(relayed)
            log(f"{CUSTOMERS}: warning: {relayed}")
    ids = set(accepted["customer_id"])
    if customers.aliases is not None and (both := aliases_that_are_ids(customers.aliases, ids)):
        customers.report.warnings.append(both)
        log(f"{CUSTOMERS}: warning: {both}")
    return _KnownCustomers(
        ids,
        customers.quarantined_ids,
        customers.excluded_ids,
        emails,
        customers.email_column,
        customers.other_ids,
        customers.aliases,
        customers.alias_column,
    )


def require_share(reports: Iterable[TableReport], share: float) -> None:
    """Fail loudly, with the top reasons and a sample source row each, when too little of a table
    was accepted (campaigns included)."""
    low = [r for r in reports if r.accepted_share < share]
    if not low:
        return
    parts = []  # one line (the CLI's errors are), its parts apart by "; "
    for r in low:
        parts.append(
            f"{r.source_file}: {r.table}: only {r.accepted:,} of {r.judged_rows:,} rows accepted "
            f"({r.accepted_share:.1%}), below --min-accepted-share {share:g}"
            + (
                f" ({r.rows_read - r.judged_rows:,} rows aside: "
                + ", ".join(f"{k} {v:,}" for k, v in r.reasons.items() if k in SET_ASIDE)
                + ")"
                if r.judged_rows < r.rows_read
                else ""
            )
            + "; top reasons:"
        )
        top = sorted(
            ((k, v) for k, v in r.reasons.items() if k not in SET_ASIDE), key=lambda kv: -kv[1]
        )[:3]
        for reason, n in top:
            parts.append(f"[{reason}: {n:,} rows, e.g. {r.samples[reason]}]")
        if top and top[0][0] == NO_SUCH_EMAIL:
            parts.append(
                "[note: a newsletter's or help desk's list also holds people who are not "
                "customers; if these are such, --min-accepted-share 0 keeps the customers' rows "
                "(the others stay in the quarantine)]"
            )
        if top and top[0][0] == "missing customer_id" and r.table == TRANSACTIONS:
            parts.append(
                "[note: a till's or shop's sales to guests without a customer account or loyalty "
                "card name no customer; if these are such, set them aside in the map file with "
                "exclude: {<the id column>: ['']} (counted, not judged)]"
            )
        if top and top[0][0] == "missing customer_id" and r.table == EVENTS:
            parts.append(
                "[note: an analytics tool's (Segment, GA4, Mixpanel) events of visitors who were "
                "not logged in have no user id, only an anonymous one: no customer's; if these "
                "are such, set them aside in the map file with exclude: {events.<the user id "
                "column>: ['']} (counted, not judged)]"
            )
        parts.extend(f"[note: {w}]" for w in r.warnings)
    maps = "--campaigns-map" if {r.table for r in low} == {"campaigns"} else "--map"
    parts.append(
        "nothing written (the previous --out is unchanged); fix the mapping/format options "
        f"({maps}, --sep, --encoding, --decimal, --date-order) or lower --min-accepted-share"
    )
    raise IngestError(" ".join(parts[:-1]) + "; " + parts[-1])


def _ingest_files(
    table: str,
    files: Files,
    mapping: ColumnMapping,
    known: _KnownCustomers | None,
    log,
    strict_values: bool,
    latest: pd.Timestamp | None,
    per_file: list[TableReport] | None = None,
    origins: dict[str, str | None] | None = None,
    day_first: bool | None = None,
) -> _Table:
    """One table from one or several export files; each file's report is added to ``per_file``.
    With ``origins`` each accepted row carries its file (column ``EXPORT_FILE``) and each file
    is recorded there with its ``files:`` section.

    A file whose ``a/b/yyyy`` dates fit both orders (a weekly export of the 1st to the 7th) is
    read in the order the other files of this table, and ``day_first`` (the tables read before),
    told, when they agree; it is reported once that is known."""
    from features.export_files import order_warnings

    paths = _paths(table, files)
    several = table == CUSTOMERS and len(paths) > 1  # each may lack a carried column
    parts: list[_Table] = []
    undecided: list[tuple[int, Path, SourceFile, FileMapping]] = []  # order assumed: read again
    for path in paths:
        log(f"{table}: reading {path} ...")
        file_mapping = mapping.for_file(path)
        try:
            source = read_source(path, file_mapping.encoding, file_mapping.sep, file_mapping.sheet)
        except EmptyExport as exc:  # a week without orders among several exports: not an error
            if len(paths) == 1 or (path == paths[-1] and not parts):
                raise
            log(f"{table}: warning: {exc}; skipped, the other files are read")
            continue
        log(f"{table}: {len(source.frame):,} rows read ({', '.join(source_formats(source))})")
        part = _build_table(
            table, source, file_mapping, known, strict_values, latest, several=several
        )
        if origins is not None:
            origins[str(path.absolute())] = mapping.section_for(path)
            part = _with_file(part, path)
        parts.append(part)
        if part.order_assumed:
            undecided.append((len(parts) - 1, path, source, file_mapping))
            log(f"{table}: {path.name}: dates fit both dd/mm and mm/dd; read once all are read")
            continue
        log_report(parts[-1].report, log)
    told = _told_order([*(p.report.day_first for p in parts), day_first])
    for i, path, source, file_mapping in undecided:
        if told is not None:
            part = _build_table(
                table,
                source,
                file_mapping,
                known,
                strict_values,
                latest,
                told,
                several=several,
            )
            parts[i] = _with_file(part, path) if origins is not None else part
        log(f"{table}: {path.name}:")
        log_report(parts[i].report, log)
    if per_file is not None:
        per_file += [p.report for p in parts]
    if table == CUSTOMERS:
        _carried_somewhere(parts, mapping, paths)
    if len(parts) == 1:
        return parts[0]
    numberings, apart = _order_numberings(table, parts, mapping)
    currency, currencies = _table_currency(parts)
    combined = _combined(table, parts, numberings, currency)
    if origins is not None and table == CUSTOMERS:  # each file listing the customer, its own last
        listed = pd.concat([p.accepted[["customer_id", EXPORT_FILE]] for p in parts])
        listed = listed.drop_duplicates()
        last = combined.accepted[["customer_id", EXPORT_FILE]]
        listed = pd.concat(
            [
                listed.merge(last, how="left", indicator=True).query("_merge == 'left_only'")[
                    ["customer_id", EXPORT_FILE]
                ],
                last,
            ]
        )
        files = listed.groupby("customer_id", sort=False)[EXPORT_FILE].agg(EXPORT_FILES_SEP.join)
        accepted = combined.accepted.assign(
            **{EXPORT_FILE: combined.accepted["customer_id"].map(files)}
        )
        combined = replace(combined, accepted=accepted)
    r = combined.report
    # files of one section (exports of one tool) numbering orders as one: store 01's repair
    # orders are not "deleted in the CRM since" from store 02's export
    sources: dict[tuple[str | None, str | None], list[_Table]] = {}
    for i, part in enumerate(parts):
        section = mapping.section_for(Path(part.report.source_file))
        sources.setdefault((section, numberings[i] if numberings else None), []).append(part)
    for same in sources.values():
        names = [Path(p.report.source_file).name for p in same]
        for warning in order_warnings(
            table,
            [p.accepted for p in same],
            names,
            [p.cancelled_orders for p in same],
            [p.unread_orders for p in same],
        ):
            r.warnings.append(warning)
            log(f"{table}: warning: {warning}")
    if table == TRANSACTIONS:
        unmarked = _unmarked_files(parts)
        for said in (apart, _orders_of_two_tools(parts, mapping, numberings), currencies, unmarked):
            if said:
                r.warnings.append(said)
                log(f"{table}: warning: {said}")
    if table == CUSTOMERS and (shared := _ids_of_two_people(parts)):
        r.warnings.append(shared)
        log(f"{table}: warning: {shared}")
    for column, (key, _) in CARRIED.items():
        if key in r.formats:
            log(f"{table}: {column}: {r.formats[key]}")
    if SIGNUPS_KEPT in r.formats:
        log(f"{table}: signup_at: {r.formats[SIGNUPS_KEPT]}")
    detail = ", ".join(f"{k}: {v:,}" for k, v in sorted(r.reasons.items())) or "none"
    log(
        f"{table}: {len(parts)} files together: {r.rows_read:,} rows read, {r.accepted:,} "
        f"accepted, {r.quarantined:,} quarantined [{detail}]"
    )
    return combined


def _order_numberings(
    table: str, parts: list[_Table], mapping: ColumnMapping
) -> tuple[list[str] | None, str | None]:
    """:func:`features.export_files.order_numberings` of the files' accepted rows."""
    from features.export_files import order_numberings

    if table != TRANSACTIONS:
        return None, None
    paths = [Path(p.report.source_file) for p in parts]
    return order_numberings(
        [p.accepted for p in parts],
        [path.name for path in paths],
        [mapping.section_for(path) for path in paths],
    )


def _orders_of_two_tools(
    parts: list[_Table], mapping: ColumnMapping, numberings: list[str] | None
) -> str | None:
    """:func:`features.export_files.orders_of_two_tools` of the files' accepted rows."""
    from features.export_files import orders_of_two_tools

    paths = [Path(p.report.source_file) for p in parts]
    return orders_of_two_tools(
        [p.accepted for p in parts],
        [path.name for path in paths],
        [mapping.section_for(path) for path in paths],
        [p.voided_orders for p in parts],
        numberings,
    )


def _paths(table: str, files: Files) -> list[Path]:
    """A table's export files, patterns expanded (:func:`features.export_files.expand_files`)."""
    from features.export_files import expand_files

    return expand_files([files] if isinstance(files, str | Path) else files, f"--{table}")


def _combined(
    table: str,
    parts: list[_Table],
    numberings: list[str] | None = None,
    currency: str | None = None,
) -> _Table:
    """Several files' validated rows as one table: rows a later file replaces are quarantined
    (:func:`features.export_files.replaced_by_later_files`, order ids keyed by ``numberings``),
    as are those of a file in another ``currency`` than the table's; counts and formats are
    summed."""
    from features.export_files import replaced_by_later_files

    reasons = replaced_by_later_files(
        table,
        [p.accepted for p in parts],
        [p.cancelled_orders for p in parts],
        [p.refund_orders for p in parts],
        [p.voided_orders for p in parts],
        numberings,
    )
    for part, reason in zip(parts, reasons, strict=True):
        if currency and part.currency not in (None, currency):
            reason[pd.isna(reason)] = f"currency is not {currency}"
    report = TableReport(table=table, source_file=", ".join(p.report.source_file for p in parts))
    merges = _merges_across_files(parts, reasons, report) if table == CUSTOMERS else {}
    if table == CUSTOMERS:
        for column in CARRIED:
            _carry_across_files(parts, report, column)
    accepted, quarantined = [], []
    for part, reason in zip(parts, reasons, strict=True):
        gone = pd.notna(reason)
        accepted.append(part.accepted.loc[~gone])
        quarantined.append(part.quarantined)
        if gone.any():
            quarantined.append(
                quarantine_rows(
                    part.accepted.loc[gone]
                    .drop(columns=EXPORT_FILE, errors="ignore")
                    .astype("string"),
                    part.report.source_file,
                    part.rows[gone],
                    reason[gone],
                    part.lines[gone],
                )
            )
        _add_counts(report, part.report, reason[gone])
    report.accepted = sum(len(a) for a in accepted)
    report.quarantined = report.rows_read - report.accepted
    report.day_first = _told_order(p.report.day_first for p in parts)
    kept = pd.concat(accepted, ignore_index=True)
    if table == CUSTOMERS:
        _earliest_signups(kept, parts, report)
    dropped = frozenset().union(*(p.quarantined_ids for p in parts))
    kept_ids = frozenset(kept["customer_id"].dropna())
    return _Table(
        kept,
        pd.concat(quarantined, ignore_index=True),
        report,
        dropped - kept_ids - frozenset(merges),
        frozenset().union(*(p.excluded_ids for p in parts)) - kept_ids,
        email_column=next((p.email_column for p in parts if p.email_column), None),
        aliases=_combined_aliases(parts, report, merges),
        alias_column=next((p.alias_column for p in parts if p.alias_column), None),
        other_ids={
            name: np.unique(
                np.concatenate([p.other_ids[name] for p in parts if name in p.other_ids])
            )
            for name in {n for p in parts for n in p.other_ids}
        },
    )


#: The share of the ids two customers files both list whose e-mail differs from which they are
#: taken for two tools' numberings (one CRM exported twice: a few customers changed address).
SHARED_ID_SHARE = 0.25


def _ids_of_two_people(parts: list[_Table]) -> str | None:
    """A warning naming the customer ids two customers files list with different e-mail
    addresses (``customers.customer_email``): two tools numbering their customers alike (a
    Magento id 158 and a BigCommerce id 158), not one customer's record updated; the later
    record replaced the earlier one."""
    having = [p for p in parts if CUSTOMER_EMAIL in p.accepted.columns]
    if len(having) < 2:
        return None
    emails = pd.concat(
        [
            p.accepted[["customer_id", CUSTOMER_EMAIL]].assign(
                file=Path(p.report.source_file).name,
                email=p.accepted[CUSTOMER_EMAIL].astype("string").str.strip().str.casefold(),
            )
            for p in having
        ]
    ).dropna(subset=["customer_id", "email"])
    emails = emails[emails["email"] != ""]
    listed = emails.drop_duplicates(["customer_id", "file"])
    shared = listed["customer_id"][listed.duplicated("customer_id")].nunique()
    emails = emails.drop_duplicates(["customer_id", "email"])
    apart = emails[emails.duplicated("customer_id", keep=False)]
    if apart.empty or apart["customer_id"].nunique() < SHARED_ID_SHARE * shared:
        return None  # a customer who changed address between two exports of one CRM
    first = apart[apart["customer_id"] == apart["customer_id"].iloc[0]]
    example = ", ".join(f"{e} in {f}" for e, f in zip(first["email"], first["file"], strict=True))
    n = apart["customer_id"].nunique()
    return (
        f"{n:,} customer ids are listed by two customers files with different e-mail addresses "
        f"(e.g. {str(first['customer_id'].iloc[0])!r}: {example}): two tools numbering their "
        "customers alike, not one customer's record updated; the later record replaced the "
        "earlier one and their orders are one customer's; key the files by the e-mail "
        "instead (customer_id=<the e-mail column> in each file's files: section)"
    )


#: ``TableReport.formats`` key of the sign-up dates :func:`_earliest_signups` moved.
SIGNUPS_KEPT = "signup_at across files"


def _earliest_signups(kept: pd.DataFrame, parts: list[_Table], report: TableReport) -> None:
    """A customer several customers files list keeps the earliest ``signup_at`` of their
    records: the latest record replaced the others, and a platform migration's record carries
    the import day (every migrated customer signed up on it, a customer of years new)."""
    if len(parts) < 2 or "signup_at" not in kept.columns or kept.empty:
        return
    every = pd.concat([p.accepted[["customer_id", "signup_at"]] for p in parts])
    first = every.dropna().groupby("customer_id")["signup_at"].min()
    earlier = kept["customer_id"].map(first)
    moved = (earlier < kept["signup_at"]).fillna(False).to_numpy(dtype=bool)
    if moved.any():
        kept.loc[moved, "signup_at"] = earlier[moved]
        report.formats[SIGNUPS_KEPT] = (
            f"{int(moved.sum()):,} customers listed by several files keep the earliest signup_at "
            "of their records (the record kept, of a later file, had a later one: a migration's "
            "import day)"
        )


def _table_currency(parts: list[_Table]) -> tuple[str | None, str | None]:
    """One currency per table, as per file (:func:`_check_currency`): when the files' amounts
    are kept in different currencies, the one of most rows (the rows of the others are
    quarantined) and a warning with each file's; (None, None) otherwise."""
    rows: Counter[str] = Counter()
    for part in parts:
        if part.currency:
            rows[part.currency] += len(part.accepted)
    if len(rows) < 2:
        return None, None
    kept = rows.most_common(1)[0][0]
    each = ", ".join(
        f"{Path(p.report.source_file).name} {p.currency} {len(p.accepted):,}"
        for p in parts
        if p.currency
    )
    return kept, f"amounts in several currencies across files ({each}); kept {kept}, " + (
        OTHER_CURRENCIES
    )


#: An unmarked file's median amount this many times the marked files' (or its inverse) is
#: taken for money in another currency: the dong or the rupiah beside the baht are 100-1,000x
#: apart, a shop's online orders and its till's tickets in one currency 15x.
UNMARKED_RATIO = 50.0


def _unmarked_files(parts: list[_Table]) -> str | None:
    """A warning naming the files whose amounts carry no currency (no mark, no column, no
    ``currency:``) beside files that do, when their median amount is far from those files'
    (a Lazada export in baht beside Shopee's ``1.234.000 ₫``: added as dong, silently)."""
    marked = [p for p in parts if p.currency and len(p.accepted)]
    if not marked:
        return None
    known = pd.concat([p.accepted["amount"] for p in marked]).abs().median()
    far = []
    for part in parts:
        if part.currency or not len(part.accepted) or not known > 0:
            continue
        median = float(part.accepted["amount"].abs().median())
        if median > 0 and max(median / known, known / median) >= UNMARKED_RATIO:
            far.append(f"{Path(part.report.source_file).name} (median {median:,.2f})")
    if not far:
        return None
    currency = "/".join(sorted({str(p.currency) for p in marked}))
    return (
        f"{', '.join(far)} carry no currency, beside files in {currency} (median "
        f"{known:,.2f}): their amounts were read as {currency}; if they are in another "
        "currency, give it in the map file (files: {<file>: {currency: THB}}) or "
        "currency_rates"
    )


def _merges_across_files(
    parts: list[_Table], reasons: list[np.ndarray], report: TableReport
) -> dict[str, str]:
    """Merges the customers files ask for, across files: the latest file listing an id says
    whether it is merged (a June export merging a card a January export still lists), and a
    survivor may be in another file (a delta export merging into a card of the full one). The
    accepted records of merged ids get ``reasons`` :data:`MERGED`; returns surviving id by
    merged id (the chains followed)."""
    if not any(p.merge_requests for p in parts):
        return {}
    step: dict[str, str] = {}
    for part in parts:
        for listed in (*part.accepted["customer_id"].dropna(), *part.merge_requests):
            step.pop(str(listed), None)
        step.update(part.merge_requests)
    kept = {
        str(i)
        for part, reason in zip(parts, reasons, strict=True)
        for i in part.accepted["customer_id"][pd.isna(reason)].dropna()
    }
    merges, lost = resolve_merges(step, kept - set(step))
    for part, reason in zip(parts, reasons, strict=True):
        hit = part.accepted["customer_id"].isin(merges).to_numpy() & pd.isna(reason)
        reason[hit] = MERGED
    if lost:
        report.warnings.append(lost)
    return merges


#: ``TableReport.formats`` keys of the ends and flags :func:`_carry_across_files` kept.
ENDS_CARRIED = "ended_at across files"
FLAGS_CARRIED = "do_not_contact across files"
#: What each contact flag says of the customers flagged, in the ingest report.
FLAG_WORDS = {
    DO_NOT_CONTACT: "not to be contacted",
    DO_NOT_EMAIL: "not to be emailed",
    DO_NOT_CALL: "not to be called",
}
#: The customers columns a file without them takes from the files with them: its key in
#: ``TableReport.formats`` and what the carried values are.
CARRIED = {
    ENDED_AT: (ENDS_CARRIED, "end dates"),
    DO_NOT_CONTACT: (FLAGS_CARRIED, "do-not-contact flags"),
    DO_NOT_EMAIL: ("do_not_email across files", "do-not-email flags"),
    DO_NOT_CALL: ("do_not_call across files", "do-not-call flags"),
}


def _carried_somewhere(parts: list[_Table], mapping: ColumnMapping, paths: list[Path]) -> None:
    """``IngestError`` when a column mapped to an end or contact flag is in none of several
    customers files (each may lack it: :func:`_inputs`): a name mistyped, not a file without."""
    for column in CARRIED:
        mapped = {mapping.for_file(p).source_for(CUSTOMERS, column) for p in paths} - {None}
        if mapped and len(parts) > 1 and not any(column in p.accepted.columns for p in parts):
            names = ", ".join(sorted(repr(str(m)) for m in mapped))
            raise IngestError(
                f"{', '.join(p.name for p in paths)}: column {names} (mapped to "
                f"customers.{column}) is in none of the customers files"
            )


def _carry_across_files(parts: list[_Table], report: TableReport, column: str) -> None:
    """A customers file without ``column`` (a contact list beside the membership export, without
    its ``ended_at`` or ``do_not_contact``) keeps the value an earlier or later file gives its
    customers (the latest file with the column wins): its record replaced the other's and would
    have blanked the end, or dropped the flag."""
    having = [p.accepted for p in parts if column in p.accepted.columns]
    if not having or len(having) == len(parts):
        return
    known = pd.concat([a[["customer_id", column]] for a in having])
    known = known.drop_duplicates("customer_id", keep="last").set_index("customer_id")[column]
    carried = 0
    for part in parts:
        if column not in part.accepted.columns:
            values = part.accepted["customer_id"].map(known)
            part.accepted[column] = values
            given = values.eq(True) if column in CONTACT_FLAGS else values.notna()
            carried += int(given.sum())
    if carried:
        key, what = CARRIED[column]
        report.formats[key] = (
            f"{carried:,} customers' {what} taken from the customers file that has the column "
            "(a file without it does not blank them)"
        )


def _combined_aliases(
    parts: list[_Table], report: TableReport, merges: dict[str, str] | None = None
) -> pd.Series | None:
    """The customers files' aliases as one index: a later file's record of an alias wins, as its
    customer records do; an alias two files give to different customers is warned of; a merged
    record's id (``merges``) names its survivor."""
    indexes = [p.aliases for p in parts if p.aliases is not None]
    if merges:
        indexes.append(pd.Series(merges, dtype="string"))
    if not indexes:
        return None
    both = pd.concat(indexes)
    pairs = pd.DataFrame({"alias": both.index, "id": both.to_numpy()}).drop_duplicates()
    if (moved := pairs["alias"].duplicated(keep=False)).any():
        first = pairs[moved].iloc[0]["alias"]
        report.warnings.append(
            f"{pairs.loc[moved, 'alias'].nunique():,} customer_alias values name different "
            f"customers in different customers files (e.g. {first!r}): the later file's is used"
        )
    return both[~both.index.duplicated(keep="last")]


def _add_counts(total: TableReport, one: TableReport, replaced: np.ndarray) -> None:
    """Add one file's report (and its rows a later file replaces) to the table's."""
    name = Path(one.source_file).name
    total.rows_read += one.rows_read
    for reason, n in one.reasons.items():
        total.reasons[reason] = total.reasons.get(reason, 0) + n
        total.samples.setdefault(reason, f"{name} {one.samples.get(reason, '')}".strip())
    for reason, n in pd.Series(replaced, dtype="object").value_counts().items():
        total.reasons[str(reason)] = total.reasons.get(str(reason), 0) + int(n)
        total.samples.setdefault(str(reason), name)
    for key, value in one.formats.items():
        seen = total.formats.get(key)
        total.formats[key] = value if seen in (None, value) else f"{seen} | {value}"
    if one.date_format and total.date_format not in (None, one.date_format):
        total.date_format = f"{total.date_format} | {one.date_format}"
    else:
        total.date_format = one.date_format or total.date_format
    total.warnings += [f"{name}: {w}" for w in one.warnings]
    for counts, more in ((total.currencies, one.currencies), (total.event_types, one.event_types)):
        for key, n in more.items():
            counts[key] = counts.get(key, 0) + n
    for key, amount in one.quarantined_amount.items():
        total.quarantined_amount[key] = round(total.quarantined_amount.get(key, 0.0) + amount, 2)
    total.value_mapping += [m for m in one.value_mapping if m not in total.value_mapping]
    total.unmapped += one.unmapped


def source_formats(source: SourceFile) -> list[str]:
    """How a source file was read, for the progress log."""
    return [f"encoding {source.encoding}" if source.encoding else source.kind, *source.notes]


def _told_order(orders: Iterable[bool | None]) -> bool | None:
    """The day/month order these tables or files told (None: not told), if they agree (None
    otherwise)."""
    told = {o for o in orders if o is not None}
    return told.pop() if len(told) == 1 else None


def _with_file(part: _Table, path: Path) -> _Table:
    """``part`` with its accepted rows naming their file (``EXPORT_FILE``)."""
    return replace(part, accepted=part.accepted.assign(**{EXPORT_FILE: str(path.absolute())}))


def log_report(report: TableReport, log) -> None:
    """The progress lines of one validated table: formats found, warnings, counts per reason."""
    t = report.table
    if "numbers" in report.formats:
        money = (
            ", currencies " + ", ".join(f"{k} {v:,}" for k, v in report.currencies.items())
            if report.currencies
            else ""
        )
        log(f"{t}: numbers: {report.formats['numbers']}{money}")
    if report.date_format:
        log(f"{t}: dates: {report.date_format}")
    if "status" in report.formats:
        log(f"{t}: status: {report.formats['status']}")
    for key in (
        "customer_id",
        GROUPED,
        *ID_FORMS,
        CUSTOMER_ALIAS,
        CUSTOMER_EMAIL,
        MERGED_INTO,
        "exclude",
        "amount",
        YEN,
        "currency_rates",
        "credit notes",
        REFUNDED_AMOUNT,
        ENDED_AT,
        *CONTACT_FLAGS,
    ):
        if key in report.formats:
            log(f"{t}: {key}: {report.formats[key]}")
    for warning in report.warnings:
        log(f"{t}: warning: {warning}")
    if report.event_types:
        log(f"{t}: event_type: " + ", ".join(f"{k} {v:,}" for k, v in report.event_types.items()))
    if report.unmapped:
        log(
            f"{t}: {len(report.unmapped)} source event types matched no contract type and "
            + (
                "were quarantined (--strict-values):"
                if UNMAPPED in report.reasons
                else "landed in other:"
            )
        )
        for item in report.unmapped:
            log(f"  {item['source']!r} x {item['rows']:,}: {item['hint']}")
    detail = ", ".join(f"{k}: {v:,}" for k, v in sorted(report.reasons.items())) or "none"
    log(f"{t}: {report.accepted:,} accepted, {report.quarantined:,} quarantined [{detail}]")
    if report.quarantined_amount:
        amounts = ", ".join(f"{k}: {v:,.2f}" for k, v in sorted(report.quarantined_amount.items()))
        log(f"{t}: amount in the quarantined rows [{amounts}]")
