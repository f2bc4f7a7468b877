"""HTTP guards in front of the scoring API: API-key authentication and request limits.

Clients send ``Authorization: Bearer <LIFECYCLE_API_KEY>``. Probes, metrics and the OpenAPI
document (``PUBLIC_PATHS``) need no key. Without a configured key the service refuses to start,
unless ``LIFECYCLE_ALLOW_NO_AUTH=1`` says that an open API is intended (local experiments only).
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import zlib
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

API_KEY_ENV = "LIFECYCLE_API_KEY"
ALLOW_NO_AUTH_ENV = "LIFECYCLE_ALLOW_NO_AUTH"
MIN_KEY_LENGTH = 16
#: The service's own GET routes besides the API: metrics, probes and the OpenAPI document.
PROBE_PATHS = ("/metrics", "/healthz", "/livez", "/readyz", "/docs.json")
#: Paths served without a key: probes, metrics, the OpenAPI document and its UI.
PUBLIC_PATHS = frozenset({"/", "/docs", *PROBE_PATHS, "/schema.json"})
PUBLIC_PREFIXES = ("/static_content/",)
#: Largest request body accepted (1,000 customers with every feature is about 2 MB).
MAX_BODY_BYTES = 8 * 1024 * 1024

logger = logging.getLogger(__name__)


class AuthConfigError(RuntimeError):
    """The API key settings do not allow a safe start."""


def api_key_from_env(environ: Mapping[str, str] = os.environ) -> str | None:
    """The configured API key; None only when an open API was asked for explicitly."""
    key = environ.get(API_KEY_ENV, "").strip()
    if key:
        if len(key) < MIN_KEY_LENGTH:
            raise AuthConfigError(
                f"{API_KEY_ENV} is {len(key)} characters long; use at least {MIN_KEY_LENGTH} "
                "random characters (e.g. `python -c 'import secrets; "
                "print(secrets.token_urlsafe(32))'`)"
            )
        return key
    if environ.get(ALLOW_NO_AUTH_ENV) == "1":
        logger.warning(
            "%s is not set and %s=1: the scoring API is open to anyone who can reach it",
            API_KEY_ENV,
            ALLOW_NO_AUTH_ENV,
        )
        return None
    raise AuthConfigError(
        f"{API_KEY_ENV} is not set: set it to the key clients send as 'Authorization: Bearer "
        "<key>', "
        f"or set {ALLOW_NO_AUTH_ENV}=1 to serve without authentication"
    )


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


async def send_json(
    send: Send, status: int, body: dict, headers: Mapping[str, str] | None = None
) -> None:
    """Send a complete JSON response."""
    payload = json.dumps(body).encode()
    raw_headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
    ]
    raw_headers += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": payload})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, else None."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


class ApiKeyMiddleware:
    """401 for every non-public path unless the request carries the configured bearer key."""

    def __init__(self, app: ASGIApp, api_key: str | None = None, *, from_env: bool = True) -> None:
        self.app = app
        self.api_key = api_key
        self.refusal: str | None = None  # the service refuses to start; fail closed meanwhile
        if from_env and api_key is None:
            try:
                self.api_key = api_key_from_env()
            except AuthConfigError as exc:
                self.refusal = str(exc)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or is_public(scope["path"]):
            await self.app(scope, receive, send)
            return
        if self.refusal is not None:
            await send_json(send, 503, {"error": self.refusal})
            return
        if self.api_key is None:
            await self.app(scope, receive, send)
            return
        token = bearer_token(_header(scope, b"authorization"))
        if token is None or not hmac.compare_digest(token.encode(), self.api_key.encode()):
            reason = "missing" if token is None else "wrong"
            await send_json(
                send,
                401,
                {"error": f"{reason} API key: send 'Authorization: Bearer <key>'"},
                {"WWW-Authenticate": 'Bearer realm="lifecycle"'},
            )
            return
        await self.app(scope, receive, send)


#: ``Content-Encoding`` values of a request body the service decompresses (Apex's
#: ``setCompressed(true)`` and many middlewares send gzip); ``identity`` is none.
BODY_ENCODINGS = {"gzip": 31, "x-gzip": 31, "deflate": 15}


#: Form data, which HTTP clients send for a map of fields unless told to send JSON, and what to do.
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
FORM_HINT = (
    "the body is form fields, as a client sends a map unless told otherwise (Zoho Deluge's "
    "invokeurl with a map as parameters); send the JSON text instead (Deluge: parameters: "
    'body.toString() with content-type: "application/json")'
)


class RequestLimitsMiddleware:
    """API requests must be JSON and at most ``max_body_bytes``: 415 or 413 otherwise.

    BentoML would otherwise hand other media types (form data, pickles) to its own parsers,
    whose errors are 500s. The body is read here, checked, and replayed to the application: a
    gzip or deflate body decompressed (at most ``max_body_bytes`` of it: it was refused as "not
    valid JSON"), a UTF-8 byte order mark before the JSON dropped.
    """

    def __init__(self, app: ASGIApp, max_body_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or is_public(scope["path"]):
            await self.app(scope, receive, send)
            return
        media_type = (
            (_header(scope, b"content-type") or "application/json").split(";")[0].strip().lower()
        )
        if media_type != "application/json":
            error = f"Content-Type must be application/json, got {media_type!r}"
            if media_type in FORM_TYPES:
                error += f"; {FORM_HINT}"
            await send_json(send, 415, {"error": error})
            return
        coding = (_header(scope, b"content-encoding") or "identity").strip().lower()
        if coding not in ("identity", *BODY_ENCODINGS):
            await send_json(
                send,
                415,
                {"error": f"Content-Encoding {coding!r} is not supported; send gzip or none"},
            )
            return
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            await self._too_large(send)
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_body_bytes:
                await self._too_large(send)
                return
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if coding in BODY_ENCODINGS:
            inflater = zlib.decompressobj(BODY_ENCODINGS[coding])
            try:
                body = inflater.decompress(body, self.max_body_bytes + 1)
            except zlib.error as exc:
                await send_json(send, 400, {"error": f"the body is not valid {coding}: {exc}"})
                return
            if len(body) > self.max_body_bytes:
                await self._too_large(send)
                return
            if not inflater.eof:  # cut short: said as such, not as invalid JSON
                await send_json(send, 400, {"error": f"the body is not valid {coding}: truncated"})
                return
            scope = _without_headers(scope, (b"content-encoding", b"content-length"))
        await self.app(scope, _replay(body.removeprefix(UTF8_BOM), receive), send)

    async def _too_large(self, send: Send) -> None:
        await send_json(
            send,
            413,
            {
                "error": f"request body is larger than {self.max_body_bytes:,} bytes; "
                "send at most 1,000 customers per request"
            },
        )


UTF8_BOM = b"\xef\xbb\xbf"


def _without_headers(scope: Scope, names: tuple[bytes, ...]) -> Scope:
    """``scope`` without the headers ``names`` (the decompressed body has another length)."""
    kept = [(k, v) for k, v in scope.get("headers", ()) if k.lower() not in names]
    return {**scope, "headers": kept}


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
