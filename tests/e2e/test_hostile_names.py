"""Names from the network are attacker-controlled: query names and DHCP
device names with markup, quotes, ``javascript:`` and control characters show
as text on the home, people and log pages, and nothing runs (flow 9)."""

from __future__ import annotations

import asyncio

import pytest

from tests.e2e.conftest import Tab, api, sign_in
from tests.fakes import raw_query
from tests.webpage import Page, until, utcnow

IMG_NAME = "<img src=x onerror=window.__xss=1>"
SCRIPT_NAME = '"><script>window.__xss=2</script>'
IMG_MAC = "02:16:3e:00:00:31"
SCRIPT_MAC = "02:16:3e:00:00:32"
# Query names as raw DNS labels: any bytes a device may send.
HOSTILE_LABELS = [
    [b"<img src=x onerror=window.__xss=3>", b"example", b"net"],
    [b"\"'><svg onload=window.__xss=4>", b"example", b"net"],
    [b"javascript:window.__xss=5", b"example", b"net"],
    [b"ctl\x00\x07\x1b[31m\x7f\xff", b"example", b"net"],
]


async def record_hostile_devices(site: Page) -> None:
    for mac, name in ((IMG_MAC, IMG_NAME), (SCRIPT_MAC, SCRIPT_NAME)):
        await asyncio.to_thread(site.store.record_seen, f"mac:{mac}", ip="192.168.1.31", mac=mac, name=name, now=utcnow())
        await site.ask("example.net", mac=bytes.fromhex(mac.replace(":", "")))  # so the log names it too


async def test_hostile_names_show_as_text_and_run_nothing(site: Page, tab: Tab) -> None:
    await record_hostile_devices(site)
    for labels in HOSTILE_LABELS:
        await site.send(raw_query(labels))
    await sign_in(tab)
    rows = await until(
        lambda: api(tab, "/api/log?limit=50"), lambda body: len(body["rows"]) >= 2 + len(HOSTILE_LABELS),
        "the hostile queries in the log",
    )
    logged = [row["name"] for row in rows["rows"]]
    page = tab.page

    for route in ("/", "/people", "/log"):
        await tab.open(route)
        if route == "/log":
            await page.locator("table.log-table tbody tr").first.wait_for()
        for name in (IMG_NAME, SCRIPT_NAME):
            await page.locator("main").get_by_text(name).filter(visible=True).first.wait_for()
        if route == "/log":
            for name in logged:
                await page.locator("table.log-table tbody").get_by_text(name).filter(visible=True).first.wait_for()
        assert await page.evaluate("typeof window.__xss") == "undefined", f"markup ran on {route}"
        injected = await page.evaluate(
            """() => document.querySelectorAll('#app img, #app svg[onload], #app script, #app [onerror], '
                    + '#app a[href^="javascript:" i]').length"""
        )
        assert injected == 0, f"markup from the network became elements on {route}"
    tab.check_clean()
    assert any("<img" in name for name in logged), f"the filter did not log the raw name as sent: {logged}"


async def test_the_browser_refuses_an_inline_script_on_the_page(site: Page, tab: Tab) -> None:
    """The Content-Security-Policy is in force: injected markup could not run a script even if it got in."""
    await sign_in(tab)
    with pytest.raises(Exception, match="Content Security Policy"):
        await tab.page.add_script_tag(content="window.__xss = 9")
    assert await tab.page.evaluate("typeof window.__xss") == "undefined"
    tab.console.clear()  # the refusal itself is logged
