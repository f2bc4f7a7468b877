"""A real "disk full" for one block of code: the process file-size limit (RLIMIT_FSIZE).

Within ``file_size_limit(n)`` any write that would grow a file past ``n`` bytes fails with
``OSError(EFBIG)`` after the bytes below the limit were written, like a disk filling up
mid-write (SIGXFSZ is ignored meanwhile so the failure is an exception, not a killed process).
"""

from __future__ import annotations

import resource
import signal
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def file_size_limit(limit: int) -> Iterator[None]:
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)
