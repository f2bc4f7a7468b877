"""Replace one result file as a whole: write a sibling temporary file, fsync it, then rename.

A reader (or the next run) sees the previous complete file or the new complete file, never a
truncated one: a process killed or a disk filling up mid-write leaves the target untouched, and
a failed write removes its temporary file. The temporary name carries the writer's pid and a
random token, so concurrent writers of the same target never share one (the last rename wins);
the temporary file of a writer killed with -9 is removed by the next write once that pid is gone.
"""

from __future__ import annotations

import json
import math
import os
import re
import secrets
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any


def write_text_atomic(path: str | Path, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically (parent folders are created); return the path."""
    return write_texts_atomic({path: text}, encoding)[0]


def write_texts_atomic(texts: dict[str | Path, str], encoding: str = "utf-8") -> list[Path]:
    """Replace several files as one result (a report in two formats): every new content is
    written to its temporary file and synced before any file is renamed, so a full disk or a
    failed write leaves all of them as they were, never some of one run and some of another
    (a kill between the renames, microseconds apart, can still)."""
    items = [(Path(path), text.encode(encoding)) for path, text in texts.items()]
    done: list[Path] = []
    path = items[0][0] if items else Path()
    try:
        with ExitStack() as stack:
            staged = []
            for path, data in items:
                tmp = stack.enter_context(_staged_file(path))
                _write_all(tmp, data)
                _fsync_file(tmp)
                staged.append((tmp, path))
            for tmp, path in staged:
                os.replace(tmp, path)
                done.append(path)
    except OSError as exc:
        if exc.filename is not None or isinstance(exc, (IsADirectoryError, NotADirectoryError)):
            raise
        kept = [str(p) for p, _ in items if p not in done]
        said = f"{' and '.join(kept)} kept as they were" if len(kept) > 1 else "kept as it was"
        raise type(exc)(exc.errno, f"{exc.strerror}: {path} not written ({said})") from exc
    for folder in dict.fromkeys(p.parent for p in done):
        _fsync_dir(folder)
    return done


@contextmanager
def _staged_file(path: Path) -> Iterator[Path]:
    """``replaced_file``'s temporary path, left to the caller to rename; removed if still there
    when the block ends."""
    check_file_target(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.partial")
    try:
        yield tmp
    finally:
        tmp.unlink(missing_ok=True)


def _write_all(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def write_json_atomic(
    path: str | Path, value: Any, *, default: Callable[[Any], Any] | None = None, indent: int = 1
) -> Path:
    """Write ``value`` as strict JSON atomically (``json_text``)."""
    return write_text_atomic(path, json_text(value, default=default, indent=indent))


def json_text(value: Any, *, default: Callable[[Any], Any] | None = None, indent: int = 1) -> str:
    """``value`` as strict JSON: a NaN or infinite float, at any depth, is ``null`` (``NaN`` is
    not JSON: JavaScript's ``JSON.parse`` and other strict readers refuse it); ``default`` turns
    other objects into JSON values (numpy scalars, dates)."""

    def clean(item: Any) -> Any:
        if isinstance(item, dict):
            return {key: clean(v) for key, v in item.items()}
        if isinstance(item, list | tuple):
            return [clean(v) for v in item]
        if isinstance(item, float):
            return item if math.isfinite(item) else None
        if item is None or isinstance(item, str | int | bool) or default is None:
            return item
        return clean(default(item))

    return json.dumps(clean(value), indent=indent, allow_nan=False)


@contextmanager
def replaced_file(path: str | Path) -> Iterator[Path]:
    """The temporary path to write ``path``'s new content to; synced to disk and renamed over
    ``path`` when the block ends without an error, removed when it raises."""
    with replaced_files([Path(path)]) as (tmp,):
        yield tmp


@contextmanager
def replaced_files(paths: list[Path]) -> Iterator[list[Path]]:
    """Temporary paths for several files that are one result (an export in parts), all
    synced and renamed when the block ends without an error -- none before every one is written,
    so a full disk at the last leaves all the previous files in place -- and all removed when it
    raises."""
    with ExitStack() as stack:
        staged = [(stack.enter_context(_staged_file(Path(p))), Path(p)) for p in paths]
        yield [tmp for tmp, _ in staged]
        for tmp, _ in staged:
            _fsync_file(tmp)
        for tmp, path in staged:
            os.replace(tmp, path)
    for folder in dict.fromkeys(Path(p).parent for p in paths):
        _fsync_dir(folder)


def check_file_target(path: Path) -> None:
    """Refuse, naming the path, a file target that is a folder, or whose parent is a file
    (the raw OS errors name a temporary file or say only "File exists")."""
    if path.is_dir():
        raise IsADirectoryError(
            f"{path}: is a folder; this output is one file: give a file path inside it or another"
        )
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise NotADirectoryError(
                    f"{path}: {parent} is a file, not a folder: choose another output path"
                )
            return


def _remove_stale(path: Path) -> None:
    """Temporary files of this target left by writers that no longer run (killed with -9)."""
    remove_stale_partials(path.parent, re.escape(path.name))


def remove_stale_partials(folder: Path, names: str) -> None:
    """Temporary files in ``folder`` of targets whose names match the regex ``names``, left by
    writers that no longer run (for targets named anew by each run, e.g. with a time stamp)."""
    pattern = re.compile(rf"^\.(?:{names})\.(\d+)-[0-9a-f]+\.partial$")
    for entry in folder.iterdir():
        found = pattern.match(entry.name)
        if found and not process_alive(int(found.group(1))):
            entry.unlink(missing_ok=True)


def current_umask() -> int:
    """The process's umask, read without setting it (``os.umask`` sets it, for a moment
    process-wide: another thread's file could be created with the wrong mode)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)  # no /proc (macOS): the only way there is
    os.umask(mask)
    return mask


def process_alive(pid: int) -> bool:
    """Whether a process with this pid runs (one of another user counts as running)."""
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError, ValueError):  # no such pid, or no pid at all
        return False
    except PermissionError:
        return True
    return True


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable (best effort where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
