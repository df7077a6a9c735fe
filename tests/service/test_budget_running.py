"""Daily budgets through a running filter: the query log counts the minutes,
the policy reads them, and the category is blocked once they are used up;
a grant gives time back; filters sharing a database count a minute once.

Every test runs on SQLite and on PostgreSQL (``database_url``). Queries come
from 127.0.0.1, the device "ip:127.0.0.1". The family's zone is one in which
it is about noon while the test runs, so no test crosses the family's midnight.
Waiting is polling until a deadline, never a fixed sleep.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from dnslib import DNSRecord
from sqlalchemy import select

from dnsfilter.cli.explanation import format_explanation
from dnsfilter.config import Config
from dnsfilter.policy.budgets import local_day
from dnsfilter.service.explain import Subject, explain
from dnsfilter.service.logwriter import write_batch
from dnsfilter.store import PolicyStore
from dnsfilter.store.querylog.models import QueryLogRow
from dnsfilter.store.querylog.writer import Batch
from tests.fakes import DnsClient, FakeUpstream
from tests.running import RunningFilter, make_config, running_service
from tests.service.test_running_policy import DEVICE, REAL, mia, store, utcnow  # noqa: F401 - mia and store are fixtures

DEADLINE = 8.0  # seconds: a flush (0.2 s), then a policy read (SQLite polls every 2 s)


def noon_zone() -> str:
    """A fixed-offset zone in which it is 12:xx now (Etc/GMT-5 is UTC+5)."""
    offset = 12 - utcnow().hour
    return f"Etc/GMT{-offset:+d}"


async def ask(running: RunningFilter, name: str) -> str:
    reply = DNSRecord.parse(await DnsClient(timeout=2.0).udp(bytes(DNSRecord.question(name).pack()), running.address))
    return " ".join(str(rr.rdata) for rr in reply.rr)


async def answers_eventually(running: RunningFilter, name: str, expected: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while (answer := await ask(running, name)) != expected:
        if time.monotonic() > deadline:
            pytest.fail(f"{name} is still answered {answer!r} after {DEADLINE} s, not {expected!r}")
        await asyncio.sleep(0.05)


async def until(what: str, check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + DEADLINE
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {DEADLINE} s")
        await asyncio.sleep(0.05)


@pytest.fixture
async def upstream() -> AsyncIterator[FakeUpstream]:
    async with FakeUpstream() as fake:
        for name in ("games.example", "example.net"):
            fake.add(f"{name}. 3600 IN A {REAL}")
        yield fake


@pytest.fixture
def zone() -> str:
    return noon_zone()


@pytest.fixture
def config_for(tmp_path: Path, upstream: FakeUpstream, database_url: str, zone: str) -> Callable[[str], Config]:
    """The configuration of a filter called ``instance`` on the shared database."""

    def config(instance: str) -> Config:
        made = make_config(
            tmp_path / instance,
            [upstream.address],
            database={"url": database_url},
            query_log={"flush_seconds": 0.2, "instance": instance},
        )
        return dataclasses.replace(made, time_zone=zone)

    return config


def today(zone: str) -> int:
    return local_day(utcnow(), ZoneInfo(zone))


def used_minutes(running: RunningFilter, profile_id: int) -> list[int | None]:
    """The minutes used today of each budget, as the filter's policy in force has them."""
    return [use.used for use in running.service.resolver.policy.profiles[profile_id].budgets]


def explained(running: RunningFilter, store: PolicyStore, profile_id: int, zone: str, name: str) -> str:
    """``dnsfilter explain`` for the profile, on the policy the filter has in force."""
    snapshot = running.service.resolver.policy
    stored = next(profile for profile in store.load_all(utcnow()).profiles if profile.id == profile_id)
    subject = Subject("profile", stored, snapshot.profiles[profile_id])
    return format_explanation(explain(name, 1, subject, snapshot, running.service.blocklists, ZoneInfo(zone)))


def logged_reasons(store: PolicyStore, name: str) -> set[str]:
    with store.database.reading() as session:
        return set(session.scalars(select(QueryLogRow.reason).where(QueryLogRow.name == name)))


async def test_a_used_up_budget_blocks_until_a_grant_gives_time(
    store: PolicyStore, mia: int, zone: str, config_for: Callable[[str], Config]
) -> None:
    store.set_budget(mia, "games", 1)
    async with running_service(config_for("filter-a")) as running:
        assert "    games: 0 of 1 minutes used today, 1 left" in explained(running, store, mia, zone, "games.example")
        # The first minute is allowed, and the query log counts it...
        assert await ask(running, "games.example") == REAL
        await until("the minute is stored", lambda: store.minutes_used(mia, today(zone)) == {"games": 1})
        # ...which uses up the budget: blocked once the policy is read again (each minute, or now).
        running.service.keeper.woken.set()
        await answers_eventually(running, "games.example", "0.0.0.0")
        assert await ask(running, "example.net") == REAL
        await until("the block is logged as a budget block", lambda: "budget" in logged_reasons(store, "games.example"))

        text = explained(running, store, mia, zone, "games.example")
        assert "  Why: the category games has used 1 of its 1 minutes for today (a daily budget): " in text
        assert "    games: 1 of 1 minutes used today: spent, blocked until midnight" in text

        # "+30 minutes": a grant lifts the block while it lasts; its end blocks again.
        grant = store.grant_tag(mia, "games", now=utcnow(), created_by="Mum", minutes=30)
        await answers_eventually(running, "games.example", REAL)
        text = explained(running, store, mia, zone, "games.example")
        assert "  Why: a temporary override unblocks it: grant unblocking the category games" in text
        assert "    games: 1 of 1 minutes used today: spent, a grant unblocks it for now" in text
        store.cancel_override(grant.id)
        await answers_eventually(running, "games.example", "0.0.0.0")


async def test_filters_sharing_the_database_count_a_minute_once(
    store: PolicyStore, mia: int, zone: str, config_for: Callable[[str], Config]
) -> None:
    store.set_budget(mia, "games", 2)
    async with AsyncExitStack() as stack:
        filters = [await stack.enter_async_context(running_service(config_for(name))) for name in ("a", "b")]
        # Both filters answer within one minute (not seconds before the next one starts).
        seconds = utcnow().second + utcnow().microsecond / 1e6
        if seconds > 50:
            await asyncio.sleep(60.5 - seconds)
        for running in filters:
            assert await ask(running, "games.example") == REAL

        def both_logged() -> bool:
            with store.database.reading() as session:
                return set(session.scalars(select(QueryLogRow.instance).distinct())) == {"a", "b"}

        await until("both filters wrote their query log", both_logged)
        day = today(zone)
        assert store.minutes_used(mia, day) == {"games": 1}
        for running in filters:
            running.service.keeper.woken.set()
            await until("the filter read the minute used", lambda: used_minutes(running, mia) == [1])
            assert await ask(running, "games.example") == REAL
        text = explained(filters[1], store, mia, zone, "games.example")
        assert "    games: 1 of 2 minutes used today, 1 left" in text

        # Half an hour ago (it is about noon), games on another filter: the second minute.
        local = utcnow().astimezone(ZoneInfo(zone))
        earlier = (mia, "games", day, local.hour * 60 + local.minute - 30)
        write_batch(store.database, Batch([], [], [earlier]))
        assert store.minutes_used(mia, day) == {"games": 2}
        for running in filters:
            running.service.keeper.woken.set()
            await answers_eventually(running, "games.example", "0.0.0.0")
