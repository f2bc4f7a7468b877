# ruff: noqa: F811  (tests take the imported fixtures `server`, `snapshot`, ... as arguments)
"""The scoring service under faults and hostile input, over real HTTP (issue 9).

- isolation: poison rows beside valid requests (adaptive batching merges them), per-row fallback;
- bounded metrics: 20,000 junk paths; two instances on one BENTOML_HOME do not mix;
- fail fast: each misconfiguration exits non-zero in one line, or stays up with /readyz 503;
- logs: a client error is one line without body or traceback;
- the OpenAPI document describes every answer (schemathesis --checks all).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pandas as pd
import psutil
import pytest
from service_fixtures import (  # noqa: F401 (fixtures)
    API_KEY,
    REPO,
    assert_same_as_batch,
    batch_scores,
    feature_rows,
    free_port,
    run_schemathesis,
    running_server,
    server,
    server_env,
    snapshot,
    spawn_server,
    stop,
    trained_store,
    wait_ready,
)

from serving.schemas import CustomerFeatures
from training.dataset import BTYD_COLUMNS as BTYD

EXIT_BOUND_S = 120.0  # generous: start-up imports take 5-20 s on two busy cores


# --- helpers -------------------------------------------------------------------------------------


def buyers(snapshot: pd.DataFrame, n: int, min_orders: int = 1) -> pd.DataFrame:
    rows = snapshot[(snapshot["is_prospect"] == 0) & (snapshot["orders_all"] >= min_orders)]
    return rows.head(n)


def poison_rows(snapshot: pd.DataFrame) -> dict[str, tuple[dict, str]]:
    """The rows of issue 9 that returned 500 to a whole adaptive batch, and the field to blame."""
    [repeat] = feature_rows(buyers(snapshot, 1, min_orders=3), drop=BTYD)
    [single] = feature_rows(snapshot[(snapshot["orders_all"] == 1)].head(1), drop=BTYD)
    return {
        "null-aov-without-btyd": ({**repeat, "avg_order_value": None}, "avg_order_value"),
        "first-order-is-everything": (
            {**repeat, "first_order_value": repeat["avg_order_value"] * repeat["orders_all"]},
            "first_order_value",
        ),
        "repeat-days-with-one-order": ({**single, "frequency": 2}, "frequency"),
        "recency-after-age": (
            {**repeat, "btyd_recency_days": repeat["age_days"] + 5},
            "btyd_recency_days",
        ),
    }


# --- isolation -----------------------------------------------------------------------------------


def test_issue_poison_rows_are_400_naming_the_field(server, snapshot):
    with server.client() as client:
        for name, (row, field) in poison_rows(snapshot).items():
            response = client.post("/score/features", json={"customers": [row]})
            assert response.status_code == 400, (name, response.text)
            body = response.json()
            assert set(body) == {"error", "detail"} and isinstance(body["detail"], list), name
            assert any(field in json.dumps(item) for item in body["detail"]), (name, body)


def test_poison_rows_beside_valid_requests_change_no_valid_answer(server, snapshot, batch_scores):
    """Each poison row posted 20 times among 40 valid multi-row requests, in a shuffled order
    from 24 threads: every valid request gets exactly its batch scores, every poison request a
    400; no 500."""
    valid = feature_rows(snapshot.sample(n=120, random_state=3), drop=BTYD)
    valid_bodies = [{"customers": valid[i : i + 3]} for i in range(0, 120, 3)]  # 40 requests
    poisons = poison_rows(snapshot)

    def post(body: dict) -> httpx.Response:
        with server.client() as client:
            return client.post("/score/features", json=body)

    for round_, (name, (row, _)) in enumerate(poisons.items()):
        bodies = [("valid", b) for b in valid_bodies] + [("poison", {"customers": [row]})] * 20
        order = pd.Series(range(len(bodies))).sample(frac=1, random_state=round_).tolist()
        shuffled = [bodies[i] for i in order]
        with ThreadPoolExecutor(24) as pool:
            responses = list(pool.map(lambda item: post(item[1]), shuffled))
        for (kind, body), response in zip(shuffled, responses, strict=True):
            assert response.status_code != 500, (name, response.text)
            if kind == "poison":
                assert response.status_code == 400, (name, response.text)
                continue
            assert response.status_code == 200, (name, response.text)
            results = response.json()
            assert [r["customer_id"] for r in results] == [
                c["customer_id"] for c in body["customers"]
            ]
            for result in results:
                assert result["error"] is None, (name, result)
                assert_same_as_batch(result["score"], batch_scores.loc[result["customer_id"]])


def test_a_row_that_fails_scoring_is_an_item_error_and_the_others_score(
    trained_store, snapshot, batch_scores, caplog
):
    """In process, real champions: a row that bypassed validation (the schema would refuse it)
    breaks the batch; the fallback scores every other row alone, to the same numbers."""
    from serving.scorer import Scorer, Settings

    scorer = Scorer.from_settings(
        Settings(
            snapshot=trained_store.snapshot,
            tracking_uri=trained_store.tracking_uri,
            project=trained_store.project,
        )
    )
    good = [CustomerFeatures(**r) for r in feature_rows(buyers(snapshot, 4, 3), drop=BTYD)]
    broken = good[0].model_dump()
    broken.update(customer_id="BROKEN-ROW-7731", avg_order_value=None, first_order_value=None)
    bad = CustomerFeatures.model_construct(_fields_set=set(broken) - set(BTYD), **broken)
    with caplog.at_level(logging.WARNING, logger="serving.service"):
        results = scorer.score_features([good[0], bad, *good[1:]])
    assert [r.customer_id for r in results] == [
        good[0].customer_id,
        "BROKEN-ROW-7731",
        *[g.customer_id for g in good[1:]],
    ]
    assert results[1].score is None and "could not be scored" in results[1].error
    for result in results[:1] + results[2:]:
        assert result.error is None
        assert_same_as_batch(
            result.score.model_dump(mode="json"), batch_scores.loc[result.customer_id]
        )
    failures = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert failures and failures[0].exc_info is not None  # a server error keeps its traceback
    assert all("BROKEN-ROW-7731" not in r.getMessage() for r in caplog.records)


# --- logs ----------------------------------------------------------------------------------------


def log_after(server, before: int, line: str, timeout: float = 15.0) -> str:
    """What the server logged after byte ``before``, once it holds ``line`` (a request's log line
    is written after its answer) or ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        new = server.log.read_bytes()[before:].decode(errors="replace")
        if line in new or time.monotonic() > deadline:
            return new
        time.sleep(0.05)


