# ruff: noqa: F811  (tests take the imported fixtures `trained_store`, ... as arguments)
"""A newer scoring picked up by the running service, over real HTTP (``serving.scoring_watch``).

The server serves a ``lifecycle score`` of a week before the store's date from its own folder,
checking every half second; the tests run ``lifecycle score`` (in process, the real command)
into that folder, or damage its files, while clients call it.
"""

from __future__ import annotations

import dataclasses
import shutil
import threading
import time
from datetime import date, timedelta
from pathlib import Path

import httpx
import pandas as pd
import pytest
from service_fixtures import (  # noqa: F401 (fixtures)
    PROJECT,
    Server,
    TrainedStore,
    assert_same_as_batch,
    feature_rows,
    running_server,
    server_env,
    trained_store,
)

CHECK_SECONDS = "0.5"


def lifecycle_score(store: TrainedStore, out: Path, as_of: date) -> pd.DataFrame:
    """``lifecycle score`` of ``store``'s data as of ``as_of`` into ``out``; the scores it wrote,
    by customer id."""
    from typer.testing import CliRunner

    from lifecycle_cli import app

    args = ["score", "--data", str(store.data_dir), "--out", str(out), "--as-of", as_of.isoformat()]
    args += ["--project", store.project, "--tracking-uri", store.tracking_uri]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, (result.output, result.exception)
    return pd.read_parquet(out).set_index("customer_id", drop=False)


def readyz(server: Server) -> dict:
    response = httpx.get(f"{server.url}/readyz", timeout=10)
    assert response.status_code == 200, response.text  # never leaves ready
    return response.json()


