"""The source columns a table's contract columns are read from: by the map file's name or the
contract's, loosely matched (case, width, spacing), a ``=VALUE`` constant, or a clear error
naming the column missing and the closest one the file has."""

from __future__ import annotations

import functools
import re
from pathlib import Path

import pandas as pd

from features.combined_files import CARRIED
from features.contract import CONTRACT, CUSTOMERS, EVENTS, TIME_COLUMN, TRANSACTIONS
from features.customer_emails import CUSTOMER_EMAIL, email_column
from features.customer_ids import CUSTOMER_ALIAS, MERGED_INTO
from features.customer_status import CUSTOMER_STATUS
from features.dates import TZ_ABBREVIATIONS
from features.header_names import REPEATED, fold_name
from features.mapping import DERIVED_INPUTS, FileMapping, IngestError
from features.payment_status import payment_status_column, payment_status_read
from features.refunds import NO_REFUND, REFUNDED_AMOUNT, REFUNDED_AMOUNT_NAMES, REFUNDED_AT
from features.terms import TERM_DAYS, TERM_MONTHS


def find_column(frame: pd.DataFrame, name: str, timed: bool | None = None) -> str | None:
    """A source column by exact name, else by loose name (case, width, spacing), else with
    spaces, underscores and hyphens ignored ("CustomerID" for "Customer ID"), else with a
    trailing zone ignored ("Ended At (UTC)" for "ended_at"), when unique. A zone other than
    UTC's is ignored only for a time (``timed``; by default a contract time column's name):
    after another column, ``(PST)`` and ``(HST)`` are Canada's sales taxes."""
    if name in frame.columns:
        return name
    zoned = name in _time_columns() if timed is None else timed
    for fold in (fold_name, bare_name, _zoneless_name if zoned else _utcless_name):
        loose = [c for c in frame.columns if fold(str(c)) == fold(name)]
        if len(loose) == 1:
            return loose[0]
    return None


def bare_name(name: str) -> str:
    return re.sub(r"[\s_\-]+", "", fold_name(name))


#: A column name's trailing time zone, in a bare name (Stripe's ``Created (UTC)``, ``Created
#: (UTC+8)``, ``Date (PST)``): read by :data:`features.dates.ZONE_SUFFIX`.
UTC_SUFFIX = re.compile(
    r"\((?:(?:utc|gmt)\+?(?:\d{1,2}(?::?\d{2})?)?|"
    + "|".join(z.lower() for z in TZ_ABBREVIATIONS)
    + r")\)$"
)


def _zoneless_name(name: str) -> str:
    return UTC_SUFFIX.sub("", bare_name(name))


#: The zone a column's name may give whatever it holds (ingest's own, ``Amount (UTC)``).
_UTC_ONLY = re.compile(r"\((?:utc|gmt)\)$")


def _utcless_name(name: str) -> str:
    return _UTC_ONLY.sub("", bare_name(name))


@functools.cache
def _time_columns() -> frozenset[str]:
    """The contract's time columns (``ordered_at``, ``signup_at`` ...)."""
    return frozenset(c.name for cols in CONTRACT.values() for c in cols if c.dtype == "timestamp")


#: When the record was made: a customer's sign-up, a payment's or event's time (Stripe's
#: ``Created (UTC)``, a help desk's ``Created at``); bare names.
CREATED = ("created", "createdat", "createddate", "datecreated", "createdon")
#: An event's time as engagement tools name it, looked for where no :data:`CREATED` column is: a
#: newsletter's or tracking feed's ``Timestamp`` (Klaviyo, Mailchimp, Segment), a help desk's
#: ``Created time`` (Freshdesk), a chat's ``Conversation started at`` (Intercom), a survey's
#: ``Submitted At`` or ``Submit Date (UTC)`` (Typeform); bare names.
EVENT_TIMES = (
    "createdtime",
    "timestamp",
    "eventtime",
    "conversationstartedat",
    "submittedat",
    "submitdate",
)
#: Names (bare, a trailing "(UTC)" ignored) exports give a contract column the file has no column
#: of by its own name, in tiers tried in turn (a later tier only where an earlier one names no
#: column): a customers export's own ``id`` is the customer's (Stripe, Paddle), a payments or
#: orders export's the row's charge or order (never a customer's: payments name theirs
#: ``Customer ID``).
OTHER_NAMES: dict[str, dict[str, tuple[tuple[str, ...], ...]]] = {
    CUSTOMERS: {"customer_id": (("id",),), "signup_at": (CREATED,)},
    TRANSACTIONS: {"order_id": (("id",),), "ordered_at": (CREATED,)},
    EVENTS: {"occurred_at": (CREATED, EVENT_TIMES)},
}


