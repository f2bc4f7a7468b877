"""The scoring service for the CRM: ``bentoml serve serving.service:LifecycleService``.

Two ways to score, both returning the fields of batch scoring (``serving.scoring.SCORE_COLUMNS``)
with the same numbers for the same customer and date, one result per customer in request order
(a ``score``, or an ``error`` for that customer only):

- ``POST /score/ids``: customers of the latest feature snapshot (``lifecycle score`` writes it as
  ``<scores>.snapshot.parquet``), 1 to 1,000 ids. The snapshot is scored once at start-up by
  batch scoring itself; requests look the scores up. An unknown id is an error item.
- ``POST /score/features``: customers from posted feature values (``schemas.CustomerFeatures``),
  1 to 1,000 rows, scored per request; concurrent requests are merged by adaptive batching.

Bad input (malformed JSON, wrong types, missing fields, out-of-range values, rows breaking a
cross-field rule of ``schemas.CROSS_FIELD_RULES``, more than 1,000 customers) is a 400 whose
``detail[].loc`` names the field; other media types 415, bodies over 8 MB 413. A customer the
service cannot score gets an item error; one bad row never changes another row's or another
request's answer (a batch that fails is scored again row by row). No input gives a 500.

Start-up fails fast: ``bentoml serve`` checks the key, the snapshot file and that the address is
free before starting a worker (``serving.preflight``: one line, exit status 2). The worker loads
the champion pair and scores the snapshot in the background: ``/healthz`` answers at once,
``/readyz`` is 503 with the state and reason as JSON until ready, then 200 naming the model
versions and the snapshot date (``serving.readiness``); a load that fails leaves it up and not
ready, never restarting. The worker exits when ``bentoml serve`` is gone (``exit_with_parent``),
even after a ``kill -9``.

A newer scoring on disk (``lifecycle score`` replaced the snapshot and its scores file: a later
date, or the same date scored by a newly promoted champion) is loaded in the background, checked
as at start-up and swapped in whole, without a restart (``serving.scoring_watch``); one that
cannot be read or fails a check leaves the old one served, ``/readyz`` saying why. A pair
promoted and not yet scored with is not served: ``/readyz`` and ``/metrics`` report the
registry's champion next to the served one and a ``stale`` flag (``serving.champion_watch``).

Environment:

- ``LIFECYCLE_API_KEY``: the key clients send as ``Authorization: Bearer <key>`` (16+ characters);
  without it the service does not start, unless ``LIFECYCLE_ALLOW_NO_AUTH=1``.
- ``MLFLOW_TRACKING_URI``: where the champion pair is (default ``sqlite:///mlflow.db``).
- ``LIFECYCLE_PROJECT``: the project whose champion pair to serve (default: the registry's).
- ``LIFECYCLE_SNAPSHOT``: the feature snapshot (default ``data/scores.snapshot.parquet``); required.
- ``LIFECYCLE_SCORING_CONFIG``: scoring rules YAML, as ``lifecycle score --scoring-config``
  (default: the scoring config stored with the champion).
- ``LIFECYCLE_PREDICT_THREADS``: LightGBM threads per scoring call (default 1).
- ``LIFECYCLE_REGISTRY_CHECK_SECONDS``: how often to ask the registry for the project's champion
  and look for a newer scoring (default 30).
- ``LIFECYCLE_RELOAD``: ``0`` serves the scoring loaded at start-up until a restart (``/readyz``
  then says ``stale`` when a newer one is on disk); default ``1``, reload it in place.
- ``LIFECYCLE_MONITOR_REPORT``: the last ``lifecycle monitor`` JSON, exported as gauges on
  ``/metrics`` with the champion version, snapshot age and served score histograms
  (default ``reports/monitor/monitor.json``; ``docs/prometheus/`` has alert rules).
- ``LIFECYCLE_ACCESS_LOG``: ``1`` writes an access log line per request (default off); client
  errors are always logged, one line each (``serving.request_log``).

``/healthz``, ``/readyz``, ``/metrics`` (``serving.http_metrics``: series per route template)
and ``/docs.json`` (``serving.openapi``) need no key.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import sys
import threading
import time
from collections.abc import Sequence
from datetime import date
from http import HTTPStatus
from pathlib import Path
from typing import Annotated, Any, cast

import bentoml
from bentoml.exceptions import BentoMLException
from bentoml.validators import ContentType
from starlette.middleware.gzip import GZipMiddleware

from serving import request_timeout
from serving.auth import ApiKeyMiddleware, RequestLimitsMiddleware, api_key_from_env
from serving.champion_watch import ChampionWatch, registry_champion
from serving.error_body import ValidationSummaryMiddleware
from serving.http_metrics import RouteMetricsMiddleware, count_customers
from serving.openapi import OpenApiMiddleware
from serving.readiness import STATE, ReadinessMiddleware
from serving.request_log import ClientErrorLogMiddleware, install_log_filter
from serving.schemas import (
    MAX_BATCH,
    CustomerFeatures,
    ScoreFeaturesRequest,
    ScoreIdsRequest,
    ScoreResult,
)
from serving.scorer import Scorer, Settings, scores_file_beside
from serving.scoring_watch import ScoringWatch, file_stamps

logger = logging.getLogger(__name__)

API_ROUTES = ("/score/ids", "/score/features")
DEFAULT_MONITOR_REPORT = "reports/monitor/monitor.json"


class ServedCollector:
    """The collector of what is served, replaced as a whole when a newer scoring is swapped in."""

    def __init__(self, collector) -> None:
        self.collector = collector

    def collect(self):
        yield from self.collector.collect()


def model_health(scorer: Scorer, project: str | None):
    """The served pair's health (``serving.monitor_metrics``): champion version, snapshot age,
    served score histograms and the last monitor report (``LIFECYCLE_MONITOR_REPORT``, default
    ``reports/monitor/monitor.json`` when it exists)."""
    from serving.monitor_metrics import ModelHealthCollector

    report = os.environ.get("LIFECYCLE_MONITOR_REPORT") or DEFAULT_MONITOR_REPORT
    churn, value = scorer.served_scores()
    return ModelHealthCollector(
        project or "default",
        scorer.champions.churn_version,
        scorer.as_of,
        churn,
        value,
        monitor_report=report,
    )


def watch_model_health(scorer: Scorer, project: str | None) -> ServedCollector:
    """Export the served pair's health on ``/metrics`` (``model_health``)."""
    from serving.http_metrics import process_metrics

    served = ServedCollector(model_health(scorer, project))
    process_metrics(API_ROUTES).add_collector(served)
    return served


