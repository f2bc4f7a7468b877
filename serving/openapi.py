"""The OpenAPI document of the scoring service, completed so that it describes every answer.

BentoML's generated document declares a 400 whose ``detail`` is a string (the service sends a
list of ``{loc, msg, type}``), no 401/413/415/503, no authentication, and bodiless probes.
``complete_openapi`` rewrites those parts from the models in ``serving.schemas``;
``OpenApiMiddleware`` serves the completed document at ``/docs.json``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from serving.auth import ASGIApp, Receive, Scope, Send

REF = "#/components/schemas/{model}"
TEXT = {"text/plain": {"schema": {"type": "string"}}}
#: ``prometheus_client.CONTENT_TYPE_LATEST``, what ``/metrics`` answers with.
PROMETHEUS_TEXT = {"text/plain; version=1.0.0; charset=utf-8": {"schema": {"type": "string"}}}


def _json(model: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": REF.format(model=model)}}}


def _schemas() -> dict[str, Any]:
    from serving.schemas import ErrorBody, Readiness, ValidationErrorBody

    out: dict[str, Any] = {}
    for model in (ErrorBody, ValidationErrorBody, Readiness):
        schema = model.model_json_schema(ref_template=REF)
        out.update(schema.pop("$defs", {}))
        out[model.__name__] = schema
    return out


def api_responses() -> dict[str, Any]:
    """What a scoring route may answer besides 200 (its list of results)."""
    return {
        "400": {
            "description": "Invalid body: detail[].loc names the customer and the field",
            "content": _json("ValidationErrorBody"),
        },
        "401": {"description": "Missing or wrong API key", "content": _json("ErrorBody")},
        "413": {"description": "Body larger than 8 MB", "content": _json("ErrorBody")},
        "415": {
            "description": "Content-Type is not application/json",
            "content": _json("ErrorBody"),
        },
        "500": {
            "description": "Unexpected server error (see the server log)",
            "content": _json("ErrorBody"),
        },
        "503": {
            "description": "Not ready yet (or failed to load): the reason; or overloaded (more "
            "rows waiting than can be scored within 10 s): retry after the Retry-After seconds",
            "content": _json("ErrorBody"),
        },
    }


def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("lifecycle")
    except PackageNotFoundError:  # a checkout run without installing it
        return "0.0.0+unknown"


def request_examples() -> dict[str, dict[str, Any]]:
    """Request bodies that score as they stand, per route (the ids are in ``make run``'s data)."""
    from serving.schemas import FEATURES_EXAMPLE

    return {
        "/score/ids": {"customer_ids": ["C0000001", "C0000002"]},
        "/score/features": {"customers": [FEATURES_EXAMPLE]},
    }


def complete_openapi(spec: dict[str, Any], api_routes: Iterable[str]) -> dict[str, Any]:
    """A copy of BentoML's document with the real error bodies, probes and bearer authentication."""
    spec = json.loads(json.dumps(spec))  # a copy with string keys (BentoML uses int status codes)
    spec["info"] = {
        **spec.get("info", {}),
        "title": "Customer lifecycle scoring",
        "version": _package_version(),
        "description": "Lifecycle stage, churn probability, predicted value (with an 80% range), "
        "retention priority and the recommended action with its reasons, per customer: by id "
        "from the loaded snapshot (/score/ids) or from posted features (/score/features). "
        "Bearer LIFECYCLE_API_KEY on the scoring routes; the probes are open.",
    }
    spec["info"].pop("contact", None)
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    for name in ("InvalidArgument", "NotFound", "InternalServerError"):
        schemas.pop(name, None)
    schemas.update(_schemas())
    spec["components"]["securitySchemes"] = {
        "bearerAuth": {"type": "http", "scheme": "bearer", "description": "LIFECYCLE_API_KEY"}
    }
    paths = spec.setdefault("paths", {})
    examples = request_examples()
    for route in api_routes:
        operation = paths[route]["post"]
        operation["responses"] = {"200": operation["responses"]["200"], **api_responses()}
        operation["security"] = [{"bearerAuth": []}]
        operation["requestBody"]["required"] = True
        example = examples.get(route)
        if example is not None:  # what "Try it out" sends: the schema's own guess is refused
            operation["requestBody"]["content"]["application/json"]["example"] = example
    probes = {
        "/healthz": {"200": {"description": "The process is up", "content": TEXT}},
        "/livez": {"200": {"description": "The process is up", "content": TEXT}},
        "/readyz": {
            "200": {
                "description": "Champion pair and snapshot loaded",
                "content": _json("Readiness"),
            },
            "503": {"description": "Loading, or failed: the reason", "content": _json("Readiness")},
        },
        "/metrics": {"200": {"description": "Prometheus text format", "content": PROMETHEUS_TEXT}},
    }
    for path, responses in probes.items():
        if path in paths:
            paths[path]["get"]["responses"] = responses
            paths[path]["get"]["security"] = []
    return spec


class OpenApiMiddleware:
    """``GET /docs.json``: the completed document (built once per process); ``GET /docs``, where
    an integrator looks for the interactive page, is sent to it (BentoML's Swagger UI at ``/``,
    which reads ``/docs.json``)."""

    def __init__(self, app: ASGIApp, service: Any = None, api_routes: Iterable[str] = ()) -> None:
        self.app = app
        self.service = service
        self.api_routes = tuple(api_routes)
        self._payload: bytes | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/docs" and scope["method"] == "GET":
            await send(
                {
                    "type": "http.response.start",
                    "status": 308,
                    "headers": [(b"location", b"/"), (b"content-length", b"0")],
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return
        if scope["type"] != "http" or scope["path"] != "/docs.json" or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        if self._payload is None:
            spec = complete_openapi(self.service.openapi_spec.asdict(), self.api_routes)
            self._payload = json.dumps(spec).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(self._payload)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": self._payload})
