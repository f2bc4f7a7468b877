"""The training job: snapshots -> churn and CLV models -> MLflow run -> registry and promotion gate."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd

from training.config import ExperimentConfig
from training.dataset import TrainingData, build_training_data, data_bounds
from training.models import ChurnModel, ClvModel
from training.registry import (
    ChurnPyfunc,
    ClvPyfunc,
    PromotionDecision,
    configure_tracking,
    data_fingerprint,
    log_model,
    promote,
)
from training.splits import CutoffPlan, plan_cutoffs


@dataclass
class TrainResult:
    run_id: str
    metrics: dict[str, float]
    decisions: list[PromotionDecision] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> dict:
        return {"run_id": self.run_id, "seconds": round(self.seconds, 1), "metrics": self.metrics,
                "promotion": [d.to_dict() for d in self.decisions]}


def plan_for(data_dir: str | Path, cfg: ExperimentConfig) -> CutoffPlan:
    start, end = data_bounds(data_dir)
    horizon = max(cfg.labels.churn_horizon_days, cfg.labels.value_horizon_days)
    return plan_cutoffs(start, end, horizon, cfg.snapshots.n_train, cfg.snapshots.step_days,
                        cfg.snapshots.test_cutoff)


def evaluate(churned, churn_probability, value, predicted_value, prefix: str = "") -> dict[str, float]:
    """All churn and CLV metrics, keys prefixed (e.g. ``test_``)."""
    from training.metrics import churn_metrics, clv_metrics

    metrics = {**churn_metrics(np.asarray(churned, dtype=int), np.asarray(churn_probability, dtype=float)),
               **clv_metrics(np.asarray(value, dtype=float), np.asarray(predicted_value, dtype=float))}
    return {f"{prefix}{k}": float(v) for k, v in metrics.items()}


def fit_models(data: TrainingData, cfg: ExperimentConfig, churn_callbacks=None,
               clv_callbacks=None) -> tuple[ChurnModel, ClvModel]:
    """Fit churn (buyers only) and CLV (everyone) on train, early-stopping/calibrating on valid."""
    train_b, valid_b = data.split("train", buyers_only=True), data.split("valid", buyers_only=True)
    churn = ChurnModel(data.feature_columns, cfg.churn.params, calibration=cfg.churn.calibration,
                       seed=cfg.seed)
    churn.fit(train_b, train_b["churned"].astype(int), valid_b, valid_b["churned"].astype(int),
              callbacks=churn_callbacks)
    train, valid = data.split("train"), data.split("valid")
    clv = ClvModel(data.feature_columns, cfg.clv.params, kind=cfg.clv.kind,
                   tweedie_variance_power=cfg.clv.tweedie_variance_power, seed=cfg.seed)
    clv.fit(train, train["future_value"], valid, valid["future_value"], callbacks=clv_callbacks)
    return churn, clv


def split_metrics(data: TrainingData, churn: ChurnModel, clv: ClvModel, split: str) -> dict[str, float]:
    """Model metrics and the BTYD baseline's on one split (buyers: those with a purchase before T)."""
    part = data.split(split, buyers_only=True)
    metrics = evaluate(part["churned"], churn.predict_proba(part), part["future_value"],
                       clv.predict(part), prefix=f"{split}_")
    metrics.update(evaluate(part["churned"], part["btyd_p_no_purchase"], part["future_value"],
                            part["btyd_expected_value"], prefix=f"{split}_btyd_"))
    return metrics


