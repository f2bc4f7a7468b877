"""lifecycle prune: what a year of retrains leaves in the store goes, what scoring, the monitor
and a running training need stays."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from registry_fixtures import register, tiny_pair, tracking

from serving.retention import plan_prune, prune
from training.model_tags import CHAMPION
from training.registry import load_version, open_experiment, pair_model_name

LIFECYCLE = [sys.executable, "-c", "from lifecycle_cli import app; app()"]


def _store_with_a_year(tmp_path):
    """v1 champion then replaced by v3; v2, v4, v5 rejected; v6 waiting for the gate; v7, v8
    newest (rejected); 6 monitor runs, the oldest named by v3's monitor.run_id."""
    store = tracking(tmp_path)
    client = MlflowClient(tracking_uri=store.tracking_uri)
    name = pair_model_name("shop")
    decided = {"1": "true", "2": "false", "3": "true", "4": "false", "5": "false", "7": "false"}
    decided["8"] = "false"
    for seed in range(8):
        version = register(tiny_pair(seed % 3, project="shop"), "shop", store)
        if version in decided:
            client.set_model_version_tag(name, version, "promoted", decided[version])
            client.set_model_version_tag(name, version, "promotion", f"decided v{version}")
    client.set_registered_model_alias(name, CHAMPION, "3")
    experiment = open_experiment(store, "shop/monitor")
    runs = [client.create_run(experiment).info.run_id for _ in range(6)]
    for run_id in runs:
        client.log_text(run_id, "x" * 1000, "monitor.html")
        client.set_terminated(run_id)
    client.set_model_version_tag(name, "3", "monitor.run_id", runs[0])
    return store, client, name, runs


def test_prune_removes_never_promoted_versions_and_old_monitor_runs_only(tmp_path):
    store, client, name, runs = _store_with_a_year(tmp_path)
    gone = {v: client.get_model_version(name, v) for v in ("2", "4", "5")}
    plan = plan_prune(store.tracking_uri, "shop", keep_versions=2, keep_monitor_runs=2)
    assert sorted(plan.versions) == ["2", "4", "5"]  # not v1/v3 (champions), v6 (at the gate)
    assert sorted(plan.kept_versions, key=int) == ["1", "3", "6", "7", "8"]
    assert set(plan.monitor_runs) == set(runs[1:4])  # the oldest is named by v3: kept
    freed = prune(store.tracking_uri, plan, log=lambda _: None)
    assert freed > 0
    left = {str(v.version) for v in client.search_model_versions(f"name='{name}'")}
    assert left == {"1", "3", "6", "7", "8"}
    assert all((store.artifact_root / run_id).exists() for run_id in (runs[0], runs[4]))
    for run_id in [v.run_id for v in gone.values()] + runs[1:4]:  # their files gone too
        assert not (store.artifact_root / run_id).exists()
        with pytest.raises(MlflowException):
            client.get_run(run_id)
    assert load_version(store.tracking_uri, "shop", "3").meta is not None  # champion loads
    assert load_version(store.tracking_uri, "shop", "1").meta is not None  # former champion
    again = plan_prune(store.tracking_uri, "shop", keep_versions=2, keep_monitor_runs=2)
    assert again.versions == [] and again.monitor_runs == []
    prune(store.tracking_uri, plan, log=lambda _: None)  # a killed prune's plan again: harmless


