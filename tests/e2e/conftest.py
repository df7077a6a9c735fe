"""The parents' page in a real browser: Debian's chromium driven by
Playwright's async API, in the same event loop as a real filter (SQLite in
tmp_path) with its page on 127.0.0.1 port 0.

- ``site``: the running filter and page (``Page``: base URL, service, server,
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
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from dnsfilter.config import Config
from dnsfilter.service.accounts import Accounts
from dnsfilter.service.timings import Timings
from dnsfilter.store.accounts import AccountStore
from tests.fakes import FakeUpstream
from tests.webpage import PASSWORD, Page, answer_test_names, page_config, running_page

expect: Any = None  # playwright's assertions that wait; None without playwright
try:  # without playwright the tests skip (see ``browser``), they do not fail to import
    import playwright.async_api

    expect = playwright.async_api.expect
except ImportError:  # pragma: no cover
    pass

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 360, "height": 740}
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-quic",
]  # fmt: skip
UI_TIMEOUT_MS = 10_000  # the longest a page may take to show what a test waits for


@pytest.fixture
async def upstream() -> AsyncIterator[FakeUpstream]:
    async with FakeUpstream() as fake:
        answer_test_names(fake)
        yield fake


def site_config(data_dir: Path, upstream: FakeUpstream, **sections: dict[str, Any]) -> Config:
    return page_config(data_dir, upstream, f"sqlite:///{data_dir / 'policy.db'}", **sections)


@pytest.fixture
def config(tmp_path: Path, upstream: FakeUpstream) -> Config:
    # 127.0.0.1 is trusted as a router, so a test may speak for several devices by MAC.
    return site_config(tmp_path / "data", upstream, devices={"trusted_forwarders": ("127.0.0.1",)})


@pytest.fixture
async def site(config: Config, browser: Any) -> AsyncIterator[Page]:
    # ``browser`` first: without chromium the test skips before starting a filter.
    async with running_page(config, timings=Timings(device_record=0.05)) as running:
        yield running


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
    site: Page
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
    browser: Any, site: Page, *, viewport: dict[str, int] = DESKTOP, locale: str = "en-US", **options: Any
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
async def tab(browser: Any, site: Page) -> AsyncIterator[Tab]:
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
