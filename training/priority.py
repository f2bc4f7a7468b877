"""What a retention priority is made of, declared once: scoring ranks customers by it, and the
uplift measurement compares its learners with it as "today's priority"."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

#: Floor on 1 - P(churn) when deriving the value of a customer who stays (default of
#: ``serving.config.PriorityTiers.retained_share_floor``).
RETAINED_SHARE_FLOOR = 0.1
#: Shares of the ranked customers in tiers P1, P2 and P3 (the rest: P4).
TIER_SHARES = (0.05, 0.15, 0.30)


def value_if_retained(
    churn_probability: Sequence[float] | np.ndarray | pd.Series,
    predicted_value: Sequence[float] | np.ndarray | pd.Series,
    retained_share_floor: float = RETAINED_SHARE_FLOOR,
) -> np.ndarray:
    """E[value | the customer stays] = predicted_value / max(1 - churn_probability, floor).

    predicted_value is an unconditional expectation; a churned customer buys nothing within the
    horizon, so E[V] = (1 - p) E[V | stays]. The floor bounds the blow-up as p -> 1. Negative and
    missing predicted values count as 0.
    """
    p = np.nan_to_num(np.asarray(churn_probability, dtype=float), nan=0.0)
    value = np.clip(np.nan_to_num(np.asarray(predicted_value, dtype=float), nan=0.0), 0.0, None)
    return value / np.maximum(1.0 - p, retained_share_floor)
