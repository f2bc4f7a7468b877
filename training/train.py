"""The training job: snapshots -> churn and CLV models -> MLflow run -> registry and promotion
gate."""

from __future__ import annotations

import calendar
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from features.contract import recorded_zone
from training.bundle import ModelPair
from training.cadence import cancellation_note, rhythm_note
from training.clv_intervals import (
    ValueIntervals,
    fit_on_frame,
    frame_metrics,
    min_calibration_rows,
)
from training.config import ExperimentConfig, resolve_project
from training.data_zones import ZoneMismatch, build_reader, check_zone, zone_said
from training.dataset import (
    ENDED_ROWS,
    TrainingData,
    build_frame,
    build_training_data,
    buyers_at_risk,
    data_bounds,
    ended_note,
    with_model_columns,
)
from training.families import fed_families
from training.metrics import (
    brier_score,
    mean_absolute_error,
    normalized_gini,
    paired_bootstrap_difference,
    roc_auc,
)
from training.model_tags import DATA_ZONE, TRAINING_DIGEST
from training.models import ChurnModel, ClvModel
from training.reference import REFERENCE_ARTIFACT
from training.registry import (
    ChampionEvaluation,
    NotComparable,
    PromotionDecision,
    data_fingerprint,
    fail_stale_runs,
    log_pair,
    open_experiment,
    owner_tags,
    pair_model_name,
    pause_point,
    promote,
    reference_moved,
    tracked_run,
)
from training.same_training import Repeat, repeated_version, training_digest
from training.splits import CutoffPlan, plan_cutoffs

#: Fits the scoring thresholds of a pair from reference features (the test buyers), their churn
#: probabilities, predicted values and the churn horizon; returns plain JSON. Scoring rules live
#: in ``serving``, so the caller passes it in (``serving.scoring.fit_scoring_thresholds``).
ThresholdFitter = Callable[[pd.DataFrame, np.ndarray, np.ndarray, float, dict], dict]
#: The stage and tier shares of the test buyers under a pair's scoring thresholds, for the
#: monitoring reference (``serving.monitor.reference_mix``): features, probabilities, values,
#: thresholds.
MixFitter = Callable[[pd.DataFrame, np.ndarray, np.ndarray, dict], dict]


@dataclass
class TrainResult:
    run_id: str
    metrics: dict[str, float]
    project: str | None = None
    decision: PromotionDecision | None = None
    seconds: float = 0.0
    #: nothing was fitted: the training would have repeated the decided ``decision.version``
    repeated: bool = False
    #: a promotion's note of how the new drift reference differs from the replaced one's
    reference_moved: str | None = None

    def summary(self) -> dict:
        return {
            "run_id": self.run_id,
            "project": self.project,
            "seconds": round(self.seconds, 1),
            "metrics": self.metrics,
            "promotion": None if self.decision is None else self.decision.to_dict(),
        }


def plan_for(
    data_dir: str | Path, cfg: ExperimentConfig, *, refit: bool | None = None
) -> CutoffPlan:
    """The cutoffs of a training run; ``refit`` (default: the config's ``refit_latest``) adds
    those of the final fit."""
    start, end = data_bounds(data_dir)
    horizon = max(cfg.labels.churn_horizon_days, cfg.labels.value_horizon_days)
    return plan_cutoffs(
        start,
        end,
        horizon,
        cfg.snapshots.n_train,
        cfg.snapshots.step_days,
        cfg.snapshots.test_cutoff,
        refit=cfg.snapshots.refit_latest if refit is None else refit,
    )


def evaluate(
    churned, churn_probability, value, predicted_value, prefix: str = ""
) -> dict[str, float]:
    """All churn and CLV metrics, keys prefixed (e.g. ``test_``)."""
    from training.metrics import churn_metrics, clv_metrics

    metrics = {
        **churn_metrics(np.asarray(churned, dtype=int), np.asarray(churn_probability, dtype=float)),
        **clv_metrics(np.asarray(value, dtype=float), np.asarray(predicted_value, dtype=float)),
    }
    return {f"{prefix}{k}": float(v) for k, v in metrics.items()}


