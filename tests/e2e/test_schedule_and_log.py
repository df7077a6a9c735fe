"""A bedtime window added on the schedule page, and the query log's search
and "Why?" explanation (flows 5 and 7)."""

from __future__ import annotations

import asyncio

from tests.e2e.conftest import Tab, api, expect, say, sign_in
from tests.e2e.test_family import give_this_machine_to, make_child
from tests.webpage import BLOCKED, REAL, Page, until


async def test_a_bedtime_window_added_on_the_schedule_shows_on_the_grid_and_in_the_api(site: Page, tab: Tab) -> None:
    mia = await asyncio.to_thread(make_child, site.store)
    await sign_in(tab)
    await tab.open(f"/schedule/{mia}")
    page = tab.page
    await page.get_by_text(say("pages.sched.none")).wait_for()

    # An empty hour of the grid opens the form for that day and hour.
    wednesday = say("pages.sched.add_at", day="Wednesday", hour="15:00")
    await page.get_by_role("button", name=wednesday, exact=True).click()
    form = page.locator("form.rule-form")
    await expect(form.get_by_label(say("pages.sched.from"), exact=True)).to_have_value("15:00")
    await expect(form.get_by_label(say("pages.sched.to"), exact=True)).to_have_value("16:00")
    await form.get_by_role("button", name=say("common.cancel")).click()
    await form.wait_for(state="detached")

    await page.get_by_role("button", name=say("pages.sched.add"), exact=True).click()
    await form.get_by_label(say("pages.days.school_days")).check()
    await form.get_by_label(say("pages.sched.from"), exact=True).fill("21:00")
    await form.get_by_label(say("pages.sched.to"), exact=True).fill("06:30")
    await form.get_by_label(say("pages.sched.bedtime")).check()
    await form.get_by_label(say("pages.sched.allow_label")).fill("kids.example")
    await form.get_by_role("button", name=say("common.save")).click()
    await form.wait_for(state="detached")

    # On the grid: Monday's evening piece (21:00 to midnight) and Tuesday's morning one.
    grid = page.get_by_role("group", name=say("pages.sched.week"), exact=True)
    windows = grid.locator("button.wg-win")
    await expect(windows).to_have_count(10)  # five school days, each split at midnight
    assert "21:00" in (await windows.first.inner_text())
    monday = grid.get_by_role("button", name=say("pages.sched.bedtime")).filter(has_text="21:00").first
    await monday.wait_for()
    await page.get_by_text(say("pages.sched.still_allowed", names="kids.example")).wait_for()

    rules = (await api(tab, f"/api/profiles/{mia}"))["rules"]
    assert [(r["weekdays"], r["start"], r["end"], r["action"], r["allow"], r["enabled"]) for r in rules] == [
        ([0, 1, 2, 3, 4], "21:00", "06:30", "allow_only", ["kids.example"], True)
    ]


async def test_searching_the_log_and_asking_why_shows_the_list_line(site: Page, tab: Tab) -> None:
    mia = await asyncio.to_thread(make_child, site.store, "Mia, 9", ("games",))
    await asyncio.to_thread(give_this_machine_to, site.store, mia)
    await site.answers_within("games.example", BLOCKED)
    for name in ("example.net", "kids.example", "play.example"):
        await site.ask(name)
    await sign_in(tab)
    await until(lambda: api(tab, "/api/log?limit=50"), lambda body: len(body["rows"]) >= 4, "the queries in the log")
    await tab.open("/log")
    page = tab.page
    table = page.locator("table.log-table tbody")
    await expect(table.locator("tr").filter(has_text="example.net")).not_to_have_count(0)

    await page.get_by_label(say("pages.log.blocked_only")).check()
    await page.get_by_role("button", name=say("pages.log.apply"), exact=True).click()
    await expect(table.locator("tr").filter(has_text="example.net")).to_have_count(0)
    await expect(table.locator("tr").filter(has_text="play.example")).not_to_have_count(0)

    await page.get_by_label(say("pages.log.text")).fill("games")
    await page.get_by_role("button", name=say("pages.log.apply"), exact=True).click()
    await expect(table.locator("tr").filter(has_text="play.example")).to_have_count(0)
    row = table.locator("tr").filter(has_text="games.example").first
    await row.wait_for()

    await row.get_by_role("button", name=say("pages.log.why_named", name="games.example")).click()
    why = page.get_by_role("dialog", name=say("pages.why.title"))
    await why.wait_for()
    await why.get_by_text(say("pages.why.because", reason=say("pages.log.reason.category", category="Games"))).wait_for()
    # Which filter answered: two filters may share one log.
    await why.get_by_text(say("pages.log.answered_by", name=site.config.instance_name)).wait_for()
    matches = why.locator("table").filter(has=page.get_by_role("columnheader", name=say("pages.why.line")))
    line = matches.locator("tr").filter(has_text="||games.example^")
    await expect(line).to_contain_text("2")  # the second line of tests/fixtures/blocklists/lists/games.adblock.txt
    await expect(line).to_contain_text("test-games")
    assert await site.ask("example.net") == REAL
