"""Optuna tuning of the churn and CLV LightGBM parameters on the time-based validation split."""

from __future__ import annotations

import time
from pathlib import Path

import mlflow
import optuna
from optuna_integration import LightGBMPruningCallback

from training.config import ExperimentConfig, LightGBMParams, dump_config
from training.dataset import TrainingData, build_training_data
from training.models import ChurnModel, ClvModel
from training.registry import configure_tracking
from training.train import plan_for


def suggest_params(trial: optuna.Trial, base: LightGBMParams) -> LightGBMParams:
    """The search space (kept small: these are the parameters that matter on tabular CRM data)."""
    return base.model_copy(update={
        "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.2, log=True),
        "num_leaves": trial.suggest_int("num_leaves", 7, 127, log=True),
        "min_child_samples": trial.suggest_int("min_child_samples", 10, 400, log=True),
        "feature_fraction": trial.suggest_float("feature_fraction", 0.5, 1.0),
        "bagging_fraction": trial.suggest_float("bagging_fraction", 0.5, 1.0),
        "lambda_l2": trial.suggest_float("lambda_l2", 1e-3, 30.0, log=True),
    })


def _churn_objective(data: TrainingData, cfg: ExperimentConfig):
    from training.metrics import churn_metrics

    train, valid = data.split("train", buyers_only=True), data.split("valid", buyers_only=True)

    def objective(trial: optuna.Trial) -> float:
        params = suggest_params(trial, cfg.churn.params)
        with mlflow.start_run(run_name=f"churn-trial-{trial.number}", nested=True):
            model = ChurnModel(data.feature_columns, params, calibration="none", seed=cfg.seed)
            model.fit(train, train["churned"].astype(int), valid, valid["churned"].astype(int),
                      callbacks=[LightGBMPruningCallback(trial, "binary_logloss", valid_name="valid_0")])
            metrics = churn_metrics(valid["churned"].astype(int).to_numpy(), model.predict_proba(valid))
            mlflow.log_params(params.model_dump())
            mlflow.log_metrics({f"valid_{k}": v for k, v in metrics.items()})
            mlflow.log_metric("best_iteration", model.classifier_.best_iteration_ or params.n_estimators)
        return metrics["churn_log_loss"]

    return objective


def _clv_objective(data: TrainingData, cfg: ExperimentConfig):
    from training.metrics import clv_metrics

    train, valid = data.split("train"), data.split("valid")

    def objective(trial: optuna.Trial) -> float:
        params = suggest_params(trial, cfg.clv.params)
        # The power stays fixed within a study: deviances at different powers are not comparable,
        # and the pruner compares trials on the validation deviance.
        power = cfg.clv.tweedie_variance_power
        with mlflow.start_run(run_name=f"clv-trial-{trial.number}", nested=True):
            model = ClvModel(data.feature_columns, params, kind="tweedie", tweedie_variance_power=power,
                             seed=cfg.seed)
            model.fit(train, train["future_value"], valid, valid["future_value"],
                      callbacks=[LightGBMPruningCallback(trial, "tweedie", valid_name="valid_0")])
            pred = model.predict(valid)
            metrics = clv_metrics(valid["future_value"].to_numpy(dtype=float), pred)
            deviance = float(model.regressor_.best_score_["valid_0"]["tweedie"])
            mlflow.log_params({**params.model_dump(), "tweedie_variance_power": power})
            mlflow.log_metrics({**{f"valid_{k}": v for k, v in metrics.items()},
                                "valid_tweedie_deviance": deviance})
        return deviance

    return objective


def _progress(label: str, log):
    def callback(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        best = study.best_value if study.best_trial else float("nan")
        pruned = trial.state == optuna.trial.TrialState.PRUNED
        value = "pruned" if pruned or trial.value is None else f"{trial.value:.5f}"
        log(f"[{label}] trial {trial.number + 1}: {value} (best {best:.5f})")
    return callback


def tune(cfg: ExperimentConfig, data_dir: str | Path, trials: int | None = None,
         out: Path | None = None, log=print) -> tuple[ExperimentConfig, Path]:
    """Run (or resume) the two studies; write the best parameters as a new experiment config."""
    trials = trials or cfg.tuning.trials
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    configure_tracking(cfg.tracking, cfg.experiment_name)
    data = build_training_data(data_dir, plan_for(data_dir, cfg), cfg)
    sampler_seed = cfg.tuning.seed
    best: dict[str, optuna.Study] = {}
    started = time.perf_counter()
    with mlflow.start_run(run_name=f"{cfg.name}-tune") as run:
        mlflow.set_tags({"experiment": cfg.name, "kind": "tune"})
        studies = (("churn", _churn_objective(data, cfg)), ("clv", _clv_objective(data, cfg)))
        for offset, (label, objective) in enumerate(studies):
            # A different seed per study: the same seed would draw the same parameters for both.
            study = optuna.create_study(
                study_name=f"{cfg.name}-{label}", storage=cfg.tuning.storage, load_if_exists=True,
                direction="minimize", sampler=optuna.samplers.TPESampler(seed=sampler_seed + offset),
                pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=30))
            done = len([t for t in study.trials if t.state.is_finished()])
            log(f"[{label}] study {study.study_name}: {done} trials stored, running {trials} more")
            study.optimize(objective, n_trials=trials, timeout=cfg.tuning.timeout_seconds,
                           callbacks=[_progress(label, log)], gc_after_trial=True)
            best[label] = study
            mlflow.log_metric(f"best_{label}_value", study.best_value)
            mlflow.log_params({f"best_{label}.{k}": v for k, v in study.best_params.items()})
        mlflow.log_metric("tune_seconds", time.perf_counter() - started)
        out = Path(out or Path("experiments") / f"{cfg.name}-tuned.yaml")
        tuned = _apply_best(cfg, best, name=out.stem)
        dump_config(tuned, out)
        mlflow.log_artifact(str(out))
        log(f"best parameters written to {out} (run {run.info.run_id})")
    return tuned, out


def _apply_best(cfg: ExperimentConfig, studies: dict[str, optuna.Study], name: str) -> ExperimentConfig:
    churn_best = dict(studies["churn"].best_params)
    clv_best = dict(studies["clv"].best_params)
    return cfg.model_copy(update={
        "name": name,
        "description": f"{cfg.description.strip()} LightGBM parameters tuned with Optuna on the "
                       f"time-based validation split (studies {cfg.name}-churn, {cfg.name}-clv).".strip(),
        "churn": cfg.churn.model_copy(update={"params": cfg.churn.params.model_copy(update=churn_best)}),
        "clv": cfg.clv.model_copy(update={"kind": "tweedie",
                                          "params": cfg.clv.params.model_copy(update=clv_best)}),
    })