def fit_models(
    data: TrainingData, cfg: ExperimentConfig, churn_callbacks=None, clv_callbacks=None
) -> tuple[ChurnModel, ClvModel]:
    """Fit churn (buyers only) and CLV (everyone) on train, early-stopping/calibrating on valid."""
    train_b, valid_b = data.split("train", buyers_only=True), data.split("valid", buyers_only=True)
    churn = ChurnModel(
        data.feature_columns,
        cfg.churn.params,
        calibration=cfg.churn.calibration,
        offset=cfg.churn.offset,
        seed=cfg.seed,
    )
    churn.fit(
        train_b,
        train_b["churned"].astype(int),
        valid_b,
        valid_b["churned"].astype(int),
        callbacks=churn_callbacks,
    )
    train, valid = data.split("train"), data.split("valid")
    clv = ClvModel(
        data.feature_columns,
        cfg.clv.params,
        kind=cfg.clv.kind,
        tweedie_variance_power=cfg.clv.tweedie_variance_power,
        offset=cfg.clv.offset,
        seed=cfg.seed,
    )
    clv.fit(train, train["future_value"], valid, valid["future_value"], callbacks=clv_callbacks)
    return churn, clv


def refit_on_latest(
    data: TrainingData, churn: ChurnModel, clv: ClvModel
) -> tuple[ChurnModel, ClvModel]:
    """The models fitted again on the plan's refit cutoffs with the trees they selected (the
    same models when the plan has none)."""
    if not data.plan.refit:
        return churn, clv
    buyers, everyone = data.final_fit(buyers_only=True), data.final_fit()
    return (
        churn.refitted(buyers, buyers["churned"].astype(int)),
        clv.refitted(everyone, everyone["future_value"]),
    )


def fit_value_intervals(
    data: TrainingData, clv: ClvModel, cfg: ExperimentConfig
) -> ValueIntervals | None:
    """Conformal ranges of the CLV model, calibrated on the validation split (every customer,
    prospects included; its outcome windows end before the test cutoff). ``clv`` is the model
    fitted before the validation cutoff: the refitted one has seen those outcomes."""
    valid = data.split("valid")
    return fit_on_frame(
        valid,
        clv.predict(valid),
        level=cfg.clv.interval_level,
        bins=cfg.clv.interval_bins,
        horizon_days=cfg.labels.value_horizon_days,
    )


def split_metrics(
    data: TrainingData, churn: ChurnModel, clv: ClvModel, split: str
) -> dict[str, float]:
    """Model metrics and the BTYD baseline's on one split (buyers: those with a purchase before
    T)."""
    part = data.split(split, buyers_only=True)
    metrics = evaluate(
        part["churned"],
        churn.predict_proba(part),
        part["future_value"],
        clv.predict(part),
        prefix=f"{split}_",
    )
    metrics.update(
        evaluate(
            part["churned"],
            part["btyd_p_no_purchase"],
            part["future_value"],
            part["btyd_expected_value"],
            prefix=f"{split}_btyd_",
        )
    )
    return metrics


#: Test metrics compared with the BTYD baseline's after training: name -> higher is better.
BASELINE_CHECKS: dict[str, bool] = {
    "churn_auc": True,
    "churn_brier": False,
    "clv_gini": True,
    "clv_spearman": True,
    "clv_mae": False,
}


#: Fewer training prospects than this and the CLV model has not learnt them: a prospect's
#: features (no recency, no orders) fall on whichever side of a split LightGBM defaults to, and
#: one with a single free line was valued like the best buyers. Scoring then gives prospects
#: the mean value training prospects went on to have.
MIN_PROSPECT_ROWS = 200


def prospect_baseline(data: TrainingData) -> dict:
    """The training prospects: how many, and the mean value they had over the horizon."""
    train = data.final_fit()
    prospects = train[train["is_prospect"] == 1]
    mean = float(prospects["future_value"].mean()) if len(prospects) else 0.0
    return {"rows": int(len(prospects)), "mean_future_value": mean}


#: Paired bootstrap resamples of the test customers behind "the baseline beats the models"
#: (drawn only for a metric where the baseline is ahead).
BASELINE_RESAMPLES = 200


