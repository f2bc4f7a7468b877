"""An explicit MLflow tracking URI everywhere: library code passes it to ``MlflowClient`` or opens a
run with ``training.registry.tracked_run`` (the fluent API points at the store only while the run
is open), sets no process-wide tracking URI or experiment, and the default store is declared once
(``training.DEFAULT_TRACKING_URI``)."""

from __future__ import annotations

import ast
import os
from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from training import DEFAULT_TRACKING_URI
from training.config import TrackingConfig
from training.registry import nested_run, open_experiment, tracked_run

REPO = Path(__file__).resolve().parents[1]
LIBRARY = [
    p
    for pkg in ("features", "training", "serving", "experiments", "lifecycle_cli")
    for p in sorted((REPO / pkg).rglob("*.py"))
]
#: The benchmark scripts: they pass their store's URI explicitly too.
BENCH = sorted((REPO / "bench").glob("*.py"))
#: The one place that may move MLflow's process-wide tracking URI, and only for a block.
SCOPED = ("training/registry.py", "fluent_tracking_uri")


def calls(path: Path) -> list[tuple[str, int, str, ast.Call]]:
    """(enclosing function, line, called name, node) of every call in ``path``."""
    found = []

    def visit(node: ast.AST, function: str) -> None:
        for child in ast.iter_child_nodes(node):
            inner = (
                child.name
                if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
                else function
            )
            if isinstance(child, ast.Call):
                func = child.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                found.append((function, child.lineno, name, child))
            visit(child, inner)

    visit(ast.parse(path.read_text()), "")
    return found


def test_library_code_sets_no_process_wide_tracking_state():
    bad = []
    for path in [*LIBRARY, *BENCH]:
        where = str(path.relative_to(REPO))
        for function, line, name, node in calls(path):
            if (
                name in ("set_tracking_uri", "set_registry_uri", "set_experiment")
                and (where, function) != SCOPED
            ):
                bad.append(f"{where}:{line}: {name}")
            if name == "MlflowClient" and not node.args and not node.keywords:
                bad.append(f"{where}:{line}: MlflowClient() without a tracking URI")
    assert bad == []


def test_the_default_store_is_declared_once():
    holders = [
        f"{p.relative_to(REPO)}:{node.lineno}"
        for p in LIBRARY
        for node in ast.walk(ast.parse(p.read_text()))
        if isinstance(node, ast.Constant) and node.value == "sqlite:///mlflow.db"
    ]
    assert holders == ["training/__init__.py:9"]
    assert TrackingConfig().tracking_uri == DEFAULT_TRACKING_URI


def test_a_tracked_run_logs_to_its_store_and_gives_the_process_back_its_uri(tmp_path, monkeypatch):
    before = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", before)
    monkeypatch.setattr("mlflow.tracking._tracking_service.utils._tracking_uri", None)
    tracking = TrackingConfig(
        tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}", artifact_root=tmp_path / "mlruns"
    )
    experiment_id = open_experiment(tracking, "shop/tracking")
    assert open_experiment(tracking, "shop/tracking") == experiment_id  # found, not created again
    MlflowClient(tracking.tracking_uri).delete_experiment(experiment_id)
    # deleted in the UI: one line saying how to restore it, not MLflow's traceback after training
    with pytest.raises(LookupError, match=r"'shop/tracking' \(id \d+\) was deleted; restore it"):
        open_experiment(tracking, "shop/tracking")
    MlflowClient(tracking.tracking_uri).restore_experiment(experiment_id)
    assert mlflow.get_tracking_uri() == before  # opening an experiment moved nothing
    with tracked_run(tracking.tracking_uri, experiment_id, run_name="outer") as run:
        assert mlflow.get_tracking_uri() == tracking.tracking_uri
        mlflow.log_metric("auc", 0.7)
        with nested_run(run_name="trial") as child:
            mlflow.log_metric("loss", 0.3)
    assert mlflow.get_tracking_uri() == before
    assert os.environ["MLFLOW_TRACKING_URI"] == before
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'later.db'}")
    assert mlflow.get_tracking_uri().endswith(
        "later.db"
    )  # nothing pinned: the variable still rules
    client = MlflowClient(tracking_uri=tracking.tracking_uri)
    assert client.get_run(run.info.run_id).data.metrics == {"auc": 0.7}
    nested = client.get_run(child.info.run_id)
    assert nested.info.experiment_id == experiment_id
    assert nested.data.tags["mlflow.parentRunId"] == run.info.run_id
    experiment = client.get_experiment(experiment_id)
    assert experiment.artifact_location == (tmp_path / "mlruns").resolve().as_uri()


def test_the_uri_is_given_back_when_the_run_fails(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setattr("mlflow.tracking._tracking_service.utils._tracking_uri", None)
    tracking = TrackingConfig(
        tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}", artifact_root=tmp_path / "mlruns"
    )
    experiment_id = open_experiment(tracking, "fails")
    with (
        pytest.raises(RuntimeError, match="fit failed"),
        tracked_run(tracking.tracking_uri, experiment_id) as run,
    ):
        raise RuntimeError("fit failed")
    assert not mlflow.tracking.is_tracking_uri_set()
    assert (
        MlflowClient(tracking_uri=tracking.tracking_uri).get_run(run.info.run_id).info.status
        == "FAILED"
    )
    with pytest.raises(RuntimeError, match="needs an active run"):
        nested_run(run_name="orphan")
