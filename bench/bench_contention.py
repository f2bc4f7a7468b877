"""Benchmark: a LightGBM fit on a quiet machine and beside a busy core, as OpenMP's threads wait.

    .venv/bin/python bench/bench_contention.py [--rows 100000] [--trees 100] [--repeat 3]

Fits the churn model's LightGBM settings (``training.models.lgb_kwargs``, ``n_jobs`` = all
cores) on a random matrix, each fit in a fresh subprocess with ``OMP_WAIT_POLICY`` set to
``PASSIVE`` (threads sleep while they wait: what ``training`` sets unless the user chose) or
``ACTIVE`` (they spin: libgomp's default before), alone and beside another process that keeps
one core busy (another fit, the service, Spark on the same machine). Reports the median wall time
of ``--repeat`` rounds and its ratio to the quiet ``PASSIVE`` fit of the same run. Results go to
``reports/results/contention.json`` (``UPDATE_RESULTS=1 make bench``: ``bench/results/``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from bench._common import ROOT, log, machine
from features.atomic_file import write_text_atomic

FIT = """
import sys, time
import numpy as np
import lightgbm as lgb
from training.config import LightGBMParams
from training.models import lgb_kwargs
rows, trees, threads = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(0)
x = rng.random((rows, 60))
y = (x[:, 0] + rng.normal(0, 0.3, rows) > 0.5).astype(int)
params = LightGBMParams(n_estimators=trees, early_stopping_rounds=0, n_jobs=threads)
start = time.perf_counter()
lgb.LGBMClassifier(objective="binary", **lgb_kwargs(params, 0)).fit(x, y)
print(time.perf_counter() - start)
"""
BUSY = "while True: pass"


def fit_seconds(policy: str, busy: bool, rows: int, trees: int, threads: int) -> float:
    env = {**os.environ, "OMP_WAIT_POLICY": policy, "PYTHONPATH": str(ROOT)}
    spinner = subprocess.Popen([sys.executable, "-c", BUSY]) if busy else None
    try:
        out = subprocess.run(
            [sys.executable, "-c", FIT, str(rows), str(trees), str(threads)],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
    finally:
        if spinner is not None:
            spinner.kill()
            spinner.wait()
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--trees", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--out", type=Path, default=ROOT / "reports" / "results" / "contention.json"
    )
    args = parser.parse_args()
    threads = os.cpu_count() or 2
    cases = [(p, b) for b in (False, True) for p in ("PASSIVE", "ACTIVE")]
    seconds: dict[tuple[str, bool], list[float]] = {case: [] for case in cases}
    started = time.perf_counter()
    env_machine = machine("lightgbm")
    for round_ in range(1, args.repeat + 1):
        for policy, busy in cases:  # the cases take turns: other load falls on all of them
            t = fit_seconds(policy, busy, args.rows, args.trees, threads)
            seconds[(policy, busy)].append(t)
            log(
                f"round {round_}/{args.repeat}: {policy:7s} {'busy' if busy else 'quiet'} {t:.2f} s"
            )
    base = statistics.median(seconds[("PASSIVE", False)])
    results = [
        {
            "omp_wait_policy": policy,
            "beside_a_busy_core": busy,
            "median_seconds": round(statistics.median(times), 3),
            "seconds": [round(t, 3) for t in times],
            "ratio_to_quiet_passive": round(statistics.median(times) / base, 2),
        }
        for (policy, busy), times in seconds.items()
    ]
    report = {
        "benchmark": "lightgbm fit, OpenMP wait policy, quiet vs beside a busy core",
        "rows": args.rows,
        "features": 60,
        "trees": args.trees,
        "threads": threads,
        "machine": env_machine,
        "wall_seconds": round(time.perf_counter() - started, 1),
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(args.out, json.dumps(report, indent=2) + "\n")
    for r in results:
        log(
            f"{r['omp_wait_policy']:7s} {'busy ' if r['beside_a_busy_core'] else 'quiet'} "
            f"{r['median_seconds']:8.2f} s  x{r['ratio_to_quiet_passive']}"
        )
    log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
