"""Periods of an export with almost no rows while the periods around them are full.

A month (or, near the scoring date, a week) missing from an export reads as every customer going
quiet: churn rises, recency jumps, and monitoring later calls it drift. Ingest names such months
in the data; score, monitor and retrain name such weeks before the date they work at.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: A period with fewer rows than this share of the median of the periods around it is thin.
GAP_SHARE = 0.2
#: Periods around it must hold at least this many rows (a month, at ingest) for it to count.
GAP_MIN_ROWS = 50


def thin_periods(
    rows: np.ndarray, min_rows: float, share: float = GAP_SHARE, last_open: bool = False
) -> list[tuple[int, float]]:
    """``(index, usual rows)`` of the periods holding under ``share`` of the median of the two
    periods on each side of their gap (a run of such periods: each week of a month-long hole is
    judged against the weeks around the hole, not against its own empty neighbours), the periods
    on each side full (median at least ``min_rows``): a quiet start (a launch, the weeks before
    the data begin) is no gap. The first period is never named, nor the last one unless
    ``last_open`` (then judged against the four periods before its gap)."""
    thin = []
    stop = len(rows) if last_open else len(rows) - 1
    i = 1
    while i < stop:
        before = rows[max(0, i - 2) : i]
        last = i  # the gap: this period and the thin ones right after it
        while last + 1 < stop and rows[last + 1] < share * np.median(before):
            last += 1
        before, after = _around(rows, i, last, last_open)
        if min(np.median(before), np.median(after)) < min_rows:
            i += 1
            continue
        usual = float(np.median(np.concatenate([before, after])))
        named = [(k, usual) for k in range(i, last + 1) if rows[k] < share * usual]
        thin.extend(named)
        i = last + 1 if named else i + 1
    return thin


def _around(rows: np.ndarray, first: int, last: int, last_open: bool):
    """The two periods before ``first`` and the two after ``last``; for a gap reaching the open
    last period, the four before it on both sides."""
    before, after = rows[max(0, first - 2) : first], rows[last + 1 : last + 3]
    if last_open and last == len(rows) - 1:
        before = after = rows[max(0, first - 4) : first]
    return before, after


def _naive(stamps: pd.Series) -> pd.DatetimeIndex:
    """The non-null timestamps, without their time zone (periods are counted on the clock)."""
    index = pd.DatetimeIndex(stamps.dropna())
    return index.tz_localize(None) if index.tz is not None else index


def month_gaps(dates: pd.Series) -> str | None:
    """A warning naming the months inside the data's span that hold (almost) no rows while the
    months around them are full. The first and last months (often partial) are never named."""
    stamps = _naive(dates)
    if stamps.empty:
        return None
    months = stamps.to_numpy().astype("datetime64[M]")
    counts = pd.Series(months).value_counts()
    span = pd.date_range(months.min(), months.max(), freq="MS").to_numpy().astype("datetime64[M]")
    rows = counts.reindex(span, fill_value=0).to_numpy()
    thin = [
        f"{str(span[i])} ({rows[i]:,} rows, about {usual:,.0f} around it)"
        for i, usual in thin_periods(rows, GAP_MIN_ROWS)
    ]
    if not thin:
        return None
    shown = "; ".join(thin[:6]) + (f"; and {len(thin) - 6} more" if len(thin) > 6 else "")
    return (
        f"months with almost no rows inside the data: {shown}. Is a month missing from the "
        "export? Customers would look inactive then; re-export the months, or ignore this if "
        "the business was closed"
    )


#: Days past the last row with a customer that rows without one must run for a warning, and the
#: share of the rows after it that have none.
IDS_END_DAYS, IDS_END_SHARE = 30, 0.9


def ids_end_early(dates: pd.Series, no_customer: np.ndarray, ok: np.ndarray) -> str | None:
    """A warning when the accepted rows end well before the file does and the rows after them
    name no customer (a marketplace that stopped giving the buyer's id or e-mail: Amazon's
    ``buyer-email`` blank from some month on): from that day every customer reads as gone."""
    dated = dates.notna().to_numpy()
    if not (ok & dated).any():
        return None
    stamps = pd.Series(_naive(dates[dated]), index=dates.index[dated])
    last_ok = stamps[ok[dated]].max()
    after = stamps > last_ok + pd.Timedelta(days=IDS_END_DAYS)
    if not after.any():
        return None
    without = after & no_customer[dated]
    n = int(without.sum())
    if n < 10 or n < IDS_END_SHARE * int(after.sum()):
        return None
    return (
        f"the rows with a customer end {last_ok:%Y-%m-%d}, but {n:,} rows dated after that, up "
        f"to {stamps[without].max():%Y-%m-%d}, name no customer (missing or excluded id): from "
        f"{last_ok:%Y-%m-%d} on every customer reads as gone (scoring after it reads them as "
        "lapsing or churned). Did the export stop filling the id column (a marketplace's buyer "
        "e-mail)? Map a column that names the buyer in every period, or score as of the last "
        "row with one"
    )


#: Weeks before the scoring date checked for gaps, and the rows (orders, events) a week must
#: usually hold.
RECENT_WEEKS = 26
WEEK_MIN_ORDERS = 20
#: Separate runs of thin weeks that make a rhythm (a newsletter's quiet weeks between sends, a
#: fortnightly market), not gaps.
RHYTHM_RUNS = 3


def week_gaps(
    order_days: pd.Series,
    before: pd.Timestamp,
    rows: str = "orders",
    counts: np.ndarray | None = None,
) -> str | None:
    """A warning naming the weeks of the last :data:`RECENT_WEEKS` before ``before`` whose
    ``rows`` (``orders``, or ``events``: a tracking feed that stopped while the orders went on)
    are almost none while the weeks around them are full; the latest week is judged against the
    four before it (an export cut short). Weeks are counted back from ``before`` and, failing
    that, from each of the six days before it: a 7-day gap that does not start on the scoring
    date's weekday falls across two counted weeks, each keeping half its rows. Thin weeks that
    recur in one counting (:data:`RHYTHM_RUNS` separate runs of them) are the rows' rhythm (a
    newsletter's quiet weeks between sends), not a gap: nothing is said. ``counts``: the rows of
    each of ``order_days`` (days counted on the engine: millions of events), else one each."""
    kept = order_days.notna().to_numpy()
    stamps = _naive(order_days)
    days = np.asarray((before.normalize() - stamps.normalize()).days)  # once, not per counting
    weights = None if counts is None else np.asarray(counts, dtype=float)[kept]
    found = [_thin_weeks(days, before, shift, rows, weights) for shift in range(7)]
    counted = [f for f in found if f is not None]
    if len(counted) < len(found):  # a rhythm in one counting
        return None
    # the counting that fits the gap best: its thinnest week the emptiest (the first on a tie)
    _, said = min(((r, s) for r, s in counted if s), default=(0.0, []), key=lambda f: f[0])
    if not said:
        return None
    return (
        f"warning: weeks with almost no {rows} before {before:%Y-%m-%d} "
        f"({'; '.join(said)} a week around them): a gap in the {rows} export? "
        + (
            "Customers look quiet in those days; re-export them, or ignore this if the "
            "business was closed"
            if rows == "orders"
            else "Customers look disengaged in those days (visits, e-mail opens, days since the "
            "last event): drift in those features is the feed's, not the customers'; re-export "
            "them before retraining on them"
        )
    )


def _thin_weeks(
    days: np.ndarray,
    before: pd.Timestamp,
    shift: int,
    noun: str = "orders",
    weights: np.ndarray | None = None,
) -> tuple[float, list[str]] | None:
    """The thin weeks (``thin_periods``) of the :data:`RECENT_WEEKS` counted back from ``shift``
    days before ``before`` (``days``: each row's days before ``before``), in words (``noun``:
    what a row is), and the least share of its usual rows one of them holds. Only the counting
    from ``before`` itself judges its last week (an export cut short). None when thin weeks
    recur (:data:`RHYTHM_RUNS` separate runs of them): the rows' rhythm."""
    before = before - pd.Timedelta(days=shift)
    days = days - shift
    inside = (days > 0) & (days <= 7 * RECENT_WEEKS)
    back = (days[inside] - 1) // 7  # 0: the week just before ``before``
    per_row = None if weights is None else weights[inside]
    rows = np.bincount(RECENT_WEEKS - 1 - back, per_row, minlength=RECENT_WEEKS).astype(int)
    said, least = [], 1.0
    thin = thin_periods(rows, WEEK_MIN_ORDERS, last_open=shift == 0)
    if thin and 1 + np.count_nonzero(np.diff([i for i, _ in thin]) > 1) >= RHYTHM_RUNS:
        return None
    for i, usual in thin:
        start = before - pd.Timedelta(days=7 * (RECENT_WEEKS - i))
        end = start + pd.Timedelta(days=6)
        said.append(f"{start:%Y-%m-%d}..{end:%Y-%m-%d}: {rows[i]:,} {noun}, about {usual:,.0f}")
        least = min(least, rows[i] / usual)
    return least, said


