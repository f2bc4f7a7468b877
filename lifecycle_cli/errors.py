"""How a command ends on a mistake of the user's: one ``error: ...`` line on stderr and exit
code 2, never a traceback (``user_error`` says which exceptions are such mistakes); our own
warnings as one ``warning: ...`` line."""

from __future__ import annotations

import errno
import logging
import os
import sys
import traceback
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

import typer
from typer.core import TyperGroup


class OneLineUserErrors(TyperGroup):
    """Runs every command; a user error (see ``user_error``) becomes one ``error: ...`` line on
    stderr and exit code 2, never a traceback. ``LIFECYCLE_DEBUG=1`` shows the traceback."""

    def invoke(self, ctx):
        # MLflow announces creating and migrating its store tables on every new store: noise here;
        # and it logs every database error it re-raises (a full disk: ~90 lines of SQL and
        # traceback) before the one line below says what happened (LIFECYCLE_DEBUG=1: both).
        debug = os.environ.get("LIFECYCLE_DEBUG") == "1"
        level = logging.WARNING if debug else logging.CRITICAL
        logging.getLogger("mlflow.store.db.utils").setLevel(level)
        warnings.showwarning = _show_warning
        try:
            return super().invoke(ctx)
        except Exception as exc:
            if _spark_interrupted():  # Ctrl-C: what failed after it followed from it
                raise typer.Exit(130) from exc
            message = user_error(exc)
            if message is None or os.environ.get("LIFECYCLE_DEBUG") == "1":
                raise
            fail(message)


def _spark_interrupted() -> bool:
    engine = sys.modules.get("features.engine")  # not imported here: Spark runs have loaded it
    return engine is not None and engine.interrupted()


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Our own warnings as one ``warning: ...`` line; a library's keep where they come from."""
    if category is UserWarning:
        log(f"warning: {' '.join(str(message).split())}")
    else:
        log(warnings.formatwarning(message, category, filename, lineno, line).rstrip())


def user_error(exc: BaseException) -> str | None:
    """The one-line message of an error the user can fix (bad config or YAML, missing file or data
    set, a plan the data cannot hold, no champion, a rejected export); None for a bug."""
    import yaml
    from pydantic import ValidationError

    from features.mapping import IngestError
    from training.bundle import BundleError
    from training.config import ConfigError, validation_problems
    from training.data_zones import ZoneMismatch
    from training.splits import PlanError

    if isinstance(exc, ValidationError):
        message = f"{exc.title}: {validation_problems(exc)}"
    elif isinstance(exc, yaml.YAMLError):
        message = f"not valid YAML: {exc}"
    elif isinstance(exc, (KeyError, IndexError)):  # LookupErrors that are bugs, not user errors
        return None
    elif (full := _disk_full(exc)) is not None:  # before OSError: MLflow's do not name a path
        message = (
            f"the disk of the MLflow store {_store_place()} is full ({full}): free space where "
            "mlflow.db and mlruns/ live, then run again (the champion is unchanged; a run cut "
            "short is marked FAILED, at the latest by the next `lifecycle train`)"
        )
    elif isinstance(
        exc, (ConfigError, PlanError, IngestError, BundleError, ZoneMismatch, LookupError, OSError)
    ):
        message = str(exc)
    elif (damaged := _damaged_data(exc)) is not None:
        message = damaged
    elif (broken := _in_chain(exc, DAMAGED_SQLITE)) is not None:
        message = (
            f"a SQLite database this command uses is damaged ({broken}): restore it from a "
            "backup (the MLflow store: mlflow.db with mlruns/; tuning: optuna.db), or point "
            "--tracking-uri (MLFLOW_TRACKING_URI) at another store"
        )
    else:
        return None
    return message


#: What SQLite says of a damaged database file (truncated, overwritten).
DAMAGED_SQLITE = ("database disk image is malformed", "file is not a database")


