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

#: How long LightGBM's OpenMP threads (GNU libgomp, what the Linux wheels link) spin before they
#: sleep while waiting for each other, unless the environment chose (``OMP_WAIT_POLICY`` or
#: ``GOMP_SPINCOUNT``). libgomp's own default spins 300 times longer: beside another fit on the
#: same two cores a 100,000-row fit took 23.6 s with it and 3.0 s with this, alone 1.47 s and
#: 1.61 s (never spinning, ``OMP_WAIT_POLICY=PASSIVE``: 2.7 s and 2.3 s; ``make bench-contention``).
#: Read when LightGBM first loads libgomp, which every import of LightGBM here does after this
#: package's.
OPENMP_SPIN_COUNT = "1000"

if "OMP_WAIT_POLICY" not in os.environ:
    os.environ.setdefault("GOMP_SPINCOUNT", OPENMP_SPIN_COUNT)
