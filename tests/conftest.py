"""Test-session isolation: the suite never writes into the checkout.

Every test runs with a scratch working folder as the current directory and an MLflow tracking URI
inside it, so code that falls back to the defaults (``sqlite:///mlflow.db``, ``./mlruns``,
``sqlite:///optuna.db``, ``data/...``) writes there and not into the repository. Tests reach repo
files through absolute paths (``REPO`` below, or ``Path(__file__)``).

Markers: ``slow`` (real HTTP servers, subprocesses, full CDNOW) and ``spark``; ``make test-fast``
runs ``-m "not slow and not spark"``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import training  # noqa: F401  (its OpenMP spin count is set before any test loads LightGBM)

REPO = Path(__file__).resolve().parents[1]


#: Fixtures that make every test using them slow: a store with trained models, a real HTTP server.
SLOW_FIXTURES = frozenset({"trained_store", "server"})


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "spark: needs pyspark and a local Spark session")


#: The longest test files (a CI run's ``--durations=0`` summed per file, 2026-12-07: Spark parity
#: 18% of the suite's time, the kill -9 / full-disk files next), started first: with two workers
#: taking whole files (``--dist loadfile``) in collection order, a long file collected last
#: leaves one worker alone at the end.
LONGEST_FILES = (
    "test_spark_parity.py",
    "test_writeback_faults.py",
    "test_registry_faults.py",
    "test_service_faults.py",
    "test_monitor.py",
    "test_uplift_run.py",
    "test_ingest.py",
    "test_backtest.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark as ``slow`` the tests that use a slow fixture, besides those marked by hand, and put
    the :data:`LONGEST_FILES` first (each file's tests keep their order)."""
    for item in items:
        if SLOW_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
    rank = {name: i for i, name in enumerate(LONGEST_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


@pytest.fixture(scope="session", autouse=True)
def scratch_workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A per-session working folder with its own MLflow and Optuna stores (session-wide, so that
    session-scoped fixtures are covered too)."""
    work = tmp_path_factory.mktemp("workdir")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(work)
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{work / 'mlflow.db'}")
        yield work


@pytest.fixture(scope="session")
def writeback_scores(tmp_path_factory: pytest.TempPathFactory):
    """Realistic scores for the write-back tests (``writeback_scores.make_scores``), made once per
    session; each module takes a copy."""
    from writeback_scores import make_scores

    return make_scores(tmp_path_factory.mktemp("writeback-scores"))
