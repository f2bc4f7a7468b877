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

then deletes for good what it removed, and only that (their rows and artifact files, as
``mlflow gc`` does; ``mlflow gc`` itself would also empty every experiment and logged model the
user deleted), and compacts a SQLite store (``VACUUM``). A version still waiting for the gate (a
training running now) is never touched. Runs and pairs go before their versions, so a prune
killed midway plans the rest again. Each run and pair is tagged ``lifecycle.pruned`` before it is
deleted: what a prune killed after its deletions left in MLflow's bin (no version names it any
more, and deleted runs are not searched) is found by that tag and deleted for good by the next.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from mlflow.entities import ViewType
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from serving.monitor_run import MONITOR_EXPERIMENT

#: The tag a prune sets on each run and stored pair it is about to delete.
PRUNED_TAG = "lifecycle.pruned"


@dataclass
class PrunePlan:
    """What a prune removes: version numbers, run ids and stored-pair (logged model) ids."""

    project: str
    versions: list[str] = field(default_factory=list)
    version_runs: list[str] = field(default_factory=list)
    logged_models: list[str] = field(default_factory=list)
    monitor_runs: list[str] = field(default_factory=list)
    kept_versions: list[str] = field(default_factory=list)
    #: Runs and stored pairs a prune cut short deleted but did not remove for good.
    left_runs: list[str] = field(default_factory=list)
    left_models: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """The plan for people."""
        versions = ", ".join(f"v{v}" for v in self.versions) or "none"
        kept = ", ".join(f"v{v}" for v in self.kept_versions) or "none"
        return [
            f"prune {self.project}: {len(self.versions)} versions never promoted ({versions}) "
            f"with their training runs and stored pairs; kept: {kept}",
            f"prune {self.project}: {len(self.monitor_runs)} older monitor runs",
        ] + (
            [
                f"prune {self.project}: {len(self.left_runs)} runs and {len(self.left_models)} "
                "stored pairs a prune cut short deleted, not yet removed for good"
            ]
            if self.left_runs or self.left_models
            else []
        )


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
        # "promoted" is recorded since a later gate: a version decided without it may be a
        # former champion and stays; one whose training died before the gate never was
        promoted = tags.get("promoted", "")
        abandoned = not promoted and tags.get("promotion", "").startswith("abandoned:")
        never_champion = (promoted == "false" or abandoned) and str(v.version) != champion
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
    _plan_left_over(client, tracking_uri, project, plan)
    return plan


def _plan_left_over(client: MlflowClient, tracking_uri: str, project: str, plan: PrunePlan) -> None:
    """Add the runs and stored pairs of ``project`` an earlier prune tagged and deleted but was
    stopped before removing for good (a kill, a full disk)."""
    from mlflow.tracking._tracking_service.utils import _get_store

    experiments = [
        e.experiment_id
        for e in client.search_experiments(view_type=ViewType.ALL)
        if e.name.startswith(f"{project}/")
    ]
    if experiments:
        left = client.search_runs(
            experiments,
            f"tags.`{PRUNED_TAG}` = 'true'",
            run_view_type=ViewType.DELETED_ONLY,
            max_results=5000,
        )
        plan.left_runs = [r.info.run_id for r in left]
    store = _get_store(tracking_uri)
    if not hasattr(store, "_get_deleted_logged_models"):
        return
    for model_id in store._get_deleted_logged_models():
        model = _found(_deleted_model_of(store), model_id)
        if model is not None and (model.tags or {}).get(PRUNED_TAG) == "true":
            if model.experiment_id in experiments:
                plan.left_models.append(model_id)


