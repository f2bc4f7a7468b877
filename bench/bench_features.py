"""Benchmark: the point-in-time feature build against a plain DuckDB scan of the same columns.

    .venv/bin/python bench/bench_features.py [--customers 200000] [--seed 0] [--repeat 3]

Generates (or reuses, under ``bench/data/``) a synthetic contract directory with
``features.synthetic.generate`` -- 200,000 customers give about 10.6M transaction + event rows --
then times, each kind in a fresh subprocess (so peak memory is its own):

- ``floor``: one DuckDB query per table reading every column the features read, once
  (``count(*)``, ``sum``, ``min``/``max`` of timestamps, ``max(length(...))`` of strings);
- ``floor_grouped``: the same queries with ``GROUP BY customer_id`` (one row per customer
  fetched to Arrow): the least a per-customer feature build has to do; for reference only,
  ratios are to ``floor``;
- ``features_1_cutoff``: ``connect`` + ``feature_table`` for one cutoff + fetch to Arrow;
- ``features_12_cutoffs``: the same for 12 stacked monthly cutoffs (one query).

The kinds take turns: ``--repeat`` rounds, each running every kind in a fresh subprocess (one
warm-up run, then one timed run), so that other load on a shared machine falls on all of them
alike. The table reports the median (and the best) wall time, input rows per second, the ratio to
the floor's median and the peak RSS sampled every 5 ms during the timed runs. Results go to
``bench/results/features.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from bench._common import ROOT, ensure_data, log
from features.atomic_file import write_text_atomic

RESULTS = ROOT / "bench" / "results" / "features.json"
KINDS = ("floor", "floor_grouped", "features_1_cutoff", "features_12_cutoffs")
FLOOR_COLUMNS = {
    "customers": ("signup_at", None, ("customer_id", "region", "channel", "segment")),
    "transactions": ("ordered_at", "amount", ("customer_id", "category")),
    "events": ("occurred_at", "value", ("customer_id", "event_type")),
}


def table_rows(data: Path) -> dict[str, int]:
    import pyarrow.parquet as pq

    return {t: pq.ParquetFile(data / f"{t}.parquet").metadata.num_rows for t in FLOOR_COLUMNS}


def default_cutoffs(data: Path) -> list[str]:
    """12 month starts ending 6 months before the last transaction (labels would fit after)."""
    import duckdb
    import pandas as pd

    path = data / "transactions.parquet"
    ((last,),) = duckdb.sql(f"select max(ordered_at) from read_parquet('{path}')").fetchall()
    end = (pd.Timestamp(last) - pd.DateOffset(months=6)).to_period("M").to_timestamp()
    return [f"{c:%Y-%m-%d}" for c in pd.date_range(end=end, periods=12, freq="MS")]


# --- one measurement (runs in a subprocess) -----------------------------------------------------


@contextmanager
def peak_rss() -> dict:
    """Sample this process's RSS every 5 ms; yields a dict that gets ``peak_mb``."""
    import psutil

    process, result, stop = psutil.Process(), {"peak_mb": 0.0}, threading.Event()

    def sample() -> None:
        while not stop.is_set():
            result["peak_mb"] = max(result["peak_mb"], process.memory_info().rss / 2**20)
            stop.wait(0.005)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield result
    finally:
        stop.set()
        thread.join()


def floor_run(data: Path, grouped: bool = False) -> Callable[[], int]:
    import duckdb

    def run() -> int:
        con, rows = duckdb.connect(), 0
        for table, (time_col, number, strings) in FLOOR_COLUMNS.items():
            parts = ["count(*)", f"min({time_col})", f"max({time_col})"]
            parts += [f"sum({number})"] if number else []
            parts += [f"max(length({c}))" for c in strings if not (grouped and c == "customer_id")]
            source = f"read_parquet('{data / table}.parquet')"
            if grouped:
                query = f"select customer_id, {', '.join(parts)} from {source} group by 1"
                rows += con.sql(query).to_arrow_table().num_rows
            else:
                con.sql(f"select {', '.join(parts)} from {source}").fetchall()
        con.close()
        return rows

    return run


def features_run(data: Path, cutoffs: list[str]) -> Callable[[], int]:
    from features.snapshots import connect, feature_table

    def run() -> int:
        return feature_table(connect(data), cutoffs).to_pyarrow().num_rows

    return run


def measure(kind: str, data: Path, cutoffs: list[str], repeat: int) -> dict:
    """Warm up once, then time ``repeat`` runs; wall and CPU seconds, output rows, peak RSS."""
    import psutil

    if kind.startswith("floor"):
        run = floor_run(data, grouped=kind == "floor_grouped")
    else:
        run = features_run(data, cutoffs[-1:] if kind == "features_1_cutoff" else cutoffs)
    load = os.getloadavg()[0]  # other work on the machine skews wall times; CPU less so
    run()
    baseline_mb = psutil.Process().memory_info().rss / 2**20
    walls, cpus, out_rows = [], [], 0
    with peak_rss() as memory:
        for i in range(repeat):
            wall, cpu = time.perf_counter(), time.process_time()
            out_rows = run()
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
            log(f"  {kind} run {i + 1}/{repeat}: {walls[-1]:.2f} s")
    return {
        "kind": kind,
        "load_average_1m": round(load, 2),
        "wall_seconds": walls,
        "cpu_seconds": cpus,
        "output_rows": out_rows,
        "baseline_rss_mb": round(baseline_mb, 1),
        "peak_rss_mb": round(memory["peak_mb"], 1),
    }


