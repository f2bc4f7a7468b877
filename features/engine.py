"""The engine the Ibis definitions run on: embedded DuckDB (default) or Apache Spark.

This is the one place that starts an engine. ``open_engine("duckdb")`` is an in-process DuckDB;
``open_engine("spark", master=...)`` gets (or creates) a SparkSession -- ``local[N]`` on one
machine, the cluster's master under ``spark-submit`` -- and wraps it in Ibis' PySpark backend.
The feature and label definitions (:mod:`features.definitions`) are the same for both.

pyspark is an optional dependency (``pip install 'lifecycle[spark]'``): nothing here imports it
before a Spark engine is asked for. Problems with the environment (no pyspark, no Java, the JVM
does not start) and failed Spark jobs become :class:`EngineError` with one line that says what to
install or fix.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import socket
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple

import ibis
from ibis.backends import BaseBackend

EngineName = Literal["duckdb", "spark"]
ENGINES: tuple[str, ...] = ("duckdb", "spark")
PYSPARK_PIN = "pyspark==4.0.5"
#: Session settings every lifecycle Spark session gets: naive timestamps are read and written as
#: UTC wall-clock time whatever the machine's time zone (the contract's timestamps are naive
#: wall-clock times of the business's zone, UTC by default: kept as they are),
#: Arrow moves pandas batches, and no console progress bars.
SPARK_DEFAULTS: dict[str, str] = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.parquet.inferTimestampNTZ.enabled": "true",
    "spark.ui.showConsoleProgress": "false",
}
#: Settings a ``local[...]`` session gets unless ``conf`` says otherwise. The driver binds to the
#: loopback interface, and task results up to 128 MiB travel in-process: by default a result over
#: 1 MiB is parked in the block manager and fetched back over the network from the machine's own
#: address, and a fetch that fails there (a CI run lost the 12-cutoff CDNOW features this way)
#: fails the job with ``TaskResultLost``, since local mode does not retry tasks.
LOCAL_SPARK_DEFAULTS: dict[str, str] = {
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.task.maxDirectResultSize": "128m",
}


#: Hadoop file system schemes whose directory rename copies object by object.
COPYING_RENAME = frozenset({"s3a", "s3", "s3n", "gs"})


class EngineError(RuntimeError):
    """The engine cannot run: a one-line message naming what to install or fix."""


#: Hadoop file system packages for the object-store schemes pyspark does not bundle.
CONNECTORS: dict[str, str] = {
    "s3a": "org.apache.hadoop:hadoop-aws",
    "gs": "com.google.cloud.bigdataoss:gcs-connector",
    "abfs": "org.apache.hadoop:hadoop-azure",
    "abfss": "org.apache.hadoop:hadoop-azure",
    "wasbs": "org.apache.hadoop:hadoop-azure",
}


class Move(NamedTuple):
    """A finished directory ``staging`` to put in place of ``out``, which may hold only what such
    a job writes (``owned`` name prefixes; ``option`` names ``out`` in the refusal)."""

    staging: str
    out: str
    owned: tuple[str, ...]
    option: str = "--out"


@dataclass(frozen=True)
class ParquetFacts:
    """A Parquet table's columns, row count and non-null counts of the columns asked about."""

    columns: tuple[str, ...]
    rows: int
    non_null: Mapping[str, int]


