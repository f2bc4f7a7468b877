"""Hot reload of the scoring service (``serving.scoring_watch``): time, memory and latency.

Given a store (``tests/service_fixtures.prepare_store``) and two ``lifecycle score`` outputs of
it, ``--served`` (what the server starts with) and ``--newer`` (a later scoring), starts
``bentoml serve`` on ``--served``, samples the worker's RSS every 50 ms and, with
``--clients`` clients sending 10-id ``/score/ids`` requests in a loop:

- start-up: ``load_seconds`` of ``/readyz`` and the peak RSS until ready;
- ``--reloads`` times: the newer scoring renamed over the served files (scores first, as
  ``lifecycle score`` does); the reload's ``load_seconds``, the time until ``/readyz`` names it,
  the peak RSS during it and the RSS after;
- latency p50/p99 of the requests sent during the reloads and outside them.

``python bench/bench_reload.py --out reports/results/reload.json`` prepares a store of
``--customers`` (20,000) and the two scorings (a week apart) in a temporary folder (about a
minute); ``--store S --served DIR --newer DIR`` uses prepared ones. ``make bench-reload``.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(1, str(Path(__file__).resolve().parents[1] / "tests"))

from service_fixtures import existing_store, server_env, spawn_server, stop, wait_ready  # noqa: E402

from bench._common import ROOT, machine, write_results  # noqa: E402

FILES = ("scores.parquet", "scores.snapshot.parquet")  # the order lifecycle score renames them


class RssSampler(threading.Thread):
    """The summed RSS (MB) of the server's worker processes, every ``interval`` seconds."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.process, self.interval = psutil.Process(pid), interval
        self.samples: list[tuple[float, float]] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            try:
                rss = sum(c.memory_info().rss for c in self.process.children(recursive=True))
            except psutil.Error:
                rss = 0
            self.samples.append((time.monotonic(), rss / 2**20))
            time.sleep(self.interval)

    def peak(self, start: float, end: float) -> float:
        return max((mb for t, mb in self.samples if start <= t <= end), default=float("nan"))


async def clients(url: str, key: str, ids: list[str], n: int, until: threading.Event, out: list):
    rng = np.random.default_rng(0)
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {key}"}) as c:

        async def one() -> None:
            while not until.is_set():
                body = {"customer_ids": list(rng.choice(ids, 10))}
                started = time.monotonic()
                response = await c.post("/score/ids", json=body, timeout=30)
                out.append((started, time.monotonic() - started, response.status_code))

        await asyncio.gather(*(one() for _ in range(n)))


def percentiles(latencies: list[float]) -> dict[str, float]:
    ms = np.asarray(latencies) * 1000
    if not len(ms):
        return {"requests": 0}
    return {
        "requests": len(ms),
        "p50_ms": round(float(np.percentile(ms, 50)), 1),
        "p99_ms": round(float(np.percentile(ms, 99)), 1),
        "max_ms": round(float(ms.max()), 1),
    }


def prepared(root: Path, customers: int) -> tuple[Path, Path, Path]:
    """A store of ``customers`` and two ``lifecycle score`` outputs a week apart in ``root``."""
    from datetime import timedelta

    from service_fixtures import prepare_store

    store = prepare_store(root / "store", n_customers=customers)
    folders = []
    for name, day in (("served", store.as_of - timedelta(days=7)), ("newer", store.as_of)):
        out = root / name / FILES[0]
        out.parent.mkdir(parents=True)
        command = [sys.executable, "-c", "from lifecycle_cli import app; app()", "score"]
        command += ["--data", str(store.data_dir), "--out", str(out), "--as-of", str(day)]
        command += ["--project", store.project, "--tracking-uri", store.tracking_uri]
        command += ["--history", str(root / "served" / "score_history")]
        subprocess.run(command, check=True, capture_output=True, cwd=ROOT)
        folders.append(out.parent)
    return root / "store", folders[0], folders[1]


