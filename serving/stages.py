"""Lifecycle stage of each customer at a cutoff: explicit first-match rules (docs/scoring.md).

Order: prospect -> churned -> declining -> new -> growing -> mature; a customer who ended the
relationship (``features.endings``) is churned, one who gave notice (an end still ahead)
declining. The rules read the customer's own purchase rhythm (recency over their usual gap),
their 90-day trends, complaints, and the churn model's probability, so that a stage never
contradicts the model.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from features.endings import ENDED_DAYS, ENDS_IN_DAYS
from serving.columns import float_column, float_columns
from serving.config import StageRules
from training.cadence import REGULAR_SPREAD

STAGE_COLUMNS: tuple[str, ...] = (
    "is_prospect",
    "recency_days",
    "mean_gap_days",
    "age_days",
    "orders_all",
    "orders_90d",
    "orders_trend_90d",
    "revenue_90d",
    "revenue_trend_90d",
)
#: Read when present (the default windows have them): the basket rule, revenue per order in the
#: last 90 days against the year's (``shrinking_basket``); absent, nobody's basket shrinks.
BASKET_YEAR_COLUMNS: tuple[str, ...] = ("orders_365d", "revenue_365d")
#: A year of history before the basket of the last 90 days is compared with the year's.
BASKET_YEAR_MIN_AGE_DAYS = 365.0
#: Read when present; absent (no engagement features, e.g. CDNOW) means no complaints.
OPTIONAL_STAGE_COLUMNS: tuple[str, ...] = ("complaint_30d",)
#: Read when present (engagement features): visits and logins in the last 90 days. A buyer
#: lapsed by their rhythm who still comes by is not gone (``still_visiting``).
VISIT_COLUMNS: tuple[str, ...] = ("visit_90d", "login_90d")
#: Read when present (feature tables since 2026-12-07): days the customer has paid ahead (a
#: contract's term): a customer paid ahead is not lapsed nor overdue for want of a purchase.
PAID_AHEAD = "paid_ahead_days"
#: Read when present (feature tables since 2026-12-06): the customer's silence at this date a
#: year ago and how soon they bought after it (``seasonal_pause``); absent, no pause is seen.
YEAR_AGO_COLUMNS: tuple[str, ...] = ("year_ago_recency_days", "year_ago_return_days")


def has_ended(features: pd.DataFrame) -> np.ndarray:
    """Whether each row's customer had ended the relationship by its cutoff
    (``features.endings``; no such column: nobody)."""
    return _given(features, ENDED_DAYS)


def gave_notice(features: pd.DataFrame) -> np.ndarray:
    """Whether each row's customer has an end still ahead (``features.endings.ENDS_IN_DAYS``:
    a notice given, read when scoring at the data's end)."""
    return _given(features, ENDS_IN_DAYS)


def _given(features: pd.DataFrame, column: str) -> np.ndarray:
    if column not in features.columns:
        return np.zeros(len(features), dtype=bool)
    return pd.to_numeric(features[column], errors="coerce").notna().to_numpy()


def check_columns(features: pd.DataFrame, required: Sequence[str], what: str) -> None:
    """Raise a ValueError naming every required column missing from ``features``."""
    present = set(features.columns.tolist())
    missing = [c for c in required if c not in present]
    if missing:
        raise ValueError(f"{what} needs feature columns {missing}; got {list(features.columns)}")


def usual_gap_days(features: pd.DataFrame, rules: StageRules) -> pd.Series:
    """The customer's usual gap: mean_gap_days, the population default if unknown, floored."""
    gap = _usual_gap(float_column(features["mean_gap_days"]), rules)
    return pd.Series(gap, index=features.index)


def rhythm_ratio(features: pd.DataFrame, rules: StageRules) -> pd.Series:
    """How many usual gaps the customer is overdue: recency_days / usual_gap_days."""
    x = float_columns(features, ["recency_days", "mean_gap_days"])
    return pd.Series(_rhythm(x, rules), index=features.index)


