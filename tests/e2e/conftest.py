"""The parents' page in a real browser: Debian's chromium driven by
Playwright's async API, in the same event loop as a real filter (SQLite in
tmp_path) with its page on 127.0.0.1 port 0.

- ``site``: the running filter and page (``Site``: base URL, service, server,
  ``ask()`` for the filter's real DNS answer to a query from 127.0.0.1).
- ``browser``: a launched chromium; the tests skip, with the reason printed,
  when playwright or chromium is missing.
- ``tab``: a fresh browser context and page (desktop 1280x800, English)
  that fails the test on any JavaScript dialog or page error.
- ``signed_in(tab, site)``: sign in through the API (the session cookie lands
  in the tab's context), then open the home page.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from dnslib import EDNS0, RCODE, DNSRecord, EDNSOption

from dnsfilter.config import Config, ListenAddress
from dnsfilter.service.accounts import Accounts
from dnsfilter.service.app import Service
from dnsfilter.service.timings import Timings
from dnsfilter.store import PolicyStore
from dnsfilter.store.accounts import AccountStore
from dnsfilter.web.server import WebServer
from tests.fakes import DnsClient, FakeUpstream
from tests.running import make_config, running_service

expect: Any = None  # playwright's assertions that wait; None without playwright
try:  # without playwright the tests skip (see ``browser``), they do not fail to import
    import playwright.async_api

    expect = playwright.async_api.expect
except ImportError:  # pragma: no cover
    pass

PASSWORD = "correct horse battery staple"
DEVICE = "ip:127.0.0.1"  # every query of these tests comes from 127.0.0.1
REAL = "192.0.2.50"  # what the fake upstream answers for the test names
BLOCKED = "0.0.0.0"
DEADLINE = 2.0  # seconds a change made on the page may take to reach DNS answers
# Names of the test catalog (tests/fixtures/blocklists): games.example is in the
# "games" list, adult.example in "adult"; example.net is in no list.
TEST_NAMES = ("example.net", "adult.example", "games.example", "play.example", "kids.example", "chatapp.example")
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 360, "height": 740}
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-quic",
]  # fmt: skip
UI_TIMEOUT_MS = 10_000  # the longest a page may take to show what a test waits for


def utcnow() -> datetime:
    return datetime.now(UTC)


def describe(reply: DNSRecord) -> str:
    """An answer as the tests compare it: "NXDOMAIN", "NODATA", or its records' data in order."""
    if reply.header.rcode != RCODE.NOERROR:
        return str(RCODE.get(reply.header.rcode))
    if not reply.rr:
        return "NODATA"
    return " ".join(str(rr.rdata) for rr in reply.rr)


@dataclass
class Site:
    """A running filter and its page."""

    service: Service
    server: WebServer
    config: Config

    @property
    def base(self) -> str:
        assert self.server.bound is not None
        host, port = self.server.bound
        return f"http://{host}:{port}"

    @property
    def store(self) -> PolicyStore:
        assert self.service.store is not None
        return self.service.store

    @property
    def dns_address(self) -> tuple[str, int]:
        return self.service.bound[0]

    async def send(self, packet: bytes) -> bytes:
        return await DnsClient(timeout=2.0).udp(packet, self.dns_address)

    async def ask(self, name: str, qtype: str = "A", mac: bytes | None = None) -> str:
        """The filter's answer to a real query from 127.0.0.1 (``mac``: as a trusted router tells it)."""
        question = DNSRecord.question(name, qtype)
        if mac is not None:
            question.add_ar(EDNS0(udp_len=1232, opts=[EDNSOption(65001, mac)]))
        return describe(DNSRecord.parse(await self.send(bytes(question.pack()))))

    async def answers_within(self, name: str, expected: str, within: float = DEADLINE) -> None:
        """Ask until the answer is ``expected``; fail with the last answer after ``within`` seconds."""
        deadline = time.monotonic() + within
        while (answer := await self.ask(name)) != expected:
            if time.monotonic() > deadline:
                pytest.fail(f"{name} is still answered {answer!r} {within} s after the change, not {expected!r}")
            await asyncio.sleep(0.05)

    async def set_password(self, password: str = PASSWORD) -> None:
        """The parent's password, as ``dnsfilter passwd`` sets it."""
        accounts = Accounts(AccountStore(self.store.database))
        await asyncio.to_thread(accounts.set_password, password, utcnow())
        self.server.context.setup_code = None  # as after a restart with a password set


