"""Export state per project and target: a lock, and a SQLite journal that makes exports resumable.

``data/exports/<project>/<target>/`` holds ``journal.sqlite`` (what was last exported per
customer, and every planned batch with its exact body and idempotency key until it is delivered,
dead-lettered or split in two halves planned in its place; the customers exported before who are
not in the latest scores), ``export.lock`` (one export per target at a time) and
``dead-letter.jsonl``. A receiver that refused batches as too large (HTTP 413) leaves its limit
there too (table ``batch_limit``): the smallest batch it refused and the largest it then took,
which later exports plan their batches at. Older journals get the table when opened.

Every change is one SQLite transaction: a kill -9 or a full disk leaves the journal at its last
committed state, never half-written. A batch is planned (body and key stored) before it is sent,
and marked delivered (with its customers' fingerprints) only after a 2xx, so a re-run resends
exactly the batches whose delivery was not recorded, with the same key and the same bytes.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Self

SCHEMA = """
CREATE TABLE IF NOT EXISTS exported (
    customer_id TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    run_id TEXT NOT NULL,
    exported_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    mapping TEXT NOT NULL,
    scores TEXT NOT NULL,
    customers INTEGER NOT NULL,
    batches INTEGER NOT NULL,
    status TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT
);
CREATE TABLE IF NOT EXISTS scored_as_of (
    target TEXT PRIMARY KEY,
    as_of TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS not_in_scores (
    customer_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    noted_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS batches (
    run_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE,
    fingerprints TEXT NOT NULL,
    body BLOB NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    PRIMARY KEY (run_id, seq)
);
CREATE TABLE IF NOT EXISTS batch_limit (
    target TEXT PRIMARY KEY,
    refused INTEGER NOT NULL,
    refused_at TEXT NOT NULL,
    refused_run TEXT NOT NULL,
    fits INTEGER
);
"""


class JournalError(RuntimeError):
    """The export state cannot be read or written (the message says what to do)."""


class ExportLocked(JournalError):
    """Another export to the same project and target is running."""


def json_line(record: dict) -> str:
    """``record`` as one JSON line (with its newline) that stays one line for any reader: the
    characters some split lines at (U+0085, U+2028, U+2029; Python's ``str.splitlines``) are
    escaped, as JSON allows, while other text stays readable (Chinese ids)."""
    text = json.dumps(record, ensure_ascii=False)
    for ch in ("\u0085", "\u2028", "\u2029"):
        text = text.replace(ch, f"\\u{ord(ch):04x}")
    return text + "\n"


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def safe_name(text: str) -> str:
    """A file-system-safe folder name for a project or target."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._")
    if not name:
        raise JournalError(f"{text!r} gives an empty folder name")
    return name


def state_dir(exports_dir: str | Path, project: str, target: str) -> Path:
    """``<exports_dir>/<project>/<target>``."""
    return Path(exports_dir) / safe_name(project) / safe_name(target)


def disk_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return "disk is full" in str(exc) or "disk full" in str(exc)


def explain(path: Path, exc: BaseException) -> JournalError:
    """A one-line error for a failed journal read or write."""
    if disk_full(exc):
        return JournalError(
            f"{path}: the disk is full, the export journal could not be written ({exc}); "
            "the journal keeps its last committed state. Free space and run the same "
            "`lifecycle export` again to resume."
        )
    return JournalError(f"{path}: {exc}")


@contextmanager
def export_lock(directory: Path) -> Iterator[Path]:
    """Hold ``directory/export.lock`` for one export; a second export fails at once (released by
    the kernel when the process ends, kill -9 included)."""
    path = directory / "export.lock"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise explain(path, exc) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "unknown process"
            raise ExportLocked(
                f"{path}: another export to this project and target is running ({holder}); "
                "wait for it to finish, or stop it (it can be resumed)"
            ) from None
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()} since {now()}\n".encode(), 0)
        except OSError:
            pass  # the lock is held; the note for the other process is a courtesy
        yield path
    finally:
        os.close(fd)


@dataclass(frozen=True)
class Batch:
    """A planned batch: its body is sent as is on every attempt, under the same key."""

    run_id: str
    seq: int
    idempotency_key: str
    fingerprints: dict[str, str]
    body: bytes
    status: str = "pending"
    attempts: int = 0


@dataclass(frozen=True)
class BatchLimit:
    """What the receiver showed of its size limit: the smallest batch it refused as too large
    (when), and the largest it took whole after that (None until one went)."""

    refused: int
    refused_at: str
    refused_run: str
    fits: int | None


@dataclass(frozen=True)
class Run:
    run_id: str
    kind: str
    mapping: str
    scores: str
    customers: int
    batches: int
    status: str
    started_at: str


def _replace_not_in_scores(
    db: sqlite3.Connection, run_id: str, customer_ids: list[str], stamp: str
) -> None:
    db.execute("DELETE FROM not_in_scores")
    db.executemany(
        "INSERT INTO not_in_scores VALUES (?, ?, ?)", [(cid, run_id, stamp) for cid in customer_ids]
    )


def _insert_pending(db: sqlite3.Connection, batches: list[Batch]) -> None:
    db.executemany(
        "INSERT INTO batches VALUES (?, ?, ?, ?, ?, 'pending', 0, NULL)",
        [(b.run_id, b.seq, b.idempotency_key, json.dumps(b.fingerprints), b.body) for b in batches],
    )


class Journal:
    """The SQLite journal of one project and target (open it while holding the lock)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
            self.db.executescript(SCHEMA)
        except sqlite3.Error as exc:
            raise explain(self.path, exc) from None

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        try:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
                self.db.execute("COMMIT")
            except BaseException:
                self._rollback()  # SQLite may have rolled back already (e.g. on SQLITE_FULL)
                raise
        except (sqlite3.Error, OSError) as exc:
            raise explain(self.path, exc) from None

    def _rollback(self) -> None:
        if self.db.in_transaction:
            try:
                self.db.execute("ROLLBACK")
            except sqlite3.Error:
                pass

    def _read(self, sql: str, args: tuple = ()) -> list[tuple]:
        try:
            return self.db.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise explain(self.path, exc) from None

    # -- reading -------------------------------------------------------------------------------
    def fingerprints(self) -> dict[str, str]:
        """Customer id -> fingerprint of what was last exported successfully."""
        return dict(self._read("SELECT customer_id, fingerprint FROM exported"))

    def latest_as_of(self) -> str | None:
        """The newest scoring date (YYYY-MM-DD) exported to this target, if any."""
        rows = self._read("SELECT as_of FROM scored_as_of WHERE target = 'this'")
        return rows[0][0] if rows else None

    def check_as_of(self, as_of: str | None, target: str, *, allow_older: bool) -> None:
        """Refuse scores older than those already exported here: they would overwrite the CRM's
        newer values (``allow_older``: a deliberate rollback)."""
        latest = self.latest_as_of()
        if as_of and latest and as_of < latest and not allow_older:
            raise JournalError(
                f"these scores are as of {as_of}, older than the {latest} scores already exported "
                f"to {target}: they would overwrite newer values in the CRM; score again, or pass "
                "--allow-older to roll the CRM back to them"
            )

    def note_as_of(self, db: sqlite3.Connection, as_of: str | None) -> None:
        """Inside a transaction: remember ``as_of`` when it is the newest exported here."""
        if as_of:
            db.execute(
                "INSERT INTO scored_as_of VALUES ('this', ?) ON CONFLICT(target) DO UPDATE SET "
                "as_of = MAX(as_of, excluded.as_of)",
                (as_of,),
            )

    def unfinished_runs(self) -> list[Run]:
        rows = self._read(
            "SELECT run_id, kind, mapping, scores, customers, batches, status, started_at "
            "FROM runs WHERE status = 'running' ORDER BY started_at, run_id"
        )
        return [Run(*row) for row in rows]

    def pending_batches(self, run_id: str) -> list[Batch]:
        rows = self._read(
            "SELECT run_id, seq, idempotency_key, fingerprints, body, status, attempts "
            "FROM batches WHERE run_id = ? AND status = 'pending' ORDER BY seq",
            (run_id,),
        )
        return [Batch(r[0], r[1], r[2], json.loads(r[3]), bytes(r[4]), r[5], r[6]) for r in rows]

    def batch_limit(self) -> BatchLimit | None:
        """The receiver's batch size limit, if it ever refused a batch as too large."""
        rows = self._read(
            "SELECT refused, refused_at, refused_run, fits FROM batch_limit WHERE target = 'this'"
        )
        return BatchLimit(*rows[0]) if rows else None

    def batch_counts(self, run_id: str) -> dict[str, int]:
        rows = self._read(
            "SELECT status, COUNT(*) FROM batches WHERE run_id = ? GROUP BY status", (run_id,)
        )
        return dict(rows)

    def integrity_ok(self) -> bool:
        return self._read("PRAGMA integrity_check") == [("ok",)]

    # -- writing -------------------------------------------------------------------------------
    def plan_run(self, run: Run, batches: list[Batch], as_of: str | None = None) -> None:
        """Record a run and all its batches (bodies and keys) in one transaction."""
        with self._tx() as db:
            self.note_as_of(db, as_of)
            db.execute(
                "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, 'running', ?, NULL)",
                (
                    run.run_id,
                    run.kind,
                    run.mapping,
                    run.scores,
                    run.customers,
                    run.batches,
                    run.started_at,
                ),
            )
            _insert_pending(db, batches)

    def note_not_in_scores(self, run_id: str, customer_ids: list[str]) -> None:
        """Replace the list of customers exported here before who are not in the scores of the
        latest export (deleted or merged in the source?): kept, never sent a deletion."""
        with self._tx() as db:
            _replace_not_in_scores(db, run_id, customer_ids, now())

    def not_in_scores(self) -> list[str]:
        """The customers ``note_not_in_scores`` listed last."""
        return [r[0] for r in self._read("SELECT customer_id FROM not_in_scores ORDER BY 1")]

    def mark_delivered(self, batch: Batch, attempts: int, *, explicit_size: bool = False) -> None:
        """The batch reached the receiver: its customers' fingerprints become the export state,
        and its size the one the receiver takes when it is the largest below every batch refused
        as too large. A batch of a size refused in an earlier run, sent with an explicit
        ``--batch-size``, shows the limit rose: it is forgotten (it never grows by itself)."""
        stamp = now()
        size = len(batch.fingerprints)
        with self._tx() as db:
            db.execute(
                "UPDATE batch_limit SET fits = MAX(COALESCE(fits, 0), ?) WHERE ? < refused",
                (size, size),
            )
            if explicit_size:
                db.execute(
                    "DELETE FROM batch_limit WHERE refused <= ? AND refused_run != ?",
                    (size, batch.run_id),
                )
            db.execute(
                "UPDATE batches SET status = 'delivered', attempts = attempts + ?, "
                "last_error = NULL, body = x'' WHERE run_id = ? AND seq = ?",
                (attempts, batch.run_id, batch.seq),
            )
            db.executemany(
                "INSERT INTO exported VALUES (?, ?, ?, ?) ON CONFLICT(customer_id) DO UPDATE SET "
                "fingerprint = excluded.fingerprint, run_id = excluded.run_id, "
                "exported_at = excluded.exported_at",
                [(cid, fp, batch.run_id, stamp) for cid, fp in batch.fingerprints.items()],
            )

    def mark_dead(self, batch: Batch, attempts: int, reason: str) -> None:
        """The batch failed for good (it is in the dead-letter file); its customers stay unsent,
        so the next export selects them again."""
        with self._tx() as db:
            db.execute(
                "UPDATE batches SET status = 'dead', attempts = attempts + ?, last_error = ?, "
                "body = x'' WHERE run_id = ? AND seq = ?",
                (attempts, reason, batch.run_id, batch.seq),
            )

    def next_seq(self, run_id: str) -> int:
        """The sequence number after the run's last batch (for the halves of a split batch)."""
        return int(self._read("SELECT MAX(seq) FROM batches WHERE run_id = ?", (run_id,))[0][0]) + 1

    def split(
        self,
        batch: Batch,
        halves: list[Batch],
        attempts: int,
        reason: str,
        *,
        too_large: bool = False,
    ) -> None:
        """The receiver rejected some of the batch's records: it is closed as ``split`` and its
        halves (their own keys and bodies) are planned in its place, in one transaction, so a
        re-run resumes the halves, never the whole batch again. ``too_large`` (HTTP 413): its
        size is remembered as refused, in the same transaction."""
        with self._tx() as db:
            if too_large:
                db.execute(
                    "INSERT INTO batch_limit VALUES ('this', ?, ?, ?, NULL) ON CONFLICT(target) "
                    "DO UPDATE SET fits = CASE WHEN fits < MIN(refused, excluded.refused) "
                    "THEN fits END, refused = MIN(refused, excluded.refused), "
                    "refused_at = excluded.refused_at, refused_run = excluded.refused_run",
                    (len(batch.fingerprints), now(), batch.run_id),
                )
            db.execute(
                "UPDATE batches SET status = 'split', attempts = attempts + ?, last_error = ?, "
                "body = x'' WHERE run_id = ? AND seq = ?",
                (attempts, reason, batch.run_id, batch.seq),
            )
            _insert_pending(db, halves)

    def note_attempts(self, batch: Batch, attempts: int, error: str) -> None:
        """Attempts so far of a batch that stays pending (e.g. the receiver refused the key)."""
        with self._tx() as db:
            db.execute(
                "UPDATE batches SET attempts = attempts + ?, last_error = ? "
                "WHERE run_id = ? AND seq = ?",
                (attempts, error, batch.run_id, batch.seq),
            )

    def finish_run(self, run_id: str) -> str:
        """Close a run whose batches are all delivered or dead; returns its final status."""
        counts = self.batch_counts(run_id)
        if counts.get("pending"):
            raise JournalError(f"{self.path}: run {run_id} still has pending batches")
        status = "done" if not counts.get("dead") else "done_with_dead_letters"
        with self._tx() as db:
            db.execute(
                "UPDATE runs SET status = ?, finished_at = ? WHERE run_id = ?",
                (status, now(), run_id),
            )
        return status

    def record_file_export(
        self,
        run: Run,
        fingerprints: dict[str, str],
        as_of: str | None = None,
        gone: list[str] | None = None,
    ) -> None:
        """A CSV file was written: record the run, its customers' fingerprints and (``gone``)
        the customers not in its scores (``note_not_in_scores``) at once."""
        stamp = now()
        with self._tx() as db:
            self.note_as_of(db, as_of)
            if gone is not None:
                _replace_not_in_scores(db, run.run_id, gone, stamp)
            db.execute(
                "INSERT INTO runs VALUES (?, ?, ?, ?, ?, 0, 'done', ?, ?)",
                (
                    run.run_id,
                    run.kind,
                    run.mapping,
                    run.scores,
                    run.customers,
                    run.started_at,
                    stamp,
                ),
            )
            db.executemany(
                "INSERT INTO exported VALUES (?, ?, ?, ?) ON CONFLICT(customer_id) DO UPDATE SET "
                "fingerprint = excluded.fingerprint, run_id = excluded.run_id, "
                "exported_at = excluded.exported_at",
                [(cid, fp, run.run_id, stamp) for cid, fp in fingerprints.items()],
            )
