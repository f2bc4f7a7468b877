"""A trained model store and a running ``bentoml serve`` for service tests and the benchmark.

``prepare_store`` runs the real pipeline on a small synthetic data set: generate -> train
(``experiments/btyd-features.yaml`` with small LightGBM settings, into a temporary SQLite
MLflow store) -> score like ``lifecycle score`` (scores + ``.snapshot.parquet``).
``running_server`` starts ``bentoml serve`` on a free loopback port against it and waits for
``/readyz``. Import the pytest fixtures ``trained_store`` and ``server`` into a test module.
What the service tests share is here too: the ``snapshot`` and ``batch_scores`` fixtures,
``feature_rows`` (snapshot rows as posted), ``assert_same_as_batch`` and ``run_schemathesis``.
"""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import httpx
import pandas as pd
import psutil
import pytest

REPO = Path(__file__).resolve().parents[1]
BENTOML = Path(sys.executable).with_name("bentoml")
API_KEY = "test-key-7c1f0d9e4b2a8f63"
PROJECT = "servicetest"
SMALL_LIGHTGBM = {
    "n_estimators": 60,
    "learning_rate": 0.1,
    "num_leaves": 15,
    "min_child_samples": 20,
    "early_stopping_rounds": 0,
}


@dataclass(frozen=True)
class TrainedStore:
    """Where a prepared store lives: data, MLflow registry, scores and the feature snapshot."""

    root: Path
    data_dir: Path
    tracking_uri: str
    scores: Path
    snapshot: Path
    as_of: date
    project: str = PROJECT


@dataclass(frozen=True)
class Server:
    url: str
    process: subprocess.Popen
    log: Path

    def client(self, api_key: str | None = API_KEY, timeout: float = 30.0) -> httpx.Client:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=timeout)


def prepare_store(root: Path, n_customers: int = 1500, seed: int = 7) -> TrainedStore:
    """Generate, train and score into ``root`` (about 20 s for 1,500 customers)."""
    import inspect

    from features.synthetic import generate
    from serving.batch import feature_snapshot, score_snapshot
    from serving.scorer import load_champion_pair
    from training.config import load_config
    from training.dataset import data_bounds
    from training.train import train

    root.mkdir(parents=True, exist_ok=True)
    data_dir = root / "data"
    generate(data_dir, n_customers, seed)
    tracking_uri = f"sqlite:///{root / 'mlflow.db'}"
    config = load_config(
        REPO / "experiments" / "btyd-features.yaml",
        data=None,
        seed=seed,
        tracking={"tracking_uri": tracking_uri, "artifact_root": str(root / "mlruns")},
        churn={"params": SMALL_LIGHTGBM, "offset": "btyd"},  # a key replaces the YAML's
        clv={"params": SMALL_LIGHTGBM, "offset": "btyd"},
        snapshots={"n_train": 3},
    )
    options = {}
    parameters = inspect.signature(train).parameters
    if "project" in parameters:  # the per-project registry (champion pairs)
        from serving.scoring import fit_scoring_thresholds

        options = {"project": PROJECT, "scoring_thresholds": fit_scoring_thresholds}
    train(config, data_dir, progress=False, log=lambda _: None, **options)  # to config's store
    champions = load_champion_pair(tracking_uri, PROJECT)
    as_of = data_bounds(data_dir)[1]
    snapshot = feature_snapshot(data_dir, as_of, champions, progress=False)
    scores_path = root / "scores.parquet"
    score_snapshot(snapshot, champions, as_of).to_parquet(scores_path, index=False)
    snapshot_path = scores_path.with_name(scores_path.stem + ".snapshot.parquet")
    snapshot.to_parquet(snapshot_path, index=False)
    return TrainedStore(root, data_dir, tracking_uri, scores_path, snapshot_path, as_of)


