"""The service's error bodies in words: BentoML's bare 503 for a shed request becomes an overload
answer with Retry-After; the readiness 503 and other answers pass untouched."""

from __future__ import annotations

import asyncio
import json

from serving.error_body import OVERLOADED, RETRY_AFTER_SECONDS, ValidationSummaryMiddleware


def _answer(status: int, body: bytes):
    async def app(scope, receive, send):
        headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body[:10], "more_body": True})
        await send({"type": "http.response.body", "body": body[10:]})

    return app


def _through_middleware(status: int, body: bytes) -> tuple[int, dict[bytes, bytes], bytes]:
    sent: list[dict] = []

    async def send(message):
        sent.append(message)

    async def receive():
        return {"type": "http.request", "body": b""}

    scope = {"type": "http", "method": "POST", "path": "/score/features", "headers": []}
    asyncio.run(ValidationSummaryMiddleware(_answer(status, body))(scope, receive, send))
    start = sent[0]
    payload = b"".join(m.get("body", b"") for m in sent[1:])
    return start["status"], dict(start["headers"]), payload


def test_a_shed_request_is_a_503_that_says_overloaded_with_retry_after():
    bentoml = b'{"error":"An unexpected error has occurred, please check the server log."}'
    status, headers, body = _through_middleware(503, bentoml)
    assert status == 503 and json.loads(body) == {"error": OVERLOADED}
    assert headers[b"retry-after"] == str(RETRY_AFTER_SECONDS).encode()
    assert headers[b"content-type"] == b"application/json"
    assert headers[b"content-length"] == str(len(body)).encode()


def test_the_readiness_503_and_other_answers_pass_untouched():
    ready = b'{"error":"the service is not ready (loading): reading the snapshot"}'
    assert _through_middleware(503, ready) == (
        503,
        {b"content-type": b"text/plain", b"content-length": str(len(ready)).encode()},
        ready,
    )
    assert _through_middleware(200, b'[{"customer_id":"C1"}]')[2] == b'[{"customer_id":"C1"}]'


def test_the_request_log_drops_client_errors_and_makes_an_overload_one_line():
    import logging
    import sys

    from bentoml.exceptions import BadInput, InternalServerError, ServiceUnavailable

    from serving.request_log import QuietClientErrors

    def record(exc: Exception) -> logging.LogRecord:
        try:
            raise exc
        except Exception:
            info = sys.exc_info()
        return logging.LogRecord("bentoml", logging.ERROR, __file__, 1, "boom", (), info)

    quiet = QuietClientErrors()
    assert not quiet.filter(record(BadInput("bad row")))
    shed = record(ServiceUnavailable("process is overloaded"))
    assert quiet.filter(shed) and shed.exc_info is None and shed.levelno == logging.WARNING
    assert shed.getMessage() == "request shed with 503 (overloaded: process is overloaded)"
    crash = record(InternalServerError("bug"))
    assert quiet.filter(crash) and crash.exc_info is not None  # a real error keeps its traceback
