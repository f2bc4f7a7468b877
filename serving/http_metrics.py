"""Prometheus metrics of the scoring service with a bounded number of series.

BentoML labels its HTTP metrics with the raw request path, so every distinct path (a scanner's
junk, a 401) became a new series: memory and ``/metrics`` grew without bound. Here every label has
a fixed set of values: ``endpoint`` is one of the service's route templates or ``other``, ``method``
one of the HTTP methods or ``other``, ``status`` the response code class's exact code (the
service only sends a handful). The series live in this process's memory and own registry, never
in BentoML's metrics files, so two service instances never mix, whatever ``BENTOML_HOME`` or
``PROMETHEUS_MULTIPROC_DIR`` they share, and a full disk there stops nothing (the service runs
one worker process; scale out with replicas, each scraped on its own).
"""

from __future__ import annotations

import bisect
import itertools
import logging
import math
import threading
import time
from collections.abc import Iterable

from serving.auth import PROBE_PATHS, ASGIApp, Message, Receive, Scope, Send, send_json

logger = logging.getLogger(__name__)

UNMATCHED = "other"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: Request duration buckets (seconds): single look-ups take milliseconds, 1,000 rows seconds.
BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class RouteMetrics:
    """Counts and durations of the answers of one process, labelled by route template, held in
    its memory (a collector of its own registry).

    Not ``prometheus_client``'s Counter and Histogram: under ``bentoml serve`` (which sets
    ``PROMETHEUS_MULTIPROC_DIR``) their values live in files mapped into memory under
    ``BENTOML_HOME``, and once that disk was full the first new series killed the worker with
    SIGBUS, and every restarted worker too.
    """

    def __init__(self, routes: Iterable[str], namespace: str = "lifecycle") -> None:
        from prometheus_client import CollectorRegistry

        self.routes = frozenset(routes)
        self.namespace = namespace
        # per (endpoint, method, status): answers per duration bucket (+Inf last), then the sum
        self._answers: dict[tuple[str, str, str], list[float]] = {}
        self._customers: dict[tuple[str, str], float] = {}  # per (endpoint, outcome)
        self._lock = threading.Lock()
        self.registry = CollectorRegistry(auto_describe=True)
        self.registry.register(self)

    def route(self, path: str) -> str:
        return path if path in self.routes else UNMATCHED

    def add_collector(self, collector) -> None:
        """Also export ``collector``'s series (e.g.
        ``serving.monitor_metrics.ModelHealthCollector``)."""
        self.registry.register(collector)

    def observe(self, route: str, method: str, status: str, seconds: float) -> None:
        """Count one answer and its duration."""
        key = (route, method, status)
        with self._lock:
            counts = self._answers.get(key)
            if counts is None:
                counts = self._answers[key] = [0.0] * (len(BUCKETS) + 2)
            counts[bisect.bisect_left(BUCKETS, seconds)] += 1  # the first bucket it is <= to
            counts[-1] += seconds

    def count_customers(self, route: str, outcome: str, customers: int) -> None:
        with self._lock:
            self._customers[route, outcome] = self._customers.get((route, outcome), 0) + customers

    def collect(self):
        from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
        from prometheus_client.utils import floatToGoString

        with self._lock:
            answers = {key: list(counts) for key, counts in self._answers.items()}
            customers = dict(self._customers)
        labels = ["endpoint", "method", "status"]
        requests = CounterMetricFamily(
            f"{self.namespace}_http_requests", "HTTP requests answered", labels=labels
        )
        duration = HistogramMetricFamily(
            f"{self.namespace}_http_request_duration_seconds",
            "time to answer an HTTP request",
            labels=labels,
        )
        bounds = [floatToGoString(b) for b in (*BUCKETS, math.inf)]
        for key, counts in answers.items():
            cumulative = list(itertools.accumulate(counts[:-1]))
            requests.add_metric(list(key), cumulative[-1])
            duration.add_metric(list(key), list(zip(bounds, cumulative, strict=True)), counts[-1])
        scored = CounterMetricFamily(
            f"{self.namespace}_scored_customers",
            "customers answered per scoring route, by outcome",
            labels=["endpoint", "outcome"],
        )
        for key, count in customers.items():
            scored.add_metric(list(key), count)
        yield from (requests, duration, scored)

    def render(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class RouteMetricsMiddleware:
    """Counts every request under its route template; answers ``GET /metrics``.

    It is also the safety net of the middlewares inside it: an exception raised before a response
    started becomes a 500 at once (BentoML's timeout middleware would otherwise hold the client
    for the whole request timeout and then close the connection without an answer).
    """

    _metrics: RouteMetrics | None = None  # one registry per process, shared by app instances

    def __init__(self, app: ASGIApp, routes: Iterable[str] = ()) -> None:
        self.app = app
        self.route_list = (*routes, *PROBE_PATHS, "/")

    @property
    def metrics(self) -> RouteMetrics:
        return process_metrics(self.route_list)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        metrics = self.metrics
        if scope["path"] == "/metrics":
            await self._metrics_page(scope, send)
            return
        route = metrics.route(scope["path"])
        method = scope["method"] if scope["method"] in METHODS else UNMATCHED
        status = 0  # no response started yet
        started = time.perf_counter()

        async def counting_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        except Exception:
            logger.exception("unexpected error answering %s %s", method, route)
            if status:
                raise
            status = 500
            await send_json(
                send, 500, {"error": "An unexpected error has occurred, see the server log."}
            )
        finally:
            metrics.observe(route, method, str(status or 500), time.perf_counter() - started)

    async def _metrics_page(self, scope: Scope, send: Send) -> None:
        if scope["method"] not in ("GET", "HEAD"):
            await send_json(send, 405, {"error": "Method Not Allowed"}, {"Allow": "GET, HEAD"})
            return
        payload, content_type = self.metrics.render()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", content_type.encode()),
                    (b"content-length", str(len(payload)).encode()),
                ],
            }
        )
        body = b"" if scope["method"] == "HEAD" else payload
        await send({"type": "http.response.body", "body": body})


def process_metrics(routes: Iterable[str] = ()) -> RouteMetrics:
    """This process's metrics (created on first use with ``routes``, the service's templates)."""
    if RouteMetricsMiddleware._metrics is None:
        RouteMetricsMiddleware._metrics = RouteMetrics((*routes, *PROBE_PATHS, "/"))
    return RouteMetricsMiddleware._metrics


def count_customers(route: str, scored: int, errors: int) -> None:
    """Customers answered with a score and with an item error on a scoring route."""
    metrics = RouteMetricsMiddleware._metrics
    if metrics is None:
        return
    if scored:
        metrics.count_customers(route, "scored", scored)
    if errors:
        metrics.count_customers(route, "error", errors)
