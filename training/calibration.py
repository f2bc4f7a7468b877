"""Churn probabilities calibrated at the horizon asked, and the CLV level, from pre-cutoff evidence.

A backtest fits its models on a label horizon ``h`` shorter than the horizon ``H`` it is asked for
and carries the forecast to ``H`` along the BTYD curve (``training.backtest``). Whether that
extension is calibrated cannot be checked on the evaluation window. It is checked on a
*pseudo-backtest*: the same pipeline at a pseudo-cutoff ``C' = cutoff - H'`` over a horizon ``H'``
(with ``H'/h'`` about ``H/h``; with a purchase seasonality ``C'`` is 52 weeks before the cutoff, in
the same season), whose outcome window ``[C', C' + H')`` ends by the cutoff. A
logistic fit of those outcomes on the log-odds of the pseudo-backtest's forecasts
(:class:`LogOddsCalibration`) is then applied to the forecast at the cutoff.

The CLV level stays the BTYD model's (:func:`anchor_total`): the LightGBM correction decides who is
worth more or less than BTYD says, not how much the whole base will spend (carrying a level
measured before the cutoff forward made the CDNOW total worse; ``docs/results.md``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np
from scipy.optimize import minimize

from training.models import logit, sigmoid

#: Fewer pseudo-backtest customers (or fewer of either outcome) than this: no recalibration.
MIN_ROWS = 100
MIN_PER_CLASS = 10
#: The fitted slope stays in these bounds (a slope outside them says the pseudo-backtest is too
#: small or too unlike the backtest to carry over, not that the forecast should be stretched so).
SLOPE_BOUNDS = (0.5, 2.0)
#: A fitted map is applied only when, fitted without each of these folds of the pseudo-backtest's
#: customers, it lowers the held-out fold's log loss on average: a map that fits the noise of one
#: window is not carried to another.
CROSS_CHECK_FOLDS = 5


@dataclass(frozen=True)
class LogOddsCalibration:
    """``p -> sigmoid(slope * logit(p) + intercept)``, fitted by maximum likelihood.

    The identity (``intercept=0, slope=1``) when the data are too few (:data:`MIN_ROWS`,
    :data:`MIN_PER_CLASS`) or when the map does not lower the log loss out of fold
    (:data:`CROSS_CHECK_FOLDS`; ``out_of_fold_gain`` records by how much it did);
    ``fit_slope=False`` fits the intercept alone.
    """

    intercept: float = 0.0
    slope: float = 1.0
    n: int = 0
    out_of_fold_gain: float | None = None

    @classmethod
    def fit(
        cls, p: np.ndarray, y: np.ndarray, *, fit_slope: bool = True, cross_check: bool = True
    ) -> LogOddsCalibration:
        p, y = np.asarray(p, dtype=float), np.asarray(y, dtype=float)
        if p.shape != y.shape:
            raise ValueError(f"probabilities {p.shape} and outcomes {y.shape} differ in shape")
        positives = int(y.sum())
        if len(y) < MIN_ROWS or min(positives, len(y) - positives) < MIN_PER_CLASS:
            return cls(n=len(y))
        z = logit(p)

        def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
            a, b = (theta[0], theta[1]) if fit_slope else (theta[0], 1.0)
            s = b * z + a
            # mean binary cross-entropy in log-odds form, and its gradient
            value = np.mean(np.logaddexp(0.0, s) - y * s)
            r = sigmoid(s) - y
            grad = np.array([r.mean(), (r * z).mean()]) if fit_slope else np.array([r.mean()])
            return float(value), grad

        start = np.array([0.0, 1.0]) if fit_slope else np.array([0.0])
        bounds = [(-10.0, 10.0), SLOPE_BOUNDS] if fit_slope else [(-10.0, 10.0)]
        result = minimize(loss, start, jac=True, method="L-BFGS-B", bounds=bounds)
        slope = float(result.x[1]) if fit_slope else 1.0
        fitted = cls(intercept=float(result.x[0]), slope=slope, n=len(y))
        if not cross_check:
            return fitted
        gain = _out_of_fold_gain(p, y, fit_slope)
        return replace(fitted if gain > 0 else cls(n=len(y)), out_of_fold_gain=gain)

    def apply(self, p: np.ndarray) -> np.ndarray:
        return sigmoid(self.slope * logit(p) + self.intercept)

    @property
    def is_identity(self) -> bool:
        return self.intercept == 0.0 and self.slope == 1.0

    def to_dict(self) -> dict:
        return asdict(self)


def _log_loss(y: np.ndarray, p: np.ndarray) -> float:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def _out_of_fold_gain(p: np.ndarray, y: np.ndarray, fit_slope: bool) -> float:
    """Mean log-loss gain over :data:`CROSS_CHECK_FOLDS` of the map fitted without each fold."""
    folds = np.random.default_rng(0).permutation(len(y)) % CROSS_CHECK_FOLDS
    gains = []
    for k in range(CROSS_CHECK_FOLDS):
        held = folds == k
        part = LogOddsCalibration.fit(p[~held], y[~held], fit_slope=fit_slope, cross_check=False)
        gains.append(_log_loss(y[held], p[held]) - _log_loss(y[held], part.apply(p[held])))
    return float(np.mean(gains))


def anchor_total(value: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``value`` scaled so that it sums to ``reference``'s total (unchanged when either is 0)."""
    value, reference = np.asarray(value, dtype=float), np.asarray(reference, dtype=float)
    total, target = value.sum(), reference.sum()
    if not (np.isfinite(total) and np.isfinite(target)) or total <= 0 or target <= 0:
        return value
    return value * (target / total)
