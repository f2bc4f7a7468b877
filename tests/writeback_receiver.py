"""A real webhook receiver on loopback for the write-back tests: it verifies the signature,
drops duplicates by idempotency key, keeps the latest fields per customer, and misbehaves at
random (seeded): 500, 429 with Retry-After, slow answers, answers dripped a byte at a time
(``drip``, not among the random kinds), dropped connections before or after
applying the batch.

``Receiver`` runs a ``ThreadingHTTPServer`` on 127.0.0.1 (port 0) in a thread. ``on_request``
lets a test act at a precise moment of a request (e.g. kill -9 the exporter after the batch was
applied but before the answer went out).
"""

from __future__ import annotations

import hashlib
import json
import random
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from serving.writeback.webhook import ATTEMPT_HEADER, KEY_HEADER, SIGNATURE_HEADER, verify

FAULT_KINDS = ("500", "429", "slow", "drop_before", "drop_after")


@dataclass
class Faults:
    """Misbehaviour: each request gets a fault with probability ``rate`` (kind drawn uniformly)."""

    rate: float = 0.0
    seed: int = 0
    kinds: tuple[str, ...] = FAULT_KINDS
    slow_seconds: float = 1.0
    retry_after: str = "1"
    drip_seconds: float = 0.1  # "drip": the batch is stored, then the answer comes a byte a time


@dataclass
class Receiver:
    secret: str
    faults: Faults = field(default_factory=Faults)
    path: str = "/hooks/scores"
    reject_customers: frozenset[str] = frozenset()  # a batch with one of these gets a 422
    max_customers: int | None = None  # a batch with more gets a 413 (a receiver's body limit)
    on_request: Callable[[int, str], None] | None = None

    def __post_init__(self) -> None:
        self.state: dict[str, dict[str, Any]] = {}
        self.key_bodies: dict[str, str] = {}
        self.applied_contents: set[str] = set()
        self.stats: Counter[str] = Counter()
        #: every signed request: (idempotency key, sha256 of the body, attempt header, signature ok)
        self.seen: list[tuple[str | None, str, str | None, bool]] = []
        self.lock = threading.Lock()
        self._rng = random.Random(self.faults.seed)
        self._requests = 0
        self.server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}{self.path}"

    # -- decisions, under the lock ---------------------------------------------------------
    def _next(self) -> int:
        with self.lock:
            self._requests += 1
            self.stats["requests"] += 1
            return self._requests

    def _fault(self) -> str | None:
        """The misbehaviour for a well-signed request (None: behave)."""
        with self.lock:
            fault = None
            if self.faults.rate and self._rng.random() < self.faults.rate:
                fault = self._rng.choice(self.faults.kinds)
                self.stats[f"fault_{fault}"] += 1
                self.stats["faults"] += 1
            return fault

    def _apply(self, key: str, body: bytes, payload: dict[str, Any]) -> str:
        digest = hashlib.sha256(body).hexdigest()
        customers = payload["customers"]
        content = hashlib.sha256(
            json.dumps(customers, sort_keys=True, ensure_ascii=False).encode()
        ).hexdigest()
        with self.lock:
            if key in self.key_bodies:
                self.stats["duplicates_dropped"] += 1
                if self.key_bodies[key] != digest:
                    self.stats["duplicate_key_other_body"] += 1
                return "duplicate"
            self.key_bodies[key] = digest
            if content in self.applied_contents:
                self.stats["same_content_new_key"] += 1
            self.applied_contents.add(content)
            id_field = payload["key_field"]
            for record in customers:  # like a CRM update: sent fields replace, null clears
                self.state.setdefault(record[id_field], {}).update(record)
            self.stats["batches_applied"] += 1
            self.stats["customers_applied"] += len(customers)
            return "applied"

    # -- server ----------------------------------------------------------------------------
    @contextmanager
    def running(self) -> Iterator[Receiver]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _answer(self, code: int, payload: dict, headers: dict[str, str] | None = None):
                data = json.dumps(payload).encode()
                with suppress(OSError):
                    self.send_response(code)
                    for name, value in (headers or {}).items():
                        self.send_header(name, value)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)

            def _drop(self) -> None:
                self.close_connection = True
                with suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.path.partition("?")[0] != receiver.path:
                    self._answer(404, {"error": f"no route {self.path}"})
                    return
                number = receiver._next()
                signed = verify(body, receiver.secret, self.headers.get(SIGNATURE_HEADER))
                with receiver.lock:
                    receiver.seen.append(
                        (
                            self.headers.get(KEY_HEADER),
                            hashlib.sha256(body).hexdigest(),
                            self.headers.get(ATTEMPT_HEADER),
                            signed,
                        )
                    )
                if not signed:
                    with receiver.lock:
                        receiver.stats["bad_signature"] += 1
                    self._answer(401, {"error": "bad signature"})
                    return
                key = self.headers.get(KEY_HEADER)
                if not key:
                    self._answer(400, {"error": f"no {KEY_HEADER} header"})
                    return
                fault = receiver._fault()
                hook = receiver.on_request
                if hook:
                    hook(number, "received")
                if fault == "500":
                    self._answer(500, {"error": "injected 500"})
                    return
                if fault == "429":
                    self._answer(
                        429, {"error": "slow down"}, {"Retry-After": receiver.faults.retry_after}
                    )
                    return
                if fault == "drop_before":
                    self._drop()
                    return
                payload = json.loads(body)
                if receiver.max_customers and len(payload["customers"]) > receiver.max_customers:
                    with receiver.lock:
                        receiver.stats["too_large_413"] += 1
                    self._answer(413, {"error": "payload too large"})
                    if hook:
                        hook(number, "refused")
                    return
                ids = {r[payload["key_field"]] for r in payload["customers"]}
                if ids & receiver.reject_customers:
                    with receiver.lock:
                        receiver.stats["rejected_422"] += 1
                    self._answer(
                        422, {"error": f"cannot store {sorted(ids & receiver.reject_customers)}"}
                    )
                    return
                status = receiver._apply(key, body, payload)
                if hook:
                    hook(number, "applied")
                if fault == "drip":
                    data = json.dumps({"status": status, "padding": "x" * 200}).encode()
                    with suppress(OSError):
                        self.send_response(200)
                        self.send_header("Content-Type", "application/json")
                        self.send_header("Content-Length", str(len(data)))
                        self.end_headers()
                        for byte in data:
                            self.wfile.write(bytes([byte]))
                            self.wfile.flush()
                            time.sleep(receiver.faults.drip_seconds)
                    return
                if fault == "slow":
                    time.sleep(receiver.faults.slow_seconds)
                if fault == "drop_after":
                    self._drop()
                    return
                self._answer(200, {"status": status})
                if hook:
                    hook(number, "responded")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.server.shutdown()
            self.server.server_close()
            thread.join(timeout=5)
