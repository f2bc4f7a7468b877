"""The extended churn probability recalibrated on a pseudo-backtest whose outcome window ends by
the cutoff (:func:`calibrate_on_pseudo_backtest`, ``training.calibration``); a pseudo-backtest
that does not fit leaves the probability as it is, and says why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Literal

import numpy as np

from training.backtest_forecast import Forecast, fit_and_forecast
from training.backtest_plan import BacktestPlan, dropped_note, pseudo_backtest_plan, pseudo_window
from training.calibration import LogOddsCalibration
from training.config import ExperimentConfig
from training.dataset import first_repeat_cutoff
from training.metrics import expected_calibration_error
from training.seasonality import NO_SEASONALITY, Seasonality

#: How the extended churn probability is recalibrated on the pseudo-backtest: ``logodds``
#: (intercept and slope), ``intercept`` (a shift of the log-odds) or ``none``; ``none`` also leaves
#: the CLV total at the LightGBM correction's level. Evidence for the default: docs/results.md.
Calibrate = Literal["logodds", "intercept", "none"]
DEFAULT_CALIBRATION: Calibrate = "logodds"


@dataclass(frozen=True)
class HorizonCalibration:
    """The recalibration of a backtest's churn probability and the pseudo-backtest behind it."""

    calibration: LogOddsCalibration
    pseudo_cutoff: date | None = None
    pseudo_horizon_days: int | None = None
    pseudo_train_horizon_days: int | None = None
    pseudo_metrics: dict | None = None  # ECE before/after, churn rate, CLV total ratios
    pseudo_window: str | None = None  # "latest" or "same_season" (:func:`pseudo_window`)
    forecast: Forecast | None = field(default=None, repr=False, compare=False)  # for the CLV ranges

    def to_dict(self) -> dict:
        return {
            **self.calibration.to_dict(),
            "pseudo_cutoff": None if self.pseudo_cutoff is None else self.pseudo_cutoff.isoformat(),
            "pseudo_horizon_days": self.pseudo_horizon_days,
            "pseudo_train_horizon_days": self.pseudo_train_horizon_days,
            "pseudo_metrics": self.pseudo_metrics,
            "pseudo_window": self.pseudo_window,
        }


def _kept(calibration: LogOddsCalibration) -> str:
    gain = calibration.out_of_fold_gain
    if gain is None:
        return ""
    verdict = "applied" if gain > 0 else "not applied"
    return f" ({verdict}: out-of-fold log-loss gain of the fitted map {gain:+.5f})"


def calibrate_on_pseudo_backtest(
    data_dir: str | Path,
    data_start: date,
    plan: BacktestPlan,
    cfg: ExperimentConfig,
    *,
    fit_slope: bool = True,
    log=print,
    season: Seasonality = NO_SEASONALITY,
) -> HorizonCalibration:
    """Fit the churn recalibration of ``plan`` on the pseudo-backtest of
    :func:`pseudo_backtest_plan`: the whole pipeline (fit on h', extend to H') at its cutoff
    ``C'`` (``cutoff - H'``, or a year earlier with a seasonality), and a
    :class:`~training.calibration.LogOddsCalibration` of its outcomes over ``[C', C' + H')`` on its
    forecasts. Identity when no pseudo-backtest fits. ``season`` (found before the backtest's
    cutoff) places the pseudo-backtest's window and counts it as the backtest counts its own."""
    repeats_from = first_repeat_cutoff(data_dir)
    pseudo = pseudo_backtest_plan(
        data_start, plan.cutoff, plan.horizon_days, cfg, season, repeats_from
    )
    if pseudo is None:
        log(
            f"no pseudo-backtest fits before {plan.cutoff}"
            f"{_unsupported(data_start, plan, cfg, season)}: churn probability not recalibrated"
        )
        return HorizonCalibration(LogOddsCalibration())
    if note := dropped_note(pseudo, f"pseudo-backtest (at {pseudo.cutoff})"):
        log(f"note: {note}")
    end = pseudo.cutoff + timedelta(days=pseudo.horizon_days)
    if end > plan.cutoff:  # never: pseudo_backtest_plan checks it; the guard against look-ahead
        raise ValueError(f"pseudo-backtest outcomes end {end}, after the cutoff {plan.cutoff}")
    fitted = fit_and_forecast(data_dir, pseudo, cfg, season)
    y = fitted.evaluation["churned"].astype(int).to_numpy()
    calibration = LogOddsCalibration.fit(fitted.churn_probability, y, fit_slope=fit_slope)
    evaluation = fitted.evaluation
    actual = evaluation["future_value"].to_numpy(dtype=float).sum()
    btyd_total = evaluation["btyd_expected_value"].to_numpy(dtype=float).sum()
    metrics = {
        "n_customers": len(y),
        "churn_rate": float(y.mean()) if len(y) else float("nan"),
        "mean_probability_before": float(fitted.churn_probability.mean()),
        "ece_before": _ece(y, fitted.churn_probability),
        "ece_after": _ece(y, calibration.apply(fitted.churn_probability)),
        "btyd_ece": _ece(y, evaluation["btyd_p_no_purchase"].to_numpy(dtype=float)),
        "clv_total_ratio": float(fitted.value.sum() / actual) if actual > 0 else float("nan"),
        "btyd_clv_total_ratio": float(btyd_total / actual) if actual > 0 else float("nan"),
    }
    window = pseudo_window(pseudo, plan.cutoff, season)
    log(
        f"pseudo-backtest at {pseudo.cutoff}"
        f"{' (the same season a year earlier)' if window == 'same_season' else ''}, "
        f"H'={pseudo.horizon_days}d "
        f"(h'={pseudo.train_horizon_days}d): "
        f"churn log-odds x {calibration.slope:.3f} + {calibration.intercept:.3f}"
        f"{_kept(calibration)}, "
        f"ECE {metrics['ece_before']:.4f} -> {metrics['ece_after']:.4f}"
    )
    return HorizonCalibration(
        calibration,
        pseudo.cutoff,
        pseudo.horizon_days,
        pseudo.train_horizon_days,
        metrics,
        window,
        forecast=fitted,
    )


def _unsupported(
    data_start: date, plan: BacktestPlan, cfg: ExperimentConfig, season: Seasonality
) -> str:
    """Why no pseudo-backtest fits when one would without the repeat buyers' check: its cutoffs
    come before any customer bought twice (else nothing to add)."""
    if pseudo_backtest_plan(data_start, plan.cutoff, plan.horizon_days, cfg, season) is None:
        return ""
    return " (one would, but its cutoffs come before any customer bought twice)"


def _ece(y: np.ndarray, p: np.ndarray) -> float:
    return float(expected_calibration_error(y, p)) if len(y) else float("nan")
