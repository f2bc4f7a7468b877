"""Refunds given as a column of the sale (Shopify's ``Refunded Amount``, WooCommerce's ``Order
Refund Amount``, Tmall's 退款金额): the revenue kept is the amount less what was refunded.

Mapped as ``refunded_amount``. A blank cell is no refund; a negative one is read as its size
(some exports sign money given back). With an ``order_id`` the refund is the order's: a column
repeated on every line of an order (or given on one line) is one refund of the order, lines with
refunds of their own add up; the order's lines keep their share of what is left. An order
refunded whole (or more) is no sale.

A refund given only as its date (Teachable's ``Refunded At``, blank when not refunded) is mapped
as ``refunded_at``: a dated sale was refunded whole, no sale (as a status ``refunded``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

REFUNDED_AMOUNT = "refunded_amount"
REFUNDED_AT = "refunded_at"
#: Column names (bare) of a payment's money given back that are read as ``refunded_amount``
#: with no map: Stripe's payments export's ``Amount Refunded``, Shopify's orders export's
#: ``Refunded Amount`` (other names of refunds are named in a warning: ``features.unread_columns``).
REFUNDED_AMOUNT_NAMES = frozenset({"amountrefunded", "refundedamount"})
#: Cells of a refund column that say nothing was refunded.
NO_REFUND = ("-", "--", "–", "—")
#: A refund within this of the amount refunds it whole (a currency's cents rounded).
WHOLE_TOLERANCE = 0.005


@dataclass(frozen=True)
class Refunds:
    """The amounts net of refunds, the rows refunded whole, and what to tell the user."""

    amount: pd.Series
    whole: np.ndarray
    note: str | None


def net_of_refunds(
    amount: pd.Series, refunded: pd.Series, order_id: pd.Series | None, ok: np.ndarray
) -> Refunds:
    """``amount`` less ``refunded`` (parsed numbers, NaN = none) on the rows still ``ok``, per
    order when ``order_id`` is given (else per row)."""
    refund = refunded.abs().where(ok).fillna(0.0)
    given = refund > 0
    if not given.any():
        return Refunds(amount, np.zeros(len(amount), dtype=bool), None)
    key = _order_keys(amount.index, order_id).where(ok)
    per_order = pd.DataFrame({"key": key, "refund": refund, "given": given})
    repeated = _repeated_per_order(per_order, amount.where(ok))
    # the orders with a refund: the others owe nothing (their figures are not worked out)
    near = key.isin(key[given].unique()).to_numpy(dtype=bool)
    refunds = per_order[near].groupby("key")["refund"]
    order_refund = refunds.max() if repeated else refunds.sum()
    sales = amount.where(ok).fillna(0.0)
    order_total = sales[near].groupby(key[near]).sum()
    owed = pd.Series(0.0, index=amount.index)
    total = pd.Series(0.0, index=amount.index)
    owed[near] = key[near].map(order_refund).astype(float).fillna(0.0)
    total[near] = key[near].map(order_total).astype(float).fillna(0.0)
    refunds_a_sale = (owed > 0) & (total > 0)
    whole = refunds_a_sale & (owed >= total - WHOLE_TOLERANCE)
    partial = refunds_a_sale & ~whole
    kept = amount.where(~partial, amount * (1 - owed / total.where(total > 0)))
    orders = key[partial].nunique()
    note = (
        f"{orders:,} {'order' if order_id is not None else 'row'}{'' if orders == 1 else 's'} "
        "partly refunded: "
        f"{float((amount - kept)[partial].sum()):,.2f} taken off their amounts "
        f"({'one refund per order, repeated on its lines' if repeated else 'refunds added up'})"
        if orders
        else None
    )
    if whole.any():
        whole_orders = key[whole].nunique()
        note = (note + "; " if note else "") + (
            f"{whole_orders:,} refunded whole (or more): no sale, set aside as refunded orders"
        )
    return Refunds(kept.round(6), whole.to_numpy(dtype=bool), note)


def _order_keys(index: pd.Index, order_id: pd.Series | None) -> pd.Series:
    """Each row's order: its id, else ``row <position>`` (a row of its own)."""
    keys = pd.Series(pd.NA, index=index, dtype="string") if order_id is None else order_id
    keys = keys.astype("string")
    if (alone := keys.isna().to_numpy(dtype=bool)).any():
        keys = keys.copy()
        keys[alone] = pd.Series(np.flatnonzero(alone)).astype("string").radd("row ").to_numpy()
    return keys


def _repeated_per_order(per_order: pd.DataFrame, amount: pd.Series) -> bool:
    """Whether the refund is an order-level figure repeated on the order's lines: some order
    gives the same figure on lines of different amounts, or one above its line's amount, and no
    order gives different figures on its lines. Two equal lines each refunded in full are line
    refunds (a Tmall order returned whole)."""
    lines = per_order.assign(amount=amount)[per_order["given"] & per_order["key"].notna()]
    counts = lines.groupby("key").agg(
        size=("refund", "size"),
        figures=("refund", "nunique"),
        amounts=("amount", "nunique"),
        above=("refund", "max"),
        line=("amount", "min"),
    )
    several = counts[counts["size"] >= 2]
    if several.empty or (several["figures"] > 1).any():
        return False
    return bool(((several["amounts"] > 1) | (several["above"] > several["line"])).any())


def refund_dates(cells: pd.Series) -> np.ndarray:
    """The rows of a refund date column (``refunded_at``) that were refunded: a cell holding a
    date (any form with a digit). Blank, a word ('N/A', 'No') and a placeholder of zeros
    (``0000-00-00``) are no refund."""
    text = cells.astype("string").str.strip()
    dated = text.str.contains(r"\d", regex=True) & ~text.str.fullmatch(r"[0\W_]*")
    return dated.fillna(False).to_numpy(dtype=bool)
