"""Billing cycles against the churn horizon: a base whose customers pay on a regular cycle
(subscriptions, invoices) longer than the horizon reads as churning while it stays.

"Churned" is "no purchase in the next H days" (``labels.churn_horizon_days``). That is the right
question for shoppers, whose gaps vary; for an annual invoice it is true for most of the year of a
customer who renews. What tells a billing base from a shopping one is regularity: on invoices most
customers with three or more purchase days have gaps within a quarter of their mean; on CDNOW and
synthetic shoppers 6 to 17% do (measured at two cutoffs each), on a B2B invoice export 88%.
"""

from __future__ import annotations

import math

import pandas as pd

from features.endings import ENDED_DAYS
from training.config import MAX_CHURN_HORIZON_DAYS

#: A customer's gaps are a cycle when their spread is at most this share of their mean.
REGULAR_SPREAD = 0.25
#: A base is billed on cycles when at least this share of its customers with 3+ purchase days is.
BILLING_SHARE = 0.5
#: Fewer customers on a cycle longer than the horizon than this are not worth a note.
MIN_LONG_CYCLES = 20
#: A cycle of g days is longer than the horizon H when a customer who stays is labelled churned
#: at this share of cutoffs or more ((g - H) / g): an annual cycle of 365.5 days (a leap year, an
#: invoice a day late) is covered by H = 365, the horizon docs/scoring.md advises.
LONGER_SHARE = 0.05


def billing_cycle_note(
    rows: pd.DataFrame, churn_horizon_days: int, backtest: bool = False
) -> str | None:
    """A note when ``rows`` (features at one cutoff: ``orders_all``, ``mean_gap_days``,
    ``std_gap_days``) look like a billing base and some of its customers pay on a cycle longer
    than the churn horizon; None otherwise. ``backtest``: the advice names the backtest's option
    (its horizon is ``--horizon-days``) instead of training's."""
    if (cycles := _regular_cycles(rows)) is None:
        return None
    three, regular = cycles
    long = regular[regular["mean_gap_days"] * (1 - LONGER_SHARE) >= churn_horizon_days]
    if len(long) < MIN_LONG_CYCLES:
        return None
    cycle = float(long["mean_gap_days"].median())
    # whole days of the longest common cycle: 365 for yearly invoices (365.5 with a leap year)
    horizon = min(math.floor(float(long["mean_gap_days"].quantile(0.9))), MAX_CHURN_HORIZON_DAYS)
    advice = (
        f"backtest billing data at a horizon of at least the longest cycle (--horizon-days "
        f"{horizon})"
        if backtest
        else "train with a churn horizon of at least the longest cycle (e.g. "
        f"--churn-horizon-days {horizon} --value-horizon-days {horizon}, or labels: in the "
        f"config; each training cutoff then needs {horizon} days of data after it, and the "
        "cutoffs a year of history before them to see a yearly cycle: about two years of data "
        "or more, else few cutoffs are left and the models learn little); and where customers "
        "with one invoice so far pay on that cycle, set "
        f"scoring: {{stages: {{default_gap_days: {horizon}}}}} in the config (otherwise their "
        "usual gap is fitted so that they read as churned once 90% (stages.returned_share) of "
        "the customers who paid again had done so)"
    )
    return (
        f"{len(regular):,} of the {len(three):,} customers with 3 or more purchase days buy on a "
        f"regular cycle, as subscriptions and invoices do, and {len(long):,} of them on a cycle "
        f"longer than {churn_horizon_days} days (median every {cycle:.0f} days): 'churned' means "
        f"no purchase in the next {churn_horizon_days} days, which is true of them while they "
        "stay, so their churn probability and stage read as leaving, and test metrics at this "
        f"horizon measure that question. For billing data, {advice}; docs/scoring.md, "
        "'Subscriptions and invoices'"
    )


#: Repeat customers whose median usual gap is this many churn horizons or more mostly make no
#: purchase within one while they stay (a car dealer's service visits every 4 to 14 months).
SLOW_RHYTHM_HORIZONS = 1.5


def rhythm_note(rows: pd.DataFrame, churn_horizon_days: int) -> str | None:
    """The note on customers slower than the churn horizon: the billing-cycle note, else the
    slow-rhythm one (train and score say it; None when neither applies)."""
    return billing_cycle_note(rows, churn_horizon_days) or slow_rhythm_note(
        rows, churn_horizon_days
    )


def slow_rhythm_note(rows: pd.DataFrame, churn_horizon_days: int) -> str | None:
    """A note when the repeat customers of ``rows`` (features at one cutoff) usually buy less
    often than every ``SLOW_RHYTHM_HORIZONS`` churn horizons; None otherwise (a billing base gets
    the billing-cycle note instead: :func:`rhythm_note`). A dealer group trained at 90 days: 76%
    of its customers had no visit within 90 days, and nothing said so."""
    if "mean_gap_days" not in rows:
        return None
    gaps = pd.to_numeric(rows["mean_gap_days"], errors="coerce").dropna()
    if len(gaps) < MIN_LONG_CYCLES or (usual := float(gaps.median())) < (
        SLOW_RHYTHM_HORIZONS * churn_horizon_days
    ):
        return None
    horizon = min(30 * math.ceil(usual / 30), MAX_CHURN_HORIZON_DAYS)
    return (
        f"the repeat customers usually buy every {usual:.0f} days (median of their usual gaps), "
        f"more than the churn horizon of {churn_horizon_days} days: most who stay make no "
        f"purchase in the next {churn_horizon_days} days, so 'churned' (no purchase in them) "
        "reads their rhythm more than their leaving. Train with a horizon of at least their "
        f"usual gap (--churn-horizon-days {horizon} --value-horizon-days {horizon}, or labels: "
        "in the config)"
    )


def cancellation_note(rows: pd.DataFrame) -> str | None:
    """A note when ``rows`` look like a billing base and the data gives no end dates
    (``customers.ended_at``, ``features.endings``); None otherwise."""
    if ENDED_DAYS in rows.columns or (cycles := _regular_cycles(rows)) is None:
        return None
    three, regular = cycles
    return (
        f"{len(regular):,} of the {len(three):,} customers with 3 or more purchase days pay on a "
        f"regular cycle (median every {float(regular['mean_gap_days'].median()):.0f} days), as "
        "memberships and subscriptions do: such a customer pays to the last day, so a "
        "cancellation shows only once the payments stop, and one who has left reads as a "
        "customer until then. If the export holds cancellation (end) dates, map them as "
        "customers.ended_at: customers who have ended are then left out of training and scored "
        "churned; docs/scoring.md, 'Subscriptions and invoices'"
    )


def _regular_cycles(rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """The customers with 3+ purchase days and those of them on a regular cycle, when the
    latter are at least ``BILLING_SHARE`` of the former (a billing base); else None."""
    if rows.empty or not {"orders_all", "mean_gap_days", "std_gap_days"} <= set(rows):
        return None
    three = rows[rows["orders_all"] >= 3]
    regular = three[three["std_gap_days"] <= REGULAR_SPREAD * three["mean_gap_days"]]
    if three.empty or len(regular) < BILLING_SHARE * len(three):
        return None
    return three, regular
