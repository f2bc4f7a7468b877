"""The promotion gate on a real SQLite-backed MLflow registry."""

import mlflow
import pandas as pd
import pytest

from training.config import TrackingConfig
from training.registry import (
    ChurnPyfunc,
    configure_tracking,
    current_champion,
    is_not_worse,
    log_model,
    promote,
)


class _ConstantModel:
    def __init__(self, p: float):
        self.p = p

    def predict_proba(self, frame: pd.DataFrame):
        return [self.p] * len(frame)


@pytest.fixture()
def registry(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    configure_tracking(TrackingConfig(tracking_uri=f"sqlite:///{tmp_path}/mlflow.db",
                                      artifact_root=tmp_path / "mlruns"), "gate-test")
    yield
    mlflow.set_tracking_uri(None)


def _register(p: float) -> str:
    example = pd.DataFrame({"recency_days": [1.0, 2.0]})
    with mlflow.start_run():
        return log_model("churn", ChurnPyfunc(_ConstantModel(p)), example)


def test_rule():
    gate = {"churn_auc": True, "churn_brier": False}
    assert is_not_worse({"churn_auc": 0.8, "churn_brier": 0.1}, {"churn_auc": 0.8, "churn_brier": 0.1}, gate)[0]
    ok, why = is_not_worse({"churn_auc": 0.79, "churn_brier": 0.09}, {"churn_auc": 0.8, "churn_brier": 0.1}, gate)
    assert not ok and "churn_auc 0.7900 vs champion 0.8000" in why
    assert not is_not_worse({"churn_auc": 0.9, "churn_brier": 0.2}, {"churn_auc": 0.8, "churn_brier": 0.1}, gate)[0]


def test_gate_promotes_first_keeps_better_champion_and_force_overrides(registry):
    first = _register(0.5)
    d1 = promote("churn", first, {"churn_auc": 0.80, "churn_brier": 0.10}, lambda uri: None)
    assert d1.promoted and d1.reason == "no champion yet" and current_champion("churn") == first

    worse = _register(0.4)
    champion_scores = {"churn_auc": 0.80, "churn_brier": 0.10}
    d2 = promote("churn", worse, {"churn_auc": 0.75, "churn_brier": 0.12}, lambda uri: champion_scores)
    assert not d2.promoted and "worse on churn_auc" in d2.reason and "re-scored" in d2.reason
    assert current_champion("churn") == first

    forced = promote("churn", worse, {"churn_auc": 0.75, "churn_brier": 0.12}, lambda uri: champion_scores,
                     force=True)
    assert forced.promoted and forced.forced and forced.reason.startswith("FORCED")
    assert current_champion("churn") == worse

    better = _register(0.3)
    # champion cannot be re-scored: the metrics stored on its version are used
    d3 = promote("churn", better, {"churn_auc": 0.76, "churn_brier": 0.11}, lambda uri: None)
    assert d3.promoted and "stored on the champion" in d3.reason
    loaded = mlflow.pyfunc.load_model("models:/churn@champion")
    assert loaded.predict(pd.DataFrame({"recency_days": [3.0]}))["churn_probability"].tolist() == [0.3]