def test_client_error_is_one_line_without_body_or_traceback(server, snapshot):
    marker = "yesterday-7f3a9c"
    [row] = feature_rows(snapshot.head(1))
    with server.client() as client:
        before = server.log.stat().st_size
        response = client.post(
            "/score/features", json={"customers": [row, {**row, "recency_days": marker}]}
        )
        assert response.status_code == 400
    new = log_after(server, before, "client error 400 POST /score/features")
    lines = [line for line in new.splitlines() if line.strip()]
    assert any(
        "WARNING" in line
        and "client error 400 POST /score/features" in line
        and "customers.1.recency_days" in line
        for line in lines
    ), new
    assert marker not in new and row["customer_id"] not in new
    assert "Traceback" not in new and "ERROR" not in new


def test_field_names_a_client_sent_cannot_forge_or_flood_a_log_line() -> None:
    """An unknown field is named in the log as the client spelt it: a name holding a newline
    wrote a forged log line of its own, and one of 50,000 characters a line that long."""
    import json

    from serving.request_log import error_fields

    forged = "x\n2026-12-05T01:50:00+0000 [ERROR] [fake] injected line"
    body = json.dumps({"detail": [{"loc": ["body", forged]}, {"loc": ["body", "k" * 50_000]}]})
    said = error_fields(body.encode())
    assert "\n" not in said and said.startswith("body.x\\n2026-12-05T01:50:00+0000 [ERRO")
    assert len(said) < 200 and "(50,000 chars)" in said
    assert error_fields(b'{"detail": [{"loc": ["customers", 1, "recency_days"]}]}') == (
        "customers.1.recency_days"
    )


