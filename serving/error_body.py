"""A 400's ``error`` (and an overload's 503) in words a client can read, not the name of an
internal class.

BentoML answers a body its request schema refuses with ``{"error": "2 validation error for
ScoreIdsRequestIODescriptor", "detail": [...]}``: an internal class name, and "2 validation error".
``ValidationSummaryMiddleware`` replaces that ``error`` with a short sentence (``2 invalid
fields``, ``the body is not valid JSON``); ``detail`` (each field's ``loc``, ``msg``, ``type``) is
kept as it is.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

from serving.auth import PROBE_PATHS, ASGIApp, Message, Receive, Scope, Send

#: BentoML's summary of a pydantic ``ValidationError`` (``"<n> validation error for <Class>"``).
BENTOML_SUMMARY = re.compile(r"^\d+ validation errors? for \w+$")
#: Errors about the whole body (``loc`` empty) and what to say instead of a count.
BODY_ERRORS = {
    "json_invalid": "the body is not valid JSON",
    "model_type": "the body is not a JSON object",
    "model_attributes_type": "the body is not a JSON object",
}


def summary(detail: list) -> str:
    """One short sentence for a 400's ``detail`` items: what is wrong with the body, or how many
    fields are invalid."""
    for item in detail:
        if isinstance(item, dict) and not item.get("loc") and item.get("type") in BODY_ERRORS:
            return BODY_ERRORS[item["type"]]
    return f"{len(detail)} invalid field{'' if len(detail) == 1 else 's'}"


def summarised(body: bytes) -> bytes:
    """``body`` with BentoML's ``error`` replaced by ``summary``; any other body unchanged."""
    try:
        payload = json.loads(body)
    except ValueError:
        return body
    if not isinstance(payload, dict) or not isinstance(payload.get("detail"), list):
        return body
    error = payload.get("error")
    if not isinstance(error, str) or not BENTOML_SUMMARY.match(error):
        return body
    payload["error"] = summary(payload["detail"])
    return json.dumps(payload, separators=(",", ":")).encode()


#: BentoML's body when its batching dispatcher sheds a request it cannot answer within the API's
#: ``max_latency_ms`` (``ServiceUnavailable: process is overloaded``), and what a client gets.
BENTOML_UNEXPECTED = b"An unexpected error has occurred"
OVERLOADED = (
    "the service is overloaded: more rows are waiting than it can score within its latency limit; "
    "retry after the Retry-After seconds, or send fewer rows at once"
)
#: Seconds a shed request is told to wait.
RETRY_AFTER_SECONDS = 5


def route_error(
    status: int, method: str, path: str, body: bytes, api_routes: Iterable[str]
) -> bytes | None:
    """A JSON body for a plain-text 404 or 405 (Starlette's ``Not Found``), naming the route
    and the routes there are (``api_routes``, POST, and ``PROBE_PATHS``); None when the body is
    JSON already."""
    try:
        json.loads(body)
        return None
    except ValueError:
        pass
    what = f"no route {method} {path}" if status == 404 else f"{method} is not allowed on {path}"
    routes = ", ".join([*(f"POST {r}" for r in api_routes), "GET " + " ".join(PROBE_PATHS)])
    return json.dumps({"error": f"{what}; routes: {routes}"}, separators=(",", ":")).encode()


def overloaded(body: bytes) -> bytes | None:
    """The body of a 503 BentoML sent for an overload, in words (None: another 503, e.g. the
    readiness answer, which already says why)."""
    if BENTOML_UNEXPECTED not in body:
        return None
    return json.dumps({"error": OVERLOADED}, separators=(",", ":")).encode()


#: Answers whose body is rewritten: 400 (summarised), 404/405 (JSON), 503 (overload).
HELD = (400, 404, 405, 503)


class ValidationSummaryMiddleware:
    """Rewrites the ``error`` of 400 answers (``summarised``), a plain-text 404 or 405 as JSON
    (``route_error``) and BentoML's bare 503 for an overload (``overloaded``, with
    ``Retry-After``); other answers pass untouched."""

    def __init__(self, app: ASGIApp, api_routes: Iterable[str] = ()) -> None:
        self.app = app
        self.api_routes = tuple(api_routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        chunks: list[bytes] = []

        async def summarising_send(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start" and message["status"] in HELD:
                start = message  # held until the whole body is known (its length changes)
                return
            if start is None or message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            body, extra = b"".join(chunks), []
            if start["status"] == 400:
                body = summarised(body)
            elif start["status"] in (404, 405):
                routed = route_error(
                    start["status"], scope["method"], scope["path"], body, self.api_routes
                )
                if routed is not None:
                    body, extra = routed, [(b"content-type", b"application/json")]
            elif (shed := overloaded(body)) is not None:
                body, extra = shed, [(b"retry-after", str(RETRY_AFTER_SECONDS).encode())]
                extra.append((b"content-type", b"application/json"))
            replaced = {b"content-length"} | {k for k, _ in extra}
            headers = [(k, v) for k, v in start.get("headers", []) if k.lower() not in replaced]
            headers += [*extra, (b"content-length", str(len(body)).encode())]
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, summarising_send)