def behind_the_baseline(
    metrics: dict[str, float], noise: Callable[[str], tuple[float, float]] | None = None
) -> tuple[list[str], list[str]]:
    """The test metrics on which the BTYD baseline is better than the models (e.g. "churn_auc:
    models 0.836, baseline 0.858"): those beyond noise, and those within it. ``noise(name)`` is
    the 95% paired bootstrap interval of models minus baseline (:func:`baseline_noise`); without
    it every difference counts as beyond noise."""
    beyond: list[str] = []
    within: list[str] = []
    for name, higher in BASELINE_CHECKS.items():
        ours, base = metrics.get(f"test_{name}"), metrics.get(f"test_btyd_{name}")
        if ours is None or base is None or not np.isfinite([ours, base]).all():
            continue
        if (base > ours) if higher else (base < ours):
            text = f"{name}: models {ours:.4g}, baseline {base:.4g}"
            low, high = noise(name) if noise is not None else (np.nan, np.nan)
            (within if low <= 0 <= high else beyond).append(text)
    return beyond, within


#: A pair whose predicted values on the test customers sum to more than this factor away from
#: what they spent is warned of (a dealer group's: 0.41 of actual, its ranking good).
TOTAL_RATIO_WARN = 1.25


def total_warning(metrics: dict[str, float]) -> str | None:
    """A warning when the test customers' predicted values sum to more than
    :data:`TOTAL_RATIO_WARN` times (or less than its inverse) what they spent; None otherwise."""
    ratio = metrics.get("test_clv_total_ratio", float("nan"))
    if not np.isfinite(ratio) or 1 / TOTAL_RATIO_WARN <= ratio <= TOTAL_RATIO_WARN:
        return None
    btyd = metrics.get("test_btyd_clv_total_ratio", float("nan"))
    return (
        f"the predicted values of the test customers sum to {ratio:.2f} of what they spent in "
        f"the value horizon (BG/NBD + Gamma-Gamma: {btyd:.2f}): totals read from this pair "
        "(forecasts, value at risk) are off by as much, though its ranking may hold (clv_gini). "
        "Rare large purchases within the horizon (a car, a contract renewal) or a level that "
        "moved do this; lifecycle backtest shows the level at other cutoffs"
    )


def baseline_noise(
    test: pd.DataFrame, churn_probability: np.ndarray, value: np.ndarray
) -> Callable[[str], tuple[float, float]]:
    """For :func:`behind_the_baseline`: the paired bootstrap interval of a ``BASELINE_CHECKS``
    metric, models minus BTYD, on the test buyers ``test`` (the rows of ``split_metrics``)."""
    from training.metrics import (
        brier_score,
        mean_absolute_error,
        normalized_gini,
        paired_bootstrap_difference,
        roc_auc,
        spearman,
    )

    churned = test["churned"].astype(int).to_numpy()
    actual = test["future_value"].to_numpy(dtype=float)
    pairs = {
        "churn_auc": (roc_auc, churned, churn_probability, test["btyd_p_no_purchase"]),
        "churn_brier": (brier_score, churned, churn_probability, test["btyd_p_no_purchase"]),
        "clv_gini": (normalized_gini, actual, value, test["btyd_expected_value"]),
        "clv_spearman": (spearman, actual, value, test["btyd_expected_value"]),
        "clv_mae": (mean_absolute_error, actual, value, test["btyd_expected_value"]),
    }

    def noise(name: str) -> tuple[float, float]:
        metric, target, ours, base = pairs[name]
        base = np.asarray(base, dtype=float)
        difference = paired_bootstrap_difference(
            metric, target, np.asarray(ours, dtype=float), base, n_boot=BASELINE_RESAMPLES
        )
        return difference.low, difference.high

    return noise


