"""Two filters on one PostgreSQL database, each with its page: the parent's
password works on both, a pause made on one page is in force on the other
filter within seconds, and either page's log shows every query with the
filter that answered it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from dnsfilter.config import Config
from tests.fakes import FakeUpstream
from tests.web.conftest import Client
from tests.web.test_api_policy import record_device
from tests.webpage import BLOCKED, REAL, Page, page_config, running_page

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)

BOTH_WITHIN = 5.0  # seconds


@pytest.fixture
async def pages(tmp_path: Path, upstream: FakeUpstream, database_url: str) -> AsyncIterator[tuple[Page, Page]]:
    async with AsyncExitStack() as stack:
        started = []
        for box in ("box-a", "box-b"):
            config: Config = page_config(tmp_path / box, upstream, database_url, query_log={"instance": box})
            started.append(await stack.enter_async_context(running_page(config)))
        yield started[0], started[1]


async def signed_in(page: Page, stack: AsyncExitStack) -> Client:
    client = Client(page)
    stack.push_async_callback(client.close)
    answer = await client.login()
    assert answer.status == 200, answer.raw
    return client


async def test_one_password_one_policy_one_log_on_both_pages(pages: tuple[Page, Page]) -> None:
    a, b = pages
    await a.set_password()  # set once, through box-a
    async with AsyncExitStack() as stack:
        on_a, on_b = await signed_in(a, stack), await signed_in(b, stack)
        device = await record_device(a)
        profile = await on_a.ok("POST", "/api/profiles", {"name": "Mia"}, 201)
        await on_a.ok("PATCH", f"/api/devices/{device}", {"profile_id": profile["id"]})
        assert await b.ask("example.net") == REAL
        await on_a.ok("POST", f"/api/profiles/{profile['id']}/overrides", {"kind": "pause", "minutes": 30}, 201)
        began = time.monotonic()
        while await b.ask("example.net") != BLOCKED:
            assert time.monotonic() - began < BOTH_WITHIN, "box-b did not apply the pause made on box-a's page"
            await asyncio.sleep(0.05)
        print(f"a pause made on box-a's page was in force on box-b after {(time.monotonic() - began) * 1000:.0f} ms")
        # box-b's page knows the pause, and ends it for both.
        shown = await on_b.ok("GET", f"/api/profiles/{profile['id']}")
        assert [override["kind"] for override in shown["overrides"]] == ["pause"]
        assert (await on_b.delete(f"/api/overrides/{shown['overrides'][0]['id']}")).status == 204
        assert await b.ask("example.net") == REAL
        began = time.monotonic()
        while await a.ask("example.net") != REAL:
            assert time.monotonic() - began < BOTH_WITHIN, "box-a still paused after the pause ended on box-b's page"
            await asyncio.sleep(0.05)
        # One log: box-b's page lists what box-a answered, and says which filter it was.
        await a.ask("only-a.example.net")
        await b.ask("only-b.example.net")
        began = time.monotonic()
        while True:
            rows = (await on_b.ok("GET", "/api/log?name=only-"))["rows"]
            answered = {row["name"]: row["instance"] for row in rows}
            if len(answered) == 2 or time.monotonic() - began > BOTH_WITHIN:
                break
            await asyncio.sleep(0.1)
        assert answered == {"only-a.example.net": "box-a", "only-b.example.net": "box-b"}
