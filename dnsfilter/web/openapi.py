"""The OpenAPI 3 document of the API, made from the route table."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from dnsfilter import __version__
from dnsfilter.web.json import json_response
from dnsfilter.web.routes import ROUTES, Route
from dnsfilter.web.schemas import COMPONENTS, ref

ERRORS = {
    "400": "A field is wrong: error.field names it, error.message says what is allowed",
    "401": "Not signed in (or no password set yet: error.code setup_required)",
    "403": "Refused: wrong setup code, bad CSRF token or not from the page's own origin",
    "404": "No such thing",
    "409": "A conflict: taken name, the default profile, a password already set",
    "429": "Too many wrong passwords: wait error.retry_after seconds",
    "503": "The database cannot be reached now",
}


def document(routes: tuple[Route, ...] | None = None) -> dict[str, Any]:
    """The document of ``routes``: by default every route the page answers, this document's own included."""
    paths: dict[str, dict[str, Any]] = {}
    for route in (*ROUTES, OPENAPI_ROUTE) if routes is None else routes:
        status, answer = route.answer
        responses: dict[str, Any] = {
            str(status): {"description": "Done"}
            | ({"content": {"application/json": {"schema": answer}}} if answer is not None else {})
        }
        for code, text in ERRORS.items():
            responses[code] = {"description": text, "content": {"application/json": {"schema": ref("Error")}}}
        operation: dict[str, Any] = {
            "operationId": f"{route.method.lower()}_{route.handler.__name__}",
            "summary": route.summary,
            "responses": responses,
        }
        if route.params:
            operation["parameters"] = [
                {
                    "name": param.name, "in": param.where, "required": param.where == "path",
                    "schema": param.schema, "description": param.description,
                }
                for param in route.params
            ]
        if route.request is not None:
            operation["requestBody"] = {
                "required": bool(route.request.get("required")),
                "content": {"application/json": {"schema": route.request}},
            }
        if route.path not in ("/api/session", "/api/setup", "/api/login"):
            operation["security"] = [{"session": []}]
        paths.setdefault(route.path, {})[route.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "dnsfilter",
            "version": __version__,
            "description": (
                "The parents' web page of dnsfilter. Sign in with POST /api/login; every change "
                "(POST, PUT, PATCH, DELETE) needs the session's csrf_token in X-CSRF-Token and an Origin "
                "of the page itself. Outside this API, without a session: GET /healthz (whether the filter "
                "is well, 200 or 503) and GET /metrics (Prometheus text format, when web.metrics is on)."
            ),
        },
        "paths": paths,
        "components": {
            "schemas": COMPONENTS,
            "securitySchemes": {"session": {"type": "apiKey", "in": "cookie", "name": "dnsfilter_session"}},
        },
    }


async def openapi(request: web.Request) -> web.Response:
    return json_response(document())


# Not in ROUTES (this module is made from that table), but documented and routed like its routes.
OPENAPI_ROUTE = Route("GET", "/api/openapi.json", openapi, "This document: every route of the API", (200, {"type": "object"}))
