"""Benchmark: features and batch scoring on DuckDB vs Spark ``local[2]``, and what sampling costs.

    .venv/bin/python bench/bench_spark.py [--customers 1000000] [--seed 0] [--sampling-customers N]
        [--data-root /tmp/spark] [--kinds ...]

Generates (or reuses, under ``--data-root``, default ``bench/data/``) a synthetic contract
directory, trains a small champion pair on a separate small synthetic set (into
``<data-root>/spark_store``, only when a scoring kind runs), then runs each kind in a fresh
subprocess (so the peak memory is its own; for Spark it is the driver's Python process plus its
JVM):

- ``duckdb_features_1`` / ``duckdb_features_12``: ``write_snapshots`` at 1 / 12 monthly
  cutoffs, streamed into one Parquet file (what ``lifecycle features`` does);
- ``spark_features_1`` / ``spark_features_12``: ``write_snapshots`` on ``local[2]``, Parquet
  partitioned by cutoff day, nothing collected (``lifecycle features --engine spark``);
- ``duckdb_score``: ``feature_snapshot`` + ``score_snapshot`` + Parquet (``lifecycle score``);
- ``spark_score``: ``score_on_spark`` (features on Spark, models on the executors).

Rows per second count the input rows (transactions + events). With ``--sampling-customers N``
the models are also trained on a synthetic set of N customers with 100% and 20% of customers:
``lifecycle train --engine spark --sample-fraction F`` in a subprocess (training tables built on
Spark ``local[2]`` and sampled by the stable ``customer_id`` hash, BTYD on the same sample); the
fraction and engine logged on each MLflow run are read back and checked, and the test metrics,
time and peak memory of both are recorded (``--kinds`` with no kind runs only this). Results go
to ``bench/results/spark.json``.

``--repeats N`` runs the kinds N times, in rounds (every kind once per round, so a slow spell on
the machine falls on both engines), and reports each kind's median seconds with every run's, and
the ratios of the medians: single Spark runs on ``local[2]`` vary by about 20%.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from bench._common import ensure_data, log, machine, run_measured  # noqa: E402 -- after the sys.path line above
from features.atomic_file import write_text_atomic  # noqa: E402

DATA_ROOT = ROOT / "bench" / "data"  # --data-root
RESULTS = ROOT / "bench" / "results" / "spark.json"
KINDS = (
    "duckdb_features_1",
    "spark_features_1",
    "duckdb_features_12",
    "spark_features_12",
    "duckdb_score",
    "spark_score",
)
SPARK_CONF = {
    "spark.ui.enabled": "false",
    "spark.sql.shuffle.partitions": "8",
    "spark.driver.memory": "6g",
}
PROJECT = "bench"  # the champion pair trained on the small set scores the large one
SMALL_LIGHTGBM = {
    "n_estimators": 100,
    "learning_rate": 0.1,
    "num_leaves": 31,
    "min_child_samples": 20,
    "early_stopping_rounds": 0,
}
#: The driver JVM of ``lifecycle train --engine spark`` (a plain Python process reads these).
TRAIN_SUBMIT_ARGS = (
    "--driver-memory 8g --conf spark.driver.maxResultSize=6g --conf spark.ui.enabled=false "
    "--conf spark.sql.shuffle.partitions=8 pyspark-shell"
)
METRIC_KEYS = (
    "test_churn_auc",
    "test_churn_pr_auc",
    "test_churn_brier",
    "test_clv_spearman",
    "test_clv_gini",
    "test_clv_total_ratio",
    "test_clv_mae",
    "test_btyd_churn_auc",
    "test_btyd_clv_spearman",
    "test_truth_churn_auc",
)


def input_rows(data: Path) -> int:
    import pyarrow.parquet as pq

    return sum(
        pq.ParquetFile(data / f"{t}.parquet").metadata.num_rows for t in ("transactions", "events")
    )


def cutoffs(n: int) -> list[str]:
    import pandas as pd

    return [f"{d:%Y-%m-%d}" for d in pd.date_range("2025-01-01", periods=12, freq="MS")][-n:]


def store_uri(root: Path) -> str:
    """The bench's MLflow store under ``root`` (SQLite, artifacts in ``root/mlruns``)."""
    return f"sqlite:///{root / 'mlflow.db'}"


def small_config(root: Path, seed: int):
    """``experiments/btyd-features.yaml`` with small LightGBM models, tracked in ``root``."""
    from training.config import load_config

    return load_config(
        ROOT / "experiments" / "btyd-features.yaml",
        seed=seed,
        tracking={"tracking_uri": store_uri(root), "artifact_root": str(root / "mlruns")},
        churn={"params": SMALL_LIGHTGBM, "offset": "btyd"},  # a key replaces the YAML's
        clv={"params": SMALL_LIGHTGBM, "offset": "btyd"},
        snapshots={"n_train": 3},
    )


