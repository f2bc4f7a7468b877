"""Optuna tuning of the churn and CLV LightGBM parameters on the time-based validation split.

Studies live in an RDB storage (SQLite by default) and resume: ``trials`` is the number of finished
(complete or pruned) trials a study should hold, so a run that was killed continues where it
stopped. A trial whose process died is failed, not left RUNNING: at start-up when its recorded
process (same host) is gone, else by Optuna's heartbeat once it has been silent for the grace
period; either way its parameters are queued again once.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import mlflow
import optuna
import sqlalchemy.exc
from mlflow.tracking import MlflowClient
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.study import MaxTrialsCallback
from optuna.trial import TrialState
from optuna_integration import LightGBMPruningCallback

from features.engine import is_uri
from training.config import ExperimentConfig, LightGBMParams, dump_config, resolve_project
from training.dataset import TrainingData, build_training_data
from training.models import ChurnModel, ClvModel
from training.process_owner import owner_alive, this_process
from training.registry import (
    fail_stale_runs,
    nested_run,
    open_experiment,
    owner_tags,
    tracked_run,
)
from training.train import plan_for


def suggest_params(trial: optuna.Trial, base: LightGBMParams) -> LightGBMParams:
    """The search space (kept small: these are the parameters that matter on tabular CRM data)."""
    return base.model_copy(
        update={
            "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.2, log=True),
            "num_leaves": trial.suggest_int("num_leaves", 7, 127, log=True),
            "min_child_samples": trial.suggest_int("min_child_samples", 10, 400, log=True),
            "feature_fraction": trial.suggest_float("feature_fraction", 0.5, 1.0),
            "bagging_fraction": trial.suggest_float("bagging_fraction", 0.5, 1.0),
            "lambda_l2": trial.suggest_float("lambda_l2", 1e-3, 30.0, log=True),
        }
    )


#: A running trial writes a heartbeat this often (seconds); one silent for GRACE_SECONDS is stale.
HEARTBEAT_SECONDS = 10
GRACE_SECONDS = 60
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
WORKER_ATTR = "worker"


def _retry_once() -> RetryHeartbeatStaleTrialCallback:
    """Queue a failed trial's parameters again, once (Optuna marks this callback experimental)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return RetryHeartbeatStaleTrialCallback(max_retry=1)


def storage_for(url: str, attempts: int = 5) -> RDBStorage:
    """The study storage with heartbeats: a stale trial is failed, its parameters retried once.

    Two tunes starting at once on a new SQLite file both create its tables; the one that loses
    that race sees "already exists" and connects again to the tables the other one made."""
    for attempt in range(attempts):
        try:
            with warnings.catch_warnings():  # heartbeats are marked experimental
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return RDBStorage(
                    url,
                    heartbeat_interval=HEARTBEAT_SECONDS,
                    grace_period=GRACE_SECONDS,
                    heartbeat_stale_trial_callback=_retry_once(),
                )
        except sqlalchemy.exc.OperationalError as exc:
            if "already exists" not in str(exc) or attempt == attempts - 1:
                raise
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


def fail_dead_trials(study: optuna.Study, log=print) -> list[int]:
    """Fail the RUNNING trials whose process died on this host (a ``kill -9``, a crash) and queue
    their parameters again; return their numbers. Trials of live or remote workers are left to
    the heartbeat."""
    storage = study._storage
    retry = _retry_once()
    failed = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = trial.user_attrs.get(WORKER_ATTR)
        worker = worker if isinstance(worker, dict) else {}
        if owner_alive(worker.get("host"), worker.get("pid"), worker.get("started")) is not False:
            continue  # alive, or not to be told from here (another host): left to the heartbeat
        try:
            storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL)
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # finished or failed by someone else meanwhile
        retry(study, storage.get_trial(trial._trial_id))
        failed.append(trial.number)
        log(
            f"[{study.study_name}] trial {trial.number}: its process {worker['pid']} is gone; "
            "marked FAIL, parameters queued again"
        )
    return failed


def _owned(objective):
    """Record which process runs each trial before it starts working (see ``fail_dead_trials``)."""
    worker = this_process()

    def run(trial: optuna.Trial) -> float:
        trial.set_user_attr(WORKER_ATTR, worker)
        return objective(trial)

    return run


