"""Replace an output directory as a whole: write into a sibling temporary directory, then swap.

Readers of ``--out`` see the previous complete output or the new complete output, never a mix:
the swap is one ``renameat2(RENAME_EXCHANGE)`` on Linux (two renames elsewhere, under a lock on
the parent directory). A process killed before the swap leaves only a hidden
``.<name>.<writer>-<pid>-*`` directory, removed by the next run once that pid is gone.
Used by ingest (``--out``) and the dated score history (one partition directory).
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from features.atomic_file import current_umask, process_alive
from features.mapping import IngestError

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def exchange(a: Path, b: Path) -> bool:
    """Atomically exchange two paths (Linux renameat2); False where unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _remove_stale(parent: Path, name: str, writer: str) -> None:
    pattern = re.compile(rf"^\.{re.escape(name)}\.(?:{re.escape(writer)}|old)-(\d+)-")
    for entry in parent.iterdir():
        match = pattern.match(entry.name)
        if match and entry.is_dir() and not process_alive(int(match.group(1))):
            shutil.rmtree(entry, ignore_errors=True)


def _fsync_tree(root: Path) -> None:
    for path in sorted(root.rglob("*"), reverse=True) + [root]:
        flags = os.O_RDONLY | (os.O_DIRECTORY if path.is_dir() else 0)
        fd = os.open(path, flags)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextmanager
def _locked(directory: Path) -> Iterator[None]:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def check_replaceable(
    out: Path,
    owned: set[str],
    *,
    writer: str = "ingest",
    label: str = "--out",
    error: type[Exception] = IngestError,
) -> None:
    """Refuse an ``out`` that holds anything this writer did not write (it would be deleted):
    ``owned`` are the paths it writes, relative to ``out`` (``quarantine/events.parquet``); the
    folders on their way may hold nothing else."""
    if out.exists() and not out.is_dir():
        raise error(f"{label} {out}: exists and is not a directory")
    if out.is_dir():
        foreign = _foreign(out, owned)
        if foreign:
            raise error(
                f"{label} {out}: holds files {writer} did not write ({', '.join(foreign[:5])}"
                f"{' ...' if len(foreign) > 5 else ''}); {writer} replaces the whole directory, so "
                "choose "
                "an empty or new directory or move those files"
            )


def _foreign(out: Path, owned: set[str]) -> list[str]:
    """What ``out`` holds that is neither an owned path nor a folder on the way to one."""
    folders = {"/".join(p.split("/")[:i]) for p in owned for i in range(1, p.count("/") + 1)}
    found, pending = [], [out]
    while pending:
        for path in sorted(pending.pop().iterdir()):
            rel = path.relative_to(out).as_posix()
            if path.is_dir() and not path.is_symlink() and rel in folders:
                pending.append(path)
            elif rel not in owned or path.is_dir():
                found.append(rel)
    return sorted(found)


@contextmanager
def replaced_directory(
    out: Path,
    owned: set[str],
    *,
    writer: str = "ingest",
    label: str = "--out",
    error: type[Exception] = IngestError,
) -> Iterator[Path]:
    """Yield a fresh temporary directory; on success it becomes ``out`` in one step.

    ``writer`` names the staging directories and the refusal of foreign files, ``label`` what
    ``out`` is called in messages, ``error`` the exception raised (with the cause chained)."""
    out = Path(os.path.abspath(out))
    check_replaceable(out, owned, writer=writer, label=label, error=error)
    parent = out.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        _remove_stale(parent, out.name, writer)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.{writer}-{os.getpid()}-", dir=parent))
        # mkdtemp's 0700 would stay the folder's: a plain mkdir's mode (setgid kept)
        staging.chmod((staging.stat().st_mode & 0o7000) | (0o777 & ~current_umask()))
    except OSError as exc:
        raise error(
            f"{label} {out}: cannot create a directory next to it ({exc.strerror})"
        ) from exc
    try:
        yield staging
        _fsync_tree(staging)
        with _locked(parent):
            check_replaceable(out, owned, writer=writer, label=label, error=error)
            if not out.exists():
                os.rename(staging, out)
            elif exchange(staging, out):
                shutil.rmtree(staging, ignore_errors=True)  # now holds the previous output
            else:
                old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-{os.getpid()}-", dir=parent))
                os.rename(out, old / "previous")
                os.rename(staging, out)
                shutil.rmtree(old, ignore_errors=True)
            _fsync_dir(parent)
    except error:  # a refusal above (foreign files appeared meanwhile), already worded
        shutil.rmtree(staging, ignore_errors=True)
        raise
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        kept = "the previous output is unchanged" if out.exists() else "nothing was written"
        raise error(f"{label} {out}: cannot write the output ({_describe(exc)}); {kept}") from exc
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _describe(exc: OSError) -> str:
    """``No space left on device`` also when the writer (pyarrow) wraps the errno in its message."""
    found = re.search(r"\[errno (\d+)\]", str(exc))
    code = exc.errno or (int(found.group(1)) if found else None)
    return os.strerror(code) if code else str(exc)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
