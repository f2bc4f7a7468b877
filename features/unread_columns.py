"""Warnings of columns a file holds that nothing read: a look-alike of an optional contract column
left empty (an end date, an opt-out of email, a currency, an event count), and statuses or refund
flags of sales that were therefore counted as sales."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd

from features.contact_flags import NO_WORDS, YES_WORDS
from features.contract import (
    CONTRACT,
    CUSTOMERS,
    DO_NOT_EMAIL,
    ENDED_AT,
    EVENT_COUNT,
    EVENTS,
    TRANSACTIONS,
)
from features.customer_status import CUSTOMER_STATUS, ENDED
from features.customer_status import STATUS_SYNONYMS as CUSTOMER_STATUS_SYNONYMS
from features.date_columns import MIN_PARSABLE_SHARE
from features.mapping import FileMapping
from features.refunds import REFUNDED_AMOUNT, REFUNDED_AMOUNT_NAMES, REFUNDED_AT, refund_dates
from features.source_columns import bare_name
from features.values import STATUS_SYNONYMS, ValueMapping, invoiced_orders, map_values

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


#: Column names (bare) of the date a sale was refunded, blank when it was not (Teachable's
#: ``Refunded At``).
REFUND_DATE_NAMES = frozenset(
    {
        "refundedat",
        "refunddate",
        "refundedon",
        "refundeddate",
        "daterefunded",
        "refundedtime",
        "退款时间",
        "退款時間",
        "退款日期",
    }
)


#: Column names (bare) of money given back of a sale beside those read with no map
#: (``REFUNDED_AMOUNT_NAMES``): Shopline Taiwan's 已退款金額, WooCommerce's ``Order Refund Amount``.
REFUND_AMOUNT_NAMES = REFUNDED_AMOUNT_NAMES | frozenset(
    {
        "refundamount",
        "totalrefunded",
        "refundtotal",
        "orderrefundamount",
        "已退款金額",
        "已退款金额",
        "退款金額",
        "退款金额",
        "退款總額",
        "退款总额",
    }
)


def _unread_refund_amounts(frame: pd.DataFrame, used: set, sold: np.ndarray) -> list[str]:
    """A warning for an unread column of money given back beside the sale's amount (Shopline's
    已退款金額 of partial refunds): its sales were counted in full, unless the status read sets
    them aside already (``sold``: :func:`_sold`)."""
    for column in frame.columns:
        if column in used or bare_name(str(column)) not in REFUND_AMOUNT_NAMES:
            continue
        refunded = frame[column].astype("string").str.contains(r"[1-9]", regex=True)
        refunded = refunded.fillna(False).to_numpy(dtype=bool) & sold
        if refunded.any():
            return [
                f"column {column!r}, not read, gives refunds on {int(refunded.sum()):,} rows: "
                "they were counted as sales in full; map it with --map "
                f'"transactions.{REFUNDED_AMOUNT}={column}" (revenue is then the amount less the '
                "refund, an order refunded whole a refunded order)"
            ]
    return []


def _status_read(status: pd.Series | None, values: dict) -> pd.Series | None:
    """What the mapped ``status`` column reads as (the map file's ``values``, then the built-in
    synonyms; blank where not known), or None without one: read once for every look-up here."""
    if status is None:
        return None
    statuses = ValueMapping(values, builtin=True, synonyms=STATUS_SYNONYMS)
    return map_values(status.astype("string").str.strip(), statuses)[0]


def _sold(read: pd.Series | None, rows: int) -> np.ndarray:
    """The rows the status ``read`` (if any) counts as sales (completed, or a status not known)."""
    if read is None:
        return np.ones(rows, dtype=bool)
    return (read.isna() | (read == "completed")).fillna(False).to_numpy(dtype=bool)


def _unread_refund_dates(frame: pd.DataFrame, used: set, sold: np.ndarray) -> list[str]:
    """A warning for an unread column of the dates sales were refunded (Teachable's ``Refunded
    At``, no yes/no column beside it): its refunded sales were counted, unless the status read
    sets them aside already (``sold``: :func:`_sold`)."""
    for column in frame.columns:
        if column in used or bare_name(str(column)) not in REFUND_DATE_NAMES:
            continue
        dated = refund_dates(frame[column]) & sold
        if dated.any() and _mostly_dates(frame[column]):
            return [
                f"column {column!r}, not read, dates {int(dated.sum()):,} refunded sales: they "
                f'were counted as sales; map it with --map "transactions.{REFUNDED_AT}={column}" '
                "(a dated sale is refunded whole, set aside as a refunded order)"
            ]
    return []


#: Column names (letters only, lower case) of a yes/no flag of a test purchase (an app store's
#: sandbox: Adjust's and AppsFlyer's ``is_sandbox``, a till's training mode).
TEST_FLAGS = frozenset({"issandbox", "sandbox", "istest", "test", "testpurchase", "istestpurchase"})
#: Column names of an environment, and its values that say the row is a test (``Sandbox``).
ENVIRONMENT_NAMES = frozenset({"environment", "env", "storeenvironment"})
TEST_VALUES = frozenset({"sandbox", "test", "testing", "staging", "development", "dev"})


def _unread_test_flags(frame: pd.DataFrame, used: set, excluded: set[str]) -> list[str]:
    """A warning for an unread column flagging test purchases (``is_sandbox`` true, an
    ``Environment`` of ``Sandbox``) that no ``exclude:`` names: they were counted as sales."""
    for column in frame.columns:
        bare = re.sub(r"[^a-z]", "", str(column).casefold())
        if column in used or column in excluded or bare not in TEST_FLAGS | ENVIRONMENT_NAMES:
            continue  # by name first: a wide export's other columns are not folded
        words = frame[column].dropna().astype("string").str.strip()
        folded = words.str.casefold()
        if bare in TEST_FLAGS and folded.isin(YES_WORDS | NO_WORDS).all():
            test = words[folded.isin(YES_WORDS)]
        elif bare in ENVIRONMENT_NAMES:
            test = words[folded.isin(TEST_VALUES)]
        else:
            continue
        if len(test):
            values = ", ".join(f"'{v}'" for v in sorted(test.unique()))
            return [
                f"column {column!r}, not read, flags {len(test):,} rows as test or sandbox "
                f"purchases ({values}): they were read as sales; set them aside in the map "
                f"file with exclude: {{{column}: [{values}]}}"
            ]
    return []


def _unread_statuses(
    frame: pd.DataFrame,
    used: set,
    status: pd.Series | None,
    read: pd.Series | None,
    refunds_read: bool,
) -> list[str]:
    """A warning for an unread column named like a status or a document type whose values say
    no sale: without a status read (a billing export's ``Status`` of voided and unpaid invoices,
    Recurly's ``state``) every row was counted as a sale; beside the ``status`` read, a column
    telling credit notes, refunds or suppliers' bills apart (Xero's ``Type`` ACCRECCREDIT and
    ACCPAY beside its ``Status``, Shopline's 付款狀態 beside 訂單狀態) was not read, and they were
    counted as sales; a ledger's ``Type`` of payments beside the fees they pay (Jackrabbit's
    family transactions, no status read) likewise. Rows the status read sets aside or gives back
    (an order cancelled, its payment refunded), and refunds when a ``refunded_amount`` is read
    (``refunds_read``), are no such rows. ``read``: what ``status`` reads as
    (:func:`_status_read`)."""
    statuses = ValueMapping({}, builtin=True, synonyms=STATUS_SYNONYMS)
    told = {"credit_note", "refunded", "supplier_bill"} - ({"refunded"} if refunds_read else set())
    for column in frame.columns:
        if column in used or bare_name(str(column)) not in STATUS_NAMES | TYPE_NAMES:
            continue
        cells = frame[column].astype("string").str.strip()
        targets, _ = map_values(cells, statuses)
        unsold = targets.notna() & (targets != "completed")
        if not (cells.notna() & (targets != "payment").fillna(True)).any():
            continue  # a payments export: each payment is the money, no fee beside it
        if read is not None:  # of the rows the status read counted as sales
            # a quote or an order beside the invoice of the same sale: counted again
            again = (targets == "open") | invoiced_orders(cells)
            unsold = (targets.isin(told) | again) & _sold(read, len(frame))
        counts = cells[unsold.fillna(False)].value_counts().head(50)
        if counts.empty:
            continue
        examples = ", ".join(f"{v!r} x {n:,}" for v, n in list(counts.items())[:3])
        if read is not None and status is not None:
            kept = read.fillna("completed").isin(["completed", "refunded", "credit_note"])
            no_sale = list(status[~kept & read.notna()].astype("string").str.strip().unique())
            excluded = (
                f"exclude: {{{status.name}: [{', '.join(no_sale)}]}} for the no-sale values of "
                f"the status read now"
                if no_sale
                else "exclude: for the other column's voided or draft values"
            )
            return [
                f"column {column!r}, not read, tells credit notes or refunds, suppliers' bills, "
                "quotes, or orders beside the invoices that bill them (one sale counted as each) "
                f"({examples}) that the status read does not: they were counted as sales; map "
                f'it as the status (--map "transactions.status={column}", with {excluded}) if '
                "it is the document's type"
            ]
        return [
            f"no status read, but column {column!r} holds statuses of no sale ({examples}): "
            "every row was counted as a sale; map it with "
            f"--map \"transactions.status={column}\" if it is the order's status or the row's "
            "type (a ledger's payments beside its fees)"
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


def lookalike_columns(
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
            if c not in used and bare_name(col.name.replace("_", "")) in bare_name(str(c))
        ]
        if alike:
            said.append(
                f"no column {col.name} (optional, left empty), but {alike[0]!r} looks like it: "
                f'map it with --map "{table}.{col.name}={alike[0]}" if it is'
            )
    for flag, names in OPT_OUT_NAMES.items() if table == CUSTOMERS else ():
        if flag in inputs or mapping.source_for(table, flag):
            continue
        alike = [str(c) for c in frame.columns if c not in used and bare_name(str(c)) in names]
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
        ends.sort(key=lambda c: "end" not in bare_name(c))  # Ended At before Canceled At
        if ends:
            said.append(
                f"{ends[0]!r} looks like the date customers ended (a cancellation, a closed "
                f'account): map it with --map "customers.{ENDED_AT}={ends[0]}" if it is; ended '
                "customers are then left out of training and scored churned (blank: still a "
                "customer)"
            )
        elif CUSTOMER_STATUS not in inputs:  # no end date to point at: a status may tell
            said += _unread_customer_statuses(frame, used)
    if table in (CUSTOMERS, TRANSACTIONS) and (group := _unread_group(frame, inputs, used)):
        said.append(group)
    if table == TRANSACTIONS:
        status = inputs.get("status")
        read = _status_read(status, mapping.values_for(table, "status"))
        said += _unread_statuses(frame, used, status, read, REFUNDED_AMOUNT in inputs)
        said += _unread_refund_flags(frame, used)
        if REFUNDED_AMOUNT not in inputs and REFUNDED_AT not in inputs:
            sold = _sold(read, len(frame))
            said += _unread_refund_amounts(frame, used, sold) or _unread_refund_dates(
                frame, used, sold
            )
        said += _unread_test_flags(frame, used, set(mapping.excluded_in(table)))
    if table == EVENTS and EVENT_COUNT not in inputs and not mapping.source_for(table, EVENT_COUNT):
        said += _unread_counts(frame, used)
    if table == TRANSACTIONS and "currency" not in inputs:
        # Salesforce reports of a multi-currency org: "Amount Currency" (or the record's
        # "Opportunity Currency") beside plain amounts; unread, a EUR row is summed as USD
        codes = [str(c) for c in frame.columns if c not in used and "currency" in bare_name(str(c))]
        if codes:
            said.append(
                f"amounts read without a currency column, but {codes[0]!r} looks like one: rows "
                "in another currency would be summed with the rest; map it with "
                f'--map "transactions.currency={codes[0]}" if it is'
            )
    return said


#: Column names (bare) of a customers file's status of the customer or their subscription.
CUSTOMER_STATUS_NAMES = frozenset(
    {"status", "accountstatus", "customerstatus", "subscriptionstatus", "membershipstatus"}
)


def _unread_customer_statuses(frame: pd.DataFrame, used: set) -> list[str]:
    """A warning for an unread status column of a customers file, without an end date read, that
    says customers ended (``Closed``, ``Churned``): they were read as customers. Names the
    file's unread date column(s) that may hold the day they ended."""
    statuses = ValueMapping({}, builtin=True, synonyms=CUSTOMER_STATUS_SYNONYMS)
    for column in frame.columns:
        if column in used or bare_name(str(column)) not in CUSTOMER_STATUS_NAMES:
            continue
        cells = frame[column].astype("string").str.strip()
        ended = cells[(map_values(cells, statuses)[0] == ENDED).fillna(False)]
        if ended.empty:
            continue
        examples = ", ".join(f"{v!r} x {n:,}" for v, n in list(ended.value_counts().items())[:3])
        dates = [
            str(c)
            for c in frame.columns
            if c not in used and c != column and _separated(frame[c]) and _mostly_dates(frame[c])
        ]
        when = (
            f"({dates[0]!r} if it is: a date is then an end only where the status says so)"
            if dates
            else "(the export holds no date of it: export the day each customer ended, a Closed "
            "Date or a Status Date)"
        )
        return [
            f"column {column!r}, not read, says {len(ended):,} customers ended ({examples}): this "
            f'file gives them no end; map it with --map "customers.{CUSTOMER_STATUS}={column}" '
            f"and the date they ended as customers.{ENDED_AT} {when}"
        ]
    return []


