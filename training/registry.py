"""MLflow tracking, the registered churn + CLV pair of each project, and the promotion gate.

One registered model per project, ``<project>.churn-clv``: each version is a whole pair (both
models and their scoring thresholds, ``training.bundle``), so promoting is one alias move and a
crash leaves either the old or the new pair serving, never a mix. The gate runs under a
cross-process lock (read champion -> re-score it -> move the alias). A run records its process;
``fail_stale_runs`` marks runs whose process died as FAILED.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from urllib.parse import urlparse

import mlflow
import numpy as np
import pandas as pd
import yaml
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from mlflow.tracking import MlflowClient

from training.bundle import BundleError, ModelPair, load_pair, models_digest, save_pair
from training.config import TrackingConfig
from training.model_tags import CHAMPION, CHAMPION_AT_DECISION
from training.process_owner import owner_alive, this_process

PAIR_SUFFIX = ".churn-clv"
#: The test metrics the promotion gate compares, and whether higher is better.
GATE_METRICS: dict[str, bool] = {
    "churn_auc": True,
    "churn_brier": False,
    "clv_gini": True,
    "clv_mae": False,
}
#: Environment hook for fault tests: pause (sleep) at this named point of a training run.
PAUSE_AT_ENV = "LIFECYCLE_PAUSE_AT"
_REQUIREMENTS = ("lightgbm", "numpy", "pandas", "scikit-learn", "pydantic", "pyyaml")


def pair_model_name(project: str) -> str:
    """The registered model holding ``project``'s churn + CLV pairs."""
    return f"{project}{PAIR_SUFFIX}"


def open_experiment(tracking: TrackingConfig, experiment: str) -> str:
    """The id of ``experiment`` in the store at ``tracking.tracking_uri``, created with its
    artifacts under ``artifact_root`` when new. Sets no process-wide MLflow state."""
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # One process at a time creates a new store (MLflow's schema migrations race otherwise) and
    # the experiment.
    with store_lock(tracking.tracking_uri, "init"):
        client = MlflowClient(tracking_uri=tracking.tracking_uri)
        found = client.get_experiment_by_name(experiment)
        if found is not None and found.lifecycle_stage == "deleted":
            raise LookupError(
                f"the MLflow experiment {experiment!r} (id {found.experiment_id}) was deleted; "
                f"restore it (MLFLOW_TRACKING_URI={tracking.tracking_uri} mlflow experiments "
                f"restore --experiment-id {found.experiment_id}), remove it for good "
                f"(MLFLOW_TRACKING_URI={tracking.tracking_uri} mlflow gc --backend-store-uri "
                f"{tracking.tracking_uri} --experiment-ids {found.experiment_id}), or log under "
                "another name (tracking.experiment in the YAML)"
            )
        if found is not None:
            return found.experiment_id
        if tracking.artifact_root is None:  # the tracking server's own default
            return client.create_experiment(experiment)
        root = Path(tracking.artifact_root).resolve()
        root.mkdir(parents=True, exist_ok=True)
        return client.create_experiment(experiment, artifact_location=root.as_uri())