def truth_check(data_dir: str | Path, part: pd.DataFrame, probability: np.ndarray, horizon_days: int) -> dict:
    """On synthetic data: calibration and AUC against the generator's true churn probability."""
    truth_path = Path(data_dir) / "truth.parquet"
    if not truth_path.exists():
        return {}
    from sklearn.metrics import roc_auc_score

    from features.synthetic import true_churn_probability
    from training.metrics import expected_calibration_error

    truth = pd.read_parquet(truth_path)
    cutoff = pd.Timestamp(part["cutoff"].iloc[0])
    true_p = true_churn_probability(truth, cutoff, horizon_days).reindex(part["customer_id"]).to_numpy()
    y = part["churned"].astype(int).to_numpy()
    ok = np.isfinite(true_p)
    return {
        "truth_ece_vs_labels": float(expected_calibration_error(y, probability)),
        "truth_mean_abs_error_vs_true_p": float(np.mean(np.abs(probability[ok] - true_p[ok]))),
        "truth_ece_vs_true_p": float(_ece_against(true_p[ok], probability[ok])),
        "truth_model_auc": float(roc_auc_score(y, probability)),
        "truth_oracle_auc": float(roc_auc_score(y[ok], true_p[ok])),
    }


def _ece_against(target_p: np.ndarray, p: np.ndarray, n_bins: int = 10) -> float:
    """ECE where each bin's mean prediction is compared with the mean *true* probability."""
    edges = np.quantile(p, np.linspace(0, 1, n_bins + 1))
    bins = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, n_bins - 1)
    total = 0.0
    for b in range(n_bins):
        mask = bins == b
        if mask.any():
            total += mask.mean() * abs(p[mask].mean() - target_p[mask].mean())
    return total


def test_predictions(part: pd.DataFrame, churn: ChurnModel, clv: ClvModel) -> pd.DataFrame:
    """Per-customer predictions and outcomes on the test split (for comparisons and bootstraps)."""
    return pd.DataFrame({
        "customer_id": part["customer_id"].to_numpy(),
        "cutoff": part["cutoff"].to_numpy(),
        "churned": part["churned"].astype(int).to_numpy(),
        "future_value": part["future_value"].to_numpy(dtype=float),
        "churn_probability": churn.predict_proba(part),
        "predicted_value": clv.predict(part),
        "btyd_p_no_purchase": part["btyd_p_no_purchase"].to_numpy(dtype=float),
        "btyd_expected_value": part["btyd_expected_value"].to_numpy(dtype=float),
    })


def log_predictions(predictions: pd.DataFrame) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "test.parquet"
        predictions.to_parquet(path, index=False)
        mlflow.log_artifact(str(path), artifact_path="predictions")


def log_plots(data: TrainingData, churn: ChurnModel, clv: ClvModel, split: str = "test") -> None:
    from training import plots

    part = data.split(split, buyers_only=True)
    p = churn.predict_proba(part)
    figures = {
        "calibration.png": plots.calibration_plot(part["churned"].astype(int), p, label="lightgbm"),
        "gains.png": plots.gains_plot({"lightgbm": (part["churned"].astype(int), p),
                                       "btyd": (part["churned"].astype(int), part["btyd_p_no_purchase"])}),
        "deciles.png": plots.decile_plot(part["future_value"], clv.predict(part)),
        "importance_churn.png": plots.feature_importance_plot(churn.feature_importance()),
        "importance_clv.png": plots.feature_importance_plot(clv.feature_importance()),
    }
    for name, fig in figures.items():
        mlflow.log_figure(fig, f"plots/{name}")
    import matplotlib.pyplot as plt

    plt.close("all")


