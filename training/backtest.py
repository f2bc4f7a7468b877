"""Backtest: fit everything on data before a cutoff, evaluate on ``[cutoff, cutoff + H)``.

LightGBM learns a correction to BG/NBD + Gamma-Gamma (``training.offset_models``) on weekly
snapshots labelled over a shorter horizon ``h`` that all end by the cutoff
(``training.backtest_plan``); at the cutoff the correction is carried from ``h`` to ``H``
(``training.horizon_extension``, ``training.backtest_forecast``). The extended churn probability
is recalibrated on a pseudo-backtest whose outcome window ends by the cutoff
(``training.horizon_calibration``) and the CLV total is kept at the BTYD level
(:func:`training.calibration.anchor_total`). A backtest whose own validation cutoff, or every
training cutoff, comes before any customer bought twice is refused before any feature is
computed. The result, its JSON, MLflow run and tables: ``training.backtest_result``.

The method step by step and the pseudo-backtest evidence behind each choice:
``docs/results.md``, section "Pseudo-backtest evidence".
"""

from __future__ import annotations

import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from training.backtest_forecast import fit_and_forecast
from training.backtest_plan import (
    BacktestPlan,
    dropped_note,
    no_repeats_error,
    plan_backtest,
    with_repeat_buyers,
)
from training.backtest_result import UNSCALED_TOTAL, BacktestResult, SplitRows
from training.cadence import billing_cycle_note, cancellation_note
from training.clv_intervals import flat_metrics, missing_range_metrics, ranges_for_backtest
from training.config import ExperimentConfig
from training.dataset import (
    ENDED_ROWS,
    check_window,
    data_bounds,
    ended_note,
    first_repeat_cutoff,
)
from training.horizon_calibration import (
    DEFAULT_CALIBRATION,
    Calibrate,
    calibrate_on_pseudo_backtest,
)
from training.metrics import roc_auc
from training.offset_models import OffsetModel
from training.seasonality import Seasonality, seasonality_of
from training.splits import PlanError
from training.train import evaluate, truth_check


