"""What the benchmark scripts share: where things are, logging, the synthetic data they run on,
the machine they ran on, customers as posted features, and writing the results file.

The scripts put the repository root first on ``sys.path`` and import this as ``bench._common``.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from collections.abc import Callable
from importlib import import_module
from pathlib import Path

import pandas as pd

from features.atomic_file import write_text_atomic

ROOT = Path(__file__).resolve().parents[1]
DATA_ROOT = ROOT / "bench" / "data"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def ensure_data(n_customers: int, seed: int, root: Path = DATA_ROOT) -> Path:
    """The synthetic contract directory for these arguments under ``root``, generated on first use
    (one generated earlier under ``bench/data`` is reused)."""
    name = f"synthetic_{n_customers}_{seed}"
    for found in dict.fromkeys((root / name, DATA_ROOT / name)):
        if (found / "manifest.json").exists():
            log(f"reusing {found}")
            return found
    from features.synthetic import generate

    out = root / name
    log(f"generating {n_customers:,} customers into {out} ...")
    summary = generate(out, n_customers, seed, progress=True)
    log(f"generated {summary.rows} in {summary.seconds:.1f} s")
    return out


def machine(*packages: str) -> dict:
    """CPUs, Python, platform, the versions of ``packages`` and the load average at the start."""
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        **{name: import_module(name).__version__ for name in packages},
        "load_average_at_start": list(os.getloadavg()),
    }


def feature_payload(rows: pd.DataFrame) -> list[dict]:
    """Snapshot rows as the service's posted feature objects (null for NaN)."""
    from serving.schemas import CustomerFeatures

    frame = rows[[c for c in CustomerFeatures.model_fields if c in rows.columns]]
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def run_measured(command: list[str], env: dict[str, str], what: str) -> dict:
    """Run ``command`` (``env`` on top of this one's) from the repository root: its stdout, wall
    time, CPU seconds (its own and its children's: less moved by other load than the wall time)
    and the peak RSS of its process tree (a Spark driver's JVM included), sampled every
    50 ms. Its stderr (progress lines) goes to this one's. A failure stops the benchmark, naming
    ``what``."""
    import resource
    import subprocess
    import threading

    import psutil

    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        env={**os.environ, **env},
        text=True,
        cwd=ROOT,
    )
    peak = [0]

    def sample() -> None:
        parent = psutil.Process(proc.pid)
        while proc.poll() is None:
            try:
                procs = [parent, *parent.children(recursive=True)]
                peak[0] = max(peak[0], sum(p.memory_info().rss for p in procs))
            except psutil.Error:
                pass
            time.sleep(0.05)

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    stdout, _ = proc.communicate()
    seconds = time.perf_counter() - start
    watcher.join()
    if proc.returncode != 0:
        raise SystemExit(f"{what} failed (exit {proc.returncode})")
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = used.ru_utime + used.ru_stime - children.ru_utime - children.ru_stime
    return {
        "seconds": round(seconds, 2),
        "cpu_seconds": round(cpu, 2),
        "peak_rss_mb": round(peak[0] / 2**20),
        "stdout": stdout,
    }


def write_results(out: Path, results: dict, started: float, table: Callable[[dict], str]) -> dict:
    """Record the run's seconds, write ``results`` as JSON to ``out`` and print its table."""
    results["seconds"] = time.perf_counter() - started
    write_text_atomic(out, json.dumps(results, indent=2, default=str) + "\n")
    print(table(results))
    print(f"\nwrote {out} ({results['seconds']:.0f} s)")
    return results