#: Days back from the data's end searched for the last day with a usual number of orders, and
#: the days before them whose median is the usual number of orders a day.
TAIL_DAYS, USUAL_DAYS = 14, 28


def thin_tail(order_days: pd.Series, end: pd.Timestamp) -> str | None:
    """When the data's last days hold almost no orders after a day with a usual number of them:
    a few rows dated after the export was taken (a retried payment, a credit note, a scheduled
    invoice) move the default scoring date, the day after the last transaction (``end``), past
    it, and every customer billed on the days between looks late. Words naming the last usual
    day and the date to score at; ``None`` unless at least two thin days follow it."""
    stamps = _naive(order_days)
    days = np.asarray((end.normalize() - stamps.normalize()).days)  # 1: the last day
    reach = TAIL_DAYS + USUAL_DAYS
    counts = np.bincount(days[(days > 0) & (days <= reach)], minlength=reach + 1)
    usual = float(np.median(counts[TAIL_DAYS + 1 :]))
    if usual * 7 < WEEK_MIN_ORDERS:
        return None
    back = next((b for b in range(1, TAIL_DAYS + 1) if counts[b] >= GAP_SHARE * usual), None)
    if back is None or back < 3:
        return None
    last = end.normalize() - pd.Timedelta(days=back)
    return (
        f"or was the export taken about {last + pd.Timedelta(days=1):%Y-%m-%d}? The orders thin "
        f"out after {last:%Y-%m-%d} ({int(counts[1:back].sum()):,} on the {back - 1} days after "
        f"it, about {usual:,.0f} a day before), and without --as-of the date is the day after "
        "the last transaction: customers due on the days between look late; then pass "
        f"--as-of {last + pd.Timedelta(days=1):%Y-%m-%d}"
    )
