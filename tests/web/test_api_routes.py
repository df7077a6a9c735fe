"""The defences of every route of the table (dnsfilter.web.routes.ROUTES),
checked over real HTTP against a running filter:

- no session: 401 with a JSON error (the public routes excepted);
- a change with a missing, wrong or other browser's X-CSRF-Token: 403, nothing changed;
- a change with a missing or foreign Origin: 403, nothing changed;
- a Host the page does not answer to (DNS rebinding): 421 before any handler;
- every answer has the security headers, and JSON answers hold no raw "<".

These tests change nothing when the page is right, so one page (per database)
serves the whole module; "nothing changed" compares the family, devices,
settings, sessions and password before and after.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio

from dnsfilter.store.accounts import AccountStore
from dnsfilter.web.openapi import OPENAPI_ROUTE
from dnsfilter.web.routes import ROUTES, Route
from tests.web.conftest import CHANGES, Answer, Client, shared_page
from tests.webpage import DEVICE, PASSWORD, Page, utcnow

pytestmark = pytest.mark.asyncio(loop_scope="module")

# The table, and the document's own route (routed and documented like them).
ALL_ROUTES = (*ROUTES, OPENAPI_ROUTE)
PUBLIC = {("GET", "/api/session"), ("POST", "/api/setup"), ("POST", "/api/login")}
PROTECTED = [route for route in ALL_ROUTES if (route.method, route.path) not in PUBLIC]
CHANGING = [route for route in ROUTES if route.method in CHANGES]
SIGNED_CHANGES = [route for route in CHANGING if (route.method, route.path) not in PUBLIC]
# As the contract promises the front-end.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def route_id(route: Route) -> str:
    return f"{route.method} {route.path}"


@dataclass
class Site:
    """The page of one database, a signed-in parent, a second signed-in browser, and the family's ids."""

    page: Page
    parent: Client
    other: Client
    ids: dict[str, Any]


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=["sqlite", "postgresql"])
async def site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Site]:
    async with shared_page(request.param, tmp_path_factory.mktemp(f"routes-{request.param}")) as (page, parent):
        other = Client(page)
        try:
            assert (await other.login()).status == 200
            yield Site(page, parent, other, await make_family(page, parent))
        finally:
            await other.close()


async def make_family(page: Page, parent: Client) -> dict[str, Any]:
    """A profile with one of everything, a device and a second session, made on the page itself."""
    mia = (await parent.ok("POST", "/api/profiles", {"name": "Mia"}, 201))["id"]
    await parent.ok("POST", f"/api/profiles/{mia}/names", {"list": "allow", "name": "kids.example"})
    rule = await parent.ok(
        "POST", f"/api/profiles/{mia}/rules",
        {"weekdays": [0, 1, 2, 3, 4], "start": "20:30", "end": "07:00", "action": "allow_only"}, 201,
    )  # fmt: skip
    budget = await parent.ok("PUT", f"/api/profiles/{mia}/budgets", {"tag": "games", "minutes": 60})
    override = await parent.ok("POST", f"/api/profiles/{mia}/overrides", {"kind": "pause", "minutes": 600}, 201)
    store = page.service.store
    assert store is not None
    device = await asyncio.to_thread(store.record_seen, DEVICE, ip="127.0.0.1", mac=None, name="tablet", now=utcnow())
    sessions = await parent.ok("GET", "/api/sessions")
    other_session = next(item["id"] for item in sessions if not item["current"])
    return {
        "profile": mia, "rule": rule["id"], "budget": budget["id"], "override": override["id"],
        "device": device.device_id, "session": other_session, "name": "kids.example",
    }  # fmt: skip


