"""Carrying a forecast over the training horizon ``h`` to the backtest's ``H``: the value by the
BTYD ratio E[H]/E[h] (:func:`extend_horizon`), the churn probability by its log-odds shift from
BG/NBD (:func:`extend_churn_probability`), along BG/NBD on the base's seasonal clock when the
history shows a seasonality (:func:`p_no_purchase_on_clock`, ``training.seasonality``).
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from training.btyd import BTYDModel
from training.dataset import btyd_summary
from training.models import logit, sigmoid
from training.seasonality import Seasonality


def extend_horizon(
    short: np.ndarray, btyd_short: np.ndarray, btyd_long: np.ndarray, fallback_ratio: float
) -> np.ndarray:
    """Scale a forecast over h to H with the BTYD ratio E[H]/E[h] per customer."""
    ratio = np.where(btyd_short > 1e-9, btyd_long / np.maximum(btyd_short, 1e-9), fallback_ratio)
    return short * ratio


def extend_churn_probability(
    p_short: np.ndarray, btyd_short: np.ndarray, btyd_long: np.ndarray
) -> np.ndarray:
    """Carry a churn probability over h to H: keep the model's log-odds shift from the BTYD
    P(no purchase within h) and apply it to the BTYD P(no purchase within H)."""
    return sigmoid(logit(p_short) - logit(btyd_short) + logit(btyd_long))


def p_no_purchase_on_clock(
    history: pd.DataFrame, season: Seasonality, cutoff: date, horizon_days: int
) -> np.ndarray:
    """BG/NBD's P(no purchase in ``[cutoff, cutoff + horizon_days)``) per customer of ``history``
    (buyers' feature rows at ``cutoff``), fitted and forecast on ``season``'s clock."""
    summary = season.warp(btyd_summary(history), cutoff)
    forecast = (
        BTYDModel().fit(summary).predict(summary, season.effective_days(cutoff, horizon_days))
    )
    return forecast["p_no_purchase"].to_numpy(dtype=float)