def _usual_gap(mean_gap_days: np.ndarray, rules: StageRules) -> np.ndarray:
    gap = np.nan_to_num(mean_gap_days, nan=rules.default_gap_days)
    return np.maximum(gap, rules.min_gap_days)


def _rhythm(x: dict[str, np.ndarray], rules: StageRules) -> np.ndarray:
    return x["recency_days"] / _usual_gap(x["mean_gap_days"], rules)


def rhythm_no_purchase(x: dict[str, np.ndarray], rules: StageRules) -> np.ndarray:
    """The chance that a customer buying at their usual rate (exponential gaps) makes no purchase
    within the churn model's horizon: exp(-horizon / usual gap); 0 when the horizon is unknown.

    A slow buyer (usual gap 256 days, horizon 90) has 0.70 of it while perfectly on rhythm: a
    churn probability of 0.59 says nothing new about them, so it does not make them declining.
    A customer on a regular cycle (3+ purchase days, ``std_gap_days`` within ``REGULAR_SPREAD``
    of the gap) is not random: 1 when their next purchase is due after the horizon (an annual
    guest who stayed last week), 0 when it is due within it."""
    if rules.churn_horizon_days is None:
        return np.zeros(len(x["recency_days"]))
    gap = _usual_gap(x["mean_gap_days"], rules)
    chance = np.exp(-rules.churn_horizon_days / gap)
    # on a regular cycle (an annual guest, an invoice): no purchase is due within the horizon
    # when the next one falls after it (1), and one is when it falls inside (0)
    due_after = x["recency_days"] + rules.churn_horizon_days < gap
    cycle = on_cycle(x, rules) | cycle_a_year_ago(x, rules)
    return np.where(cycle, due_after.astype(float), chance)


def cycle_a_year_ago(x: dict[str, np.ndarray], rules: StageRules) -> np.ndarray:
    """Repeat buyers whose gap spanning this date a year ago (``year_ago_recency_days +
    year_ago_return_days``) was their usual gap, within ``REGULAR_SPREAD``: a donor who gives
    each December, with two gifts, is on a yearly cycle, not buying at random (after the gift
    the 90-day risk read 'declining' in 40 of them)."""
    if any(c not in x for c in YEAR_AGO_COLUMNS):
        return np.zeros(len(x["recency_days"]), dtype=bool)
    spanning = x["year_ago_recency_days"] + x["year_ago_return_days"]
    gap = x["mean_gap_days"]
    with np.errstate(invalid="ignore"):
        return np.isfinite(gap) & (np.abs(spanning - gap) <= REGULAR_SPREAD * gap)


def on_cycle(x: dict[str, np.ndarray], rules: StageRules) -> np.ndarray:
    """Customers on a regular cycle: 3+ purchase days, ``std_gap_days`` within
    ``REGULAR_SPREAD`` of the usual gap (``training.cadence`` tells a billing base so); without
    the column, nobody."""
    if "std_gap_days" not in x:
        return np.zeros(len(x["recency_days"]), dtype=bool)
    gap = _usual_gap(x["mean_gap_days"], rules)
    return (np.nan_to_num(x["orders_all"]) >= 3) & (x["std_gap_days"] <= REGULAR_SPREAD * gap)


def growth(current: np.ndarray, previous: np.ndarray) -> np.ndarray:
    """Relative change (current - previous) / previous; +inf from nothing to something, 0 if both
    0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = (current - previous) / previous
    return np.where(previous > 0, rel, np.where(current > previous, np.inf, 0.0))


def basket(revenue: np.ndarray, orders: np.ndarray) -> np.ndarray:
    """Revenue per order (0 without orders)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(orders > 0, revenue / orders, 0.0)


