"""Keeping the policy current: when to rebuild, noticing changes, recording devices."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from dnsfilter.lists.index import DomainIndex
from dnsfilter.policy.identity import ClientId
from dnsfilter.service.keeper import PolicyKeeper
from dnsfilter.store import PolicyStore, open_database

BERLIN = ZoneInfo("Europe/Berlin")
# Wednesday 2026-03-11 12:00:20 in Berlin (UTC+1).
NOW = datetime(2026, 3, 11, 11, 0, 20, tzinfo=UTC).timestamp()


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store(database_url: str) -> Iterator[PolicyStore]:
    database = open_database(database_url)
    yield PolicyStore(database)
    database.close()


def make_keeper(store: PolicyStore, now: float = NOW, poll_interval: float = 2.0) -> tuple[PolicyKeeper, Clock]:
    clock = Clock(now)
    return PolicyKeeper(store, BERLIN, ("denied.example",), wall_clock=clock, poll_interval=poll_interval), clock


def default_id(store: PolicyStore) -> int:
    return next(profile.id for profile in store.list_profiles() if profile.is_default)


async def test_due_at_the_next_minute_or_the_next_scheduled_change(store: PolicyStore) -> None:
    keeper, clock = make_keeper(store)
    snapshot = await keeper.load(DomainIndex.empty)
    assert keeper.seconds_until_due(snapshot) == pytest.approx(40.0)
    # Rules start on whole minutes; an override ending in 7 s comes before the next one.
    at = datetime.fromtimestamp(NOW, UTC)
    store.pause_profile(default_id(store), now=at, created_by="test", until=at + timedelta(seconds=7))
    snapshot = await keeper.load(DomainIndex.empty)
    assert keeper.seconds_until_due(snapshot) == pytest.approx(7.0)
    clock.now = NOW + 9  # already past: due at once
    assert keeper.seconds_until_due(snapshot) == 0.0


async def test_config_deny_names_apply_to_every_profile(store: PolicyStore) -> None:
    store.create_profile("Mia", now=datetime.fromtimestamp(NOW, UTC))
    keeper, _clock = make_keeper(store)
    snapshot = await keeper.load(DomainIndex.empty)
    for profile in snapshot.profiles.values():
        decision = snapshot.decide("www.denied.example", 1, profile)
        assert decision.blocked and decision.list_id == "config"


async def test_a_change_is_noticed(store: PolicyStore) -> None:
    keeper, _clock = make_keeper(store, poll_interval=0.05)
    snapshot = await keeper.load(DomainIndex.empty)
    assert not await keeper.wait_for_change(snapshot.version, 0.2)
    other = PolicyStore(open_database(str(store.database.engine.url.render_as_string(hide_password=False))))
    try:
        other.deny_domain(default_id(other), "games.example")
    finally:
        other.database.close()
    assert await keeper.wait_for_change(snapshot.version, 5.0)
    rebuilt = await keeper.load(DomainIndex.empty)
    assert rebuilt.version > snapshot.version
    assert rebuilt.decide("games.example", 1, rebuilt.default_profile).blocked


async def test_woken_ends_the_wait(store: PolicyStore) -> None:
    keeper, _clock = make_keeper(store)
    snapshot = await keeper.load(DomainIndex.empty)
    asyncio.get_running_loop().call_later(0.1, keeper.woken.set)
    started = time.monotonic()
    assert await keeper.wait_for_change(snapshot.version, 30.0)
    assert time.monotonic() - started < 2.5
    assert not keeper.woken.is_set()  # consumed


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_postgresql_announces_changes_before_the_next_poll(store: PolicyStore) -> None:
    keeper, _clock = make_keeper(store, poll_interval=20.0)
    snapshot = await keeper.load(DomainIndex.empty)
    waiting = asyncio.ensure_future(keeper.wait_for_change(snapshot.version, 30.0))
    await asyncio.sleep(0.5)  # the listener is connected
    started = time.monotonic()
    await asyncio.to_thread(store.deny_domain, default_id(store), "games.example")
    assert await asyncio.wait_for(waiting, 10.0)
    assert time.monotonic() - started < 5.0
    keeper.close()


def device(key: str, ip: str, name: str | None = None) -> ClientId:
    mac = key.removeprefix("mac:") if key.startswith("mac:") else None
    return ClientId(key, ip, mac, name, "arp" if mac else "ip-only")


def test_recording_devices(store: PolicyStore) -> None:
    keeper, clock = make_keeper(store)
    tablet = device("mac:aa:bb:cc:dd:ee:01", "192.168.1.20", "mia-tablet")
    assert keeper.record_devices([tablet])  # new: the policy changed
    [recorded] = store.list_devices()
    assert (recorded.key, recorded.ip, recorded.name, recorded.is_new) == (tablet.key, tablet.ip, tablet.name, True)
    assert recorded.profile_id == default_id(store)

    version = store.policy_version()
    clock.now += 30
    assert not keeper.record_devices([tablet])  # nothing new, and not yet a minute: nothing written
    assert store.policy_version() == version
    clock.now += 31
    assert not keeper.record_devices([tablet])
    assert store.list_devices()[0].last_seen == datetime.fromtimestamp(clock.now, UTC)
    assert store.policy_version() == version  # last_seen alone changes no rules

    moved = device(tablet.key, "192.168.1.21", "mia-tablet")
    assert keeper.record_devices([moved])  # a new address: the snapshot must know
    assert store.list_devices()[0].ip == "192.168.1.21"


def test_hostile_device_names_are_stored_exactly(store: PolicyStore) -> None:
    keeper, _clock = make_keeper(store)
    name = "<script>alert(1)</script>\x1b[31m"
    keeper.record_devices([device("ip:192.168.1.66", "192.168.1.66", name)])
    assert store.list_devices()[0].name == name


def test_a_device_seen_after_a_day_is_written_again(store: PolicyStore) -> None:
    keeper, clock = make_keeper(store)
    phone = device("ip:192.168.1.30", "192.168.1.30")
    keeper.record_devices([phone])
    clock.now += timedelta(days=1).total_seconds()
    keeper.record_devices([phone])
    assert store.list_devices()[0].last_seen == datetime.fromtimestamp(clock.now, UTC)
