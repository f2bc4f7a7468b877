"""Customers who ended the relationship: a membership cancelled, a subscription or account closed.

The customers table may say when (``ended_at``, ``features.contract.ENDED_AT``). At a cutoff T a
customer *has ended* when ``ended_at < T`` and they bought nothing after the end's day and its
settlement window (:func:`settlement_days`): a purchase later is a return, they came back. The
window is the customer's own billing cycle before the end plus :data:`SETTLEMENT_SLACK_DAYS`,
within ``[SETTLEMENT_DAYS, MAX_SETTLEMENT_DAYS]``: a service billed in arrears sends its final
bill up to a cycle after the closure (a monthly account's 25 days after is no return), while a
weekly buyer who buys 20 days after the end, or a monthly member three months after, is back.
Only ``ended_at < T`` is read for a cutoff's features; an end in ``[T, T + H)`` is read for labels
only (a member who gives notice and pays the notice month has churned within the horizon
although they bought in it). A customer who came back with a new subscription has the end before
it and the new one's start (``returned_at``): from that start on they are a customer again,
bought or not.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from features.contract import ENDED_AT, RETURNED_AT

if TYPE_CHECKING:
    import ibis

#: Days after the end in which a payment settles the last bill (a failed debit retried, a final
#: invoice) rather than bringing the customer back, at the least: the window of a customer whose
#: cycle is shorter or unknown (:func:`settlement_days`).
SETTLEMENT_DAYS = 14
#: Days added to a customer's billing cycle for the final bill's payment to arrive (a debit
#: retried, a bank transfer): a final bill sent at the next bill run is paid within this.
SETTLEMENT_SLACK_DAYS = 7
#: The longest settlement window, whatever the cycle: a quarterly or annual customer's purchase
#: this long after the end is a return (a final bill comes about a month after the end at most).
MAX_SETTLEMENT_DAYS = 45
#: An end at most this many days ahead is a notice; further (2099-12-31, 2100-01-01: systems'
#: "open" dates) is no end in sight.
NOTICE_DAYS = 366
#: Column of a scoring snapshot: days from the scoring date to an end still ahead (a notice
#: given; null otherwise), read at or after the data's end only (:func:`reads_notices`).
ENDS_IN_DAYS = "ends_in_days"
#: Column of feature snapshots: days since a customer's end at the row's cutoff (null while a
#: customer). Not a model input: rows of ended customers are left out of training and scored
#: by rule.
ENDED_DAYS = "ended_days"


def _dated(customers: pd.DataFrame, column: str) -> pd.Series:
    """The customers' dates in ``column``, by ``customer_id``; empty without the column."""
    if column not in customers.columns:
        return pd.Series(dtype="datetime64[us]")
    known = customers.dropna(subset=[column])
    return pd.Series(
        pd.to_datetime(known[column]).to_numpy(), index=known["customer_id"].astype(str)
    )


def _table_dated(customers: ibis.Table, column: str) -> pd.Series:
    """:func:`_dated` of a customers table (an Ibis expression): only the two columns read."""
    if column not in customers.columns:
        return pd.Series(dtype="datetime64[us]")
    return _dated(customers.select("customer_id", column).to_pandas(), column)


def ends(customers: pd.DataFrame) -> pd.Series:
    """Each customer's end (``ended_at``), by ``customer_id``; empty without the column."""
    return _dated(customers, ENDED_AT)


def ends_over_rows(
    customer_ids: pd.Series, ended_at: pd.Series, started_at: pd.Series | None = None
) -> tuple[pd.Series, pd.Series]:
    """Each row's customer's end over all their rows (a subscriptions export: one row per
    subscription), and when they came back. The end is blank while any subscription is live (an
    upgrade, an add-on), else the latest (every subscription ended; an end ahead is a notice).
    With each row's start (``started_at``): a customer live again after a gap longer than
    :data:`SETTLEMENT_DAYS` in which every subscription had ended gets the end before the latest
    gap and, as ``returned_at``, the start after it (a switch within the window is no end).
    Rows without a customer id keep their own end; ``returned_at`` is blank but for returns."""
    ended_at = pd.to_datetime(ended_at)
    frame = pd.DataFrame({"id": customer_ids, "end": ended_at, "live": ended_at.isna()})
    if started_at is not None:
        frame["start"] = pd.to_datetime(started_at)
    frame = frame.dropna(subset=["id"])
    per = frame.groupby("id", sort=False).agg(end=("end", "max"), live=("live", "any"))
    latest = per["end"].mask(per["live"])
    back = pd.DataFrame()
    if started_at is not None:
        back = _returns(frame[frame["id"].isin(per.index[per["live"]])])
        latest.loc[back.index] = back["end"].to_numpy()
    listed = customer_ids.notna().to_numpy(dtype=bool)
    mapped = pd.to_datetime(customer_ids.map(latest))
    returned = pd.Series(pd.NaT, index=customer_ids.index, dtype="datetime64[ns]")
    if len(back):
        returned = pd.to_datetime(customer_ids.map(back["start"]))
    return ended_at.where(~listed, mapped.to_numpy()), returned.rename(RETURNED_AT)