def truth_check(
    data_dir: str | Path, part: pd.DataFrame, probability: np.ndarray, horizon_days: int
) -> dict:
    """On synthetic data: calibration and AUC against the generator's true churn probability."""
    truth_path = Path(data_dir) / "truth.parquet"
    if not truth_path.exists():
        return {}
    from features.synthetic import true_churn_probability
    from training.metrics import expected_calibration_error, roc_auc

    truth = pd.read_parquet(truth_path)
    cutoff = pd.Timestamp(part["cutoff"].iloc[0])
    true_p = (
        true_churn_probability(truth, cutoff, horizon_days).reindex(part["customer_id"]).to_numpy()
    )
    y = part["churned"].astype(int).to_numpy()
    ok = np.isfinite(true_p)
    return {
        "truth_ece_vs_labels": float(expected_calibration_error(y, probability)),
        "truth_mean_abs_error_vs_true_p": float(np.mean(np.abs(probability[ok] - true_p[ok]))),
        "truth_ece_vs_true_p": float(_ece_against(true_p[ok], probability[ok])),
        "truth_model_auc": roc_auc(y, probability),
        "truth_oracle_auc": roc_auc(y[ok], true_p[ok]),
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


def prediction_table(part: pd.DataFrame, churn: ChurnModel, clv: ClvModel) -> pd.DataFrame:
    """Per-customer predictions and outcomes on the test split (for comparisons and bootstraps)."""
    return pd.DataFrame(
        {
            "customer_id": part["customer_id"].to_numpy(),
            "cutoff": part["cutoff"].to_numpy(),
            "churned": part["churned"].astype(int).to_numpy(),
            "future_value": part["future_value"].to_numpy(dtype=float),
            "churn_probability": churn.predict_proba(part),
            "predicted_value": clv.predict(part),
            "btyd_p_no_purchase": part["btyd_p_no_purchase"].to_numpy(dtype=float),
            "btyd_expected_value": part["btyd_expected_value"].to_numpy(dtype=float),
        }
    )


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
        "gains.png": plots.gains_plot(
            {
                "lightgbm": (part["churned"].astype(int), p),
                "btyd": (part["churned"].astype(int), part["btyd_p_no_purchase"]),
            }
        ),
        "deciles.png": plots.decile_plot(part["future_value"], clv.predict(part)),
        "importance_churn.png": plots.feature_importance_plot(churn.feature_importance()),
        "importance_clv.png": plots.feature_importance_plot(clv.feature_importance()),
    }
    for name, fig in figures.items():
        mlflow.log_figure(fig, f"plots/{name}")
    import matplotlib.pyplot as plt

    plt.close("all")