def sample(route: Route, ids: dict[str, Any]) -> tuple[str, Any, dict[str, str] | None]:
    """A request for ``route`` that would succeed if its defences let it through: path, JSON body, query."""
    path = route.path.replace("{name}", ids["name"])
    if "{id}" in path:
        kind = {
            "/api/rules/": "rule", "/api/budgets/": "budget", "/api/overrides/": "override",
            "/api/devices/": "device", "/api/sessions/": "session",
        }  # fmt: skip
        owner = next((ids[what] for prefix, what in kind.items() if path.startswith(prefix)), ids["profile"])
        path = path.replace("{id}", str(owner))
    profile = ids["profile"]
    bodies: dict[tuple[str, str], Any] = {
        ("POST", "/api/setup"): {"code": "AAAA-BBBB-CCCC", "password": "another long password"},
        ("POST", "/api/login"): {"password": PASSWORD},
        ("POST", "/api/logout"): {"everywhere": True},
        ("POST", "/api/password"): {"current": PASSWORD, "new": "another long password"},
        ("POST", "/api/profiles"): {"name": "Leo"},
        ("PATCH", "/api/profiles/{id}"): {"name": "Mia, 9", "safe_search": "strict", "is_default": True},
        ("PATCH", "/api/profiles/{id}/blocked"): {"add": ["games"]},
        ("POST", "/api/profiles/{id}/names"): {"list": "deny", "name": "example.net"},
        ("POST", "/api/profiles/{id}/rules"): {"days": "daily", "start": "12:00", "end": "13:00", "action": "block_tags", "tags": ["games"]},
        ("PATCH", "/api/rules/{id}"): {"enabled": False},
        ("PUT", "/api/profiles/{id}/budgets"): {"tag": "games", "minutes": 5},
        ("POST", "/api/profiles/{id}/overrides"): {"kind": "allow_name", "target": "adult.example", "minutes": 30},
        ("PATCH", "/api/devices/{id}"): {"label": "Mia's tablet", "profile_id": profile},
        ("PATCH", "/api/settings"): {"new_devices_profile_id": profile},
    }
    queries = {("GET", "/api/explain"): {"name": "games.example"}, ("GET", "/api/log"): {"limit": "5"}}
    return path, bodies.get((route.method, route.path)), queries.get((route.method, route.path))


async def state(site: Site) -> dict[str, Any]:
    """What a change would change: read on the page and in the database."""
    parent = site.parent
    sessions = await parent.ok("GET", "/api/sessions")
    store = site.page.service.store
    assert store is not None
    return {
        "profiles": await parent.ok("GET", "/api/profiles"),
        "devices": [
            {key: value for key, value in device.items() if key != "last_seen"}
            for device in await parent.ok("GET", "/api/devices")
        ],
        "settings": await parent.ok("GET", "/api/settings"),
        "sessions": sorted(session["id"] for session in sessions),
        "password": await asyncio.to_thread(AccountStore(store.database).password_hash),
        "updating": (await parent.ok("GET", "/api/lists"))["updating"],
    }


def assert_defended(answer: Answer, what: str) -> None:
    """The headers every answer carries; a JSON answer with no raw '<' a browser could sniff as markup."""
    headers = answer.headers
    assert headers.get("Content-Security-Policy") == CONTENT_SECURITY_POLICY, what
    assert headers.get("X-Content-Type-Options") == "nosniff", what
    assert headers.get("X-Frame-Options") == "DENY", what
    assert headers.get("Referrer-Policy") == "no-referrer", what
    if answer.raw and answer.status != 421:
        assert headers.get("Content-Type", "").startswith("application/json"), f"{what}: {headers.get('Content-Type')}"
        assert b"<" not in answer.raw, what
        answer.json  # noqa: B018 - parses


def assert_error(answer: Answer, status: int, codes: set[str], what: str) -> None:
    assert answer.status == status, f"{what}: {answer.status} {answer.raw[:300]!r}"
    assert_defended(answer, what)
    error = answer.error
    assert error["code"] in codes, f"{what}: {error}"
    assert isinstance(error["message"], str) and error["message"], what


@pytest.mark.parametrize("route", PROTECTED, ids=route_id)
async def test_no_session_is_answered_401(site: Site, route: Route) -> None:
    path, body, params = sample(route, site.ids)
    stranger = Client(site.page)  # no cookie; the page's own Origin, so only the session is missing
    try:
        answer = await stranger.request(route.method, path, body, params=params)
        # A cookie that was never issued is no better than none.
        forged = await stranger.request(
            route.method, path, body, params=params, headers={"Cookie": "dnsfilter_session=" + "A" * 43}
        )
    finally:
        await stranger.close()
    for sent, what in ((answer, "no cookie"), (forged, "made-up cookie")):
        assert_error(sent, 401, {"unauthenticated"}, f"{route_id(route)} with {what}")


@pytest.mark.parametrize("route", sorted(PUBLIC), ids=lambda key: f"{key[0]} {key[1]}")
async def test_the_public_routes_answer_without_a_session(site: Site, route: tuple[str, str]) -> None:
    stranger = Client(site.page)
    # Bodies that are refused before a password is tried: nothing counts against this address.
    bodies = {"/api/setup": {"code": "x", "password": "another long password"}, "/api/login": {"password": ""}}
    try:
        answer = await stranger.request(route[0], route[1], bodies.get(route[1]))
    finally:
        await stranger.close()
    expected = {"/api/session": 200, "/api/setup": 409, "/api/login": 400}[route[1]]
    assert answer.status == expected, answer.raw
    assert_defended(answer, route[1])
    if route[1] == "/api/session":
        assert answer.json["state"] == "login" and answer.json["csrf_token"] is None