def trend_chances(current: np.ndarray, previous: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The chances that a customer buying at a steady rate splits their orders of the last two
    90-day windows at least this much towards the last one (up) or the one before (down).

    Of n = current + previous orders, a steady rate puts each in either window with chance 1/2
    (the exact conditional test of two Poisson counts): up = P(Binomial(n, 1/2) >= current),
    down = P(Binomial(n, 1/2) <= current). 3 -> 4 orders has up = 0.5: noise, not growth."""
    from scipy.stats import binom

    current = np.maximum(np.round(current), 0)
    n = current + np.maximum(np.round(previous), 0)
    return binom.sf(current - 1, n, 0.5), binom.cdf(current, n, 0.5)


def still_visiting(features: pd.DataFrame) -> np.ndarray:
    """Customers with a visit or a login in the last 90 days (``VISIT_COLUMNS``; without them,
    nobody). Lapsed by their purchases, they are ``declining``, not ``churned``: on synthetic
    backtests 37% (seed 0) and 41% (seed 3) of them bought within 90 days, against 1% of the
    lapsed who did not come by; a dealer's customers in for warranty work pay nothing."""
    present = [c for c in VISIT_COLUMNS if c in features.columns]
    if not present:
        return np.zeros(len(features), dtype=bool)
    counts = float_columns(features, present)
    return np.sum([np.nan_to_num(counts[c]) for c in present], axis=0) > 0


def lapsed_visitors(features: pd.DataFrame, rules: StageRules) -> np.ndarray:
    """Buyers lapsed by their rhythm (``churned_ratio`` gaps and ``churned_min_days`` silent)
    who still come by (``still_visiting``): ``declining``, with a reason that says so."""
    x = float_columns(features, ["recency_days", "mean_gap_days"])
    return _lapsed(_rhythm(x, rules), x["recency_days"], rules) & still_visiting(features)


def _lapsed(ratio: np.ndarray, recency: np.ndarray, rules: StageRules) -> np.ndarray:
    """Silent for ``churned_ratio`` usual gaps and ``churned_min_days`` or more (rule 2)."""
    return (ratio >= rules.churned_ratio) & (recency >= rules.churned_min_days)


def seasonal_pause(x: dict[str, np.ndarray], rules: StageRules) -> np.ndarray:
    """Buyers in a long silence (overdue by their rhythm, or silent for the churn model's
    horizon or longer) who were as silent at this date a year ago (their silence now at most
    ``1 + seasonal_margin`` times that one) and bought again after it: a beach bar in winter, a
    donor who gives in December, a shop's Double-11 buyer in August. Their silence is their
    season, not a decline, until it runs longer than last year's."""
    recency = x["recency_days"]
    if any(c not in x for c in YEAR_AGO_COLUMNS):
        return np.zeros(len(recency), dtype=bool)
    ago, back = x["year_ago_recency_days"], x["year_ago_return_days"]
    with np.errstate(invalid="ignore"):
        silent = _rhythm(x, rules) >= rules.declining_ratio
        if rules.churn_horizon_days is not None:  # a December donor in October: 0.9 gaps
            silent |= recency >= rules.churn_horizon_days
        as_quiet = recency <= ago * (1 + rules.seasonal_margin)
    return silent & np.isfinite(back) & as_quiet


def on_seasonal_pause(features: pd.DataFrame, rules: StageRules) -> np.ndarray:
    """:func:`seasonal_pause` of feature rows (for their reason and value at risk)."""
    if any(c not in features.columns for c in YEAR_AGO_COLUMNS):
        return np.zeros(len(features), dtype=bool)
    x = float_columns(features, ["recency_days", "mean_gap_days", *YEAR_AGO_COLUMNS])
    return seasonal_pause(x, rules)


def shrinking_basket(features: pd.DataFrame, rules: StageRules) -> np.ndarray:
    """Buyers still ordering (``basket_min_orders`` or more purchase days in the last 90 days, a
    year of history) whose revenue per order in those 90 days is at most
    ``declining_basket_share`` of the last 365 days': a B2B account that keeps ordering but buys
    less of the range before it leaves, which neither its recency nor its order count shows.
    Against the year, not the 90 days before: a quarter's baskets are noisy (docs/scoring.md)."""
    columns = ("orders_90d", "revenue_90d", "age_days", *BASKET_YEAR_COLUMNS)
    if any(c not in features.columns for c in columns):
        return np.zeros(len(features), dtype=bool)
    x = float_columns(features, list(columns))
    orders_90d = np.nan_to_num(x["orders_90d"])
    now = basket(np.nan_to_num(x["revenue_90d"]), orders_90d)
    year = basket(np.nan_to_num(x["revenue_365d"]), np.nan_to_num(x["orders_365d"]))
    return (
        (orders_90d >= rules.basket_min_orders)
        & (np.nan_to_num(x["age_days"]) >= BASKET_YEAR_MIN_AGE_DAYS)
        & (year > 0)
        & (now <= rules.declining_basket_share * year)
    )


def assign_stages(
    features: pd.DataFrame, churn_probability: Sequence[float] | np.ndarray, rules: StageRules
) -> pd.Series:
    """One stage per row (index of ``features``); churn_probability NaN = no model opinion."""
    check_columns(features, STAGE_COLUMNS, "assign_stages")
    p = np.asarray(churn_probability, dtype=float).reshape(-1)
    if len(p) != len(features):
        raise ValueError(f"churn_probability has {len(p)} values for {len(features)} feature rows")
    optional = [
        c
        for c in (*OPTIONAL_STAGE_COLUMNS, *YEAR_AGO_COLUMNS, "std_gap_days", PAID_AHEAD)
        if c in features.columns
    ]
    x = float_columns(features, [*STAGE_COLUMNS, *optional])
    for c in OPTIONAL_STAGE_COLUMNS:
        x.setdefault(c, np.zeros(len(features)))
    x.setdefault("std_gap_days", np.full(len(features), np.nan))  # unknown: not a cycle

    prospect = np.nan_to_num(x["is_prospect"]) == 1
    recency = x["recency_days"]
    ended = ~prospect & has_ended(features)
    unknown = ~prospect & ~ended & np.isnan(recency)
    if unknown.any():
        ids = features["customer_id"] if "customer_id" in features else features.index.to_series()
        raise ValueError(
            f"recency_days is null for buyers (is_prospect=0), e.g. {list(ids[unknown][:5])}"
        )
    ratio = _rhythm(x, rules)
    orders_90d = np.nan_to_num(x["orders_90d"])
    orders_trend = np.nan_to_num(x["orders_trend_90d"])
    orders_prev = orders_90d - orders_trend
    revenue_90d = np.nan_to_num(x["revenue_90d"])
    revenue_trend = np.nan_to_num(x["revenue_trend_90d"])
    complaints = np.nan_to_num(x["complaint_30d"])

    # a customer who gave notice is one until the end, however long since they paid
    leaving = ~prospect & ~ended & gave_notice(features)
    overdue = ratio >= rules.declining_ratio
    # as silent as at this date a year ago, and back after it then: the season, not a decline
    pause = seasonal_pause(x, rules)
    # paid ahead (a contract running): no purchase is due, whatever the rhythm says
    paid_ahead = np.nan_to_num(x.get(PAID_AHEAD, np.zeros(len(p)))) > 0
    overdue &= ~pause & ~paid_ahead
    # silent for many gaps, and not even coming by (a visit, a login): gone
    lapsed = _lapsed(ratio, recency, rules) & ~still_visiting(features) & ~paid_ahead
    churned = (lapsed | ((p >= rules.churned_probability) & overdue)) & ~leaving & ~pause
    age = x["age_days"]
    onboarding = age < rules.new_days  # too soon for the model's risk to be a decline
    at_risk = (p >= rules.declining_probability) & (p > rhythm_no_purchase(x, rules)) & ~onboarding
    at_risk &= ~pause
    complaining = (complaints >= rules.declining_min_complaints) & (
        (orders_trend < 0) | (revenue_trend < 0)
    )
    up, down = trend_chances(orders_90d, orders_prev)
    falling = (
        (orders_prev >= rules.declining_min_prev_orders)
        & (orders_90d <= rules.declining_orders_share * orders_prev)
        & (down <= rules.trend_max_chance)
        & ~pause  # the orders of a season that ended, as a year ago
    )
    # on a cycle the same number of payments for less (or more) money is a downgrade (or an
    # upgrade), not the noise of a shopper's baskets
    cycle = on_cycle(x, rules) & (orders_trend == 0) & (orders_prev >= 1)
    billed = growth(revenue_90d, revenue_90d - revenue_trend)
    billed_less = cycle & (billed <= -rules.growing_min_growth)
    billed_more = cycle & (billed >= rules.growing_min_growth)
    buying_less = shrinking_basket(features, rules)
    declining = overdue | at_risk | complaining | falling | billed_less | buying_less | leaving
    new = onboarding | ((x["orders_all"] <= rules.new_max_orders) & (age < rules.new_max_age_days))
    more_orders = (
        (orders_trend >= 1)
        & (growth(orders_90d, orders_prev) >= rules.growing_min_growth)
        & (up <= rules.trend_max_chance)
    )
    more_revenue = (
        (orders_trend >= 0)
        & (orders_prev >= rules.basket_min_orders)
        & (
            growth(
                basket(revenue_90d, orders_90d), basket(revenue_90d - revenue_trend, orders_prev)
            )
            >= rules.growing_min_growth
        )
    )
    growing = more_orders | more_revenue | billed_more

    stage = np.select(
        [prospect, churned | ended, declining, new, growing],
        ["prospect", "churned", "declining", "new", "growing"],
        default="mature",
    )
    return pd.Series(stage, index=features.index, name="stage", dtype=object)


#: How soon a repeat buyer first came back (feature tables since 2026-12-06).
FIRST_GAP = "first_gap_days"


def fit_default_gap_days(features: pd.DataFrame, rules: StageRules) -> float:
    """Usual gap of customers with one purchase day, fitted on a batch of buyers: the time by
    which ``rules.returned_share`` of the customers who came back had done so, over
    ``rules.churned_ratio``, so that a one-purchase customer reads as churned once that time has
    passed (and declining at ``declining_ratio`` of those gaps).

    The time to come back is a Kaplan-Meier estimate: a repeat buyer came back after their first
    gap (``first_gap_days``; a table without it: their usual gap, ``mean_gap_days``, whose spread
    is narrower, putting the 90% point 4% early on CDNOW, 14% on synthetic, 35% on simulated
    exponential returns), a one-purchase customer has waited ``age_days`` so far (censored);
    those who never come back are the level the curve ends at (after its last return). The
    median gap of the repeat buyers (before 2026-12-06) is a month where most pay monthly, and a
    first-year annual donor read as churned four months after their gift."""
    # the first return where the table has it; a table from before it: their usual gap
    returned = FIRST_GAP if FIRST_GAP in features.columns else "mean_gap_days"
    gaps = pd.to_numeric(features[returned], errors="coerce").to_numpy(dtype=float)
    came_back = np.isfinite(gaps)
    if not came_back.any():
        raise ValueError(f"fit_default_gap_days: no customer in the batch has a {returned}")
    waited = pd.to_numeric(features["age_days"], errors="coerce").to_numpy(dtype=float)
    time = np.where(came_back, gaps, waited)
    known = np.isfinite(time)
    days = back_by(time[known], came_back[known], rules.returned_share)
    return max(days / rules.churned_ratio, rules.min_gap_days)


def back_by(time: np.ndarray, came_back: np.ndarray, share: float) -> float:
    """Days by which ``share`` of those who ever come back are back (Kaplan-Meier with a level
    that never comes back: the curve after its last return)."""
    order = np.lexsort((~came_back, time))  # at equal times returns before the censored
    time, came_back = time[order], came_back[order]
    at_risk = len(time) - np.arange(len(time))
    still_away = np.cumprod(np.where(came_back, 1 - 1 / at_risk, 1.0))
    never = still_away[came_back][-1]
    return float(time[np.argmax(still_away <= 1 - share * (1 - never))])
