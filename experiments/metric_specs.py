"""The columns of an experiment comparison: where each value is logged, which way is better, and
which metric function (from ``training.metrics``) re-computes it on resampled test customers."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np

Goal = Literal["max", "min", "one"]
MetricFunction = Callable[[np.ndarray, np.ndarray], float]


def total_ratio_distance(actual: np.ndarray, predicted: np.ndarray) -> float:
    """|predicted total / actual total - 1|: the bootstrapped quantity for "closest to 1"."""
    from training.metrics import total_ratio

    return abs(total_ratio(actual, predicted) - 1.0)


def metric_function(name: str) -> MetricFunction:
    """The function a ``MetricSpec.function`` key names."""
    from training import metrics

    return {
        "roc_auc": metrics.roc_auc,
        "average_precision": metrics.average_precision,
        "brier_score": metrics.brier_score,
        "normalized_gini": metrics.normalized_gini,
        "mae": metrics.mean_absolute_error,
        "spearman": metrics.spearman,
        "total_ratio_distance": total_ratio_distance,
    }[name]


@dataclass(frozen=True)
class MetricSpec:
    """One table column: where its value is logged, which way is better, how to bootstrap it."""

    column: str
    label: str
    logged: tuple[str, ...]  # MLflow metric keys, first present wins
    goal: Goal
    digits: int
    target: str | None = None  # outcome column in predictions/test.parquet
    prediction: str | None = None  # model column in predictions/test.parquet
    btyd_prediction: str | None = None  # the BG/NBD baseline's column for the same metric
    function: str | None = None  # key of metric_function; None: no bootstrap (e.g. time)
    ranked: bool = True  # False: shown, never marked best (wall time on a shared machine)

    def score(self, value: float) -> float:
        """Larger is better on this scale (used to rank a column)."""
        if self.goal == "max":
            return value
        if self.goal == "min":
            return -value
        return -abs(value - 1.0)

    def bootstrap_value(self, value: float) -> float:
        """The logged value on the scale that is bootstrapped (distance from 1 for ``one``)."""
        return abs(value - 1.0) if self.goal == "one" else value

    def logged_value(self, metrics: Mapping[str, float]) -> float:
        """The first finite logged value among ``logged``; NaN when none is."""
        for key in self.logged:
            value = metrics.get(key)
            if value is not None and math.isfinite(value):
                return float(value)
        return float("nan")


_CHURN = ("churned", "churn_probability", "btyd_p_no_purchase")
_VALUE = ("future_value", "predicted_value", "btyd_expected_value")

METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("churn_auc", "churn AUC", ("test_churn_auc",), "max", 3, *_CHURN, "roc_auc"),
    MetricSpec("churn_pr_auc", "PR-AUC", ("test_churn_pr_auc",), "max", 3, *_CHURN,
               "average_precision"),
    MetricSpec("churn_brier", "Brier", ("test_churn_brier",), "min", 4, *_CHURN, "brier_score"),
    MetricSpec("clv_mae", "CLV MAE", ("test_clv_mae",), "min", 2, *_VALUE, "mae"),
    MetricSpec("clv_spearman", "Spearman", ("test_clv_spearman",), "max", 3, *_VALUE, "spearman"),
    MetricSpec("clv_gini", "Gini", ("test_clv_gini",), "max", 3, *_VALUE, "normalized_gini"),
    MetricSpec("clv_total_ratio", "total ratio", ("test_clv_total_ratio",), "one", 3, *_VALUE,
               "total_ratio_distance"),
    MetricSpec("clv_interval_coverage_error", "range coverage error",
               ("test_clv_interval_coverage_error",), "min", 3),  # |coverage - nominal level|
    MetricSpec("clv_interval_width", "range width", ("test_clv_interval_width",), "min", 2),
    # wall time: on a shared machine it measures the load as much as the model
    MetricSpec("train_seconds", "train s", ("train_job_seconds", "fit_seconds"), "min", 1,
               ranked=False),
)  # fmt: skip
METRIC_BY_COLUMN: dict[str, MetricSpec] = {spec.column: spec for spec in METRICS}
