"""Optuna tuning: studies resume to a target of finished trials, the tuned config records what ran,
and a trial whose process died (``kill -9``) is failed and retried instead of staying RUNNING."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import yaml
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from features.synthetic import generate
from training.config import load_config, resolve_project
from training.process_owner import owner_alive, this_process
from training.tune import (
    FINISHED,
    WORKER_ATTR,
    fail_dead_trials,
    storage_for,
    study_name,
    tune,
)

TINY = """\
name: tiny
description: small and quick
features:
  families: [rfm]
snapshots:
  n_train: 2
labels:
  churn_horizon_days: 60
  value_horizon_days: 60
churn:
  params: {{n_estimators: {n}, early_stopping_rounds: {stop}, n_jobs: 1}}
  calibration: none
clv:
  params: {{n_estimators: {n}, early_stopping_rounds: {stop}, n_jobs: 1}}
tuning:
  trials: 20
  storage: sqlite:///{root}/optuna.db
tracking:
  tracking_uri: sqlite:///{root}/mlflow.db
  artifact_root: {root}/mlruns
"""


@pytest.fixture(scope="module")
def small_data(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tune-data")
    generate(out, 250, seed=3, start="2023-01-01", end="2024-07-01", progress=False)
    return out


def tiny_config(root: Path, n_estimators: int = 40, early_stopping_rounds: int = 10) -> Path:
    path = root / "tiny.yaml"
    path.write_text(TINY.format(root=root, n=n_estimators, stop=early_stopping_rounds))
    return path


def trials_by_state(storage_url: str, study_name: str) -> dict[str, int]:
    study = optuna.load_study(study_name=study_name, storage=storage_url)
    counts: dict[str, int] = {}
    for trial in study.get_trials(deepcopy=False):
        counts[trial.state.name] = counts.get(trial.state.name, 0) + 1
    return counts


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


# Trials made by hand (study.ask) on a heartbeat storage: Optuna warns that it expects optimize().
pytestmark = pytest.mark.filterwarnings("ignore:Heartbeat of storage:UserWarning")


# --- dead trials ----------------------------------------------------------------------------------


def test_owner_alive_tells_live_gone_reused_and_unknown_owners():
    """The one check behind failing dead Optuna trials and dead MLflow runs."""
    me = this_process()
    assert owner_alive(**me) is True
    assert owner_alive(me["host"], dead_pid(), me["started"]) is False
    assert owner_alive(me["host"], me["pid"], 12.0) is False  # a later process reuses the pid
    assert owner_alive("another-host", me["pid"], me["started"]) is None
    assert owner_alive(me["host"], None, me["started"]) is None
    assert owner_alive(me["host"], "not-a-pid", me["started"]) is None


def test_a_running_trial_of_a_dead_process_is_failed_and_queued_again(tmp_path):
    storage = storage_for(f"sqlite:///{tmp_path / 'optuna.db'}")
    study = optuna.create_study(study_name="s", storage=storage)
    orphan = study.ask()
    orphan.suggest_float("x", 0.0, 1.0)
    orphan.set_user_attr(WORKER_ATTR, {**this_process(), "pid": dead_pid()})
    live = study.ask()
    live.set_user_attr(WORKER_ATTR, this_process())
    remote = study.ask()
    remote.set_user_attr(WORKER_ATTR, {**this_process(), "host": "another-host"})
    reused = study.ask()  # the pid is alive but belongs to a process started later
    reused.set_user_attr(WORKER_ATTR, {**this_process(), "started": 12.0})

    logged: list[str] = []
    assert fail_dead_trials(study, log=logged.append) == [orphan.number, reused.number]
    states = {t.number: t.state for t in study.get_trials()}
    assert states[orphan.number] == states[reused.number] == TrialState.FAIL
    assert states[live.number] == states[remote.number] == TrialState.RUNNING
    waiting = study.get_trials(states=(TrialState.WAITING,))
    retries = {t.system_attrs["failed_trial"]: t for t in waiting}
    assert set(retries) == {orphan.number, reused.number}
    assert retries[orphan.number].params == {"x": orphan.params["x"]}
    assert "is gone" in logged[0]
    assert fail_dead_trials(study, log=logged.append) == []  # nothing twice


def test_a_silent_trial_is_failed_by_the_heartbeat(tmp_path, monkeypatch):
    """A trial of a worker that cannot be checked from here (another host) is failed once its
    heartbeat is older than the grace period."""
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    monkeypatch.setattr("training.tune.HEARTBEAT_SECONDS", 1)
    monkeypatch.setattr("training.tune.GRACE_SECONDS", 1)
    study = optuna.create_study(study_name="s", storage=storage_for(url))
    trial = study.ask()
    trial.set_user_attr(WORKER_ATTR, {**this_process(), "host": "another-host"})
    study._storage.record_heartbeat(trial._trial_id)
    time.sleep(2.5)
    study.optimize(lambda t: 1.0, n_trials=1)  # each new trial first fails the stale ones
    states = [t.state for t in study.get_trials()]
    assert states[0] == TrialState.FAIL
    assert TrialState.RUNNING not in states


# --- the studies and the tuned config -------------------------------------------------------------


@pytest.mark.slow
def test_tune_resumes_to_the_target_and_records_what_ran(small_data, tmp_path):
    cfg = load_config(tiny_config(tmp_path))
    out = tmp_path / "tuned.yaml"
    tuned, path = tune(cfg, small_data, trials=2, out=out, log=lambda _: None)
    url = cfg.tuning.storage
    churn_study = study_name(resolve_project(cfg, small_data), "tiny", "churn")
    assert trials_by_state(url, churn_study) == {"COMPLETE": 2}
    assert trials_by_state(url, churn_study.replace("-churn", "-clv")) == {"COMPLETE": 2}
    written = yaml.safe_load(out.read_text())
    assert path == out and written["tuning"]["trials"] == 2  # not the config's 20
    assert written["name"] == "tuned"
    assert "2 trials" in written["description"]
    churn = optuna.load_study(study_name=churn_study, storage=url)
    assert written["churn"]["params"]["num_leaves"] == churn.best_params["num_leaves"]
    assert load_config(out).tuning.trials == 2  # the written config loads as an experiment
    # it trains on the data it was tuned on (it kept the base config's `data:`, another set)
    assert Path(written["data"]) == Path(small_data).resolve() == load_config(out).data

    logs: list[str] = []
    tuned, _ = tune(cfg, small_data, trials=3, out=out, log=logs.append)
    assert trials_by_state(url, churn_study) == {"COMPLETE": 3}  # one more, not three
    assert any("2 finished trials stored, running 1 more to reach 3" in line for line in logs)
    assert tuned.tuning.trials == 3 == yaml.safe_load(out.read_text())["tuning"]["trials"]
    first, second, resumed = (t.params for t in churn.trials)
    assert first != second and resumed not in (first, second)  # a resume draws new parameters


@pytest.mark.slow
def test_killed_tune_resumes_without_a_stuck_running_trial(small_data, tmp_path):
    """``kill -9`` of a ``lifecycle tune`` in the middle of a trial, then the same command again."""
    config = tiny_config(tmp_path, n_estimators=150, early_stopping_rounds=0)
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    out = tmp_path / "tuned.yaml"
    churn_study = study_name(Path(small_data).name, "tiny", "churn")  # project: the data's name
    command = [
        str(Path(sys.executable).with_name("lifecycle")),
        "tune",
        "--config",
        str(config),
        "--data",
        str(small_data),
        "--trials",
        "3",
        "--out",
        str(out),
    ]
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    log = tmp_path / "killed.log"
    with open(log, "wb") as sink:
        process = subprocess.Popen(
            command, cwd=tmp_path, env=env, stdout=sink, stderr=subprocess.STDOUT
        )
    try:
        killed_trial = wait_for_a_trial_in_progress(
            tmp_path / "optuna.db", process, log, churn_study
        )
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == -signal.SIGKILL
    assert trials_by_state(url, churn_study).get("RUNNING") == 1
    assert not out.exists()

    resumed = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900, check=False
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"trial {killed_trial}: its process {process.pid} is gone" in resumed.stderr
    churn = optuna.load_study(study_name=churn_study, storage=url)
    states = {t.number: t.state for t in churn.get_trials()}
    assert TrialState.RUNNING not in states.values()
    assert states[killed_trial] == TrialState.FAIL
    assert len([s for s in states.values() if s in FINISHED]) == 3
    retried = [t for t in churn.get_trials() if t.system_attrs.get("failed_trial") == killed_trial]
    assert len(retried) == 1 and retried[0].state in FINISHED
    assert retried[0].params == churn.trials[killed_trial].params
    assert trials_by_state(url, churn_study.replace("-churn", "-clv")) == {"COMPLETE": 3}
    assert yaml.safe_load(out.read_text())["tuning"]["trials"] == 3
    # The killed run's MLflow runs (the tune and its trial in progress) are FAILED, none RUNNING.
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert {r.info.status for r in runs} == {"FINISHED", "FAILED"}
    assert {r.info.run_name for r in runs if r.info.status == "FAILED"} == {
        "tiny-tune",
        f"churn-trial-{killed_trial}",
    }


def wait_for_a_trial_in_progress(db: Path, process: subprocess.Popen, log: Path, study: str) -> int:
    """Poll the study database until a churn trial of ``process`` has reported an iteration;
    return its number. Reads SQLite directly (no Optuna session beside the writer)."""
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()[-3000:]
        if db.exists():
            try:
                with sqlite3.connect(db, timeout=5) as con:
                    row = con.execute(
                        "select t.number from trials t join studies s on s.study_id = t.study_id "
                        "where s.study_name = ? and t.state = 'RUNNING' and exists "
                        "(select 1 from trial_intermediate_values v where v.trial_id = t.trial_id)",
                        (study,),
                    ).fetchone()
            except sqlite3.OperationalError:  # tables not created yet, or locked for a moment
                row = None
            if row:
                return int(row[0])
        time.sleep(0.02)
    raise AssertionError("no trial started within 600 s: " + log.read_text()[-3000:])


def test_a_model_with_an_offset_is_tuned_in_a_study_of_its_own():
    """The same experiment name with and without ``offset: btyd`` is two objectives: resuming the
    study of one for the other mixed their losses and handed over its best parameters."""
    plain = study_name("shop", "btyd-features", "churn")
    assert plain == "shop/btyd-features-churn"  # studies stored before keep their name
    assert study_name("shop", "btyd-features", "churn", "btyd") == f"{plain}-btyd-offset"
    assert study_name("shop", "btyd-features", "churn", "none") == plain
