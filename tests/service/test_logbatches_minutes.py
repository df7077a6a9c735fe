"""Screen-time minutes from the query log writer: only answers that reach a
site count, a minute counts once per profile and tag however many queries,
devices or filters saw it, and minutes are local to the family's zone,
across midnight and daylight-saving changes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from dnsfilter.dns.logbuffer import FROM_FILTER, Entries
from dnsfilter.policy.decision import Action, Decision, Reason
from dnsfilter.store import Database
from dnsfilter.store.querylog.models import QueryLogRow, UsageMinute
from tests.service.test_logwriter import (
    BERLIN,
    BLOCKED_ADULT,
    BYPASS,
    OTHER_DEVICE,
    PROFILE,
    REWRITTEN,
    at_utc,
    builder,
    entry,
    store,
)


def minutes_of(batch_minutes: Iterable[tuple[int, str, int, int]]) -> set[tuple[int, str, int, int]]:
    """(profile_id, tag, day, minute) noted, each once."""
    return set(batch_minutes)


def test_only_answers_that_reach_the_site_count_as_screen_time() -> None:
    at = at_utc(2025, 3, 14, 17, 0, 0)  # 18:00 in Berlin
    entries = [
        entry("chatapp.example", at=at),
        entry("games.example", REWRITTEN, at=at + 60),
        entry("adult.example", BLOCKED_ADULT, at=at + 120, upstream=FROM_FILTER),
        entry("games.example", BYPASS, at=at + 180, upstream=FROM_FILTER),
        entry("games.example", Decision(Action.LOCAL_NODATA, Reason.BYPASS), at=at + 240),
        entry("example.org", at=at + 300),  # allowed, but listed under nothing
    ]
    assert minutes_of(builder().build(Entries.of(entries)).minutes) == {
        (PROFILE, "social", 20250314, 1080),
        (PROFILE, "service:chatapp", 20250314, 1080),
        (PROFILE, "games", 20250314, 1081),
    }


def test_a_minute_counts_once_however_many_queries_and_devices() -> None:
    at = at_utc(2025, 3, 14, 17, 0, 0)
    entries = [entry("chatapp.example", at=at + second, device=f"ip:192.0.2.{second}") for second in range(60)]
    entries.append(entry("chatapp.example", at=at + 59.9, profile=4))
    assert minutes_of(builder().build(Entries.of(entries)).minutes) == {
        (PROFILE, "social", 20250314, 1080),
        (PROFILE, "service:chatapp", 20250314, 1080),
        (4, "social", 20250314, 1080),
        (4, "service:chatapp", 20250314, 1080),
    }


LOCAL_MINUTES = {
    # (zone, UTC time, expected (YYYYMMDD, real minutes since the local midnight))
    "before local midnight": (BERLIN, (2025, 3, 14, 22, 59, 30), (20250314, 23 * 60 + 59)),
    "after local midnight": (BERLIN, (2025, 3, 14, 23, 0, 10), (20250315, 0)),
    "utc zone, same instant": (ZoneInfo("UTC"), (2025, 3, 14, 23, 0, 10), (20250314, 23 * 60)),
    "west of utc, day before": (ZoneInfo("America/Los_Angeles"), (2025, 3, 15, 6, 59, 0), (20250314, 23 * 60 + 59)),
    "dst day, last minute before the change": (BERLIN, (2026, 3, 29, 0, 59, 59), (20260329, 1 * 60 + 59)),
    # 03:00 local, the hour after 01:59: two real hours since midnight.
    "dst day, first minute after the change": (BERLIN, (2026, 3, 29, 1, 0, 0), (20260329, 2 * 60)),
    "dst day, evening (summer time)": (BERLIN, (2026, 3, 29, 20, 30, 0), (20260329, 21 * 60 + 30)),
    # Back to winter time, 2026-10-25: 02:00-03:00 local happens twice, an hour apart.
    "end of dst, first 02:30": (BERLIN, (2026, 10, 25, 0, 30, 0), (20261025, 2 * 60 + 30)),
    "end of dst, second 02:30": (BERLIN, (2026, 10, 25, 1, 30, 0), (20261025, 3 * 60 + 30)),
}


@pytest.mark.parametrize(("zone", "utc", "expected"), LOCAL_MINUTES.values(), ids=LOCAL_MINUTES.keys())
def test_screen_time_minutes_are_local(
    zone: ZoneInfo, utc: tuple[int, int, int, int, int, int], expected: tuple[int, int]
) -> None:
    batch = builder(zone).build(Entries.of([entry("games.example", at=at_utc(*utc))]))
    assert minutes_of(batch.minutes) == {(PROFILE, "games", *expected)}


def used_minutes(start: float, count: int) -> list[tuple[int, int]]:
    """(day, minute) noted for a game played ``count`` real minutes from ``start``, in Berlin."""
    entries = [entry("games.example", at=start + 60 * m) for m in range(count)]
    return sorted((day, minute) for _, _, day, minute in minutes_of(builder().build(Entries.of(entries)).minutes))


def test_the_night_the_clocks_go_forward_every_real_minute_counts_once() -> None:
    """Berlin, 2026-03-29: 02:00 local does not exist; two real hours from 01:00 are 120 minutes."""
    minutes = used_minutes(at_utc(2026, 3, 29, 0, 0, 0), 120)  # 01:00 local, then 03:00 after an hour
    assert minutes == [(20260329, minute) for minute in range(60, 180)]


def test_the_night_the_clocks_go_back_the_repeated_hour_counts_too() -> None:
    """Berlin, 2026-10-25: 02:00-03:00 local happens twice; a child playing through
    both has played two hours, and the day has 1,500 minutes."""
    minutes = used_minutes(at_utc(2026, 10, 25, 0, 0, 0), 120)  # 02:00 summer time, then 02:00 winter time
    assert minutes == [(20261025, minute) for minute in range(120, 240)]
    assert used_minutes(at_utc(2026, 10, 25, 22, 59, 0), 2) == [(20261025, 1499), (20261026, 0)]


def stored_minutes(database: Database) -> set[tuple[int, str, int, int]]:
    with database.reading() as session:
        rows = session.execute(select(UsageMinute)).scalars()
        return {(m.profile_id, m.tag, m.day, m.minute) for m in rows}


async def test_two_filters_sharing_a_database_count_a_minute_once(open_db: Callable[..., Database]) -> None:
    first, second = open_db(), open_db()  # two instances, each with its own connections
    at = at_utc(2025, 3, 14, 17, 0, 0)
    seen_by_a = [entry("games.example", at=at + 5), entry("chatapp.example", at=at)]
    seen_by_b = [entry("games.example", at=at + 50, device=OTHER_DEVICE)]
    await asyncio.gather(
        store(first, seen_by_a, builder(instance="filter-a")), store(second, seen_by_b, builder(instance="filter-b"))
    )
    await store(second, [entry("games.example", at=at + 59)], builder(instance="filter-b"))
    assert stored_minutes(first) == {
        (PROFILE, "games", 20250314, 1080),
        (PROFILE, "social", 20250314, 1080),
        (PROFILE, "service:chatapp", 20250314, 1080),
    }
    with first.reading() as session:
        instances = session.execute(select(QueryLogRow.instance).order_by(QueryLogRow.id)).scalars().all()
    assert sorted(instances) == ["filter-a", "filter-a", "filter-b", "filter-b"]
