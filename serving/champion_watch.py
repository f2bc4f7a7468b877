"""Is the served champion pair still the registry's champion?

The service serves the pair its feature snapshot was scored with; a pair promoted later
(``lifecycle train``) goes live once ``lifecycle score`` scored with it (``serving.scoring_watch``
loads that scoring in place). Until then the service says it is stale: a background thread
asks the registry for the project's champion version every ``interval`` seconds (30 by default,
``LIFECYCLE_REGISTRY_CHECK_SECONDS``), and ``/readyz`` and ``/metrics`` answer from that cache:

- ``/readyz``: ``registry_champion_version`` (null: the project has no champion any more),
  ``stale`` (the served pair is not the registry's champion; null before the first answer),
  ``registry_checked_at`` (the last answer) and ``registry_error`` (why the last check failed);
- ``/metrics``: ``lifecycle_registry_champion_version``, ``lifecycle_champion_stale`` and
  ``lifecycle_registry_check_failing`` per project.

Neither staleness nor a registry error changes readiness: the served pair still scores as it did;
a failed check keeps the last answer and reports the error. A SQLite store is read through a
fresh read-only connection on every check: MLflow keeps one connection per store for the life of
the process, which went on reading a store moved away, replaced or overwritten and called it
current (and, opened anew where the file was removed, creates an empty store there).

Why the pair alone is not reloaded: the feature snapshot is built for the champion it was scored
with (``lifecycle score`` writes it), so a new champion needs a new snapshot first; the scoring
watch loads both once ``lifecycle score`` wrote them.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

DEFAULT_INTERVAL_S = 30.0
#: MLflow's answers for a model or an alias that does not exist: the project has no champion.
NOT_FOUND = ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE")


def registry_champion(tracking_uri: str, project: str) -> Callable[[], str | None]:
    """A look-up of ``project``'s champion version in the registry (None: it has none); any other
    registry failure raises."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from training.model_tags import CHAMPION
    from training.registry import pair_model_name, sqlite_store

    name = pair_model_name(project)
    if (path := sqlite_store(tracking_uri)) is not None:
        return lambda: sqlite_champion(path, name, CHAMPION)

    def lookup() -> str | None:
        try:  # a client per look-up (MLflow caches its store): one that failed is not kept
            client = MlflowClient(tracking_uri=tracking_uri)
            return str(client.get_model_version_by_alias(name, CHAMPION).version)
        except MlflowException as exc:
            if exc.error_code in NOT_FOUND:
                return None
            raise

    return lookup


def sqlite_champion(path: Path, model: str, alias: str) -> str | None:
    """The version ``alias`` of ``model`` points to in the SQLite store at ``path`` (None: no such
    alias), read through a new read-only connection: a missing file raises (it is never created),
    and so does a file that is no longer a store."""
    from training.registry import require_store

    require_store(f"sqlite:///{path}")
    uri = f"{path.resolve().as_uri()}?mode=ro"
    with closing(sqlite3.connect(uri, uri=True, timeout=5)) as store:
        row = store.execute(
            "SELECT version FROM registered_model_aliases WHERE name = ? AND alias = ?",
            (model, alias),
        ).fetchone()
    return None if row is None else str(row[0])


class WatchStatus:
    """A status that requests read and one check thread writes, under one lock."""

    def __init__(self, status: dict[str, Any]) -> None:
        self._lock = threading.Lock()
        self._status = status

    def status(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._status)

    def _update(self, **changes: Any) -> dict[str, Any]:
        with self._lock:
            self._status.update(changes)
            return dict(self._status)


class ChampionWatch(WatchStatus):
    """The registry's champion version next to the served one, refreshed by ``check``."""

    def __init__(
        self,
        project: str,
        served_version: str,
        lookup: Callable[[], str | None],
        interval: float = DEFAULT_INTERVAL_S,
    ) -> None:
        self.project, self.served, self.lookup, self.interval = (
            project,
            str(served_version),
            lookup,
            interval,
        )
        super().__init__(
            {
                "registry_champion_version": None,
                "stale": None,
                "registry_checked_at": None,
                "registry_error": None,
            }
        )

    def check(self) -> dict[str, Any]:
        """Ask the registry once; on failure keep the last answer and record the error."""
        before = self.status()
        try:
            current = self.lookup()
        except Exception as exc:
            error = " ".join(str(exc).split())[:300] or type(exc).__name__
            if before["registry_error"] is None:
                logger.warning("registry check failed (serving v%s): %s", self.served, error)
            return self._update(registry_error=f"{type(exc).__name__}: {error}")
        if current != self.served and not before["stale"]:
            logger.warning(
                "project %s: the registry's champion is %s, this service serves v%s until "
                "`lifecycle score` scores with it",
                self.project,
                f"v{current}" if current else "none",
                self.served,
            )
        elif before["registry_error"] is not None:
            logger.info("registry check works again (champion v%s)", current)
        with self._lock:  # stale against what is served now: a reload may have swapped meanwhile
            self._status.update(
                registry_champion_version=current,
                stale=current != self.served,
                registry_checked_at=datetime.now(UTC).isoformat(timespec="seconds"),
                registry_error=None,
            )
            return dict(self._status)

    def serve(self, version: str) -> None:
        """The service now serves pair ``version`` (a reload swapped it in): ``stale`` follows at
        once from the last answer of the registry."""
        with self._lock:
            self.served = version
            if self._status["registry_checked_at"] is not None:
                self._status["stale"] = self._status["registry_champion_version"] != version

    def start(self, on_check: Callable[[dict[str, Any]], None]) -> None:
        """Check every ``interval`` seconds in a daemon thread, passing each status to
        ``on_check``."""

        def run() -> None:
            while True:
                time.sleep(self.interval)
                on_check(self.check())

        threading.Thread(target=run, name="lifecycle-champion-watch", daemon=True).start()

    def collect(self):
        """Prometheus gauges of the last status (a ``prometheus_client`` custom collector)."""
        from prometheus_client.core import GaugeMetricFamily

        status = self.status()
        version = status["registry_champion_version"]
        gauges = (
            (
                "lifecycle_registry_champion_version",
                "Registered version of the project's champion pair in the registry (-1: none)",
                float(version) if version and version.isdigit() else -1.0,
            ),
            (
                "lifecycle_champion_stale",
                "1 if the served pair is not the registry's champion (lifecycle score serves it), "
                "-1 before the first registry answer",
                -1.0 if status["stale"] is None else float(status["stale"]),
            ),
            (
                "lifecycle_registry_check_failing",
                "1 if the last registry check failed (the stale flag is then the last known)",
                float(status["registry_error"] is not None),
            ),
        )
        for name, documentation, value in gauges:
            gauge = GaugeMetricFamily(name, documentation, labels=["project"])
            gauge.add_metric([self.project], value)
            yield gauge
