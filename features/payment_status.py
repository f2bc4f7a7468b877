"""A payments processor's ``Status`` read as the transactions' status with no map where the file
says it is each payment's own state: every value is a payment's state (Stripe's ``Paid``,
``Failed``, ``Refunded``; its API's ``succeeded``, ``failed``, ``pending``; ``Bezahlt`` ...) and
each payment id is on one row, and any refund row of its own (a negative amount) gives back a
payment whose status reads as refunded (checked once the amounts are read:
``features.order_status.refunds_of_refunded_only``).

The status stays opt-in elsewhere: many exports have a ``Status`` that is not each row's sale
state (an insurer's policy status on every premium, a CRM deal's stage), and read as one it would
set years of sales aside (``features.order_status``)."""

from __future__ import annotations

import functools

import pandas as pd

from features.values import fold

#: A payment's own states as processors, shops and billing systems write them, by what the
#: transactions' status reads them as (``STATUS_SYNONYMS``; ``pending`` is read as completed with
#: a warning). No subscription's, policy's, deal's or order's state (active, lapsed, expired,
#: open, won, shipped): such a column may be the customer's current state on every row.
PAYMENT_STATES: dict[str, tuple[str, ...]] = {
    "completed": (
        "paid",
        "succeeded",
        "success",
        "completed",
        "complete",
        "partially refunded",
        "bezahlt",
        "teilweise erstattet",
        "payée",
        "payé",
        "payee",
        "partiellement remboursée",
        "partiellement remboursee",
        "betaald",
        "gedeeltelijk terugbetaald",
        "pago",
        "已付款",
        "部分退款",
        "결제완료",
    ),
    "cancelled": (
        "failed",
        "declined",
        "denied",
        "blocked",
        "canceled",
        "cancelled",
        "voided",
        "void",
        "fehlgeschlagen",
        "storniert",
        "abgebrochen",
        "échouée",
        "echouee",
        "annulée",
        "annulé",
        "annulee",
        "annule",
        "mislukt",
        "geannuleerd",
        "cancelado",
        "cancelada",
        "已取消",
        "キャンセル",
        "취소",
    ),
    "refunded": (
        "refunded",
        "fully refunded",
        "reversed",
        "disputed",
        "chargeback",
        "erstattet",
        "zurückerstattet",
        "remboursée",
        "remboursé",
        "remboursee",
        "rembourse",
        "terugbetaald",
        "reembolsado",
        "estornado",
        "已退款",
        "全额退款",
        "返金済み",
        "환불",
        "환불완료",
    ),
    "open": ("unpaid", "incomplete", "payment pending", "pending payment", "未付款", "入金待ち"),
    "pending": ("pending",),
}


@functools.cache
def _payment_states() -> frozenset[str]:
    return frozenset(fold(word) for words in PAYMENT_STATES.values() for word in words)


def payment_status_column(frame: pd.DataFrame, found: dict[str, pd.Series]) -> str | None:
    """The file's one unread column named ``Status`` when it is each payment's own state:
    every value a payment's state (:data:`PAYMENT_STATES`), an order id (``found``: the columns
    read) on one row each (rows repeated whole aside: an export appended twice); else None (a
    map names it). Its negative amounts are checked once read
    (``features.order_status.refunds_of_refunded_only``)."""
    read = {s.name for s in found.values()}
    named = [c for c in frame.columns if c not in read and fold(str(c)) == "status"]
    if len(named) != 1 or "order_id" not in found or "amount" not in found:
        return None
    cells = pd.Series(frame[named[0]].astype("string").unique()).str.strip()
    cells = cells.replace("", pd.NA).dropna()  # each distinct value, not each row, stripped
    if cells.empty or not all(fold(v) in _payment_states() for v in cells.unique()):
        return None
    ids = found["order_id"].astype("string").str.strip().replace("", pd.NA).dropna()
    repeated = ids[ids.duplicated(keep=False)]  # a row repeated whole repeats its id too
    if repeated.empty:
        return str(named[0])
    repeated = repeated[~frame.loc[repeated.index].duplicated()]
    return None if repeated.duplicated().any() else str(named[0])


def payment_status_read(status: pd.Series) -> str:
    """The report's words for a status read by :func:`payment_status_column`."""
    values = ", ".join(
        repr(str(v)) for v in status.dropna().astype("string").str.strip().unique()[:4]
    )
    return (
        f"status from {status.name!r}: each payment's own state (its values all payment states: "
        f"{values}; "
        'each payment id on one row; --map "transactions.status==completed" reads every row as '
        "a sale)"
    )
