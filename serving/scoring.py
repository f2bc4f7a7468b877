"""Assemble what the CRM receives per customer from features and model outputs (a pure function).

Every rule is row-wise with thresholds from the config, so scoring one customer alone gives the
same row as scoring them in a batch. Prospects (never bought) have no churn score: the caller
passes ``churn_probability`` NaN for them; they get stage ``prospect``, priority 0, tier P4,
the first-purchase action and no reasons.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
import pandas as pd

from serving.config import STAGES, TIERS, ScoringConfig, StageRules
from serving.reasons import reasons_from_contributions
from serving.stages import STAGE_COLUMNS, assign_stages, check_columns, fit_default_gap_days
from serving.value import (
    VALUE_SEGMENTS,
    fit_priority_tiers,
    fit_value_matrix,
    priority_scores,
    priority_tiers,
    recommended_actions,
    value_segments,
)

ArrayLike = Sequence[float] | np.ndarray | pd.Series

#: Columns of a score frame, in order.
SCORE_COLUMNS: tuple[str, ...] = (
    "customer_id",
    "as_of",
    "stage",
    "churn_probability",
    "predicted_value",
    "value_segment",
    "priority_score",
    "priority_tier",
    "recommended_action",
    "reasons",
    "churn_model_version",
    "clv_model_version",
)

#: Feature columns ``score_frame`` reads (contributions may name any others).
SCORING_COLUMNS: tuple[str, ...] = ("customer_id", *STAGE_COLUMNS, "revenue_365d")


def _aligned(values: ArrayLike, n: int, name: str) -> np.ndarray:
    """Model outputs as floats, aligned by position with the feature rows."""
    array = np.asarray(values, dtype=float).reshape(-1)
    if len(array) != n:
        raise ValueError(f"{name} has {len(array)} values for {n} feature rows")
    return array


def _check_probabilities(p: np.ndarray, customer_id: pd.Series) -> None:
    bad = ~np.isnan(p) & ((p < 0) | (p > 1))
    if bad.any():
        examples = dict(zip(customer_id[bad][:5], p[bad][:5]))
        raise ValueError(f"churn_probability must be in [0, 1] or NaN, got {examples}")


def score_frame(
    features: pd.DataFrame,
    churn_probability: ArrayLike,
    predicted_value: ArrayLike,
    contributions: pd.DataFrame | None,
    config: ScoringConfig,
    as_of: dt.date | dt.datetime | pd.Timestamp | str,
    churn_model_version: str,
    clv_model_version: str,
    *,
    retained_value: ArrayLike | None = None,
) -> pd.DataFrame:
    """One score row per feature row, with exactly the columns ``SCORE_COLUMNS``.

    Model outputs and ``contributions`` (churn model, ``pred_contrib`` columns) are aligned with
    ``features`` by position; ``contributions=None`` gives empty reasons. ``retained_value``
    optionally replaces the derived value-if-retained (see ``serving.value.priority_scores``).
    """
    check_columns(features, SCORING_COLUMNS, "score_frame")
    rows = features.reset_index(drop=True)
    n = len(rows)
    p = _aligned(churn_probability, n, "churn_probability")
    value = _aligned(predicted_value, n, "predicted_value")
    _check_probabilities(p, rows["customer_id"])
    retained = None if retained_value is None else _aligned(retained_value, n, "retained_value")
    prospect = pd.to_numeric(rows["is_prospect"], errors="coerce").fillna(0).to_numpy() == 1

    stage = assign_stages(rows, p, config.stages).to_numpy()
    score = priority_scores(
        p, value, config.priority, is_prospect=prospect, retained_value=retained
    )
    tier = priority_tiers(score, config.priority)
    if contributions is None:
        reasons: list[list[str]] = [[] for _ in range(n)]
    else:
        reasons = reasons_from_contributions(
            contributions.reset_index(drop=True),
            rows,
            config.reasons.top_k,
            min_contribution=config.reasons.min_contribution,
        )
        reasons = [[] if is_prospect else r for is_prospect, r in zip(prospect, reasons)]

    return pd.DataFrame(
        {
            "customer_id": rows["customer_id"].astype(str).to_numpy(dtype=object),
            "as_of": pd.Series(pd.Timestamp(as_of), index=rows.index),
            "stage": stage,
            "churn_probability": p,
            "predicted_value": value,
            "value_segment": value_segments(rows["revenue_365d"], value, config.value_matrix),
            "priority_score": score,
            "priority_tier": tier,
            "recommended_action": recommended_actions(stage, tier, config.actions),
            "reasons": pd.Series(reasons, index=rows.index, dtype=object),
            "churn_model_version": str(churn_model_version),
            "clv_model_version": str(clv_model_version),
        },
        columns=list(SCORE_COLUMNS),
    )


def summarise(scores: pd.DataFrame) -> dict[str, object]:
    """Counts per stage, tier and value segment, and value at risk per tier (plain JSON types)."""
    check_columns(
        scores, ("stage", "priority_tier", "value_segment", "priority_score"), "summarise"
    )
    at_risk = scores.groupby("priority_tier")["priority_score"].sum()
    return {
        "customers": len(scores),
        "customers_per_stage": {s: int((scores["stage"] == s).sum()) for s in STAGES},
        "customers_per_tier": {t: int((scores["priority_tier"] == t).sum()) for t in TIERS},
        "value_at_risk_per_tier": {t: float(at_risk.get(t, 0.0)) for t in TIERS},
        "value_at_risk": float(scores["priority_score"].sum()),
        "customers_per_value_segment": {
            v: int((scores["value_segment"] == v).sum()) for v in VALUE_SEGMENTS.values()
        },
    }


def calibrate_config(
    config: ScoringConfig,
    features: pd.DataFrame,
    churn_probability: ArrayLike,
    predicted_value: ArrayLike,
    *,
    value_quantiles: tuple[float, float] = (0.5, 0.8),
    tier_shares: tuple[float, float, float] = (0.05, 0.15, 0.30),
) -> ScoringConfig:
    """A copy of ``config`` with the data-dependent numbers fitted on a reference batch of buyers.

    Fits the population default gap (median mean_gap_days), the value-matrix boundaries (quantiles
    of revenue_365d and predicted_value) and the tier thresholds (shares of value at risk). The
    rule thresholds (ratios, probabilities, days) are kept. Store the result; score with it.
    """
    check_columns(features, SCORING_COLUMNS, "calibrate_config")
    rows = features.reset_index(drop=True)
    p = _aligned(churn_probability, len(rows), "churn_probability")
    value = _aligned(predicted_value, len(rows), "predicted_value")
    buyers = pd.to_numeric(rows["is_prospect"], errors="coerce").fillna(0).to_numpy() != 1
    score = priority_scores(p[buyers], value[buyers], config.priority)
    gap = fit_default_gap_days(rows[buyers])
    return ScoringConfig(
        stages=StageRules(**{**config.stages.model_dump(), "default_gap_days": gap}),
        value_matrix=fit_value_matrix(
            rows.loc[buyers, "revenue_365d"], value[buyers], value_quantiles
        ),
        priority=fit_priority_tiers(score, tier_shares, config.priority.retained_share_floor),
        actions=config.actions,
        reasons=config.reasons,
    )


def fit_scoring_thresholds(
    features: pd.DataFrame, churn_probability: ArrayLike, predicted_value: ArrayLike
) -> dict:
    """The scoring config of a new model pair as plain JSON: the defaults with the data-dependent
    thresholds fitted on its reference batch (``calibrate_config``). Training stores it with the
    pair (``training.train.train(scoring_thresholds=...)``), so batch and online scoring agree."""
    config = calibrate_config(ScoringConfig(), features, churn_probability, predicted_value)
    return config.model_dump(mode="json")