def existing_store(root: Path) -> TrainedStore | None:
    """The store ``prepare_store`` left in ``root`` (None when there is no feature snapshot)."""
    snapshot = root / "scores.snapshot.parquet"
    if not snapshot.exists():
        return None
    cutoff = pd.read_parquet(snapshot, columns=["cutoff"])["cutoff"].iloc[0]
    return TrainedStore(
        root,
        root / "data",
        f"sqlite:///{root / 'mlflow.db'}",
        root / "scores.parquet",
        snapshot,
        pd.Timestamp(cutoff).date(),
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(store: TrainedStore, api_key: str | None = API_KEY, **extra: str) -> dict[str, str]:
    """The environment ``bentoml serve`` needs for ``store`` (no usage tracking, own BentoML
    home)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("LIFECYCLE_", "MLFLOW_"))
    }
    env.update(
        {
            "MLFLOW_TRACKING_URI": store.tracking_uri,
            "LIFECYCLE_SNAPSHOT": str(store.snapshot),
            "LIFECYCLE_PROJECT": store.project,
            "BENTOML_HOME": str(store.root / "bentoml"),
            "BENTOML_DO_NOT_TRACK": "True",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        }
    )
    if api_key:
        env["LIFECYCLE_API_KEY"] = api_key
    env.update(extra)
    return env


def spawn_server(
    store: TrainedStore, *, env: dict[str, str] | None = None, port: int | None = None
) -> Server:
    """Start ``bentoml serve serving.service:LifecycleService`` on loopback (no waiting)."""
    port = port or free_port()
    log = store.root / f"server-{port}.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [
                str(BENTOML),
                "serve",
                "serving.service:LifecycleService",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--working-dir",
                str(REPO),
            ],
            cwd=store.root,
            env=env or server_env(store),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return Server(f"http://127.0.0.1:{port}", process, log)


@contextmanager
def running_server(
    store: TrainedStore,
    *,
    env: dict[str, str] | None = None,
    port: int | None = None,
    timeout: float = 180.0,
) -> Iterator[Server]:
    """``bentoml serve serving.service:LifecycleService`` on loopback until the block ends."""
    server = spawn_server(store, env=env, port=port)
    try:
        wait_ready(server, timeout)
        yield server
    finally:
        stop(server.process)


def wait_ready(server: Server, timeout: float) -> float:
    """Poll ``/readyz`` until 200; return the seconds waited. Fails with the server log's tail."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if server.process.poll() is not None:
            break
        try:
            if httpx.get(f"{server.url}/readyz", timeout=2).status_code == 200:
                return time.monotonic() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    tail = server.log.read_text(errors="replace")[-3000:]
    raise RuntimeError(
        f"the service at {server.url} was not ready within {timeout:.0f} s; log:\n{tail}"
    )


def stop(process: subprocess.Popen) -> None:
    """Stop the server: SIGTERM (graceful), then SIGKILL for anything left, workers included
    (BentoML's process manager runs workers in their own process groups)."""
    try:
        workers = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        workers = []
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    _, alive = psutil.wait_procs(workers, timeout=5)
    for worker in alive:
        with suppress(psutil.NoSuchProcess):
            worker.kill()


#: One store and one server per test session, whichever test modules import the fixtures (each
#: import registers the fixtures again; without this every module would train and serve anew).
_SHARED: dict[str, object] = {}


@pytest.fixture(scope="session")
def trained_store(tmp_path_factory) -> TrainedStore:
    if "store" not in _SHARED:
        _SHARED["store"] = prepare_store(tmp_path_factory.mktemp("service"))
    return _SHARED["store"]


@pytest.fixture(scope="session")
def server(trained_store) -> Iterator[Server]:
    if "server" in _SHARED:
        yield _SHARED["server"]
        return
    with running_server(trained_store) as running:
        _SHARED["server"] = running
        try:
            yield running
        finally:
            _SHARED.pop("server", None)


# --- what the service tests share ----------------------------------------------------------------


@pytest.fixture(scope="module")
def snapshot(trained_store) -> pd.DataFrame:
    """The feature snapshot the server serves."""
    return pd.read_parquet(trained_store.snapshot)


@pytest.fixture(scope="module")
def batch_scores(trained_store) -> pd.DataFrame:
    """What batch scoring wrote, by customer id: the service must answer the same."""
    return pd.read_parquet(trained_store.scores).set_index("customer_id", drop=False)


def feature_rows(frame: pd.DataFrame, drop: tuple[str, ...] = ()) -> list[dict]:
    """Feature rows as posted feature objects (null for NaN, plain Python numbers)."""
    from serving.schemas import CustomerFeatures

    part = frame[[c for c in CustomerFeatures.model_fields if c in frame.columns and c not in drop]]
    return part.astype(object).where(part.notna(), None).to_dict("records")


def assert_same_as_batch(score: dict, expected: pd.Series) -> None:
    """A score from the service (JSON) equals the batch score: same fields in the same order,
    the same numbers."""
    from serving.scoring import SCORE_COLUMNS

    assert list(score) == list(SCORE_COLUMNS)
    for column in SCORE_COLUMNS:
        want = expected[column]
        if column == "as_of":
            want = pd.Timestamp(want).date().isoformat()
        elif column == "reasons":
            want = list(want)
        elif column == "saved_value_by_action" and want is not None:
            want = json.loads(want)  # JSON text in score files, an object in the API
        if isinstance(want, float) and math.isnan(want):
            want = None  # a prospect's churn probability; no uplift champion: no saved value
        if isinstance(want, float):
            assert score[column] == pytest.approx(want, rel=1e-12, abs=1e-12), column
        else:
            assert score[column] == want, column


def run_schemathesis(
    server: Server,
    report_dir: Path,
    *options: str,
    config: Path | None = None,
    timeout: float = 180.0,
) -> subprocess.CompletedProcess:
    """Schemathesis (``st run``) against the server's OpenAPI document with the API key, a
    fixed ``--seed`` in ``options``, no example database and a 30 s request timeout."""
    command = [str(Path(sys.executable).with_name("st"))]
    if config is not None:
        command += ["--config-file", str(config)]
    command += [
        "run",
        f"{server.url}/docs.json",
        "-H",
        f"Authorization: Bearer {API_KEY}",
        *options,
        "--generation-database",
        "none",
        "--request-timeout",
        "30",
        "--no-color",
        "--report-dir",
        str(report_dir),
    ]
    return subprocess.run(command, check=False, capture_output=True, text=True, timeout=timeout)