def watch_scoring(
    settings: Settings,
    scorer: Scorer,
    stamps: tuple,
    swap,
) -> ScoringWatch:
    """The scoring on disk next to the served one (``serving.scoring_watch``), exported on
    ``/metrics``; ``start`` it to check every ``registry_check_seconds``."""
    from serving.http_metrics import process_metrics

    project = scorer.champions.project
    watch = ScoringWatch(
        project or "default",
        Path(settings.snapshot),
        scores_file_beside(Path(settings.snapshot)),
        stamps,
        cast(date, scorer.as_of),
        load=lambda: Scorer.from_settings(settings),
        swap=swap,
        champion=registry_champion(settings.tracking_uri, project) if project else None,
        interval=settings.registry_check_seconds,
        enabled=settings.reload,
    )
    process_metrics(API_ROUTES).add_collector(watch)
    return watch


def served_details(scorer: Scorer, seconds: float) -> dict[str, Any]:
    """What ``/readyz`` says is served: model versions, snapshot date and size, and when and how
    fast it was loaded."""
    from serving.scoring_watch import now

    return {
        "churn_model_version": str(scorer.champions.churn_version),
        "clv_model_version": str(scorer.champions.clv_version),
        "snapshot_as_of": scorer.as_of.isoformat() if scorer.as_of else None,
        "snapshot_customers": scorer.customers,
        "load_seconds": round(seconds, 2),
        "loaded_at": now(),
    }


def watch_champion(settings: Settings, champions) -> ChampionWatch:
    """The registry's champion next to the served one (``serving.champion_watch``), checked once,
    exported on ``/metrics``; ``start`` it to check every ``registry_check_seconds``."""
    from serving.http_metrics import process_metrics

    lookup = registry_champion(settings.tracking_uri, champions.project)
    watch = ChampionWatch(
        champions.project, champions.churn_version, lookup, settings.registry_check_seconds
    )
    watch.check()
    process_metrics(API_ROUTES).add_collector(watch)
    return watch


def exit_with_parent(interval: float = 1.0) -> None:
    """Exit this worker when the ``bentoml serve`` process that started it is gone (killed with
    SIGKILL it cannot stop its workers): a daemon thread compares ``os.getppid()`` with the parent
    at start every ``interval`` seconds, so an orphan never keeps answering and holding the port."""
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(interval)
            if os.getppid() != parent:
                logger.error("the serving process (pid %d) is gone: this worker exits", parent)
                os._exit(1)

    threading.Thread(target=watch, name="lifecycle-parent-watch", daemon=True).start()