#: Names (bare) of the day a CRM's deal closes (Salesforce's ``CloseDate``, HubSpot's ``Close
#: Date``, Zoho's ``Closing Date``, Pipedrive's ``Won time``): a file with one is of deals,
#: opened weeks or months before they are won, and its ``Created`` is no sale's time.
DEAL_CLOSE_NAMES = frozenset(
    {"closedate", "closingdate", "expectedclosedate", "wontime", "wondate"}
)


def other_named_column(frame: pd.DataFrame, table: str, column: str, taken: set) -> str | None:
    """The one source column of ``column``'s other names (:data:`OTHER_NAMES`) that no
    contract column reads already (``taken``), or None (a deals file's ``Created`` for
    ``ordered_at``: :data:`DEAL_CLOSE_NAMES`)."""
    if column == TIME_COLUMN[TRANSACTIONS] and any(
        bare_name(str(c)) in DEAL_CLOSE_NAMES for c in frame.columns
    ):
        return None
    for names in OTHER_NAMES.get(table, {}).get(column, ()):
        found = [c for c in frame.columns if c not in taken and _zoneless_name(str(c)) in names]
        if found:
            return found[0] if len(found) == 1 else None
    return None


def other_names_read(
    frame: pd.DataFrame, table: str, inputs: dict[str, pd.Series], mapping: FileMapping
) -> str | None:
    """The report's line of the contract columns read from a column of another name
    (``customer_id from 'id'``) or, unmapped, of one read only where a map names it elsewhere
    (a payments export's ``Amount Refunded``), or None."""
    said = [
        f"{name} from {series.name!r}"
        for name, series in inputs.items()
        if read_by_other_name(frame, table, name, series, mapping)
        or (
            name in READ_UNMAPPED
            and mapping.source_for(table, name) is None
            and series.name in frame.columns
        )
    ]
    line = ", ".join(said) + " (known export names; --map says otherwise)" if said else None
    if table == TRANSACTIONS and "status" in inputs and mapping.source_for(table, "status") is None:
        return "; ".join(filter(None, [line, payment_status_read(inputs["status"])]))
    return line


def read_by_other_name(
    frame: pd.DataFrame, table: str, name: str, series: pd.Series, mapping: FileMapping
) -> bool:
    """Whether ``series``, read for contract column ``name``, is a column of another name
    (:data:`OTHER_NAMES`), not mapped."""
    return (
        mapping.source_for(table, name) is None
        and series.name in frame.columns
        and find_column(frame, name) != series.name
    )


def record_date_column(
    frame: pd.DataFrame, inputs: dict[str, pd.Series], mapping: FileMapping
) -> str | None:
    """The column a customers file's ``signup_at`` was read from when it is the record's
    creation date (:data:`CREATED`: neither mapped nor so named), else None: the day the record
    was made (a move into a CRM, an import), which may be long after the customer started."""
    signup = inputs.get("signup_at")
    if signup is None or not read_by_other_name(frame, CUSTOMERS, "signup_at", signup, mapping):
        return None
    return str(signup.name)


#: Optional columns read only where mapped, but for a column of these names (a payments export's).
READ_UNMAPPED = (REFUNDED_AMOUNT,)


def _refunded_amount_column(
    frame: pd.DataFrame, taken: set, amount: str | None = None
) -> str | None:
    """The one column named like a payment's money given back that nothing reads and whose every
    cell is blank, a dash or a number (with a digit): the refund of the ``amount`` column read
    (Stripe's ``Converted Amount Refunded`` of a ``Converted Amount``, in the account's currency,
    not the charge's ``Amount Refunded``), else one of :data:`REFUNDED_AMOUNT_NAMES`."""
    own = bare_name(amount) if amount is not None else "amount"
    for names in ({f"{own}refunded", f"refunded{own}"}, REFUNDED_AMOUNT_NAMES):
        named = [c for c in frame.columns if c not in taken and bare_name(str(c)) in names]
        if named:
            break
    if len(named) != 1:
        return None
    cells = frame[named[0]].astype("string").str.strip()
    cells = cells[cells.notna() & (cells != "") & ~cells.isin(NO_REFUND)]
    return named[0] if cells.str.contains(r"\d", regex=True).all() else None


