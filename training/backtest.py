"""Backtest: fit everything on data before a cutoff, evaluate on ``[cutoff, cutoff + H)``.

A single cohort (like CDNOW) has no training snapshot whose label window is as long as the
evaluation horizon and still ends before the cutoff. So:

1. **Training horizon.** The LightGBM models learn labels over a shorter horizon ``h`` (about a
   third of ``H``, in whole weeks, at most the config's value horizon; 91 days for H = 273).
2. **Cutoffs.** Weekly snapshots (``snapshots.step_days``) from the first cutoff with
   :data:`MIN_HISTORY_DAYS` of history. Model selection (early stopping) uses a time-based split:
   training cutoffs ``T`` with ``T + h <= V``, the validation cutoff ``V = cutoff - h``. The
   final models are then refitted, with the selected number of trees, on every snapshot whose
   label window ends by the cutoff (``T + h <= cutoff``, the validation snapshot included). No
   label window used for fitting or selection reaches the backtest cutoff.
3. **LightGBM learns a correction to BG/NBD + Gamma-Gamma.** The BTYD models fitted at each
   snapshot's cutoff (on its history only) are the offset (``init_score``): ``log E_btyd[value
   over h]`` for the Tweedie CLV model (log link), ``logit P_btyd(no purchase within h)`` for the
   churn classifier. The trees learn which customers BTYD over- or under-rates, from the RFM
   features and the BTYD outputs themselves.
4. **Per-snapshot level.** Each training snapshot's offset is shifted by a constant so that it
   reproduces that snapshot's observed total (value) or churn rate. The trees therefore learn
   only *who* is over- or under-rated, not how busy the weeks after that particular cutoff were
   (a few calendar weeks of one cohort: noise that does not carry to a later cutoff). At the
   backtest cutoff the population level is the BTYD model's.
5. **Seeds.** Each model is fitted with :data:`N_SEEDS` seeds (row and feature subsampling) and
   the forecasts are averaged.
6. **Horizon extension.** At the backtest cutoff the correction is applied to the BTYD
   forecast over ``H`` instead of ``h``: value x E_btyd[H] / E_btyd[h] (:func:`extend_horizon`)
   and the churn log-odds shift (:func:`extend_churn_probability`).

Evidence for the hand-made choices. Two pseudo-backtests use only data before 1997-10-01 (their
evaluation windows end by then): P1 at 1997-07-02 with H = 91 days (h = 28) and P2 at 1997-08-06
with H = 56 (h = 21). Metrics at P1 / P2 (MAE, Spearman, Gini, total ratio, churn AUC):

- BTYD:                                   15.11/9.38  .318/.288  .609/.630  .950/1.175  .736/.765
- LightGBM without offset, BTYD ratio
  extension (the previous backtest):      14.83/9.66  .328/.295  .662/.671  .834/1.202  .736/.766
- offset, refit, no level fix:            14.86/9.98  .335/.291  .660/.667  .928/1.322  .743/.769
- offset, refit, level fix (this module): 15.00/9.37  .335/.294  .660/.668  .955/1.179  .745/.770

The level fix (4) avoids the overshoot of P2 and is the only variant better than BTYD on MAE,
Spearman, Gini and AUC at both pseudo-cutoffs. Carrying the snapshots' own level forward instead
(the mean of their actual/BTYD totals, all or the last four) moves the total ratio the wrong way
at both (P1 .955 -> .905/.923, P2 1.179 -> 1.184/1.317), so the backtest keeps the BTYD level.
Starting the training cutoffs four weeks earlier (1997-02-26 instead of 1997-03-26, less than 12
weeks of history, customers still being acquired) was slightly worse at P1 (MAE 14.95 vs 14.86,
AUC .741 vs .743), hence :data:`MIN_HISTORY_DAYS`. The LightGBM settings of
``experiments/cdnow.yaml`` (15 leaves, at least 200 rows per leaf, learning rate 0.03, early
stopping) were set by general reasoning for a noisy, zero-heavy target on top of a strong offset;
smaller (7 leaves, 500 rows), larger (31 leaves, 100 rows), a halved correction, dropping the
cohort-age features or another seed changed P1/P2 by no more than noise (MAE +-0.1, AUC +-0.003).
Averaging five seeds (general reasoning: bagging lowers the variance of a noisy fit) gives at P1 /
P2 the seeds' mean (MAE 15.00 / 9.39, Spearman .335 / .294, AUC .745 / .770) at five times the
fitting cost; on the backtest itself single seeds had moved Gini by about 0.02, which is the
lottery the average removes.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd

from training.config import ExperimentConfig, LightGBMParams
from training.dataset import BTYD_COLUMNS, add_btyd_columns, build_frame, data_bounds, model_columns
from training.models import FeatureEncoder
from training.models import lgb_callbacks as _callbacks  # public helpers, local names kept
from training.models import lgb_kwargs as _lgb_kwargs
from training.models import logit as _logit
from training.models import sigmoid as _sigmoid
from training.splits import CutoffPlan, plan_cutoffs
from training.train import evaluate

METRIC_KEYS = ("clv_mae", "clv_rmse", "clv_spearman", "clv_gini", "clv_total_ratio",
               "churn_auc", "churn_pr_auc", "churn_brier")

#: A training snapshot needs this much history (12 weeks: every customer of a cohort acquired over
#: a quarter has been seen, and has had a chance to repeat). See the module docstring.
MIN_HISTORY_DAYS = 84

#: LightGBM fits per model, with seeds ``cfg.seed + i``, whose forecasts are averaged (bagging:
#: one fit's row and feature subsampling moves the backtest by noise; see the module docstring).
N_SEEDS = 5

_FLOOR = 1e-3  # smallest BTYD expected value used as an offset (log scale)


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

    def check(self) -> None:
        """Raise if a label window used for fitting or selection reaches a later split."""
        self.select.check()
        h = timedelta(days=self.train_horizon_days)
        late = [c for c in self.refit if c + h > self.cutoff]
        if late:
            raise ValueError(f"refit cutoff {late[0]} + {self.train_horizon_days} days reaches {self.cutoff}")


def plan_backtest(data_start: date, cutoff: date, horizon_days: int, cfg: ExperimentConfig) -> BacktestPlan:
    """Training horizon and cutoffs for a backtest at ``cutoff`` (see the module docstring)."""
    h = train_horizon(cfg, horizon_days, (cutoff - data_start).days)
    step = max(1, min(cfg.snapshots.step_days, h))
    select = plan_cutoffs(data_start, cutoff + timedelta(days=h), h, cfg.snapshots.n_train, step, test_cutoff=cutoff,
                          min_history_days=min(MIN_HISTORY_DAYS, (cutoff - data_start).days - 2 * h))
    refit, day = set(select.train), select.valid
    while day >= min(select.train):  # every step back from the validation cutoff
        refit.add(day)
        day -= timedelta(days=step)
    plan = BacktestPlan(cutoff, int(horizon_days), h, select, tuple(sorted(refit)))
    plan.check()
    return plan


def extend_horizon(short: np.ndarray, btyd_short: np.ndarray, btyd_long: np.ndarray,
                   fallback_ratio: float) -> np.ndarray:
    """Scale a forecast over h to H with the BTYD ratio E[H]/E[h] per customer."""
    ratio = np.where(btyd_short > 1e-9, btyd_long / np.maximum(btyd_short, 1e-9), fallback_ratio)
    return short * ratio


def extend_churn_probability(p_short: np.ndarray, btyd_short: np.ndarray, btyd_long: np.ndarray) -> np.ndarray:
    """Carry a churn probability over h to H: keep the model's log-odds shift from the BTYD
    P(no purchase within h) and apply it to the BTYD P(no purchase within H)."""
    return _sigmoid(_logit(p_short) - _logit(btyd_short) + _logit(btyd_long))


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
                return _sigmoid(part + k).mean() - rate

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

    def __init__(self, columns: list[str], kind: str, params: LightGBMParams, *,
                 seeds: tuple[int, ...] = (0,), tweedie_variance_power: float = 1.5):
        self.columns, self.kind, self.params, self.seeds = list(columns), kind, params, tuple(seeds)
        self.tweedie_variance_power = tweedie_variance_power

    def _estimator(self, seed: int, n_estimators: int | None = None):
        kwargs = _lgb_kwargs(self.params, seed)
        if n_estimators is not None:
            kwargs["n_estimators"] = n_estimators
        if self.kind == "churn":
            return lgb.LGBMClassifier(objective="binary", **kwargs)
        return lgb.LGBMRegressor(objective="tweedie", tweedie_variance_power=self.tweedie_variance_power, **kwargs)

    def select(self, train: pd.DataFrame, y_train, offset_train, valid: pd.DataFrame, y_valid,
               offset_valid) -> list[int]:
        """Early-stop each seed on the validation snapshot; returns the numbers of trees."""
        encoder = FeatureEncoder(self.columns).fit(train)
        x_train, x_valid = encoder.transform(train), encoder.transform(valid)
        self.n_trees_ = []
        for seed in self.seeds:
            model = self._estimator(seed)
            model.fit(x_train, np.asarray(y_train), init_score=offset_train, eval_X=x_valid,
                      eval_y=np.asarray(y_valid), eval_init_score=[offset_valid],
                      callbacks=_callbacks(self.params))
            self.n_trees_.append(int(model.best_iteration_ or model.n_estimators))
        return self.n_trees_

    def fit(self, frame: pd.DataFrame, y, offset, n_trees: list[int]) -> OffsetModel:
        self.encoder_ = FeatureEncoder(self.columns).fit(frame)
        x = self.encoder_.transform(frame)
        self.models_ = [self._estimator(seed, n).fit(x, np.asarray(y), init_score=offset)
                        for seed, n in zip(self.seeds, n_trees, strict=True)]
        return self

    def predict_raw(self, frame: pd.DataFrame) -> np.ndarray:
        x = self.encoder_.transform(frame)
        return np.vstack([model.predict(x, raw_score=True) for model in self.models_])

    def feature_importance(self) -> pd.Series:
        boosters = [model.booster_ for model in self.models_]
        gain = sum(b.feature_importance(importance_type="gain") for b in boosters)
        return pd.Series(gain, index=boosters[0].feature_name(), name="gain").sort_values(ascending=False)


def _offsets(frame: pd.DataFrame, kind: str) -> np.ndarray:
    """The BTYD offset of each row, shifted per snapshot to its observed level (module docstring, point 4)."""
    if kind == "churn":
        base = _logit(frame["btyd_p_no_purchase"].to_numpy(dtype=float))
        target = frame["churned"].to_numpy(dtype=float)
    else:
        base = np.log(np.maximum(frame["btyd_expected_value"].to_numpy(dtype=float), _FLOOR))
        target = np.clip(frame["future_value"].to_numpy(dtype=float), 0, None)
    return _level_shift(base, frame["cutoff"].to_numpy(), target, kind)


def _target(frame: pd.DataFrame, label: str) -> np.ndarray:
    if label == "churned":
        return frame[label].astype(int).to_numpy()
    return np.clip(frame[label].to_numpy(dtype=float), 0, None)  # net returns count as zero


def fit_offset_models(fit_frame: pd.DataFrame, plan: BacktestPlan, columns: list[str],
                      cfg: ExperimentConfig) -> tuple[OffsetModel, OffsetModel]:
    """Select the number of trees on train -> valid, then refit on every refit snapshot."""
    cut = pd.to_datetime(fit_frame["cutoff"])
    train = fit_frame[cut.isin(pd.to_datetime(list(plan.select.train)))]
    valid = fit_frame[cut == pd.Timestamp(plan.select.valid)]
    refit = fit_frame[cut.isin(pd.to_datetime(list(plan.refit)))]
    models = []
    for kind, params, label in (("churn", cfg.churn.params, "churned"), ("value", cfg.clv.params, "future_value")):
        model = OffsetModel(columns, kind, params, seeds=tuple(cfg.seed + i for i in range(N_SEEDS)),
                            tweedie_variance_power=cfg.clv.tweedie_variance_power)
        n = model.select(train, _target(train, label), _offsets(train, kind),
                         valid, _target(valid, label), _offsets(valid, kind))
        models.append(model.fit(refit, _target(refit, label), _offsets(refit, kind), n))
    return models[0], models[1]


def backtest(data_dir: str | Path, cutoff: date, horizon_days: int, cfg: ExperimentConfig,
             dataset: str | None = None, log=print) -> dict:
    """Run the backtest and return the JSON-ready result (models: lightgbm and btyd)."""
    started = time.perf_counter()
    start, end = data_bounds(data_dir)
    if cutoff + timedelta(days=horizon_days) > end:
        log(f"warning: the data ends {end}; the horizon [{cutoff}, +{horizon_days}d) is not fully observed")
    plan = plan_backtest(start, cutoff, horizon_days, cfg)
    h = plan.train_horizon_days
    log(f"backtest {dataset or data_dir} at {cutoff}, H={horizon_days}d: training horizon {h}d, "
        f"select on train cutoffs {[str(c) for c in plan.select.train]} -> valid {plan.select.valid}, "
        f"refit on {len(plan.refit)} cutoffs {plan.refit[0]}..{plan.refit[-1]}")
    fit_frame = build_frame(data_dir, sorted(set(plan.refit) | set(plan.select.train)), cfg,
                            churn_horizon_days=h, value_horizon_days=h)
    fit_frame = fit_frame[fit_frame["is_prospect"] == 0].reset_index(drop=True)
    columns = model_columns(fit_frame, cfg)
    churn, clv = fit_offset_models(fit_frame, plan, columns, cfg)

    evaluation = build_frame(data_dir, [cutoff], cfg, churn_horizon_days=horizon_days,
                             value_horizon_days=horizon_days)
    evaluation = evaluation[evaluation["is_prospect"] == 0].reset_index(drop=True)
    short = add_btyd_columns(evaluation.drop(columns=list(BTYD_COLUMNS)), h, h)  # the models' columns
    p0_short = short["btyd_p_no_purchase"].to_numpy(dtype=float)
    ev_short = np.maximum(short["btyd_expected_value"].to_numpy(dtype=float), _FLOOR)
    p0_long = evaluation["btyd_p_no_purchase"].to_numpy(dtype=float)
    ev_long = np.maximum(evaluation["btyd_expected_value"].to_numpy(dtype=float), _FLOOR)
    # each seed's forecast over h, carried to H, then averaged over the seeds
    churn_probability = np.mean([extend_churn_probability(_sigmoid(z + _logit(p0_short)), p0_short, p0_long)
                                 for z in churn.predict_raw(short)], axis=0)
    value = np.mean([extend_horizon(np.exp(z) * ev_short, ev_short, ev_long, horizon_days / h)
                     for z in clv.predict_raw(short)], axis=0)
    y_churn, y_value = evaluation["churned"].astype(int), evaluation["future_value"]
    lightgbm = evaluate(y_churn, churn_probability, y_value, value)
    btyd = evaluate(y_churn, evaluation["btyd_p_no_purchase"], y_value, evaluation["btyd_expected_value"])
    btyd["churn_auc_from_expected_purchases"] = float(_auc(y_churn, -evaluation["btyd_expected_purchases"]))
    cut = pd.to_datetime(fit_frame["cutoff"])
    rows = {"train": int(cut.isin(pd.to_datetime(list(plan.select.train))).sum()),
            "valid": int((cut == pd.Timestamp(plan.select.valid)).sum()),
            "refit": int(cut.isin(pd.to_datetime(list(plan.refit))).sum()), "test": len(evaluation)}
    return {
        "dataset": dataset or Path(data_dir).name,
        "cutoff": cutoff.isoformat(),
        "horizon_days": int(horizon_days),
        "n_customers": len(evaluation),
        "train_horizon_days": int(h),
        "train_cutoffs": [str(c) for c in plan.select.train],
        "valid_cutoff": str(plan.select.valid),
        "refit_cutoffs": [str(c) for c in plan.refit],
        "trees": {"churn": churn.n_trees_, "clv": clv.n_trees_},
        "experiment": cfg.name,
        "features": len(columns),
        "seconds": round(time.perf_counter() - started, 1),
        "models": {"lightgbm": lightgbm, "btyd": btyd},
        "_predictions": pd.DataFrame({
            "customer_id": evaluation["customer_id"].to_numpy(),
            "cutoff": evaluation["cutoff"].to_numpy(),
            "churned": y_churn.to_numpy(),
            "future_value": y_value.to_numpy(dtype=float),
            "churn_probability": churn_probability,
            "predicted_value": value,
            "btyd_p_no_purchase": evaluation["btyd_p_no_purchase"].to_numpy(dtype=float),
            "btyd_expected_value": evaluation["btyd_expected_value"].to_numpy(dtype=float),
        }),
        "_importance": {"churn": churn.feature_importance().to_dict(), "clv": clv.feature_importance().to_dict()},
        "_fingerprint": {"cutoffs": {"train": [str(c) for c in plan.select.train],
                                     "valid": [str(plan.select.valid)],
                                     "refit": [str(c) for c in plan.refit], "test": [cutoff.isoformat()]},
                         "rows": rows},
    }


def _auc(y, score) -> float:
    from sklearn.metrics import roc_auc_score

    return roc_auc_score(np.asarray(y), np.asarray(score))


def write_result(result: dict, out: str | Path) -> None:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {k: v for k, v in result.items() if not k.startswith("_")}
    out.write_text(json.dumps(payload, indent=2))


def log_backtest_run(result: dict, cfg: ExperimentConfig) -> str:
    """Record a backtest as an MLflow run (metrics with the ``test_`` prefix, like training runs)."""
    import mlflow

    from training.registry import configure_tracking
    from training.train import log_predictions

    configure_tracking(cfg.tracking, cfg.experiment_name)
    with mlflow.start_run(run_name=f"{cfg.name}-backtest-{result['dataset']}") as run:
        mlflow.set_tags({"experiment": cfg.name, "kind": "backtest", "data": result["dataset"]})
        mlflow.log_params({"cutoff": result["cutoff"], "horizon_days": result["horizon_days"],
                           "train_horizon_days": result["train_horizon_days"],
                           "features.families": ",".join(cfg.features.families)})
        metrics = {f"test_{k}": v for k, v in result["models"]["lightgbm"].items()}
        metrics.update({f"test_btyd_{k}": v for k, v in result["models"]["btyd"].items()})
        metrics["train_job_seconds"] = result["seconds"]
        mlflow.log_metrics(metrics)
        mlflow.log_dict(result["_fingerprint"], "data_fingerprint.json")
        mlflow.log_dict(result["_importance"], "feature_importance.json")
        mlflow.log_dict({k: v for k, v in result.items() if not k.startswith("_")}, "backtest.json")
        log_predictions(result["_predictions"])
        return run.info.run_id


def format_table(result: dict) -> str:
    """A plain table of both models' metrics."""
    rows = [f"{'metric':<18}{'lightgbm':>12}{'btyd':>12}"]
    for key in METRIC_KEYS:
        rows.append(f"{key:<18}{result['models']['lightgbm'][key]:>12.4f}{result['models']['btyd'][key]:>12.4f}")
    return "\n".join(rows)
