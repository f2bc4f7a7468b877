"""Value matrix, priority score (expected value at risk), priority tiers and recommended actions.

All thresholds are absolute numbers stored in the config, so a customer scored alone gets the same
answer as in a batch; ``fit_value_matrix`` and ``fit_priority_tiers`` derive them once from the
quantiles of a reference (training) batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeAlias

import numpy as np
import pandas as pd

from serving.config import Actions, PriorityTiers, ValueMatrix
from training.priority import TIER_SHARES, value_if_retained

ArrayLike: TypeAlias = Sequence[float] | np.ndarray | pd.Series

#: Cell names of the current x potential value matrix, keyed by (current level, potential level).
VALUE_SEGMENTS: dict[tuple[str, str], str] = {
    ("high", "high"): "champions",
    ("high", "mid"): "retain",
    ("high", "low"): "recover",
    ("mid", "high"): "grow",
    ("mid", "mid"): "core",
    ("mid", "low"): "maintain",
    ("low", "high"): "invest",
    ("low", "mid"): "nurture",
    ("low", "low"): "low_touch",
}


def _floats(values: ArrayLike) -> np.ndarray:
    return np.asarray(values, dtype=float)


def value_level(values: ArrayLike, mid_from: float, high_from: float) -> np.ndarray:
    """``low`` below mid_from (and for NaN), ``mid`` from mid_from, ``high`` from high_from."""
    v = _floats(values)
    return np.select([v >= high_from, v >= mid_from], ["high", "mid"], default="low").astype(object)


def value_segments(
    current_value: ArrayLike, potential_value: ArrayLike, matrix: ValueMatrix
) -> np.ndarray:
    """Matrix cell per customer: current value (revenue_365d) x potential value
    (predicted_value)."""
    current = value_level(current_value, matrix.current_mid_from, matrix.current_high_from)
    potential = value_level(potential_value, matrix.potential_mid_from, matrix.potential_high_from)
    return np.array(
        [VALUE_SEGMENTS[c, p] for c, p in zip(current, potential, strict=True)], dtype=object
    )


def churn_within_value_horizon(features: pd.DataFrame, churn_probability: ArrayLike) -> np.ndarray:
    """P(no purchase within the value horizon) of each row: the churn model's log-odds shift from
    BG/NBD at the churn horizon (``btyd_p_no_purchase``) applied to BG/NBD at the value horizon
    (``training.dataset.VALUE_HORIZON_P0``), as the backtest carries a churn probability to a
    longer horizon. The churn probability itself where the two horizons are one (the two columns
    equal, or the value-horizon one absent) and where a row lacks either forecast (prospects)."""
    from training.dataset import VALUE_HORIZON_P0
    from training.horizon_extension import extend_churn_probability

    p = _floats(churn_probability)
    if VALUE_HORIZON_P0 not in features or "btyd_p_no_purchase" not in features:
        return p
    p0_churn = pd.to_numeric(features["btyd_p_no_purchase"], errors="coerce").to_numpy(float)
    p0_value = pd.to_numeric(features[VALUE_HORIZON_P0], errors="coerce").to_numpy(float)
    usable = (
        np.isfinite(p)
        & (p0_churn >= 0)
        & (p0_churn <= 1)
        & (p0_value >= 0)
        & (p0_value <= 1)
        & (p0_churn != p0_value)
    )
    if not usable.any():
        return p
    out = p.copy()
    out[usable] = extend_churn_probability(p[usable], p0_churn[usable], p0_value[usable])
    return out


def priority_scores(
    churn_probability: ArrayLike,
    predicted_value: ArrayLike,
    tiers: PriorityTiers,
    *,
    is_prospect: ArrayLike | None = None,
    retained_value: ArrayLike | None = None,
) -> np.ndarray:
    """Expected value at risk = churn_probability x value if retained; ``churn_probability``
    over the value horizon (:func:`churn_within_value_horizon` of the scored rows), so that
    E[value] = (1 - p) E[value | stays] holds.

    ``retained_value`` (e.g. E[spend | buy] of a two-part CLV model) replaces the derivation from
    predicted_value when given. Prospects and customers without a churn probability have 0 at risk.
    """
    p = _floats(churn_probability)
    if retained_value is None:
        retained = value_if_retained(p, predicted_value, tiers.retained_share_floor)
    else:
        retained = np.clip(np.nan_to_num(_floats(retained_value), nan=0.0), 0.0, None)
    score = np.nan_to_num(p, nan=0.0) * retained
    if is_prospect is not None:
        score = np.where(np.nan_to_num(_floats(is_prospect), nan=0.0) == 1, 0.0, score)
    return score


def priority_tiers(priority_score: ArrayLike, tiers: PriorityTiers) -> np.ndarray:
    """P1 from p1_from, P2 from p2_from, P3 from p3_from, else (and for NaN) P4."""
    s = _floats(priority_score)
    conditions = [s >= tiers.p1_from, s >= tiers.p2_from, s >= tiers.p3_from]
    return np.select(conditions, ["P1", "P2", "P3"], default="P4").astype(object)


def recommended_actions(
    stages: Sequence[str] | np.ndarray, tiers: Sequence[str] | np.ndarray, actions: Actions
) -> np.ndarray:
    """The stage x tier action of each customer."""
    return np.array(
        [actions.action(s, t) for s, t in zip(stages, tiers, strict=True)], dtype=object
    )


def _positive_quantiles(values: ArrayLike, quantiles: Sequence[float], what: str) -> list[float]:
    """Increasing cuts at ``quantiles`` of the positive values; a cut tied with the one below it
    (many customers at one value) moves just above it, so its level starts past the tie."""
    v = _floats(values)
    v = v[np.isfinite(v) & (v > 0)]
    if v.size == 0:
        raise ValueError(f"{what}: no positive value in the reference batch to take quantiles of")
    cuts = [float(x) for x in np.quantile(v, quantiles)]
    for i in range(1, len(cuts)):  # tied values (few customers, one price): the upper level
        cuts[i] = max(cuts[i], float(np.nextafter(cuts[i - 1], np.inf)))  # starts just above
    return cuts


def fit_value_matrix(
    current_value: ArrayLike,
    potential_value: ArrayLike,
    quantiles: tuple[float, float] = (0.5, 0.8),
) -> ValueMatrix:
    """Level boundaries at quantiles of the customers with positive value (zero is always low)."""
    current = _positive_quantiles(current_value, quantiles, "fit_value_matrix(current)")
    potential = _positive_quantiles(potential_value, quantiles, "fit_value_matrix(potential)")
    return ValueMatrix(
        current_mid_from=current[0],
        current_high_from=current[1],
        potential_mid_from=potential[0],
        potential_high_from=potential[1],
    )


def fit_priority_tiers(
    priority_score: ArrayLike,
    shares: tuple[float, float, float] = TIER_SHARES,
    retained_share_floor: float = PriorityTiers().retained_share_floor,
) -> PriorityTiers:
    """Tier thresholds so that, among customers with value at risk, the top ``shares[0]`` are P1,
    the next ``shares[1]`` P2, the next ``shares[2]`` P3 and the rest P4."""
    if sum(shares) >= 1 or min(shares) <= 0:
        raise ValueError(
            f"fit_priority_tiers: shares must be positive and sum to < 1, got {shares}"
        )
    tops = np.cumsum(shares)
    p3, p2, p1 = _positive_quantiles(priority_score, sorted(1 - tops), "fit_priority_tiers")
    return PriorityTiers(
        retained_share_floor=retained_share_floor, p1_from=p1, p2_from=p2, p3_from=p3
    )
