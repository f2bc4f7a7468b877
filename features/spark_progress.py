"""Periodic progress lines while Spark works: a long job is not silent between its first line and
its last.

Spark's console progress bar is off in lifecycle's sessions (it redraws one terminal line and
garbles logs); instead, every :data:`PERIOD_SECONDS` a line to stderr says which work is running,
for how long, and how many of the running stages' tasks are done, read from the SparkContext's
status tracker. Only the outermost job of a thread reports; a nested one is part of it.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

#: Seconds between two progress lines (none for work that ends sooner).
PERIOD_SECONDS = 30.0

_REPORTING = threading.local()


def progress_line(what: str, elapsed: float, stages: list[Any]) -> str:
    """One progress line from the running stages' infos (``SparkStageInfo``: ``numTasks``,
    ``numCompletedTasks``, ``numFailedTasks``: failed attempts, retried or not)."""
    took = f"{elapsed / 60:.1f} min" if elapsed >= 90 else f"{elapsed:.0f} s"
    if not stages:
        return f"{what}: running for {took} (on the driver, or between stages)"
    done = sum(s.numCompletedTasks for s in stages)
    total = sum(s.numTasks for s in stages)
    failed = sum(s.numFailedTasks for s in stages)
    retried = f", {failed:,} failed" if failed else ""
    return (
        f"{what}: running for {took}; {len(stages)} stage(s) at work, "
        f"{done:,} of {total:,} tasks done{retried}"
    )


@contextmanager
def reporting(
    spark: Any,
    what: str,
    period: float = PERIOD_SECONDS,
    write: Callable[[str], None] | None = None,
) -> Iterator[None]:
    """Report ``what``'s progress every ``period`` seconds until the block ends."""
    if getattr(_REPORTING, "active", False):
        yield
        return
    emit = write or _stderr_line(sys.stderr)
    stop = threading.Event()
    start = time.monotonic()

    def run() -> None:
        while not stop.wait(period):
            try:
                tracker = spark.sparkContext.statusTracker()
                infos = (tracker.getStageInfo(i) for i in tracker.getActiveStageIds())
                stages = [s for s in infos if s is not None]
            except Exception:  # the session is going away: the job's own error is the news
                return
            if not stop.is_set():
                emit(progress_line(what, time.monotonic() - start, stages))

    thread = threading.Thread(target=run, name="lifecycle-spark-progress", daemon=True)
    _REPORTING.active = True
    thread.start()
    try:
        yield
    finally:
        _REPORTING.active = False
        stop.set()
        thread.join(timeout=5)


def _stderr_line(stream: TextIO) -> Callable[[str], None]:
    def write(line: str) -> None:
        print(line, file=stream, flush=True)

    return write