#: Batches of ``/score/features`` up to this many rows are scored on the event loop, bigger ones
#: in a worker thread.
INLINE_ROWS = 64

#: The API routes' answer. The declared media type spares BentoML from regenerating the JSON schema
#: of the answer model on every response to find it (two thirds of a look-up's CPU without it).
ScoreResults = Annotated[list[ScoreResult], ContentType("application/json")]


@bentoml.service(
    name="lifecycle",
    http={"host": "127.0.0.1", "port": 3000},
    traffic={"timeout": 60},
    # Per-request access lines cost about a third of a look-up's latency on two cores (p99 at
    # concurrency 8: 51 -> 37 ms); /metrics still counts requests. LIFECYCLE_ACCESS_LOG=1 turns them
    # on.
    logging={"access": {"enabled": os.environ.get("LIFECYCLE_ACCESS_LOG", "0") == "1"}},
    # BentoML's metrics label series with the raw path (unbounded): serving.http_metrics instead.
    metrics={"enabled": False},
    workers=1,
)
class LifecycleService:
    """Churn risk, customer value, lifecycle stage and next best action for the CRM."""

    @bentoml.on_deployment
    def preflight() -> None:
        """In ``bentoml serve`` itself, before any worker: one line and exit 2 if misconfigured."""
        from serving.preflight import EXIT_STATUS, ServiceConfigError, preflight

        try:
            preflight()
        except ServiceConfigError as exc:
            print(f"lifecycle service cannot start: {exc}", file=sys.stderr, flush=True)
            raise SystemExit(EXIT_STATUS) from None

    def __init__(self) -> None:
        for name in ("serving", "lifecycle"):
            logging.getLogger(name).setLevel(logging.INFO)
        install_log_filter()
        exit_with_parent()
        self.scorer: Scorer | None = None
        self._health: ServedCollector | None = None
        self._champion_watch: ChampionWatch | None = None
        self._scoring_watch: ScoringWatch | None = None
        STATE.loading()
        from serving.http_metrics import process_metrics
        from serving.readiness import ReadinessGauge

        project = os.environ.get("LIFECYCLE_PROJECT") or "default"
        process_metrics(API_ROUTES).add_collector(ReadinessGauge(project))
        threading.Thread(target=self._load, name="lifecycle-loader", daemon=True).start()

    def _load(self) -> None:
        """Load the champion pair and score the snapshot; record ready or the reason it failed."""
        started = time.monotonic()
        try:
            api_key_from_env()
            settings = Settings.from_env()
            # before reading them: files replaced while they load are a newer scoring to load
            stamps = file_stamps(settings.snapshot, scores_file_beside(settings.snapshot))
            scorer = Scorer.from_settings(settings)
        except Exception as exc:
            reason = " ".join(str(exc).split()) or type(exc).__name__
            logger.error("not ready: %s (%s)", reason, type(exc).__name__)
            logger.debug("load failure", exc_info=True)
            STATE.failed(reason)
            return
        champions = scorer.champions
        details: dict[str, Any] = {
            "project": getattr(champions, "project", None),
            "snapshot": str(settings.snapshot),
            **served_details(scorer, time.monotonic() - started),
        }
        self.scorer = scorer
        self._health = watch_model_health(scorer, details["project"])
        if champions.project is not None:
            self._champion_watch = watch_champion(settings, champions)
        self._scoring_watch = watch_scoring(settings, scorer, stamps, self._swap)
        details |= self._watch_status()
        # Everything loaded so far lives as long as the worker: out of the collector's sight, so
        # full collections, which pause the event loop, walk less (measured under load at c=8:
        # 220-350 ms pauses before, 160-225 ms after; what requests allocate still dominates).
        gc.collect()
        gc.freeze()
        STATE.loaded(**details)
        for watch in (self._champion_watch, self._scoring_watch):
            if watch is not None:
                watch.start(lambda _: STATE.update(**self._watch_status()))
        logger.info(
            "ready: project %s, churn v%s, clv v%s; snapshot %s as of %s (%d customers); "
            "loaded in %.1f s",
            details["project"],
            details["churn_model_version"],
            details["clv_model_version"],
            details["snapshot"],
            details["snapshot_as_of"],
            scorer.customers,
            details["load_seconds"],
        )

    def _swap(self, scorer: Scorer, seconds: float) -> None:
        """Serve ``scorer`` from the next request on: one assignment, and a request keeps the
        scorer it started with, so each answer is wholly the old scoring's or the new one's."""
        health = model_health(scorer, scorer.champions.project)
        self.scorer = scorer
        if self._health is not None:
            self._health.collector = health
        if self._champion_watch is not None:
            self._champion_watch.serve(str(scorer.champions.churn_version))
            self._champion_watch.check()
        STATE.update(**served_details(scorer, seconds))
        # The new scorer joins what start-up froze. The old one is freed by reference counting
        # once its last request is answered (frozen, what it leaves in cycles stays: about 10
        # objects a reload); unfreezing to collect them paused every request for 0.3-0.5 s.
        gc.freeze()

    def _watch_status(self) -> dict[str, Any]:
        """What the watches say for ``/readyz``: ``stale`` when the served pair is not the
        registry's champion, or a newer scoring on disk is not served."""
        status: dict[str, Any] = {}
        if self._champion_watch is not None:
            status |= self._champion_watch.status()
        if self._scoring_watch is not None:
            status |= self._scoring_watch.status()
            if status["newer_scoring"] is not None:
                status["stale"] = True
            else:
                status.setdefault("stale", False)
        return status

    def __is_ready__(self) -> bool:
        return STATE.ready

    def _ready_scorer(self) -> Scorer:
        if self.scorer is None:  # ReadinessMiddleware answers 503 before a request gets here
            body = STATE.body()
            raise BentoMLException(
                f"the service is not ready ({body['status']}): {body['reason']}",
                error_code=HTTPStatus.SERVICE_UNAVAILABLE,
            )
        return self.scorer

    @bentoml.api(route="/score/ids", input_spec=ScoreIdsRequest)
    async def score_ids(self, customer_ids: list[str]) -> ScoreResults:
        """Scores of customers of the loaded feature snapshot, by id (1 to 1,000 per request).

        One result per id, in request order: ``score`` for a known customer, ``error`` for an id
        the snapshot does not have (the other ids are still scored).
        """
        results = self._ready_scorer().score_ids(customer_ids)  # a look-up: no worker thread
        _count("/score/ids", results)
        return results

    @bentoml.api(
        route="/score/features",
        input_spec=ScoreFeaturesRequest,
        batchable=True,
        max_batch_size=MAX_BATCH,
        max_latency_ms=10_000,
    )
    async def score_features(self, customers: list[CustomerFeatures]) -> ScoreResults:
        """Scores of customers from posted feature values (1 to 1,000 per request).

        One result per customer, in request order. Concurrent requests are scored together
        (adaptive batching); a row that cannot be scored gets an ``error`` and changes no other
        row's or request's answer.
        """
        scorer = self._ready_scorer()
        if len(customers) <= INLINE_ROWS:
            # A few rows take milliseconds: scored on the event loop, they do not hand the GIL
            # back and forth with it, and the requests that arrive meanwhile wait in one batch.
            results = scorer.score_features(customers)
        else:  # a big batch in a thread, so look-ups and probes are answered meanwhile
            results = await asyncio.to_thread(scorer.score_features, customers)
        _count("/score/features", results)
        return results