def train(
    cfg: ExperimentConfig,
    data_dir: str | Path,
    *,
    project: str | None = None,
    force: bool = False,
    register: bool = True,
    scoring_thresholds: ThresholdFitter | None = None,
    progress: bool = True,
    log=print,
    reference_mix: MixFitter | None = None,
    tags: dict[str, str] | None = None,
) -> TrainResult:
    """Run one training job end to end and return its metrics and promotion decision.

    ``project`` (default: the config's, else the data directory's name) namespaces the MLflow
    experiment, the registered pair and its champion. Registering needs ``scoring_thresholds``.
    ``tags`` go on the run beside its own (e.g. the retrain job's inputs).
    """
    if register and scoring_thresholds is None:
        raise ValueError(
            "train(register=True) needs scoring_thresholds (e.g. "
            "serving.scoring.fit_scoring_thresholds): a pair is registered with them"
        )
    started = time.perf_counter()
    project = resolve_project(cfg, data_dir, project)
    # the data this run reads, not the config's default (MLflow shows it as the run's parameter)
    cfg = cfg.model_copy(update={"project": project, "data": Path(data_dir)})
    experiment_id = open_experiment(cfg.tracking, cfg.experiment_name)
    fail_stale_runs(MlflowClient(tracking_uri=cfg.tracking.tracking_uri), log=log)
    plan = plan_for(data_dir, cfg)
    log(
        f"project {project}: cutoffs: train {[str(c) for c in plan.train]}, valid {plan.valid}, "
        f"test {plan.test}"
    )
    if plan.refit:
        log(
            f"final fit: the trees chosen on {plan.valid} are fitted again on the "
            f"{len(plan.refit)} cutoffs {plan.refit[0]} .. {plan.refit[-1]} (the training "
            "cutoffs one horizon later; snapshots.refit_latest)"
        )
    if plan.dropped:
        months = ", ".join(calendar.month_abbr[m] for m in sorted({c.month for c in plan.train}))
        log(
            f"note: {plan.dropped} of {cfg.snapshots.n_train} training cutoffs "
            "(snapshots.n_train) fall too early in the data (under 60 days of history before "
            f"them) and are left out; the {len(plan.train)} left cover {months} only: seasons "
            "outside them are not learnt"
        )
    data = build_training_data(data_dir, plan, cfg, progress=progress)
    log(f"snapshot table: {len(data.frame):,} rows, {len(data.feature_columns)} features")
    if rhythm := rhythm_note(data.split("test"), cfg.labels.churn_horizon_days):
        log(f"note: {rhythm}")
    if said := ended_note(data.frame.attrs.get(ENDED_ROWS, 0), "training, validation and test"):
        log(f"note: {said}")
    if said := cancellation_note(data.split("test")):
        log(f"note: {said}")
    cutoffs = {
        "train": [str(c) for c in plan.train],
        "valid": [str(plan.valid)],
        "test": [str(plan.test)],
        **({"refit": [str(c) for c in plan.refit]} if plan.refit else {}),
    }
    fingerprint = data_fingerprint(data.frame, cutoffs)
    if plan.refit:  # rows by split count a cutoff once; the final fit reuses some
        fingerprint["rows"]["final_fit"] = int(len(data.final_fit()))
    # what a registered pair was trained on (read and hashed only when one is registered)
    digest = training_digest(fingerprint, cfg.model_dump(mode="json")) if register else ""
    if register and not force:
        repeat = repeated_version(cfg.tracking.tracking_uri, pair_model_name(project), digest)
        if repeat is not None:
            return _repeated(cfg.tracking.tracking_uri, project, repeat, started, log)
    with tracked_run(cfg.tracking.tracking_uri, experiment_id, run_name=f"{cfg.name}-train") as run:
        mlflow.set_tags(
            {
                "experiment": cfg.name,
                "kind": "train",
                "project": project,
                "data": Path(data_dir).name,
                "data_path": str(Path(data_dir).resolve()),
                **owner_tags(),
                **(tags or {}),
            }
        )
        mlflow.log_params(config_params(cfg))
        mlflow.log_dict(fingerprint, "data_fingerprint.json")
        fit_started = time.perf_counter()
        churn, clv = fit_models(data, cfg)
        intervals = fit_value_intervals(data, clv, cfg)
        if intervals is None:
            needed = min_calibration_rows(cfg.clv.interval_level)
            log(
                f"note: {len(data.split('valid')):,} validation customers, too few to calibrate "
                f"predicted-value ranges (at least {needed}): scores carry no "
                "predicted_value_low/high (empty) for this pair"
            )
        # validation metrics of the models chosen on it: the refit has learnt its outcomes
        metrics = split_metrics(data, churn, clv, "valid")
        churn, clv = refit_on_latest(data, churn, clv)
        metrics["fit_seconds"] = time.perf_counter() - fit_started
        pause_point("after_fit", log)
        metrics.update(split_metrics(data, churn, clv, "test"))
        test = data.split("test", buyers_only=True)
        test_probability, test_value = churn.predict_proba(test), clv.predict(test)
        metrics.update(frame_metrics(test, test_value, intervals, "test_clv_interval_"))
        metrics.update(
            {
                f"test_{k}": v
                for k, v in truth_check(
                    data_dir, test, test_probability, cfg.labels.churn_horizon_days
                ).items()
            }
        )
        mlflow.log_metrics(metrics)
        noise = baseline_noise(test, test_probability, test_value)
        behind, level = behind_the_baseline(metrics, noise)
        if behind:
            log(
                f"warning: on the test customers the BG/NBD + Gamma-Gamma baseline beats the "
                f"models beyond noise on {', '.join(behind)}: check the data and the config "
                "before using this pair (a first version is champion without a comparison)"
            )
        if said := total_warning(metrics):
            log(f"warning: {said}")
        if level:
            log(
                f"level with the BG/NBD + Gamma-Gamma baseline on {', '.join(level)} (the "
                "baseline is ahead within the noise of the test customers: 95% paired bootstrap "
                "interval of the difference contains 0)"
            )
        log_plots(data, churn, clv)
        log_predictions(prediction_table(test, churn, clv))
        mlflow.log_dict(
            {
                "churn": churn.feature_importance().to_dict(),
                "clv": clv.feature_importance().to_dict(),
            },
            "feature_importance.json",
        )
        decision, moved = None, None
        if register:
            meta = {
                "project": project,
                "experiment": cfg.model_dump(mode="json"),
                "run_id": run.info.run_id,
                "test_cutoff": str(plan.test),
                "data": Path(data_dir).name,
                "feature_families": list(cfg.features.families),
                "families_with_data": fed_families(
                    data_dir, cfg.features.families, data.feature_columns
                ),
                "data_fingerprint": fingerprint,
                "prospects": prospect_baseline(data),
                DATA_ZONE: recorded_zone(data_dir, build_reader()),
            }
            assert scoring_thresholds is not None  # register=True requires it (checked above)
            scoring = scoring_thresholds(
                test,
                churn.predict_proba(test),
                clv.predict(test),
                cfg.labels.churn_horizon_days,
                cfg.scoring,
            )
            mlflow.log_dict(scoring, "scoring_config.json")
            meta["monitor_reference"] = monitor_reference(
                data_dir,
                data.feature_columns,
                churn,
                clv,
                metrics,
                cfg,
                scoring,
                reference_mix,
                held_out=(test, test_probability),
            )
            mlflow.log_dict(meta["monitor_reference"], REFERENCE_ARTIFACT)
            version = log_pair(
                ModelPair(churn, clv, meta, scoring, intervals),
                project,
                test[data.feature_columns].head(5),
            )
            client = MlflowClient(tracking_uri=cfg.tracking.tracking_uri)
            client.set_model_version_tag(pair_model_name(project), version, TRAINING_DIGEST, digest)
            client.set_model_version_tag(
                pair_model_name(project), version, DATA_ZONE, zone_said(meta[DATA_ZONE])
            )
            pause_point("after_register", log)
            gate = {
                k.removeprefix("test_"): v
                for k, v in metrics.items()
                if k.startswith(("test_churn_", "test_clv_")) and "_interval_" not in k
            }
            decision = promote(
                cfg.tracking.tracking_uri,
                project,
                version,
                gate,
                champion_evaluator(data_dir, data, cfg, churn, clv),
                force=force,
                log=log,
            )
            pause_point("after_alias", log)
            mlflow.log_dict(decision.to_dict(), "promotion.json")
            mlflow.log_metric("promoted", float(decision.promoted))
            log(decision.line())
            if decision.promoted and decision.champion_version:
                moved = reference_moved(  # the new reference is in hand, not loaded again
                    cfg.tracking.tracking_uri,
                    project,
                    decision.champion_version,
                    version,
                    meta["monitor_reference"],
                )
                if moved:
                    log(moved)
        result = TrainResult(
            run.info.run_id,
            metrics,
            project,
            decision,
            time.perf_counter() - started,
            reference_moved=moved,
        )
        mlflow.log_metric("train_job_seconds", result.seconds)
    return result


