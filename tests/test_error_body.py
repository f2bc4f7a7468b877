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


def test_a_client_accepting_gzip_gets_the_summary_and_the_log_names_the_fields(caplog):
    """Every HTTP client (httpx, requests, Java's, curl --compressed) sends ``Accept-Encoding:
    gzip``. The service's gzip layer sat inside the summary and the client-error log, so a 400 of
    1,000 bytes or more (10 wrong ids) reached them compressed: the client read BentoML's "10
    validation error for ScoreIdsRequestIODescriptor" and the log line named no field. The
    middlewares are composed here in the service's own order."""
    import gzip
    import logging

    from starlette.middleware.gzip import GZipMiddleware

    from serving.request_log import ClientErrorLogMiddleware
    from serving.service import LifecycleService

    detail = [
        {"type": "string_type", "loc": ["customer_ids", i], "msg": "Input should be a valid string"}
        for i in range(10)
    ]
    bentoml_400 = json.dumps(
        {"error": "10 validation error for ScoreIdsRequestIODescriptor", "detail": detail}
    ).encode()
    assert len(bentoml_400) >= 1000  # large enough for the gzip layer

    async def bentoml_app(scope, receive, send):
        headers = [(b"content-type", b"application/json")]
        headers.append((b"content-length", str(len(bentoml_400)).encode()))
        await send({"type": "http.response.start", "status": 400, "headers": headers})
        await send({"type": "http.response.body", "body": bentoml_400})

    wanted = (GZipMiddleware, ValidationSummaryMiddleware, ClientErrorLogMiddleware)
    stack = [(cls, opts) for cls, opts in LifecycleService.middlewares if cls in wanted]
    assert len(stack) == len(wanted)
    app = bentoml_app
    for cls, opts in reversed(stack):  # the first added is the outermost (Starlette's order)
        app = cls(app, **opts)

    sent: list[dict] = []

    async def send(message):
        sent.append(message)

    async def receive():
        return {"type": "http.request", "body": b""}

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/score/ids",
        "headers": [(b"accept-encoding", b"gzip")],
    }
    with caplog.at_level(logging.WARNING, logger="serving.request_log"):
        asyncio.run(app(scope, receive, send))
    start = sent[0]
    body = b"".join(m.get("body", b"") for m in sent[1:])
    if dict(start["headers"]).get(b"content-encoding") == b"gzip":
        body = gzip.decompress(body)
    assert start["status"] == 400
    assert json.loads(body)["error"] == "10 invalid fields"
    assert "fields=customer_ids.0,customer_ids.1" in caplog.text
