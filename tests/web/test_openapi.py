"""/api/openapi.json, as the running page serves it: a valid OpenAPI 3
document that lists exactly the routes the page answers under /api/."""

from __future__ import annotations

import re
from typing import Any

import pytest

from dnsfilter.web.hosts import HostAllowlist
from dnsfilter.web.routes import ROUTES
from dnsfilter.web.server import build_app
from tests.web.conftest import Client
from tests.webpage import Page

METHODS = {"get", "put", "post", "delete", "patch", "options", "head", "trace"}


@pytest.fixture
async def served(parent: Client) -> dict[str, Any]:
    answer = await parent.get("/api/openapi.json")
    assert answer.status == 200, answer.raw
    assert answer.headers["Content-Type"].startswith("application/json")
    document: dict[str, Any] = answer.json
    return document


def router_operations(page: Page) -> set[tuple[str, str]]:
    """(method, path) of every route the page's app answers under /api/, built as the server builds it.

    aiohttp adds HEAD beside a GET added with add_get; that HEAD is the GET's and is not an operation.
    """
    app = build_app(page.server.context, HostAllowlist((), "127.0.0.1", page.port))
    found = set()
    for route in app.router.routes():
        path = route.resource.canonical if route.resource is not None else ""
        if path.startswith("/api/"):
            found.add((route.method.lower(), path))
    return {(method, path) for method, path in found if not (method == "head" and ("get", path) in found)}


async def test_the_document_is_valid_openapi_3(served: dict[str, Any]) -> None:
    assert served["openapi"].startswith("3.")
    validator = pytest.importorskip("openapi_spec_validator", reason="pip install -e '.[test]'")
    validator.validate(served)  # raises with the first problem


async def test_the_document_lists_exactly_the_routes_the_page_answers(served: dict[str, Any], page: Page) -> None:
    documented = {
        (method, path) for path, item in served["paths"].items() for method in item if method in METHODS
    }
    answered = router_operations(page)
    assert sorted(answered - documented) == [], "routes the document does not list"
    assert sorted(documented - answered) == [], "documented operations no route answers"


def test_the_route_table_has_each_operation_once() -> None:
    keys = [(route.method, route.path) for route in ROUTES]
    assert sorted(key for key in keys if keys.count(key) > 1) == []


async def test_each_operation_documents_its_path_parameters_and_errors(served: dict[str, Any]) -> None:
    operation_ids = []
    for path, item in served["paths"].items():
        for method, operation in item.items():
            operation_ids.append(operation["operationId"])
            in_path = set(re.findall(r"{(\w+)}", path))
            declared = {param["name"] for param in operation.get("parameters", []) if param["in"] == "path"}
            assert declared == in_path, f"{method} {path}"
            responses = operation["responses"]
            assert "400" in responses and "401" in responses, f"{method} {path}"
            public = path in ("/api/session", "/api/setup", "/api/login")
            assert ("security" in operation) is not public, f"{method} {path}"
    assert len(operation_ids) == len(set(operation_ids))


async def test_the_document_needs_a_session(page: Page, browser: Any) -> None:
    answer = await browser().get("/api/openapi.json")
    assert answer.status == 401
