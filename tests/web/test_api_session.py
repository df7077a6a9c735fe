"""Signing in to the page over real HTTP: the first-run setup code, login and
its throttle (kept in the database, so a restart does not reset it), changing
the password, signing out here or everywhere, the list of signed-in browsers,
and a password set with ``dnsfilter passwd`` on the box."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dnsfilter.config import Config
from dnsfilter.service.accounts import Accounts
from dnsfilter.store.accounts import AccountStore
from tests.web.conftest import Answer, Client, OpenPage
from tests.webpage import PASSWORD, Page

REPO = Path(__file__).resolve().parents[2]
NEW_PASSWORD = "a brand new passphrase"
Browser = Callable[[], Client]


async def has_password(page: Page) -> bool:
    store = page.service.store
    assert store is not None
    return await asyncio.to_thread(Accounts(AccountStore(store.database)).has_password)


def cookie_header(answer: Answer) -> str:
    [header] = [value for value in answer.headers.getall("Set-Cookie", []) if value.startswith("dnsfilter_session=")]
    return str(header)


def assert_session_cookie(answer: Answer) -> None:
    attributes = {part.strip().split("=")[0].lower(): part.strip() for part in cookie_header(answer).split(";")}
    assert "httponly" in attributes
    assert attributes.get("samesite") == "SameSite=Strict"
    assert attributes.get("path") == "Path=/"


async def signed_in(browser: Browser, password: str = PASSWORD, agent: str | None = None) -> Client:
    client = browser()
    if agent is not None:
        client.http.headers["User-Agent"] = agent
    answer = await client.login(password)
    assert answer.status == 200, answer.raw
    return client


# --- the first run --------------------------------------------------------------------


async def test_the_first_password_needs_the_code_printed_in_the_log(
    page: Page, browser: Browser, caplog: pytest.LogCaptureFixture
) -> None:
    printed = [
        match.group(1)
        for record in caplog.get_records("setup")
        if record.name == "dnsfilter.web.server"
        and (match := re.search(r"one-time setup code: ([A-Z0-9-]+)", record.getMessage()))
    ]
    assert printed == [page.server.context.setup_code], "the setup code is printed once, at start"
    client = browser()
    session = await client.get("/api/session")
    assert session.status == 200
    assert (session.json["state"], session.json["csrf_token"]) == ("setup", None)
    assert "dnsfilter passwd" in session.json["setup_hint"]
    locked = await client.get("/api/profiles")
    assert (locked.status, locked.error["code"]) == (401, "setup_required")

    wrong = await client.post("/api/setup", {"code": "AAAA-BBBB-CCCC", "password": PASSWORD})
    assert (wrong.status, wrong.error["code"], wrong.error["field"]) == (403, "wrong_code", "code")
    assert not await has_password(page)
    short = await client.post("/api/setup", {"code": printed[0], "password": "short"})
    assert (short.status, short.error["field"]) == (400, "password")
    assert not await has_password(page)

    # Typed in lower case with spaces instead of dashes: still the code.
    typed = printed[0].lower().replace("-", " ")
    ready = await client.post("/api/setup", {"code": typed, "password": PASSWORD})
    assert ready.status == 200, ready.raw
    assert (ready.json["state"], ready.json["account"]) == ("ready", "parent")
    assert ready.json["csrf_token"]
    assert_session_cookie(ready)
    assert await has_password(page)
    client.csrf = ready.json["csrf_token"]
    assert (await client.get("/api/profiles")).status == 200
    assert (await client.get("/api/session")).json["state"] == "ready"

    again = await browser().post("/api/setup", {"code": printed[0], "password": NEW_PASSWORD})
    assert (again.status, again.error["code"]) == (409, "conflict")
    assert (await browser().login(NEW_PASSWORD)).status == 401  # the first password stands


async def test_the_setup_code_is_not_offered_once_a_password_is_set(config: Config, open_page: OpenPage) -> None:
    async with open_page(config) as page:
        await page.set_password()
    async with open_page(config) as page:
        assert page.server.context.setup_code is None
        client = Client(page)
        try:
            refused = await client.post("/api/setup", {"code": "", "password": NEW_PASSWORD})
            assert refused.status == 400  # no code
            assert (await client.get("/api/session")).json["state"] == "login"
        finally:
            await client.close()


# --- signing in ----------------------------------------------------------------------


async def test_login_with_the_right_password_only(page: Page, browser: Browser) -> None:
    await page.set_password()
    client = browser()
    wrong = await client.login("not the password")
    assert (wrong.status, wrong.error["code"], wrong.error["field"]) == (401, "wrong_password", "password")
    assert client.cookie() is None
    assert (await client.get("/api/profiles")).error["code"] == "unauthenticated"
    right = await client.login()
    assert right.status == 200
    assert (right.json["state"], right.json["account"]) == ("ready", "parent")
    assert_session_cookie(right)
    assert (await client.get("/api/session")).json["csrf_token"] == right.json["csrf_token"]


async def test_wrong_passwords_are_throttled_and_the_throttle_survives_a_restart(
    config: Config, open_page: OpenPage
) -> None:
    # The page's clock stands still, so the 2 s wait earned by the 5th failure
    # cannot run out while the filter restarts on a slow machine.
    now = datetime(2026, 12, 7, 20, 0, tzinfo=UTC)
    clock = [now]
    async with open_page(config, lambda: clock[0]) as page:
        await page.set_password()
        client = Client(page)
        try:
            for attempt in range(1, 6):
                wrong = await client.login(f"guess number {attempt}")
                assert (wrong.status, wrong.error["code"]) == (401, "wrong_password"), f"attempt {attempt}"
            assert wrong.error["retry_after"] == 2.0  # the 5th failure earns a wait
            throttled = await client.login()  # even the right password waits
            assert (throttled.status, throttled.error["code"]) == (429, "throttled")
            assert throttled.error["retry_after"] == 2.0
            assert throttled.headers["Retry-After"] == "2"
        finally:
            await client.close()
    async with open_page(config, lambda: clock[0]) as page:
        client = Client(page)
        try:
            still = await client.login()
            assert (still.status, still.error["code"]) == (429, "throttled"), still.raw
            assert still.error["retry_after"] == 2.0
            clock[0] = now + timedelta(seconds=2.5)
            assert (await client.login()).status == 200
        finally:
            await client.close()


# --- changing the password, signing out ---------------------------------------------


async def test_a_new_password_signs_every_other_browser_out(parent: Client, browser: Browser) -> None:
    other = await signed_in(browser)
    wrong = await parent.post("/api/password", {"current": "not it at all", "new": NEW_PASSWORD})
    assert (wrong.status, wrong.error["code"], wrong.error["field"]) == (401, "wrong_password", "current")
    short = await parent.post("/api/password", {"current": PASSWORD, "new": "short"})
    assert (short.status, short.error["field"]) == (400, "new")
    assert (await other.get("/api/profiles")).status == 200  # nothing changed yet

    changed = await parent.post("/api/password", {"current": PASSWORD, "new": NEW_PASSWORD})
    assert changed.status == 200, changed.raw
    assert_session_cookie(changed)
    parent.csrf = changed.json["csrf_token"]
    assert (await parent.ok("POST", "/api/profiles", {"name": "Mia"}, 201))["name"] == "Mia"
    ended = await other.get("/api/profiles")
    assert (ended.status, ended.error["code"]) == (401, "unauthenticated")
    assert (await browser().login(PASSWORD)).status == 401
    assert (await browser().login(NEW_PASSWORD)).status == 200


async def test_logout_ends_this_browsers_session_only(parent: Client, browser: Browser) -> None:
    other = await signed_in(browser)
    old_cookie = parent.cookie().value
    answer = await parent.post("/api/logout", {})
    assert answer.status == 204
    assert cookie_header(answer).startswith('dnsfilter_session="";')  # the browser forgets it
    assert (await parent.get("/api/profiles")).error["code"] == "unauthenticated"
    replayed = await parent.get("/api/profiles", headers={"Cookie": f"dnsfilter_session={old_cookie}"})
    assert (replayed.status, replayed.error["code"]) == (401, "unauthenticated")
    assert (await parent.get("/api/session")).json["state"] == "login"
    assert (await other.get("/api/profiles")).status == 200


async def test_logout_everywhere_ends_every_session(parent: Client, browser: Browser) -> None:
    others = [await signed_in(browser) for _ in range(2)]
    assert (await parent.post("/api/logout", {"everywhere": True})).status == 204
    for client in [parent, *others]:
        assert (await client.get("/api/profiles")).error["code"] == "unauthenticated"
    assert (await browser().login()).status == 200  # the password still works


async def test_the_signed_in_browsers_are_listed_and_one_can_be_signed_out(page: Page, browser: Browser) -> None:
    await page.set_password()
    phone = await signed_in(browser, agent="Phone browser")
    laptop = await signed_in(browser, agent="Laptop <browser>")
    listed = await laptop.ok("GET", "/api/sessions")
    assert [(item["user_agent"], item["current"], item["address"]) for item in listed] == [
        ("Laptop <browser>", True, "127.0.0.1"), ("Phone browser", False, "127.0.0.1"),
    ]  # fmt: skip
    assert all(re.fullmatch(r"[0-9a-f]{12}", item["id"]) for item in listed)
    assert phone.cookie().value not in str(listed)  # the id is not the secret
    phone_id = listed[1]["id"]
    assert (await laptop.delete(f"/api/sessions/{phone_id}")).status == 204
    assert (await phone.get("/api/profiles")).error["code"] == "unauthenticated"
    assert [item["id"] for item in await laptop.ok("GET", "/api/sessions")] == [listed[0]["id"]]
    gone = await laptop.delete(f"/api/sessions/{phone_id}")
    assert (gone.status, gone.error["code"]) == (404, "not_found")


# --- dnsfilter passwd on the box ----------------------------------------------------------


async def test_a_password_set_with_dnsfilter_passwd_signs_in(page: Page, browser: Browser, tmp_path: Path) -> None:
    assert (await browser().get("/api/session")).json["state"] == "setup"
    config_file = tmp_path / "dnsfilter.yaml"
    config_file.write_text(f'database:\n  url: "{page.config.database_url}"\n')
    command = [sys.executable, "-m", "dnsfilter", "passwd", "-c", str(config_file), "--data-dir", str(page.config.data_dir)]
    result = await asyncio.to_thread(
        subprocess.run, command, input=NEW_PASSWORD + "\n", capture_output=True, text=True, cwd=REPO, timeout=60
    )
    assert result.returncode == 0, result.stderr
    client = browser()
    assert (await client.get("/api/session")).json["state"] == "login"
    assert (await client.login(NEW_PASSWORD + "\n")).status == 401  # the line end is not part of it
    assert (await client.login(NEW_PASSWORD)).status == 200
    assert (await client.get("/api/profiles")).status == 200
    refused = await browser().post(
        "/api/setup", {"code": page.server.context.setup_code or "AAAA-BBBB-CCCC", "password": PASSWORD}
    )
    assert (refused.status, refused.error["code"]) == (409, "conflict")

