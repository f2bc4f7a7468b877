"""The service's request timeout, without keeping each request alive until it would expire.

BentoML's ``TimeoutMiddleware`` (``traffic.timeout``) arms a timer per request and never cancels
it: the timer, and through the context it captured the request's whole object graph, live for
the full timeout after the answer has gone. At a few hundred requests a second that is hundreds
of thousands of live objects for the collector to walk: full collections paused the event loop
for 60-350 ms every second or two under load (measured with ``gc.callbacks``), most of the tail
latency. ``RequestTimeout`` answers the same 504 after the same timeout, and cancels its timer
when the request is answered.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send


class RequestTimeout:
    """ASGI middleware: 504 if a request has sent nothing after ``timeout`` seconds."""

    def __init__(self, app: ASGIApp, timeout: float) -> None:
        self.app = app
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        started: asyncio.Future[None] = loop.create_future()
        timer = loop.call_later(self.timeout, _expire, started)

        async def send_and_mark(message: Any) -> None:
            if not started.done():
                started.set_result(None)
            await send(message)

        answer = asyncio.ensure_future(self.app(scope, receive, send_and_mark))
        try:
            await started
        except TimeoutError:
            if answer.cancel():
                response = JSONResponse(
                    {"error": f"Not able to process the request in {self.timeout} seconds"},
                    status_code=504,
                )
                await response(scope, receive, send)
        else:
            await answer
        finally:
            timer.cancel()  # what BentoML's middleware leaves armed


def _expire(started: asyncio.Future[None]) -> None:
    if not started.done():
        started.set_exception(TimeoutError())


def install() -> None:
    """Make BentoML build its apps with ``RequestTimeout`` for ``traffic.timeout`` (it imports
    the middleware class when it builds an app, so this must run before: at service import)."""
    from bentoml._internal.server.http import traffic

    traffic.TimeoutMiddleware = RequestTimeout  # type: ignore[misc,assignment]