def train(cfg: ExperimentConfig, data_dir: str | Path, *, force: bool = False, register: bool = True,
          progress: bool = True, log=print) -> TrainResult:
    """Run one training job end to end and return its metrics and promotion decisions."""
    started = time.perf_counter()
    configure_tracking(cfg.tracking, cfg.experiment_name)
    plan = plan_for(data_dir, cfg)
    log(f"cutoffs: train {[str(c) for c in plan.train]}, valid {plan.valid}, test {plan.test}")
    data = build_training_data(data_dir, plan, cfg, progress=progress)
    log(f"snapshot table: {len(data.frame):,} rows, {len(data.feature_columns)} features")
    with mlflow.start_run(run_name=f"{cfg.name}-train") as run:
        mlflow.set_tags({"experiment": cfg.name, "kind": "train", "data": Path(data_dir).name,
                         "data_path": str(Path(data_dir).resolve())})
        mlflow.log_params(_flat_params(cfg))
        cutoffs = {"train": [str(c) for c in plan.train], "valid": [str(plan.valid)], "test": [str(plan.test)]}
        mlflow.log_dict(data_fingerprint(data.frame, cutoffs), "data_fingerprint.json")
        fit_started = time.perf_counter()
        churn, clv = fit_models(data, cfg)
        metrics = {"fit_seconds": time.perf_counter() - fit_started}
        for split in ("valid", "test"):
            metrics.update(split_metrics(data, churn, clv, split))
        test = data.split("test", buyers_only=True)
        metrics.update({f"test_{k}": v for k, v in
                        truth_check(data_dir, test, churn.predict_proba(test), cfg.labels.churn_horizon_days).items()})
        mlflow.log_metrics(metrics)
        log_plots(data, churn, clv)
        log_predictions(test_predictions(data.split("test", buyers_only=True), churn, clv))
        mlflow.log_dict({"churn": churn.feature_importance().to_dict(),
                         "clv": clv.feature_importance().to_dict()}, "feature_importance.json")
        decisions = []
        if register:
            decisions = _register(data, churn, clv, cfg, metrics, force)
            for d in decisions:
                mlflow.log_dict(d.to_dict(), f"promotion_{d.model}.json")
                mlflow.log_metric(f"promoted_{d.model}", float(d.promoted))
                log(f"promotion {d.model} v{d.version}: {'PROMOTED' if d.promoted else 'kept champion'}: {d.reason}")
        result = TrainResult(run.info.run_id, metrics, decisions, time.perf_counter() - started)
        mlflow.log_metric("train_job_seconds", result.seconds)
    return result


def _register(data: TrainingData, churn: ChurnModel, clv: ClvModel, cfg: ExperimentConfig,
              metrics: dict, force: bool) -> list[PromotionDecision]:
    test = data.split("test", buyers_only=True)
    example = test[data.feature_columns].head(5)
    meta = {"experiment": cfg.model_dump(mode="json"), "test_cutoff": str(data.plan.test),
            "scoring": scoring_config_for(test, churn, clv).model_dump(mode="json")}
    mlflow.log_dict(meta["scoring"], "scoring_config.json")
    churn_version = log_model("churn", ChurnPyfunc(churn, meta), example)
    clv_version = log_model("clv", ClvPyfunc(clv, meta), example)

    def rescore(kind: str):
        def evaluate_champion(uri: str) -> dict | None:
            from training.metrics import churn_metrics, clv_metrics

            try:
                model = mlflow.pyfunc.load_model(uri).unwrap_python_model().model
                if kind == "churn":
                    return churn_metrics(test["churned"].astype(int).to_numpy(), model.predict_proba(test))
                return clv_metrics(test["future_value"].to_numpy(dtype=float), model.predict(test))
            except (KeyError, ValueError, AttributeError):
                return None  # the champion cannot score these columns: compare stored metrics
        return evaluate_champion

    churn_metrics = {k.removeprefix("test_"): v for k, v in metrics.items()
                     if k.startswith("test_churn_")}
    clv_metrics = {k.removeprefix("test_"): v for k, v in metrics.items() if k.startswith("test_clv_")}
    return [promote("churn", churn_version, churn_metrics, rescore("churn"), force=force),
            promote("clv", clv_version, clv_metrics, rescore("clv"), force=force)]


def scoring_config_for(reference: pd.DataFrame, churn: ChurnModel, clv: ClvModel):
    """Scoring thresholds (value matrix, priority tiers, default gap) fitted on the test buyers and
    versioned with the model, so batch and online scoring use the same numbers."""
    from serving.config import ScoringConfig
    from serving.scoring import calibrate_config

    return calibrate_config(ScoringConfig(), reference, churn.predict_proba(reference), clv.predict(reference))


def _flat_params(cfg: ExperimentConfig) -> dict[str, str]:
    flat: dict[str, str] = {}

    def walk(prefix: str, value) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else k, v)
        else:
            flat[prefix] = str(value)

    walk("", cfg.model_dump(mode="json"))
    flat.pop("description", None)
    return flat
