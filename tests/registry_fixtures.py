"""Small real model pairs and a real SQLite MLflow registry for registry, gate and project tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from training.bundle import ModelPair
from training.config import ExperimentConfig, LightGBMParams, TrackingConfig
from training.models import ChurnModel, ClvModel
from training.registry import log_pair, open_experiment, tracked_run

COLUMNS = ["recency_days", "orders_all", "channel"]
TINY = LightGBMParams(n_estimators=25, min_child_samples=10, early_stopping_rounds=0, n_jobs=1)


def customers(n: int = 400, seed: int = 0) -> pd.DataFrame:
    """Customers with a churn label driven by recency and a value driven by orders."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(n)],
            "recency_days": rng.exponential(60, n),
            "orders_all": rng.poisson(3, n).astype("int64"),
            "channel": rng.choice(["web", "store", "phone"], n),
        }
    )
    frame["churned"] = (
        rng.random(n) < 1 / (1 + np.exp(-(frame["recency_days"] - 60) / 30))
    ).astype(int)
    frame["future_value"] = np.where(
        frame["churned"] == 1, 0.0, rng.gamma(2.0, 20.0 * (1 + frame["orders_all"]))
    )
    return frame


def tiny_pair(
    seed: int = 0, *, calibration: str = "isotonic", kind: str = "tweedie", project: str = "tiny"
) -> ModelPair:
    """A real churn + CLV pair fitted on ``customers(seed=seed)``."""
    frame = customers(seed=seed)
    train, valid = frame.iloc[:300], frame.iloc[300:]
    churn = ChurnModel(COLUMNS, TINY, calibration=calibration, seed=seed)
    churn.fit(train, train["churned"], valid, valid["churned"])
    clv = ClvModel(COLUMNS, TINY, kind=kind, seed=seed)
    clv.fit(train, train["future_value"], valid, valid["future_value"])
    meta = {
        "project": project,
        "experiment": ExperimentConfig(name="tiny", project=project).model_dump(mode="json"),
        "feature_families": ["rfm", "static"],
        "families_with_data": ["rfm", "static"],
    }
    return ModelPair(
        churn,
        clv,
        meta,
        scoring={
            "priority": {
                "p1_from": 90.0,
                "p2_from": 30.0,
                "p3_from": 5.0,
                "value_horizon_churn": True,  # as a pair trained now stores it
            }
        },
    )


def tracking(root: Path) -> TrackingConfig:
    return TrackingConfig(
        tracking_uri=f"sqlite:///{root / 'mlflow.db'}", artifact_root=root / "mlruns"
    )


def register(pair: ModelPair, project: str, config: TrackingConfig) -> str:
    """Log ``pair`` in a new run of ``<project>/tiny`` and register it; return the version."""
    experiment_id = open_experiment(config, f"{project}/tiny")
    with tracked_run(config.tracking_uri, experiment_id):
        return log_pair(pair, project, customers(5)[COLUMNS])