def _taken_columns(frame: pd.DataFrame, table: str, mapping: FileMapping) -> set:
    """The source columns a table's contract columns and inputs read by map or own name."""
    targets = [c.name for c in CONTRACT[table]] + list(DERIVED_INPUTS.get(table, ()))
    found = (
        find_column(frame, mapping.source_for(table, t) or t, t in _time_columns()) for t in targets
    )
    return {c for c in found if c is not None}


def did_you_mean(frame: pd.DataFrame, name: str) -> str:
    """ " (did you mean 'Customer ID'?)" for the closest column name, or ""."""
    close = closest_column(frame, name, list(frame.columns))
    return f" (did you mean {close!r}?)" if close else ""


def closest_column(frame: pd.DataFrame, name: str, candidates: list) -> str | None:
    """The column of ``candidates`` whose name is closest to ``name``, or None."""
    import difflib

    names = {bare_name(str(c)): str(c) for c in candidates}
    close = difflib.get_close_matches(bare_name(name), list(names), n=1, cutoff=0.6)
    return names[close[0]] if close else None


#: Words of a column name that holds a date or time (``Order Date``, ``Event Time``).
DATE_WORDS = ("date", "time", "day", "日期", "时间", "時間")


def suggested_column(frame: pd.DataFrame, table: str, column: str, free: list) -> str | None:
    """The column of ``free`` (read by no contract column) a missing ``column`` most likely is:
    the closest by name, else for a time the one column named like a date, for a number (an
    amount) the one column of decimal numbers (``Total``: ``12.50``), else None. An id is
    never a name's column (:func:`_named_for_people`)."""
    if column.endswith("_id"):
        free = [c for c in free if not _named_for_people(str(c))]
    if close := closest_column(frame, column, free):
        return close
    kind = {c.name: c.dtype for c in CONTRACT[table]}.get(column)
    if kind == "timestamp":
        named = [c for c in free if any(w in fold_name(str(c)) for w in DATE_WORDS)]
        named = named or [c for c in free if _dated(frame[c])]
    elif column == "event_type":
        named = [c for c in free if any(w in fold_name(str(c)) for w in EVENT_TYPE_WORDS)]
    elif kind == "float":
        named = [c for c in free if _decimal_numbers(frame[c])]
    else:
        return None
    return str(named[0]) if len(named) == 1 else None


#: Column names (bare) ending in "name" that are unique logins, not a person's or firm's name.
LOGIN_NAMES = ("username", "loginname", "screenname", "accountusername")


def _named_for_people(column: str) -> bool:
    """Whether a column's name says it holds names (``Customer Name``, ``姓名``): names repeat
    (two Ana Lees), so a map reading them as an id would merge customers without a word."""
    name = bare_name(column)
    return name.endswith(("name", "姓名", "名称", "名字")) and name not in LOGIN_NAMES


#: Words of a column name that holds an event's type (Klaviyo's ``Metric Name``, ``Activity``).
EVENT_TYPE_WORDS = ("type", "event", "metric", "activity", "action")


def _dated(values: pd.Series) -> bool:
    """Whether the filled cells all hold a date (``2024-03-05``, ``05/03/2024``)."""
    text = values.astype("string").str.strip().dropna()
    text = text[text != ""].head(200)
    date = r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}"
    return bool(len(text)) and bool(text.str.contains(date, regex=True).all())


def _decimal_numbers(values: pd.Series) -> bool:
    """Whether the filled cells are numbers, some with a fraction (``12.50``, ``$1,234.56``)."""
    text = values.astype("string").str.strip().dropna()
    text = text[text != ""].head(200)
    plain = text.str.replace(r"[^\d.,\-]", "", regex=True)
    return bool(len(text)) and bool(
        plain.str.fullmatch(r"-?[\d,]*\d[.,]\d{1,2}|-?[\d,]*\d").all()
        and plain.str.contains(r"[.,]\d{1,2}$", regex=True).any()
    )


class MissingColumn(IngestError):
    """A required contract column the file has no column of."""


