"""Benchmark: ``lifecycle ingest`` of payment-processor exports against a plain orders export.

    .venv/bin/python bench/bench_payments.py [--rows 100000] [--repeat 3]

Writes (or reuses, under ``bench/data/``) three files of ``--rows`` rows
(``bench/payments_export.py``, ``bench/bench_ingest.py``'s orders):

- ``plain``: the orders export of ``make bench-ingest`` (ISO times, status completed/shipped),
  mapped as there: the baseline;
- ``stripe``: a Stripe payments export, read with no map (its ``Status`` and ``Amount Refunded``
  read as each payment's own);
- ``paypal``: a PayPal activity download (refund rows of their own beside Refunded payments),
  its e-mail mapped as the customer;

then runs ``lifecycle ingest --transactions <file>`` on each, in a fresh subprocess, in rounds
(peak RSS of the process sampled every 50 ms), and gives each kind's median time and peak RSS as
ratios to ``plain`` of the same run. The accepted rows and revenue written are checked against
each export's truth (a wrong one stops the benchmark). ``--baseline DIR`` runs another checkout's
ingest (an earlier commit's ``git worktree``) right after each kind too: before and after figures
under the same load. CPU seconds are given beside the wall time (less moved by other load).

Results go to ``--out`` (``reports/results/payments.json``; ``make bench-payments``,
``PAYMENTS_ROWS=1000000`` for a larger run).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import asdict
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from bench import payments_export  # noqa: E402
from bench._common import DATA_ROOT, ROOT, log, machine, run_measured, write_results  # noqa: E402
from bench.bench_ingest import orders_export  # noqa: E402
from features.contract import table_path  # noqa: E402

#: The plain export's map: ``make bench-ingest``'s, with no customers file.
PLAIN_MAP = (
    "customer_id=Customer,order_id=Order ID,ordered_at=Order Date,amount=Total,"
    "category=Category,status=Status"
)
MAPS = {"plain": PLAIN_MAP, "stripe": None, "paypal": payments_export.PAYPAL_MAP}


def exports(rows: int, seed: int) -> tuple[Path, dict[str, dict]]:
    """The three exports of ``rows`` rows under ``bench/data`` (written on first use) and the
    truth of each."""
    folder = DATA_ROOT / f"payments_{rows}_{seed}"
    if (folder / "truth.json").exists():
        log(f"reusing {folder}")
        return folder, json.loads((folder / "truth.json").read_text())
    folder.mkdir(parents=True, exist_ok=True)
    log(f"writing three exports of {rows:,} rows into {folder} ...")
    plain = orders_export(rows, max(rows // 10, 1), seed)
    plain.to_csv(folder / "plain.csv", index=False, date_format="%Y-%m-%d %H:%M:%S")
    truth = {
        "plain": {
            "accepted": rows,
            "revenue": round(float(plain["Total"].sum()), 2),
            "set_aside": 0,
        }
    }
    for kind in ("stripe", "paypal"):
        got = payments_export.write(kind, rows, seed, folder / f"{kind}.csv")
        truth[kind] = asdict(got)
    (folder / "truth.json").write_text(json.dumps(truth, indent=2) + "\n")
    return folder, truth


#: The suffix of a kind run with ``--baseline``'s code.
BASELINE = " (baseline)"


def command(folder: Path, kind: str, out: Path, code: Path | None = None) -> list[str]:
    """The ``lifecycle ingest`` of one export, by the code under ``code`` if given (``-P``: not
    this checkout's, which ``python -m`` would find first; ``PYTHONPATH`` names ``code``)."""
    line = [sys.executable, *(["-P"] if code else []), "-m", "lifecycle_cli", "ingest"]
    line += ["--transactions", str(folder / f"{kind}.csv"), "--out", str(out)]
    return line + (["--map", mapped] if (mapped := MAPS[kind]) else [])


def written(out: Path) -> dict:
    """The accepted rows and their revenue in an ingested directory."""
    amount = pd.read_parquet(table_path(out, "transactions"), columns=["amount"])["amount"]
    return {"accepted": len(amount), "revenue": round(float(amount.sum()), 2)}


def table(results: dict) -> str:
    lines = [
        f"ingest of {results['rows']:,}-row exports, median of {results['repeat']}",
        "| kind | median s | CPU s | peak RSS MB | time ratio | CPU ratio | RSS ratio | accepted "
        "| revenue |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for kind, r in results["kinds"].items():
        lines.append(
            f"| {kind} | {r['median_s']:.2f} | {r['cpu_s']:.2f} | {r['peak_rss_mb']:.0f} | "
            f"{r['time_ratio']:.2f}x | {r['cpu_ratio']:.2f}x | {r['rss_ratio']:.2f}x | "
            f"{r['accepted']:,} | {r['revenue']:,.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "results" / "payments.json")
    parser.add_argument(
        "--baseline",
        type=Path,
        help="another checkout (an earlier commit) whose ingest runs too, right after each kind",
    )
    args = parser.parse_args()
    started = time.perf_counter()
    folder, truth = exports(args.rows, args.seed)
    scratch = DATA_ROOT / "payments_out"
    runs: dict[str, list[dict]] = {}
    for round_ in range(1, args.repeat + 1):
        for kind in MAPS:
            for code in (None, args.baseline) if args.baseline else (None,):
                name = kind + (BASELINE if code else "")
                env = {"PYTHONPATH": str(code.resolve())} if code else {}
                run = run_measured(command(folder, kind, scratch / name, code), env, name)
                runs.setdefault(name, []).append(run)
                log(
                    f"round {round_}/{args.repeat}: {name} {run['seconds']:.2f} s, "
                    f"CPU {run['cpu_seconds']:.2f} s, {run['peak_rss_mb']:.0f} MB"
                )
    kinds = {}
    for name, got in runs.items():
        found = written(scratch / name)
        kind = name.removesuffix(BASELINE)
        off = abs(found["revenue"] - truth[kind]["revenue"])
        if found["accepted"] != truth[kind]["accepted"] or off > 0.01:
            raise SystemExit(f"{name}: ingest wrote {found}, the truth is {truth[kind]}")
        kinds[name] = {
            "median_s": statistics.median(r["seconds"] for r in got),
            "best_s": min(r["seconds"] for r in got),
            "cpu_s": statistics.median(r["cpu_seconds"] for r in got),
            "peak_rss_mb": max(r["peak_rss_mb"] for r in got),
            **found,
        }
    for name, r in kinds.items():
        plain = kinds["plain" + (BASELINE if name.endswith(BASELINE) else "")]
        r["time_ratio"] = r["median_s"] / plain["median_s"]
        r["cpu_ratio"] = r["cpu_s"] / plain["cpu_s"]
        r["rss_ratio"] = r["peak_rss_mb"] / plain["peak_rss_mb"]
    results = {
        "rows": args.rows,
        "repeat": args.repeat,
        "baseline": str(args.baseline) if args.baseline else None,
        "ratio_to": "plain of the same code",
        "machine": machine("pandas", "pyarrow"),
        "truth": truth,
        "kinds": kinds,
    }
    write_results(args.out, results, started, table)


if __name__ == "__main__":
    main()