#: Words of a column naming the group a customer id belongs to and pays as one: a family or a
#: household (a kids' club's or a school's Family ID beside each child's Student ID).
GROUP_WORDS = ("family", "household", "guardian", "familie", "famille", "haushalt", "家庭")
#: How the name of a column of ids ends (bare: ``Family ID``, ``Household No``, ``Family #``).
ID_ENDS = ("id", "no", "number", "code", "key", "nr", "#", "编号")
#: Share of the customer ids that share their group with another before the group is named.
GROUPED_SHARE = 0.1


def _unread_group(frame: pd.DataFrame, inputs: dict[str, pd.Series], used: set) -> str | None:
    """A warning when the customer id read is a member of a group an unread column of ids names
    (a ``Family ID`` beside the ``Student ID`` read): each id in one group, many groups holding
    several ids. The one who pays is then the group: each member read as a customer makes a
    child who ages out while a sibling stays a churned customer, and the family's own rows (a
    registration fee) rows of no one."""
    ids = inputs.get("customer_id")
    if ids is None or any(w in bare_name(str(ids.name)) for w in GROUP_WORDS):
        return None  # the group is read already
    ids = ids.astype("string").str.strip().replace("", pd.NA)
    for column in frame.columns:
        bare = bare_name(str(column))
        if column in used or not any(w in bare for w in GROUP_WORDS) or not bare.endswith(ID_ENDS):
            continue  # a family's name is no group of ids
        groups = frame[column].astype("string").str.strip().replace("", pd.NA)
        both = ids.notna() & groups.notna()
        pairs = pd.DataFrame({"id": ids[both], "group": groups[both]}).drop_duplicates()
        members = pairs["id"].nunique()
        if members < 2 or pairs["id"].duplicated().sum() > 0.05 * members:
            continue  # an id in several groups: not its group
        shared = int((pairs.groupby("group")["id"].transform("size") > 1).sum())
        if shared < GROUPED_SHARE * members:
            continue
        return (
            f"{column!r} groups the {members:,} customer ids of {ids.name!r} into "
            f"{pairs['group'].nunique():,} ({shared:,} share theirs with another): if the "
            f"customer is the {column!r} (a family paying for its children, a household), map "
            f'--map "customer_id={column}" in each file (the families\' own export as the '
            f"customers file); read as it is, each {ids.name!r} is a customer, one who leaves "
            "while the rest stay (a child who ages out) reads as churned, and the family's own "
            "rows (a registration fee) are no one's"
        )
    return None


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