def _count(route: str, results: Sequence[ScoreResult]) -> None:
    errors = sum(r.error is not None for r in results)
    count_customers(route, len(results) - errors, errors)


#: ``@bentoml.service`` turns the class into a Service (its type hints keep the class type).
_service: Any = LifecycleService

# traffic.timeout without BentoML's timers that outlive their requests (serving.request_timeout)
request_timeout.install()
# Outermost first: count and log every answer (401s included), then authenticate, then limit
# the body, then hold API calls until ready; /readyz and /docs.json are answered here.
_service.add_asgi_middleware(RouteMetricsMiddleware, routes=API_ROUTES)
# Answers compressed for a client that accepts gzip (a 1,000-customer answer: 880 KB of JSON),
# outside every layer that reads or rewrites an answer's body (the client-error log, the 400
# summary, the 404/503 wording): inside them, a 400 of 1,000 bytes or more reached them
# compressed and went out as BentoML's "N validation error for ...IODescriptor". Large bodies
# are compressed in a worker thread, not on the event loop.
_service.add_asgi_middleware(GZipMiddleware, minimum_size=1000, compresslevel=6)
_service.add_asgi_middleware(ClientErrorLogMiddleware, routes=API_ROUTES)
_service.add_asgi_middleware(ApiKeyMiddleware)
_service.add_asgi_middleware(RequestLimitsMiddleware)
_service.add_asgi_middleware(ReadinessMiddleware, api_paths=API_ROUTES)
_service.add_asgi_middleware(ValidationSummaryMiddleware, api_routes=API_ROUTES)
_service.add_asgi_middleware(OpenApiMiddleware, service=LifecycleService, api_routes=API_ROUTES)
