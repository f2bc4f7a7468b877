"""Finding the runs to compare in an MLflow store, through a client built on an explicit URI.

Training and backtest runs share one layout: tags ``kind``, ``data`` (and ``project`` when the
run was tracked for one; training runs also ``data_path``), ``test_*`` metrics,
``data_fingerprint.json``, ``feature_importance.json`` and ``predictions/test.parquet``. Nothing
here sets process-wide MLflow state.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import pandas as pd

from training import DEFAULT_TRACKING_URI

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

KINDS_WITH_TEST_METRICS = ("train", "backtest")
#: The run kinds a comparison can be restricted to (``compare --kind``).
COMPARED_KINDS = (*KINDS_WITH_TEST_METRICS, "uplift")
_PAGE = 200
T = TypeVar("T")


@dataclass
class RunRecord:
    """What the comparison needs from one MLflow run."""

    experiment: str
    run_id: str
    metrics: dict[str, float]
    kind: str | None = None
    data: str | None = None
    start_time: datetime | None = None
    params: dict[str, str] = field(default_factory=dict)
    fingerprint: dict | None = None
    importance: dict[str, dict[str, float]] | None = None
    predictions: pd.DataFrame | None = None
    project: str | None = None
    data_path: str | None = None  # the folder read (tag ``data_path``; ``data`` is its base name)
    unreadable: list[str] = field(default_factory=list)  # artifacts that exist but cannot be read

    @property
    def test_cutoffs(self) -> list[str]:
        if self.predictions is not None and "cutoff" in self.predictions:
            return sorted(
                {str(pd.Timestamp(c).date()) for c in self.predictions["cutoff"].unique()}
            )
        return list((self.fingerprint or {}).get("cutoffs", {}).get("test", []))

    @property
    def horizon(self) -> str:
        """The label horizons the test metrics are measured over, from the run's params, with
        the value label when it is not plain revenue (margin, discounted): another target."""
        p = self.params
        if "horizon_days" in p:  # backtest runs
            said = f"{p['horizon_days']} d"
        else:
            labels = (
                ("churn", "labels.churn_horizon_days"), ("value", "labels.value_horizon_days"),
            )  # fmt: skip
            said = ", ".join(f"{what} {p[key]} d" for what, key in labels if key in p)
        return said + self._value_label if said else said

    @property
    def _value_label(self) -> str:
        """`` of margin``, `` discounted 20% a year``: what the value label sums, when not the
        default (revenue, undiscounted); "" otherwise."""
        value = self.params.get("labels.value", "revenue")
        rate = float(self.params.get("labels.annual_discount_rate", 0) or 0)
        return ("" if value == "revenue" else f" of {value}") + (
            f" discounted {rate:.0%} a year" if rate else ""
        )


@dataclass(frozen=True)
class RunFilter:
    """Which runs count: of ``kind`` (default: train or backtest), on ``data``, for ``project``.

    A run without a ``project`` tag belongs to the project named like its ``data`` tag.
    """

    kind: str | None = None
    data: str | None = None
    project: str | None = None

    def matches(self, tags: dict[str, str]) -> bool:
        if "mlflow.parentRunId" in tags:
            return False  # e.g. tuning trials
        kinds = (self.kind,) if self.kind else KINDS_WITH_TEST_METRICS
        if tags.get("kind") not in kinds:
            return False
        if self.data and tags.get("data") != self.data:
            return False
        return not self.project or run_project(tags) == self.project

    def describe(self) -> str:
        """``kind=..., data=..., project=...`` for the filters that are set."""
        pairs = (("kind", self.kind), ("data", self.data), ("project", self.project))
        return ", ".join(f"{key}={value}" for key, value in pairs if value)


def run_project(tags: dict[str, str]) -> str | None:
    """The project a run belongs to: its ``project`` tag, else its ``data`` tag."""
    return tags.get("project") or tags.get("data")


def load_runs(
    names: Sequence[str] | None,
    tracking_uri: str = DEFAULT_TRACKING_URI,
    runs: RunFilter | None = None,
) -> tuple[dict[str, RunRecord], list[str], list[str]]:
    """The latest finished matching run of each experiment (all experiments, oldest first, when
    ``names`` is None). Returns the runs, the asked-for names without one, and a warning per
    experiment whose newest matching run did not finish (failed, killed or still running).

    A name is looked up without its project prefix: ``baseline`` is the MLflow experiment
    ``baseline`` and every ``<project>/baseline`` (only ``<project>`` when the filter names one);
    a name with a ``/`` is taken as the exact MLflow experiment name.
    """
    from mlflow.tracking import MlflowClient

    from training.registry import require_store

    require_store(tracking_uri)
    client = MlflowClient(tracking_uri=tracking_uri)
    wanted = runs or RunFilter()
    found: dict[str, RunRecord] = {}
    missing: list[str] = []
    unfinished: list[str] = []
    for name, experiments in _experiments_by_name(client, names, wanted.project).items():
        newest, run = _newest_and_finished(client, experiments, wanted)
        if newest is not None and newest is not run:
            unfinished.append(_unfinished_warning(name, newest, run))
        if run is not None:
            found[name] = _record(client, name, run)
        elif names is not None:
            missing.append(name)
    return found, missing, unfinished


def _started(run) -> str:
    return datetime.fromtimestamp(run.info.start_time / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def _unfinished_warning(name: str, newest, shown) -> str:
    """Says that the run shown under ``name`` is not its newest: the newest failed or was killed."""
    status = newest.info.status
    if status == "RUNNING":
        status = _running_status(newest.data.tags)
    said = (
        f"{name}: its newest run {newest.info.run_id[:8]} (started {_started(newest)}) did not "
        f"finish ({status})"
    )
    if shown is None:
        return f"{said}; it has no finished run, so it is not compared"
    return f"{said}; shown instead: the older run {shown.info.run_id[:8]} ({_started(shown)})"


def _running_status(tags: dict[str, str]) -> str:
    """Whether a RUNNING run still runs: its owner tags name its process (this host only)."""
    from training.process_owner import owner_alive

    pid = tags.get("lifecycle.pid")
    alive = owner_alive(tags.get("lifecycle.host"), pid, tags.get("lifecycle.pid_started"))
    if alive is False:
        return f"RUNNING, but its process {pid} is gone: killed"
    if alive:
        return f"RUNNING: still running, process {pid}"
    return "RUNNING: still running, or killed before it could be marked"


def projects_with_runs(tracking_uri: str, runs: RunFilter | None = None) -> list[str]:
    """The projects that have finished runs ``runs`` matches, sorted (every run is read)."""
    from mlflow.tracking import MlflowClient

    from training.registry import require_store

    require_store(tracking_uri)
    client = MlflowClient(tracking_uri=tracking_uri)
    wanted = runs or RunFilter()
    ids = [e.experiment_id for e in client.search_experiments()]
    found = {
        str(run_project(run.data.tags))
        for run in (_finished_runs(client, ids) if ids else ())
        if wanted.matches(run.data.tags)
    }
    return sorted(found)


def _experiments_by_name(
    client, names: Sequence[str] | None, project: str | None
) -> dict[str, list]:
    """Name (without project prefix) -> the MLflow experiments that hold its runs."""
    groups: dict[str, list] = {}
    for experiment in sorted(client.search_experiments(),
                             key=lambda e: (e.creation_time or 0, e.name)):  # fmt: skip
        prefix, _, short = experiment.name.rpartition("/")
        if not (project and prefix and prefix != project):
            groups.setdefault(short, []).append(experiment)
    if names is None:
        return groups
    exact = {n: client.get_experiment_by_name(n) for n in names if "/" in n}
    return {
        n: ([exact[n]] if exact[n] else []) if n in exact else groups.get(n, [])
        for n in dict.fromkeys(names)
    }


def _newest_and_finished(client, experiments: list, runs: RunFilter) -> tuple:
    """The newest run of ``experiments`` that ``runs`` matches, whatever its status, and the
    newest finished one (the same run when the newest finished); None when there is none."""
    if not experiments:
        return None, None
    ids = [e.experiment_id for e in experiments]
    newest = None
    # tags are matched in Python, not in the filter string: no quoting of data names or paths
    for run in _runs(client, ids):
        if not runs.matches(run.data.tags):
            continue
        newest = newest or run
        if run.info.status == "FINISHED":
            return newest, run
    return newest, None


def _finished_runs(client, experiment_ids: list[str]) -> Iterator:
    """Finished runs of the experiments, newest first, a page at a time."""
    return _runs(client, experiment_ids, "attributes.status = 'FINISHED'")


def _runs(client, experiment_ids: list[str], where: str = "") -> Iterator:
    """Runs of the experiments (all statuses unless ``where`` says), newest first, by pages."""
    page_token = None
    while True:
        page = client.search_runs(
            experiment_ids,
            where,
            order_by=["attributes.start_time DESC"],
            max_results=_PAGE,
            page_token=page_token,
        )
        yield from page
        page_token = page.token
        if not page_token:
            return


def _record(client, experiment_name: str, run) -> RunRecord:
    tags, run_id = run.data.tags, run.info.run_id
    with tempfile.TemporaryDirectory() as tmp:
        artifacts = _Artifacts(client, run_id, Path(tmp))
        return RunRecord(
            experiment=experiment_name,
            run_id=run_id,
            metrics=dict(run.data.metrics),
            kind=tags.get("kind"),
            data=tags.get("data"),
            project=run_project(tags),
            data_path=tags.get("data_path"),
            start_time=datetime.fromtimestamp(run.info.start_time / 1000, tz=UTC),
            params=dict(run.data.params),
            fingerprint=artifacts.read("data_fingerprint.json", _read_json),
            importance=artifacts.read("feature_importance.json", _read_json),
            predictions=artifacts.read("predictions/test.parquet", pd.read_parquet),
            unreadable=artifacts.unreadable,
        )


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


@dataclass
class _Artifacts:
    """One run's artifacts, downloaded into ``folder``. A missing artifact is None; one that
    cannot be read is None too, and named in ``unreadable``."""

    client: MlflowClient
    run_id: str
    folder: Path
    unreadable: list[str] = field(default_factory=list)

    def _download(self, path: str) -> Path | None:
        from mlflow.exceptions import MlflowException

        try:
            local = Path(self.client.download_artifacts(self.run_id, path, str(self.folder)))
        except (MlflowException, OSError):
            return None
        return local if local.is_file() else None

    def read(self, path: str, reader: Callable[[Path], T]) -> T | None:
        local = self._download(path)
        if local is None:
            return None
        try:
            return reader(local)
        except (ValueError, OSError) as exc:  # e.g. a truncated Parquet file, invalid JSON
            self.unreadable.append(f"{path} ({type(exc).__name__}: {str(exc)[:120]})")
            return None
