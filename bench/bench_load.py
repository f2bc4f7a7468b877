"""Load harness of the scoring service (``make bench-load``): writes ``bench/results/load.json``.

Drives ``bentoml serve`` on loopback with its own asyncio HTTP/1.1 client (the load generator
shares the machine's cores) and measures, in one run:

- scenarios: single-customer requests on ``/score/ids`` and ``/score/features`` at concurrency
  8 and 32, ``--scenario-seconds`` each (60 by default): p50/p90/p99/max latency, throughput,
  errors (non-200 answers, item errors, timeouts, connection errors);
- in-process scoring of the same requests (``serving.scorer.Scorer``, loaded here from the same
  store) and the ratio service / in-process; one 1,000-customer ``/score/features`` call against
  the in-process time of the same rows;
- a soak (``--soak-seconds``, 600 by default) at concurrency 8 on both routes with the server's
  RSS sampled every ``--rss-interval`` seconds: RSS after warm-up, at the end, and its slope;
- a restart under load (only for a server started here): SIGTERM, start again on the same port
  while clients keep sending with a ``--timeout``; the ``/readyz`` answers seen (refused, 503,
  200), and the outcome of every request sent meanwhile (none may take longer than its timeout).

Durations come from arguments or ``LOAD_SCENARIO_SECONDS`` / ``LOAD_SOAK_SECONDS`` /
``LOAD_RESTART_SECONDS`` so a short run (e.g. 10 s scenarios, a 60 s soak) is one variable away;
the durations used are written into the results.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import statistics
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # ahead of bench/: the packages
sys.path.insert(1, str(Path(__file__).resolve().parents[1] / "tests"))  # service_fixtures

from bench._common import ROOT, feature_payload, machine, write_results
from training import DEFAULT_TRACKING_URI

RESULTS = ROOT / "bench" / "results" / "load.json"
ROUTES = ("/score/ids", "/score/features")
AIMS = {"single_p99_ms_at_concurrency_8": 50.0, "features_1000_over_in_process": 3.0}


@dataclass
class Target:
    url: str
    api_key: str | None
    snapshot: Path
    tracking_uri: str
    project: str | None
    server: object | None = None  # service_fixtures.Server when started here
    store: object | None = None
    pid: int | None = None  # of a --url server (--pid), to sample its RSS and CPU


@dataclass
class Tally:
    """Outcomes and latencies of the requests of one scenario."""

    latencies: list[float] = field(default_factory=list)  # seconds, of 200 answers without errors
    outcomes: Counter = field(default_factory=Counter)
    slowest: float = 0.0  # any request, answered or not

    def add(self, outcome: str, seconds: float) -> None:
        self.outcomes[outcome] += 1
        self.slowest = max(self.slowest, seconds)
        if outcome == "ok":
            self.latencies.append(seconds)


def summary_ms(seconds: list[float]) -> dict[str, float | None]:
    if not seconds:
        return {"p50_ms": None, "p90_ms": None, "p99_ms": None, "max_ms": None}
    ms = np.asarray(seconds) * 1000
    return {
        "p50_ms": float(np.percentile(ms, 50)),
        "p90_ms": float(np.percentile(ms, 90)),
        "p99_ms": float(np.percentile(ms, 99)),
        "max_ms": float(ms.max()),
    }


# --- load ----------------------------------------------------------------------------------------


def bodies_for(route: str, snapshot: pd.DataFrame, n: int = 1000, seed: int = 0) -> list[dict]:
    rows = snapshot.sample(n=min(n, len(snapshot)), random_state=seed)
    if route == "/score/ids":
        return [{"customer_ids": [cid]} for cid in rows["customer_id"]]
    return [{"customers": [row]} for row in feature_payload(rows)]


class Connection:
    """One keep-alive HTTP/1.1 connection of the load generator, on asyncio streams.

    No client library: measured at concurrency 8 on the two shared cores, httpx spent about as
    much CPU per request as the service itself, and that time showed up as service latency.
    """

    def __init__(self, url: str, api_key: str | None) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        auth = f"Authorization: Bearer {api_key}\r\n" if api_key else ""
        self.head = f"Host: {self.host}:{self.port}\r\n{auth}Content-Type: application/json\r\n"
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    def request(self, route: str, body: dict) -> bytes:
        """The bytes of one POST (built once per body, sent many times)."""
        data = json.dumps(body).encode()
        return (
            f"POST {route} HTTP/1.1\r\n{self.head}Content-Length: {len(data)}\r\n\r\n".encode()
            + data
        )

    async def send(self, request: bytes) -> tuple[int, bytes]:
        """Status and body of one request (connects first if needed)."""
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {
            k.strip().lower(): v.strip()
            for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)
        }
        if "content-length" in headers:
            body = await self.reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding") == "chunked":
            chunks = []
            while size := int((await self.reader.readuntil(b"\r\n")).strip(), 16):
                chunks.append(await self.reader.readexactly(size + 2))
            await self.reader.readuntil(b"\r\n")
            body = b"".join(c[:-2] for c in chunks)
        else:
            body = await self.reader.read()
        if (
            headers.get("connection") == "close"
            or "content-length" not in headers
            and "transfer-encoding" not in headers
        ):
            self.close()
        return status, body

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def drive(
    target: Target,
    work: list[tuple[str, dict]],
    concurrency: int,
    seconds: float,
    timeout: float,
    tallies: dict[str, Tally] | None = None,
    stop: asyncio.Event | None = None,
) -> dict[str, Tally]:
    """``concurrency`` clients, one keep-alive connection each, send ``work`` (route, body)
    round-robin for ``seconds``; each waits for its answer before sending again."""
    tallies = tallies if tallies is not None else {}
    encoder = Connection(target.url, target.api_key)
    requests = [(route, encoder.request(route, body)) for route, body in work]
    counter = itertools.count()
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        connection = Connection(target.url, target.api_key)
        while time.perf_counter() < deadline and not (stop and stop.is_set()):
            route, request = requests[next(counter) % len(requests)]
            tally = tallies.setdefault(route, Tally())
            started = time.perf_counter()
            try:
                status, body = await asyncio.wait_for(connection.send(request), timeout)
                outcome = classify(status, body)
            except TimeoutError:
                outcome = "timeout"
                connection.close()
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
                outcome = "connection_error"
                connection.close()
            tally.add(outcome, time.perf_counter() - started)
            if outcome == "connection_error":
                await asyncio.sleep(0.05)  # the server is down: do not spin
        connection.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return tallies


def target_pid(target: Target) -> int | None:
    """Process id of the server: ``--pid`` for ``--url``, else the one started here."""
    return target.pid or (target.server.process.pid if target.server else None)


def classify(status: int, body: bytes) -> str:
    if status != 200:
        return f"http_{status}"
    results = json.loads(body)
    return "ok" if all(r["error"] is None for r in results) else "item_error"


def scenario(
    target: Target,
    route: str,
    snapshot: pd.DataFrame,
    concurrency: int,
    seconds: float,
    timeout: float,
) -> dict:
    work = [(route, b) for b in bodies_for(route, snapshot, seed=concurrency)]
    pid = target_pid(target)
    started, cpu, server_cpu = time.perf_counter(), time.process_time(), server_cpu_seconds(pid)
    tally = asyncio.run(drive(target, work, concurrency, seconds, timeout))[route]
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    server_cpu = server_cpu_seconds(pid) - server_cpu
    requests = sum(tally.outcomes.values())
    return {
        "route": route,
        "concurrency": concurrency,
        "seconds": round(wall, 1),
        "requests": requests,
        "errors": requests - tally.outcomes["ok"],
        "outcomes": dict(tally.outcomes),
        **summary_ms(tally.latencies),
        "throughput_rps": tally.outcomes["ok"] / wall,
        "load_generator_cpu_ms_per_request": 1000 * cpu / max(requests, 1),
        # CPU time, unlike latency, hardly depends on what else runs on the machine
        "server_cpu_ms_per_request": 1000 * server_cpu / max(requests, 1),
    }


# --- in-process reference ------------------------------------------------------------------------


def in_process(scorer, snapshot: pd.DataFrame, repeats: int = 300) -> dict:
    """Single-customer in-process scoring of the same kind of requests (p50/p99)."""
    from serving.schemas import ScoreFeaturesRequest

    out = {}
    for route in ROUTES:
        bodies = bodies_for(route, snapshot, n=repeats, seed=1)
        times = []
        for body in bodies:
            started = time.perf_counter()
            if route == "/score/ids":
                scorer.score_ids(body["customer_ids"])
            else:
                scorer.score_features(ScoreFeaturesRequest.model_validate(body).customers)
            times.append(time.perf_counter() - started)
        out[route] = summary_ms(times[5:])
    return out


def big_request(
    target: Target, scorer, snapshot: pd.DataFrame, size: int, repeats: int, timeout: float
) -> dict:
    """One ``size``-customer ``/score/features`` call vs in-process scoring of the same rows."""
    from serving.schemas import ScoreFeaturesRequest

    rng = np.random.default_rng(7)
    service, local, validate = [], [], []
    headers = {"Authorization": f"Bearer {target.api_key}"} if target.api_key else {}
    with httpx.Client(base_url=target.url, headers=headers, timeout=max(timeout, 120)) as client:
        for i in range(repeats + 1):
            rows = snapshot.iloc[rng.choice(len(snapshot), size, replace=False)]
            body = {"customers": feature_payload(rows)}
            started = time.perf_counter()
            response = client.post("/score/features", json=body)
            elapsed = time.perf_counter() - started
            response.raise_for_status()
            started = time.perf_counter()
            request = ScoreFeaturesRequest.model_validate(body)
            parsed = time.perf_counter() - started
            started = time.perf_counter()
            scorer.score_features(request.customers)
            scored = time.perf_counter() - started
            if i:  # the first call warms up
                service.append(elapsed)
                local.append(scored)
                validate.append(parsed)
    return {
        "route": "/score/features",
        "customers": size,
        "repeats": repeats,
        "service": summary_ms(service),
        "in_process_scoring": summary_ms(local),
        "in_process_validation": summary_ms(validate),
        "service_over_in_process_p50": statistics.median(service) / statistics.median(local),
        "service_over_in_process_with_validation_p50": statistics.median(service)
        / (statistics.median(local) + statistics.median(validate)),
    }


# --- soak and restart ----------------------------------------------------------------------------


def server_cpu_seconds(pid: int | None) -> float:
    """CPU seconds (user + system) used so far by the server process tree; NaN without a pid."""
    import psutil

    if pid is None:
        return float("nan")
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return float("nan")
    total = 0.0
    for proc in procs:
        try:
            times = proc.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return total


def server_rss_mb(pid: int) -> float:
    """RSS of the server process tree (the BentoML arbiter and its worker), MB."""
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return float("nan")
    total = 0
    for proc in procs:
        try:
            total += proc.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total / 2**20


def soak(
    target: Target,
    snapshot: pd.DataFrame,
    seconds: float,
    concurrency: int,
    timeout: float,
    interval: float,
    pid: int | None,
) -> dict:
    work = [
        w
        for pair in zip(
            *[[(r, b) for b in bodies_for(r, snapshot, seed=5)] for r in ROUTES], strict=True
        )
        for w in pair
    ]
    samples: list[tuple[float, float]] = []

    async def run() -> dict[str, Tally]:
        started = time.perf_counter()
        stop = asyncio.Event()

        async def sample() -> None:
            while not stop.is_set():
                if pid is not None:
                    samples.append((time.perf_counter() - started, server_rss_mb(pid)))
                await asyncio.sleep(interval)

        sampler = asyncio.create_task(sample())
        tallies = await drive(target, work, concurrency, seconds, timeout)
        stop.set()
        await sampler
        return tallies

    tallies = asyncio.run(run())
    out: dict = {"seconds": seconds, "concurrency": concurrency, "routes": {}}
    for route, tally in tallies.items():
        out["routes"][route] = {
            "requests": sum(tally.outcomes.values()),
            "outcomes": dict(tally.outcomes),
            **summary_ms(tally.latencies),
        }
    if samples:
        t, rss = np.array(samples).T
        warm = t >= min(60.0, seconds * 0.2)  # warm-up: the first minute (or fifth)
        slope = float(np.polyfit(t[warm], rss[warm], 1)[0] * 60) if warm.sum() >= 3 else None
        out["rss_mb"] = {
            "samples": [[round(a, 1), round(b, 1)] for a, b in samples],
            "after_warm_up": float(rss[warm][0]) if warm.any() else None,
            "end": float(rss[-1]),
            "max": float(rss.max()),
            "slope_mb_per_minute_after_warm_up": slope,
        }
    return out


def restart_under_load(
    target: Target, snapshot: pd.DataFrame, seconds: float, concurrency: int, timeout: float
) -> dict:
    """SIGTERM the server while clients send, start it again on the same port, watch /readyz."""
    from service_fixtures import spawn_server, stop

    server = target.server
    port = int(server.url.rsplit(":", 1)[1])
    work = [("/score/ids", b) for b in bodies_for("/score/ids", snapshot, seed=9)]
    readiness: list[tuple[float, str]] = []
    events: dict[str, float] = {}

    async def probe(started: float, done: asyncio.Event) -> None:
        async with httpx.AsyncClient(timeout=2.0) as client:
            while not done.is_set():
                try:
                    status = str((await client.get(f"{server.url}/readyz")).status_code)
                except httpx.TimeoutException:
                    status = "timeout"
                except httpx.TransportError:
                    status = "refused"
                if not readiness or readiness[-1][1] != status:
                    readiness.append((round(time.perf_counter() - started, 2), status))
                await asyncio.sleep(0.2)

    async def run() -> dict[str, Tally]:
        nonlocal server
        started = time.perf_counter()
        done = asyncio.Event()
        prober = asyncio.create_task(probe(started, done))
        load = asyncio.create_task(drive(target, work, concurrency, seconds, timeout, stop=done))
        await asyncio.sleep(min(5.0, seconds / 4))
        events["stop_sent_s"] = time.perf_counter() - started
        await asyncio.to_thread(stop, server.process)
        events["stopped_s"] = time.perf_counter() - started
        server = spawn_server(target.store, port=port)
        target.server = server
        events["started_s"] = time.perf_counter() - started
        while time.perf_counter() - started < seconds:
            if readiness and readiness[-1][1] == "200" and "ready_s" not in events:
                events["ready_s"] = readiness[-1][0]
                await asyncio.sleep(3.0)  # some load on the restarted server
                break
            await asyncio.sleep(0.2)
        done.set()
        tallies = await load
        await prober
        return tallies

    tally = asyncio.run(run()).get("/score/ids", Tally())
    statuses = [s for _, s in readiness]
    return {
        "timeout_s": timeout,
        "events_s": {k: round(v, 2) for k, v in events.items()},
        "readyz_sequence": readiness,
        "readyz_503_then_200": "503" in statuses
        and statuses[-1] == "200"
        and statuses.index("503") < len(statuses) - 1,
        "requests": sum(tally.outcomes.values()),
        "outcomes": dict(tally.outcomes),
        "slowest_request_s": round(tally.slowest, 3),
        # every request ended by its timeout (answered, refused, or given up at the timeout)
        "no_request_past_timeout": tally.slowest <= timeout + 1.0,
        "requests_that_waited_the_whole_timeout": tally.outcomes["timeout"],
        **summary_ms(tally.latencies),
    }


# --- the server under test -----------------------------------------------------------------------


@contextmanager
def target_from_args(args: argparse.Namespace) -> Iterator[Target]:
    if args.url:
        yield Target(
            args.url.rstrip("/"),
            args.api_key or os.environ.get("LIFECYCLE_API_KEY"),
            Path(
                args.snapshot
                or os.environ.get("LIFECYCLE_SNAPSHOT", "data/scores.snapshot.parquet")
            ),
            args.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI", DEFAULT_TRACKING_URI),
            args.project or os.environ.get("LIFECYCLE_PROJECT"),
            pid=args.pid,
        )
        return
    from service_fixtures import (
        API_KEY,
        PROJECT,
        TrainedStore,
        prepare_store,
        spawn_server,
        wait_ready,
    )
    from service_fixtures import stop as stop_server

    root = Path(args.store)
    if (root / "scores.snapshot.parquet").exists():
        store = TrainedStore(
            root,
            root / "data",
            f"sqlite:///{root / 'mlflow.db'}",
            root / "scores.parquet",
            root / "scores.snapshot.parquet",
            pd.Timestamp(
                pd.read_parquet(root / "scores.snapshot.parquet", columns=["cutoff"])["cutoff"][0]
            ).date(),
        )
    else:
        print(
            f"training a small model on {args.customers:,} synthetic customers in {root} ...",
            file=sys.stderr,
        )
        store = prepare_store(root, n_customers=args.customers)
    server = spawn_server(store)
    target = Target(server.url, API_KEY, store.snapshot, store.tracking_uri, PROJECT, server, store)
    try:
        waited = wait_ready(server, 300)
        print(f"service ready at {server.url} in {waited:.1f} s", file=sys.stderr)
        yield target
    finally:
        stop_server(target.server.process)


def table(results: dict) -> str:
    header = (
        f"{'route':<16} {'c':>3} {'s':>5} {'requests':>8} {'errors':>6} {'p50':>7} {'p99':>7} "
        f"{'max':>7} {'req/s':>7} {'svc/in-proc p50':>15}"
    )
    lines = [header]
    for r in results["scenarios"]:
        ratio = r.get("service_over_in_process_p50")
        lines.append(
            f"{r['route']:<16} {r['concurrency']:>3} {r['seconds']:>5.0f} {r['requests']:>8} "
            f"{r['errors']:>6} {r['p50_ms'] or float('nan'):>7.1f} "
            f"{r['p99_ms'] or float('nan'):>7.1f} {r['max_ms'] or float('nan'):>7.1f} "
            f"{r['throughput_rps']:>7.1f} {ratio if ratio is not None else float('nan'):>15.1f}"
        )
    big = results.get("features_1000")
    if big:
        lines.append(
            f"1,000-customer /score/features: service p50 {big['service']['p50_ms']:.0f} ms, "
            f"in-process {big['in_process_scoring']['p50_ms']:.0f} ms (ratio "
            f"{big['service_over_in_process_p50']:.2f})"
        )
    soak_ = results.get("soak")
    if soak_ and "rss_mb" in soak_:
        rss = soak_["rss_mb"]
        lines.append(
            f"soak {soak_['seconds']:.0f} s: RSS {rss['after_warm_up']:.0f} -> {rss['end']:.0f} MB "
            f"(slope {rss['slope_mb_per_minute_after_warm_up']} MB/min), outcomes "
            + ", ".join(f"{k} {v['outcomes']}" for k, v in soak_["routes"].items())
        )
    restart = results.get("restart")
    if restart:
        lines.append(
            f"restart: /readyz {[s for _, s in restart['readyz_sequence']]}, outcomes "
            f"{restart['outcomes']}, slowest {restart['slowest_request_s']} s (timeout "
            f"{restart['timeout_s']} s)"
        )
    return "\n".join(lines)


def _env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value else default


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", help="load a running service (default: start one here)")
    p.add_argument("--api-key", help="key for --url (default: $LIFECYCLE_API_KEY)")
    p.add_argument(
        "--snapshot", help="snapshot of the --url service (default: $LIFECYCLE_SNAPSHOT)"
    )
    p.add_argument("--tracking-uri", help="MLflow store of the --url service")
    p.add_argument("--project", help="project of the --url service (default: $LIFECYCLE_PROJECT)")
    p.add_argument("--pid", type=int, help="server process id of --url, to sample its RSS")
    p.add_argument(
        "--store",
        default=str(ROOT / "data" / "bench-load-store"),
        help="trained store when starting the server here (reused if present)",
    )
    p.add_argument("--customers", type=int, default=2000, help="synthetic customers to train on")
    p.add_argument(
        "--scenario-seconds", type=float, default=_env_float("LOAD_SCENARIO_SECONDS", 60.0)
    )
    p.add_argument("--concurrency", default="8,32", help="comma-separated levels")
    p.add_argument("--soak-seconds", type=float, default=_env_float("LOAD_SOAK_SECONDS", 600.0))
    p.add_argument(
        "--restart-seconds",
        type=float,
        default=_env_float("LOAD_RESTART_SECONDS", 240.0),
        help="most seconds of the restart scenario",
    )
    p.add_argument("--rss-interval", type=float, default=5.0)
    p.add_argument("--timeout", type=float, default=10.0, help="client timeout per request (s)")
    p.add_argument("--big-repeats", type=int, default=5, help="1,000-customer calls")
    p.add_argument("--out", type=Path, default=RESULTS)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    from serving.scorer import Scorer, Settings

    args = parse_args(argv)
    levels = [int(c) for c in args.concurrency.split(",")]
    started = time.perf_counter()
    results: dict = {
        "machine": machine("bentoml"),
        "durations_s": {
            "scenario": args.scenario_seconds,
            "soak": args.soak_seconds,
            "restart_max": args.restart_seconds,
        },
        "full_length": args.scenario_seconds >= 60 and args.soak_seconds >= 600,
    }
    with target_from_args(args) as target:
        snapshot = pd.read_parquet(target.snapshot)
        scorer = Scorer.from_settings(
            Settings(
                snapshot=target.snapshot, tracking_uri=target.tracking_uri, project=target.project
            )
        )
        reference = in_process(scorer, snapshot)
        results["in_process_single"] = reference
        for route in ROUTES:  # warm-up; adaptive batching calibrates itself
            scenario(target, route, snapshot, 8, min(5.0, args.scenario_seconds), args.timeout)
        results["scenarios"] = []
        for route in ROUTES:
            for c in levels:
                r = scenario(target, route, snapshot, c, args.scenario_seconds, args.timeout)
                if r["p50_ms"] is not None and reference[route]["p50_ms"]:
                    r["service_over_in_process_p50"] = r["p50_ms"] / reference[route]["p50_ms"]
                results["scenarios"].append(r)
                print(table({"scenarios": [r]}).splitlines()[1], file=sys.stderr)
        results["features_1000"] = big_request(
            target, scorer, snapshot, 1000, args.big_repeats, args.timeout
        )
        pid = target_pid(target)
        if args.soak_seconds > 0:
            results["soak"] = soak(
                target, snapshot, args.soak_seconds, 8, args.timeout, args.rss_interval, pid
            )
        if target.server is not None and args.restart_seconds > 0:
            results["restart"] = restart_under_load(
                target, snapshot, args.restart_seconds, 8, args.timeout
            )
    at_8 = {r["route"]: r for r in results["scenarios"] if r["concurrency"] == 8}
    results["aims"] = AIMS
    results["aims_met"] = {
        **{
            f"{route} p99 at c=8 < 50 ms, 0 errors": bool(
                r["p99_ms"] is not None and r["p99_ms"] < 50 and r["errors"] == 0
            )
            for route, r in at_8.items()
        },
        "1,000-customer /score/features within 3x in-process": bool(
            results["features_1000"]["service_over_in_process_p50"] <= 3.0
        ),
    }
    return write_results(args.out, results, started, table)


if __name__ == "__main__":
    main()
