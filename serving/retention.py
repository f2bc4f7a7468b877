"""What a year of weekly retrains leaves in the MLflow store, and how much of it can go.

Every retrain logs a training run (plots, test predictions, the pair), a registered version and
a monitor run (reports): 1.4 MB a week at 1,500 customers, the test predictions growing with
customers (~1.4 GB a year at a million), and nothing was ever removed (helper's year of weekly
retrains). ``lifecycle prune`` removes, under the promotion gate's lock:

- registered versions the gate decided *not* to promote (and versions whose training died
  before the gate), but for the ``keep_versions`` newest: with their training run and their
  stored pair. Such a version never scored: ``lifecycle score`` and the service use the
  champion only. The champion and every former champion stay (their scores are what the
  monitor's realized performance reads over a year);
- monitor runs but the ``keep_monitor_runs`` newest and those a version's ``monitor.run_id``
  names;

then deletes what it removed for good (``mlflow gc`` of those runs and pairs: their rows and
artifact files) and compacts a SQLite store (``VACUUM``). A version still waiting for the gate
(a training running now) is never touched. A kill before ``mlflow gc`` leaves deleted runs in
MLflow's bin (``mlflow gc`` empties it); every removal is one MLflow call, safe to repeat.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from serving.monitor_run import MONITOR_EXPERIMENT


@dataclass
class PrunePlan:
    """What a prune removes: version numbers, run ids and stored-pair (logged model) ids."""

    project: str
    versions: list[str] = field(default_factory=list)
    version_runs: list[str] = field(default_factory=list)
    logged_models: list[str] = field(default_factory=list)
    monitor_runs: list[str] = field(default_factory=list)
    kept_versions: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """The plan for people."""
        versions = ", ".join(f"v{v}" for v in self.versions) or "none"
        kept = ", ".join(f"v{v}" for v in self.kept_versions) or "none"
        return [
            f"prune {self.project}: {len(self.versions)} versions never promoted ({versions}) "
            f"with their training runs and stored pairs; kept: {kept}",
            f"prune {self.project}: {len(self.monitor_runs)} older monitor runs",
        ]


def plan_prune(
    tracking_uri: str, project: str, keep_versions: int = 4, keep_monitor_runs: int = 4
) -> PrunePlan:
    """The versions and monitor runs of ``project`` a prune removes (see the module)."""
    from training.registry import champion_version, pair_model_name

    if keep_versions < 1 or keep_monitor_runs < 1:
        raise ValueError("keep at least 1 version and 1 monitor run")
    client = MlflowClient(tracking_uri=tracking_uri)
    name = pair_model_name(project)
    plan = PrunePlan(project)
    try:
        versions = sorted(
            client.search_model_versions(f"name='{name}'"), key=lambda v: -int(v.version)
        )
    except MlflowException:
        versions = []
    champion = champion_version(client, project) if versions else None
    for position, v in enumerate(versions):
        tags = v.tags or {}
        decided = "promotion" in tags  # else a training is at the gate right now
        never_champion = tags.get("promoted") != "true" and str(v.version) != champion
        if position < keep_versions or not decided or not never_champion:
            plan.kept_versions.append(str(v.version))
            continue
        plan.versions.append(str(v.version))
        if v.run_id:
            plan.version_runs.append(v.run_id)
        source = v.source or ""
        if source.startswith("models:/m-"):  # the stored pair (an MLflow logged model)
            plan.logged_models.append(source.removeprefix("models:/"))
    named = {(v.tags or {}).get("monitor.run_id") for v in versions}
    experiment = client.get_experiment_by_name(f"{project}/{MONITOR_EXPERIMENT}")
    if experiment is not None:
        runs = client.search_runs(
            [experiment.experiment_id], order_by=["attributes.start_time DESC"], max_results=5000
        )
        plan.monitor_runs = [
            r.info.run_id for r in runs[keep_monitor_runs:] if r.info.run_id not in named
        ]
    return plan


def prune(tracking_uri: str, plan: PrunePlan, log: Callable[[str], None] = print) -> int:
    """Remove what ``plan`` names, delete it for good and compact a SQLite store; return the
    bytes freed on disk (store file and artifact folders it can see; 0 when unknown)."""
    from training.registry import gate_lock, pair_model_name, sqlite_store

    client = MlflowClient(tracking_uri=tracking_uri)
    name = pair_model_name(plan.project)
    before = _store_bytes(tracking_uri)
    with gate_lock(tracking_uri, log=log):
        for version in plan.versions:
            _quietly(client.delete_model_version, name, version)
        for run_id in (*plan.version_runs, *plan.monitor_runs):
            _quietly(client.delete_run, run_id)
        for model_id in plan.logged_models:
            _quietly(client.delete_logged_model, model_id)
    _collect(tracking_uri, plan, log)
    if (store := sqlite_store(tracking_uri)) is not None:
        try:  # VACUUM writes a copy of the store first: a full disk refuses it
            with sqlite3.connect(store) as connection:
                connection.execute("VACUUM")
        except sqlite3.Error as exc:
            log(f"prune {plan.project}: warning: {store} not compacted ({exc}); it works as it is")
    return max(0, before - _store_bytes(tracking_uri))


def _collect(tracking_uri: str, plan: PrunePlan, log) -> None:
    """``mlflow gc`` of the deleted runs and stored pairs (and of runs an earlier, killed prune
    deleted): their rows and artifact files go for good."""
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "gc",
        "--backend-store-uri",
        tracking_uri,
        "--tracking-uri",
        tracking_uri,
    ]
    client = MlflowClient(tracking_uri=tracking_uri)
    runs = [r for r in (*plan.version_runs, *plan.monitor_runs) if _exists(client.get_run, r)]
    models = [m for m in plan.logged_models if _exists(client.get_logged_model, m)]
    if not runs and not models:  # collected already (a plan carried out twice)
        return
    folders = [_local(client.get_run(r).info.artifact_uri) for r in runs]
    folders += [_local(client.get_logged_model(m).artifact_location) for m in models]
    if runs:  # only these: runs or experiments the user deleted stay restorable
        command += ["--run-ids", ",".join(runs)]
    if models:
        command += ["--logged-model-ids", ",".join(models)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"mlflow gc failed ({last}); the deleted runs stay until a new prune")
    for folder in folders:  # gc leaves each run's and pair's emptied folders behind
        root = folder.parent if folder is not None and folder.name == "artifacts" else folder
        if root is not None and root.is_dir() and not any(p.is_file() for p in root.rglob("*")):
            shutil.rmtree(root)
    log(f"prune {plan.project}: mlflow gc removed the deleted runs and stored pairs for good")


def _local(uri: str | None) -> Path | None:
    """The folder of a ``file://`` artifact location (None for a remote one)."""
    if not uri:
        return None
    parsed = urlparse(uri)
    if parsed.scheme not in ("", "file"):
        return None
    return Path(unquote(parsed.path))


def _exists(get: Callable[[str], object], key: str) -> bool:
    """Whether a run or logged model is still in the store (deleted or not)."""
    try:
        get(key)
    except MlflowException:
        return False
    return True


def _quietly(call: Callable[..., object], *args: str) -> None:
    """One deletion; gone already (a killed prune's, or another's) is fine."""
    try:
        call(*args)
    except MlflowException as exc:
        if "RESOURCE_DOES_NOT_EXIST" not in str(exc.error_code) and "not found" not in str(exc):
            raise


def _store_bytes(tracking_uri: str) -> int:
    """Bytes of a SQLite store file and the ``mlruns`` folder beside it (0 for other stores)."""
    from training.registry import sqlite_store

    store = sqlite_store(tracking_uri)
    if store is None or not store.exists():
        return 0
    total = store.stat().st_size
    artifacts = store.parent / "mlruns"
    if artifacts.is_dir():
        total += sum(p.stat().st_size for p in artifacts.rglob("*") if p.is_file())
    return total
