"""A backtest's result: both models' metrics and the test predictions (:class:`BacktestResult`),
written as JSON (:func:`write_result`), as an MLflow run (:func:`log_backtest_run`) and as
plain and Markdown tables (:func:`format_table`, :func:`totals_markdown`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from features.atomic_file import write_json_atomic
from training import BTYD_ANCHOR
from training.backtest_plan import BacktestPlan
from training.config import ExperimentConfig

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
