"""Customers under notice: an end still ahead (``features.endings.ENDS_IN_DAYS``), a membership
or subscription cancelled with effect at a later date.

They leave at the end unless someone keeps them. So, by rule rather than by model: an end within
the churn horizon makes the churn probability the ended one (the label counts such an end as
churn); the predicted value is what the customer pays until the end (the value if retained, for
the share of the value horizon before it); and the value at risk is what they would pay after it,
the save desk's stake, with certainty of leaving. Without the value horizon (a caller that does
not know the models' horizons) the value is left whole and all of it is at risk.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.endings import ENDS_IN_DAYS


def ends_in(features: pd.DataFrame) -> np.ndarray:
    """Days to each row's end still ahead; NaN without a notice (or without the column)."""
    if ENDS_IN_DAYS not in features.columns:
        return np.full(len(features), np.nan)
    return pd.to_numeric(features[ENDS_IN_DAYS], errors="coerce").to_numpy(float)


@dataclass(frozen=True)
class NoticeTerms:
    """Per row, what a notice makes of the model's numbers (rows without one keep them)."""

    churn_probability: np.ndarray
    value: tuple[np.ndarray, np.ndarray, np.ndarray]  # predicted value, its low and high
    churn_at_risk: np.ndarray  # over the value horizon, for the value at risk
    retained_value: np.ndarray  # what the value at risk multiplies


def notice_terms(
    days_to_end: np.ndarray,
    churn_probability: np.ndarray,
    value: tuple[np.ndarray, np.ndarray, np.ndarray],
    churn_at_risk: np.ndarray,
    retained_value: np.ndarray,
    ended_probability: float,
    horizons: tuple[float | None, float | None],
) -> NoticeTerms:
    """The terms of the rows with an end ``days_to_end`` ahead (NaN: none). ``value`` is the
    predicted value with its range, ``churn_at_risk`` and ``retained_value`` the model's churn
    over the value horizon and value if retained; ``horizons`` the churn and value horizons in
    days. Under notice the predicted value is ``retained_value`` for the share of the value
    horizon before the end, and its range scales with it."""
    churn_days, value_days = horizons
    notice = np.isfinite(days_to_end)
    days = np.where(notice, days_to_end, np.inf)
    p = churn_probability.copy()
    if churn_days is not None:
        p[days < churn_days] = ended_probability
    if value_days is None:  # the value whole, all of it at risk
        share, leaves = np.ones(len(days)), notice
    else:
        share, leaves = np.clip(days / value_days, 0.0, 1.0), days < value_days
    until_end = retained_value * share
    predicted = value[0]
    scale = np.divide(until_end, predicted, out=np.ones(len(days)), where=predicted > 0)
    return NoticeTerms(
        churn_probability=p,
        value=(
            np.where(notice, until_end, predicted),
            np.where(notice, value[1] * scale, value[1]),
            np.where(notice, value[2] * scale, value[2]),
        ),
        churn_at_risk=np.where(leaves, 1.0, churn_at_risk),
        retained_value=np.where(leaves, retained_value * (1.0 - share), retained_value),
    )
