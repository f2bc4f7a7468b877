"""MLflow tracking, model logging, registration and the champion promotion gate."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow.models import infer_signature
from mlflow.tracking import MlflowClient

from training.config import TrackingConfig

CHAMPION = "champion"
#: The test metrics the promotion gate compares, and whether higher is better.
GATE_METRICS: dict[str, dict[str, bool]] = {
    "churn": {"churn_auc": True, "churn_brier": False},
    "clv": {"clv_gini": True, "clv_mae": False},
}


def configure_tracking(tracking: TrackingConfig, experiment: str) -> str:
    """Point MLflow at the SQLite store and ./mlruns artifacts; return the experiment id."""
    logging.getLogger("alembic").setLevel(logging.WARNING)
    mlflow.set_tracking_uri(tracking.tracking_uri)
    found = mlflow.get_experiment_by_name(experiment)
    if found is None:
        root = Path(tracking.artifact_root).resolve()
        root.mkdir(parents=True, exist_ok=True)
        experiment_id = mlflow.create_experiment(experiment, artifact_location=root.as_uri())
    else:
        experiment_id = found.experiment_id
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


class ChurnPyfunc(mlflow.pyfunc.PythonModel):
    """MLflow wrapper: feature frame in, calibrated ``churn_probability`` out."""

    def __init__(self, model, meta: dict | None = None):
        self.model = model
        self.meta = meta or {}

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        return pd.DataFrame({"churn_probability": self.model.predict_proba(model_input)},
                            index=model_input.index)


class ClvPyfunc(mlflow.pyfunc.PythonModel):
    """MLflow wrapper: feature frame in, ``predicted_value`` over the horizon out."""

    def __init__(self, model, meta: dict | None = None):
        self.model = model
        self.meta = meta or {}

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        return pd.DataFrame({"predicted_value": self.model.predict(model_input)}, index=model_input.index)


def log_model(name: str, python_model: mlflow.pyfunc.PythonModel, example: pd.DataFrame) -> str:
    """Log a pyfunc with signature and input example and register it under ``name``; return the version."""
    # Integer features are declared as doubles: a missing value at scoring time then still fits the
    # signature (MLflow accepts int -> double, not NaN in an integer column).
    example = example.astype({c: "float64" for c in example.columns
                              if pd.api.types.is_integer_dtype(example[c])})
    output = python_model.predict(None, example)
    info = mlflow.pyfunc.log_model(
        name=name,
        python_model=python_model,
        input_example=example,
        signature=infer_signature(example, output),
        registered_model_name=name,
    )
    return str(info.registered_model_version)


@dataclass
class PromotionDecision:
    model: str
    version: str
    promoted: bool
    forced: bool
    reason: str
    challenger: dict[str, float] = field(default_factory=dict)
    champion: dict[str, float] = field(default_factory=dict)
    champion_version: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def current_champion(name: str) -> str | None:
    """Version number holding the champion alias, if any."""
    try:
        return str(MlflowClient().get_model_version_by_alias(name, CHAMPION).version)
    except mlflow.exceptions.MlflowException:
        return None


def is_not_worse(challenger: dict[str, float], champion: dict[str, float],
                 higher_is_better: dict[str, bool], tolerance: float = 1e-9) -> tuple[bool, str]:
    """The promotion rule: every gate metric is at least as good as the champion's."""
    worse = []
    for metric, higher in higher_is_better.items():
        new, old = challenger[metric], champion[metric]
        if (higher and new < old - tolerance) or (not higher and new > old + tolerance):
            worse.append(f"{metric} {new:.4f} vs champion {old:.4f}")
    if worse:
        return False, "worse on " + ", ".join(worse)
    return True, "not worse on " + ", ".join(higher_is_better)


def promote(name: str, version: str, challenger: dict[str, float],
            evaluate_champion: Callable[[str], dict[str, float] | None], *, force: bool = False) -> PromotionDecision:
    """Give ``version`` the champion alias if it is not worse than the champion on the same test data.

    ``evaluate_champion(model_uri)`` re-scores the current champion on this run's test split; when it
    cannot (e.g. other feature columns), the metrics stored on the champion version are used.
    """
    client = MlflowClient()
    gate = GATE_METRICS[name]
    champion_version = current_champion(name)
    for metric, value in challenger.items():
        client.set_model_version_tag(name, version, f"test_{metric}", f"{value:.6f}")
    if champion_version is None:
        decision = PromotionDecision(name, version, True, force, "no champion yet", challenger)
    else:
        champion = evaluate_champion(f"models:/{name}/{champion_version}")
        source = "re-scored on this test split"
        if champion is None:
            tags = client.get_model_version(name, champion_version).tags
            champion = {m: float(tags[f"test_{m}"]) for m in gate if f"test_{m}" in tags}
            source = "metrics stored on the champion version"
        if set(gate) - set(champion):
            ok, why = True, "champion has no comparable metrics"
        else:
            ok, why = is_not_worse(challenger, champion, gate)
        reason = f"{why} ({source})"
        if force and not ok:
            reason = f"FORCED: promoted although {why} ({source})"
        decision = PromotionDecision(name, version, ok or force, force and not ok, reason, challenger,
                                     champion, champion_version)
    if decision.promoted:
        client.set_registered_model_alias(name, CHAMPION, version)
    client.set_model_version_tag(name, version, "promotion", decision.reason)
    return decision


def champion_uri(name: str) -> str:
    return f"models:/{name}@{CHAMPION}"


def load_champion(name: str):
    """Load ``models:/name@champion``; return the wrapper (``.model``, ``.meta``) and its version."""
    version = current_champion(name)
    if version is None:
        raise LookupError(f"no registered model {name!r} has the {CHAMPION!r} alias; run `make train` first")
    pyfunc = mlflow.pyfunc.load_model(f"models:/{name}/{version}")
    return pyfunc.unwrap_python_model(), version


def data_fingerprint(frame: pd.DataFrame, cutoffs_by_split: dict[str, list[str]]) -> dict:
    """Cutoffs, row counts and a content hash of the training table."""
    hashed = pd.util.hash_pandas_object(frame.reset_index(drop=True), index=False)
    return {
        "cutoffs": cutoffs_by_split,
        "rows": {split: int(n) for split, n in frame["split"].value_counts().items()},
        "customers": int(frame["customer_id"].nunique()),
        "columns": int(frame.shape[1]),
        "sha256_of_row_hashes": hashlib.sha256(np.asarray(hashed).tobytes()).hexdigest(),
    }