def backtest(
    data_dir: str | Path,
    cutoff: date,
    horizon_days: int,
    cfg: ExperimentConfig,
    dataset: str | None = None,
    log=print,
    calibrate: Calibrate = DEFAULT_CALIBRATION,
    range_groups=None,
    allow_partial_window: bool = False,
    seasonal: bool = True,
) -> BacktestResult:
    """Fit on snapshots before ``cutoff``, forecast ``[cutoff, cutoff + horizon_days)``, score both
    models on the customers with a purchase before the cutoff.

    ``calibrate`` (see :data:`Calibrate`): how the churn probability at the horizon asked is
    recalibrated on a pseudo-backtest that ends by the cutoff
    (:func:`calibrate_on_pseudo_backtest`); unless ``none``, the CLV total is also kept at the BTYD
    level. ``range_groups`` (features, churn probability, value -> labels, e.g.
    ``serving.scoring.range_groups``) breaks the coverage of the predicted-value ranges down by
    stage and value segment. An outcome window the data does not fully cover is a ``PlanError``
    (its customers would count as churned and spend nothing for the missing days) unless
    ``allow_partial_window``, which warns and records it in the result. ``seasonal``: carry the
    churn forecast to H in the base's seasonal time (``training.seasonality``, found before the
    cutoff; calendar days when none is found or when False).
    """
    started = time.perf_counter()
    plan, partial = _plan(data_dir, cutoff, horizon_days, cfg, log, allow_partial_window)
    _log_plan(plan, dataset or data_dir, log)
    if note := dropped_note(plan, "training"):
        log(f"note: {note}")
    season = seasonality_of(data_dir, cutoff) if seasonal else Seasonality(reason="switched off")
    log(season.describe(cutoff, horizon_days))
    fitted = fit_and_forecast(data_dir, plan, cfg, season)
    evaluation, churn_probability, value = fitted.evaluation, fitted.churn_probability, fitted.value
    calibration = None
    if calibrate != "none":
        start, _ = data_bounds(data_dir)
        calibration = calibrate_on_pseudo_backtest(
            data_dir, start, plan, cfg, fit_slope=calibrate == "logodds", log=log, season=season
        )
        churn_probability = calibration.calibration.apply(churn_probability)
        value = fitted.anchored_value()
    predictions = _predictions_frame(evaluation, churn_probability, value)
    lightgbm = _score(predictions, "churn_probability", "predicted_value")
    if calibrate != "none":  # the level the model itself forecast, before it was set to BTYD's
        spent = evaluation["future_value"].to_numpy(dtype=float).sum()
        lightgbm[UNSCALED_TOTAL] = float(fitted.value.sum() / spent) if spent > 0 else np.nan
    btyd = _score_btyd(predictions, evaluation)
    for metrics, column in ((lightgbm, "churn_probability"), (btyd, "btyd_p_no_purchase")):
        metrics.update(
            truth_check(data_dir, predictions, predictions[column].to_numpy(), horizon_days)
        )
    ranges = ranges_for_backtest(
        data_dir,
        plan,
        cfg,
        evaluation,
        churn_probability,
        value,
        log=log,
        pseudo=None if calibration is None else calibration.forecast,
        anchored=calibrate != "none",
        season=season,
        range_groups=range_groups,
    )
    if ranges is not None:
        predictions = predictions.assign(**ranges.columns)
    for metrics, model in ((lightgbm, "lightgbm"), (btyd, "btyd")):
        metrics.update(
            missing_range_metrics()
            if ranges is None
            else flat_metrics(ranges.report[model], "clv_interval_")
        )
    churn, clv = fitted.churn, fitted.clv
    for warning in _evidence_warnings(len(evaluation), {"churn": churn, "clv": clv}):
        log(f"warning: {warning}")
    for warning in _window_warnings(evaluation, cutoff, horizon_days):
        log(f"warning: {warning}")
    if cycles := billing_cycle_note(evaluation, horizon_days, backtest=True):
        log(f"note: {cycles}")
    if said := ended_note(evaluation.attrs.get(ENDED_ROWS, 0), f"the customers at {cutoff}"):
        log(f"note: {said}")
    if said := cancellation_note(evaluation):
        log(f"note: {said}")
    return BacktestResult(
        dataset=dataset or Path(data_dir).name,
        experiment=cfg.name,
        plan=plan,
        n_features=len(fitted.columns),
        trees={"churn": churn.n_trees_, "clv": clv.n_trees_},
        seconds=round(time.perf_counter() - started, 1),
        lightgbm=lightgbm,
        btyd=btyd,
        predictions=predictions,
        importance={
            "churn": churn.feature_importance().to_dict(),
            "clv": clv.feature_importance().to_dict(),
        },
        rows=_split_rows(fitted.fit_frame, plan, len(evaluation)),
        calibration=None if calibration is None else calibration.to_dict(),
        ranges=None if ranges is None else ranges.report,
        seasonality={
            **season.to_dict(),
            "effective_days": season.effective_days(cutoff, horizon_days),
        },
        partial_window=partial,
    )


#: Fewer evaluated customers than this and a backtest's metrics are mostly noise (warned).
MIN_EVALUATED_CUSTOMERS = 200


def _evidence_warnings(n_customers: int, models: dict[str, OffsetModel]) -> list[str]:
    """What makes a backtest's comparison weak: few customers, or LightGBM learning nothing on
    top of BTYD (one tree or none per seed: its forecast is the BTYD offset)."""
    warnings = []
    if n_customers < MIN_EVALUATED_CUSTOMERS:
        warnings.append(
            f"only {n_customers:,} customers evaluated (under {MIN_EVALUATED_CUSTOMERS}): the "
            "metrics below are mostly noise"
        )
    for name, model in models.items():
        if max(model.n_trees_, default=0) <= 1:
            warnings.append(
                f"the {name} model learned no correction to BTYD ({model.n_trees_} trees per "
                "seed): its column repeats the BTYD one"
            )
    return warnings