def test_unauthorised_and_junk_paths_log_no_path_contents(server):
    before = server.log.stat().st_size
    httpx.post(f"{server.url}/score/ids", json={"customer_ids": ["SECRET-ID-1"]})
    httpx.get(f"{server.url}/wp-admin/secret-path-99")
    new = log_after(server, before, "client error 401 GET <other path>")
    assert "client error 401 POST /score/ids" in new, new
    assert "secret-path-99" not in new and "SECRET-ID-1" not in new


# --- readiness -----------------------------------------------------------------------------------


def test_readyz_names_the_model_versions_and_the_snapshot_date(server, trained_store):
    response = httpx.get(f"{server.url}/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["ready"] is True and body["status"] == "ready"
    assert body["snapshot_as_of"] == trained_store.as_of.isoformat()
    assert body["churn_model_version"] and body["clv_model_version"]
    assert body["snapshot_customers"] == len(pd.read_parquet(trained_store.snapshot))
    startup = [line for line in server.log.read_text().splitlines() if "] ready: " in line]
    assert len(startup) == 1, startup
    assert f"churn v{body['churn_model_version']}" in startup[0]
    assert trained_store.as_of.isoformat() in startup[0]


# --- bounded metrics -----------------------------------------------------------------------------


async def _junk(url: str, n: int, concurrency: int = 16) -> list[int]:
    statuses: list[int] = []
    paths = iter(range(n))
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:

        async def worker() -> None:
            for i in paths:
                method = client.get if i % 2 else client.post
                statuses.append((await method(f"/junk/{i}/x{i * 7919}")).status_code)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return statuses


@pytest.mark.slow
def test_metrics_stay_bounded_after_5000_distinct_junk_paths(server):
    def metrics() -> str:
        return httpx.get(f"{server.url}/metrics", timeout=30).text

    asyncio.run(_junk(server.url, 200))
    size_before = len(metrics())
    statuses = asyncio.run(_junk(server.url, 5_000))
    assert set(statuses) == {401}
    text = metrics()
    assert "/junk/" not in text
    # the same series, only the counts grew (a few more digits per line)
    assert len(text) < size_before * 1.2 + 2_000, (size_before, len(text))
    other = re.findall(r'lifecycle_http_requests_total\{endpoint="other",[^}]*\} (\S+)', text)
    assert sum(float(v) for v in other) >= 5_200


def test_request_metrics_are_held_in_memory_not_in_bentomls_metrics_files(tmp_path):
    """Under ``bentoml serve`` (PROMETHEUS_MULTIPROC_DIR set) the request counters lived in
    files mapped into memory under BENTOML_HOME: with that disk full, a new series killed the
    worker (SIGBUS) and each restarted one too, silently, every ~10 s. Counted in memory, the
    same series, no file written."""
    folder = tmp_path / "prometheus_multiproc_dir"
    folder.mkdir()
    script = (
        "from serving.http_metrics import count_customers, process_metrics\n"
        "m = process_metrics(['/score/ids'])\n"
        "m.observe('/score/ids', 'POST', '200', 0.003)\n"
        "m.observe(m.route('/nowhere'), 'GET', '401', 0.02)\n"
        "count_customers('/score/ids', 3, 1)\n"
        "print(m.render()[0].decode())\n"
    )
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(folder), "PYTHONPATH": str(REPO)}
    run = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert list(folder.iterdir()) == []
    lines = set(run.stdout.splitlines())
    assert {
        'lifecycle_http_requests_total{endpoint="/score/ids",method="POST",status="200"} 1.0',
        'lifecycle_http_requests_total{endpoint="other",method="GET",status="401"} 1.0',
        'lifecycle_http_request_duration_seconds_bucket{endpoint="/score/ids",le="0.002",'
        'method="POST",status="200"} 0.0',
        'lifecycle_http_request_duration_seconds_bucket{endpoint="/score/ids",le="0.005",'
        'method="POST",status="200"} 1.0',
        'lifecycle_http_request_duration_seconds_sum{endpoint="/score/ids",method="POST",'
        'status="200"} 0.003',
        'lifecycle_scored_customers_total{endpoint="/score/ids",outcome="scored"} 3.0',
        'lifecycle_scored_customers_total{endpoint="/score/ids",outcome="error"} 1.0',
    } <= lines, run.stdout


# --- fail fast -----------------------------------------------------------------------------------


