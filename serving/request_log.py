"""Log lines of refused requests: one line per client error, never a body, never a traceback.

BentoML logs every 400 at ERROR with a traceback whose last line repeats the invalid input
(customer data in the log, 2.5 KB per bad request). Here:

- ``ClientErrorLogMiddleware`` writes one WARNING line per 4xx answer: method, route template,
  status and, for a 400, the fields named by ``detail[].loc`` (from the response, not the request);
  at most ``max_per_second`` lines a second, then one line counting the ones left out;
- ``QuietClientErrors`` (a logging filter on BentoML's request-error logger) drops BentoML's own
  records of client errors (validation errors, 4xx exceptions). Server errors keep their record
  and traceback; BentoML's record names the path and method, not the request's contents.
"""

from __future__ import annotations

import json
import logging
import time

from serving.auth import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger("lifecycle.requests")
#: BentoML's logger of exceptions raised while answering a request (``log_exception``).
BENTOML_REQUEST_LOGGER = "bentoml._internal.server.http_app"
MAX_LOGGED_BODY = 64 * 1024
MAX_FIELDS = 5


class ClientErrorLogMiddleware:
    """One WARNING line per 4xx: ``client error 400 POST /score/features fields=customers.1.x``."""

    def __init__(self, app: ASGIApp, routes=(), max_per_second: int = 20) -> None:
        self.app = app
        self.routes = frozenset(routes)
        self.max_per_second = max_per_second
        self._second = 0
        self._count = 0
        self._dropped = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 0
        chunks: list[bytes] = []

        async def watching_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif (
                status == 400
                and message["type"] == "http.response.body"
                and sum(map(len, chunks)) < MAX_LOGGED_BODY
            ):
                chunks.append(message.get("body", b""))
            await send(message)

        await self.app(scope, receive, watching_send)
        if 400 <= status < 500:
            self._log(scope, status, b"".join(chunks))

    def _log(self, scope: Scope, status: int, body: bytes) -> None:
        now = int(time.monotonic())
        if now != self._second:
            if self._dropped:
                logger.warning("%d more client errors not logged in the last second", self._dropped)
            self._second, self._count, self._dropped = now, 0, 0
        self._count += 1
        if self._count > self.max_per_second:
            self._dropped += 1
            return
        route = scope["path"] if scope["path"] in self.routes else "<other path>"
        fields = error_fields(body) if status == 400 else ""
        logger.warning(
            "client error %d %s %s%s",
            status,
            scope["method"],
            route,
            f" fields={fields}" if fields else "",
        )


#: Characters of one part of a field's path kept in the log (a client names unknown fields).
MAX_PART = 40


def _loggable(part: object) -> str:
    """One part of a field path as the client sent it, safe for a log line: control characters
    escaped (a name holding a newline forged a log line of its own) and cut at ``MAX_PART``."""
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(part))
    return text if len(text) <= MAX_PART else text[:MAX_PART] + f"...({len(text):,} chars)"


def error_fields(body: bytes) -> str:
    """The ``loc`` of each ``detail`` item of a 400 body, dotted (``customers.1.recency_days``)."""
    try:
        detail = json.loads(body).get("detail")
    except (ValueError, AttributeError):
        return ""
    if not isinstance(detail, list):
        return ""
    locs = []
    for item in detail[:MAX_FIELDS]:
        loc = item.get("loc") if isinstance(item, dict) else None
        locs.append(".".join(_loggable(part) for part in loc) if loc else "body")
    more = f" (+{len(detail) - MAX_FIELDS} more)" if len(detail) > MAX_FIELDS else ""
    return ",".join(locs) + more


class QuietClientErrors(logging.Filter):
    """Drop BentoML's records of client errors (the 4xx line is ``ClientErrorLogMiddleware``'s),
    and make an overload's 503 one line: shedding load is the service working as documented,
    not an error with two chained tracebacks per request."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.exc_info or record.exc_info[1] is None:
            return True
        from pydantic import ValidationError

        exc = record.exc_info[1]
        if isinstance(exc, ValidationError):
            return False
        status = getattr(getattr(exc, "error_code", None), "value", None)
        if status == 503:
            record.msg, record.args = "request shed with 503 (overloaded: %s)", (str(exc),)
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.exc_info, record.exc_text = None, None
            return True
        return not (isinstance(status, int) and 400 <= status < 500)


def install_log_filter() -> None:
    """Attach ``QuietClientErrors`` to BentoML's request-error logger (once per process)."""
    bentoml_logger = logging.getLogger(BENTOML_REQUEST_LOGGER)
    if not any(isinstance(f, QuietClientErrors) for f in bentoml_logger.filters):
        bentoml_logger.addFilter(QuietClientErrors())