@contextmanager
def fluent_tracking_uri(tracking_uri: str) -> Iterator[None]:
    """Point MLflow's fluent API (``mlflow.start_run``, ``mlflow.log_*``,
    ``mlflow.pyfunc.log_model``) at ``tracking_uri`` for the block only, then give the process back
    the tracking URI (and ``MLFLOW_TRACKING_URI``) it had."""
    from mlflow.tracking._tracking_service import utils as tracking_state

    env = os.environ.get("MLFLOW_TRACKING_URI")
    # The URI set in the process, not the resolved one: a caller relying on MLFLOW_TRACKING_URI
    # (set now or later) must not find it pinned afterwards. (MLflow's own _use_tracking_uri
    # restores this value but unsets the environment variable.)
    previous = tracking_state._tracking_uri
    mlflow.set_tracking_uri(tracking_uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(previous)  # type: ignore[arg-type]  # None: unset, as before
        if env is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = env


@contextmanager
def tracked_run(tracking_uri: str, experiment_id: str, **start_run) -> Iterator[mlflow.ActiveRun]:
    """A run of ``experiment_id`` in the store at ``tracking_uri`` (``start_run``: ``run_name``,
    ``tags``, ...), logged to with MLflow's fluent API, which points at that store only while the
    run is open (:func:`fluent_tracking_uri`). Nested runs inside it pass the ``experiment_id``."""
    with (
        fluent_tracking_uri(tracking_uri),
        mlflow.start_run(experiment_id=experiment_id, **start_run) as run,
    ):
        yield run


def nested_run(**start_run) -> mlflow.ActiveRun:
    """A child run of the active run, in the active run's experiment (``start_run``: ``run_name``,
    ``tags``, ...); use as a context manager."""
    active = mlflow.active_run()
    if active is None:
        raise RuntimeError("nested_run needs an active run (tracked_run)")
    return mlflow.start_run(experiment_id=active.info.experiment_id, nested=True, **start_run)


# --------------------------------------------------------------------------- runs and their owners


def owner_tags() -> dict[str, str]:
    """Tags naming the process of a run, so a later run can tell whether it died."""
    owner = this_process()
    return {
        "lifecycle.host": str(owner["host"]),
        "lifecycle.pid": str(owner["pid"]),
        "lifecycle.pid_started": f"{owner['started']:.3f}",
    }


def _owner_alive(tags: dict[str, str]) -> bool | None:
    """True/False for a run of this host with owner tags; None when it cannot be told."""
    return owner_alive(
        tags.get("lifecycle.host"), tags.get("lifecycle.pid"), tags.get("lifecycle.pid_started")
    )


def fail_stale_runs(client: MlflowClient, max_age_hours: float = 48.0, log=print) -> list[str]:
    """Mark RUNNING runs FAILED when their process is gone (same host) or, for runs whose process
    cannot be checked, when they started more than ``max_age_hours`` ago. Returns their ids."""
    experiments = [e.experiment_id for e in client.search_experiments()]
    if not experiments:
        return []
    failed = []
    now_ms = time.time() * 1000
    for run in client.search_runs(experiments, "attributes.status = 'RUNNING'", max_results=1000):
        alive = _owner_alive(run.data.tags)
        age_hours = (now_ms - run.info.start_time) / 3.6e6
        if alive is False:
            reason = f"process {run.data.tags['lifecycle.pid']} is gone"
        elif alive is None and age_hours > max_age_hours:
            reason = f"RUNNING for {age_hours:.0f} h without a live process to check"
        else:
            continue
        client.set_tag(run.info.run_id, "lifecycle.failed_reason", reason)
        client.set_terminated(run.info.run_id, status="FAILED")
        log(f"marked run {run.info.run_id} ({run.info.run_name}) FAILED: {reason}")
        _tag_abandoned_versions(client, run.info.run_id, reason)
        failed.append(run.info.run_id)
    return failed


def _tag_abandoned_versions(client: MlflowClient, run_id: str, reason: str) -> None:
    """A version the dead run registered before its gate decision (killed between the two) says
    so in its ``promotion`` tag, instead of standing untagged beside the decided ones."""
    try:
        versions = client.search_model_versions(f"run_id = '{run_id}'")
    except MlflowException:
        return
    for v in versions:
        if "promotion" not in (v.tags or {}):
            client.set_model_version_tag(
                v.name,
                v.version,
                "promotion",
                f"abandoned: its training died before the gate recorded a decision ({reason})",
            )


def pause_point(name: str, log=print) -> None:
    """Fault-test hook: when ``LIFECYCLE_PAUSE_AT`` names this point, say so and sleep until
    killed."""
    if os.environ.get(PAUSE_AT_ENV) == name:
        log(f"paused at {name}")
        while True:
            time.sleep(3600)


# --------------------------------------------------------------------------- registering a pair


def log_pair(pair: ModelPair, project: str, example: pd.DataFrame) -> str:
    """Log ``pair`` in the active run as one MLflow model (plain files, ``training.bundle``
    loader) and register it as a new version of ``<project>.churn-clv``; return the version."""
    # Integer features are declared as doubles: a missing value at scoring time then still fits the
    # signature (MLflow accepts int -> double, not NaN in an integer column).
    example = example.astype(
        {c: "float64" for c in example.columns if pd.api.types.is_integer_dtype(example[c])}
    )
    with tempfile.TemporaryDirectory() as tmp, quiet_model_logging():
        data_path = save_pair(pair, Path(tmp) / "pair")
        info = mlflow.pyfunc.log_model(
            name="pair",
            loader_module="training.bundle",
            data_path=str(data_path),
            input_example=example,
            signature=infer_signature(example, pair.predict(example)),
            pip_requirements=_pinned_requirements(),
            registered_model_name=pair_model_name(project),
        )
    return str(info.registered_model_version)


@contextmanager
def quiet_model_logging():
    """MLflow's "INFO mlflow.pyfunc: Validating input example against model signature" line
    between a training's own progress lines: logged only when it is a warning or worse."""
    logger = logging.getLogger("mlflow.pyfunc")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def _pinned_requirements() -> list[str]:
    pinned = []
    for name in _REQUIREMENTS:
        try:
            pinned.append(f"{name}=={version(name)}")
        except PackageNotFoundError:
            pinned.append(name)
    return pinned


def champion_version(client: MlflowClient, project: str) -> str | None:
    """Version of ``project``'s pair that holds the champion alias, if any."""
    try:
        return str(client.get_model_version_by_alias(pair_model_name(project), CHAMPION).version)
    except MlflowException:
        return None


def load_version(tracking_uri: str, project: str, version: str) -> ModelPair:
    """Read one registered pair version from the store (JSON and LightGBM text only)."""
    client = MlflowClient(tracking_uri=tracking_uri)
    uri = client.get_model_version_download_uri(pair_model_name(project), version)
    try:
        root = Path(
            mlflow.artifacts.download_artifacts(artifact_uri=uri, tracking_uri=tracking_uri)
        )
        flavor = yaml.safe_load((root / "MLmodel").read_text())["flavors"]["python_function"]
    except (MlflowException, FileNotFoundError) as exc:  # a store moved without its artifacts
        raise LookupError(
            f"project {project!r} v{version}: its stored pair cannot be read at {uri} "
            f"({str(exc).splitlines()[0]}); the store's artifact folder (mlruns/ beside "
            "mlflow.db) was moved or deleted? move it back beside the store, or train again"
        ) from None
    return load_pair(root / flavor["data"])


def reference_moved(
    tracking_uri: str, project: str, before: str, after: str, new: Mapping
) -> str | None:
    """A note of how the promoted pair's drift reference ``new`` (version ``after``) differs
    from that of version ``before``, which it replaces (the monitor measures drift from the new
    one on: what changed in between reads as normal); it is also kept as the version's
    ``monitor.reference_moved`` tag. None when nothing moved much, or the replaced pair cannot
    be read: a note never fails the promotion it follows."""
    from training.reference import reference_moves

    try:
        old = load_version(tracking_uri, project, before).meta.get("monitor_reference") or {}
        moves = reference_moves(old, new)
    except (LookupError, MlflowException, OSError, ValueError, TypeError, KeyError):
        return None
    if not moves:
        return None
    note = (
        f"note: v{after}'s drift reference (buyers as of {new.get('cutoff')}) differs from "
        f"v{before}'s (as of {old.get('cutoff')}): {'; '.join(moves)}. The monitor measures "
        f"drift from v{after}'s on, so this change reads as normal from now"
    )
    try:
        MlflowClient(tracking_uri=tracking_uri).set_model_version_tag(
            pair_model_name(project), after, "monitor.reference_moved", note[:5000]
        )
    except (MlflowException, OSError):
        pass  # said in the log all the same
    return note


def sqlite_store(tracking_uri: str) -> Path | None:
    """The file of a ``sqlite:///`` store; None for any other store."""
    prefix = "sqlite:///"
    if not tracking_uri.startswith(prefix):
        return None
    return Path(tracking_uri.removeprefix(prefix).split("?", 1)[0])  # ?timeout=30: options


#: Tracking URIs without a scheme that name a store, not a folder.
SCHEMELESS_STORES = ("databricks", "databricks-uc")


def require_store(tracking_uri: str) -> None:
    """LookupError when ``tracking_uri`` names no store: a ``sqlite:///`` file that does not exist
    (MLflow would create an empty store there, and its missing folder, and every later process
    would read it as "nothing was ever trained"), or a folder (MLflow's file backend, which this
    MLflow refuses with a traceback)."""
    path = sqlite_store(tracking_uri)
    if path is not None and not path.is_file():
        raise LookupError(
            f"no MLflow store at {path} ({tracking_uri}; moved or deleted?): train first "
            "(`lifecycle train`), or give the store that holds the runs and the champion pair "
            "(--tracking-uri or MLFLOW_TRACKING_URI, e.g. sqlite:///PATH/mlflow.db)"
        )
    scheme = urlparse(tracking_uri).scheme
    folder = scheme == "file" or (scheme == "" and tracking_uri not in SCHEMELESS_STORES)
    if path is None and folder:
        raise LookupError(
            f"tracking URI {tracking_uri} is a folder (MLflow's file backend), not a store runs "
            "are tracked in: pass --tracking-uri sqlite:///PATH/mlflow.db (mlruns/ beside it "
            "holds only the runs' artifacts)"
        )


def load_champion_pair(tracking_uri: str, project: str) -> tuple[ModelPair, str]:
    """``project``'s champion pair and its version. LookupError naming the project and the
    projects that have a champion when there is none, or the store when it does not exist."""
    require_store(tracking_uri)
    client = MlflowClient(tracking_uri=tracking_uri)
    found = champion_version(client, project)
    if found is None:
        present = projects(client)
        listed = ", ".join(f"{p} (v{v})" if v else f"{p} (no champion)" for p, v in present.items())
        raise LookupError(
            f"project {project!r} has no champion model pair in {tracking_uri}; projects there: "
            f"{listed or 'none'}; train one with `lifecycle train --project {project}`"
        )
    return load_version(tracking_uri, project, found), found


def projects(client: MlflowClient) -> dict[str, str | None]:
    """Projects with a registered pair, and the version of their champion (None: no champion)."""
    found = {}
    for model in client.search_registered_models(max_results=1000):
        if model.name.endswith(PAIR_SUFFIX):
            found[model.name.removesuffix(PAIR_SUFFIX)] = champion_version(
                client, model.name.removesuffix(PAIR_SUFFIX)
            )
    return dict(sorted(found.items()))


# --------------------------------------------------------------------------- the promotion gate


class NotComparable(Exception):
    """The champion cannot be re-scored on the challenger's test customers; says why."""


@dataclass
class PromotionDecision:
    project: str
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

    def line(self) -> str:
        verdict = (
            "PROMOTED"
            if self.promoted
            else f"kept champion v{self.champion_version}"
            if self.champion_version
            else "no champion"
        )
        return f"promotion {self.model} v{self.version}: {verdict}: {self.reason}"


@dataclass(frozen=True)
class ChampionEvaluation:
    """The champion re-scored on the challenger's test customers: its metrics and, per gate
    metric, the paired bootstrap interval of (challenger - champion) on those customers."""

    metrics: dict[str, float]
    differences: dict[str, tuple[float, float]] = field(default_factory=dict)


def is_not_worse(
    challenger: dict[str, float],
    champion: dict[str, float],
    higher_is_better: dict[str, bool],
    tolerance: float = 1e-9,
    differences: dict[str, tuple[float, float]] | None = None,
) -> tuple[bool, str]:
    """The promotion rule: no gate metric is worse than the champion's. With ``differences``
    (interval of challenger - champion on the same customers), worse means worse beyond the
    resampling noise: the whole interval on the worse side of 0; a metric without one is
    compared point to point."""
    differences = differences or {}
    worse, within = [], []
    for metric, higher in higher_is_better.items():
        new, old = challenger[metric], champion[metric]
        if metric in differences:
            low, high = differences[metric]
            if (higher and high < 0) or (not higher and low > 0):
                worse.append(
                    f"{metric} {new:.4f} vs champion {old:.4f} (beyond noise: difference "
                    f"[{low:+.4f}, {high:+.4f}])"
                )
            elif (higher and new < old) or (not higher and new > old):
                within.append(metric)
        elif (higher and new < old - tolerance) or (not higher and new > old + tolerance):
            worse.append(f"{metric} {new:.4f} vs champion {old:.4f}")
    if worse:
        return False, "worse on " + ", ".join(worse)
    noise = f" (lower on {', '.join(within)} within the resampling noise)" if within else ""
    return True, "not worse on " + ", ".join(higher_is_better) + noise


#: A challenger must rank better than chance on these (metric -> value it must exceed) to become
#: champion, even with no champion to beat: a constant churn score has AUC 0.5, a CLV ranking no
#: better than random has Gini 0 (what a handful of test customers or a degenerate fit gives).
CHANCE_LEVELS: dict[str, float] = {"churn_auc": 0.5, "clv_gini": 0.0}


def no_better_than_chance(challenger: dict[str, float]) -> list[str]:
    """The gate metrics on which ``challenger`` is not better than chance (NaN counts as not)."""
    return [
        f"{metric} {challenger[metric]:.4f} (must exceed {level:g})"
        for metric, level in CHANCE_LEVELS.items()
        if metric in challenger and not challenger[metric] > level
    ]


def lock_path(tracking_uri: str, purpose: str = "gate") -> Path:
    """A lock file of a store: next to a SQLite store (``mlflow.db.gate.lock``), else one per store
    URI in the temp folder (a tracking server shared by several machines needs its own
    serialization)."""
    if (store := sqlite_store(tracking_uri)) is not None:
        return store.with_name(f"{store.name}.{purpose}.lock")
    digest = hashlib.sha256(tracking_uri.encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"lifecycle-{purpose}-{digest}.lock"


@contextmanager
def store_lock(
    tracking_uri: str, purpose: str, waiting: str | None = None, log=print
) -> Iterator[None]:
    """Hold an OS file lock of a store (released when the process dies, even by kill -9)."""
    path = lock_path(tracking_uri, purpose)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if waiting:
                log(f"{waiting} ({path})")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def gate_lock(tracking_uri: str, log=print):
    """Hold the promotion gate of a store: read champion, re-score, move the alias."""
    return store_lock(
        tracking_uri, "gate", "waiting for the promotion gate: another training is deciding", log
    )


def identical_to(tracking_uri: str, project: str, version: str, champion: str) -> str | None:
    """Why ``version`` is not promoted when it predicts exactly as the ``champion`` does (the
    same training windows and rows: a weekly retrain inside one month's cutoffs). Moving the
    alias to such a copy told every service to restart for nothing and reset the monitoring
    reference to data the models never learnt from. None when they differ or cannot be read."""
    try:
        ours, theirs = (load_version(tracking_uri, project, v) for v in (version, champion))
    except BundleError:
        return None
    if models_digest(ours) != models_digest(theirs):
        return None
    return (
        f"identical to the champion v{champion} (same models, calibration and thresholds: "
        "trained on the same windows and rows); the champion stays"
    )


def promote(
    tracking_uri: str,
    project: str,
    version: str,
    challenger: dict[str, float],
    evaluate_champion: Callable[[ModelPair], dict[str, float] | ChampionEvaluation],
    *,
    force: bool = False,
    log=print,
) -> PromotionDecision:
    """Give ``version`` the champion alias if it ranks better than chance (``CHANCE_LEVELS``) and is
    not worse than ``project``'s champion re-scored by ``evaluate_champion`` on the challenger's
    test customers -- beyond the resampling noise when it returns a ``ChampionEvaluation`` with
    paired intervals (``NotComparable``: kept unless ``force``). Read, evaluation and alias move
    happen under the gate lock."""
    client = MlflowClient(tracking_uri=tracking_uri)
    name = pair_model_name(project)
    for metric, value in challenger.items():
        client.set_model_version_tag(name, version, f"test_{metric}", f"{value:.6f}")
    with gate_lock(tracking_uri, log=log):
        current = champion_version(client, project)
        chance = no_better_than_chance(challenger)
        if chance:
            why = "no better than chance on this run's test customers: " + ", ".join(chance)
            decision = PromotionDecision(
                project,
                name,
                version,
                force,
                force,
                f"FORCED: promoted although {why}" if force else f"{why}; not promoted",
                challenger,
                champion_version=current,
            )
        elif current is None:
            decision = PromotionDecision(
                project, name, version, True, force, "no champion yet", challenger
            )
        elif not force and (same := identical_to(tracking_uri, project, version, current)):
            decision = PromotionDecision(
                project, name, version, False, False, same, challenger, champion_version=current
            )
        else:
            champion: dict[str, float] = {}
            try:
                evaluated = evaluate_champion(load_version(tracking_uri, project, current))
                if not isinstance(evaluated, ChampionEvaluation):
                    evaluated = ChampionEvaluation(evaluated)
                champion = evaluated.metrics
                ok, why = is_not_worse(
                    challenger, champion, GATE_METRICS, differences=evaluated.differences
                )
                why = f"{why} (champion v{current} re-scored on this run's test customers)"
            except NotComparable as exc:
                # what to do is said only where the champion stays: a forced promotion is done
                ok, why = False, f"champion v{current} is not comparable: {exc}"
                if not force:
                    why += (
                        "; the gate cannot judge the pair, so the champion stays: to serve this "
                        "one (e.g. a horizon changed on purpose), train it again with --force"
                    )
            except BundleError as exc:  # a damaged champion: only --force replaces it
                ok, why = False, f"champion v{current} cannot be loaded ({exc})"
            reason = f"FORCED: promoted although {why}" if force and not ok else why
            decision = PromotionDecision(
                project,
                name,
                version,
                ok or force,
                force and not ok,
                reason,
                challenger,
                champion,
                current,
            )
        pause_point("gate_decided", log)
        if decision.promoted:
            client.set_registered_model_alias(name, CHAMPION, version)
        # after the alias: a version killed before it never claims a decision that did not happen
        client.set_model_version_tag(name, version, "promoted", str(decision.promoted).lower())
        client.set_model_version_tag(name, version, CHAMPION_AT_DECISION, current or "")
        client.set_model_version_tag(name, version, "promotion", decision.reason)
    return decision


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