def _misconfigurations(trained_store) -> dict[str, tuple[dict[str, str], str]]:
    root = trained_store.root
    empty = root / "empty.snapshot.parquet"
    empty.write_bytes(b"")
    truncated = root / "truncated.snapshot.parquet"
    data = trained_store.snapshot.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    return {
        "no-key": ({"LIFECYCLE_API_KEY": ""}, "LIFECYCLE_API_KEY is not set"),
        "short-key": ({"LIFECYCLE_API_KEY": "short-key"}, "at least 16"),
        "missing-snapshot": (
            {"LIFECYCLE_SNAPSHOT": str(root / "deleted.snapshot.parquet")},
            "no such file",
        ),
        "empty-snapshot": ({"LIFECYCLE_SNAPSHOT": str(empty)}, "the file is empty"),
        "truncated-snapshot": ({"LIFECYCLE_SNAPSHOT": str(truncated)}, "not a readable Parquet"),
        "no-mlflow-store": (
            {"MLFLOW_TRACKING_URI": f"sqlite:///{root / 'nothing-here.db'}"},
            "no MLflow store at",
        ),
    }


@pytest.fixture(scope="module")
def misconfigured(trained_store) -> dict[str, tuple[int | None, str]]:
    """Every misconfigured service started at once (each stops in its preflight, before a worker);
    per case the exit status (None: still running at the bound) and the log. Six cold starts side
    by side on two cores take a fraction of six one after the other."""
    servers = {
        case: spawn_server(trained_store, env=server_env(trained_store, **env))
        for case, (env, _) in _misconfigurations(trained_store).items()
    }
    deadline = time.monotonic() + 2 * EXIT_BOUND_S  # six start-ups share two cores
    outcomes: dict[str, tuple[int | None, str]] = {}
    for case, started in servers.items():
        try:
            code = started.process.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            stop(started.process)
            code = None
        outcomes[case] = (code, started.log.read_text())
    return outcomes


@pytest.mark.slow
@pytest.mark.parametrize(
    "case",
    [
        "no-key",
        "short-key",
        "missing-snapshot",
        "empty-snapshot",
        "truncated-snapshot",
        "no-mlflow-store",
    ],
)
def test_misconfigured_service_exits_at_once_with_one_line(trained_store, misconfigured, case):
    _, message = _misconfigurations(trained_store)[case]
    code, log = misconfigured[case]
    assert code is not None, f"still running after {2 * EXIT_BOUND_S:.0f} s: {log[-2000:]}"
    assert code != 0, log
    lines = [line for line in log.splitlines() if "cannot start" in line]
    assert len(lines) == 1 and message in lines[0], log
    assert "Traceback" not in log and API_KEY not in log


@pytest.mark.slow
def test_port_in_use_exits_at_once_with_one_line(trained_store):
    """A restart while the old server still listens: one line naming the address, exit 2 (was
    ~55 lines of process-manager traceback ending in ``Address already in use``)."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        started = spawn_server(trained_store, port=port)
        try:
            code = started.process.wait(timeout=EXIT_BOUND_S)
        finally:
            stop(started.process)
    log = started.log.read_text()
    assert code == 2, log
    lines = [line for line in log.splitlines() if "cannot start" in line]
    assert len(lines) == 1 and f"127.0.0.1:{port} is in use" in lines[0], log
    assert "Traceback" not in log and "Errno 98" not in log, log


def _gone(process: psutil.Process) -> bool:
    try:
        return process.status() == psutil.STATUS_ZOMBIE  # exited, not yet reaped by PID 1
    except psutil.NoSuchProcess:
        return True


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.slow
def test_worker_exits_when_bentoml_serve_is_killed(trained_store):
    """``kill -9`` of ``bentoml serve``: its worker must not stay up under PID 1, answering and
    holding the port; it exits within seconds."""
    port = free_port()
    killed = spawn_server(trained_store, port=port)
    workers: list[psutil.Process] = []
    try:
        wait_ready(killed, 180)
        workers = psutil.Process(killed.process.pid).children(recursive=True)
        assert workers, "no worker process"
        killed.process.kill()
        killed.process.wait()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not (
            all(_gone(w) for w in workers) and _port_free(port)
        ):
            time.sleep(0.2)
        assert all(_gone(w) for w in workers), [w.pid for w in workers if not _gone(w)]
        assert _port_free(port)
        assert "the serving process" in killed.log.read_text()
    finally:
        stop(killed.process)
        for worker in workers:
            with contextlib.suppress(psutil.NoSuchProcess):
                worker.kill()


def _promote_a_second_version(tracking_uri: str, project: str) -> str:
    """Register the champion's model again as a new version and make it the champion."""
    from mlflow import MlflowClient

    from training.model_tags import CHAMPION
    from training.registry import fluent_tracking_uri, pair_model_name

    client = MlflowClient(tracking_uri=tracking_uri)
    name = pair_model_name(project)
    current = client.get_model_version_by_alias(name, CHAMPION)
    with fluent_tracking_uri(tracking_uri):  # MLflow looks the logged model up there
        new = client.create_model_version(name, current.source, run_id=current.run_id)
    client.set_registered_model_alias(name, CHAMPION, new.version)
    return str(new.version)