def _returns(rows: pd.DataFrame) -> pd.DataFrame:
    """Of live customers' rows (``id``, ``start``, ``end``: blank while live), each customer who
    had ended every subscription before a later one started: the end before that start and the
    start (the latest such gap), by id. A customer with a row without a start has none."""
    undated = rows.loc[rows["start"].isna(), "id"]
    rows = rows[~rows["id"].isin(undated)].sort_values(["id", "start"], kind="stable")
    far = pd.Timestamp.max.as_unit("ns")
    reach = rows["end"].astype("datetime64[ns]").fillna(far)
    before = reach.groupby(rows["id"]).cummax().groupby(rows["id"]).shift()
    gap = rows["start"] - pd.Timedelta(days=SETTLEMENT_DAYS) > before
    last = pd.DataFrame({"id": rows["id"], "end": before, "start": rows["start"]})[gap]
    return last.groupby("id", sort=False).last()


def returns(customers: pd.DataFrame) -> pd.Series:
    """Each came-back customer's ``returned_at``, by ``customer_id``; empty without the column."""
    return _dated(customers, RETURNED_AT)


def customer_ends(customers: ibis.Table) -> pd.Series:
    """:func:`ends` of a customers table (an Ibis expression)."""
    return _table_dated(customers, ENDED_AT)


def customer_returns(customers: ibis.Table) -> pd.Series:
    """:func:`returns` of a customers table (an Ibis expression)."""
    return _table_dated(customers, RETURNED_AT)


def _end_of(frame: pd.DataFrame, ended_at: pd.Series) -> pd.Series:
    return pd.to_datetime(frame["customer_id"].astype(str).map(ended_at))


def settlement_days(frame: pd.DataFrame, ended_at: pd.Series) -> np.ndarray:
    """Each row's settlement window: days after its customer's end's day in which a purchase
    settles the last bill rather than bringing them back. Their billing cycle before the end
    plus :data:`SETTLEMENT_SLACK_DAYS`, at least :data:`SETTLEMENT_DAYS` and at most
    :data:`MAX_SETTLEMENT_DAYS`; :data:`SETTLEMENT_DAYS` when the cycle is unknown (fewer than
    two purchase days before the last one).

    The cycle is the mean gap between purchase days up to the end, read from the row's features
    at its cutoff: the days from the first purchase day to the end's day over the purchase days
    before the last, less one (the last purchase is the one judged, so it does not set its own
    window: a customer who bought once, ended and bought again 30 days later is back). With
    more than one purchase after the end the cycle reads shorter, so the window errs towards a
    return. A monthly account's window is about 37 days (a final bill 25 days after the closure
    is no return), a weekly buyer's 14 (a purchase 20 days after the end is)."""
    end = _end_of(frame, ended_at).dt.normalize()
    cutoff = pd.to_datetime(frame["cutoff"])
    first = cutoff - pd.to_timedelta(pd.to_numeric(frame["age_days"]), unit="D")
    gaps = pd.to_numeric(frame["orders_all"]).astype(float) - 2  # before the last purchase day
    span = (end - first.dt.normalize()).dt.total_seconds() / 86_400
    cycle = (span / gaps.where(gaps >= 1)).to_numpy(dtype=float)
    window = np.clip(cycle + SETTLEMENT_SLACK_DAYS, SETTLEMENT_DAYS, MAX_SETTLEMENT_DAYS)
    return np.where(np.isnan(window), SETTLEMENT_DAYS, window)


def came_back(purchases: pd.DataFrame, ended_at: pd.Series) -> pd.Series:
    """Whether each customer of ``ended_at`` (by ``customer_id``) bought after their end's
    settlement window (:func:`settlement_days`) at all: ``purchases`` (``customer_id``,
    ``ordered_at``) read whole, as :func:`ended_days` reads them at the day after the last."""
    days = pd.to_datetime(purchases["ordered_at"]).dt.normalize()
    by_customer = days.groupby(purchases["customer_id"].astype(str).to_numpy())
    firsts, lasts, counts = by_customer.min(), by_customer.max(), by_customer.nunique()
    ids = ended_at.index.astype(str)
    last = pd.to_datetime(pd.Series(ids.map(lasts), index=ids))
    cutoff = last + pd.Timedelta(days=1)
    frame = pd.DataFrame(
        {
            "customer_id": ids,
            "cutoff": cutoff.to_numpy(),
            "age_days": (cutoff - pd.to_datetime(ids.map(firsts))).dt.days.to_numpy(),
            "orders_all": ids.map(counts).to_numpy(dtype=float),
        }
    )
    window = pd.to_timedelta(settlement_days(frame, ended_at), unit="D")
    settled = pd.to_datetime(ended_at).dt.normalize() + window
    return (last > settled).fillna(False).astype(bool)


