"""Is a difference between two runs beyond run-to-run noise? Bootstrap checks on test customers.

- When two runs scored the same test customers at the same cutoff with the same outcomes
  (:func:`paired_frame`): a paired bootstrap of ``metric(run) - metric(other)`` on them.
- Otherwise the two runs' own bootstrap intervals, turned into a conservative interval of the
  difference ``[low_run - high_other, high_run - low_other]``.

An interval that contains 0 means the difference is within noise.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from experiments.metric_specs import METRIC_BY_COLUMN, MetricSpec, metric_function
from experiments.runs import RunRecord

Method = Literal["paired", "intervals", "tie", "unavailable"]
PAIR_KEYS = ("customer_id", "cutoff")
OUTCOMES = ("churned", "future_value")


@dataclass(frozen=True)
class NoiseCheck:
    """Is ``experiment`` distinguishable from ``best`` on ``metric``?

    ``low``/``high`` bound ``metric(experiment) - metric(best)`` on the bootstrapped scale
    (for the total ratio: the distance from 1). ``within_noise`` is None when it could not be
    checked (no predictions).
    """

    experiment: str
    metric: str
    best: str
    method: Method
    difference: float
    low: float
    high: float
    within_noise: bool | None
    n_customers: int = 0

    def describe(self) -> str:
        if self.method == "unavailable":
            return f"{self.experiment} vs {self.best}: not checked (no test predictions)"
        if self.method == "tie":
            return f"{self.experiment} ties {self.best}"
        spec = METRIC_BY_COLUMN[self.metric]
        scale = " (distance from 1)" if spec.goal == "one" else ""
        how = {"paired": "paired bootstrap on the same customers"}.get(
            self.method, "separate bootstrap intervals"
        )
        verdict = "within noise" if self.within_noise else "beyond noise"
        d = shown_digits((self.difference, self.low, self.high), spec.digits + 1)
        return (
            f"{self.experiment} - {self.best}{scale}: {self.difference:+.{d}f} "
            f"[{self.low:+.{d}f}, {self.high:+.{d}f}], {how}: {verdict}"
        )


def shown_digits(values: tuple[float, ...], digits: int = 3, most: int = 6) -> int:
    """``digits``, or more when a value that is not 0 would show as 0 (``-0.000``: an interval
    "-0.006 to -0.000" read as touching 0 although it is beyond noise)."""
    while digits < most and any(v != 0 and round(v, digits) == 0 for v in values):
        digits += 1
    return digits


def contains_zero(low: float, high: float) -> bool | None:
    """Within noise when the interval of the difference contains 0; None when it is undefined."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return None
    return bool(low <= 0 <= high)


