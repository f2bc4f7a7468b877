"""One plan fitted and forecast: both offset models on its snapshots, then each seed's
correction of the BTYD forecast over ``h`` carried to ``H`` at its cutoff and averaged
(:func:`fit_and_forecast`). The backtest and its pseudo-backtest both run it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from training.backtest_plan import BacktestPlan
from training.calibration import anchor_total
from training.config import ExperimentConfig
from training.dataset import BTYD_COLUMNS, add_btyd_columns, build_frame, model_columns
from training.horizon_extension import (
    extend_churn_probability,
    extend_horizon,
    p_no_purchase_on_clock,
)
from training.models import OFFSET_FLOOR, logit, sigmoid
from training.offset_models import OffsetModel, fit_offset_models
from training.seasonality import NO_SEASONALITY, Seasonality


@dataclass
class Forecast:
    """What :func:`fit_and_forecast` fitted and forecast for one plan."""

    evaluation: pd.DataFrame  # features and outcomes over H at the plan's cutoff (customers)
    churn_probability: np.ndarray  # extended to H, averaged over the seeds, not recalibrated
    value: np.ndarray
    churn: OffsetModel
    clv: OffsetModel
    fit_frame: pd.DataFrame
    columns: list[str]
    plan: BacktestPlan | None = None

    def anchored_value(self) -> np.ndarray:
        """``value`` scaled to BTYD's expected total over the same customers (``anchor_total``:
        the correction decides who is worth more, BTYD the level)."""
        btyd = self.evaluation["btyd_expected_value"].to_numpy(dtype=float)
        return anchor_total(self.value, btyd)


def fit_and_forecast(
    data_dir: str | Path,
    plan: BacktestPlan,
    cfg: ExperimentConfig,
    season: Seasonality = NO_SEASONALITY,
) -> Forecast:
    """Fit both offset models on the plan's snapshots and forecast over H at its cutoff (the
    churn forecast by BG/NBD on ``season``'s clock)."""
    fit_frame = _customer_snapshots(
        data_dir, sorted(set(plan.refit) | set(plan.select.train)), cfg, plan.train_horizon_days
    )
    columns = model_columns(fit_frame, cfg)
    churn, clv = fit_offset_models(fit_frame, plan, columns, cfg)
    evaluation = _customer_snapshots(data_dir, [plan.cutoff], cfg, plan.horizon_days)
    churn_probability, value = forecast_at_cutoff(evaluation, churn, clv, plan, season)
    return Forecast(evaluation, churn_probability, value, churn, clv, fit_frame, columns, plan)


def _customer_snapshots(
    data_dir: str | Path, cutoffs: list[date], cfg: ExperimentConfig, horizon_days: int
) -> pd.DataFrame:
    """Features and labels over ``horizon_days`` at each cutoff, customers only (no prospects)."""
    frame = build_frame(
        data_dir, cutoffs, cfg, churn_horizon_days=horizon_days, value_horizon_days=horizon_days
    )
    return frame[frame["is_prospect"] == 0].reset_index(drop=True)


def forecast_at_cutoff(
    evaluation: pd.DataFrame,
    churn: OffsetModel,
    clv: OffsetModel,
    plan: BacktestPlan,
    season: Seasonality = NO_SEASONALITY,
) -> tuple[np.ndarray, np.ndarray]:
    """Churn probability and value over H per customer: each seed's correction of the BTYD forecast
    over h, carried to H (the churn one by BG/NBD on ``season``'s clock), then averaged over the
    seeds."""
    h, horizon_days = plan.train_horizon_days, plan.horizon_days
    history = evaluation.drop(columns=list(BTYD_COLUMNS))
    short = add_btyd_columns(history, h, h)  # the models' columns
    p0_short = short["btyd_p_no_purchase"].to_numpy(dtype=float)
    ev_short = np.maximum(short["btyd_expected_value"].to_numpy(dtype=float), OFFSET_FLOOR)
    p0_long = evaluation["btyd_p_no_purchase"].to_numpy(dtype=float)
    if season.found:
        p0_long = p_no_purchase_on_clock(history, season, plan.cutoff, horizon_days)
    ev_long = np.maximum(evaluation["btyd_expected_value"].to_numpy(dtype=float), OFFSET_FLOOR)
    churn_probability = np.mean(
        [
            extend_churn_probability(sigmoid(z + logit(p0_short)), p0_short, p0_long)
            for z in churn.predict_raw(short)
        ],
        axis=0,
    )
    value = np.mean(
        [
            extend_horizon(np.exp(z) * ev_short, ev_short, ev_long, horizon_days / h)
            for z in clv.predict_raw(short)
        ],
        axis=0,
    )
    return churn_probability, value
