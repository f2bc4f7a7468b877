"""Order statuses of transactions: cancelled, open and refunded orders set aside as no sale,
payments of invoices apart; credit notes and Stripe refunds read as money given back; a refund
row of part of an order kept as a return, and one of a whole sale taking the sale with it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.contract import TRANSACTIONS
from features.ingest_tables import TableReport, Validator
from features.mapping import FileMapping
from features.values import (
    CANCELLED_ORDER,
    ENDED,
    ENDED_ROW,
    INVOICED_ORDER,
    OPEN_ORDER,
    PAYMENT,
    REFUNDED_ORDER,
    STATUS_SYNONYMS,
    SUPPLIER_BILL,
    ValueMapping,
    invoiced_orders,
    map_values,
)


def order_field(values: pd.Series, out: pd.DataFrame, blank_is_missing: bool = False) -> pd.Series:
    """An order-level field (status, currency), stripped; a missing cell takes its order's first
    value (Shopify writes them on an order's first line only). ``blank_is_missing``: an empty
    cell counts as missing too."""
    values = values.astype("string").str.strip()
    if blank_is_missing:
        values = values.replace("", pd.NA)
    if "order_id" not in out or not (blank := values.isna().to_numpy(dtype=bool)).any():
        return values
    # the orders with a missing cell: the others have nothing to fill nor a blank line
    orders = out["order_id"]
    gaps = _same_orders(orders, blank)
    if not _written_per_line(values[gaps], orders[gaps]):
        values = values.fillna(values[gaps].groupby(orders[gaps]).transform("first"))
    return values


def _written_per_line(values: pd.Series, orders: pd.Series) -> bool:
    """Whether some order has a value on a line after a blank one: the field is then each
    line's own (a till's voided line flagged VOID among blank ones), not its order's written
    on the first line only (Shopify), so a blank cell is not filled from the order."""
    blank_before = values.isna().astype("int8").groupby(orders).cummax().eq(1)
    return bool((values.notna() & blank_before).any())


#: Statuses of no sale and the reason their rows are set aside with (a row with none is skipped:
#: ``Validator.no_sale`` reads every row's reason, seconds a call at a million rows).
NO_SALE = {
    "cancelled": CANCELLED_ORDER,
    "open": OPEN_ORDER,
    "payment": PAYMENT,
    "supplier_bill": SUPPLIER_BILL,
}


@dataclass(frozen=True)
class StatusRead:
    """The transactions' status read once (:func:`read_status`): each row's (a blank one its
    order's), what it maps to and the per-value table of :func:`features.values.map_values`."""

    status: pd.Series
    mapped: pd.Series
    table: pd.DataFrame


def read_status(status: pd.Series, out: pd.DataFrame, mapping: FileMapping) -> StatusRead:
    """The status column read: a blank status takes its order's (Shopify's later lines), each
    value mapped to the contract's (``values:`` of the map first, then the known words)."""
    status = order_field(status, out)
    values = ValueMapping(
        mapping.values_for(TRANSACTIONS, "status"), builtin=True, synonyms=STATUS_SYNONYMS
    )
    mapped, table = map_values(status, values)
    return StatusRead(status, mapped, table)


def cancelled_rows(
    read: StatusRead, out: pd.DataFrame, check: Validator, report: TableReport
) -> np.ndarray:
    """Quarantine cancelled orders and orders refunded whole (the status ``read``). Returns which
    rows are refunds booked as rows of their own (kept as returns)."""
    status, mapped, table = read.status, read.mapped, read.table
    invoiced = invoiced_orders(status) & mapped.isna()  # unless values: says what they are
    billed = status[invoiced].unique()
    unknown = table[table["target"].isna() & ~table["source"].isin(billed)]
    if invoiced.any():
        report.warnings.append(
            f"{int(invoiced.sum()):,} rows of {', '.join(repr(b) for b in billed)} beside the "
            "invoices of the same file set aside: an order and the invoice that bills it are one "
            "sale, counted once as the invoice (map values: {status: {<order type>: completed}} "
            "if these orders are sales the file holds no invoice of)"
        )
    if not unknown.empty:
        report.warnings.append(
            "order statuses read as completed (not known as cancelled, refunded, open, credit "
            "note, payment or supplier's bill): "
            + ", ".join(
                f"{s!r} {n}" for s, n in zip(unknown["source"], unknown["rows"], strict=True)
            )
            + "; map them under values: {status: ...} to cancelled, refunded or open (a deal "
            "not won yet, an order not paid) if they are no sale, to payment (money received "
            "for an invoice), to credit_note (a credit note whose positive amount is money "
            "given back), or to supplier_bill (a bill from a supplier: no customer's purchase)"
        )
    report.formats["status"] = ", ".join(
        f"{s!r} -> "
        + (t if isinstance(t, str) and t else "set aside" if s in billed else "completed")
        for s, t in zip(table["source"], table["target"], strict=True)
    )
    for target, reason in NO_SALE.items():
        if (rows := (mapped == target).fillna(False).to_numpy(dtype=bool)).any():
            check.no_sale(rows, reason)
    if invoiced.any():
        check.no_sale(invoiced, INVOICED_ORDER)
    if (ended := (mapped == ENDED).fillna(False).to_numpy(dtype=bool)).any():
        check.flag(ended, ENDED_ROW)  # the customer's end, no sale (features.ingest)
    _credit_notes_negative(mapped, out, report)
    # refunded whole: not revenue; a refund row of its own (amount <= 0) is a return, kept --
    # unless its order is one refunded whole here: the sale it returns is not counted, so its
    # refund rows (and zero lines) are not either (else the order nets to minus its amount)
    refunded = (mapped == "refunded").fillna(False).to_numpy(dtype=bool)
    whole = refunded & (out["amount"] > 0).fillna(False).to_numpy(dtype=bool)
    if "order_id" in out:
        sales = ~refunded & check.ok
        kept_id = _ids_of_several_purchases(out, whole, sales)
        sales &= ~kept_id
        partial = _partial_refunds(out, whole & ~kept_id, sales)
        out.loc[partial, "amount"] = -out.loc[partial, "amount"]  # a return of part of it
        whole &= ~partial
        orders = out["order_id"][whole].dropna()
        whole |= refunded & out["order_id"].isin(orders).fillna(False).to_numpy(dtype=bool)
        whole |= _sales_refunded(out, whole, sales) | _paid_in_parts_refunded(out, whole, sales)
        if whole.sum() >= REFUND_FILE_SHARE * max(int(check.ok.sum()), 1):
            refunds_apart = out["order_id"][whole & check.ok].dropna()
            if len(refunds_apart) and not refunds_apart.isin(out["order_id"][sales]).any():
                report.warnings.append(_refunds_of_no_sale(refunds_apart, status))
    given_back = _refund_rows_of_refunded(out, whole & check.ok, check.ok & ~whole)
    if given_back.any():
        report.formats[REFUND_ROWS] = (
            f"{int(given_back.sum()):,} refund rows of their own (negative, "
            f"{-float(out['amount'][given_back].sum()):,.2f}) give back payments whose status "
            "reads as refunded (the same customer and amount, dated at or before them): set aside "
            "with them, the money given back once"
        )
    check.flag(whole | given_back, REFUNDED_ORDER)
    if state := _status_of_the_order(status, mapped, out, check.reason):
        report.warnings.append(state)
    return refunded & ~whole


def refunds_of_refunded_only(read: StatusRead, out: pd.DataFrame, ok: np.ndarray) -> bool:
    """Whether every negative ``ok`` row gives back a payment whose status (``read``) reads as
    refunded (:func:`_refund_rows_of_refunded`): a PayPal download's refund rows beside its
    Refunded payments. A negative row with no such payment (a return, a status that is not each
    payment's) and a ``Status`` read with no map is refused (:mod:`features.payment_status`)."""
    back = ok & (out["amount"] < 0).fillna(False).to_numpy(dtype=bool)
    if not back.any():
        return True
    refunded = ok & (read.mapped == "refunded").fillna(False).to_numpy(dtype=bool)
    return bool(_refund_rows_of_refunded(out, refunded, back)[back].all())


#: The report's key for refund rows set aside with the refunded payments they give back.
REFUND_ROWS = "refund rows"


def _refund_rows_of_refunded(
    out: pd.DataFrame, refunded: np.ndarray, rows: np.ndarray
) -> np.ndarray:
    """The negative ``rows`` that give back a payment refunded whole (a positive ``refunded``
    row) of the same customer and amount, dated at or before them: a PayPal activity download
    books the refund as a row of its own (its own transaction id, Type Payment Refund) beside
    the payment whose status says Refunded. The payment set aside, the refund row kept as a
    return gave the money back twice. One refund row per such payment, earliest first; a
    negative row with no such payment before it stays a return."""
    none = np.zeros(len(out), dtype=bool)
    if "customer_id" not in out or "ordered_at" not in out:
        return none
    paid = refunded & (out["amount"] > 0).fillna(False).to_numpy(dtype=bool)
    back = rows & (out["amount"] < 0).fillna(False).to_numpy(dtype=bool)
    if not paid.any() or not back.any():
        return none
    customer = out["customer_id"].astype("string")
    amount = out["amount"].abs().round(2).to_numpy(dtype=float, na_value=np.nan)
    at = out["ordered_at"]
    known = customer.notna().to_numpy(dtype=bool) & ~np.isnan(amount) & at.notna().to_numpy(bool)
    events = np.flatnonzero((paid | back) & known)
    codes, _ = pd.factorize(customer.to_numpy()[events])
    is_refund = back[events]
    stamps = at.to_numpy(dtype="datetime64[ns]")[events].view("int64")
    # each customer's and amount's payments and refunds by time, a payment before a refund of
    # its instant, rows of one instant in file order (lexsort is stable; its last key first)
    order = np.lexsort((is_refund, stamps, amount[events], codes))
    events, codes, is_refund = events[order], codes[order], is_refund[order]
    amounts = amount[events]
    first = np.ones(len(events), dtype=bool)
    first[1:] = (codes[1:] != codes[:-1]) | (amounts[1:] != amounts[:-1])
    hit = none.copy()
    hit[events[is_refund & (_unmatched_before(np.where(is_refund, -1, 1), first) > 0)]] = True
    return hit


def _unmatched_before(step: np.ndarray, first: np.ndarray) -> np.ndarray:
    """The payments not yet given back before each event of runs that start where ``first`` is
    true, ``step`` +1 for a payment and -1 for a refund (which takes one only when there is
    one): the count ``c = max(c + step, 0)`` per run, as ``S - min(0, min of S so far)`` of the
    run's running sum ``S``."""
    run = np.cumsum(first) - 1
    total = np.cumsum(step)
    start = (total - step)[first]  # the running sum before each run
    within = total - start[run]
    # each run's values pushed below every earlier run's: one running minimum over all runs
    # then restarts at each run
    shift = run.astype(np.int64) * (2 * len(step) + 2)
    lowest = np.minimum.accumulate(within - shift) + shift
    after = within - np.minimum(lowest, 0)
    before = np.zeros_like(after)
    before[1:] = after[:-1]
    before[first] = 0
    return before


#: An order whose rows hold one cancelled or refunded status on several days more than this many
#: days apart was paid over a year or more: the status is likely the order's current state.
STATE_SPAN_DAYS = 300
#: Share of the orders with a cancelled or refunded status past which such orders make the
#: status look like each order's current state (a policy's, a subscription's), not each row's.
STATE_ORDER_SHARE = 0.1


def _status_of_the_order(
    status: pd.Series, mapped: pd.Series, out: pd.DataFrame, reason: np.ndarray
) -> str | None:
    """A warning when a cancelled or refunded status is the same on every row of most of its
    orders and the rows of many of them span a long time (more than ``STATE_SPAN_DAYS``, on
    several days): an insurer's ``Policy Status`` (``Lapsed``) or a subscription's status written
    on every premium or invoice row is the order's state now, not each row's, and it sets aside
    the years of payments made while the policy was in force. The reading is not changed."""
    if "order_id" not in out or "ordered_at" not in out:
        return None
    ended = mapped.isin(["cancelled", "refunded"]).fillna(False).to_numpy(dtype=bool)
    ended = ended & out["order_id"].notna().to_numpy(dtype=bool)
    if not ended.any():
        return None
    orders = out["order_id"].astype("string")
    rows = orders.isin(orders[ended].unique()).fillna(False).to_numpy(dtype=bool)
    rows = rows & out["ordered_at"].notna().to_numpy(dtype=bool)
    day = out["ordered_at"][rows].dt.floor("D")
    by = orders[rows]
    one = status[rows].groupby(by).nunique().eq(1)
    days = day.groupby(by).nunique()
    span = (day.groupby(by).max() - day.groupby(by).min()).dt.days
    long = one & days.gt(1) & span.gt(STATE_SPAN_DAYS)
    if one.mean() <= 0.5 or long.sum() < max(3, STATE_ORDER_SHARE * len(one)):
        return None
    taken = np.isin(reason, [CANCELLED_ORDER, REFUNDED_ORDER])
    set_aside = taken & orders.isin(long.index[long.to_numpy()]).fillna(False).to_numpy(bool)
    amount = float(out["amount"][set_aside].sum())
    words = ", ".join(repr(str(v)) for v in status[ended].dropna().unique()[:3])
    example = str(long.index[long.to_numpy()][0])
    return (
        f"the status ({words}) looks like the order's current state (a policy's, a "
        f"subscription's), not each row's: {int(long.sum()):,} of the {len(one):,} orders with "
        f"it hold it on every row, on several days over more than {STATE_SPAN_DAYS} days (e.g. "
        f"order {example!r} on {int(days[example])} days over {int(span[example])} days), so "
        f"{int(set_aside.sum()):,} rows ({amount:,.2f}) of orders paid over years were set aside "
        "as no sale; map a per-row type column (e.g. Transaction Type: new business, renewal, "
        "cancellation) as the status instead"
    )


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


def stripe_refunds(out: pd.DataFrame, report: TableReport) -> None:
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


#: Shares of an order's smallest and largest sale within which a refunded row of an order of
#: several purchase days is one of those purchases undone.
ONE_PURCHASE = (0.8, 1.25)


def _ids_of_several_purchases(
    out: pd.DataFrame, refund: np.ndarray, sale: np.ndarray
) -> np.ndarray:
    """The rows of orders whose ``sale`` rows are on several days and that hold a positive
    ``refund`` row: an id kept across purchases (a pharmacy's ``Rx Number`` over its refills, a
    subscription's), whose refunded row is that purchase undone (a claim reversed, the fill never
    picked up), not part of an earlier sale given back nor its twin. The refund is about one of
    those purchases' amount: a layaway's refund of part (50.00 of 100.00 instalments) or of the
    whole of it is money of the order given back, as for an order of one day."""
    if not refund.any():
        return np.zeros(len(out), dtype=bool)
    order = out["order_id"].astype("string")
    sale = sale & _same_orders(order, refund)  # the orders of no refund row are no matter
    days = out["ordered_at"].dt.floor("D")[sale].groupby(order[sale]).nunique()
    amount = out["amount"].abs()
    low = order.map(amount[sale].groupby(order[sale]).min()).astype("float64")
    high = order.map(amount[sale].groupby(order[sale]).max()).astype("float64")
    one = (amount >= ONE_PURCHASE[0] * low) & (amount <= ONE_PURCHASE[1] * high)
    refunded = order[refund & one.fillna(False).to_numpy(dtype=bool)].dropna().unique()
    several = days.index[days.to_numpy() > 1].intersection(refunded)
    return order.isin(several).fillna(False).to_numpy(dtype=bool)


def _partial_refunds(out: pd.DataFrame, refund: np.ndarray, sale: np.ndarray) -> np.ndarray:
    """The positive ``refund`` rows that give back part of their order: it has ``sale`` rows
    summing to more, none of the refund's amount (a 5.00 refund row beside a 9.99 sale): booked as
    a return of that amount, not as the order refunded whole."""
    has_order = out["order_id"].notna().to_numpy()
    if not (refund & has_order).any():
        return np.zeros(len(out), dtype=bool)
    order = out["order_id"].astype("string")
    near = _same_orders(order, refund & has_order)  # the orders of no refund row are no matter
    amount = out["amount"].round(2)
    sold = near & sale & has_order & (out["amount"] > 0).fillna(False).to_numpy(dtype=bool)
    total = amount[sold].groupby(order[sold]).sum()
    same = pd.MultiIndex.from_arrays([order[sold], amount[sold]])
    pairs = pd.MultiIndex.from_arrays([order[near], amount[near]])
    more = order[near].map(total).astype("float64").fillna(0).to_numpy() > amount[near].to_numpy()
    partial = np.zeros(len(out), dtype=bool)
    partial[near] = more & ~pairs.isin(same)
    return refund & has_order & partial


def _same_orders(order: pd.Series, rows: np.ndarray) -> np.ndarray:
    """The rows of the orders (``order``: their ids) of ``rows``."""
    return order.isin(order[rows].dropna().unique()).fillna(False).to_numpy(dtype=bool)


def _paid_in_parts_refunded(out: pd.DataFrame, refund: np.ndarray, sale: np.ndarray) -> np.ndarray:
    """The ``sale`` rows of an order paid in several parts (a layaway's instalments, a deposit and
    its balance) that a later positive ``refund`` row of the order's whole amount gives back."""
    positive = (out["amount"] > 0).fillna(False).to_numpy(dtype=bool)
    refund = refund & positive & out["order_id"].notna().to_numpy(dtype=bool)
    if not refund.any():
        return np.zeros(len(out), dtype=bool)
    order = out["order_id"].astype("string")
    back = out["amount"][refund].groupby(order[refund]).sum()
    last = out["ordered_at"][refund].groupby(order[refund]).max()
    paid = sale & positive & order.isin(back.index).fillna(False).to_numpy(dtype=bool)
    paid[paid] = (out["ordered_at"][paid] < order[paid].map(last)).fillna(False).to_numpy(bool)
    total = out["amount"][paid].groupby(order[paid]).agg(["sum", "size"])
    whole = total.index[(total["size"] > 1) & np.isclose(total["sum"], back.reindex(total.index))]
    return paid & order.isin(whole).fillna(False).to_numpy(dtype=bool)


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