def _churn_objective(data: TrainingData, cfg: ExperimentConfig):
    from training.metrics import churn_metrics

    train, valid = data.split("train", buyers_only=True), data.split("valid", buyers_only=True)

    def objective(trial: optuna.Trial) -> float:
        params = suggest_params(trial, cfg.churn.params)
        with nested_run(run_name=f"churn-trial-{trial.number}", tags=owner_tags()):
            model = ChurnModel(
                data.feature_columns,
                params,
                calibration="none",
                offset=cfg.churn.offset,
                seed=cfg.seed,
            )
            model.fit(
                train,
                train["churned"].astype(int),
                valid,
                valid["churned"].astype(int),
                callbacks=[LightGBMPruningCallback(trial, "binary_logloss", valid_name="valid_0")],
            )
            metrics = churn_metrics(
                valid["churned"].astype(int).to_numpy(), model.predict_proba(valid)
            )
            mlflow.log_params(params.model_dump())
            mlflow.log_metrics({f"valid_{k}": v for k, v in metrics.items()})
            mlflow.log_metric(
                "best_iteration", model.classifier_.best_iteration_ or params.n_estimators
            )
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
        with nested_run(run_name=f"clv-trial-{trial.number}", tags=owner_tags()):
            model = ClvModel(
                data.feature_columns,
                params,
                kind="tweedie",
                tweedie_variance_power=power,
                offset=cfg.clv.offset,
                seed=cfg.seed,
            )
            model.fit(
                train,
                train["future_value"],
                valid,
                valid["future_value"],
                callbacks=[LightGBMPruningCallback(trial, "tweedie", valid_name="valid_0")],
            )
            pred = model.predict(valid)
            metrics = clv_metrics(valid["future_value"].to_numpy(dtype=float), pred)
            deviance = float(model.regressor_.best_score_["valid_0"]["tweedie"])
            mlflow.log_params({**params.model_dump(), "tweedie_variance_power": power})
            mlflow.log_metrics(
                {
                    **{f"valid_{k}": v for k, v in metrics.items()},
                    "valid_tweedie_deviance": deviance,
                }
            )
        return deviance

    return objective


#: What each study minimises, on the validation cutoff (said on every trial line).
OBJECTIVES = {"churn": "validation log loss", "clv": "validation Tweedie deviance"}


def study_name(project: str, experiment: str, label: str, offset: str = "none") -> str:
    """The Optuna study of one model (``churn``/``clv``) of an experiment within a project. A model
    with an offset is another objective: its study is another one (resuming a study of the model
    without it would mix their losses and could hand its parameters to the offset model)."""
    name = f"{project}/{experiment}-{label}"
    return name if offset == "none" else f"{name}-{offset}-offset"


