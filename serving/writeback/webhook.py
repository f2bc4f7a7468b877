"""The webhook push: batched, signed, idempotent JSON POSTs that survive faults and kills.

Each batch body is built once, stored in the journal with its idempotency key, and sent byte for
byte the same on every attempt (and after a kill -9 and a re-run), so the receiver can drop
duplicates by the ``Idempotency-Key`` header. The body is signed with HMAC-SHA256 under a shared
secret: header ``X-Lifecycle-Signature: sha256=<hex digest of the raw body>``.

Retries: timeouts, connection errors, 408, 429 and 5xx, with exponential backoff and full jitter,
never sooner than the receiver's ``Retry-After``; other 4xx are not retried, 401/403 stop the export
(a wrong secret would fail every batch), and so do 404/405/410 and a redirect (not followed: its
``Location`` is named), which are about the URL and would meet every batch. A batch another 4xx
rejects is split in two halves, each with its own key, planned in its place (``Journal.split``), and
so on down to the single customers the receiver rejects (up to ``MAX_ISOLATED`` per export): the
rest is delivered, and what fails for good goes to the dead-letter file with the reason (its
customers go again with the next export, not later in the same one). The whole export is bounded by
``RetryPolicy.max_seconds`` (each attempt too, its answer included); a batch the bound stops, before
or between its attempts (a ``Retry-After`` past it) or during one, stays in the journal with the
batches after it, for the next run: never dead-lettered, so never sent again under another key.
A receiver that refuses batches as too large (413) gets them in halves, and the journal keeps the
largest size it then took: later exports plan their new batches at that size unless
``batch_size`` is given (``BatchLimit``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import random
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx
import pandas as pd
from tqdm import tqdm

from serving.writeback.fields import Mapping, Reject
from serving.writeback.journal import (
    Batch,
    BatchLimit,
    Journal,
    Run,
    explain,
    export_lock,
    json_line,
    now,
)
from serving.writeback.plan import scores_as_of, select

SECRET_ENV = "LIFECYCLE_WEBHOOK_SECRET"
SIGNATURE_HEADER = "X-Lifecycle-Signature"
KEY_HEADER = "Idempotency-Key"
ATTEMPT_HEADER = "X-Lifecycle-Attempt"
MIN_SECRET_LENGTH = 16
#: Customers per batch when neither ``--batch-size`` nor the receiver's refusals say otherwise.
DEFAULT_BATCH_SIZE = 200


class WebhookError(RuntimeError):
    """The export cannot start (bad URL, missing secret)."""


def sign(body: bytes, secret: str) -> str:
    """``sha256=<hex>``: HMAC-SHA256 of the raw body under the shared secret."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify(body: bytes, secret: str, header: str | None) -> bool:
    """Whether ``header`` is the signature of ``body`` (constant-time comparison)."""
    return header is not None and hmac.compare_digest(sign(body, secret), header)


def secret_from_env(name: str = SECRET_ENV) -> str:
    secret = os.environ.get(name, "")
    if len(secret) < MIN_SECRET_LENGTH:
        raise WebhookError(
            f"environment variable {name} must hold the shared webhook secret "
            f"(at least {MIN_SECRET_LENGTH} characters), got {len(secret)} characters"
        )
    return secret


