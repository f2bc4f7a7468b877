"""Prometheus metrics of the scoring service with a bounded number of series.

BentoML labels its HTTP metrics with the raw request path, so every distinct path (a scanner's
junk, a 401) became a new series: memory and ``/metrics`` grew without bound. Here every label has
a fixed set of values: ``endpoint`` is one of the service's route templates or ``other``, ``method``
one of the HTTP methods or ``other``, ``status`` the response code class's exact code (the
service only sends a handful). The series live in this process's own registry, so two service
instances never mix, whatever ``BENTOML_HOME`` or ``PROMETHEUS_MULTIPROC_DIR`` they share (the
service runs one worker process; scale out with replicas, each scraped on its own).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from serving.auth import PROBE_PATHS, ASGIApp, Message, Receive, Scope, Send, send_json

logger = logging.getLogger(__name__)

UNMATCHED = "other"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: Request duration buckets (seconds): single look-ups take milliseconds, 1,000 rows seconds.
BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class RouteMetrics:
    """Counters and histograms of one process, labelled by route template."""

    def __init__(self, routes: Iterable[str], namespace: str = "lifecycle") -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.routes = frozenset(routes)
        self.registry = CollectorRegistry(auto_describe=True)
        labels = ("endpoint", "method", "status")
        self.requests = Counter(
            "http_requests",
            "HTTP requests answered",
            labels,
            namespace=namespace,
            registry=self.registry,
        )
        self.duration = Histogram(
            "http_request_duration_seconds",
            "time to answer an HTTP request",
            labels,
            namespace=namespace,
            registry=self.registry,
            buckets=BUCKETS,
        )
        self.customers = Counter(
            "scored_customers",
            "customers answered per scoring route, by outcome",
            ("endpoint", "outcome"),
            namespace=namespace,
            registry=self.registry,
        )

        self._children: dict[tuple[str, str, str], tuple] = {}  # bounded: the label sets

    def route(self, path: str) -> str:
        return path if path in self.routes else UNMATCHED

    def add_collector(self, collector) -> None:
        """Also export ``collector``'s series (e.g.
        ``serving.monitor_metrics.ModelHealthCollector``)."""
        self.registry.register(collector)

    def observe(self, route: str, method: str, status: str, seconds: float) -> None:
        """Count one answer (label children cached: ``labels()`` is most of the cost)."""
        key = (route, method, status)
        children = self._children.get(key)
        if children is None:
            children = (self.requests.labels(*key), self.duration.labels(*key))
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)

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
        metrics.customers.labels(route, "scored").inc(scored)
    if errors:
        metrics.customers.labels(route, "error").inc(errors)