async def until(read: Callable[[], Awaitable[Any]], done: Callable[[Any], bool], what: str, within: float = 8.0) -> Any:
    """Poll ``read()`` until ``done`` holds for it; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        value = await read()
        if done(value):
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"still waiting for {what} after {within} s (last seen: {str(value)[:300]})")
        await asyncio.sleep(0.05)


def site_config(data_dir: Path, upstream: FakeUpstream, **sections: dict[str, Any]) -> Config:
    web = {"listen": ListenAddress("127.0.0.1", 0), **sections.pop("web", {})}
    query_log = {"flush_seconds": 0.2, **sections.pop("query_log", {})}
    return make_config(
        data_dir, [upstream.address], database={"url": f"sqlite:///{data_dir / 'policy.db'}"},
        web=web, query_log=query_log, **sections,
    )  # fmt: skip


@pytest.fixture
async def upstream() -> AsyncIterator[FakeUpstream]:
    async with FakeUpstream() as fake:
        for name in TEST_NAMES:
            fake.add(f"{name}. 3600 IN A {REAL}", f"{name}. 3600 IN AAAA 2001:db8::50")
        yield fake


@pytest.fixture
def config(tmp_path: Path, upstream: FakeUpstream) -> Config:
    # 127.0.0.1 is trusted as a router, so a test may speak for several devices by MAC.
    return site_config(tmp_path / "data", upstream, devices={"trusted_forwarders": ("127.0.0.1",)})


@pytest.fixture
async def site(config: Config, browser: Any) -> AsyncIterator[Site]:
    # ``browser`` first: without chromium the test skips before starting a filter.
    async with running_service(config, timings=Timings(device_record=0.05)) as running:
        server = WebServer(running.service)
        await server.start()
        try:
            yield Site(running.service, server, config)
        finally:
            await server.stop()


# --- the browser ----------------------------------------------------------------


def _skip(reason: str) -> None:
    print(reason)
    pytest.skip(reason)


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        _skip("playwright is not installed: pip install -e '.[test]' (the browser tests need it)")
    executable = shutil.which("chromium")
    if executable is None:
        _skip("chromium is not installed: sudo apt-get install chromium (the browser tests need it)")
    async with async_playwright() as playwright:
        try:
            launched = await playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        except Exception as error:  # noqa: BLE001 - any launch failure means "no usable browser here"
            _skip(f"chromium at {executable} does not start: {str(error).splitlines()[0]}")
        try:
            yield launched
        finally:
            await launched.close()


@dataclass
class Tab:
    """A page of one browser context, with what went wrong in it."""

    page: Any
    context: Any
    site: Site
    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)  # console errors: CSP refusals, failed loads

    async def open(self, route: str = "/") -> None:
        """Open ``#<route>`` and wait until its page (not "Loading") shows its heading."""
        await self.page.goto(f"{self.site.base}/#{route}")
        await self.ready()

    async def ready(self) -> None:
        await self.page.locator("#page-title").first.wait_for(timeout=UI_TIMEOUT_MS)
        await self.page.locator("main .loading").wait_for(state="detached", timeout=UI_TIMEOUT_MS)

    def check_clean(self) -> None:
        assert not self.dialogs, f"the page opened JavaScript dialogs: {self.dialogs}"
        assert not self.errors, f"the page had JavaScript errors: {self.errors}"
        assert not self.console, f"the page logged errors: {self.console}"


async def new_tab(
    browser: Any, site: Site, *, viewport: dict[str, int] = DESKTOP, locale: str = "en-US", **options: Any
) -> Tab:
    context = await browser.new_context(viewport=viewport, locale=locale, **options)
    context.set_default_timeout(UI_TIMEOUT_MS)
    page = await context.new_page()
    tab = Tab(page, context, site)

    async def on_dialog(dialog: Any) -> None:
        tab.dialogs.append(f"{dialog.type}: {dialog.message}")
        await dialog.dismiss()

    page.on("dialog", on_dialog)
    page.on("pageerror", lambda error: tab.errors.append(str(error)))

    def on_console(message: Any) -> None:
        # An API answering 4xx is logged by the browser too; the tests check what the page shows then.
        if message.type == "error" and not message.text.startswith("Failed to load resource: the server responded"):
            tab.console.append(message.text)

    page.on("console", on_console)
    return tab


@pytest.fixture
async def tab(browser: Any, site: Site) -> AsyncIterator[Tab]:
    made = await new_tab(browser, site)
    try:
        yield made
    finally:
        await made.context.close()
    made.check_clean()


async def sign_in(tab: Tab) -> None:
    """Set the password (if not yet), sign in through the API in the tab's context, open the home page."""
    if not await asyncio.to_thread(Accounts(AccountStore(tab.site.store.database)).has_password):
        await tab.site.set_password()
    answer = await tab.context.request.post(
        f"{tab.site.base}/api/login", data={"password": PASSWORD}, headers={"Origin": tab.site.base}
    )
    assert answer.ok, f"login: {answer.status} {await answer.text()}"
    await tab.open("/")


async def api(tab: Tab, path: str) -> Any:
    """GET an API path with the tab's session, as the page would."""
    answer = await tab.context.request.get(f"{tab.site.base}{path}")
    assert answer.ok, f"GET {path}: {answer.status} {await answer.text()}"
    return await answer.json()


# --- the page's texts ------------------------------------------------------------

I18N = Path(__file__).resolve().parents[2] / "webui" / "i18n"


def texts(language: str) -> dict[str, str]:
    """The page's messages in ``language`` (webui/i18n/<language>.json)."""
    return json.loads((I18N / f"{language}.json").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def say(key: str, language: str = "en", **params: str) -> str:
    """A message as the page shows it, with ``{name}`` parameters filled in."""
    text = texts(language).get(key) or texts("en")[key]
    for name, value in params.items():
        text = text.replace("{" + name + "}", value)
    return text
