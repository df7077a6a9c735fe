"""What a parent does most: give a new device to a child, block a category,
pause the Internet; each checked in the page and in the child's real DNS
answers (flows 3, 4 and 6)."""

from __future__ import annotations

import asyncio
import re

from dnsfilter.store import PolicyStore
from tests.e2e.conftest import Tab, api, expect, say, sign_in
from tests.webpage import BLOCKED, DEVICE, REAL, Page, until, utcnow


def make_child(store: PolicyStore, name: str = "Mia, 9", tags: tuple[str, ...] = ()) -> int:
    profile = store.create_profile(name, now=utcnow()).id
    if tags:
        store.add_blocked_tags(profile, tags)
    return profile


def give_this_machine_to(store: PolicyStore, profile: int) -> None:
    """127.0.0.1 (the test's DNS client) is the child's device."""
    seen = store.record_seen(DEVICE, ip="127.0.0.1", mac=None, name="mias-tablet", now=utcnow())
    store.assign_device(seen.device_id, profile)


def person_card(tab: Tab, name: str):  # type: ignore[no-untyped-def]
    return tab.page.locator("section.person").filter(has=tab.page.get_by_role("heading", name=name, exact=True))


async def test_a_new_device_is_given_to_a_child_on_the_home_page(site: Page, tab: Tab) -> None:
    mia = await asyncio.to_thread(make_child, site.store, "Mia, 9", ("games",))
    assert await site.ask("games.example") == REAL  # a new device starts in the default profile
    devices = await until(
        lambda: asyncio.to_thread(site.store.list_devices), lambda found: any(d.key == DEVICE for d in found),
        "the filter to record the device that asked",
    )
    device = next(d for d in devices if d.key == DEVICE)
    await sign_in(tab)

    page = tab.page
    new_devices = page.locator("section").filter(has=page.get_by_role("heading", name=say("home.new_devices")))
    row = new_devices.locator("li").filter(has_text="127.0.0.1")
    await row.wait_for()
    await row.get_by_role("combobox").select_option(label="Mia, 9")
    await row.get_by_role("button", name=say("home.give"), exact=True).click()

    await new_devices.wait_for(state="detached")
    await until(lambda: api(tab, "/api/devices"), lambda found: any(d["id"] == device.id and d["profile_id"] == mia
                and not d["is_new"] for d in found), "the device to belong to Mia")  # fmt: skip
    await person_card(tab, "Mia, 9").get_by_text(say("home.devices", n="1")).wait_for()
    await site.answers_within("games.example", BLOCKED)


async def test_blocking_a_category_on_the_profile_page_changes_the_childs_answers(site: Page, tab: Tab) -> None:
    mia = await asyncio.to_thread(make_child, site.store)
    await asyncio.to_thread(give_this_machine_to, site.store, mia)
    await site.answers_within("games.example", REAL)
    await sign_in(tab)
    await tab.open(f"/profile/{mia}")

    categories = tab.page.locator("section[aria-labelledby=cat-h]")
    games = categories.get_by_role("switch", name="Games")
    assert not await games.is_checked()
    await games.click()  # the switch follows the saved profile, so it turns on once the change is saved
    await expect(games).to_be_checked()
    await tab.page.get_by_role("status").filter(has_text=say("pages.cat.now_blocked", name="Games")).wait_for()

    await site.answers_within("games.example", BLOCKED)
    assert await site.ask("example.net") == REAL
    assert "games" in (await api(tab, f"/api/profiles/{mia}"))["blocked"]

    await games.click()
    await expect(games).not_to_be_checked()
    await site.answers_within("games.example", REAL)


async def test_pausing_a_child_on_the_home_page_blocks_everything_until_the_pause_ends(site: Page, tab: Tab) -> None:
    mia = await asyncio.to_thread(make_child, site.store)
    await asyncio.to_thread(give_this_machine_to, site.store, mia)
    await site.answers_within("example.net", REAL)
    await sign_in(tab)

    card = person_card(tab, "Mia, 9")
    await card.get_by_role("button", name=say("home.pause_1h")).click()
    paused = re.escape(say("home.paused_until", time="")) + r"\d"
    await card.get_by_text(re.compile(paused)).wait_for(timeout=2000)
    await site.answers_within("example.net", BLOCKED)
    await site.answers_within("kids.example", BLOCKED)

    await card.get_by_role("button", name=say("home.end_pause")).click()
    await card.get_by_text(re.compile(paused)).wait_for(state="detached", timeout=2000)
    await card.get_by_role("button", name=say("home.pause_1h")).wait_for()
    await site.answers_within("example.net", REAL)
    assert (await api(tab, f"/api/profiles/{mia}"))["overrides"] == []