@dataclass(frozen=True)
class Engine:
    """An Ibis backend plus, for Spark, its session (``spark`` is None on DuckDB)."""

    name: str
    backend: BaseBackend
    spark: Any = None
    settings: Mapping[str, str] = field(default_factory=dict)

    @property
    def is_spark(self) -> bool:
        return self.name == "spark"

    @contextmanager
    def job(self, what: str) -> Iterator[None]:
        """Run Spark work: failures become one-line :class:`EngineError` naming ``what``, a
        line every half minute tells its progress (:mod:`features.spark_progress`), and the
        session time zone is UTC for the duration (then restored).

        The contract's timestamps are naive wall-clock times (``TIMESTAMP_NTZ``, of the
        business's zone: ingest's ``--timezone``, UTC by default); several Spark functions
        (``timestampdiff``, ``date_format``) convert them to instants through the session time
        zone, which moves a wall time inside a daylight-saving gap (02:30 on a spring-forward day
        in America/Los_Angeles becomes 03:30). In UTC there is no gap and no shift: the wall
        clock is kept.
        """
        if not self.is_spark:
            yield
            return
        from features.spark_progress import reporting

        conf = self.spark.conf
        zone = conf.get("spark.sql.session.timeZone")
        conf.set("spark.sql.session.timeZone", "UTC")
        try:
            with spark_job(what), reporting(self.spark, what):
                yield
        finally:
            if not interrupted():  # py4j's connection went with the interrupted call
                conf.set("spark.sql.session.timeZone", zone)

    def hadoop_file(self, path: str | os.PathLike) -> tuple[Any, Any]:
        """The Hadoop file system that holds ``path`` (any URI Spark reads) and ``path`` as its
        ``org.apache.hadoop.fs.Path``, through the session's Hadoop configuration."""
        hadoop = self.spark._jvm.org.apache.hadoop.fs.Path(str(path))
        return hadoop.getFileSystem(self.spark._jsc.hadoopConfiguration()), hadoop

    def read_text(self, path: str) -> str | None:
        """The text of a small file at ``path`` (a URI Spark's Hadoop file systems read: a data
        set's ``manifest.json`` on ``s3a://``), None where there is none."""
        with self.job(f"reading {path}"):  # a store that refuses: EngineError
            fs, hadoop = self.hadoop_file(path)
            if not fs.exists(hadoop):
                return None
            row = self.spark.read.text(str(path), wholetext=True).first()
        return "" if row is None else str(row[0])

    def reach(self, path: str | os.PathLike, option: str) -> bool:
        """Whether anything is at ``path`` (a folder or a URI Spark's Hadoop file systems read:
        ``file://``, ``hdfs://``, ``s3a://``, ``gs://``, ``abfss://``, ...), asked before any job
        runs.

        A scheme with no file system installed (e.g. ``s3a://`` without ``hadoop-aws``) or a
        store that does not answer is an :class:`EngineError` naming ``option`` and the path.
        """
        if not self.is_spark:
            raise EngineError(
                f"{option} {path}: only --engine spark reads URIs; DuckDB reads local folders"
            )
        text = str(path)
        try:
            fs, hadoop = self.hadoop_file(text)
            return bool(fs.exists(hadoop))
        except Exception as exc:
            if not is_spark_error(exc):
                raise
            scheme = text.split("://", 1)[0] if is_uri(text) else "file"
            package = CONNECTORS.get(scheme)
            fix = (
                f"add {package} to spark.jars.packages"
                if package
                else f"install a Hadoop file system for {scheme}://"
            )
            raise EngineError(
                f"{option} {text}: Spark cannot reach this path ({one_line(exc)}); "
                f"{fix}, or check the path and its credentials"
            ) from exc

    def check_replaceable(self, out: str, owned: tuple[str, ...], option: str = "--out") -> None:
        """Before a job replaces the directory ``out`` as a whole: nothing is there, or a
        directory holding only what such a job writes (names starting with ``owned``, Hadoop's
        ``_SUCCESS`` and checksum files). A file, a data set or any other file of the user's
        (which the replacement would delete) is an :class:`EngineError` naming it; so is a file
        where a parent folder should be."""
        fs, path = self.hadoop_file(out)
        if not fs.exists(path):
            parent = path.getParent()
            while parent is not None and not fs.exists(parent):
                parent = parent.getParent()
            if parent is not None and not fs.getFileStatus(parent).isDirectory():
                raise EngineError(f"{option} {out}: {parent} is a file, not a folder")
            return
        if not fs.getFileStatus(path).isDirectory():
            raise EngineError(
                f"{option} {out}: is a file, and Spark writes a directory there (replacing "
                "what is there): give a new path"
            )
        foreign = []
        for child in fs.listStatus(path):
            name = str(child.getPath().getName())
            base = name.removeprefix(".").removesuffix(".crc")
            if base != "_SUCCESS" and not base.startswith(owned):
                foreign.append(name)
        if foreign:
            shown = ", ".join(sorted(foreign)[:4]) + (", ..." if len(foreign) > 4 else "")
            raise EngineError(
                f"{option} {out}: holds files this command did not write ({shown}); Spark "
                "replaces the whole directory: give a new path or an empty folder"
            )

    def staging_path(self, out: str) -> str:
        """A run's own directory beside ``out`` to write into before :meth:`publish`
        (``<out>.staging-<pid>-<token>-<host>``; concurrent runs never share one). Those of this
        host's runs that were killed (their pid gone) are removed first, on a local file system;
        elsewhere they stay until removed by hand (no pid can be checked there)."""
        import secrets

        from features.atomic_file import process_alive

        text = str(out).rstrip("/")
        fs, path = self.hadoop_file(text)
        parent = fs.makeQualified(path).getParent()
        host = re.sub(r"[^A-Za-z0-9]", "_", socket.gethostname())  # a shared mount's other hosts
        if parent is not None and fs.getUri().getScheme() == "file" and fs.exists(parent):
            mine = re.compile(rf"^{re.escape(path.getName())}\.staging-(\d+)-[0-9a-f]+-{host}$")
            aside = re.compile(rf"^{re.escape(path.getName())}\.replaced-(\d+)$")
            for child in fs.listStatus(parent):
                name = str(child.getPath().getName())
                found = mine.match(name)
                if found and not process_alive(int(found.group(1))):
                    fs.delete(child.getPath(), True)
                # the previous output a killed publish moved aside, once a whole one is in place
                old = aside.match(name)
                if old and fs.exists(path) and not process_alive(int(old.group(1))):
                    fs.delete(child.getPath(), True)
        return f"{text}.staging-{os.getpid()}-{secrets.token_hex(4)}-{host}"

    def publish(self, move: Move) -> None:
        """Put a finished directory in place of the previous one. What ``out`` holds is checked
        again first (:meth:`check_replaceable`): files put there since the job's start are not
        deleted. On a local file system the two directories are exchanged in one step
        (``renameat2``): a reader sees the old output or the new one, each with its
        ``_SUCCESS``. Elsewhere the old output loses its ``_SUCCESS`` first (readers refuse it
        from then on). Where a rename is one step (HDFS, ABFS) it is then renamed aside, the new
        one renamed in with its ``_SUCCESS`` written last, and the old one deleted only then: a
        kill leaves a whole output, at ``out`` or aside at ``<out>.replaced-<pid>`` (remove it by
        hand once ``out`` is back). On stores whose rename copies object by object (s3a, gs)
        the old output is deleted and the new one copied in: a kill inside leaves a partial
        output without ``_SUCCESS``, which readers refuse. (Deleting first everywhere showed
        readers a partial output that still had ``_SUCCESS``, and a kill then lost both.)"""
        from features.atomic_dir import exchange

        staging, out = move.staging, move.out
        self.check_replaceable(out, move.owned, move.option)
        fs, target = self.hadoop_file(out)
        _, source = self.hadoop_file(staging)
        local = fs.getUri().getScheme() == "file"
        if local and fs.exists(target):
            here, there = (
                Path(str(fs.makeQualified(p).toUri().getPath())) for p in (source, target)
            )
            if exchange(here, there):
                fs.delete(source, True)  # the previous output, now at the staging name
                return
        _, staged_success = self.hadoop_file(f"{staging.rstrip('/')}/_SUCCESS")
        success = fs.exists(staged_success)
        if success:  # a copying rename could move it before the data
            fs.delete(staged_success, False)
        aside = None
        if fs.exists(target):
            _, old_success = self.hadoop_file(f"{out.rstrip('/')}/_SUCCESS")
            fs.delete(old_success, False)
            if str(fs.getUri().getScheme()) in COPYING_RENAME:  # a copy aside: no safer
                fs.delete(target, True)
            else:
                aside = self.hadoop_file(f"{out.rstrip('/')}.replaced-{os.getpid()}")[1]
                fs.delete(aside, True)  # an earlier run of this pid's, killed there
                if not fs.rename(target, aside):
                    raise OSError(f"could not move the previous {out} aside")
        if not fs.rename(source, target):
            raise OSError(f"could not move {staging} to {out}")
        if success:
            fs.create(self.hadoop_file(f"{out.rstrip('/')}/_SUCCESS")[1], True).close()
        if aside is not None:
            fs.delete(aside, True)

    def publish_together(self, *moves: Move) -> None:
        """:meth:`publish` each move in turn, holding a lock on the folder of the first ``out``
        when it is local: two runs to one place leave one run's set (scores with their snapshot),
        never one's scores beside the other's snapshot. (Elsewhere there is no lock to hold: run
        one scoring per place at a time.)"""
        import fcntl

        fs, path = self.hadoop_file(moves[0].out)
        parent = fs.makeQualified(path).getParent()  # absolute: a bare relative name has ""
        local = fs.getUri().getScheme() == "file" and parent is not None
        fd = os.open(str(parent.toUri().getPath()), os.O_RDONLY | os.O_DIRECTORY) if local else None
        try:
            if fd is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX)
                except OSError:  # NFS emulates flock with locks a read-only fd cannot take
                    pass  # publish unlocked, as on the stores that have no lock at all
            for move in moves:
                self.publish(move)
        finally:
            if fd is not None:
                os.close(fd)

    def remove_quietly(self, *paths: str) -> None:
        """Delete directories a failed run wrote aside; best effort, so that the failure being
        raised is the one reported."""
        with suppress(Exception):
            for text in paths:
                fs, path = self.hadoop_file(text)
                if fs.exists(path):
                    fs.delete(path, True)

    def parquet_facts(self, path: str, columns: tuple[str, ...] = ()) -> ParquetFacts | None:
        """Rows and non-null counts of ``columns`` of the Parquet at ``path`` on Spark, in one
        job (None when nothing is there): what the local checks read from Parquet footers."""
        if not self.reach(path, "--data"):
            return None
        from pyspark.sql import functions as F

        with self.job(f"reading {path}"):
            frame = self.spark.read.parquet(str(path))
            present = tuple(c for c in columns if c in frame.columns)
            row = frame.agg(F.count(F.lit(1)), *[F.count(F.col(c)) for c in present]).first()
        return ParquetFacts(
            tuple(frame.columns),
            int(row[0]),
            {c: int(n) for c, n in zip(present, row[1:], strict=True)},
        )

    def dataframe(self, expr: Any) -> Any:
        """The Spark DataFrame of an Ibis expression (lazy: nothing runs until it is written)."""
        if not self.is_spark:
            raise EngineError(f"{self.name}: Spark DataFrames need --engine spark")
        self.backend._run_pre_execute_hooks(expr)  # registers the expression's in-memory tables
        return self.spark.sql(self.backend.compile(expr))