def _repeated(tracking_uri: str, project: str, repeat: Repeat, started: float, log) -> TrainResult:
    """The result of a training that would repeat ``repeat``: its version's decision, its run's
    metrics; nothing fitted, logged or registered."""
    metrics: dict[str, float] = {}
    try:
        if repeat.run_id:
            run = MlflowClient(tracking_uri=tracking_uri).get_run(repeat.run_id)
            metrics = dict(run.data.metrics)
    except MlflowException:  # its run was deleted and collected (mlflow gc)
        pass
    decision = PromotionDecision(
        project,
        pair_model_name(project),
        repeat.version,
        False,
        False,
        repeat.why(),
        champion_version=repeat.champion,
    )
    log(decision.line())
    return TrainResult(
        repeat.run_id or "", metrics, project, decision, time.perf_counter() - started, True
    )


def monitor_reference(
    data_dir: str | Path,
    feature_columns,
    churn: ChurnModel,
    clv: ClvModel,
    metrics: dict,
    cfg: ExperimentConfig,
    scoring: dict,
    mix: MixFitter | None,
    held_out: tuple[pd.DataFrame, np.ndarray] | None = None,
) -> dict:
    """The pair's monitoring reference (``training.reference``): the buyers at the data's end as
    the pair scores them -- the population ``lifecycle score`` serves first, so drift means
    "changed since training" -- and the test metrics and per-group calibration of ``held_out``
    (the test buyers and their churn probabilities), against which realized performance is
    judged. (The test buyers sit a horizon earlier: a growing base ages between the two dates,
    and a fresh pair monitored on its own data would be called drifted.)"""
    from training.reference import VARIATION_MONTHS, build_reference

    start, end = data_bounds(data_dir)  # end: the default scoring date of `lifecycle score`
    months = [end - pd.DateOffset(months=k) for k in range(VARIATION_MONTHS, 0, -1)]
    frame = build_frame(
        data_dir,
        [*(m.date() for m in months if m.date() > start), end],
        cfg,
        with_labels=False,
        progress=False,
        churn_horizon_days=cfg.labels.churn_horizon_days,
        value_horizon_days=cfg.labels.value_horizon_days,
    )
    frame = with_model_columns(buyers_at_risk(frame).reset_index(drop=True), feature_columns)
    at_end = (pd.to_datetime(frame["cutoff"]) == pd.Timestamp(end)).to_numpy()
    buyers, earlier = frame[at_end].reset_index(drop=True), frame[~at_end]
    p, value = churn.predict_proba(buyers), np.clip(clv.predict(buyers), 0, None)
    return build_reference(
        buyers,
        feature_columns,
        p,
        value,
        metrics,
        cutoff=end,
        horizons={"churn": cfg.labels.churn_horizon_days, "value": cfg.labels.value_horizon_days},
        mix=None if mix is None else mix(buyers, p, value, scoring),
        earlier=earlier,
        held_out=held_out,
    )


