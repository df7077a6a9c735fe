"""First run with the setup code, and signing in (flows 1 and 2)."""

from __future__ import annotations

from tests.e2e.conftest import Tab, say
from tests.webpage import PASSWORD, Page


async def test_the_first_run_takes_the_setup_code_and_a_password_then_shows_home(site: Page, tab: Tab) -> None:
    code = site.server.context.setup_code
    assert code is not None, "a filter without a password offers a setup code"
    page = tab.page
    await tab.open("/")
    await page.get_by_role("heading", name=say("setup.title")).wait_for()

    await page.get_by_label(say("setup.code")).fill("AAAA-BBBB-CC")
    await page.get_by_label(say("setup.password"), exact=True).fill(PASSWORD)
    await page.get_by_label(say("setup.repeat")).fill(PASSWORD)
    await page.get_by_role("button", name=say("setup.submit")).click()
    await page.get_by_role("alert").filter(has_text=say("error.wrong_code")).wait_for()

    await page.get_by_label(say("setup.code")).fill(code.lower())
    await page.get_by_role("button", name=say("setup.submit")).click()
    await page.get_by_role("heading", name=say("home.title")).wait_for()
    assert await page.get_by_role("navigation", name=say("nav.label")).is_visible()


async def test_signing_in_shows_a_wrong_password_then_the_home_page(site: Page, tab: Tab) -> None:
    await site.set_password()
    page = tab.page
    await tab.open("/")
    await page.get_by_role("heading", name=say("login.title")).wait_for()

    await page.get_by_label(say("login.password"), exact=True).fill("not the password at all")
    await page.get_by_role("button", name=say("login.submit")).click()
    await page.get_by_role("alert").filter(has_text=say("error.wrong_password")).wait_for()

    await page.get_by_label(say("login.password"), exact=True).fill(PASSWORD)
    await page.get_by_role("button", name=say("login.submit")).click()
    await page.get_by_role("heading", name=say("home.title")).wait_for()