def _separated(values: pd.Series) -> bool:
    """Whether most filled cells hold digits apart (``2024-05-01``, ``5/1/24``), not a number
    a date parser takes for a year (a zip code's ``1234``)."""
    filled = values.dropna().astype("string").str.strip()
    if filled.empty:
        return False
    return bool(filled.str.contains(r"\d\D+\d", regex=True).mean() >= MIN_PARSABLE_SHARE)


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
    bare = bare_name(column)
    return any(w in bare for w in END_WORDS) and not any(w in bare for w in NOT_A_DATE_WORDS)


#: Column names (bare: letters, lower case) of an events export's count per row: a product
#: analytics tool's daily aggregate (Mixpanel's and Amplitude's ``Total Events``, ``sessions``).
COUNT_NAMES = frozenset(
    {
        "count",
        "events",
        "totalevents",
        "numberofevents",
        "sessions",
        "occurrences",
        "times",
        "total",
        "anzahl",
        "次数",
        "回数",
    }
)
#: An unread count column is warned of when at least this share of its rows is above 1.
SEVERAL_EVENTS_SHARE = 0.2


def _unread_counts(frame: pd.DataFrame, used: set) -> list[str]:
    """A warning for an unread column of whole-number counts, many above 1 (a daily aggregate's
    ``Total Events``): each row counts as one event unless it is mapped as ``event_count``."""
    for column in frame.columns:
        bare = bare_name(str(column))
        named = bare in COUNT_NAMES or bare.endswith(("count", "events", "sessions"))
        if column in used or not named:
            continue
        numbers = pd.to_numeric(frame[column], errors="coerce")
        if numbers.isna().mean() > 0.5 or (numbers.dropna() % 1 != 0).any():
            continue
        several = float((numbers > 1).mean())
        if several >= SEVERAL_EVENTS_SHARE:
            return [
                f"column {column!r}, not read, holds counts ({several:.0%} of rows above 1, "
                f"median {numbers.median():g}): each row counts as one event; if a row stands "
                f"for that many (a day's total), map it with --map "
                f'"events.{EVENT_COUNT}={column}"'
            ]
    return []
