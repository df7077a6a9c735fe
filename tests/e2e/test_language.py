"""Switching the page to Vietnamese and back; the choice outlives a reload (flow 8)."""

from __future__ import annotations

from tests.e2e.conftest import Tab, expect, say, sign_in
from tests.webpage import Page


async def shows(tab: Tab, language: str) -> None:
    page = tab.page
    await expect(page.locator("html")).to_have_attribute("lang", language)
    await page.get_by_role("heading", name=say("home.title", language), exact=True).wait_for()
    nav = page.get_by_role("navigation", name=say("nav.label", language))
    for key in ("nav.home", "nav.people", "nav.log", "nav.settings"):
        await expect(nav.get_by_role("link", name=say(key, language), exact=True)).to_be_visible()
    await expect(nav.get_by_role("button", name=say("nav.sign_out", language))).to_be_visible()


async def test_the_language_switch_changes_the_texts_and_is_remembered(site: Page, tab: Tab) -> None:
    await sign_in(tab)
    await shows(tab, "en")
    assert say("home.title", "vi") != say("home.title", "en")

    await tab.page.get_by_label(say("common.language", "en")).select_option("vi")
    await shows(tab, "vi")
    await tab.page.reload()
    await tab.ready()
    await shows(tab, "vi")
    await expect(tab.page.get_by_label(say("common.language", "vi"))).to_have_value("vi")

    await tab.open("/people")
    await tab.page.get_by_role("heading", name=say("people.title", "vi"), exact=True).wait_for()
    await tab.page.get_by_label(say("common.language", "vi")).select_option("en")
    await tab.page.get_by_role("heading", name=say("people.title", "en"), exact=True).wait_for()
    await tab.page.reload()
    await tab.ready()
    await tab.page.get_by_role("heading", name=say("people.title", "en"), exact=True).wait_for()
    await expect(tab.page.locator("html")).to_have_attribute("lang", "en")
