"""Which process owns a piece of work (an MLflow run, an Optuna trial), and is it still alive?

An owner is recorded as host, pid and the pid's start time; the start time tells a live owner
from a later process that reuses its pid. Used to fail the runs and trials of killed processes.
"""

from __future__ import annotations

import os
import socket
from typing import Any


def process_started(pid: int) -> float | None:
    """The start time (epoch seconds) of process ``pid``; None when there is no such process or
    it cannot be read."""
    import psutil

    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


def this_process() -> dict[str, str | int | float]:
    """``host``, ``pid`` and ``started`` of the calling process."""
    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "started": round(process_started(os.getpid()) or 0.0, 3),
    }


def owner_alive(host: Any, pid: Any, started: Any) -> bool | None:
    """True when the owner still runs; False when it ran on this host and its pid is gone or now
    belongs to a process started later; None when it cannot be told from here (another host, no
    or a malformed pid, no permission to look)."""
    import psutil

    if host != socket.gethostname() or pid is None:
        return None
    try:
        now_started = psutil.Process(int(pid)).create_time()
        recorded = float(started or 0.0)
    except psutil.NoSuchProcess:
        return False
    except (psutil.Error, TypeError, ValueError):
        return None
    return abs(now_started - recorded) < 1.0