def _progress(label: str, log):
    def callback(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        best = study.best_value if study.best_trial else float("nan")
        pruned = trial.state == optuna.trial.TrialState.PRUNED
        value = "pruned" if pruned or trial.value is None else f"{trial.value:.5f}"
        metric = OBJECTIVES.get(label, "objective")
        log(f"[{label}] trial {trial.number + 1}: {metric} {value} (best {best:.5f})")

    return callback


def tune(
    cfg: ExperimentConfig,
    data_dir: str | Path,
    trials: int | None = None,
    out: Path | None = None,
    log=print,
    project: str | None = None,
) -> tuple[ExperimentConfig, Path]:
    """Run (or resume) the two studies until each holds ``trials`` finished trials; write the best
    parameters as a new experiment config that records the trials it is the best of.

    The studies belong to the project (default: the data directory's name, as in training):
    another data set never resumes, nor reuses the trials of, this one's."""
    trials = trials or cfg.tuning.trials
    project = resolve_project(cfg, data_dir, project)
    cfg = cfg.model_copy(update={"project": project})  # MLflow experiment <project>/<name>
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    experiment_id = open_experiment(cfg.tracking, cfg.experiment_name)
    # The runs of a tune that was killed are FAILED, not RUNNING forever.
    fail_stale_runs(MlflowClient(tracking_uri=cfg.tracking.tracking_uri), log=log)
    data = build_training_data(data_dir, plan_for(data_dir, cfg, refit=False), cfg)
    storage = storage_for(cfg.tuning.storage)
    best: dict[str, optuna.Study] = {}
    started = time.perf_counter()
    with tracked_run(
        cfg.tracking.tracking_uri, experiment_id, run_name=f"{cfg.name}-tune", tags=owner_tags()
    ) as run:
        mlflow.set_tags({"experiment": cfg.name, "kind": "tune", "project": project})
        studies = (("churn", _churn_objective(data, cfg)), ("clv", _clv_objective(data, cfg)))
        for offset, (label, objective) in enumerate(studies):
            study = optuna.create_study(
                study_name=study_name(
                    project,
                    cfg.name,
                    label,
                    cfg.churn.offset if label == "churn" else cfg.clv.offset,
                ),
                storage=storage,
                load_if_exists=True,
                direction="minimize",
                pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=30),
            )
            # A seed per study (one seed would draw the same parameters for both) and per resume
            # (the same seed again would redraw the parameters of the trials already stored).
            seed = cfg.tuning.seed + 1000 * offset + len(study.trials)
            study.sampler = optuna.samplers.TPESampler(seed=seed)
            fail_dead_trials(study, log)
            with warnings.catch_warnings():  # fail_stale_trials is marked experimental
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                optuna.storages.fail_stale_trials(study)
            done = len(study.get_trials(deepcopy=False, states=FINISHED))
            log(
                f"[{label}] study {study.study_name}: {done} finished trials stored, "
                f"running {max(trials - done, 0)} more to reach {trials}"
            )
            if trials > done:
                study.optimize(
                    _owned(objective),
                    n_trials=trials - done,
                    timeout=cfg.tuning.timeout_seconds,
                    # Concurrent tunes of the same study stop together at the target.
                    callbacks=[_progress(label, log), MaxTrialsCallback(trials, states=FINISHED)],
                    gc_after_trial=True,
                )
            best[label] = study
            mlflow.log_metric(f"best_{label}_value", study.best_value)
            mlflow.log_params({f"best_{label}.{k}": v for k, v in study.best_params.items()})
        mlflow.log_metric("tune_seconds", time.perf_counter() - started)
        out = Path(out or Path("experiments") / f"{cfg.name}-tuned.yaml")
        tuned = _apply_best(cfg, best, name=out.stem)
        if not is_uri(data_dir):  # trained on what it was tuned on (the base config's data or
            # --data): `lifecycle train --config tuned.yaml` found the base config's data set
            tuned = tuned.model_copy(update={"data": Path(data_dir).resolve()})
        out.parent.mkdir(parents=True, exist_ok=True)
        dump_config(tuned, out)
        mlflow.log_artifact(str(out))
        log(
            f"best parameters of {tuned.tuning.trials} trials per study written to {out} "
            f"(run {run.info.run_id})"
        )
    return tuned, out


def _apply_best(
    cfg: ExperimentConfig, studies: dict[str, optuna.Study], name: str
) -> ExperimentConfig:
    churn_best = dict(studies["churn"].best_params)
    clv_best = dict(studies["clv"].best_params)
    # What actually ran: the finished trials the best parameters were chosen from (fewer than asked
    # when a timeout stopped a study; more when an earlier, larger study is resumed).
    ran = {
        label: len(study.get_trials(deepcopy=False, states=FINISHED))
        for label, study in studies.items()
    }
    return cfg.model_copy(
        update={
            "name": name,
            "description": (
                f"{cfg.description.strip()} LightGBM parameters tuned with Optuna on the "
                f"time-based validation split (studies {studies['churn'].study_name}: "
                f"{ran['churn']} trials, {studies['clv'].study_name}: {ran['clv']} trials)."
            ).strip(),
            "tuning": cfg.tuning.model_copy(update={"trials": min(ran.values())}),
            "churn": cfg.churn.model_copy(
                update={"params": cfg.churn.params.model_copy(update=churn_best)}
            ),
            "clv": cfg.clv.model_copy(
                update={"kind": "tweedie", "params": cfg.clv.params.model_copy(update=clv_best)}
            ),
        }
    )