def test_prune_cli_dry_run_changes_nothing_and_names_what_would_go(tmp_path):
    store, client, name, _ = _store_with_a_year(tmp_path)
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    args = ["prune", "--project", "shop", "--tracking-uri", store.tracking_uri]
    done = subprocess.run(
        [*LIFECYCLE, *args, "--keep-versions", "2", "--dry-run"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "3 versions never promoted (v5, v4, v2)" in done.stderr
    assert len(client.search_model_versions(f"name='{name}'")) == 8
    missing = subprocess.run(
        [*LIFECYCLE, "prune", "--project", "shop", "--tracking-uri", "sqlite:///nowhere.db"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert missing.returncode == 2 and "no MLflow store at" in missing.stderr


def test_prune_leaves_what_the_user_deleted_restorable(tmp_path):
    """mlflow gc given only --run-ids also hard-deletes every deleted experiment (and, given no
    --logged-model-ids, every deleted logged model): prune must not collect what it did not
    delete."""
    from mlflow.entities import ViewType

    store, client, name, _ = _store_with_a_year(tmp_path)
    other = open_experiment(store, "other/kept")  # another project's experiment, deleted by hand
    run_in_other = client.create_run(other).info.run_id
    client.set_terminated(run_in_other)
    client.delete_experiment(other)
    mine = open_experiment(store, "shop/scratch")
    deleted_run = client.create_run(mine).info.run_id  # a run the user deleted on purpose
    client.set_terminated(deleted_run)
    client.delete_run(deleted_run)
    # only monitor runs to prune (no versions): gc is given --run-ids and no --logged-model-ids
    plan = plan_prune(store.tracking_uri, "shop", keep_versions=8, keep_monitor_runs=2)
    assert plan.versions == [] and plan.monitor_runs
    prune(store.tracking_uri, plan, log=lambda _: None)
    assert client.get_experiment(other).lifecycle_stage == "deleted"  # still there: restorable
    client.restore_experiment(other)
    assert client.get_run(run_in_other).info.run_id == run_in_other
    assert client.get_run(deleted_run).info.lifecycle_stage == "deleted"
    assert client.search_experiments(ViewType.ALL)


def test_prune_keeps_former_champions_of_a_store_older_than_the_promoted_tag(tmp_path):
    """Versions decided before the gate tagged 'promoted' carry only 'promotion': a former
    champion among them must not be taken for a version never promoted."""
    store, client, name, _ = _store_with_a_year(tmp_path)
    client.delete_model_version_tag(name, "1", "promoted")  # v1: a former champion, old store
    client.set_model_version_tag(name, "1", "promotion", "no champion yet")
    plan = plan_prune(store.tracking_uri, "shop", keep_versions=2, keep_monitor_runs=2)
    assert "1" not in plan.versions


def test_a_prune_killed_between_its_deletions_is_finished_by_the_next(tmp_path, monkeypatch):
    """A kill after a version went and before its run did left that run (and its stored pair)
    active and no longer named by any version: no later prune found it."""
    store, client, name, _ = _store_with_a_year(tmp_path)
    plan = plan_prune(store.tracking_uri, "shop", keep_versions=2, keep_monitor_runs=2)
    runs = list(plan.version_runs)

    def killed(*_):
        raise SystemExit("kill -9")

    with monkeypatch.context() as patch:
        patch.setattr(MlflowClient, "delete_run", killed)
        with pytest.raises(SystemExit):
            prune(store.tracking_uri, plan, log=lambda _: None)
    again = plan_prune(store.tracking_uri, "shop", keep_versions=2, keep_monitor_runs=2)
    prune(store.tracking_uri, again, log=lambda _: None)
    for run_id in runs:
        with pytest.raises(MlflowException):
            client.get_run(run_id)


def test_a_prune_killed_after_its_deletions_is_removed_for_good_by_the_next(tmp_path, monkeypatch):
    """A kill after the runs, pairs and versions were deleted but before they were removed for
    good left them in MLflow's bin for ever: no version names them any more and deleted runs are
    not searched, so the next prune planned nothing and freed nothing."""
    store, client, name, _ = _store_with_a_year(tmp_path)
    plan = plan_prune(store.tracking_uri, "shop", keep_versions=2, keep_monitor_runs=2)
    runs = [*plan.version_runs, *plan.monitor_runs]
    delete_version = MlflowClient.delete_model_version

    def killed_after(self, model, version):
        delete_version(self, model, version)
        if version == plan.versions[-1]:  # the last deletion done: killed before the collection
            raise SystemExit("kill -9")

    with monkeypatch.context() as patch:
        patch.setattr(MlflowClient, "delete_model_version", killed_after)
        with pytest.raises(SystemExit):
            prune(store.tracking_uri, plan, log=lambda _: None)
    assert all(client.get_run(r).info.lifecycle_stage == "deleted" for r in runs)  # in the bin
    again = plan_prune(store.tracking_uri, "shop", keep_versions=2, keep_monitor_runs=2)
    assert again.versions == [] and sorted(again.left_runs) == sorted(runs)
    assert sorted(again.left_models) == sorted(plan.logged_models)
    said = []
    assert prune(store.tracking_uri, again, log=said.append) > 0
    assert any("removed for good" in line for line in said)
    for run_id in runs:
        with pytest.raises(MlflowException):
            client.get_run(run_id)
        assert not (store.artifact_root / run_id).exists()
    assert load_version(store.tracking_uri, "shop", "3").meta is not None  # champion loads
    final = plan_prune(store.tracking_uri, "shop", keep_versions=2, keep_monitor_runs=2)
    assert final.left_runs == [] and final.left_models == []
