"""Snapshot datasets, models, metrics, the training job, backtests, tuning, MLflow tracking and
the registry with its promotion gate (``docs/architecture.md``)."""

import os

#: The MLflow tracking store when none is given (``--tracking-uri``, ``MLFLOW_TRACKING_URI`` or an
#: experiment's ``tracking.tracking_uri``): a SQLite file in the working directory. Declared here,
#: free of imports, so that the CLI's option defaults cost nothing to import.
DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"

#: The ``clv_total`` parameter of a backtest run whose LightGBM CLV total was scaled to the BTYD
#: total (``training.calibration.anchor_total``): the comparison shows that total, never ranks it.
BTYD_ANCHOR = "btyd_anchor"

# LightGBM's OpenMP threads sleep instead of spinning while they wait, unless the user chose
# otherwise: on a machine where anything else runs (another fit, the service, Spark), spinning
# threads made a two-thread fit 25 times slower (``make bench``: bench/results/contention.json).
# libgomp reads it when LightGBM first loads it, and every import of LightGBM here comes after
# this package's.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
