"""Readiness of the scoring service: starting -> loading -> ready, or failed with a reason.

The worker loads the champion pair and scores the snapshot in a background thread, so the probes
answer from the first second: ``/healthz`` 200 (the process is up), ``/readyz`` 503 with the
state and reason as JSON until everything is loaded, then 200 with the model versions and the
snapshot date. A load that fails leaves the service up and not ready (``failed`` + reason), never
in a restart loop. Scoring routes answer 503 with the same reason until the service is ready.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from typing import Any

from serving.auth import ASGIApp, Receive, Scope, Send, send_json


class Readiness:
    """Thread-safe state of one worker process (set by the loader thread, read by requests)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._body: dict[str, Any] = {"ready": False, "status": "starting", "reason": "starting"}

    @property
    def ready(self) -> bool:
        return self._body["ready"]

    def body(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._body)

    def loading(self, reason: str = "loading the champion pair and the feature snapshot") -> None:
        self._set({"ready": False, "status": "loading", "reason": reason})

    def loaded(self, **details: Any) -> None:
        self._set({"ready": True, "status": "ready", "reason": None, **details})

    def update(self, **details: Any) -> None:
        """Add or change details of the current state (e.g. the registry's champion)."""
        with self._lock:
            self._body = {**self._body, **details}

    def failed(self, reason: str, **details: Any) -> None:
        self._set({"ready": False, "status": "failed", "reason": reason, **details})

    def _set(self, body: dict[str, Any]) -> None:
        with self._lock:
            self._body = body


#: The state of this worker process (one service instance per process).
STATE = Readiness()


class ReadinessGauge:
    """``lifecycle_ready`` on ``/metrics`` from the worker's start (a ``prometheus_client``
    custom collector): a service whose load failed answers ``/metrics`` and ``/healthz`` with 200,
    and without this gauge its model gauges were simply absent, which no alert rule saw."""

    def __init__(self, project: str, state: Readiness | None = None) -> None:
        self.project, self.state = project, state or STATE

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        gauge = GaugeMetricFamily(
            "lifecycle_ready",
            "1 when the service scores (champion pair and snapshot loaded), 0 while it loads or "
            "after a load that failed (/readyz says why)",
            labels=["project"],
        )
        gauge.add_metric([self.project], float(self.state.ready))
        yield gauge


class ReadinessMiddleware:
    """``GET /readyz`` as JSON (200 ready, 503 otherwise); 503 on ``api_paths`` until ready."""

    def __init__(
        self, app: ASGIApp, api_paths: Iterable[str] = (), state: Readiness | None = None
    ) -> None:
        self.app = app
        self.api_paths = frozenset(api_paths)
        self.state = state or STATE

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if path == "/readyz" and scope["method"] in ("GET", "HEAD"):
            body = self.state.body()
            payload = json.dumps(body, default=str).encode()
            status = 200 if body["ready"] else 503
            await send(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(payload)).encode()),
                        (b"cache-control", b"no-store"),
                    ],
                }
            )
            await send(
                {
                    "type": "http.response.body",
                    "body": b"" if scope["method"] == "HEAD" else payload,
                }
            )
            return
        if path in self.api_paths and not self.state.ready:
            body = self.state.body()
            await send_json(
                send,
                503,
                {"error": f"the service is not ready ({body['status']}): {body['reason']}"},
                {"Retry-After": "5"},
            )
            return
        await self.app(scope, receive, send)
