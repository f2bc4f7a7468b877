"""Customers who ended the relationship: a membership cancelled, a subscription or account closed.

The customers table may say when (``ended_at``, ``features.contract.ENDED_AT``). At a cutoff T a
customer *has ended* when ``ended_at < T`` and they bought nothing after the end's day and the
``SETTLEMENT_DAYS`` after it (a purchase later is a return: they came back). Only
``ended_at < T`` is read for a cutoff's features; an end in ``[T, T + H)`` is read for labels
only (a member who gives notice and pays the notice month has churned within the horizon
although they bought in it).
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from features.contract import ENDED_AT

#: Days after the end in which a payment settles the last bill (a failed debit retried, a final
#: invoice) rather than bringing the customer back.
SETTLEMENT_DAYS = 14
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


def ends(customers: pd.DataFrame) -> pd.Series:
    """Each customer's end (``ended_at``), by ``customer_id``; empty without the column."""
    if ENDED_AT not in customers.columns:
        return pd.Series(dtype="datetime64[us]")
    known = customers.dropna(subset=[ENDED_AT])
    return pd.Series(
        pd.to_datetime(known[ENDED_AT]).to_numpy(), index=known["customer_id"].astype(str)
    )


def _end_of(frame: pd.DataFrame, ended_at: pd.Series) -> pd.Series:
    return pd.to_datetime(frame["customer_id"].astype(str).map(ended_at))


def ended_days(frame: pd.DataFrame, ended_at: pd.Series) -> np.ndarray:
    """Days from each row's customer's end to its cutoff, for customers who have ended by it
    (module docstring); NaN for the others. ``frame`` has ``customer_id``, ``cutoff`` and
    ``recency_days`` (days since the last purchase day; null without a purchase)."""
    if ended_at.empty or frame.empty:
        return np.full(len(frame), np.nan)
    end = _end_of(frame, ended_at)
    cutoff = pd.to_datetime(frame["cutoff"])
    last_purchase = cutoff - pd.to_timedelta(pd.to_numeric(frame["recency_days"]), unit="D")
    settled = end.dt.normalize() + pd.Timedelta(days=SETTLEMENT_DAYS)
    came_back = (last_purchase.dt.normalize() > settled).fillna(False)
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
    """:func:`ended_days` of rows that carry their customer's ``ended_at`` (a Spark batch)."""
    return ended_days(frame, _own_ends(frame))


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