def prune(tracking_uri: str, plan: PrunePlan, log: Callable[[str], None] = print) -> int:
    """Remove what ``plan`` names, delete it for good and compact a SQLite store; return the
    bytes freed on disk (store file and artifact folders it can see; 0 when unknown)."""
    from training.registry import gate_lock, pair_model_name, sqlite_store

    client = MlflowClient(tracking_uri=tracking_uri)
    name = pair_model_name(plan.project)
    before = _store_bytes(tracking_uri)
    with gate_lock(tracking_uri, log=log):
        # the versions last: a prune killed before them plans them, their runs and pairs again
        # (killed after them, their runs and pairs were named by nothing any more)
        # tagged first: what is deleted but not yet removed for good is found again by the tag
        for run_id in (*plan.version_runs, *plan.monitor_runs):
            _tagged(client.set_tag, run_id, PRUNED_TAG, "true")
        for model_id in plan.logged_models:
            _tagged(client.set_logged_model_tags, model_id, {PRUNED_TAG: "true"})
        for run_id in (*plan.version_runs, *plan.monitor_runs):
            _quietly(client.delete_run, run_id)
        for model_id in plan.logged_models:
            _quietly(client.delete_logged_model, model_id)
        for version in plan.versions:
            _quietly(client.delete_model_version, name, version)
    _collect(tracking_uri, plan, log)
    if (store := sqlite_store(tracking_uri)) is not None:
        try:  # VACUUM writes a copy of the store first: a full disk refuses it
            with sqlite3.connect(store) as connection:
                connection.execute("VACUUM")
        except sqlite3.Error as exc:
            log(f"prune {plan.project}: warning: {store} not compacted ({exc}); it works as it is")
    return max(0, before - _store_bytes(tracking_uri))


def _collect(tracking_uri: str, plan: PrunePlan, log) -> None:
    """Delete the runs and stored pairs of ``plan`` for good: their rows and artifact files
    (what ``mlflow gc`` does, for these only: ``mlflow gc --run-ids`` also hard-deletes every
    deleted experiment of the store, and without ``--logged-model-ids`` every deleted logged
    model, so what the user deleted would no longer be restorable)."""
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository
    from mlflow.tracking._tracking_service.utils import _get_store

    client = MlflowClient(tracking_uri=tracking_uri)
    store = _get_store(tracking_uri)
    named = dict.fromkeys((*plan.version_runs, *plan.monitor_runs, *plan.left_runs))
    found = (_found(client.get_run, r) for r in named)
    runs = [run for run in found if run is not None]
    # a deleted logged model is found only with allow_deleted (the client never finds it)
    found = (
        _found(_deleted_model_of(store), m)
        for m in dict.fromkeys((*plan.logged_models, *plan.left_models))
    )
    models = [model for model in found if model is not None]
    if not runs and not models:  # collected already (a plan carried out twice)
        return
    if not hasattr(store, "_hard_delete_run") or not hasattr(store, "_hard_delete_logged_model"):
        log(
            f"prune {plan.project}: warning: {tracking_uri} cannot delete runs for good from "
            "here; the deleted runs stay in MLflow's bin (`mlflow gc --run-ids ...` on the "
            "server's backend store empties it)"
        )
        return
    folders = []
    try:
        for run in runs:
            if run.info.lifecycle_stage != "deleted":  # only what this prune deleted
                continue
            get_artifact_repository(run.info.artifact_uri).delete_artifacts()
            store._hard_delete_run(run.info.run_id)
            folders.append(_local(run.info.artifact_uri))
        deleted_models = set(store._get_deleted_logged_models()) if models else set()
        for model in models:
            if model.model_id not in deleted_models:  # only what this prune deleted
                continue
            get_artifact_repository(model.artifact_location).delete_artifacts()
            store._hard_delete_logged_model(model.model_id)
            folders.append(_local(model.artifact_location))
    except (MlflowException, OSError) as exc:
        raise RuntimeError(
            f"deleting for good failed ({exc}); the deleted runs stay until a new prune"
        ) from exc
    for folder in folders:  # the emptied folders of each run and pair
        root = folder.parent if folder is not None and folder.name == "artifacts" else folder
        if root is not None and root.is_dir() and not any(p.is_file() for p in root.rglob("*")):
            shutil.rmtree(root)
    log(f"prune {plan.project}: the deleted runs and stored pairs are removed for good")


def _deleted_model_of(store) -> Callable[[str], object]:
    """A store's logged-model getter that finds deleted ones too."""
    return lambda model_id: store.get_logged_model(model_id, allow_deleted=True)


def _local(uri: str | None) -> Path | None:
    """The folder of a ``file://`` artifact location (None for a remote one)."""
    if not uri:
        return None
    parsed = urlparse(uri)
    if parsed.scheme not in ("", "file"):
        return None
    return Path(unquote(parsed.path))


def _found(get: Callable[[str], Any], key: str) -> Any:
    """A run or logged model still in the store (deleted or not), else None."""
    try:
        return get(key)
    except MlflowException:
        return None


def _tagged(call: Callable[..., object], *args: Any) -> None:
    """The pruned tag on a run or pair; one gone already (deleted or removed by a killed prune)
    keeps the tag it had, if any."""
    try:
        call(*args)
    except MlflowException:
        pass


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
