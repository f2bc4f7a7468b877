"""Is the served scoring still the latest on disk? A newer one is loaded and swapped in place.

``lifecycle score`` replaces the feature snapshot and the scores file beside it (each renamed
whole, the scores file first). Every ``interval`` seconds (``LIFECYCLE_REGISTRY_CHECK_SECONDS``,
as the champion check) a background thread compares the two files with those the service loaded.
When they were replaced by a scoring that is not older (a later as-of date, or the same date
scored again, e.g. by a newly promoted champion) it loads them as start-up does
(``Scorer.from_settings``: the same checks, warnings and tier hold) and swaps the new scorer in
as a whole: a request is answered wholly by the old one or wholly by the new one.

The new scoring is swapped in only when it is whole and consistent: both files readable, the
scores file of the snapshot's date and of the registry's champion pair, the load's checks passed,
and neither file changed while it loaded. Otherwise the service keeps serving what it served and
says why: ``/readyz`` ``newer_scoring`` (what is on disk and not served) and ``reload_error``;
``/metrics`` ``lifecycle_newer_scoring_pending``, ``lifecycle_scoring_reload_failing`` and
``lifecycle_scoring_reloads_total``. Files that failed a check are not loaded again until they
(or the registry's champion) change; a load that failed otherwise (the registry unreadable) is
tried again at the next check.

``LIFECYCLE_RELOAD=0`` turns the reload off: the thread only reports a newer scoring, and
``/readyz`` says ``stale``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from serving.champion_watch import WatchStatus

logger = logging.getLogger(__name__)

#: A file as last seen: inode, modification time (ns) and size; None when there is none.
FileStamp = tuple[int, int, int] | None


def file_stamps(*paths: Path | None) -> tuple[FileStamp, ...]:
    """What tells a replaced file from the one loaded (``os.replace`` gives a new inode)."""
    stamps: list[FileStamp] = []
    for path in paths:
        try:
            st = path.stat() if path is not None else None
        except OSError:
            st = None
        stamps.append(None if st is None else (st.st_ino, st.st_mtime_ns, st.st_size))
    return tuple(stamps)


@dataclass(frozen=True)
class OnDisk:
    """The scoring the files on disk hold: the snapshot's date, the scores file's dates and pair
    versions (None: no scores file beside the snapshot)."""

    as_of: date
    scored_days: frozenset[date] | None
    versions: tuple[str, str] | None

    def describe(self) -> dict[str, Any]:
        churn, clv = self.versions or (None, None)
        return {
            "as_of": self.as_of.isoformat(),
            "churn_model_version": churn,
            "clv_model_version": clv,
        }


def read_on_disk(snapshot: Path, scores: Path | None) -> OnDisk:
    """The dates and versions of the scoring on disk, from three columns (a half-written or
    unreadable file raises)."""
    import pandas as pd
    import pyarrow.parquet as pq

    cutoff = pq.read_table(snapshot, columns=["cutoff"]).column("cutoff")
    if len(cutoff) == 0:
        raise ValueError(f"{snapshot} holds no customers")
    as_of = pd.Timestamp(cutoff[0].as_py()).date()
    if scores is None or not scores.exists():
        return OnDisk(as_of, None, None)
    table = pq.read_table(scores, columns=["as_of", "churn_model_version", "clv_model_version"])
    days = frozenset(
        pd.Timestamp(v).date() for v in table.column("as_of").unique().to_pylist() if v is not None
    )
    pairs = set(
        zip(
            map(str, table.column("churn_model_version").to_pylist()),
            map(str, table.column("clv_model_version").to_pylist()),
            strict=True,
        )
    )
    if len(pairs) != 1:
        raise ValueError(f"{scores} holds scores of {len(pairs)} model pairs, not one")
    return OnDisk(as_of, days, pairs.pop())


class ScoringWatch(WatchStatus):
    """The scoring on disk next to the served one; ``check`` loads and swaps a newer one in."""

    def __init__(
        self,
        project: str,
        snapshot: Path,
        scores: Path | None,
        served: tuple[FileStamp, ...],
        served_as_of: date,
        load: Callable[[], Any],
        swap: Callable[[Any, float], None],
        champion: Callable[[], str | None] | None = None,
        interval: float = 30.0,
        enabled: bool = True,
    ) -> None:
        self.project = project
        self.snapshot, self.scores, self.served, self.served_as_of = (
            snapshot,
            scores,
            served,
            served_as_of,
        )
        self.load, self.swap, self.champion = load, swap, champion
        self.interval, self.enabled = interval, enabled
        self._tried: tuple | None = None  # the files (and champion) whose load failed
        super().__init__(
            {"hot_reload": enabled, "newer_scoring": None, "reload_error": None, "reloads": 0}
        )
        #: told each status worth showing at once (``start`` sets the service's readiness here)
        self.on_status: Callable[[dict[str, Any]], None] = lambda status: None

    def check(self) -> dict[str, Any]:
        """Compare the files with the served ones once; load and swap a newer scoring in."""
        stamps = file_stamps(self.snapshot, self.scores)
        if stamps == self.served:
            return self._update(newer_scoring=None, reload_error=None)
        try:
            disk = read_on_disk(self.snapshot, self.scores)
        except Exception as exc:
            return self._failed(None, f"cannot read the new snapshot or scores file ({_says(exc)})")
        newer = disk.describe()
        if disk.as_of < self.served_as_of:
            return self._failed(
                None, f"the snapshot on disk is as of {disk.as_of}, before the served one: kept"
            )
        if disk.scored_days is not None and disk.scored_days != {disk.as_of}:
            days = ", ".join(map(str, sorted(disk.scored_days)))
            return self._failed(
                newer,
                f"the snapshot is as of {disk.as_of} but the scores file beside it as of {days}: "
                "`lifecycle score` is replacing them (or was stopped between the two)",
            )
        champion = None
        if self.champion is not None:
            try:
                champion = self.champion()
            except Exception as exc:
                return self._failed(newer, f"cannot read the registry's champion ({_says(exc)})")
            if disk.versions is not None and disk.versions != (champion, champion):
                return self._failed(
                    newer,
                    f"the new scoring is of pair v{disk.versions[0]}, the registry's champion is "
                    f"{f'v{champion}' if champion else 'none'}: not served; run `lifecycle score`",
                )
        if not self.enabled:
            return self._update(newer_scoring=newer, reload_error=None)
        key = (stamps, champion)
        if key == self._tried:
            return self.status()  # failed before: wait until the files or the champion change
        self.on_status(self._update(newer_scoring=newer))  # said while it loads
        started = time.monotonic()
        try:
            scorer = self.load()
        except ValueError as exc:  # a check (or Parquet) refused these files: until they change
            self._tried = key
            return self._failed(newer, f"the new scoring failed a check: {_says(exc)}")
        except MemoryError:  # two scorings do not fit: trying each interval would only repeat it
            self._tried = key
            return self._failed(
                newer,
                "the new scoring does not fit in memory beside the served one: restart the "
                "service to load it alone",
            )
        except Exception as exc:  # e.g. the registry busy or unreadable: tried again next time
            return self._failed(newer, f"the new scoring could not be loaded: {_says(exc)}")
        if file_stamps(self.snapshot, self.scores) != stamps:
            return self._failed(newer, "the files changed while they loaded: loading them again")
        loaded = (str(scorer.champions.churn_version), str(scorer.champions.clv_version))
        if scorer.as_of != disk.as_of or disk.versions not in (None, loaded):
            self._tried = key
            return self._failed(
                newer, f"loaded pair v{loaded[0]} as of {scorer.as_of}, not the scoring on disk"
            )
        seconds = time.monotonic() - started
        try:
            self.swap(scorer, seconds)
        except Exception as exc:  # before the scorer was assigned: the old one is served
            self._tried = key
            return self._failed(newer, f"the new scoring could not be swapped in: {_says(exc)}")
        self.served, self.served_as_of = stamps, disk.as_of
        logger.info(
            "reloaded: pair v%s, snapshot as of %s (%.1f s)", loaded[0], disk.as_of, seconds
        )
        with self._lock:
            reloads = self._status["reloads"] + 1
        return self._update(newer_scoring=None, reload_error=None, reloads=reloads)

    def start(self, on_check: Callable[[dict[str, Any]], None]) -> None:
        """Check every ``interval`` seconds in a daemon thread, passing each status to
        ``on_check``."""

        self.on_status = on_check

        def run() -> None:
            while True:
                time.sleep(self.interval)
                try:
                    on_check(self.check())
                except Exception:  # never let the thread die: the next check tries again
                    logger.exception("scoring check failed")

        threading.Thread(target=run, name="lifecycle-scoring-watch", daemon=True).start()

    def _failed(self, newer: dict[str, Any] | None, reason: str) -> dict[str, Any]:
        if reason != self.status()["reload_error"]:
            logger.warning("not reloaded (serving as of %s): %s", self.served_as_of, reason)
        return self._update(newer_scoring=newer, reload_error=reason)

    def collect(self):
        """Prometheus series of the last status (a ``prometheus_client`` custom collector)."""
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        status = self.status()
        pending = GaugeMetricFamily(
            "lifecycle_newer_scoring_pending",
            "1 if a newer scoring is on disk and not served (reload_error on /readyz says why)",
            labels=["project"],
        )
        pending.add_metric([self.project], float(status["newer_scoring"] is not None))
        failing = GaugeMetricFamily(
            "lifecycle_scoring_reload_failing",
            "1 if the scoring on disk could not be loaded or checked (the old one is served)",
            labels=["project"],
        )
        failing.add_metric([self.project], float(status["reload_error"] is not None))
        reloads = CounterMetricFamily(
            "lifecycle_scoring_reloads",
            "newer scorings loaded and swapped in without a restart",
            labels=["project"],
        )
        reloads.add_metric([self.project], float(status["reloads"]))
        yield from (pending, failing, reloads)


def _says(exc: Exception) -> str:
    return f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"


def now() -> str:
    """The time a scoring was loaded, as ``/readyz`` shows it."""
    return datetime.now(UTC).isoformat(timespec="seconds")
