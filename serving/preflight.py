"""Checks run once by ``bentoml serve`` before it starts a worker: fail fast, in one line.

A worker that raises during start-up is restarted by BentoML's process manager forever (every
~10 s, probes hanging meanwhile). What can be known without loading the models is therefore
checked in the serving process itself (``LifecycleService.preflight``, a BentoML deployment
hook): the API key, the snapshot file (present, a readable Parquet file with customers at one
cutoff), the thread setting, the MLflow store file and the address to listen on (free: else
BentoML's process manager prints a 55-line traceback ending in ``Address already in use``). A
failure prints one line and exits with
status 2 before any worker starts. What needs the models (the champion pair, the snapshot's
columns) is checked by the worker, which then stays up not ready (``/readyz`` 503 + reason).
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
from collections.abc import Mapping
from pathlib import Path

EXIT_STATUS = 2


class ServiceConfigError(RuntimeError):
    """The service cannot serve with this configuration (the message says what to change)."""


def check_snapshot_file(path: Path) -> None:
    """A readable Parquet file with rows, ``customer_id`` and one ``cutoff``; else a clear error."""
    import pyarrow.parquet as pq

    name = f"LIFECYCLE_SNAPSHOT={path}"
    if path.is_dir():
        raise ServiceConfigError(
            f"{name}: is a directory (a `lifecycle score --engine spark` snapshot?); the service "
            "holds its customers in memory and reads the file `lifecycle score` writes: score "
            "the customers it answers for without --engine spark, and send Spark scores to the "
            "CRM with `lifecycle export`"
        )
    if not path.is_file():
        raise ServiceConfigError(
            f"{name}: no such file; run `lifecycle score` and point it at the "
            "<scores>.snapshot.parquet it writes"
        )
    if path.stat().st_size == 0:
        raise ServiceConfigError(f"{name}: the file is empty; rerun `lifecycle score`")
    import pyarrow as pa

    try:
        table = pq.ParquetFile(path)
        columns = set(table.schema_arrow.names)
        missing = [c for c in ("customer_id", "cutoff") if c not in columns]
        if missing:
            raise ServiceConfigError(
                f"{name}: columns {missing} are missing; not a feature snapshot"
            )
        if table.metadata.num_rows == 0:
            raise ServiceConfigError(f"{name}: the snapshot has no customers")
        cutoffs = pq.read_table(path, columns=["cutoff"]).column("cutoff").unique()
    except ServiceConfigError:
        raise
    except (pa.ArrowException, OSError, ValueError) as exc:  # truncated, corrupt, not Parquet
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ServiceConfigError(
            f"{name}: not a readable Parquet file ({first}); rerun `lifecycle score`"
        ) from None
    if len(cutoffs) != 1:
        raise ServiceConfigError(f"{name}: expected one cutoff, found {len(cutoffs)}")


def check_tracking_store(uri: str) -> None:
    """A ``sqlite:///`` store must exist (else there is no champion to load)."""
    from training.registry import require_store

    try:
        require_store(uri)
    except LookupError as exc:
        raise ServiceConfigError(str(exc)) from None


def preflight(environ: Mapping[str, str] = os.environ) -> None:
    """Everything that can be checked before loading models; raises ``ServiceConfigError``."""
    from serving.auth import AuthConfigError, api_key_from_env
    from serving.scorer import Settings

    try:
        api_key_from_env(environ)
        settings = Settings.from_env(environ)
    except (AuthConfigError, ValueError, FileNotFoundError) as exc:
        raise ServiceConfigError(str(exc)) from None
    check_project(settings.project)
    check_snapshot_file(settings.snapshot)
    check_tracking_store(settings.tracking_uri)
    check_address_free(*serve_address())


def serve_address() -> tuple[str, int]:
    """The host and port ``bentoml serve`` is about to listen on: its ``--host`` / ``--port``
    (or ``BENTOML_HOST`` / ``BENTOML_PORT``), else the service's configured ``http`` address."""
    import click
    from bentoml._internal.configuration.containers import BentoMLContainer

    context = click.get_current_context(silent=True)
    params = context.params if context is not None else {}
    host = params.get("host") or BentoMLContainer.http.host.get()
    port = params.get("port") or BentoMLContainer.http.port.get()
    return str(host), int(port)


def check_address_free(host: str, port: int) -> None:
    """Nothing listens on ``host:port`` (bound as BentoML binds it, with ``SO_REUSEADDR``: a port
    left in TIME_WAIT by a stopped server is free)."""
    try:
        family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    except ValueError:
        return  # not an IP address: BentoML refuses it with its own message
    if port == 0:
        return
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ServiceConfigError(
                    f"{host}:{port} is in use; stop what listens there (an earlier `bentoml "
                    "serve`?) or choose another port (--port, or PORT= with `make serve`)"
                ) from None
            raise ServiceConfigError(
                f"cannot listen on {host}:{port}: {exc.strerror or exc}"
            ) from None


def check_project(project: str | None) -> None:
    """The registry keeps a champion pair per project: one must be named if it has no default."""
    import inspect

    from serving.batch import load_champions

    parameter = inspect.signature(load_champions).parameters.get("project")
    if project is None and parameter is not None and parameter.default is inspect.Parameter.empty:
        raise ServiceConfigError(
            "LIFECYCLE_PROJECT is not set: name the project whose champion pair to serve "
            "(`lifecycle score` uses the data directory's name by default)"
        )