def _readyz_until(server, condition, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        response = httpx.get(f"{server.url}/readyz", timeout=10)
        assert response.status_code == 200, response.text  # never flaps to not ready
        body = response.json()
        if condition(body) or time.monotonic() > deadline:
            return body
        time.sleep(0.5)


@pytest.mark.slow
def test_readyz_and_metrics_say_when_a_newer_champion_is_promoted(trained_store, tmp_path):
    """A pair promoted while the service runs: /readyz names the registry's champion and says
    stale (the served pair stays until a restart); a registry that fails is reported, and the
    service stays ready. On a copy of the store's registry (the session server's stays as is)."""
    shutil.copy(trained_store.root / "mlflow.db", tmp_path / "mlflow.db")
    store = dataclasses.replace(
        trained_store, root=tmp_path, tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}"
    )
    env = server_env(store, LIFECYCLE_REGISTRY_CHECK_SECONDS="1")
    with running_server(store, env=env) as running:
        body = httpx.get(f"{running.url}/readyz").json()
        served = body["churn_model_version"]
        assert body["registry_champion_version"] == served and body["stale"] is False, body

        promoted = _promote_a_second_version(store.tracking_uri, store.project)
        assert promoted != served
        body = _readyz_until(running, lambda b: b["stale"])
        assert body["stale"] is True and body["registry_champion_version"] == promoted, body
        assert body["ready"] is True and body["churn_model_version"] == served, body
        metrics = httpx.get(f"{running.url}/metrics").text
        assert f'lifecycle_champion_stale{{project="{store.project}"}} 1.0' in metrics
        assert (
            f'lifecycle_registry_champion_version{{project="{store.project}"}} {float(promoted)}'
            in metrics
        )
        assert "this service serves v" in running.log.read_text()

        # the store replaced by another file (a restored backup, whose champion is the served
        # pair): MLflow's cached connection kept reading the old file and said stale forever
        shutil.copy(trained_store.root / "mlflow.db", tmp_path / "restored.db")
        os.replace(tmp_path / "restored.db", tmp_path / "mlflow.db")
        body = _readyz_until(running, lambda b: b["stale"] is False)
        assert body["registry_champion_version"] == served and body["registry_error"] is None, body

        with open(tmp_path / "mlflow.db", "r+b") as registry:  # overwritten: no longer a store
            registry.write(b"GARBAGE!")
        body = _readyz_until(running, lambda b: b["registry_error"])
        assert body["registry_error"] and body["ready"] is True, body
        assert body["stale"] is False and body["registry_champion_version"] == served, body
        metrics = httpx.get(f"{running.url}/metrics").text
        assert f'lifecycle_registry_check_failing{{project="{store.project}"}} 1.0' in metrics

        os.replace(tmp_path / "mlflow.db", tmp_path / "moved.db")  # moved away: said, not created
        body = _readyz_until(running, lambda b: "no MLflow store at" in str(b["registry_error"]))
        assert "no MLflow store at" in body["registry_error"] and body["ready"] is True, body
        assert not (tmp_path / "mlflow.db").exists()


