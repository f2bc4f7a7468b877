"""Backtest: fit everything on data before a cutoff, evaluate on ``[cutoff, cutoff + H)``.

A single cohort (like CDNOW) rarely has training snapshots whose label window is as long as the
evaluation horizon. The LightGBM models are therefore trained on a shorter horizon ``h`` (labels
that end before the cutoff), and their forecasts are carried to ``H`` along the BG/NBD curve fitted
at the cutoff: value x E_btyd[value over H] / E_btyd[value over h], and P(buy) likewise.
"""

from __future__ import annotations

import json
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from training.config import ExperimentConfig
from training.dataset import BTYD_COLUMNS, TrainingData, add_btyd_columns, build_frame, data_bounds, model_columns
from training.splits import plan_cutoffs
from training.train import evaluate, fit_models

METRIC_KEYS = ("clv_mae", "clv_rmse", "clv_spearman", "clv_gini", "clv_total_ratio",
               "churn_auc", "churn_pr_auc", "churn_brier")


def train_horizon(cfg: ExperimentConfig, horizon_days: int, history_days: int) -> int:
    """The label horizon for training snapshots: the config's, capped so that two label windows
    (training, then validation) and some history fit before the cutoff."""
    return int(min(horizon_days, cfg.labels.value_horizon_days, max(28, (history_days - 30) // 3)))


def extend_horizon(short: np.ndarray, btyd_short: np.ndarray, btyd_long: np.ndarray,
                   fallback_ratio: float) -> np.ndarray:
    """Scale a forecast over h to H with the BTYD ratio E[H]/E[h] per customer."""
    ratio = np.where(btyd_short > 1e-9, btyd_long / np.maximum(btyd_short, 1e-9), fallback_ratio)
    return short * ratio


def backtest(data_dir: str | Path, cutoff: date, horizon_days: int, cfg: ExperimentConfig,
             dataset: str | None = None, log=print) -> dict:
    """Run the backtest and return the JSON-ready result (models: lightgbm and btyd)."""
    started = time.perf_counter()
    start, end = data_bounds(data_dir)
    if cutoff + timedelta(days=horizon_days) > end:
        log(f"warning: the data ends {end}; the horizon [{cutoff}, +{horizon_days}d) is not fully observed")
    h = train_horizon(cfg, horizon_days, (cutoff - start).days)
    plan = plan_cutoffs(start, cutoff + timedelta(days=horizon_days), h, cfg.snapshots.n_train,
                        min(cfg.snapshots.step_days, max(7, h // 3)), test_cutoff=cutoff,
                        min_history_days=min(60, h))
    log(f"backtest {dataset or data_dir} at {cutoff}, H={horizon_days}d: training horizon {h}d, "
        f"train cutoffs {[str(c) for c in plan.train]}, valid {plan.valid}")
    fit_frame = build_frame(data_dir, [*plan.train, plan.valid], cfg, churn_horizon_days=h,
                            value_horizon_days=h)
    fit_frame["split"] = np.where(fit_frame["cutoff"] == pd.Timestamp(plan.valid), "valid", "train")
    data = TrainingData(fit_frame, model_columns(fit_frame, cfg), plan)
    churn, clv = fit_models(data, cfg)

    evaluation = build_frame(data_dir, [cutoff], cfg, churn_horizon_days=horizon_days,
                             value_horizon_days=horizon_days)
    evaluation = evaluation[evaluation["is_prospect"] == 0].reset_index(drop=True)
    short = add_btyd_columns(evaluation.drop(columns=list(BTYD_COLUMNS)), h, h)
    features = short if h != horizon_days else evaluation  # models see their training-horizon columns
    p_buy = 1.0 - churn.predict_proba(features)
    value = clv.predict(features)
    if h != horizon_days:
        value = extend_horizon(value, short["btyd_expected_value"].to_numpy(),
                               evaluation["btyd_expected_value"].to_numpy(), horizon_days / h)
        p_buy = np.clip(extend_horizon(p_buy, 1 - short["btyd_p_no_purchase"].to_numpy(),
                                       1 - evaluation["btyd_p_no_purchase"].to_numpy(), 1.0), 0, 1)
    y_churn, y_value = evaluation["churned"].astype(int), evaluation["future_value"]
    lightgbm = evaluate(y_churn, 1 - p_buy, y_value, value)
    btyd = evaluate(y_churn, evaluation["btyd_p_no_purchase"], y_value, evaluation["btyd_expected_value"])
    btyd["churn_auc_from_expected_purchases"] = float(_auc(y_churn, -evaluation["btyd_expected_purchases"]))
    return {
        "dataset": dataset or Path(data_dir).name,
        "cutoff": cutoff.isoformat(),
        "horizon_days": int(horizon_days),
        "n_customers": int(len(evaluation)),
        "train_horizon_days": int(h),
        "train_cutoffs": [str(c) for c in plan.train],
        "valid_cutoff": str(plan.valid),
        "experiment": cfg.name,
        "features": len(data.feature_columns),
        "seconds": round(time.perf_counter() - started, 1),
        "models": {"lightgbm": lightgbm, "btyd": btyd},
        "_predictions": pd.DataFrame({
            "customer_id": evaluation["customer_id"].to_numpy(),
            "cutoff": evaluation["cutoff"].to_numpy(),
            "churned": y_churn.to_numpy(),
            "future_value": y_value.to_numpy(dtype=float),
            "churn_probability": 1 - p_buy,
            "predicted_value": value,
            "btyd_p_no_purchase": evaluation["btyd_p_no_purchase"].to_numpy(dtype=float),
            "btyd_expected_value": evaluation["btyd_expected_value"].to_numpy(dtype=float),
        }),
        "_importance": {"churn": churn.feature_importance().to_dict(), "clv": clv.feature_importance().to_dict()},
        "_fingerprint": {"cutoffs": {"train": [str(c) for c in plan.train], "valid": [str(plan.valid)],
                                     "test": [cutoff.isoformat()]},
                         "rows": {"train": int((fit_frame["split"] == "train").sum()),
                                  "valid": int((fit_frame["split"] == "valid").sum()),
                                  "test": int(len(evaluation))}},
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