def check_url(url: str) -> str:
    """``url`` if it is an http(s) URL with a host and, if given, a port in 1-65535."""
    expected = "expected http(s)://host[:port]/path"
    try:
        parts = urlsplit(url)
        port = parts.port  # ValueError: not a number, or out of range
    except ValueError as exc:  # not printed: it may hold credentials
        raise WebhookError(f"--url: not a usable URL ({exc}); {expected}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or port == 0:
        raise WebhookError(f"--url {public_url(url)!r}: {expected}")
    return url


#: Ports a URL implies when it names none.
DEFAULT_PORTS = {"http": 80, "https": 443}


def url_host(url: str) -> str:
    """``host[:port]`` of ``url`` as one name per server: without user info
    (``user:password@``), the host in lower case without a trailing dot, the port only when it is
    not the scheme's default (``HTTPS://API.Example.com.:443`` -> ``api.example.com``). It names
    the export target, whose journal keeps what was sent."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:  # not a number: keep the text as it is
        return parts.netloc.rpartition("@")[2].lower()
    host = (parts.hostname or "").rstrip(".")
    if ":" in host:  # IPv6
        host = f"[{host}]"
    if port is not None and port != DEFAULT_PORTS.get(parts.scheme.lower()):
        host = f"{host}:{port}"
    return host


def default_target(url: str) -> str:
    """The export target a webhook URL names by default: ``webhook-<host[:port]>``, and for a
    URL with a path other than ``/`` a short hash of the path (a trailing ``/`` aside), so that
    hooks sharing a host (Zapier, Make, n8n) keep separate journals while no path (which may hold
    a secret) is written into the folder name. The query is left out: a rotated ``?token=``
    keeps the target and its pending batches."""
    path = urlsplit(url).path.rstrip("/")
    name = "webhook-" + url_host(url)
    if not path:
        return name  # the name of the versions before the path counted: their state is kept
    return f"{name}-{hashlib.sha256(path.encode('utf-8')).hexdigest()[:10]}"


def public_url(url: str) -> str:
    """``url`` without user info (``user:password@``), with its query values masked
    (``?token=***``) and no fragment: what may be printed, logged or used as a name."""
    parts = urlsplit(url)
    query = "&".join(
        f"{name}=***" if sep else name
        for name, sep, _ in (item.partition("=") for item in parts.query.split("&") if item)
    )
    return urlunsplit(parts._replace(netloc=url_host(url), query=query, fragment=""))


def idempotency_key(project: str, target: str, run_id: str, seq: int) -> str:
    text = f"{project}\0{target}\0{run_id}\0{seq}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: attempts per batch, backoff, per-request timeout, total time bound."""

    max_attempts: int = 8
    base_delay: float = 0.5
    max_delay: float = 30.0
    timeout: float = 10.0
    max_seconds: float = 600.0

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Full jitter: uniform in [0, min(max_delay, base_delay * 2^(attempt-1))]."""
        return rng.uniform(0.0, min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


Status = Literal["delivered", "rejected", "dead", "auth", "route", "out_of_time"]

#: Answers that refuse what a batch holds (some record of it): the batch is split to find which.
#: Other 4xx are about the request (401/403 the secret, 404/405/410 and 3xx the URL: the export
#: stops; 408 and 429 are retried; the rest dead-letter the batch whole).
RECORD_CODES = {400, 413, 422}
ROUTE_CODES = {404, 405, 410}
#: Single customers isolated by splitting rejected batches, per export: past it (a receiver that
#: rejects every record, e.g. a wrong path) rejected batches are dead-lettered whole.
MAX_ISOLATED = 100


@dataclass(frozen=True)
class Outcome:
    """How one batch ended in this run."""

    status: Status
    attempts: int
    reason: str = ""
    status_code: int | None = None
    #: out of time because the receiver asked to wait this long (``Retry-After``, seconds)
    retry_after: float | None = None


def deliver(
    client: httpx.Client,
    url: str,
    batch: Batch,
    secret: str,
    policy: RetryPolicy,
    deadline: float,
    rng: random.Random,
    sleep: Callable[[float], None] = time.sleep,
) -> Outcome:
    """POST one batch until it is accepted, fails for good, or the time bound is reached. A
    batch the time bound stops (before its first attempt, during one, or before a retry the
    receiver asked to wait for, e.g. a ``Retry-After`` past the bound) is ``out_of_time``: it
    stays planned, to go out again with the same key and bytes."""
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        KEY_HEADER: batch.idempotency_key,
        SIGNATURE_HEADER: sign(batch.body, secret),
    }
    last = ""
    attempt = 0
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            reason = "export time limit reached" + (f"; last error: {last}" if last else "")
            return Outcome("out_of_time", attempt, reason)
        attempt += 1
        retry_after = None
        code = None
        try:
            code, text, retry_header, location = _post(
                client,
                url,
                batch.body,
                {**headers, ATTEMPT_HEADER: str(batch.attempts + attempt)},
                min(policy.timeout, remaining),
            )
        except httpx.TimeoutException as exc:
            last = f"timeout ({type(exc).__name__})"
        except httpx.TransportError as exc:
            last = f"connection error ({type(exc).__name__}: {exc})"
        else:
            if 200 <= code < 300:
                return Outcome("delivered", attempt, status_code=code)
            if code in (401, 403):
                return Outcome("auth", attempt, f"HTTP {code} from {public_url(url)}: {text}", code)
            if code in ROUTE_CODES:
                return Outcome(
                    "route", attempt, f"HTTP {code} from {public_url(url)}: {text}", code
                )
            if 300 <= code < 400:  # about the URL, as a 404: every batch would meet it
                return Outcome("route", attempt, redirect_reason(code, url, location, text), code)
            if code < 400:  # an answer outside the protocol
                return Outcome("dead", attempt, f"HTTP {code} (not retried): {text}", code)
            if code < 500 and code not in (408, 429):
                status: Status = "rejected" if code in RECORD_CODES else "dead"
                return Outcome(status, attempt, f"HTTP {code} (not retried): {text}", code)
            last = f"HTTP {code}: {text}"
            retry_after = parse_retry_after(retry_header)
        if attempt >= policy.max_attempts:
            return Outcome("dead", attempt, f"gave up after {attempt} attempts; last: {last}", code)
        delay = policy.backoff(attempt, rng)
        if retry_after is not None:
            delay = max(delay, retry_after)
        if time.monotonic() + delay >= deadline:
            asked = retry_after if retry_after is not None and retry_after >= delay else None
            return Outcome(
                "out_of_time",
                attempt,
                f"export time limit would pass before the next attempt (wait {delay:.1f} s"
                f"{', the receiver asked so' if asked is not None else ''}); last: {last}",
                code,
                asked,
            )
        sleep(delay)


def redirect_reason(code: int, url: str, location: str | None, text: str) -> str:
    """Why a 3xx answer is not followed (a POST is never redirected silently), naming where it
    points: an http URL the receiver moves to https is a ``--url`` to correct."""
    if not location:
        return f"HTTP {code} redirect without a Location (not followed): {text}"
    target = urljoin(url, location)
    old, new = urlsplit(url), urlsplit(target)
    if old.scheme == "http" and new.scheme == "https" and old.hostname == new.hostname:
        return (
            f"HTTP {code}: the receiver redirects http to https ({public_url(target)}); "
            "correct --url to https (a POST is not redirected)"
        )
    return (
        f"HTTP {code} redirect to {public_url(target)} (not followed: a POST is not redirected; "
        "correct --url if that is the receiver)"
    )


def _post(
    client: httpx.Client, url: str, body: bytes, headers: dict[str, str], seconds: float
) -> tuple[int, str, str | None, str | None]:
    """One POST that takes at most about ``seconds`` in all: httpx's timeout bounds each step
    (connect, each read), so a receiver dripping its answer byte by byte would hold the export
    past any limit; the answer is read in chunks against a deadline. Returns the status code,
    the start of the answer's text, its ``Retry-After`` and its ``Location``."""
    stop = time.monotonic() + seconds
    with client.stream("POST", url, content=body, headers=headers, timeout=seconds) as response:
        read = bytearray()
        for chunk in response.iter_bytes():
            read += chunk[: max(0, ANSWER_BYTES - len(read))]
            if time.monotonic() > stop:
                raise httpx.ReadTimeout(f"the answer took more than {seconds:.1f} s in all")
        text = read.decode(response.encoding or "utf-8", errors="replace")[:300].strip()
        answer = response.headers
        return response.status_code, text, answer.get("Retry-After"), answer.get("Location")


#: How much of a receiver's answer is kept (for the error message): the rest is read and dropped.
ANSWER_BYTES = 4096


def batch_body(
    rows: list[dict[str, Any]],
    mapping: Mapping,
    *,
    project: str,
    target: str,
    run_id: str,
    seq: int,
    total: int,
    key: str,
) -> bytes:
    """The JSON body of one batch (no NaN: missing values are null)."""
    return _json_body(
        {
            "idempotency_key": key,
            "project": project,
            "target": target,
            "mapping": mapping.name,
            "run_id": run_id,
            "sequence": seq,
            "batches_in_run": total,
            "created_at": now(),
            "key_field": mapping.key,
            "fields": mapping.columns,
            "customers": rows,
        }
    )


def _json_body(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def halves(batch: Batch, seq: int) -> list[Batch]:
    """The two halves of a batch the receiver rejected, as batches ``seq`` and ``seq + 1`` of
    its run: the same records and fields, each half under a key derived from the batch's (the
    same on every run) and marked ``split_from`` the batch's sequence."""
    payload = json.loads(batch.body)
    rows, id_field = payload["customers"], payload["key_field"]
    middle = len(rows) // 2
    out = []
    for i, part in enumerate((rows[:middle], rows[middle:])):
        key = hashlib.sha256(f"{batch.idempotency_key}/{i}".encode()).hexdigest()[:32]
        body = _json_body(
            payload
            | {"idempotency_key": key, "sequence": seq + i, "split_from": batch.seq}
            | {"customers": part}
        )
        fps = {str(r[id_field]): batch.fingerprints[str(r[id_field])] for r in part}
        out.append(Batch(batch.run_id, seq + i, key, fps, body))
    return out


@dataclass
class WebhookResult:
    """What an export did, for the summary line and the fault table."""

    runs: list[str] = field(default_factory=list)
    resumed_batches: int = 0
    resumed_delivered: int = 0
    planned_batches: int = 0
    delivered: int = 0
    dead: int = 0
    #: the single customers the receiver rejected (a 4xx for a batch of one), in order
    rejected_ids: list[str] = field(default_factory=list)
    not_attempted: int = 0
    #: customers in the batches left for the next run (``not_attempted``)
    waiting_customers: int = 0
    #: the wait the receiver asked for (``Retry-After``, seconds) that stopped the export
    retry_after: float | None = None
    retries: int = 0
    unchanged: int = 0
    #: customers exported here before who are not in the scores (``Journal.not_in_scores``)
    gone: int = 0
    rejects: list[Reject] = field(default_factory=list)
    auth_error: str | None = None
    #: the receiver answered 404/405/410 or a redirect: the URL is not the receiver's (the
    #: export stopped)
    route_error: str | None = None
    dead_letter: Path = Path("dead-letter.jsonl")
    #: the customers in each batch the receiver refused as too large (HTTP 413); the size it
    #: then took is the journal's (``limit``)
    too_large: list[int] = field(default_factory=list)
    #: customers per new batch, and whether ``batch_size`` was given (else the default, or the
    #: size the receiver took after refusing larger ones: ``limit`` as it was when planning)
    batch_size: int = DEFAULT_BATCH_SIZE
    explicit_size: bool = False
    limit_planned: BatchLimit | None = None
    #: the receiver's limit in the journal once the export ended (None: none, or forgotten)
    limit: BatchLimit | None = None
    #: customer id -> "sent" or "dead": how its last batch in this export ended
    done: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def customers_sent(self) -> int:
        """Customers delivered, each once (a resumed batch and a new one may both hold one)."""
        return sum(1 for status in self.done.values() if status == "sent")

    @property
    def dead_customers(self) -> int:
        """Customers whose last batch in this export was dead-lettered, each once."""
        return sum(1 for status in self.done.values() if status == "dead")

    @property
    def ok(self) -> bool:
        return not (self.dead or self.not_attempted or self.auth_error or self.route_error)


def _dead_letter(path: Path, batch: Batch, outcome: Outcome) -> None:
    line = {
        "at": now(),
        "run_id": batch.run_id,
        "sequence": batch.seq,
        "idempotency_key": batch.idempotency_key,
        "reason": outcome.reason,
        "status_code": outcome.status_code,
        "attempts": batch.attempts + outcome.attempts,
        "customer_ids": sorted(batch.fingerprints),
        "body": json.loads(batch.body),
    }
    try:
        with open(path, "a", encoding="utf-8") as out:
            out.write(json_line(line))
            out.flush()
            os.fsync(out.fileno())
    except OSError as exc:
        raise explain(path, exc) from None


def export_webhook(
    scores: pd.DataFrame,
    scores_name: str,
    mapping: Mapping,
    state: Path,
    url: str,
    secret: str,
    *,
    project: str,
    target: str,
    full: bool = False,
    batch_size: int | None = None,
    policy: RetryPolicy | None = None,
    progress: bool = True,
    rng: random.Random | None = None,
    client: httpx.Client | None = None,
    allow_older: bool = False,
) -> WebhookResult:
    """Finish any interrupted run of this target, then send what changed (everyone with
    ``full``) in batches; see the module docstring for the delivery rules. Scores older than
    those already sent here are refused unless ``allow_older``. New batches hold ``batch_size``
    customers; without it, ``DEFAULT_BATCH_SIZE`` or the smaller size this receiver took after
    refusing larger batches (remembered in the journal; an explicit size it takes whole, of a size
    it refused before, forgets it)."""
    check_url(url)
    as_of = scores_as_of(scores)
    policy = policy or RetryPolicy()
    rng = rng or random.Random()
    deadline = time.monotonic() + policy.max_seconds
    result = WebhookResult(
        dead_letter=state / "dead-letter.jsonl",
        batch_size=batch_size or DEFAULT_BATCH_SIZE,
        explicit_size=batch_size is not None,
    )
    own_client = client is None
    client = client or httpx.Client(timeout=policy.timeout, follow_redirects=False)
    try:
        with export_lock(state), Journal(state / "journal.sqlite") as journal:

            def send(batches: list[Batch], run: Run, what: str) -> bool:
                return _send(
                    journal, batches, run, client, url, secret, policy, deadline, rng, result,
                    progress, what,
                )  # fmt: skip

            for run in journal.unfinished_runs():
                pending = journal.pending_batches(run.run_id)
                result.runs.append(run.run_id)
                result.resumed_batches += len(pending)
                if not send(pending, run, f"resume {run.run_id}"):
                    return _finished(result, journal)
            journal.check_as_of(as_of, f"{project}/{target}", allow_older=allow_older)
            selection = select(scores, mapping, journal, full=full, state=state, done=result.done)
            result.unchanged, result.rejects = selection.unchanged, selection.rejects
            result.gone = len(selection.gone)
            if not selection.to_send:
                return _finished(result, journal)
            size = result.batch_size
            result.limit_planned = limit = journal.batch_limit()
            if not result.explicit_size and limit and limit.fits and limit.fits < size:
                size = result.batch_size = limit.fits
            run_id = selection.run_id
            chunks = [
                selection.to_send[i : i + size] for i in range(0, len(selection.to_send), size)
            ]
            batches = []
            for seq, chunk in enumerate(chunks, start=1):
                key = idempotency_key(project, target, run_id, seq)
                body = batch_body(
                    [r for r, _ in chunk],
                    mapping,
                    project=project,
                    target=target,
                    run_id=run_id,
                    seq=seq,
                    total=len(chunks),
                    key=key,
                )
                fps = {str(r[mapping.key]): fp for r, fp in chunk}
                batches.append(Batch(run_id, seq, key, fps, body))
            run = Run(
                run_id,
                "webhook",
                mapping.name,
                scores_name,
                len(selection.to_send),
                len(batches),
                "running",
                now(),
            )
            journal.plan_run(run, batches, as_of)
            result.runs.append(run_id)
            result.planned_batches = len(batches)
            send(batches, run, "export")
            return _finished(result, journal)
    finally:
        if own_client:
            client.close()


def _finished(result: WebhookResult, journal: Journal) -> WebhookResult:
    """``result`` with the receiver's batch size limit as the journal holds it now."""
    result.limit = journal.batch_limit()
    return result


def _splits(outcome: Outcome, batch: Batch, result: WebhookResult) -> bool:
    """Whether a batch the receiver rejected is split to isolate the records it refuses."""
    return (
        outcome.status == "rejected"
        and len(batch.fingerprints) > 1
        and len(result.rejected_ids) < MAX_ISOLATED
    )


def _send(
    journal: Journal,
    batches: list[Batch],
    run: Run,
    client: httpx.Client,
    url: str,
    secret: str,
    policy: RetryPolicy,
    deadline: float,
    rng: random.Random,
    result: WebhookResult,
    progress: bool,
    what: str,
) -> bool:
    """Deliver ``batches`` in order and close the run; False when the export must stop."""
    host = url_host(url)
    queue = deque(batches)
    bar = tqdm(
        total=len(batches),
        desc=f"{what} -> {host}",
        unit="batch",
        file=sys.stderr,
        disable=not progress,
        leave=True,
    )
    try:
        while queue:
            batch = queue.popleft()
            outcome = deliver(client, url, batch, secret, policy, deadline, rng)
            result.retries += max(0, outcome.attempts - 1)
            too_large = outcome.status_code == 413
            if too_large:
                result.too_large.append(len(batch.fingerprints))
            if _splits(outcome, batch, result):
                parts = halves(batch, journal.next_seq(run.run_id))
                journal.split(batch, parts, outcome.attempts, outcome.reason, too_large=too_large)
                queue.extendleft(reversed(parts))
                bar.total += 1
                bar.refresh()
                continue
            if outcome.status == "delivered":
                journal.mark_delivered(batch, outcome.attempts, explicit_size=result.explicit_size)
                result.delivered += 1
                result.resumed_delivered += int(what != "export")
                result.done.update(dict.fromkeys(batch.fingerprints, "sent"))
            elif outcome.status in ("auth", "route"):  # every batch would fail alike
                journal.note_attempts(batch, outcome.attempts, outcome.reason)
                result.auth_error = outcome.reason if outcome.status == "auth" else None
                result.route_error = outcome.reason if outcome.status == "route" else None
                return False
            elif outcome.status == "out_of_time":
                if outcome.attempts:  # tried, cut short: planned still, its attempts counted
                    journal.note_attempts(batch, outcome.attempts, outcome.reason)
                pending = journal.pending_batches(run.run_id)
                result.not_attempted = len(pending)
                result.waiting_customers = sum(len(b.fingerprints) for b in pending)
                result.retry_after = outcome.retry_after
                return False
            else:
                _dead_letter(result.dead_letter, batch, outcome)
                journal.mark_dead(batch, outcome.attempts, outcome.reason)
                result.dead += 1
                result.done.update(dict.fromkeys(batch.fingerprints, "dead"))
                if outcome.status == "rejected" and len(batch.fingerprints) == 1:
                    result.rejected_ids.extend(batch.fingerprints)
            bar.update(1)
            bar.set_postfix(retries=result.retries, dead=result.dead, refresh=False)
    finally:
        bar.close()
    journal.finish_run(run.run_id)
    return True