def paired_frame(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame | None:
    """Both runs' predictions side by side when they scored the same customers at the same cutoffs
    with the same outcomes; None otherwise (then only separate intervals can be compared)."""
    if len(a) != len(b) or not all(c in a and c in b for c in (*PAIR_KEYS, *OUTCOMES)):
        return None
    keyed_a, keyed_b = _keyed(a), _keyed(b)
    if keyed_a is None or keyed_b is None:
        return None
    merged = keyed_a.merge(keyed_b, on=list(PAIR_KEYS), suffixes=("_a", "_b"))
    if len(merged) != len(a):
        return None
    for outcome in OUTCOMES:
        if not np.allclose(
            merged[f"{outcome}_a"].to_numpy(float), merged[f"{outcome}_b"].to_numpy(float)
        ):
            return None
        merged[outcome] = merged[f"{outcome}_a"]
    return merged


def _keyed(frame: pd.DataFrame) -> pd.DataFrame | None:
    keyed = frame.assign(
        customer_id=frame["customer_id"].astype(str),
        cutoff=pd.to_datetime(frame["cutoff"]).dt.normalize(),
    )
    return None if keyed.duplicated(list(PAIR_KEYS)).any() else keyed


class NoiseEstimator:
    """Bootstrap checks between runs, cached (the report asks for the same pairs more than once)."""

    def __init__(
        self, runs: Mapping[str, RunRecord], n_boot: int = 200, seed: int = 0, alpha: float = 0.05
    ):
        self.runs, self.n_boot, self.seed, self.alpha = runs, n_boot, seed, alpha
        self._intervals: dict[tuple[str, str], tuple[float, float]] = {}
        self._checks: dict[tuple[str, str, str], NoiseCheck] = {}
        self._pairs: dict[tuple[str, str], pd.DataFrame | None] = {}

    def check(self, experiment: str, best: str, spec: MetricSpec) -> NoiseCheck:
        """``experiment`` against ``best`` on one column: tie, paired, intervals or unavailable."""
        key = (experiment, best, spec.column)
        if key not in self._checks:
            self._checks[key] = self._check(experiment, best, spec)
        return self._checks[key]

    def _check(self, experiment: str, best: str, spec: MetricSpec) -> NoiseCheck:
        run, ref = self.runs[experiment], self.runs[best]
        value, ref_value = spec.logged_value(run.metrics), spec.logged_value(ref.metrics)
        difference = spec.bootstrap_value(value) - spec.bootstrap_value(ref_value)
        if experiment == best or value == ref_value:
            return NoiseCheck(experiment, spec.column, best, "tie", 0.0, 0.0, 0.0, True)
        if spec.function is None or run.predictions is None or ref.predictions is None:
            nan = float("nan")
            return NoiseCheck(
                experiment, spec.column, best, "unavailable", difference, nan, nan, None
            )
        paired = self._paired(experiment, best)
        method: Method
        if paired is not None:
            low, high = self._paired_interval(
                spec, paired[spec.target], paired[f"{spec.prediction}_a"],
                paired[f"{spec.prediction}_b"],
            )  # fmt: skip
            method, n = "paired", len(paired)
        else:
            (run_low, run_high), (ref_low, ref_high) = (
                self.interval(experiment, spec), self.interval(best, spec)
            )  # fmt: skip
            low, high = run_low - ref_high, run_high - ref_low
            method, n = "intervals", len(run.predictions)
        return NoiseCheck(
            experiment, spec.column, best, method, difference, low, high,
            contains_zero(low, high), n,
        )  # fmt: skip

    def _paired(self, experiment: str, best: str) -> pd.DataFrame | None:
        if (experiment, best) not in self._pairs:
            self._pairs[(experiment, best)] = paired_frame(
                self.runs[experiment].predictions, self.runs[best].predictions
            )
        return self._pairs[(experiment, best)]

    def _paired_interval(
        self, spec: MetricSpec, y: pd.Series, a: pd.Series, b: pd.Series
    ) -> tuple[float, float]:
        from training.metrics import paired_bootstrap_difference

        assert spec.function is not None  # a check without them stops before (unavailable)
        result = paired_bootstrap_difference(
            metric_function(spec.function),
            y.to_numpy(float),
            a.to_numpy(float),
            b.to_numpy(float),
            n_boot=self.n_boot,
            seed=self.seed,
            alpha=self.alpha,
        )
        return result.low, result.high

    def interval(self, experiment: str, spec: MetricSpec) -> tuple[float, float]:
        """The bootstrap interval of one run's metric on its own test customers."""
        key = (experiment, spec.column)
        if key not in self._intervals:
            from training.metrics import bootstrap_interval

            frame = self.runs[experiment].predictions
            assert (
                spec.function is not None and frame is not None
            )  # a check without them stops before (unavailable)
            result = bootstrap_interval(
                metric_function(spec.function),
                frame[spec.target].to_numpy(float),
                frame[spec.prediction].to_numpy(float),
                n_boot=self.n_boot,
                seed=self.seed,
                alpha=self.alpha,
            )
            self._intervals[key] = (result.low, result.high)
        return self._intervals[key]

    def against_btyd(self, experiment: str, spec: MetricSpec) -> NoiseCheck | None:
        """Paired check of a run's model against the BG/NBD baseline scored on the same
        customers."""
        frame = self.runs[experiment].predictions
        if spec.function is None or frame is None or spec.btyd_prediction not in frame:
            return None
        model = frame[spec.prediction].to_numpy(float)
        btyd = frame[spec.btyd_prediction].to_numpy(float)
        if not (np.isfinite(btyd).all() and np.isfinite(model).all()):
            return None
        y = frame[spec.target].to_numpy(float)
        fn = metric_function(spec.function)
        low, high = self._paired_interval(
            spec, frame[spec.target], frame[spec.prediction], frame[spec.btyd_prediction]
        )
        return NoiseCheck(
            experiment, spec.column, "BG/NBD", "paired", fn(y, model) - fn(y, btyd), low, high,
            contains_zero(low, high), len(frame),
        )  # fmt: skip
