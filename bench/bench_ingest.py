"""Benchmark: ``lifecycle ingest`` of large exports against reading the same file as text.

    .venv/bin/python bench/bench_ingest.py [--rows 1000000] [--customers 100000] [--repeat 3]

Writes (or reuses, under ``bench/data/``) an orders export of ``--rows`` rows (order id, customer,
order time, amount, category, status) in three forms, plus its customers file:

- ``iso.csv``: times as ``2024-03-05 14:02:11`` (databases, most exports);
- ``dmy.csv``: times as ``05/03/2024 14:02`` (a European spreadsheet; parsed shape by shape);
- ``orders.xlsx``: the first ``--xlsx-rows`` rows as a workbook with typed date cells;

then times, each kind in a fresh subprocess (peak RSS sampled every 20 ms), in rounds so that
other load falls on all of them alike:

- ``floor``: ``pandas.read_csv(dtype=str)`` of ``iso.csv`` (reading the text, nothing checked);
- ``ingest_iso``, ``ingest_dmy``: the whole ``lifecycle ingest`` (customers + orders, mapped,
  parsed, validated, written), ratios to ``floor``;
- ``ingest_xlsx`` and ``ingest_csv_same_rows``: the workbook against the same rows as CSV.

Results go to ``--out`` (``reports/results/ingest.json``; ``make bench-ingest``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from bench._common import DATA_ROOT, ROOT, log, machine, run_measured, write_results  # noqa: E402

MAP = (
    "customer_id=Customer,signup_at=Created,order_id=Order ID,ordered_at=Order Date,"
    "amount=Total,category=Category,status=Status"
)


def exports(rows: int, customers: int, xlsx_rows: int, seed: int) -> Path:
    """The export files for these sizes under ``bench/data`` (written on first use)."""
    folder = DATA_ROOT / f"ingest_{rows}_{customers}_{xlsx_rows}_{seed}"
    if (folder / "done").exists():
        log(f"reusing {folder}")
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    log(f"writing {rows:,} orders of {customers:,} customers into {folder} ...")
    orders = orders_export(rows, customers, seed)
    pd.DataFrame(
        {"Customer": [f"C{i:07d}" for i in range(customers)], "Created": "2022-06-01"}
    ).to_csv(folder / "customers.csv", index=False)
    orders.to_csv(folder / "iso.csv", index=False, date_format="%Y-%m-%d %H:%M:%S")
    orders.to_csv(folder / "dmy.csv", index=False, date_format="%d/%m/%Y %H:%M")
    head = orders.head(xlsx_rows)
    head.to_csv(folder / "same_rows.csv", index=False, date_format="%Y-%m-%d %H:%M:%S")
    _workbook(head, folder / "orders.xlsx")
    (folder / "done").write_text("")
    return folder


def orders_export(rows: int, customers: int, seed: int) -> pd.DataFrame:
    """An orders export of ``rows`` orders (all sales) of ``customers`` customers."""
    rng = np.random.default_rng(seed)
    times = pd.Timestamp("2023-01-01") + pd.to_timedelta(
        rng.integers(0, 3 * 365 * 86_400, rows), unit="s"
    )
    return pd.DataFrame(
        {
            "Order ID": np.arange(1, rows + 1),
            "Customer": [f"C{i:07d}" for i in rng.integers(0, customers, rows)],
            "Order Date": times,
            "Total": np.round(rng.gamma(2.0, 40.0, rows), 2),
            "Category": rng.choice(["books", "toys", "food", "garden"], rows),
            "Status": rng.choice(["completed", "shipped"], rows),
        }
    )


def _workbook(frame: pd.DataFrame, path: Path) -> None:
    import xlsxwriter

    book = xlsxwriter.Workbook(path, {"constant_memory": True})
    sheet = book.add_worksheet("Orders")
    stamp = book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    sheet.write_row(0, 0, list(frame.columns))
    for r, row in enumerate(frame.itertuples(index=False), start=1):
        sheet.write_number(r, 0, row[0])
        sheet.write_string(r, 1, row[1])
        sheet.write_datetime(r, 2, row[2].to_pydatetime(), stamp)
        sheet.write_number(r, 3, row[3])
        sheet.write_string(r, 4, row[4])
        sheet.write_string(r, 5, row[5])
    book.close()


def commands(folder: Path, scratch: Path) -> dict[str, list[str]]:
    """Each kind's command line."""
    python = sys.executable
    ingest = [python, "-m", "lifecycle_cli", "ingest", "--map", MAP]
    ingest += ["--customers", str(folder / "customers.csv")]
    return {
        "floor": [
            python,
            "-c",
            f"import pandas; pandas.read_csv({str(folder / 'iso.csv')!r}, dtype=str)",
        ],
        "ingest_iso": [*ingest, "--transactions", str(folder / "iso.csv")],
        "ingest_dmy": [*ingest, "--transactions", str(folder / "dmy.csv")],
        "ingest_csv_same_rows": [*ingest, "--transactions", str(folder / "same_rows.csv")],
        "ingest_xlsx": [*ingest, "--transactions", str(folder / "orders.xlsx")],
    }


def timed(command: list[str], out: Path, kind: str) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one run of ``command`` (``--out`` added for ingest)."""
    if "ingest" in command:
        command = [*command, "--out", str(out)]
    run = run_measured(command, {}, kind)
    return run["seconds"], run["peak_rss_mb"]


def table(results: dict) -> str:
    lines = [
        f"ingest of {results['rows']:,} orders ({results['xlsx_rows']:,} for the workbook), "
        f"median of {results['repeat']}",
        "| kind | median s | best s | peak RSS MB | ratio |",
        "|---|---|---|---|---|",
    ]
    for kind, r in results["kinds"].items():
        lines.append(
            f"| {kind} | {r['median_s']:.2f} | {r['best_s']:.2f} | {r['peak_rss_mb']:.0f} | "
            f"{r['ratio']:.2f}x {r['ratio_to']} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--xlsx-rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "results" / "ingest.json")
    args = parser.parse_args()
    started = time.perf_counter()
    folder = exports(args.rows, args.customers, args.xlsx_rows, args.seed)
    scratch = DATA_ROOT / "ingest_out"
    runs: dict[str, list[tuple[float, float]]] = {}
    for round_ in range(1, args.repeat + 1):
        for kind, command in commands(folder, scratch).items():
            seconds, peak = timed(command, scratch, kind)
            runs.setdefault(kind, []).append((seconds, peak))
            log(f"round {round_}/{args.repeat}: {kind} {seconds:.2f} s, {peak:.0f} MB")
    kinds = {
        kind: {
            "median_s": statistics.median(s for s, _ in got),
            "best_s": min(s for s, _ in got),
            "peak_rss_mb": max(p for _, p in got),
        }
        for kind, got in runs.items()
    }
    for kind, r in kinds.items():
        base = "ingest_csv_same_rows" if kind == "ingest_xlsx" else "floor"
        r["ratio_to"] = base
        r["ratio"] = r["median_s"] / kinds[base]["median_s"]
    results = {
        "rows": args.rows,
        "customers": args.customers,
        "xlsx_rows": args.xlsx_rows,
        "repeat": args.repeat,
        "machine": machine("pandas", "pyarrow", "duckdb"),
        "kinds": kinds,
    }
    write_results(args.out, results, started, table)


if __name__ == "__main__":
    main()