def readyz_until(server: Server, condition, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        body = readyz(server)
        if condition(body) or time.monotonic() > deadline:
            return body
        time.sleep(0.2)


def metric(server: Server, name: str) -> float:
    text = httpx.get(f"{server.url}/metrics", timeout=10).text
    [line] = [row for row in text.splitlines() if row.startswith(f'{name}{{project="{PROJECT}"}}')]
    return float(line.split()[-1])


def scores_by_id(server: Server, ids: list[str]) -> dict[str, dict]:
    with server.client() as client:
        response = client.post("/score/ids", json={"customer_ids": ids})
    assert response.status_code == 200, response.text
    return {r["customer_id"]: r["score"] for r in response.json()}


@pytest.fixture(scope="module")
def week_before(trained_store) -> date:
    return trained_store.as_of - timedelta(days=7)


@pytest.fixture(scope="module")
def served(trained_store, week_before, tmp_path_factory):
    """A server of a folder holding ``lifecycle score`` as of a week before the store's date."""
    root = tmp_path_factory.mktemp("reload")
    out = root / "scores.parquet"
    lifecycle_score(trained_store, out, week_before)
    store = dataclasses.replace(
        trained_store, root=root, scores=out, snapshot=root / "scores.snapshot.parquet"
    )
    env = server_env(store, LIFECYCLE_REGISTRY_CHECK_SECONDS=CHECK_SECONDS)
    with running_server(store, env=env) as server:
        yield server, store


def test_a_newer_scoring_is_served_without_restart_each_answer_wholly_old_or_new(
    served, trained_store, week_before
):
    """``lifecycle score`` of the next week while 4 clients call both routes: every answer is
    200, and every /score/ids answer is wholly the old scores file's or wholly the new one's;
    then the service answers the new file, /readyz and /metrics say so, and it never restarted."""
    server, store = served
    old = pd.read_parquet(store.scores).set_index("customer_id", drop=False)
    body = readyz(server)
    assert body["snapshot_as_of"] == week_before.isoformat() and body["hot_reload"] is True
    assert body["newer_scoring"] is None and body["stale"] is False and body["loaded_at"], body
    ids = old.index[:200].tolist()
    for cid, score in scores_by_id(server, ids).items():
        assert_same_as_batch(score, old.loc[cid])

    answers: list[tuple[int, list | None]] = []
    posted = feature_rows(pd.read_parquet(store.snapshot).head(5))
    stop = threading.Event()

    def call(route: str) -> None:
        with server.client() as client:
            while not stop.is_set():
                body = {"customer_ids": ids} if route == "ids" else {"customers": posted}
                response = client.post(f"/score/{route}", json=body)
                answers.append((response.status_code, response.json() if route == "ids" else None))

    clients = [threading.Thread(target=call, args=(r,)) for r in ("ids", "ids", "ids", "features")]
    for client in clients:
        client.start()
    try:
        time.sleep(1)
        new = lifecycle_score(trained_store, store.scores, trained_store.as_of)
        body = readyz_until(
            server, lambda b: b["snapshot_as_of"] == trained_store.as_of.isoformat()
        )
        time.sleep(1)
    finally:
        stop.set()
        for client in clients:
            client.join()
    assert body["snapshot_as_of"] == trained_store.as_of.isoformat(), body
    assert [status for status, _ in answers if status != 200] == []
    versions = {old["as_of"].iloc[0].date().isoformat(): old, trained_store.as_of.isoformat(): new}
    seen = set()
    for _, results in answers:
        if results is None:
            continue
        [day] = {r["score"]["as_of"] for r in results}  # one scoring per answer
        seen.add(day)
        for result in results:
            assert_same_as_batch(result["score"], versions[day].loc[result["customer_id"]])
    assert seen == set(versions), seen  # answers from before and after the swap

    for cid, score in scores_by_id(server, ids).items():
        assert_same_as_batch(score, new.loc[cid])
    body = readyz_until(server, lambda b: b["newer_scoring"] is None)
    assert body["reloads"] == 1 and body["reload_error"] is None and body["stale"] is False, body
    assert body["snapshot_customers"] == len(new)
    assert metric(server, "lifecycle_scoring_reloads_total") == 1
    assert metric(server, "lifecycle_newer_scoring_pending") == 0
    log = server.log.read_text()
    assert log.count("] ready: ") == 1 and "reloaded: pair v" in log, log[-3000:]


def damage(path: Path, how: str) -> None:
    """Replace ``path`` in place, not as ``lifecycle score`` does (rename a whole file)."""
    size = path.stat().st_size
    with open(path, "r+b") as file:
        file.truncate(size // 2 if how == "half" else 0)  # a copy still running, or just begun


def test_a_damaged_or_inconsistent_new_scoring_is_not_served_and_readyz_says_why(
    served, trained_store
):
    """Half-written, overwritten, a scores file of another date or pair, a snapshot failing the
    start-up check: the old scoring is still answered, /readyz names the reason and the metric
    says failing; a whole scoring written afterwards is picked up."""
    server, store = served
    before = readyz(server)
    ids = pd.read_parquet(store.scores, columns=["customer_id"])["customer_id"][:50].tolist()
    answered = scores_by_id(server, ids)
    spare = store.root / "spare"
    spare.mkdir(exist_ok=True)
    for name in ("scores.parquet", "scores.snapshot.parquet"):
        shutil.copy(store.root / name, spare / name)

    def settle() -> dict:
        """The whole files put back (renamed in, so another scoring of the same date): loaded
        again, nothing failing."""
        reloads = readyz(server)["reloads"]
        for name in ("scores.parquet", "scores.snapshot.parquet"):
            shutil.copy(spare / name, spare / f"{name}.tmp")
            (spare / f"{name}.tmp").replace(store.root / name)
        body = readyz_until(server, lambda b: b["reloads"] > reloads and not b["newer_scoring"])
        assert body["reloads"] == reloads + 1 and body["reload_error"] is None, body
        return body

    def says(reason: str, settled: dict) -> dict:
        body = readyz_until(server, lambda b: reason in str(b["reload_error"]))
        assert reason in str(body["reload_error"]), body
        assert body["ready"] is True and body["reloads"] == settled["reloads"], body
        assert metric(server, "lifecycle_scoring_reload_failing") == 1
        assert scores_by_id(server, ids) == answered  # the old scoring, as it was
        return body

    for how in ("half", "empty"):
        settled = settle()
        damage(store.snapshot, how)
        says("cannot read the new snapshot or scores file", settled)

    settled = settle()
    scores = pd.read_parquet(store.scores)
    later = scores.assign(as_of=scores["as_of"] + pd.Timedelta(days=7))
    later.to_parquet(store.scores, index=False)  # the first of lifecycle score's two renames
    body = says("`lifecycle score` is replacing them", settled)
    assert body["newer_scoring"]["as_of"] == before["snapshot_as_of"] and body["stale"] is True

    settled = settle()
    scores.assign(churn_model_version="99", clv_model_version="99").to_parquet(
        store.scores, index=False
    )
    says("the new scoring is of pair v99, the registry's champion is v", settled)

    settled = settle()
    snapshot = pd.read_parquet(store.snapshot)
    snapshot.drop(columns=["recency_days"]).to_parquet(store.snapshot, index=False)
    reason = "failed a check: ValueError: feature snapshot: columns ['recency_days'] are missing"
    says(reason, settled)
    time.sleep(2)  # four checks: the same files are not loaded again
    assert server.log.read_text().count(reason) == 1

    lifecycle_score(trained_store, store.scores, trained_store.as_of)  # a whole scoring again
    body = readyz_until(server, lambda b: b["reload_error"] is None and b["newer_scoring"] is None)
    assert body["loaded_at"] >= settled["loaded_at"] and body["reloads"] == settled["reloads"] + 1
    assert metric(server, "lifecycle_scoring_reload_failing") == 0


@pytest.mark.slow
def test_with_reload_off_readyz_says_stale_and_the_old_scoring_is_served(
    trained_store, week_before, tmp_path
):
    out = tmp_path / "scores.parquet"
    old = lifecycle_score(trained_store, out, week_before)
    store = dataclasses.replace(
        trained_store, root=tmp_path, scores=out, snapshot=tmp_path / "scores.snapshot.parquet"
    )
    env = server_env(store, LIFECYCLE_REGISTRY_CHECK_SECONDS=CHECK_SECONDS, LIFECYCLE_RELOAD="0")
    with running_server(store, env=env) as server:
        assert readyz(server)["hot_reload"] is False
        lifecycle_score(trained_store, out, trained_store.as_of)
        body = readyz_until(server, lambda b: b["stale"])
        assert body["stale"] is True and body["reload_error"] is None, body
        assert body["newer_scoring"]["as_of"] == trained_store.as_of.isoformat(), body
        assert body["snapshot_as_of"] == week_before.isoformat(), body
        cid = old.index[0]
        assert_same_as_batch(scores_by_id(server, [cid])[cid], old.loc[cid])
        assert metric(server, "lifecycle_newer_scoring_pending") == 1


def test_reload_setting_is_0_or_1(tmp_path):
    from serving.scorer import Settings

    env = {"LIFECYCLE_SNAPSHOT": str(tmp_path / "scores.snapshot.parquet")}
    assert Settings.from_env(env).reload is True
    assert Settings.from_env({**env, "LIFECYCLE_RELOAD": "0"}).reload is False
    with pytest.raises(ValueError, match="LIFECYCLE_RELOAD must be 0 or 1"):
        Settings.from_env({**env, "LIFECYCLE_RELOAD": "no"})


# --- the watch alone (no server) -----------------------------------------------------------------


def write_scoring(folder: Path, as_of: date, version: str = "1") -> None:
    """A two-customer snapshot and its scores file, each renamed in as ``lifecycle score`` does."""
    day = pd.Timestamp(as_of)
    files = {
        "scores.parquet": pd.DataFrame(
            {"customer_id": ["a", "b"], "as_of": day}
            | {"churn_model_version": version, "clv_model_version": version}
        ),
        "scores.snapshot.parquet": pd.DataFrame({"customer_id": ["a", "b"], "cutoff": day}),
    }
    for name, frame in files.items():
        frame.to_parquet(folder / f".{name}.tmp", index=False)
        (folder / f".{name}.tmp").replace(folder / name)


def scoring_watch(folder: Path, load, champion: str = "1"):
    from serving.scoring_watch import ScoringWatch, file_stamps

    snapshot, scores = folder / "scores.snapshot.parquet", folder / "scores.parquet"
    swapped: list = []
    watch = ScoringWatch(
        PROJECT,
        snapshot,
        scores,
        file_stamps(snapshot, scores),
        date(2025, 1, 1),
        load=load,
        swap=lambda scorer, seconds: swapped.append(scorer),
        champion=lambda: champion,
    )
    return watch, swapped


def loaded(as_of: date, version: str = "1"):
    from types import SimpleNamespace

    champions = SimpleNamespace(churn_version=version, clv_version=version)
    return SimpleNamespace(as_of=as_of, champions=champions)


def test_files_replaced_while_they_load_are_loaded_again_not_swapped_in(tmp_path):
    write_scoring(tmp_path, date(2025, 1, 1))
    newer = date(2025, 1, 8)

    def load_while_rescored():
        write_scoring(tmp_path, newer)  # lifecycle score ran again meanwhile
        return loaded(newer)

    watch, swapped = scoring_watch(tmp_path, load_while_rescored)
    write_scoring(tmp_path, newer)
    status = watch.check()
    assert swapped == [] and "changed while they loaded" in status["reload_error"], status
    watch.load = lambda: loaded(newer)
    status = watch.check()
    assert len(swapped) == 1 and status["reload_error"] is None and status["reloads"] == 1
    assert watch.check()["newer_scoring"] is None and len(swapped) == 1  # served: nothing to do


def test_a_refused_scoring_is_loaded_once_a_registry_failure_again(tmp_path):
    write_scoring(tmp_path, date(2025, 1, 1))
    calls: list[str] = []

    def refused():
        calls.append("refused")
        raise ValueError("feature snapshot: columns ['x'] are missing")

    watch, swapped = scoring_watch(tmp_path, refused)
    write_scoring(tmp_path, date(2025, 1, 8))
    for _ in range(3):
        status = watch.check()
    assert calls == ["refused"] and "failed a check" in status["reload_error"], status
    assert status["newer_scoring"]["as_of"] == "2025-01-08" and swapped == []

    def registry_busy():
        calls.append("busy")
        raise RuntimeError("database is locked")

    write_scoring(tmp_path, date(2025, 1, 8))  # rewritten: tried again
    watch.load = registry_busy
    for _ in range(2):
        status = watch.check()
    assert calls == ["refused", "busy", "busy"] and "could not be loaded" in status["reload_error"]
    watch.load = lambda: loaded(date(2025, 1, 8))
    assert watch.check()["reloads"] == 1 and len(swapped) == 1


def test_an_older_scoring_or_one_of_another_pair_is_not_loaded(tmp_path):
    write_scoring(tmp_path, date(2025, 1, 1))
    watch, swapped = scoring_watch(tmp_path, lambda: pytest.fail("loaded"))
    write_scoring(tmp_path, date(2024, 12, 25))
    assert "before the served one" in watch.check()["reload_error"]
    write_scoring(tmp_path, date(2025, 1, 8), version="2")
    status = watch.check()
    assert "of pair v2, the registry's champion is v1" in status["reload_error"], status
    assert status["newer_scoring"]["churn_model_version"] == "2" and swapped == []
    watch.enabled = False  # LIFECYCLE_RELOAD=0 still reports what is on disk
    write_scoring(tmp_path, date(2025, 1, 8))
    status = watch.check()
    assert status["newer_scoring"]["as_of"] == "2025-01-08" and status["reload_error"] is None


def test_a_swap_that_fails_is_said_and_not_retried_until_the_files_change(tmp_path):
    """Review: a swap raising (e.g. building its metrics) looped a full load every check with
    nothing on /readyz."""
    write_scoring(tmp_path, date(2025, 1, 1))
    loads: list[int] = []
    watch, _ = scoring_watch(tmp_path, lambda: loads.append(1) or loaded(date(2025, 1, 8)))

    def failing_swap(scorer, seconds):
        raise RuntimeError("metrics collector broke")

    watch.swap = failing_swap
    write_scoring(tmp_path, date(2025, 1, 8))
    for _ in range(3):
        status = watch.check()
    assert len(loads) == 1 and "could not be swapped in" in status["reload_error"], status


def test_stale_follows_a_reload_at_once():
    """Review: a champion check in flight against the old served version overwrote stale=False
    after a reload; now stale is set against what is served when the answer is written."""
    from serving.champion_watch import ChampionWatch

    watch = ChampionWatch(PROJECT, "1", lambda: "2", interval=3600)
    assert watch.check()["stale"] is True
    watch.serve("2")
    assert watch.status()["stale"] is False
    assert watch.check()["stale"] is False


def test_newer_scoring_is_said_while_it_loads(tmp_path):
    """Walkthrough: /readyz said newer_scoring null for the whole 26 s of a reload."""
    write_scoring(tmp_path, date(2025, 1, 1))
    said: list[dict] = []
    watch, _ = scoring_watch(
        tmp_path, lambda: said[-1]["newer_scoring"] and loaded(date(2025, 1, 8))
    )
    watch.on_status = said.append
    write_scoring(tmp_path, date(2025, 1, 8))
    status = watch.check()
    assert said and said[0]["newer_scoring"]["as_of"] == "2025-01-08"  # before the load ended
    assert status["newer_scoring"] is None and status["reloads"] == 1


def test_a_scoring_that_does_not_fit_in_memory_is_tried_once_and_says_restart(tmp_path):
    """Review: a MemoryError was retried every interval (two scorings held at once)."""
    write_scoring(tmp_path, date(2025, 1, 1))
    loads: list[int] = []

    def too_big():
        loads.append(1)
        raise MemoryError

    watch, swapped = scoring_watch(tmp_path, too_big)
    write_scoring(tmp_path, date(2025, 1, 8))
    for _ in range(3):
        status = watch.check()
    assert len(loads) == 1 and swapped == [] and "restart the service" in status["reload_error"]