@pytest.mark.slow
def test_no_champion_stays_up_not_ready_with_the_reason_and_metrics_of_its_own(
    server, trained_store
):
    """A project without a champion pair: /healthz 200, /readyz 503 naming the project, scoring
    503, no restart. It shares BENTOML_HOME with the session server: their metrics do not mix."""
    with server.client() as client:
        for _ in range(5):
            assert client.post("/score/ids", json={"customer_ids": ["x"]}).status_code == 200
    env = server_env(trained_store, LIFECYCLE_PROJECT="no-such-project")
    other = spawn_server(trained_store, env=env)
    try:
        deadline = time.monotonic() + 180
        body = None
        while time.monotonic() < deadline:
            assert other.process.poll() is None, other.log.read_text()[-2000:]
            try:
                response = httpx.get(f"{other.url}/readyz", timeout=5)
            except httpx.HTTPError:
                time.sleep(0.5)
                continue
            assert response.status_code == 503
            body = response.json()
            if body["status"] == "failed":
                break
            time.sleep(0.5)
        assert body is not None and body["status"] == "failed", body
        assert "no-such-project" in body["reason"]
        assert httpx.get(f"{other.url}/healthz", timeout=5).status_code == 200
        refused = httpx.post(
            f"{other.url}/score/ids",
            json={"customer_ids": ["x"]},
            headers={"Authorization": f"Bearer {API_KEY}"},
            timeout=5,
        )
        assert refused.status_code == 503 and "no-such-project" in refused.json()["error"]
        time.sleep(5)
        assert other.process.poll() is None  # still up, not restarting
        log = other.log.read_text()
        assert log.count("Service lifecycle initialized") == 1, log
        assert len([line for line in log.splitlines() if "not ready:" in line]) == 1, log
        mine = httpx.get(f"{other.url}/metrics", timeout=10).text
        theirs = httpx.get(f"{server.url}/metrics", timeout=10).text
        ids_200 = 'lifecycle_http_requests_total{endpoint="/score/ids",method="POST",status="200"}'
        assert ids_200 in theirs and ids_200 not in mine
        # a service up but not scoring says so to Prometheus (its model gauges are absent)
        assert 'lifecycle_ready{project="no-such-project"} 0.0' in mine
        assert "lifecycle_ready{" in theirs and "no-such-project" not in theirs
    finally:
        stop(other.process)


# --- the OpenAPI document describes every answer -------------------------------------------------


SCHEMATHESIS_CONFIG = """\
# Cross-field rules (serving.schemas.CROSS_FIELD_RULES) cannot be written in JSON Schema, so a
# body valid by the schema may break one: /score/features then answers 400 naming the field.
[[operations]]
include-path = "/score/features"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400"]
"""


@pytest.mark.slow
def test_schemathesis_all_checks_find_no_server_error_and_no_schema_mismatch(server, tmp_path):
    config = tmp_path / "schemathesis.toml"
    config.write_text(SCHEMATHESIS_CONFIG)
    run = run_schemathesis(
        server,
        tmp_path,
        *("--checks", "all", "--phases", "examples,coverage,fuzzing"),
        *("--max-examples", "25", "--max-time", "75", "--seed", "11"),
        *("--workers", "2", "--report", "json"),
        config=config,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    selected = re.search(r"Selected: (\d+)/(\d+)", run.stdout)
    tested = re.search(r"Tested: (\d+)", run.stdout)
    assert selected and tested, run.stdout[-3000:]
    # every route of the document: both scoring routes and the four probes
    assert int(tested.group(1)) == int(selected.group(2)) >= 6, run.stdout[-3000:]


def test_a_spark_snapshot_directory_is_refused_with_what_to_do_instead(tmp_path):
    """A Spark scoring's snapshot is a directory of partitions: the service says it reads the
    file `lifecycle score` writes, and that Spark scores go to the CRM by export."""
    from serving.preflight import ServiceConfigError, check_snapshot_file

    spark_snapshot = tmp_path / "scores.snapshot.parquet"
    (spark_snapshot / "cutoff_day=2025-12-31").mkdir(parents=True)
    with pytest.raises(ServiceConfigError, match="is a directory") as refused:
        check_snapshot_file(spark_snapshot)
    assert "lifecycle export" in str(refused.value) and "\n" not in str(refused.value)