def measure_in_subprocess(kind: str, data: Path, cutoffs: list[str], repeat: int) -> dict:
    command = [
        sys.executable,
        __file__,
        "--measure",
        kind,
        "--data",
        str(data),
        "--repeat",
        str(repeat),
        "--cutoffs",
        *cutoffs,
    ]
    done = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure_in_rounds(data: Path, cutoffs: list[str], rounds: int) -> list[dict]:
    """``rounds`` rounds in which every kind takes its turn (a fresh subprocess, one warm-up and
    one timed run): load from other work on the machine falls on all kinds alike, which matters
    for the ratios more than for the seconds."""
    merged: dict[str, dict] = {}
    for r in range(rounds):
        for kind in KINDS:
            log(f"round {r + 1}/{rounds}: {kind} (1 warm-up + 1 run) ...")
            m = measure_in_subprocess(kind, data, cutoffs, 1)
            if kind not in merged:
                merged[kind] = m | {"load_average_1m": [m["load_average_1m"]]}
                continue
            into = merged[kind]
            into["load_average_1m"].append(m["load_average_1m"])
            into["wall_seconds"] += m["wall_seconds"]
            into["cpu_seconds"] += m["cpu_seconds"]
            into["baseline_rss_mb"] = max(into["baseline_rss_mb"], m["baseline_rss_mb"])
            into["peak_rss_mb"] = max(into["peak_rss_mb"], m["peak_rss_mb"])
    return [merged[kind] for kind in KINDS]


# --- report -------------------------------------------------------------------------------------


def summarize(measurements: list[dict], rows: dict[str, int], cutoffs: list[str]) -> list[dict]:
    input_rows = rows["transactions"] + rows["events"] + rows["customers"]
    floor = statistics.median(next(m for m in measurements if m["kind"] == "floor")["wall_seconds"])
    floor_cpu = statistics.median(
        next(m for m in measurements if m["kind"] == "floor")["cpu_seconds"]
    )
    table = []
    for m in measurements:
        seconds = statistics.median(m["wall_seconds"])
        cpu = statistics.median(m["cpu_seconds"])
        table.append(
            {
                "kind": m["kind"],
                "cutoffs": {"floor": 0, "floor_grouped": 0, "features_1_cutoff": 1}.get(
                    m["kind"], len(cutoffs)
                ),
                "input_rows": input_rows,
                "output_rows": m["output_rows"],
                "seconds": round(seconds, 3),
                "seconds_best": round(min(m["wall_seconds"]), 3),
                "cpu_seconds": round(cpu, 3),
                "input_rows_per_second": round(input_rows / seconds),
                "ratio_to_floor": round(seconds / floor, 2),
                "cpu_ratio_to_floor": round(cpu / floor_cpu, 2),
                "baseline_rss_mb": m["baseline_rss_mb"],
                "peak_rss_mb": m["peak_rss_mb"],
            }
        )
    return table


def print_table(table: list[dict]) -> None:
    header = (
        f"{'kind':<22}{'cutoffs':>8}{'out rows':>11}{'seconds':>9}{'best':>7}"
        f"{'Mrows/s':>9}{'x floor':>9}{'cpu x':>7}{'peak MB':>9}"
    )
    print(header)
    print("-" * len(header))
    for r in table:
        print(
            f"{r['kind']:<22}{r['cutoffs']:>8}{r['output_rows']:>11,}{r['seconds']:>9.2f}"
            f"{r['seconds_best']:>7.2f}{r['input_rows_per_second'] / 1e6:>9.1f}"
            f"{r['ratio_to_floor']:>9.1f}{r['cpu_ratio_to_floor']:>7.1f}{r['peak_rss_mb']:>9.0f}"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--measure", choices=KINDS, help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help="existing contract directory to use instead")
    parser.add_argument("--cutoffs", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument(
        "--out", type=Path, default=RESULTS, help=f"results JSON (default {RESULTS})"
    )
    args = parser.parse_args(argv)

    if args.measure:  # child process: one kind of measurement, JSON on stdout
        print(json.dumps(measure(args.measure, args.data, args.cutoffs, args.repeat)))
        return

    data = args.data or ensure_data(args.customers, args.seed)
    rows = table_rows(data)
    cutoffs = default_cutoffs(data)
    log(f"data: {data} {rows}")
    log(f"cutoffs: {cutoffs[0]} .. {cutoffs[-1]} (the one-cutoff run uses {cutoffs[-1]})")
    measurements = measure_in_rounds(data, cutoffs, args.repeat)
    table = summarize(measurements, rows, cutoffs)
    import duckdb

    result = {
        "data": {
            "dir": str(data.relative_to(ROOT) if data.is_relative_to(ROOT) else data),
            "customers": rows["customers"],
            "rows": rows,
            "transactions_plus_events": rows["transactions"] + rows["events"],
        },
        "cutoffs": cutoffs,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "duckdb": duckdb.__version__,
            "load_average_1m": os.getloadavg()[0],
        },
        "notes": "seconds = median wall time of the timed runs (one per round; each round runs "
        "every kind in turn, each in a fresh process after one warm-up run); feature runs "
        "include connect + Ibis compile + query + fetch to Arrow; ratio_to_floor = "
        "seconds / floor seconds; cpu_ratio uses process CPU time (less sensitive to "
        "other load on the machine).",
        "results": table,
        "raw": measurements,
    }
    write_text_atomic(args.out, json.dumps(result, indent=2) + "\n")
    print_table(table)
    log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