def _window_warnings(evaluation: pd.DataFrame, cutoff: date, horizon_days: int) -> list[str]:
    """Why metrics of the window have no value (null in the JSON): nobody or everybody
    churned (no ranking to judge), or nobody bought (a shop closed, an export cut short)."""
    window = f"[{cutoff}, +{horizon_days}d)"
    churned = evaluation["churned"].astype(bool)
    if len(churned) and churned.all():
        return [
            f"no evaluated customer bought in {window}: churn AUC, Spearman and Gini have no "
            "value; if the shop was closed or the export stops early, choose another window"
        ]
    if len(churned) and not churned.any():
        return [f"every evaluated customer bought in {window}: churn AUC has no value"]
    return []


def _plan(
    data_dir: str | Path,
    cutoff: date,
    horizon_days: int,
    cfg: ExperimentConfig,
    log,
    allow_partial_window: bool = False,
) -> tuple[BacktestPlan, str | None]:
    bounds = data_bounds(data_dir)
    warning = check_window(bounds, cutoff, horizon_days, "the backtest cutoff")
    if warning and not allow_partial_window:
        latest = bounds[1] - timedelta(days=horizon_days)
        raise PlanError(
            f"{warning.removeprefix('warning: ')}; its metrics would be wrong. Use a cutoff up "
            f"to {latest} or a shorter --horizon-days, or pass --allow-partial-window"
        )
    if warning:
        log(warning)
    plan = plan_backtest(bounds[0], cutoff, horizon_days, cfg)
    repeats_from = first_repeat_cutoff(data_dir)
    supported = with_repeat_buyers(plan, repeats_from)
    if supported is None:  # before any feature is computed
        raise no_repeats_error(plan, repeats_from)
    return supported, warning


def _log_plan(plan: BacktestPlan, dataset: object, log) -> None:
    log(
        f"backtest {dataset} at {plan.cutoff}, H={plan.horizon_days}d: training horizon "
        f"{plan.train_horizon_days}d (models fitted on {plan.train_horizon_days}-day outcomes, "
        f"about a third of H so that more windows fit before the cutoff, and extended to "
        f"{plan.horizon_days} days), select on train cutoffs "
        f"{[str(c) for c in plan.select.train]} "
        f"-> valid {plan.select.valid}, refit on {len(plan.refit)} cutoffs "
        f"{plan.refit[0]}..{plan.refit[-1]}"
    )


def _predictions_frame(
    evaluation: pd.DataFrame, churn_probability: np.ndarray, value: np.ndarray
) -> pd.DataFrame:
    """The test predictions in the layout of a training run's ``predictions/test.parquet``."""
    return pd.DataFrame(
        {
            "customer_id": evaluation["customer_id"].to_numpy(),
            "cutoff": evaluation["cutoff"].to_numpy(),
            "churned": evaluation["churned"].astype(int).to_numpy(),
            "future_value": evaluation["future_value"].to_numpy(dtype=float),
            "churn_probability": churn_probability,
            "predicted_value": value,
            "btyd_p_no_purchase": evaluation["btyd_p_no_purchase"].to_numpy(dtype=float),
            "btyd_expected_value": evaluation["btyd_expected_value"].to_numpy(dtype=float),
        }
    )


def _score(predictions: pd.DataFrame, churn_column: str, value_column: str) -> dict[str, float]:
    return evaluate(
        predictions["churned"],
        predictions[churn_column],
        predictions["future_value"],
        predictions[value_column],
    )


def _score_btyd(predictions: pd.DataFrame, evaluation: pd.DataFrame) -> dict[str, float]:
    """The BG/NBD + Gamma-Gamma baseline; also its AUC when ranking by expected purchases."""
    btyd = _score(predictions, "btyd_p_no_purchase", "btyd_expected_value")
    btyd["churn_auc_from_expected_purchases"] = roc_auc(
        predictions["churned"], -evaluation["btyd_expected_purchases"].to_numpy(dtype=float)
    )
    return btyd


def _split_rows(fit_frame: pd.DataFrame, plan: BacktestPlan, n_test: int) -> SplitRows:
    cut = pd.to_datetime(fit_frame["cutoff"])
    return SplitRows(
        train=int(cut.isin(pd.to_datetime(list(plan.select.train))).sum()),
        valid=int((cut == pd.Timestamp(plan.select.valid)).sum()),
        refit=int(cut.isin(pd.to_datetime(list(plan.refit))).sum()),
        test=n_test,
    )
