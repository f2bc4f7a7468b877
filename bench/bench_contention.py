"""Benchmark: a LightGBM fit alone and beside another fit, by how its OpenMP threads wait.

    .venv/bin/python bench/bench_contention.py [--rows 100000] [--trees 100] [--repeat 3]

Fits the churn model's LightGBM settings (``training.models.lgb_kwargs``, ``n_jobs`` = all
cores) on a random matrix, each fit in a fresh subprocess, alone (``quiet``) and while another
process fits LightGBM in a loop on the same cores with libgomp's defaults (``busy``: two
trainings, a training beside the service's batch scoring, Spark on the same machine). The
fit's threads wait in one of three ways: libgomp's default (spin about 300,000 times, then
sleep: what ran before), ``GOMP_SPINCOUNT`` = ``training.OPENMP_SPIN_COUNT`` (what the
``training`` package sets unless the environment chose) and ``OMP_WAIT_POLICY=PASSIVE`` (never
spin). Reports the median wall time of ``--repeat`` rounds and its ratio to the quiet default
fit of the same run. Results go to ``reports/results/contention.json`` (``UPDATE_RESULTS=1``:
``bench/results/``).
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
from training import OPENMP_SPIN_COUNT

FIT = """
import sys, time
import numpy as np
import lightgbm as lgb  # libgomp loads here, with the case's environment, before training's import
from training.config import LightGBMParams
from training.models import lgb_kwargs
rows, trees, threads, loop = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rng = np.random.default_rng(0)
x = rng.random((rows, 60))
y = (x[:, 0] + rng.normal(0, 0.3, rows) > 0.5).astype(int)
params = LightGBMParams(n_estimators=trees, early_stopping_rounds=0, n_jobs=threads)
while True:
    start = time.perf_counter()
    lgb.LGBMClassifier(objective="binary", **lgb_kwargs(params, 0)).fit(x, y)
    if loop != "loop":
        print(time.perf_counter() - start)
        break
"""
#: How the timed fit's threads wait: the environment of each case (``None``: remove the variable).
WAITS = {
    "libgomp_default": {"OMP_WAIT_POLICY": None, "GOMP_SPINCOUNT": None},
    "spin_count": {"OMP_WAIT_POLICY": None, "GOMP_SPINCOUNT": OPENMP_SPIN_COUNT},
    "passive": {"OMP_WAIT_POLICY": "PASSIVE", "GOMP_SPINCOUNT": None},
}


def _env(wait: dict[str, str | None]) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for name, value in wait.items():
        env.pop(name, None)
        if value is not None:
            env[name] = value
    return env


def _python(args: list[str], rows: int, trees: int, threads: int) -> list[str]:
    return [sys.executable, "-c", FIT, str(rows), str(trees), str(threads), *args]


def fit_seconds(wait: str, busy: bool, rows: int, trees: int, threads: int) -> float:
    """One timed fit in a fresh process; ``busy``: beside a loop of fits with libgomp's defaults."""
    other = None
    if busy:
        default = _env(WAITS["libgomp_default"])
        command = _python(["loop"], rows // 2, trees, threads)
        other = subprocess.Popen(command, env=default, stdout=subprocess.DEVNULL)
        time.sleep(2.0)  # its data built, fitting
    try:
        out = subprocess.run(
            _python(["once"], rows, trees, threads),
            env=_env(WAITS[wait]),
            check=True,
            capture_output=True,
            text=True,
        )
    finally:
        if other is not None:
            other.kill()
            other.wait()
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
    cases = [(w, b) for b in (False, True) for w in WAITS]
    seconds: dict[tuple[str, bool], list[float]] = {case: [] for case in cases}
    started = time.perf_counter()
    env_machine = machine("lightgbm")
    for round_ in range(1, args.repeat + 1):
        for wait, busy in cases:  # the cases take turns: other load falls on all of them
            t = fit_seconds(wait, busy, args.rows, args.trees, threads)
            seconds[(wait, busy)].append(t)
            log(f"round {round_}/{args.repeat}: {wait:15s} {'busy' if busy else 'quiet'} {t:.2f} s")
    base = statistics.median(seconds[("libgomp_default", False)])
    results = [
        {
            "wait": wait,
            "environment": WAITS[wait],
            "beside_another_fit": busy,
            "median_seconds": round(statistics.median(times), 3),
            "seconds": [round(t, 3) for t in times],
            "ratio_to_quiet_default": round(statistics.median(times) / base, 2),
        }
        for (wait, busy), times in seconds.items()
    ]
    report = {
        "benchmark": "lightgbm fit alone and beside another fit, by OpenMP wait",
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
            f"{r['wait']:15s} {'busy ' if r['beside_another_fit'] else 'quiet'} "
            f"{r['median_seconds']:8.2f} s  x{r['ratio_to_quiet_default']}"
        )
    log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
