"""Lifecycle stage of each customer at a cutoff: explicit first-match rules (docs/scoring.md).

Order: prospect -> churned -> declining -> new -> growing -> mature. The rules read the
customer's own purchase rhythm (recency over their usual gap), their 90-day trends, complaints,
and the churn model's probability, so that a stage never contradicts the model.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from serving.config import StageRules

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
#: Read when present; absent (no engagement features, e.g. CDNOW) means no complaints.
OPTIONAL_STAGE_COLUMNS: tuple[str, ...] = ("complaint_30d",)


def check_columns(features: pd.DataFrame, required: Sequence[str], what: str) -> None:
    """Raise a ValueError naming every required column missing from ``features``."""
    missing = [c for c in required if c not in features.columns]
    if missing:
        raise ValueError(f"{what} needs feature columns {missing}; got {list(features.columns)}")


def _column(features: pd.DataFrame, column: str) -> np.ndarray:
    values = features[column]
    if values.dtype.kind in "biuf":  # numbers already (numpy or nullable): no parsing
        return values.to_numpy(dtype=float, na_value=np.nan)
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def _columns(features: pd.DataFrame, columns: Sequence[str]) -> dict[str, np.ndarray]:
    """``_column`` of each of ``columns``; numbers in one block when they all are numbers."""
    block = features[list(columns)]
    if all(dtype.kind in "biuf" for dtype in block.dtypes):
        values = block.to_numpy(dtype=float, na_value=np.nan)
        return {c: values[:, j] for j, c in enumerate(columns)}
    return {c: _column(features, c) for c in columns}


def usual_gap_days(features: pd.DataFrame, rules: StageRules) -> pd.Series:
    """The customer's usual gap: mean_gap_days, the population default if unknown, floored."""
    gap = np.nan_to_num(_column(features, "mean_gap_days"), nan=rules.default_gap_days)
    return pd.Series(np.maximum(gap, rules.min_gap_days), index=features.index)


def rhythm_ratio(features: pd.DataFrame, rules: StageRules) -> pd.Series:
    """How many usual gaps the customer is overdue: recency_days / usual_gap_days."""
    return _column(features, "recency_days") / usual_gap_days(features, rules)


def growth(current: np.ndarray, previous: np.ndarray) -> np.ndarray:
    """Relative change (current - previous) / previous; +inf from nothing to something, 0 if both
    0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = (current - previous) / previous
    return np.where(previous > 0, rel, np.where(current > previous, np.inf, 0.0))


def assign_stages(
    features: pd.DataFrame, churn_probability: Sequence[float] | np.ndarray, rules: StageRules
) -> pd.Series:
    """One stage per row (index of ``features``); churn_probability NaN = no model opinion."""
    check_columns(features, STAGE_COLUMNS, "assign_stages")
    p = np.asarray(churn_probability, dtype=float).reshape(-1)
    if len(p) != len(features):
        raise ValueError(f"churn_probability has {len(p)} values for {len(features)} feature rows")
    x = _columns(features, STAGE_COLUMNS)
    for c in OPTIONAL_STAGE_COLUMNS:
        x[c] = _column(features, c) if c in features else np.zeros(len(features))

    prospect = np.nan_to_num(x["is_prospect"]) == 1
    recency = x["recency_days"]
    unknown = ~prospect & np.isnan(recency)
    if unknown.any():
        ids = features["customer_id"] if "customer_id" in features else features.index.to_series()
        raise ValueError(
            f"recency_days is null for buyers (is_prospect=0), e.g. {list(ids[unknown][:5])}"
        )
    ratio = rhythm_ratio(features, rules).to_numpy()
    orders_90d = np.nan_to_num(x["orders_90d"])
    orders_trend = np.nan_to_num(x["orders_trend_90d"])
    orders_prev = orders_90d - orders_trend
    revenue_90d = np.nan_to_num(x["revenue_90d"])
    revenue_trend = np.nan_to_num(x["revenue_trend_90d"])
    complaints = np.nan_to_num(x["complaint_30d"])

    lapsed = (ratio >= rules.churned_ratio) & (recency >= rules.churned_min_days)
    churned = lapsed | ((p >= rules.churned_probability) & (ratio >= rules.declining_ratio))
    overdue = ratio >= rules.declining_ratio
    at_risk = p >= rules.declining_probability
    complaining = (complaints >= rules.declining_min_complaints) & (
        (orders_trend < 0) | (revenue_trend < 0)
    )
    falling = (orders_prev >= rules.declining_min_prev_orders) & (
        orders_90d <= rules.declining_orders_share * orders_prev
    )
    declining = overdue | at_risk | complaining | falling
    new = (x["age_days"] < rules.new_days) | (x["orders_all"] <= rules.new_max_orders)
    more_orders = (orders_trend >= 1) & (
        growth(orders_90d, orders_prev) >= rules.growing_min_growth
    )
    more_revenue = (orders_trend >= 0) & (
        growth(revenue_90d, revenue_90d - revenue_trend) >= rules.growing_min_growth
    )
    growing = more_orders | more_revenue

    stage = np.select(
        [prospect, churned, declining, new, growing],
        ["prospect", "churned", "declining", "new", "growing"],
        default="mature",
    )
    return pd.Series(stage, index=features.index, name="stage", dtype=object)


def fit_default_gap_days(features: pd.DataFrame) -> float:
    """Population default gap: the median mean_gap_days of the repeat buyers in a batch."""
    gaps = pd.to_numeric(features["mean_gap_days"], errors="coerce").dropna()
    if gaps.empty:
        raise ValueError("fit_default_gap_days: no customer in the batch has a mean_gap_days")
    return float(gaps.median())
