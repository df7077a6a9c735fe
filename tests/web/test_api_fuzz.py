"""Schemathesis against the running page, from its own /api/openapi.json:
requests made from the schemas, signed in (cookie, X-CSRF-Token, Origin on
every call), must never get a 5xx and must get answers the document describes.

Left out: operations that would end the session or set the password
(logout, password, setup, login, ending a session) and the one that goes
online (updating the lists). Schemathesis is synchronous (requests), so it
runs in a thread while the page answers in the test's loop.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import hypothesis
import pytest
import requests
from hypothesis import HealthCheck, Phase

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is not installed: pip install -e '.[test]'")
from schemathesis.checks import not_a_server_error, response_schema_conformance  # noqa: E402
from schemathesis.core.failures import FailureGroup  # noqa: E402

from tests.web.conftest import Client  # noqa: E402
from tests.webpage import Page  # noqa: E402

EXAMPLES = 25  # per operation
LEFT_OUT = {
    ("POST", "/api/logout"),
    ("POST", "/api/password"),
    ("POST", "/api/setup"),
    ("POST", "/api/login"),
    ("DELETE", "/api/sessions/{id}"),
    ("POST", "/api/lists/update"),
}


def describe(error: BaseException) -> str:
    parts = [str(error)]
    if isinstance(error, BaseExceptionGroup):
        parts += [str(item) for item in error.exceptions]
    return "\n".join(parts)[:3000]


@dataclass
class Fuzzed:
    failures: list[str] = field(default_factory=list)
    operations: list[str] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)


def fuzz(document: dict[str, Any], base: str, cookie: str, csrf: str) -> Fuzzed:
    """Every operation but LEFT_OUT, EXAMPLES times: the failures found, the operations run, the statuses."""
    schema = schemathesis.openapi.from_dict(document)
    http = requests.Session()
    headers = {"X-CSRF-Token": csrf, "Origin": base}
    # Given with each call: schemathesis fills the document's cookie security scheme otherwise.
    cookies = {"dnsfilter_session": cookie}
    fuzzed = Fuzzed()
    failures, ran = fuzzed.failures, fuzzed.operations
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) in LEFT_OUT:
            continue
        label = f"{operation.method.upper()} {operation.path}"
        ran.append(label)

        @hypothesis.settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate, Phase.shrink],
            suppress_health_check=list(HealthCheck),
        )
        @hypothesis.given(case=operation.as_strategy())
        def check(case: Any) -> None:
            response = case.call(base_url=base, session=http, headers=headers, cookies=cookies, timeout=10)
            fuzzed.statuses[response.status_code] += 1
            case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])

        try:
            check()
        except (Exception, FailureGroup) as error:  # the checks' failures, with the request that caused them
            failures.append(f"{label}: {describe(error)}")
    return fuzzed


async def test_no_request_made_from_the_document_gets_a_server_error_or_an_undocumented_answer(
    page: Page, parent: Client
) -> None:
    mia = await parent.ok("POST", "/api/profiles", {"name": "Mia"}, 201)
    await parent.ok("PATCH", f"/api/profiles/{mia['id']}/blocked", {"add": ["games"]})
    await page.ask("games.example")  # a device, and a row in the log, for the reads to show
    document = await parent.ok("GET", "/api/openapi.json")
    cookie = parent.cookie()
    assert cookie is not None and parent.csrf is not None
    fuzzed = await asyncio.to_thread(fuzz, document, page.base, cookie.value, parent.csrf)
    assert len(fuzzed.operations) == sum(len(item) for item in document["paths"].values()) - len(LEFT_OUT)
    assert fuzzed.failures == [], "\n\n".join(fuzzed.failures)
    # Signed in and same-origin throughout, or the requests tested only the door.
    assert fuzzed.statuses[401] == fuzzed.statuses[403] == 0, fuzzed.statuses
    assert sum(count for status, count in fuzzed.statuses.items() if status < 300) > EXAMPLES * 5, fuzzed.statuses
    assert (await parent.get("/api/session")).json["state"] == "ready"  # still signed in throughout
