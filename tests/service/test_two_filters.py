"""Two filters sharing one PostgreSQL database, as a primary and a secondary
DNS server of one home or school: a change made through either is in force on
both within seconds, the log is one log that says which filter answered, a
minute of screen time counts once however many filters saw it, and while the
database is away both keep their rules and their log, and catch up after.

Both filters run in this process on loopback ports, each with its own data
folder and instance name, with the default timings (the figures under test).
PostgreSQL is cut off through a TcpProxy between the filters and the server;
the test's own connection still reaches it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from pathlib import Path

import pytest
from sqlalchemy import func, select

from dnsfilter.service.timings import Timings
from dnsfilter.store import PolicyStore
from dnsfilter.store.querylog.models import QueryLogRow, UsageMinute
from tests.fakes import FakeUpstream
from tests.running import make_config, running_service
from tests.service.test_querylog_outages import through
from tests.service.test_querylog_running import Asker, LogReader, names, parts, until
from tests.service.test_running_policy import Filter, mia, store  # noqa: F401 - fixtures
from tests.service.test_service_database import proxy  # noqa: F401 - a fixture
from tests.tcpproxy import TcpProxy
from tests.webpage import REAL, answer_test_names, utcnow

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)

BOTH_WITHIN = 5.0  # seconds: a change through one filter is in force on both
CATCH_UP = 15.0  # seconds for the log to arrive once the database is back (retries are capped at 5 s)
BOXES = ("box-a", "box-b")


@pytest.fixture
async def upstream(fake_upstream: FakeUpstream) -> FakeUpstream:
    answer_test_names(fake_upstream)
    return fake_upstream


TwoFilters = Callable[[str], AbstractAsyncContextManager[tuple[Filter, Filter]]]


@pytest.fixture
def two_filters(tmp_path: Path, upstream: FakeUpstream) -> TwoFilters:
    """``async with two_filters(url) as (a, b)``: box-a and box-b on ``url``."""

    @asynccontextmanager
    async def starting(url: str) -> AsyncIterator[tuple[Filter, Filter]]:
        async with AsyncExitStack() as stack:
            started = []
            for box in BOXES:
                config = make_config(
                    tmp_path / box, [upstream.address], database={"url": url}, query_log={"instance": box}
                )
                running = await stack.enter_async_context(running_service(config, timings=Timings()))
                started.append(Filter(running))
            yield started[0], started[1]

    return starting


async def seconds_until(ask: Callable[[], Awaitable[str]], expected: str, within: float) -> float:
    """Seconds until ``ask()`` answers ``expected``; fails after ``within``."""
    began = time.monotonic()
    while (answer := await ask()) != expected:
        if time.monotonic() - began > within:
            pytest.fail(f"still answered {answer!r} after {within} s, not {expected!r}")
        await asyncio.sleep(0.02)
    return time.monotonic() - began


def instances_of(store: PolicyStore, wanted: set[str]) -> dict[str, str]:
    """Which filter logged each of the ``wanted`` names."""
    with store.database.reading() as session:
        rows = session.execute(select(QueryLogRow.name, QueryLogRow.instance).where(QueryLogRow.name.in_(wanted)))
        return {name: instance for name, instance in rows}


async def test_a_change_through_either_filter_is_in_force_on_both_within_seconds(
    two_filters: TwoFilters, store: PolicyStore, mia: int, database_url: str
) -> None:
    async with two_filters(database_url) as (a, b):
        for box in (a, b):
            assert await box.ask("example.net") == REAL and await box.ask("games.example") == REAL
        # A parent's edit on box-a's page goes through box-a's own store.
        assert a.service.store is not None and b.service.store is not None
        a.service.store.deny_domain(mia, "example.net")
        on_b = await seconds_until(lambda: b.ask("example.net"), "0.0.0.0", BOTH_WITHIN)
        on_a = await seconds_until(lambda: a.ask("example.net"), "0.0.0.0", BOTH_WITHIN)
        # ...and the other way round, and from a third place (the command line).
        b.service.store.add_blocked_tags(mia, ["games"])
        back_on_a = await seconds_until(lambda: a.ask("games.example"), "0.0.0.0", BOTH_WITHIN)
        store.pause_profile(mia, now=utcnow(), created_by="parent", minutes=30)
        paused = [await seconds_until(lambda: box.ask("kids.example"), "0.0.0.0", BOTH_WITHIN) for box in (b, a)]
    print(
        f"change through box-a in force on box-b after {on_b * 1000:.0f} ms (box-a {on_a * 1000:.0f} ms); "
        f"through box-b on box-a after {back_on_a * 1000:.0f} ms; a pause from a third store on box-b "
        f"after {paused[0] * 1000:.0f} ms"
    )


async def test_one_log_says_which_filter_answered_and_a_minute_counts_once(
    two_filters: TwoFilters, store: PolicyStore, mia: int, database_url: str
) -> None:
    async with two_filters(database_url) as (a, b):
        asked = {box: names(f"{box}-", 5) for box in BOXES}
        for box, running in zip(BOXES, (a, b)):
            await Asker(running.service).ask_all(asked[box])
        # The same child on the same game through both filters, within one minute.
        while time.time() % 60 > 50:  # not across a minute's end
            await asyncio.sleep(1)
        for running in (a, b):
            assert await running.ask("games.example") == REAL
        for running in (a, b):
            await parts(running.service)[1].flush()
            assert parts(running.service)[1].failures == 0
    logged = instances_of(store, {name for box in BOXES for name in asked[box]})
    assert logged == {name: box for box in BOXES for name in asked[box]}
    with store.database.reading() as session:
        games_minutes = session.execute(
            select(func.count()).select_from(UsageMinute).where(UsageMinute.profile_id == mia, UsageMinute.tag == "games")
        ).scalar_one()
        games_rows = session.execute(
            select(QueryLogRow.instance).where(QueryLogRow.name == "games.example").order_by(QueryLogRow.instance)
        ).scalars().all()
    assert games_rows == list(BOXES)  # each filter logged its own answer...
    assert games_minutes == 1  # ...and the minute of play counts once


async def test_both_keep_filtering_while_the_database_is_away_and_catch_up_after(
    two_filters: TwoFilters, store: PolicyStore, mia: int, database_url: str, proxy: TcpProxy
) -> None:
    store.add_blocked_tags(mia, ["games"])
    reader = LogReader(store.database)
    async with two_filters(through(proxy, database_url)) as (a, b):
        askers = {box: Asker(running.service) for box, running in zip(BOXES, (a, b))}
        proxy.down()
        during = {box: names(f"away-{box}-", 100) for box in BOXES}
        for box, running in zip(BOXES, (a, b)):
            await askers[box].ask_all(during[box])
            assert await running.ask("games.example") == "0.0.0.0"  # the last rules, kept
            assert await running.ask("example.net") == REAL
        for running in (a, b):  # the log waits in memory: its writes fail meanwhile
            writer = parts(running.service)[1]
            await until(lambda: writer.failures, lambda failures: failures > 0, "a failed write")
        proxy.up()
        everything = {name for box in BOXES for name in during[box]}
        logged = await reader.wait_for_names(everything, within=CATCH_UP)
        dropped = [parts(running.service)[0].dropped for running in (a, b)]
        store.deny_domain(mia, "example.net")  # and changes are in force again on both
        for running in (a, b):
            await seconds_until(lambda: running.ask("example.net"), "0.0.0.0", BOTH_WITHIN)
    assert dropped == [0, 0]
    assert sorted(name for name in logged if name in everything) == sorted(everything)  # each once
    assert instances_of(store, everything) == {name: box for box in BOXES for name in during[box]}
    # Not held up by the failing writes (a lock or a connection is waited for in seconds).
    assert max(asker.slowest for asker in askers.values()) < 1.0