def train_store(root: Path, n_customers: int, seed: int, fraction: float = 1.0) -> dict:
    """Train and register a champion pair on ``n_customers`` synthetic customers; test metrics."""
    from serving.scoring import fit_scoring_thresholds
    from training.dataset import BuildSettings, building_on
    from training.train import train

    data = ensure_data(n_customers, seed, DATA_ROOT)
    root.mkdir(parents=True, exist_ok=True)
    uri = store_uri(root)
    if (root / "mlflow.db").exists():  # a pair trained by an earlier run: reuse it if it loads
        from serving.spark_scoring import load_champions_for

        try:
            champions = load_champions_for(uri, PROJECT)
            return {
                "tracking_uri": uri,
                "data": str(data),
                "reused": True,
                "versions": [str(champions.churn_version), str(champions.clv_version)],
            }
        except Exception as exc:  # noqa: BLE001 -- any failure: train a new pair
            log(f"{uri}: no usable champion pair ({exc}); training one")
    cfg = small_config(root, seed)
    start = time.perf_counter()
    with building_on(BuildSettings(None, fraction)):  # train() tracks to cfg's store, explicitly
        result = train(
            cfg,
            data,
            project=PROJECT,
            force=True,
            progress=False,
            log=lambda _: None,
            scoring_thresholds=fit_scoring_thresholds,
        )
    keys = (
        "test_churn_auc",
        "test_churn_brier",
        "test_clv_spearman",
        "test_clv_gini",
        "test_clv_total_ratio",
        "test_clv_mae",
    )
    return {
        "tracking_uri": uri,
        "data": str(data),
        "sample_fraction": fraction,
        "seconds": round(time.perf_counter() - start, 1),
        "metrics": {k: round(result.metrics[k], 4) for k in keys if k in result.metrics},
    }


def train_sampled(root: Path, n_customers: int, seed: int, fraction: float) -> dict:
    """``lifecycle train --engine spark --sample-fraction F`` on ``n_customers`` synthetic
    customers in a subprocess (Spark-built, hash-sampled tables; BTYD on the sample): test
    metrics, time, peak memory, and the sampling fraction and engine read back from MLflow."""
    from mlflow.tracking import MlflowClient

    from training.config import dump_config

    data = ensure_data(n_customers, seed, DATA_ROOT)
    root.mkdir(parents=True, exist_ok=True)
    uri = store_uri(root)
    cfg = small_config(root, seed)
    config = root / "config.yaml"
    dump_config(cfg, config)
    command = [
        str(ROOT / ".venv" / "bin" / "lifecycle"),
        "train",
        "--config",
        str(config),
        "--data",
        str(data),
        "--engine",
        "spark",
        "--spark-master",
        "local[2]",
        "--sample-fraction",
        str(fraction),
        "--project",
        "bench-sampling",
        "--no-register",
    ]
    if not Path(command[0]).exists():
        command[:1] = [sys.executable, "-m", "lifecycle_cli"]
    run = run_measured(
        command,
        {"PYSPARK_PYTHON": sys.executable, "PYSPARK_SUBMIT_ARGS": TRAIN_SUBMIT_ARGS},
        what=f"train at {fraction:.0%}",
    )
    run_id = next(
        line.split()[1] for line in run.pop("stdout").splitlines() if line.startswith("run ")
    )
    logged = MlflowClient(tracking_uri=uri).get_run(run_id).data
    params = {k: logged.params.get(k) for k in ("data_sample_fraction", "data_engine")}
    if float(params["data_sample_fraction"]) != fraction or params["data_engine"] != "spark":
        raise SystemExit(
            f"{uri}: run {run_id} logged {params}, expected fraction {fraction} on spark"
        )
    return {
        "tracking_uri": uri,
        "run_id": run_id,
        "data": str(data),
        "sample_fraction": fraction,
        "logged_params": params,
        **run,
        "metrics": {k: round(logged.metrics[k], 4) for k in METRIC_KEYS if k in logged.metrics},
    }


def run_kind(kind: str, data: Path, out: Path, tracking_uri: str) -> int:
    """The measured work of one kind (in its own process); returns the rows written."""
    from features.engine import open_engine
    from features.snapshots import write_snapshots
    from training.dataset import data_bounds

    n = 12 if kind.endswith("_12") else 1
    if kind.startswith("duckdb_features"):
        return write_snapshots(None, data, cutoffs(n), out, progress=False).rows
    if kind.startswith("spark_features"):
        engine = open_engine("spark", master="local[2]", conf=SPARK_CONF)
        return write_snapshots(engine, data, cutoffs(n), out, progress=False).rows
    as_of = data_bounds(data)[1]
    if kind == "duckdb_score":
        from serving.batch import feature_snapshot, score_snapshot
        from serving.spark_scoring import load_champions_for

        champions = load_champions_for(tracking_uri, PROJECT)
        scores = score_snapshot(
            feature_snapshot(data, as_of, champions, progress=False), champions, as_of
        )
        scores.to_parquet(out, index=False)
        return len(scores)
    from serving.spark_scoring import score_on_spark

    engine = open_engine("spark", master="local[2]", conf=SPARK_CONF)
    return score_on_spark(
        engine, data, as_of, out, tracking_uri=tracking_uri, project=PROJECT, progress=False
    ).rows


