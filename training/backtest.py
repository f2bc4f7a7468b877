"""Backtest: fit everything on data before a cutoff, evaluate on ``[cutoff, cutoff + H)``.

LightGBM learns a correction to BG/NBD + Gamma-Gamma. The training snapshots are weekly, with
labels over a shorter horizon ``h`` (about a third of ``H``, :func:`train_horizon`) whose windows
all end by the cutoff (:func:`plan_backtest`). The BTYD forecasts are the offsets
(``init_score``), shifted per snapshot to its observed level (:func:`_level_shift`); each model is
fitted with :data:`N_SEEDS` seeds and averaged; at the cutoff the correction is carried from ``h``
to ``H`` (:func:`extend_horizon`, :func:`extend_churn_probability`), the churn one along BG/NBD
on the base's seasonal clock when the history shows a seasonality (``training.seasonality``).
The extended churn probability is recalibrated on a pseudo-backtest whose outcome window ends
by the cutoff (:func:`calibrate_on_pseudo_backtest`, ``training.calibration``) and the CLV total
is kept at the BTYD level (:func:`training.calibration.anchor_total`). A fitting cutoff of
either plan before any customer bought twice is left out with a note (:func:`with_repeat_buyers`:
BTYD learns nothing there); a backtest whose own validation cutoff, or every training cutoff, is
one of them is refused before any feature is computed, and a pseudo-backtest takes a shorter
horizon or none.

The method step by step and the pseudo-backtest evidence behind each choice:
``docs/results.md``, section "Pseudo-backtest evidence".
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Literal

import lightgbm as lgb
import numpy as np
import pandas as pd

from features.atomic_file import write_json_atomic
from training import BTYD_ANCHOR
from training.btyd import BTYDModel
from training.cadence import billing_cycle_note, cancellation_note
from training.calibration import LogOddsCalibration, anchor_total
from training.clv_intervals import flat_metrics, missing_range_metrics, ranges_for_backtest
from training.config import ExperimentConfig, LightGBMParams
from training.dataset import (
    BTYD_COLUMNS,
    ENDED_ROWS,
    add_btyd_columns,
    btyd_summary,
    build_frame,
    check_window,
    data_bounds,
    ended_note,
    first_repeat_cutoff,
    model_columns,
)
from training.metrics import expected_calibration_error, roc_auc
from training.models import (
    OFFSET_FLOOR,
    FeatureEncoder,
    btyd_offset,
    check_rows,
    lgb_callbacks,
    lgb_kwargs,
    logit,
    sigmoid,
)
from training.seasonality import NO_SEASONALITY, Seasonality, seasonality_of
from training.splits import CutoffPlan, PlanError, plan_cutoffs
from training.train import evaluate, truth_check

METRIC_KEYS = (
    "clv_mae",
    "clv_rmse",
    "clv_spearman",
    "clv_gini",
    "clv_total_ratio",
    "churn_auc",
    "churn_pr_auc",
    "churn_brier",
    "churn_log_loss",
    "churn_ece",
    "clv_interval_coverage",
    "clv_interval_width",
)

#: How the extended churn probability is recalibrated on the pseudo-backtest: ``logodds``
#: (intercept and slope), ``intercept`` (a shift of the log-odds) or ``none``; ``none`` also leaves
#: the CLV total at the LightGBM correction's level. Evidence for the default: docs/results.md.
Calibrate = Literal["logodds", "intercept", "none"]
DEFAULT_CALIBRATION: Calibrate = "logodds"
#: The pseudo-backtest's ratio H'/h' may differ from the backtest's H/h by this share at most.
RATIO_TOLERANCE = 0.25

#: A training snapshot needs this much history (12 weeks: every customer of a cohort acquired over
#: a quarter has been seen, and has had a chance to repeat). Evidence: docs/results.md.
MIN_HISTORY_DAYS = 84

#: With a purchase seasonality, the pseudo-backtest starts this many days (52 weeks) before the
#: cutoff: its window lies in the backtest window's season, so the recalibration and the ranges
#: fitted there carry no other season's level. Evidence: docs/results.md, "Calibrated in the
#: same season a year earlier".
SEASON_LAG_DAYS = 364

#: LightGBM fits per model, with seeds ``cfg.seed + i``, whose forecasts are averaged (bagging:
#: one fit's row and feature subsampling moves the backtest by noise; docs/results.md).
N_SEEDS = 5


def train_horizon(cfg: ExperimentConfig, horizon_days: int, history_days: int) -> int:
    """The label horizon ``h`` of the training snapshots, in whole weeks.

    About a third of ``H`` (so that the extension from ``h`` to ``H`` stays moderate), at most the
    config's value horizon, and short enough that a training window, a validation window and
    :data:`MIN_HISTORY_DAYS` of history fit before the cutoff.
    """
    weeks = max(1, round(horizon_days / 21))
    room = max(7, (history_days - MIN_HISTORY_DAYS) // 2)
    return int(max(1, min(horizon_days, cfg.labels.value_horizon_days, 7 * weeks, room)))


@dataclass(frozen=True)
class BacktestPlan:
    """Cutoffs of a backtest: ``select`` (train/valid, early stopping) and ``refit`` (final fit)."""

    cutoff: date
    horizon_days: int
    train_horizon_days: int
    select: CutoffPlan
    refit: tuple[date, ...]
    #: Fitting cutoffs left out: nobody had bought twice before them (:func:`with_repeat_buyers`).
    dropped: tuple[date, ...] = ()

    def check(self) -> None:
        """Raise if a label window used for fitting or selection reaches a later split."""
        self.select.check()
        h = timedelta(days=self.train_horizon_days)
        late = [c for c in self.refit if c + h > self.cutoff]
        if late:
            raise ValueError(
                f"refit cutoff {late[0]} + {self.train_horizon_days} days reaches {self.cutoff}"
            )


def plan_backtest(
    data_start: date, cutoff: date, horizon_days: int, cfg: ExperimentConfig
) -> BacktestPlan:
    """Training horizon and cutoffs for a backtest at ``cutoff``: select on train -> valid,
    refit on every weekly snapshot whose label window ends by the cutoff."""
    if cutoff <= data_start:
        raise PlanError(
            f"cutoff {cutoff} is not after the data's first day {data_start}: a backtest learns "
            "from the history before its cutoff; use a later cutoff"
        )
    h = train_horizon(cfg, horizon_days, (cutoff - data_start).days)
    step = max(1, min(cfg.snapshots.step_days, h))
    select = plan_cutoffs(
        data_start,
        cutoff + timedelta(days=h),
        h,
        cfg.snapshots.n_train,
        step,
        test_cutoff=cutoff,
        min_history_days=min(MIN_HISTORY_DAYS, (cutoff - data_start).days - 2 * h),
    )
    refit, day = set(select.train), select.valid
    while day >= min(select.train):  # every step back from the validation cutoff
        refit.add(day)
        day -= timedelta(days=step)
    plan = BacktestPlan(cutoff, int(horizon_days), h, select, tuple(sorted(refit)))
    plan.check()
    return plan


def with_repeat_buyers(plan: BacktestPlan, repeats_from: date | None) -> BacktestPlan | None:
    """``plan`` without its fitting cutoffs before ``repeats_from``
    (``training.dataset.first_repeat_cutoff``: no customer had bought twice before them, so
    BG/NBD + Gamma-Gamma, the models' offset, learn nothing there), named in ``dropped``. None
    when the validation cutoff is one of them, or no training cutoff remains, or nobody ever
    bought twice (``repeats_from`` None)."""
    if repeats_from is None or plan.select.valid < repeats_from:
        return None
    train = tuple(c for c in plan.select.train if c >= repeats_from)
    if not train:
        return None
    refit = tuple(c for c in plan.refit if c >= repeats_from)
    dropped = tuple(sorted({*plan.select.train, *plan.refit} - {*train, *refit}))
    if not dropped:
        return plan
    select = dataclasses.replace(plan.select, train=train)
    return dataclasses.replace(plan, select=select, refit=refit, dropped=dropped)


def dropped_note(plan: BacktestPlan, what: str) -> str | None:
    """What a run says of the cutoffs :func:`with_repeat_buyers` left out of ``plan`` (None when
    it left out none)."""
    if not plan.dropped:
        return None
    names = ", ".join(str(c) for c in plan.dropped)
    return (
        f"{len(plan.dropped)} {what} cutoff(s) left out ({names}): no customer had bought twice "
        "before them, and BG/NBD + Gamma-Gamma (the baseline and the models' offset) learn from "
        "repeat purchases"
    )


def _no_repeats_error(plan: BacktestPlan, repeats_from: date | None) -> PlanError:
    """Why a backtest's own plan cannot be fitted: its validation cutoff, or every training
    cutoff, comes before any customer bought twice."""
    if repeats_from is None:
        return PlanError(
            "no customer bought on two days in the data (a purchase being an order with an "
            "amount above 0): BG/NBD + Gamma-Gamma (the baseline and the models' offset) learn "
            "from repeat purchases; check that the order dates, amounts and customer ids were read"
        )
    late = max(plan.select.valid, min(plan.select.train))
    return PlanError(
        f"no customer had bought twice before {late} (the first did on "
        f"{repeats_from - timedelta(days=1)}), a cutoff the backtest fits on (training from "
        f"{min(plan.select.train)}, validation {plan.select.valid}): BG/NBD + Gamma-Gamma (the "
        "baseline and the models' offset) learn from repeat purchases; use a cutoff at least "
        f"{(repeats_from - min(plan.select.train)).days} days later, or a shorter --horizon-days"
    )


def pseudo_backtest_plan(
    data_start: date,
    cutoff: date,
    horizon_days: int,
    cfg: ExperimentConfig,
    season: Seasonality = NO_SEASONALITY,
    repeats_from: date | None = date.min,
) -> BacktestPlan | None:
    """The plan of the pseudo-backtest that checks a backtest's extension before the cutoff.

    The longest horizon ``H'`` <= ``H`` (``H``, else whole weeks) whose pseudo-cutoff leaves room
    for a plan (:func:`plan_backtest`) and whose training horizon keeps the backtest's ratio
    ``H/h`` within :data:`RATIO_TOLERANCE`. Its outcome window ends by the cutoff. The
    pseudo-cutoff is ``cutoff - H'`` (the latest window), or, when ``season`` found a purchase
    seasonality before the cutoff and ``H`` is at most a year, :data:`SEASON_LAG_DAYS` before the
    cutoff (the same season a year earlier) if the history holds that window with at least half
    the latest window's ``H'``. Its fitting cutoffs before ``repeats_from`` (the first with a
    customer who bought twice, ``training.dataset.first_repeat_cutoff``; None: nobody did) are
    left out (:func:`with_repeat_buyers`), and a horizon whose validation cutoff or every
    training cutoff is one of them does not fit. None when no horizon of at least two weeks fits.
    """
    latest = _pseudo_plan(
        data_start, cutoff, horizon_days, cfg, lambda h: cutoff - timedelta(h), repeats_from
    )
    if season.found and horizon_days <= SEASON_LAG_DAYS:
        a_year_earlier = _pseudo_plan(
            data_start,
            cutoff,
            horizon_days,
            cfg,
            lambda h: cutoff - timedelta(SEASON_LAG_DAYS),
            repeats_from,
        )
        if a_year_earlier is not None and (
            latest is None or 2 * a_year_earlier.horizon_days >= latest.horizon_days
        ):
            return a_year_earlier
    return latest


def _pseudo_plan(
    data_start: date,
    cutoff: date,
    horizon_days: int,
    cfg: ExperimentConfig,
    start_of: Callable[[int], date],
    repeats_from: date | None = date.min,
) -> BacktestPlan | None:
    """:func:`pseudo_backtest_plan` with the pseudo-cutoff ``start_of(H')``."""
    ratio = horizon_days / train_horizon(cfg, horizon_days, (cutoff - data_start).days)
    candidates = [horizon_days] + list(range(7 * (horizon_days // 7), 13, -7))
    for pseudo_h in dict.fromkeys(c for c in candidates if 14 <= c <= horizon_days):
        pseudo_cutoff = start_of(pseudo_h)
        if pseudo_cutoff + timedelta(days=pseudo_h) > cutoff:
            continue
        history = (pseudo_cutoff - data_start).days
        if history <= MIN_HISTORY_DAYS // 2:
            continue
        h = train_horizon(cfg, pseudo_h, history)
        if abs(pseudo_h / h - ratio) > RATIO_TOLERANCE * ratio:
            continue
        try:
            plan = plan_backtest(data_start, pseudo_cutoff, pseudo_h, cfg)
        except ValueError:  # PlanError included: not enough history
            continue
        if (supported := with_repeat_buyers(plan, repeats_from)) is not None:
            return supported
    return None


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


def _level_shift(base: np.ndarray, groups: np.ndarray, target: np.ndarray, kind: str) -> np.ndarray:
    """Per group (snapshot cutoff), add the constant that makes the offset reproduce the observed
    churn rate (``kind="churn"``, log-odds) or total value (``kind="value"``, log)."""
    from scipy.optimize import brentq

    out = base.copy()
    for group in np.unique(groups):
        idx = groups == group
        if kind == "churn":
            part, rate = base[idx], float(np.clip(target[idx].mean(), 1e-4, 1 - 1e-4))

            def gap(k, part=part, rate=rate):
                return sigmoid(part + k).mean() - rate

            shift = brentq(gap, -30.0, 30.0) if gap(-30.0) < 0 < gap(30.0) else 0.0
        else:
            actual, expected = target[idx].sum(), np.exp(base[idx]).sum()
            shift = float(np.log(actual / expected)) if actual > 0 and expected > 0 else 0.0
        out[idx] += shift
    return out


class OffsetModel:
    """LightGBM on top of a BTYD offset: ``kind="churn"`` (binary, log-odds of P(no purchase))
    or ``kind="value"`` (Tweedie, log of the expected value), one fit per seed.
    ``predict_raw`` returns each seed's correction without the offset (seeds x rows)."""

    def __init__(
        self,
        columns: list[str],
        kind: str,
        params: LightGBMParams,
        *,
        seeds: tuple[int, ...] = (0,),
        tweedie_variance_power: float = 1.5,
    ):
        self.columns, self.kind, self.params, self.seeds = list(columns), kind, params, tuple(seeds)
        self.tweedie_variance_power = tweedie_variance_power

    def _estimator(self, seed: int, n_estimators: int | None = None):
        kwargs = lgb_kwargs(self.params, seed)
        if n_estimators is not None:
            kwargs["n_estimators"] = n_estimators
        if self.kind == "churn":
            return lgb.LGBMClassifier(objective="binary", **kwargs)
        return lgb.LGBMRegressor(
            objective="tweedie", tweedie_variance_power=self.tweedie_variance_power, **kwargs
        )

    def select(
        self, train: pd.DataFrame, y_train, offset_train, valid: pd.DataFrame, y_valid, offset_valid
    ) -> list[int]:
        """Early-stop each seed on the validation snapshot; returns the numbers of trees."""
        check_rows(self.kind, train, valid)
        encoder = FeatureEncoder(self.columns).fit(train)
        x_train, x_valid = encoder.transform(train), encoder.transform(valid)
        self.n_trees_ = []
        for seed in self.seeds:
            model = self._estimator(seed)
            model.fit(
                x_train,
                np.asarray(y_train),
                init_score=offset_train,
                eval_X=x_valid,
                eval_y=np.asarray(y_valid),
                eval_init_score=[offset_valid],
                callbacks=lgb_callbacks(self.params),
            )
            self.n_trees_.append(int(model.best_iteration_ or model.n_estimators))
        return self.n_trees_

    def fit(self, frame: pd.DataFrame, y, offset, n_trees: list[int]) -> OffsetModel:
        self.encoder_ = FeatureEncoder(self.columns).fit(frame)
        x = self.encoder_.transform(frame)
        self.models_ = [
            self._estimator(seed, n).fit(x, np.asarray(y), init_score=offset)
            for seed, n in zip(self.seeds, n_trees, strict=True)
        ]
        return self

    def predict_raw(self, frame: pd.DataFrame) -> np.ndarray:
        x = self.encoder_.transform(frame)
        return np.vstack([model.predict(x, raw_score=True) for model in self.models_])

    def feature_importance(self) -> pd.Series:
        boosters = [model.booster_ for model in self.models_]
        gain = sum(b.feature_importance(importance_type="gain") for b in boosters)
        return pd.Series(gain, index=boosters[0].feature_name(), name="gain").sort_values(
            ascending=False
        )


def _offsets(frame: pd.DataFrame, kind: str) -> np.ndarray:
    """The BTYD offset of each row, shifted per snapshot to its observed level (so the trees learn
    who BTYD over- or under-rates, not how busy the weeks after that cutoff were)."""
    base = btyd_offset(frame, "churn" if kind == "churn" else "value")
    target = _target(frame, "churned" if kind == "churn" else "future_value").astype(float)
    return _level_shift(base, frame["cutoff"].to_numpy(), target, kind)


def _target(frame: pd.DataFrame, label: str) -> np.ndarray:
    if label == "churned":
        return frame[label].astype(int).to_numpy()
    return np.clip(frame[label].to_numpy(dtype=float), 0, None)  # net returns count as zero


def fit_offset_models(
    fit_frame: pd.DataFrame, plan: BacktestPlan, columns: list[str], cfg: ExperimentConfig
) -> tuple[OffsetModel, OffsetModel]:
    """Select the number of trees on train -> valid, then refit on every refit snapshot."""
    cut = pd.to_datetime(fit_frame["cutoff"])
    train = fit_frame[cut.isin(pd.to_datetime(list(plan.select.train)))]
    valid = fit_frame[cut == pd.Timestamp(plan.select.valid)]
    refit = fit_frame[cut.isin(pd.to_datetime(list(plan.refit)))]
    models = []
    for kind, params, label in (
        ("churn", cfg.churn.params, "churned"),
        ("value", cfg.clv.params, "future_value"),
    ):
        model = OffsetModel(
            columns,
            kind,
            params,
            seeds=tuple(cfg.seed + i for i in range(N_SEEDS)),
            tweedie_variance_power=cfg.clv.tweedie_variance_power,
        )
        n = model.select(
            train,
            _target(train, label),
            _offsets(train, kind),
            valid,
            _target(valid, label),
            _offsets(valid, kind),
        )
        models.append(model.fit(refit, _target(refit, label), _offsets(refit, kind), n))
    return models[0], models[1]


@dataclass(frozen=True)
class SplitRows:
    """Snapshot rows per split: ``train``/``valid`` (selection), ``refit`` (final fit), ``test``."""

    train: int
    valid: int
    refit: int
    test: int


@dataclass
class BacktestResult:
    """A backtest: its plan, both models' test metrics, and the per-customer test predictions."""

    dataset: str
    experiment: str
    plan: BacktestPlan
    n_features: int
    trees: dict[str, list[int]]
    seconds: float
    lightgbm: dict[str, float]
    btyd: dict[str, float]
    predictions: pd.DataFrame  # one row per test customer: outcomes, forecasts, BTYD forecasts
    importance: dict[str, dict[str, float]]  # model -> feature -> total gain over the seeds
    rows: SplitRows
    calibration: dict | None = None  # the pseudo-backtest recalibration (HorizonCalibration)
    ranges: dict | None = None  # predicted-value range coverage (training.clv_intervals)
    seasonality: dict | None = None  # the purchase seasonality the churn extension used
    partial_window: str | None = None  # why the outcome window is not fully observed, if allowed

    @property
    def n_customers(self) -> int:
        return len(self.predictions)

    def summary(self) -> dict:
        """The JSON-ready result (``bench/results/backtest_*.json``)."""
        plan = self.plan
        return {
            "dataset": self.dataset,
            "cutoff": plan.cutoff.isoformat(),
            "horizon_days": int(plan.horizon_days),
            "n_customers": self.n_customers,
            "train_horizon_days": int(plan.train_horizon_days),
            "train_cutoffs": [str(c) for c in plan.select.train],
            "valid_cutoff": str(plan.select.valid),
            "refit_cutoffs": [str(c) for c in plan.refit],
            "trees": self.trees,
            "experiment": self.experiment,
            "features": self.n_features,
            "seconds": self.seconds,
            "models": {"lightgbm": self.lightgbm, "btyd": self.btyd},
            "calibration": self.calibration,
            "ranges": self.ranges,
            "seasonality": self.seasonality,
            "partial_window": self.partial_window,
        }

    def totals(self) -> dict[str, float]:
        """The CLV totals over the horizon: actual, LightGBM's and BTYD's, side by side."""
        p = self.predictions
        actual = float(p["future_value"].sum())
        model, btyd = float(p["predicted_value"].sum()), float(p["btyd_expected_value"].sum())
        return {"actual": actual, "lightgbm": model, "btyd": btyd,
                "lightgbm_ratio": model / actual if actual else float("nan"),
                "btyd_ratio": btyd / actual if actual else float("nan")}  # fmt: skip

    def fingerprint(self) -> dict:
        """Cutoffs and row counts per split, in the layout of a training run's fingerprint."""
        plan = self.plan
        cutoffs = {
            "train": [str(c) for c in plan.select.train],
            "valid": [str(plan.select.valid)],
            "refit": [str(c) for c in plan.refit],
            "test": [plan.cutoff.isoformat()],
        }
        return {"cutoffs": cutoffs, "rows": asdict(self.rows)}

    def test_metrics(self) -> dict[str, float]:
        """Metrics as a training run logs them: ``test_*`` (LightGBM) and ``test_btyd_*``."""
        metrics = {f"test_{k}": v for k, v in self.lightgbm.items()}
        metrics.update({f"test_btyd_{k}": v for k, v in self.btyd.items()})
        return metrics


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


def pseudo_window(pseudo: BacktestPlan, cutoff: date, season: Seasonality) -> str:
    """``same_season`` when the base has a seasonality and the pseudo-backtest starts
    :data:`SEASON_LAG_DAYS` before ``cutoff`` (:func:`pseudo_backtest_plan`), else ``latest``."""
    lag = (cutoff - pseudo.cutoff).days
    return "same_season" if season.found and lag == SEASON_LAG_DAYS else "latest"


def _ece(y: np.ndarray, p: np.ndarray) -> float:
    return float(expected_calibration_error(y, p)) if len(y) else float("nan")


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
        raise _no_repeats_error(plan, repeats_from)
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


def write_result(result: BacktestResult, out: str | Path) -> None:
    """Write the result JSON to ``out`` atomically: a killed or failed write (full disk) leaves
    the previous complete file, never a truncated one. A metric without a value (NaN: e.g. no
    churner in the window) is ``null`` (``features.atomic_file.write_json_atomic``)."""
    write_json_atomic(out, result.summary(), indent=2)


def log_backtest_run(result: BacktestResult, cfg: ExperimentConfig) -> str:
    """Record a backtest as an MLflow run (metrics with the ``test_`` prefix, like training runs),
    tagged with its project: the config's, else the data set's name."""
    import mlflow

    from training.registry import open_experiment, tracked_run
    from training.train import config_params, log_predictions

    experiment_id = open_experiment(cfg.tracking, cfg.experiment_name)
    summary = result.summary()
    tags = {"experiment": cfg.name, "kind": "backtest", "data": result.dataset,
            "project": cfg.project or result.dataset}  # fmt: skip
    with tracked_run(
        cfg.tracking.tracking_uri, experiment_id, run_name=f"{cfg.name}-backtest-{result.dataset}"
    ) as run:
        mlflow.set_tags(tags)
        mlflow.log_params(
            {
                # the models' settings (seed, trees), as a training run logs them; then its own
                **config_params(cfg),
                "cutoff": summary["cutoff"],
                "horizon_days": summary["horizon_days"],
                "train_horizon_days": summary["train_horizon_days"],
                "features.families": ",".join(cfg.features.families),
                # anchor_total ran: the LightGBM total is BTYD's by construction
                "clv_total": "model" if result.calibration is None else BTYD_ANCHOR,
                **({"partial_window": result.partial_window} if result.partial_window else {}),
                **_seasonality_params(result.seasonality),
            }
        )
        mlflow.log_metrics({**result.test_metrics(), "train_job_seconds": result.seconds})
        mlflow.log_dict(result.fingerprint(), "data_fingerprint.json")
        mlflow.log_dict(result.importance, "feature_importance.json")
        mlflow.log_dict(summary, "backtest.json")
        log_predictions(result.predictions)
        return run.info.run_id


def _seasonality_params(seasonality: dict | None) -> dict[str, object]:
    """The churn window in seasonal days, when a seasonality was used (MLflow params)."""
    if not seasonality or not seasonality["coefficients"]:
        return {}
    return {"churn_seasonal_days": round(seasonality["effective_days"], 1)}


#: The LightGBM metric of the CLV total before it is scaled to the BTYD total.
UNSCALED_TOTAL = "clv_total_ratio_unscaled"


def format_table(result: BacktestResult) -> str:
    """A plain table of both models' metrics (and why the totals agree, when they do)."""
    width = max(map(len, METRIC_KEYS)) + 2
    rows = [f"{'metric':<{width}}{'lightgbm':>12}{'btyd':>12}"]
    for key in METRIC_KEYS:
        rows.append(f"{key:<{width}}{result.lightgbm[key]:>12.4f}{result.btyd[key]:>12.4f}")
    if result.calibration is not None:  # anchor_total ran: the same total by construction
        own = result.lightgbm.get(UNSCALED_TOTAL, float("nan"))
        rows.append(
            "(clv_total_ratio: LightGBM's values are scaled to the BTYD total at the cutoff; the "
            f"models decide who is worth more, not the level. Before scaling: {own:.4f}, the "
            "level a trained pair forecasts)"
        )
    return "\n".join(rows)


def totals_markdown(results: dict[str, BacktestResult]) -> str:
    """A Markdown table of the CLV totals per backtest (name -> result): actual, LightGBM, BTYD,
    their ratios to actual, and whether LightGBM is at least as close to actual as BTYD."""
    rows = [
        (
            "| backtest | actual total | LightGBM total | BTYD total | LightGBM / actual "
            "| BTYD / actual | LightGBM no further |"
        ),
        "|---|---|---|---|---|---|---|",
    ]
    for name, result in results.items():
        t = result.totals()
        closer = (
            abs(t["lightgbm"] - t["actual"]) <= abs(t["btyd"] - t["actual"]) + 1e-9 * t["actual"]
        )
        rows.append(
            f"| {name} | {t['actual']:,.0f} | {t['lightgbm']:,.0f} | {t['btyd']:,.0f} "
            f"| {t['lightgbm_ratio']:.3f} | {t['btyd_ratio']:.3f} | {'yes' if closer else 'no'} |"
        )
    return "\n".join(rows)
