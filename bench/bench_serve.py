"""Benchmark the scoring service and the batch-scoring path; writes ``bench/results/serve.json``.

Online (over HTTP on loopback, against ``--url`` or a server this script starts on a freshly
trained small model, like the service tests):

- single-customer latency p50/p99 and throughput at concurrency 1, 8 and 32, by id (a look-up
  of the snapshot's scores) and by posted features (scored per request, adaptive batching);
- batches of 100 and 1,000 customers (``/score/ids`` and ``/score/features``) against the floor:
  the in-process scoring time of the same rows (``serving.batch.score_snapshot``).

Offline: rows per second of the in-process batch path (``serving.batch.predict`` +
``serving.scoring.score_frame``) on ``--rows`` customers (default 1M, resampled from snapshot
rows) against raw LightGBM ``booster.predict`` on the same encoded matrix.

The load generator (httpx, asyncio) runs on the same machine and shares its cores.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import httpx
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # ahead of bench/: the packages

from bench._common import ROOT, feature_payload, machine, write_results
from training import DEFAULT_TRACKING_URI

RESULTS = ROOT / "bench" / "results" / "serve.json"
ROUTES = ("/score/ids", "/score/features")
AIMS = {"single_p99_ms_at_concurrency_8": 50.0, "batch_1000_over_floor": 3.0}


@dataclass(frozen=True)
class Target:
    url: str
    api_key: str | None
    snapshot: Path
    tracking_uri: str
    started_here: bool
    project: str | None = None


# --- measuring -----------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def summary_ms(seconds: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in seconds]
    return {
        "p50_ms": percentile(ms, 50),
        "p90_ms": percentile(ms, 90),
        "p99_ms": percentile(ms, 99),
        "max_ms": max(ms, default=float("nan")),
    }


def timed(func: Callable[[], object], repeats: int) -> list[float]:
    """Wall seconds of ``repeats`` calls (after one untimed warm-up call)."""
    func()
    out = []
    for _ in range(repeats):
        started = time.perf_counter()
        func()
        out.append(time.perf_counter() - started)
    return out


async def _load(
    target: Target,
    route: str,
    bodies: list[dict],
    concurrency: int,
    max_requests: int,
    max_seconds: float,
) -> dict:
    headers = {"Authorization": f"Bearer {target.api_key}"} if target.api_key else {}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    latencies: list[float] = []
    errors = 0
    counter = itertools.count()
    async with httpx.AsyncClient(
        base_url=target.url, headers=headers, limits=limits, timeout=60
    ) as client:
        deadline = time.perf_counter() + max_seconds

        async def worker() -> None:
            nonlocal errors
            while (i := next(counter)) < max_requests and time.perf_counter() < deadline:
                started = time.perf_counter()
                response = await client.post(route, json=bodies[i % len(bodies)])
                elapsed = time.perf_counter() - started
                if response.status_code == 200 and response.json()[0]["error"] is None:
                    latencies.append(elapsed)
                else:
                    errors += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - started
    return {
        "route": route,
        "concurrency": concurrency,
        "requests": len(latencies) + errors,
        "errors": errors,
        **summary_ms(latencies),
        "throughput_rps": len(latencies) / wall,
    }


def single_customer(
    target: Target,
    snapshot: pd.DataFrame,
    route: str,
    concurrency: int,
    max_requests: int,
    max_seconds: float,
) -> dict:
    """Requests of one customer each (``route`` ids or features), ``concurrency`` at a time."""
    rows = snapshot.sample(n=min(len(snapshot), 1000), random_state=concurrency)
    if route == "/score/ids":
        bodies = [{"customer_ids": [cid]} for cid in rows["customer_id"]]
    else:
        bodies = [{"customers": [row]} for row in feature_payload(rows)]
    return asyncio.run(_load(target, route, bodies, concurrency, max_requests, max_seconds))


def batches(
    target: Target, snapshot: pd.DataFrame, scorer, size: int, repeats: int, seed: int = 0
) -> list[dict]:
    """``/score/ids`` and ``/score/features`` with ``size`` customers vs in-process scoring of the
    same rows."""
    from serving.batch import score_snapshot
    from serving.schemas import ScoreFeaturesRequest

    rng = np.random.default_rng(seed)
    picks = [rng.choice(len(snapshot), size, replace=False) for _ in range(repeats + 1)]
    headers = {"Authorization": f"Bearer {target.api_key}"} if target.api_key else {}
    out = []
    with httpx.Client(base_url=target.url, headers=headers, timeout=120) as client:
        for route in ("ids", "features"):
            bodies = [
                {"customer_ids": snapshot["customer_id"].iloc[p].tolist()}
                if route == "ids"
                else {"customers": feature_payload(snapshot.iloc[p])}
                for p in picks
            ]
            service = _http_times(client, f"/score/{route}", bodies)
            floor = [
                _seconds(
                    lambda p=p: score_snapshot(
                        snapshot.iloc[p], scorer.champions, scorer.as_of, scorer.config
                    )
                )
                for p in picks[1:]
            ]
            if route == "ids":
                in_process = [
                    _seconds(lambda b=b: scorer.score_ids(b["customer_ids"])) for b in bodies[1:]
                ]
            else:
                requests = [ScoreFeaturesRequest.model_validate(b) for b in bodies[1:]]
                in_process = [
                    _seconds(lambda r=r: scorer.score_features(r.customers)) for r in requests
                ]
            out.append(
                {
                    "route": f"/score/{route}",
                    "customers": size,
                    "repeats": repeats,
                    "service": summary_ms(service),
                    "in_process_api": summary_ms(in_process),
                    "floor_score_snapshot": summary_ms(floor),
                    "service_over_floor_p50": statistics.median(service) / statistics.median(floor),
                    "rows_per_s_service": size / statistics.median(service),
                }
            )
    return out


def _http_times(client: httpx.Client, path: str, bodies: list[dict]) -> list[float]:
    out = []
    for i, body in enumerate(bodies):
        started = time.perf_counter()
        response = client.post(path, json=body)
        elapsed = time.perf_counter() - started
        response.raise_for_status()
        if i:  # the first call warms up
            out.append(elapsed)
    return out


def _seconds(func: Callable[[], object]) -> float:
    started = time.perf_counter()
    func()
    return time.perf_counter() - started


def batch_scoring(
    snapshot: pd.DataFrame,
    champions,
    as_of: date,
    rows: int,
    chunk: int,
    threads: int,
    seed: int = 0,
) -> dict:
    """Rows/s of predict + score_frame vs raw ``booster.predict`` on ``rows`` resampled snapshot
    rows."""
    from serving.batch import predict, set_prediction_threads
    from serving.scoring import score_frame

    set_prediction_threads(champions, threads)
    config = _scoring_config(champions)
    rng = np.random.default_rng(seed)
    totals = dict.fromkeys(
        ["encode", "raw_predict", "raw_predict_contrib", "predict", "score_frame"], 0.0
    )
    done = 0
    while done < rows:
        n = min(chunk, rows - done)
        frame = snapshot.iloc[rng.integers(0, len(snapshot), n)].reset_index(drop=True)
        started = time.perf_counter()
        matrices = [
            (model.encoder_.transform(frame), booster) for model, booster in _boosters(champions)
        ]
        totals["encode"] += time.perf_counter() - started
        started = time.perf_counter()
        for x, booster in matrices:
            booster.predict(x)
        totals["raw_predict"] += time.perf_counter() - started
        started = time.perf_counter()
        matrices[0][1].predict(matrices[0][0], pred_contrib=True)
        totals["raw_predict_contrib"] += time.perf_counter() - started
        del matrices
        started = time.perf_counter()
        probability, value, contributions = predict(frame, champions)
        totals["predict"] += time.perf_counter() - started
        started = time.perf_counter()
        score_frame(
            frame,
            probability,
            value,
            contributions,
            config,
            as_of,
            champions.churn_version,
            champions.clv_version,
        )
        totals["score_frame"] += time.perf_counter() - started
        done += n
    path = totals["predict"] + totals["score_frame"]
    return {
        "rows": rows,
        "chunk": chunk,
        "lightgbm_threads": threads,
        "seconds": totals,
        "rows_per_s": {
            "raw_booster_predict": rows / totals["raw_predict"],
            "raw_booster_predict_with_contrib": rows
            / (totals["raw_predict"] + totals["raw_predict_contrib"]),
            "predict": rows / totals["predict"],
            "scoring_path": rows / path,
        },
        "scoring_path_over_raw_predict": path / totals["raw_predict"],
    }


def _boosters(champions):
    """(model, booster) pairs of every LightGBM model the scoring path runs, churn first."""
    churn, clv = champions.churn, champions.clv
    if hasattr(churn, "boosters"):  # models loaded from the store predict through plain boosters
        return [(model, b) for model in (churn, clv) for b in model.boosters()]
    clv_models = [clv.regressor_] if clv.kind == "tweedie" else [clv.buyer_, clv.spend_]
    return [(churn, churn.classifier_.booster_), *((clv, m.booster_) for m in clv_models)]


def _scoring_config(champions):
    from serving.config import ScoringConfig

    return (
        ScoringConfig.model_validate(champions.scoring)
        if getattr(champions, "scoring", None)
        else ScoringConfig()
    )


# --- the server under test -----------------------------------------------------------------------


@contextmanager
def target_from_args(args: argparse.Namespace) -> Iterator[Target]:
    """The service at ``--url``, or one started here on a freshly trained store."""
    if args.url:
        snapshot = Path(
            args.snapshot or os.environ.get("LIFECYCLE_SNAPSHOT", "data/scores.snapshot.parquet")
        )
        tracking = args.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI", DEFAULT_TRACKING_URI)
        yield Target(
            args.url.rstrip("/"),
            args.api_key or os.environ.get("LIFECYCLE_API_KEY"),
            snapshot,
            tracking,
            started_here=False,
            project=args.project or os.environ.get("LIFECYCLE_PROJECT"),
        )
        return
    sys.path.insert(0, str(ROOT / "tests"))
    from service_fixtures import API_KEY, PROJECT, existing_store, prepare_store, running_server

    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        root = Path(args.store) if args.store else Path(tmp)
        store = existing_store(root)
        if store is None:
            print(
                f"training a small model on {args.customers:,} synthetic customers in {root} ...",
                file=sys.stderr,
            )
            store = prepare_store(root, n_customers=args.customers)
        started = time.perf_counter()
        with running_server(store) as server:
            print(
                f"service ready at {server.url} in {time.perf_counter() - started:.1f} s",
                file=sys.stderr,
            )
            yield Target(
                server.url, API_KEY, store.snapshot, store.tracking_uri, True, project=PROJECT
            )


# --- report --------------------------------------------------------------------------------------


def table(results: dict) -> str:
    lines = [
        "single customer (1 customer per request)",
        (
            f"{'route':<16} {'concurrency':>11} {'requests':>9} {'errors':>7} {'p50 ms':>8} "
            f"{'p99 ms':>8} {'req/s':>8}"
        ),
    ]
    for r in results["single"]:
        lines.append(
            f"{r['route']:<16} {r['concurrency']:>11} {r['requests']:>9} {r['errors']:>7} "
            f"{r['p50_ms']:>8.1f} {r['p99_ms']:>8.1f} {r['throughput_rps']:>8.1f}"
        )
    lines += [
        "",
        "batches (p50 ms; floor = in-process score_snapshot of the same rows)",
        (
            f"{'route':<16} {'size':>5} {'service':>9} {'in-proc':>9} {'floor':>9} {'ratio':>6} "
            f"{'rows/s':>9}"
        ),
    ]
    for r in results["batches"]:
        lines.append(
            f"{r['route']:<16} {r['customers']:>5} {r['service']['p50_ms']:>9.1f} "
            f"{r['in_process_api']['p50_ms']:>9.1f} {r['floor_score_snapshot']['p50_ms']:>9.1f} "
            f"{r['service_over_floor_p50']:>6.2f} {r['rows_per_s_service']:>9,.0f}"
        )
    b = results.get("batch_scoring")
    if b:
        lines += [
            "",
            (
                f"batch scoring of {b['rows']:,} customers (in process, {b['lightgbm_threads']} "
                "LightGBM threads)"
            ),
        ]
        for name, rate in b["rows_per_s"].items():
            lines.append(f"  {name:<34} {rate:>12,.0f} rows/s")
        lines.append(f"  scoring path / raw predict: {b['scoring_path_over_raw_predict']:.1f}x")
    lines += [
        "",
        "aims: "
        + ", ".join(f"{k} {'met' if v else 'MISSED'}" for k, v in results["aims_met"].items()),
    ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--url", help="benchmark a running service (default: start one on a fresh small model)"
    )
    p.add_argument("--api-key", help="key for --url (default: $LIFECYCLE_API_KEY)")
    p.add_argument("--project", help="project of the --url service (default: $LIFECYCLE_PROJECT)")
    p.add_argument(
        "--snapshot",
        help="feature snapshot the --url service serves (default: $LIFECYCLE_SNAPSHOT)",
    )
    p.add_argument(
        "--tracking-uri",
        help="MLflow store of the --url service's champions (default: $MLFLOW_TRACKING_URI)",
    )
    p.add_argument(
        "--store", help="directory for the trained store when starting a server (reused if present)"
    )
    p.add_argument(
        "--customers", type=int, default=2000, help="synthetic customers when training here"
    )
    p.add_argument("--requests", type=int, default=1500, help="most requests per concurrency level")
    p.add_argument("--seconds", type=float, default=20.0, help="most seconds per concurrency level")
    p.add_argument(
        "--rows",
        type=int,
        default=1_000_000,
        help="customers for the batch-scoring comparison (0: skip)",
    )
    p.add_argument("--chunk", type=int, default=200_000, help="rows per in-process scoring call")
    p.add_argument(
        "--batch-threads",
        type=int,
        default=os.cpu_count() or 1,
        help="LightGBM threads for batch scoring",
    )
    p.add_argument("--out", type=Path, default=RESULTS)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    from serving.batch import set_prediction_threads
    from serving.scorer import Scorer, load_champion_pair

    args = parse_args(argv)
    started = time.perf_counter()
    results: dict = {"machine": machine("bentoml", "lightgbm", "pandas")}
    with target_from_args(args) as target:
        snapshot = pd.read_parquet(target.snapshot)
        champions = load_champion_pair(target.tracking_uri, target.project)
        set_prediction_threads(champions, 1)  # as the service does (LIFECYCLE_PREDICT_THREADS=1)
        scorer = Scorer(champions, None, snapshot)
        for route in ROUTES:  # warm-up; adaptive batching calibrates itself
            single_customer(target, snapshot, route, 8, 100, 30)
        results["service"] = {
            "url": target.url,
            "started_here": target.started_here,
            "snapshot_customers": len(snapshot),
            "churn_version": champions.churn_version,
            "clv_version": champions.clv_version,
        }
        results["single"] = [
            single_customer(target, snapshot, route, c, args.requests, args.seconds)
            for route in ROUTES
            for c in (1, 8, 32)
        ]
        results["batches"] = [
            *batches(target, snapshot, scorer, 100, 20),
            *batches(target, snapshot, scorer, 1000, 10),
        ]
    if args.rows:
        results["batch_scoring"] = batch_scoring(
            snapshot, champions, scorer.as_of, args.rows, args.chunk, args.batch_threads
        )
    results["aims"] = AIMS
    results["aims_met"] = {}
    for route in ROUTES:
        at_8 = next(r for r in results["single"] if r["route"] == route and r["concurrency"] == 8)
        batch_1000 = next(
            r for r in results["batches"] if r["route"] == route and r["customers"] == 1000
        )
        results["aims_met"][f"{route} single_p99_ms_at_concurrency_8"] = (
            at_8["p99_ms"] < AIMS["single_p99_ms_at_concurrency_8"]
        )
        results["aims_met"][f"{route} batch_1000_over_floor"] = (
            batch_1000["service_over_floor_p50"] <= AIMS["batch_1000_over_floor"]
        )
    return write_results(args.out, results, started, table)


if __name__ == "__main__":
    main()