def check_engine_name(name: str) -> str:
    if name not in ENGINES:
        raise EngineError(f"--engine {name!r}: expected one of {', '.join(ENGINES)}")
    return name


def open_engine(
    name: str = "duckdb",
    *,
    master: str | None = None,
    conf: Mapping[str, str] | None = None,
    app_name: str = "lifecycle",
) -> Engine:
    """An engine by name; for Spark see :func:`spark_session` for ``master`` and ``conf``."""
    check_engine_name(name)
    if name == "duckdb":
        return Engine("duckdb", ibis.duckdb.connect())
    spark = spark_session(master, conf=conf, app_name=app_name)
    return Engine("spark", ibis.pyspark.connect(spark), spark, dict(conf or {}))


def spark_session(
    master: str | None = None,
    *,
    conf: Mapping[str, str] | None = None,
    app_name: str = "lifecycle",
) -> Any:
    """Get or create the SparkSession.

    ``master`` (e.g. ``local[2]``, ``spark://host:7077``, ``yarn``) is used as given; without it a
    session started by ``spark-submit`` keeps the submitted master and configuration, and a plain
    Python process runs ``local[*]``. ``conf`` adds settings (``spark.sql.shuffle.partitions``,
    ``spark.driver.memory``, ...). Executors run UDFs with this interpreter unless
    ``PYSPARK_PYTHON`` says otherwise.
    """
    pyspark = require_pyspark()
    submitted = "PYSPARK_GATEWAY_PORT" in os.environ  # launched by spark-submit / pyspark shell
    if not submitted:
        require_java()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    if master is None and not submitted:
        master = "local[*]"
    options = {"spark.app.name": app_name, **({"spark.master": master} if master else {})}
    # getOrCreate also applies these to a session that already runs (conf winning)
    options |= session_settings(master, conf)
    # Spark's ERROR lines carry Java stacks (an executor's failed task: 70 lines; a master it
    # cannot reach: three traces in a minute) before the one error line the CLI prints from the
    # exception; LIFECYCLE_DEBUG=1 shows them. Set at startup, not only once the session runs.
    debug = os.environ.get("LIFECYCLE_DEBUG") == "1"
    options.setdefault("spark.log.level", "ERROR" if debug else "FATAL")
    try:
        # the context first (its start installs PySpark's Ctrl-C handler), then the session
        pyspark.SparkContext.getOrCreate(pyspark.SparkConf().setAll(options.items()))
        if _PLAIN.is_set():  # inside plain_interrupts: PySpark's handler replaced ours
            signal.signal(signal.SIGINT, _interrupted)
        session = pyspark.sql.SparkSession.builder.config(map=options).getOrCreate()
    except Exception as exc:  # the JVM did not start: a broken Java, a bad master URL
        where = f" with master {master!r}" if master else ""
        raise EngineError(
            f"Spark did not start{where} ({one_line(exc)}); check Java 17 and that the master "
            "is reachable (--spark-master); LIFECYCLE_DEBUG=1 shows Spark's log"
        ) from exc
    session.sparkContext.setLogLevel(options["spark.log.level"])
    return session