def missing_columns_error(
    frame: pd.DataFrame, path: Path, table: str, columns: list[str], taken: set
) -> MissingColumn:
    """One line naming every required contract column of ``table`` the file has no column of,
    each with the column it most likely is, and the map that reads them."""
    free = [c for c in frame.columns if c not in taken]
    said, pairs = [], []
    # a tool that names people by address (Zendesk, Klaviyo): its id is no column to suggest
    at = email_column(frame, set()) if table != CUSTOMERS and "customer_id" in columns else None
    for column in columns:
        guess = suggested_column(frame, table, column, free)
        if guess is not None:
            free.remove(guess)
        said.append(f"{table}.{column}" + (f" (did you mean {guess!r}?)" if guess else ""))
        if column != "customer_id" or at is None:
            pairs.append(f"{column}={guess or '<Source Column>'}")
    hints = [f'add a mapping like --map "{",".join(pairs)}"'] if pairs else []
    if at is not None:
        hints.append(
            f"its column {at!r} holds e-mail addresses: where the address is the customer's "
            f'id (no customers file, or one keyed by it), map --map "{table}.customer_id='
            f'{at}"; to find the customers of a customers file keyed by another id by them, '
            f'map --map "{table}.customer_email={at}" with the customers file\'s '
            "customers.customer_email"
        )
    plural = "s" if len(columns) > 1 else ""
    return MissingColumn(
        f"{path}: no column for required contract column{plural} {', '.join(said)}; "
        f"{'; '.join(hints)}; columns in the file: {list(frame.columns)}"
    )


def _source_column(
    frame: pd.DataFrame,
    path: Path,
    table: str,
    column: str,
    mapping: FileMapping,
    required: bool,
    taken: set | None = None,
) -> pd.Series | None:
    """The source values for a contract column, or a clear error when a required one is missing;
    with ``taken`` (the columns read otherwise), a column of its other names when unmapped."""
    mapped = mapping.source_for(table, column)
    found = find_column(frame, mapped or column, column in _time_columns())
    if found is None and mapped is None and taken is not None:
        found = other_named_column(frame, table, column, taken)
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
            f"{did_you_mean(frame, mapped)}; columns in the file: {list(frame.columns)}"
        )
    if required:
        raise missing_columns_error(frame, path, table, [column], taken or set())
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


def table_inputs(
    table: str, frame: pd.DataFrame, path: Path, mapping: FileMapping, several: bool = False
) -> dict[str, pd.Series]:
    """Source series per contract column (and derived input) of a table; of one of ``several``
    customers files, a mapped column ``CARRIED`` across files that this file lacks is left out."""
    found: dict[str, pd.Series] = {}
    taken = _taken_columns(frame, table, mapping)
    missing: list[str] = []
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
        try:
            series = _source_column(frame, path, table, col.name, mapping, required, taken)
        except MissingColumn:
            missing.append(col.name)  # named with the others the file lacks, in one error
            continue
        if series is not None:
            found[col.name] = series
            taken.add(series.name)
    if missing:
        raise missing_columns_error(frame, path, table, missing, taken)
    if table == CUSTOMERS and mapping.source_for(CUSTOMERS, CUSTOMER_STATUS) is not None:
        lacks = several and _lacks_mapped(frame, table, CUSTOMER_STATUS, mapping)
        status = _source_column(frame, path, table, CUSTOMER_STATUS, mapping, not lacks)
        if status is not None:
            found[CUSTOMER_STATUS] = status
    if table == TRANSACTIONS and mapping.source_for(TRANSACTIONS, "status") is not None:
        found["status"] = _source_column(frame, path, table, "status", mapping, required=True)
    elif table == TRANSACTIONS and (status := payment_status_column(frame, found)) is not None:
        found["status"] = frame[status]
    for term in (TERM_MONTHS, TERM_DAYS):
        if table == TRANSACTIONS and mapping.source_for(TRANSACTIONS, term) is not None:
            found[term] = _source_column(frame, path, table, term, mapping, True)
    if table == TRANSACTIONS and mapping.source_for(TRANSACTIONS, REFUNDED_AMOUNT) is not None:
        found[REFUNDED_AMOUNT] = _source_column(frame, path, table, REFUNDED_AMOUNT, mapping, True)
    elif table == TRANSACTIONS:
        read = {s.name for s in found.values()}
        amount = found.get("amount")
        refunds = _refunded_amount_column(frame, read, None if amount is None else str(amount.name))
        if refunds is not None:
            found[REFUNDED_AMOUNT] = frame[refunds]
    if table == TRANSACTIONS and mapping.source_for(TRANSACTIONS, REFUNDED_AT) is not None:
        found[REFUNDED_AT] = _source_column(frame, path, table, REFUNDED_AT, mapping, True)
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
    return (
        mapped is not None
        and not mapped.startswith(CONSTANT)
        and find_column(frame, mapped) is None
    )


def _unqualified_absent(frame: pd.DataFrame, table: str, column: str, mapping: FileMapping) -> bool:
    """Whether ``column`` is mapped only unqualified (for every table) to a source column this
    file does not have: such a mapping is not this file's."""
    mapped = mapping.source_for(table, column)
    return (
        mapped is not None
        and f"{table}.{column}" not in mapping.columns
        and find_column(frame, mapped) is None
    )
