"""Faults of the registry, with real `lifecycle train` processes on one SQLite MLflow store:
kill -9 at named points of a training (``LIFECYCLE_PAUSE_AT`` makes the process wait there) leaves
the previous pair serving; the next training marks the killed runs FAILED; two trainings at once
each get exactly one gate decision, taken one after the other."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from small_disk import mount_tmpfs

from serving.batch import load_champions
from training.registry import PAUSE_AT_ENV, pair_model_name

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
LIFECYCLE = Path(sys.executable).with_name("lifecycle")
SMALL = (
    "{n_estimators: 20, learning_rate: 0.1, num_leaves: 7, min_child_samples: 20,"
    " early_stopping_rounds: 0}"
)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    from features.synthetic import generate

    root = tmp_path_factory.mktemp("faults")
    generate(root / "shop", 500, 11)
    config = root / "small.yaml"
    config.write_text(
        "name: small\nfeatures:\n  families: [rfm, calendar]\nsnapshots:\n  n_train: 1\n"
        f"churn:\n  params: {SMALL}\nclv:\n  params: {SMALL}\n"
        f"tracking:\n  tracking_uri: sqlite:///{root / 'mlflow.db'}\n  artifact_root: "
        f"{root / 'mlruns'}\n"
    )
    return root


class Training:
    """A `lifecycle train` subprocess whose stderr lines are collected as they come. Each one
    trains with a seed of its own: a pair identical to the champion is never promoted, and these
    trainings must differ for the alias to move."""

    seeds = itertools.count(1)

    def __init__(self, store: Path, project: str, pause_at: str | None = None):
        env = {k: v for k, v in os.environ.items() if k != PAUSE_AT_ENV}
        if pause_at:
            env[PAUSE_AT_ENV] = pause_at
        self.lines: list[str] = []
        seed = next(self.seeds)
        config = store / f"small-{seed}.yaml"
        config.write_text((store / "small.yaml").read_text() + f"seed: {seed}\n")
        self.process = subprocess.Popen(
            [
                str(LIFECYCLE),
                "train",
                "--config",
                str(config),
                "--data",
                str(store / "shop"),
                "--project",
                project,
            ],
            cwd=store,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stderr:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, text: str, timeout: float = 600) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.lines):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self._reader.join(5)
                raise AssertionError(f"never saw {text!r}; stderr:\n" + "\n".join(self.lines[-30:]))
            time.sleep(0.2)

    def finish(self, timeout: float = 600) -> list[str]:
        assert self.process.wait(timeout) == 0, "\n".join(self.lines[-30:])
        self._reader.join(5)
        return self.lines

    def decisions(self) -> list[str]:
        return [line for line in self.lines if line.startswith("promotion ")]


def _run_of(client: MlflowClient, project: str, pid: int) -> str:
    """The run of the training process ``pid`` (its owner tag)."""
    experiment = client.get_experiment_by_name(f"{project}/small")
    (run,) = [
        r.info.run_id
        for r in client.search_runs([experiment.experiment_id])
        if r.data.tags.get("lifecycle.pid") == str(pid)
    ]
    return run


def _assert_consistent_champion(uri: str, client: MlflowClient, project: str, version: str) -> None:
    champions = load_champions(uri, project)
    assert champions.version == version
    registered = client.get_model_version(pair_model_name(project), version)
    assert champions.meta["run_id"] == registered.run_id  # both models and thresholds of one run
    assert champions.churn.columns == champions.clv.columns and champions.scoring is not None


def test_kill_9_at_any_point_leaves_the_previous_pair_serving(store):
    uri = f"sqlite:///{store / 'mlflow.db'}"
    first = Training(store, "shop")
    first.finish()
    assert "PROMOTED: no champion yet" in first.decisions()[0]
    client = MlflowClient(tracking_uri=uri)
    _assert_consistent_champion(uri, client, "shop", "1")

    killed = {}
    # The three kills before the alias can move run side by side (the one paused in the gate holds
    # its lock, so no alias moves meanwhile); the kill after the alias moved comes alone, after.
    before_alias = {
        point: Training(store, "shop", pause_at=point)
        for point in ("after_fit", "after_register", "gate_decided")
    }
    for point, training in before_alias.items():
        training.wait_for(f"paused at {point}")
    trainings = [*before_alias.values()]
    for point, training in [*before_alias.items(), ("after_alias", None)]:
        if training is None:
            training = Training(store, "shop", pause_at=point)
            trainings.append(training)
            training.wait_for(f"paused at {point}")
        training.process.kill()  # SIGKILL: no cleanup runs
        training.process.wait(30)
        run_id = _run_of(client, "shop", training.process.pid)
        killed[point] = run_id
        assert client.get_run(run_id).info.status == "RUNNING"
        champion = "1"
        if (
            point == "after_alias"
        ):  # the alias moved before the kill: the new pair is whole and serving
            champion = max(
                (
                    str(v.version)
                    for v in client.search_model_versions(f"name='{pair_model_name('shop')}'")
                    if v.run_id == run_id
                ),
                key=int,
            )
        _assert_consistent_champion(uri, client, "shop", champion)
    # the version killed at the gate, before its decision took effect, claims none: no alias, no
    # decision in its promotion tag (written once the alias has moved; a later training that finds
    # the run dead tags it abandoned)
    gate_version = next(
        v
        for v in client.search_model_versions(f"name='{pair_model_name('shop')}'")
        if v.run_id == killed["gate_decided"]
    )
    assert gate_version.tags.get("promotion", "abandoned").startswith("abandoned")

    after = Training(store, "shop")
    after.finish(timeout=900)  # the lock of the process killed in the gate is gone
    lines = [line for t in [*trainings, after] for line in t.lines]  # each start marks the dead
    for point, run_id in killed.items():
        run = client.get_run(run_id)
        assert run.info.status == "FAILED", point
        assert "is gone" in run.data.tags["lifecycle.failed_reason"]
        assert sum(f"marked run {run_id}" in line for line in lines) == 1, point
    assert len(after.decisions()) == 1
    # versions registered by runs that died before their gate decision say so
    tags = {
        v.run_id: v.tags.get("promotion", "")
        for v in client.search_model_versions(f"name='{pair_model_name('shop')}'")
    }
    for point in ("after_register", "gate_decided"):
        assert tags[killed[point]].startswith("abandoned: its training died before the gate")
    assert not tags[killed["after_alias"]].startswith("abandoned")  # decided, then killed


def test_two_trainings_at_once_decide_one_after_the_other(store):
    uri = f"sqlite:///{store / 'mlflow.db'}"
    trainings = [Training(store, "race"), Training(store, "race")]
    for training in trainings:
        training.finish(timeout=900)
    decisions = [t.decisions() for t in trainings]
    assert [len(d) for d in decisions] == [1, 1]
    reasons = sorted((d[0] for d in decisions), key=lambda line: "no champion yet" not in line)
    first_version = reasons[0].split(" v")[1].split(":")[0]
    assert "PROMOTED: no champion yet" in reasons[0]
    assert f"champion v{first_version} re-scored" in reasons[1]  # read after the first decision
    client = MlflowClient(tracking_uri=uri)
    versions = {
        str(v.version) for v in client.search_model_versions(f"name='{pair_model_name('race')}'")
    }
    assert len(versions) == 2
    champion = load_champions(uri, "race").version
    assert champion in versions
    assert all(
        client.get_model_version(pair_model_name("race"), v).tags.get("promotion") for v in versions
    )


@pytest.fixture
def small_disk(tmp_path):
    """A 6 MiB tmpfs at ``tmp_path / "disk"`` (skipped where mounting is not allowed)."""
    disk = mount_tmpfs(tmp_path / "disk", "6m")
    try:
        yield disk
    finally:
        # lazy: this process may still hold the SQLite store open (MLflow caches its engine)
        subprocess.run(["umount", "--lazy", str(disk)], check=True)


def _fill(disk: Path, leave: int) -> Path:
    """A file taking all the free space of ``disk`` but ``leave`` bytes."""
    filler = disk / "filler"
    free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
    with filler.open("wb") as out:
        out.write(b"\0" * max(free - leave, 0))
    return filler


def test_a_full_store_disk_is_one_line_naming_it_and_the_champion_stays(store, small_disk):
    """A training whose MLflow store fills up -- in its SQLite database (a few KiB free) or while
    writing the run's artifacts (more free) -- stops with one line naming the store's folder,
    without MLflow's logged SQL and traceback; the champion stays and loads, and the next
    training with space promotes."""
    uri = f"sqlite:///{small_disk / 'store' / 'mlflow.db'}"
    config = small_disk.parent / "full.yaml"
    config.write_text(
        (store / "small.yaml").read_text().split("tracking:")[0]
        + f"tracking:\n  tracking_uri: {uri}\n"
    )

    def train(seed: int) -> subprocess.CompletedProcess:
        seeded = small_disk.parent / f"full-{seed}.yaml"
        seeded.write_text(config.read_text() + f"seed: {seed}\n")
        return subprocess.run(
            [str(LIFECYCLE), "train", "--config", str(seeded), "--data", str(store / "shop")],
            cwd=small_disk.parent,
            capture_output=True,
            text=True,
            env={k: v for k, v in os.environ.items() if k != "LIFECYCLE_DEBUG"},
            timeout=600,
        )

    first = train(1)
    assert first.returncode == 0, first.stderr[-3000:]
    client = MlflowClient(tracking_uri=uri)
    champion = load_champions(uri, "shop").version
    artifacts = sum(
        f.stat().st_size for f in (small_disk / "store" / "mlruns").rglob("*") if f.is_file()
    )
    for seed, leave in ((2, 8 * 1024), (3, artifacts // 3)):
        filler = _fill(small_disk, leave)
        failed = train(seed)
        filler.unlink()
        assert failed.returncode == 2, failed.stderr[-3000:]
        last = failed.stderr.strip().splitlines()[-1]
        assert last.startswith(
            f"error: the disk of the MLflow store in {small_disk / 'store'} is full"
        )
        assert "Traceback" not in failed.stderr and "[SQL:" not in failed.stderr
        _assert_consistent_champion(uri, client, "shop", champion)
    assert train(4).returncode == 0
    assert load_champions(uri, "shop").version != champion


def test_a_champion_whose_stored_files_are_gone_is_one_line_naming_them(tmp_path):
    """A store moved without its artifact folder: the champion cannot be read, said in one line
    with where it was looked for, not MLflow's traceback."""
    import shutil

    from registry_fixtures import register, tiny_pair, tracking
    from typer.testing import CliRunner

    from lifecycle_cli import app
    from training.registry import promote

    store = tracking(tmp_path)
    version = register(tiny_pair(0, project="shop"), "shop", store)
    metrics = {"churn_auc": 0.8, "clv_gini": 0.5, "clv_mae": 10.0}
    promote(store.tracking_uri, "shop", version, metrics, lambda c: metrics)
    load_champions(store.tracking_uri, "shop")  # readable while the files are there
    shutil.rmtree(store.artifact_root)
    with pytest.raises(LookupError, match="its stored pair cannot be read at"):
        load_champions(store.tracking_uri, "shop")
    from features.synthetic import generate

    generate(tmp_path / "shop", 200, 3, progress=False)
    result = CliRunner().invoke(
        app,
        ["score", "--data", str(tmp_path / "shop"), "--tracking-uri", store.tracking_uri]
        + ["--out", str(tmp_path / "s.parquet")],
    )
    assert result.exit_code == 2 and "its stored pair cannot be read at" in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