@pytest.mark.parametrize("route", SIGNED_CHANGES, ids=route_id)
async def test_a_change_without_the_sessions_csrf_token_is_refused(site: Site, route: Route) -> None:
    path, body, params = sample(route, site.ids)
    before = await state(site)
    tokens = {"missing": None, "wrong": "x" * 43, "empty": "", "another browser's": site.other.csrf}
    for case, token in tokens.items():
        headers = {} if token is None else {"X-CSRF-Token": token}
        answer = await site.parent.request(route.method, path, body, params=params, csrf=False, headers=headers)
        assert_error(answer, 403, {"forbidden"}, f"{route_id(route)}, CSRF token {case}")
    assert await state(site) == before


ORIGINS = {
    "missing": None,
    "another site": "http://evil.example",
    "null": "null",
    "https instead of http": "https://{host}",
    "another port": "http://127.0.0.1:1",
    "the page's with a path": "{base}/",
}


@pytest.mark.parametrize("route", CHANGING, ids=route_id)
async def test_a_change_from_another_origin_is_refused(site: Site, route: Route) -> None:
    path, body, params = sample(route, site.ids)
    page = site.page
    before = await state(site)
    for case, origin in ORIGINS.items():
        headers = {} if origin is None else {"Origin": origin.format(host=f"127.0.0.1:{page.port}", base=page.base)}
        answer = await site.parent.request(route.method, path, body, params=params, origin=False, headers=headers)
        assert_error(answer, 403, {"forbidden"}, f"{route_id(route)}, Origin {case}")
    assert await state(site) == before


FOREIGN_HOSTS = {
    "another name, same port": "evil.example:{port}",
    "a rebinding name": "attacker.example",
    "another port": "127.0.0.1:1",
    "a name that starts like the address": "127.0.0.1.attacker.example:{port}",
}


@pytest.mark.parametrize("route", ALL_ROUTES, ids=route_id)
async def test_a_foreign_host_is_answered_421_before_any_handler(site: Site, route: Route) -> None:
    path, body, params = sample(route, site.ids)
    before = await state(site)
    for case, host in FOREIGN_HOSTS.items():
        header = host.format(port=site.page.port)
        # Everything else right, signed in: only the Host is wrong.
        answer = await site.parent.request(route.method, path, body, params=params, headers={"Host": header})
        what = f"{route_id(route)} with {case} (Host {header})"
        assert answer.status == 421, f"{what}: {answer.status} {answer.raw[:200]!r}"
        assert_defended(answer, what)
        assert b"filter's own address" in answer.raw, what  # the guard's answer, not a handler's
    assert await state(site) == before


GETS = [route for route in ALL_ROUTES if route.method == "GET"]


@pytest.mark.parametrize("route", GETS, ids=route_id)
async def test_a_signed_in_read_succeeds_with_the_security_headers(site: Site, route: Route) -> None:
    path, _, params = sample(route, site.ids)
    answer = await site.parent.request("GET", path, params=params)
    assert answer.status == 200, f"{route_id(route)}: {answer.status} {answer.raw[:300]!r}"
    assert_defended(answer, route_id(route))
    assert answer.headers.get("Cache-Control") == "no-store"


async def test_a_page_that_is_not_there_is_a_json_error_with_the_headers(site: Site) -> None:
    answer = await site.parent.get("/api/no-such-thing")
    assert_error(answer, 404, {"not_found"}, "/api/no-such-thing")
    wrong_method = await site.parent.request("PUT", "/api/catalog", {})
    assert wrong_method.status == 405
    assert_defended(wrong_method, "PUT /api/catalog")



# Digits of other scripts pass str.isdigit() but int() refuses some ("²") and reads others ("١٠").
@pytest.mark.parametrize("digits", ["²", "١٠", "５"], ids=["superscript", "arabic-indic", "fullwidth"])
async def test_a_number_in_other_digits_is_refused_not_a_crash(site: Site, digits: str) -> None:
    query = await site.parent.get("/api/log", params={"limit": digits})
    assert (query.status, query.error["field"]) == (400, "limit"), query.raw
    in_path = await site.parent.patch(f"/api/rules/{digits}", {"enabled": False})
    assert (in_path.status, in_path.error["field"]) == (400, "id"), in_path.raw
    host = await site.parent.get("/api/session", headers={"Host": f"127.0.0.1:{digits}"})
    assert host.status == 421, host.raw
    assert_defended(host, f"Host 127.0.0.1:{digits}")