def ended_days(
    frame: pd.DataFrame, ended_at: pd.Series, returned_at: pd.Series | None = None
) -> np.ndarray:
    """Days from each row's customer's end to its cutoff, for customers who have ended by it
    (module docstring; the settlement window :func:`settlement_days`) and not come back by it
    (a purchase after the window, or a ``returned_at`` after the end and before the cutoff: a
    CRM's reactivation before a later churn undoes nothing); NaN for the others.
    ``frame`` has ``customer_id``, ``cutoff``, ``recency_days`` and ``age_days`` (days since the
    last and the first purchase day; null without a purchase) and ``orders_all`` (purchase days
    before the cutoff)."""
    if ended_at.empty or frame.empty:
        return np.full(len(frame), np.nan)
    end = _end_of(frame, ended_at)
    cutoff = pd.to_datetime(frame["cutoff"])
    last_purchase = cutoff - pd.to_timedelta(pd.to_numeric(frame["recency_days"]), unit="D")
    window = pd.to_timedelta(settlement_days(frame, ended_at), unit="D")
    settled = end.dt.normalize() + pd.Series(window, index=frame.index)
    came_back = (last_purchase.dt.normalize() > settled).fillna(False)
    if returned_at is not None and not returned_at.empty:  # a return before the end is undone
        returned = _end_of(frame, returned_at)
        came_back |= ((returned < cutoff) & (returned > end)).fillna(False)
    gone = (end < cutoff).fillna(False) & ~came_back
    days = (cutoff - end).dt.total_seconds() / 86_400
    return np.where(gone.to_numpy(), days.to_numpy(dtype=float), np.nan)


def ends_in_days(frame: pd.DataFrame, ended_at: pd.Series) -> np.ndarray:
    """Days from each row's cutoff to its customer's end still ahead (a notice given, at most
    ``NOTICE_DAYS`` ahead), NaN for the others. Read only when scoring at or after the data's
    end (:func:`reads_notices`): at an earlier date the notice may not have been given yet."""
    if ended_at.empty or frame.empty:
        return np.full(len(frame), np.nan)
    end = _end_of(frame, ended_at)
    cutoff = pd.to_datetime(frame["cutoff"])
    days = (end - cutoff).dt.total_seconds() / 86_400
    ahead = ((end >= cutoff) & (days <= NOTICE_DAYS)).fillna(False).to_numpy()
    return np.where(ahead, days.to_numpy(dtype=float), np.nan)


def reads_notices(cutoff: date, data_end: date) -> bool:
    """Whether a scoring at ``cutoff`` reads ends still ahead: at or after the data's end (the
    day after its last transaction), where the export's notices are what is known now."""
    return cutoff >= data_end


def own_ended_days(frame: pd.DataFrame) -> np.ndarray:
    """:func:`ended_days` of rows that carry their customer's ``ended_at`` and, for those who
    came back, ``returned_at`` (a Spark batch)."""
    returned = None
    if RETURNED_AT in frame.columns:
        returned = returns(frame[["customer_id", RETURNED_AT]].drop_duplicates("customer_id"))
    return ended_days(frame, _own_ends(frame), returned)


def own_ends_in_days(frame: pd.DataFrame) -> np.ndarray:
    """:func:`ends_in_days` of rows that carry their customer's ``ended_at`` (a Spark batch)."""
    return ends_in_days(frame, _own_ends(frame))


def _own_ends(frame: pd.DataFrame) -> pd.Series:
    return ends(frame[["customer_id", ENDED_AT]].drop_duplicates("customer_id"))


def ends_within(frame: pd.DataFrame, ended_at: pd.Series, horizon_days: int) -> np.ndarray:
    """Whether each row's customer ends in ``[cutoff, cutoff + horizon_days)`` (for labels)."""
    if ended_at.empty or frame.empty:
        return np.zeros(len(frame), dtype=bool)
    end = _end_of(frame, ended_at)
    cutoff = pd.to_datetime(frame["cutoff"])
    within = (end >= cutoff) & (end < cutoff + pd.Timedelta(days=horizon_days))
    return within.fillna(False).to_numpy(dtype=bool)