@contextmanager
def plain_interrupts() -> Iterator[None]:
    """For a command's duration: Ctrl-C raises ``KeyboardInterrupt`` at once, as without Spark
    (the CLI exits 130); the previous handler is restored after.

    PySpark's own handler (installed with the SparkContext, meant for a shell that lives on)
    cancels the jobs over py4j from inside the handler, re-entering the py4j call the main thread
    waits on: two py4j tracebacks, then the job's error ("failed on Spark", exit 2) instead of the
    interrupt. Here the jobs end with the JVM when the process exits. Outside it (a notebook, a
    test run) PySpark's handler stays."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)
    _INTERRUPT.clear()
    _PLAIN.set()
    signal.signal(signal.SIGINT, _interrupted)
    try:
        yield
    finally:
        _PLAIN.clear()
        signal.signal(signal.SIGINT, previous)


_PLAIN = threading.Event()  # inside plain_interrupts
_INTERRUPT = threading.Event()


def interrupted() -> bool:
    """True once Ctrl-C stopped this process's Spark work: py4j calls after it may fail (the
    connection of the interrupted call is gone), and their errors are not the news."""
    return _INTERRUPT.is_set()


def _interrupted(signum: int, frame: Any) -> None:
    _INTERRUPT.set()
    # py4j logs its clean-up of the interrupted call as tracebacks (one on the root logger)
    logging.getLogger("py4j").setLevel(logging.CRITICAL + 1)
    logging.getLogger().addFilter(_not_py4j_interrupt)
    raise KeyboardInterrupt


def _not_py4j_interrupt(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith("KeyboardInterrupt while sending command")


def session_settings(master: str | None, conf: Mapping[str, str] | None = None) -> dict[str, str]:
    """What a new session is built with: :data:`SPARK_DEFAULTS`, :data:`LOCAL_SPARK_DEFAULTS` for
    a ``local[...]`` master, then ``conf``, which wins."""
    local = LOCAL_SPARK_DEFAULTS if master is not None and master.startswith("local") else {}
    return {**SPARK_DEFAULTS, **local, **(conf or {})}


def require_pyspark() -> Any:
    """The ``pyspark`` module, or an :class:`EngineError` saying how to install it."""
    try:
        import pyspark
        import pyspark.sql
    except ImportError as exc:
        raise EngineError(
            f"--engine spark needs pyspark, which is not installed: "
            f"pip install 'lifecycle[spark]' (or {PYSPARK_PIN})"
        ) from exc
    return pyspark


def require_java() -> str:
    """Path of the ``java`` that Spark will start, or an :class:`EngineError` naming what to
    install."""
    home = os.environ.get("JAVA_HOME")
    if home:
        java = os.path.join(home, "bin", "java")
        if os.access(java, os.X_OK):
            return java
        raise EngineError(
            f"--engine spark needs Java: JAVA_HOME={home} has no bin/java; "
            "point JAVA_HOME at a Java 17 runtime (e.g. apt-get install openjdk-17-jre-headless)"
        )
    on_path = shutil.which("java")
    if on_path is None:
        raise EngineError(
            "--engine spark needs Java, which is not installed (no JAVA_HOME, no java on PATH): "
            "install a Java 17 runtime (e.g. apt-get install openjdk-17-jre-headless)"
        )
    return on_path


def one_line(exc: BaseException, limit: int = 300) -> str:
    """The first meaningful line of an exception (Spark's are pages of JVM stack); for a Java
    exception behind py4j, its own message (py4j's says only which call failed)."""
    chain, java = [], getattr(exc, "java_exception", None)
    while java is not None:  # py4j's own message only names the call that failed
        chain.append(_first_line(str(java.toString())))
        java = java.getCause()
    if chain:
        root = chain[-1]  # what went wrong; an outer cause may name the file it was reading
        named = next((c for c in chain[:-1] if "file" in c.lower() and root not in c), None)
        if named:  # the file read is said whole; the root cause gives way to it
            return (
                f"{_cut(root, max(limit - len(named), limit // 3))} (in: {_cut(named, 2 * limit)})"
            )
        return _cut(root, limit)
    return _cut(_first_line(str(exc)), limit)


def _cut(text: str, limit: int) -> str:
    return text[:limit] + ("..." if len(text) > limit else "")


def _first_line(text: str) -> str:
    for line in text.strip().splitlines():
        line = line.strip()
        if line and not line.startswith(("Traceback", "at ", "JVM stacktrace")):
            return line
    return text.strip()


def is_spark_error(exc: BaseException) -> bool:
    """True for errors raised by a Spark job or the JVM (not for Python errors of ours)."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    modules = {cls.__module__ for cls in type(exc).__mro__}
    return bool(
        names & {"Py4JJavaError", "Py4JError", "PySparkException"}
        or any(m.startswith(("pyspark.", "py4j.")) for m in modules)
    )


@contextmanager
def spark_job(what: str) -> Iterator[None]:
    """A failed Spark job becomes an :class:`EngineError`: ``what`` failed on Spark and why."""
    try:
        yield
    except EngineError:
        raise
    except Exception as exc:
        if is_spark_error(exc):
            raise EngineError(f"{what} failed on Spark: {one_line(exc)}") from exc
        raise


def is_uri(path: object) -> bool:
    """``hdfs://``, ``s3a://``, ``file://``, ... (a path only Spark's file systems resolve)."""
    text = str(path)
    return "://" in text and not text.startswith("/")