def _in_chain(exc: BaseException, needles: tuple[str, ...]) -> str | None:
    """The first of ``needles`` found in ``exc`` or the exceptions it was raised from."""
    seen: BaseException | None = exc
    while seen is not None:
        text = str(seen)
        if found := next((n for n in needles if n in text), None):
            return found
        seen = seen.__cause__ or seen.__context__
    return None


def _first_line(exc: BaseException) -> str:
    """The exception's first meaningful line, for an error message (its class when empty)."""
    from features.engine import one_line

    return one_line(exc, 200) or type(exc).__name__


#: The contract directories ``--data`` named in this process (``data_set``), newest last: where
#: to look for a damaged file when the engine fails to decode one.
_DATA_SETS: list[Path] = []


def remember_data_set(data: Path) -> None:
    """A contract directory checked for this process, where ``_damaged_data`` looks."""
    _DATA_SETS.append(data)


def _damaged_data(exc: BaseException) -> str | None:
    """A DuckDB read that failed on a damaged Parquet file (pages garbled, footer whole: the
    schema check of ``data_set`` passes), naming the file when one of the data sets holds it."""
    import duckdb

    if not isinstance(exc, duckdb.Error) or isinstance(exc, duckdb.OutOfMemoryException):
        return None
    first = _first_line(exc)
    if not any(w in first.lower() for w in ("corrupt", "parquet", "decompress", "invalid")):
        return None
    import pyarrow as pa
    import pyarrow.parquet as pq

    for data in reversed(_DATA_SETS):
        for path in sorted(data.glob("*.parquet")):
            try:
                pq.ParquetFile(path).read()
            except (pa.ArrowException, OSError) as bad:
                why = " ".join(str(bad).split())[:160]
                return (
                    f"data set {data}: {path.name} is damaged ({why}); "
                    "its pages cannot be decoded. Write it again (lifecycle ingest, or copy it "
                    "whole) and re-run"
                )
    return f"reading the data failed: {first} (a damaged Parquet file? write it again and re-run)"


def _disk_full(exc: BaseException) -> str | None:
    """What a full disk of the MLflow store said: an MLflow error caused by one (its SQLite
    store's, in any wrapper), or an ENOSPC that MLflow's artifact store raised without naming
    the file (an OSError naming its file says where itself); None for anything else."""
    from mlflow.exceptions import MlflowException

    if isinstance(exc, MlflowException):  # not e.g. typer's Exit after a handled disk error
        return _in_chain(
            exc, ("database or disk is full", "No space left on device", "disk I/O error")
        )
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC and exc.filename is None:
        frames = traceback.extract_tb(exc.__traceback__)
        if any(f"{os.sep}mlflow{os.sep}" in frame.filename for frame in frames):
            return exc.strerror or "No space left on device"
    return None


#: The MLflow stores the command named (--tracking-uri or its config's), newest last.
_STORES: list[str] = []


def tracking_store(value: str | None) -> str | None:
    """Option callback: remember the store, for a message about its disk."""
    if value:
        _STORES.append(value)
    return value


def _store_place() -> str:
    """Where the command's MLflow store lives, for a message: the SQLite file's folder."""
    from training.registry import sqlite_store

    if not _STORES:
        return "(sqlite:///mlflow.db unless --tracking-uri says otherwise)"
    path = sqlite_store(_STORES[-1])
    return f"in {os.path.abspath(path.parent)}" if path is not None else _STORES[-1]


def fail(message: str) -> NoReturn:
    """The one way a command stops on a user error: one line on stderr, exit code 2."""
    typer.secho(f"error: {' '.join(message.split())}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code=2)


def log(message: str) -> None:
    typer.echo(message, err=True)


@contextmanager
def plan_must_fit(what: object) -> Iterator[None]:
    """A cutoff plan the data cannot hold is a one-line error about ``what``, not a traceback."""
    from training.splits import PlanError

    try:
        yield
    except PlanError as exc:
        fail(f"{what}: {exc}")
