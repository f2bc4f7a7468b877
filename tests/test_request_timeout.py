"""``serving.request_timeout``: the same 504 as BentoML's timeout, and no timer left armed."""

import asyncio
import gc
import weakref

from serving.request_timeout import RequestTimeout


class Body:
    """Something only the request holds: it must be freed once the answer is sent."""


def _request(held: Body | None = None):
    scope = {"type": "http", "path": "/score/ids", "held": held}

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    return scope, receive


async def _quick_app(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


async def _slow_app(scope, receive, send):
    await asyncio.sleep(5)
    await _quick_app(scope, receive, send)


def test_an_answered_request_leaves_no_armed_timer_and_nothing_alive():
    async def run():
        sent = []

        async def send(message):
            sent.append(message)

        held = Body()
        alive = weakref.ref(held)
        scope, receive = _request(held)
        middleware = RequestTimeout(_quick_app, timeout=60)
        await middleware(scope, receive, send)
        del held, scope
        loop = asyncio.get_running_loop()
        armed = [h for h in loop._scheduled if not h.cancelled()]  # noqa: SLF001
        gc.collect()
        return sent, armed, alive()

    sent, armed, alive = asyncio.run(run())
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert sent[0]["status"] == 200
    assert armed == []  # BentoML's TimeoutMiddleware leaves one per request for `timeout` s
    assert alive is None


def test_a_request_past_the_timeout_gets_504_and_its_handler_is_cancelled():
    async def run():
        sent = []

        async def send(message):
            sent.append(message)

        scope, receive = _request()
        await RequestTimeout(_slow_app, timeout=0.05)(scope, receive, send)
        return sent

    sent = asyncio.run(run())
    assert sent[0]["status"] == 504
    assert b"0.05 seconds" in sent[1]["body"]


def test_the_service_makes_bentoml_build_its_apps_with_it():
    from bentoml._internal.server.http import traffic

    import serving.service  # noqa: F401 -- installs at import, before BentoML builds the app

    assert traffic.TimeoutMiddleware is RequestTimeout