def table(result: dict) -> str:
    """The figures people read."""
    r, lat = result["reloads"], result["latency"]
    return (
        f"{result['customers']:,} customers: start-up load {result['startup']['load_seconds']} s, "
        f"reload {np.mean([x['load_seconds'] for x in r]):.2f} s "
        f"({result['reload_over_startup']}x start-up); peak RSS start-up "
        f"{result['startup']['peak_rss_mb']} MB, during reloads "
        f"{max(x['peak_rss_mb'] for x in r)} MB; /score/ids p50/p99 without reload "
        f"{lat['without_reload']}, during {lat['during_reload']}; non-200: {lat['non_200']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--store", type=Path)
    parser.add_argument("--served", type=Path)
    parser.add_argument("--newer", type=Path)
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--reloads", type=int, default=3)
    parser.add_argument("--quiet-seconds", type=float, default=15.0)
    parser.add_argument("--check-seconds", default="1")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench_reload_") as scratch:
        if args.store is None:
            print(f"preparing {args.customers:,} customers ...", file=sys.stderr, flush=True)
            args.store, args.served, args.newer = prepared(Path(scratch), args.customers)
        result = measure(args)
    result["machine"] = machine()
    if args.out is not None:
        write_results(args.out, result, began, table)
    else:
        print(json.dumps(result, indent=1))


def measure(args: argparse.Namespace) -> dict:
    """Serve ``args.served``, rename ``args.newer`` over it ``args.reloads`` times; the figures."""
    store = existing_store(args.store)
    assert store is not None, f"no store in {args.store}"
    store = dataclasses.replace(store, root=args.served, snapshot=args.served / FILES[1])
    env = server_env(store, LIFECYCLE_REGISTRY_CHECK_SECONDS=args.check_seconds)
    server = spawn_server(store, env=env)
    sampler = RssSampler(server.process.pid)
    sampler.start()
    try:
        started = time.monotonic()
        wait_ready(server, 600)
        ready = httpx.get(f"{server.url}/readyz").json()
        result: dict = {
            "customers": ready["snapshot_customers"],
            "startup": {
                "load_seconds": ready["load_seconds"],
                "peak_rss_mb": round(sampler.peak(started, time.monotonic()), 1),
            },
        }
        ids = pd.read_parquet(store.snapshot, columns=["customer_id"])["customer_id"].tolist()
        requests: list = []
        until = threading.Event()
        load = threading.Thread(
            target=lambda: asyncio.run(
                clients(server.url, env["LIFECYCLE_API_KEY"], ids, args.clients, until, requests)
            )
        )
        load.start()
        windows, reloads = [], []
        time.sleep(args.quiet_seconds)
        for i in range(args.reloads):
            before = httpx.get(f"{server.url}/readyz").json()
            rss_before = sampler.samples[-1][1]
            for name in FILES:  # whole files renamed in, as lifecycle score does
                shutil.copy(args.newer / name, args.served / f".{name}.bench")
                (args.served / f".{name}.bench").replace(args.served / name)
            swapped = time.monotonic()
            while (body := httpx.get(f"{server.url}/readyz").json())["reloads"] == before[
                "reloads"
            ]:
                time.sleep(0.05)
            served = time.monotonic()
            windows.append((swapped, served))
            time.sleep(args.quiet_seconds)
            reloads.append(
                {
                    "load_seconds": body["load_seconds"],
                    "files_to_served_seconds": round(served - swapped, 2),
                    "rss_before_mb": round(rss_before, 1),
                    "peak_rss_mb": round(sampler.peak(swapped, served + 1), 1),
                    "rss_after_mb": round(sampler.samples[-1][1], 1),
                }
            )
            print(f"reload {i + 1}: {reloads[-1]}", file=sys.stderr, flush=True)
        until.set()
        load.join()
        during = [r for r in requests if any(a <= r[0] <= b for a, b in windows)]
        outside = [r for r in requests if not any(a - 1 <= r[0] <= b + 1 for a, b in windows)]
        result["reloads"] = reloads
        result["reload_over_startup"] = round(
            float(np.mean([r["load_seconds"] for r in reloads])) / ready["load_seconds"], 2
        )
        result["latency"] = {
            "clients": args.clients,
            "during_reload": percentiles([r[1] for r in during]),
            "without_reload": percentiles([r[1] for r in outside]),
            "non_200": sum(r[2] != 200 for r in requests),
        }
        return result
    finally:
        sampler.done.set()
        stop(server.process)


if __name__ == "__main__":
    main()