def measure(kind: str, data: Path, tracking_uri: str, scratch: Path) -> dict:
    """Run ``kind`` in a subprocess; wall time and peak RSS of its process tree (driver + JVM)."""
    out = scratch / kind
    code = (
        f"import sys, json; from pathlib import Path; sys.path.insert(0, {str(ROOT)!r}); "
        "from bench.bench_spark import run_kind; "
        f"print(json.dumps(run_kind({kind!r}, Path({str(data)!r}), Path({str(out)!r}), "
        f"{tracking_uri!r})))"
    )
    run = run_measured([sys.executable, "-c", code], {"PYSPARK_PYTHON": sys.executable}, kind)
    return {
        "seconds": run["seconds"],
        "rows_out": int(run["stdout"].strip().splitlines()[-1]),
        "peak_rss_mb": run["peak_rss_mb"],
    }


def summarize(runs: list[dict], input_rows: int) -> dict:
    """One kind's runs: the median seconds (and its rows/s), every run's seconds, the largest
    peak memory."""
    median = float(statistics.median(run["seconds"] for run in runs))
    return {
        "seconds": round(median, 2),
        "rows_out": runs[-1]["rows_out"],
        "peak_rss_mb": max(run["peak_rss_mb"] for run in runs),
        "input_rows_per_s": round(input_rows / median),
        "runs_s": [run["seconds"] for run in runs],
    }


def main() -> None:
    global DATA_ROOT
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-customers", type=int, default=3000)
    parser.add_argument(
        "--sampling-customers",
        type=int,
        default=0,
        help="also compare training on 100%% vs 20%% of this many customers",
    )
    parser.add_argument("--kinds", nargs="*", default=list(KINDS), choices=KINDS)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--repeats", type=int, default=1, help="run the kinds this many times (medians reported)"
    )
    parser.add_argument(
        "--data-root",
        type=Path,
        default=DATA_ROOT,
        help="where synthetic data, stores and outputs go (e.g. /tmp/spark)",
    )
    args = parser.parse_args()
    DATA_ROOT = args.data_root
    facts = machine("pyspark")

    data = ensure_data(args.customers, args.seed, DATA_ROOT)
    rows = input_rows(data)
    scratch = DATA_ROOT / "spark_out"
    scratch.mkdir(parents=True, exist_ok=True)
    scoring = [k for k in args.kinds if k.endswith("_score")]
    store = (
        train_store(DATA_ROOT / "spark_store", args.train_customers, args.seed + 1)
        if scoring
        else None
    )
    runs: dict[str, list[dict]] = {kind: [] for kind in args.kinds}
    results = {}
    partial = args.out.with_suffix(".partial.json")  # kept if the run is stopped half-way
    partial.parent.mkdir(parents=True, exist_ok=True)
    for round_ in range(1, args.repeats + 1):
        for kind in args.kinds:
            log(f"{kind} on {args.customers:,} customers (run {round_}/{args.repeats}) ...")
            run = measure(kind, data, store["tracking_uri"] if store else "", scratch)
            runs[kind].append(run)
            results[kind] = summarize(runs[kind], rows)
            log(f"  {run}")
            write_text_atomic(
                partial, json.dumps({"customers": args.customers, "results": results}, indent=2)
            )
    ratios = {}
    for what in ("features_1", "features_12", "score"):
        duck, spark = results.get(f"duckdb_{what}"), results.get(f"spark_{what}")
        if duck and spark:
            ratios[f"spark_over_duckdb_{what}"] = round(spark["seconds"] / duck["seconds"], 2)
            if args.repeats > 1:  # the same round's two runs: how far one round can mislead
                ratios[f"spark_over_duckdb_{what}_per_round"] = [
                    round(s / d, 2) for s, d in zip(spark["runs_s"], duck["runs_s"], strict=True)
                ]
    sampling = {}
    if args.sampling_customers:
        for fraction in (1.0, 0.2):
            log(f"training on {fraction:.0%} of {args.sampling_customers:,} customers ...")
            sampling[f"{fraction:.0%}"] = train_sampled(
                DATA_ROOT / f"sampling_{fraction}", args.sampling_customers, args.seed, fraction
            )
            log(f"  {sampling[f'{fraction:.0%}']}")
            write_text_atomic(
                partial,
                json.dumps(
                    {"customers": args.customers, "results": results, "sampling": sampling},
                    indent=2,
                ),
            )
    report = {
        "data": {"dir": str(data), "customers": args.customers, "transactions_plus_events": rows},
        "machine": {
            **facts,
            "memory_gb": round(_memory_bytes() / 2**30),
            "spark_master": "local[2]",
            "load_average_1m": {
                "start": round(facts["load_average_at_start"][0], 2),
                "end": round(os.getloadavg()[0], 2),
            },
        },
        "champions_trained_on": store,
        "repeats": args.repeats,
        "results": results,
        "ratios": ratios,
        "sampling": sampling,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(args.out, json.dumps(report, indent=2) + "\n")
    partial.unlink(missing_ok=True)
    log(json.dumps({"ratios": ratios, "sampling": sampling}, indent=2))
    log(f"wrote {args.out}")


def _memory_bytes() -> int:
    import psutil

    return psutil.virtual_memory().total


if __name__ == "__main__":
    main()