#: Resamples of the gate's paired bootstrap, and its two-sided level (0.10: a challenger is kept
#: out when it is worse with 95% confidence on one side).
GATE_BOOTSTRAP = 200
GATE_ALPHA = 0.10


def champion_evaluator(
    data_dir: str | Path,
    data: TrainingData,
    cfg: ExperimentConfig,
    churn: ChurnModel,
    clv: ClvModel,
):
    """Re-scores a champion pair on this run's test buyers (same customers, same labels): directly
    when it uses a subset of these columns, else on its own features built at the test cutoff;
    with the paired bootstrap interval of (challenger - champion) per gate metric, so that the
    gate keeps a newer pair out only when it is worse beyond the noise of these customers.
    ``NotComparable`` when it predicts other label horizons or values."""
    test = data.split("test", buyers_only=True)

    def evaluate_champion(champion: ModelPair) -> ChampionEvaluation:
        from training.metrics import churn_metrics, clv_metrics

        champion_cfg = ExperimentConfig.model_validate(champion.meta["experiment"])
        if champion_cfg.labels != cfg.labels:  # first: another question, whatever its cutoffs
            theirs, mine = champion_cfg.labels.model_dump(), cfg.labels.model_dump()
            differ = ", ".join(
                f"{k} {theirs[k]} vs {mine[k]}" for k in mine if theirs[k] != mine[k]
            )
            raise NotComparable(f"it was trained on other labels ({differ} in this run)")
        try:  # a pair of another zone reads these customers' times hours off
            check_zone(data_dir, champion.meta.get(DATA_ZONE), "it", build_reader())
        except ZoneMismatch as exc:
            raise NotComparable(
                f"it was trained on data in {exc.model_zone}, and this run's data is in "
                f"{exc.data_zone}"
            ) from exc
        champion_test = champion.meta.get("test_cutoff")
        if champion_test and date.fromisoformat(champion_test) > data.plan.test:
            raise NotComparable(
                f"it was tested at {champion_test}, after this run's test cutoff "
                f"{data.plan.test}: it was fitted on outcomes inside this run's test window"
            )
        frame = test
        if not {*champion.churn.columns, *champion.clv.columns} <= set(test.columns):
            own = build_frame(
                data_dir,
                [data.plan.test],
                champion_cfg,
                with_labels=False,
                progress=False,
                churn_horizon_days=cfg.labels.churn_horizon_days,
                value_horizon_days=cfg.labels.value_horizon_days,
            )
            frame = test[["customer_id", "churned", "future_value"]].merge(
                own, on="customer_id", how="left", validate="one_to_one"
            )
        y = frame["churned"].astype(int).to_numpy()
        value = frame["future_value"].to_numpy(dtype=float)
        try:
            p_old, v_old = champion.churn.predict_proba(frame), champion.clv.predict(frame)
        except KeyError as exc:
            raise NotComparable(f"its features cannot be built from this data: {exc}") from exc
        p_new, v_new = churn.predict_proba(test), clv.predict(test)
        return ChampionEvaluation(
            {**churn_metrics(y, p_old), **clv_metrics(value, v_old)},
            {
                "churn_auc": _paired(roc_auc, y, p_new, p_old, cfg.seed),
                "churn_brier": _paired(brier_score, y, p_new, p_old, cfg.seed),
                "clv_gini": _paired(normalized_gini, value, v_new, v_old, cfg.seed),
                "clv_mae": _paired(mean_absolute_error, value, v_new, v_old, cfg.seed),
            },
        )

    return evaluate_champion


def _paired(metric, y, new, old, seed: int) -> tuple[float, float]:
    """Interval of metric(new) - metric(old) on the same resampled customers."""
    d = paired_bootstrap_difference(
        metric, y, new, old, n_boot=GATE_BOOTSTRAP, seed=seed, alpha=GATE_ALPHA
    )
    return d.low, d.high


def config_params(cfg: ExperimentConfig) -> dict[str, str]:
    """The config as flat MLflow params (``seed``, ``churn.params.n_estimators``, ...), without
    its description."""
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
