"""The family policy through a running filter, over time: changes in the
database reach the answers, devices are recorded, overrides and schedules
start and end on time, and DNS keeps its rules while the database cannot
be read.

Every test runs on SQLite and on PostgreSQL (``database_url``). Queries come
from 127.0.0.1, which the filter knows as the device "ip:127.0.0.1". Waiting
is polling DNS (or the store) until a deadline, never a fixed sleep. The
answers the filter builds for a profile (TTL caps, safe search, bypass
protection, CNAME chains, forwarded devices, block modes) are tested in
test_running_policy_answers.py, with the helpers defined here.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from dnslib import EDNS0, DNSRecord, EDNSOption

from dnsfilter.errors import StoreError
from dnsfilter.policy.records import DeviceData
from dnsfilter.service import app
from dnsfilter.service.timings import Timings
from dnsfilter.store import PolicyStore, open_database
from tests.fakes import DnsClient, FakeUpstream
from tests.running import RunningFilter, make_config, running_service
from tests.webpage import DEVICE, REAL, answer_test_names, describe, utcnow

AAAA_OF = {REAL: "2001:db8::50", "0.0.0.0": "::"}  # the same answers for AAAA
DEADLINE = 6.0  # seconds a change may take to reach the answers (SQLite is polled every 2 s)

TEST_NAMES = ("example.net", "adult.example", "games.example", "kids.example", "chatapp.example")


class Filter:
    """Asks the running filter over real sockets."""

    def __init__(self, running: RunningFilter) -> None:
        self.running = running
        self.service = running.service
        self.client = DnsClient(timeout=2.0)

    async def reply(
        self, name: str, qtype: str = "A", *, transport: str = "udp", mac: bytes | None = None
    ) -> DNSRecord:
        """The parsed reply; ``mac`` adds dnsmasq's EDNS option 65001 with those raw bytes."""
        question = DNSRecord.question(name, qtype)
        if mac is not None:
            question.add_ar(EDNS0(udp_len=1232, opts=[EDNSOption(65001, mac)]))
        send = self.client.udp if transport == "udp" else self.client.tcp
        return DNSRecord.parse(await send(bytes(question.pack()), self.running.address))

    async def ask(self, name: str, qtype: str = "A", *, transport: str = "udp", mac: bytes | None = None) -> str:
        return describe(await self.reply(name, qtype, transport=transport, mac=mac))

    async def answers_eventually(self, name: str, expected: str, qtype: str = "A", within: float = DEADLINE) -> None:
        """Ask until the answer is ``expected``; fail with the last answer after ``within`` seconds."""
        deadline = time.monotonic() + within
        while (answer := await self.ask(name, qtype)) != expected:
            if time.monotonic() > deadline:
                pytest.fail(f"{name} {qtype} is still answered {answer!r} after {within} s, not {expected!r}")
            await asyncio.sleep(0.05)


Serve = Callable[..., AbstractAsyncContextManager[Filter]]


@pytest.fixture
async def upstream() -> AsyncIterator[FakeUpstream]:
    async with FakeUpstream() as fake:
        answer_test_names(fake, TEST_NAMES)
        yield fake


@pytest.fixture
def store(database_url: str) -> Iterator[PolicyStore]:
    """The policy database as the web UI or a second instance sees it: opened apart from the filter."""
    database = open_database(database_url)
    try:
        yield PolicyStore(database)
    finally:
        database.close()


@pytest.fixture
def mia(store: PolicyStore) -> int:
    """A profile of its own (blocking nothing yet) for the device 127.0.0.1."""
    profile = store.create_profile("Mia", now=utcnow())
    seen = store.record_seen(DEVICE, ip="127.0.0.1", mac=None, name=None, now=utcnow())
    store.assign_device(seen.device_id, profile.id)
    return profile.id


@pytest.fixture
def serve(tmp_path: Path, upstream: FakeUpstream, database_url: str) -> Serve:
    """Runs the filter on ``database_url``: ``async with serve(time_zone=..., blocking={...}) as dns``."""

    @asynccontextmanager
    async def serving(
        time_zone: str | None = None, timings: Timings = Timings(), **sections: dict[str, Any]
    ) -> AsyncIterator[Filter]:
        config = make_config(tmp_path / "data", [upstream.address], database={"url": database_url}, **sections)
        config = dataclasses.replace(config, time_zone=time_zone)
        async with running_service(config, timings=timings) as running:
            yield Filter(running)

    return serving


def default_profile_id(store: PolicyStore) -> int:
    return next(profile.id for profile in store.list_profiles() if profile.is_default)


# --- a change in the database reaches the answers ---------------------------------


def block_games(store: PolicyStore, profile_id: int) -> None:
    store.add_blocked_tags(profile_id, ["games"])


def deny_example_net(store: PolicyStore, profile_id: int) -> None:
    store.deny_domain(profile_id, "example.net")


def allow_adult_example(store: PolicyStore, profile_id: int) -> None:
    store.allow_domain(profile_id, "adult.example")


@pytest.mark.parametrize(
    ("name", "before", "change", "after"),
    [
        ("games.example", REAL, block_games, "0.0.0.0"),
        ("example.net", REAL, deny_example_net, "0.0.0.0"),
        ("adult.example", "0.0.0.0", allow_adult_example, REAL),  # the default profile blocks "adult"
    ],
    ids=["block a tag", "deny a name", "allow a name"],
)
@pytest.mark.parametrize("writer", ["the filter's own store", "another store"])
async def test_a_change_in_the_database_reaches_the_answers(
    serve: Serve,
    store: PolicyStore,
    writer: str,
    name: str,
    before: str,
    change: Callable[[PolicyStore, int], None],
    after: str,
) -> None:
    async with serve() as dns:
        # The device is not recorded yet: it is in the default profile, like every new device.
        assert await dns.ask(name) == before
        changing = dns.service.store if writer == "the filter's own store" else store
        assert changing is not None
        change(changing, default_profile_id(store))
        await dns.answers_eventually(name, after)
        assert await dns.ask(name, transport="tcp") == after


# --- devices ------------------------------------------------------------------------


async def recorded(store: PolicyStore, key: str, within: float = DEADLINE) -> DeviceData:
    deadline = time.monotonic() + within
    while True:
        found = [device for device in store.list_devices() if device.key == key]
        if found:
            return found[0]
        if time.monotonic() > deadline:
            pytest.fail(f"{key} was not recorded within {within} s")
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("chosen", [False, True], ids=["default profile", "profile chosen for new devices"])
async def test_a_new_device_is_recorded_and_can_be_given_a_stricter_profile(
    serve: Serve, store: PolicyStore, chosen: bool
) -> None:
    strict = store.create_profile("Strict", now=utcnow()).id
    store.add_blocked_tags(strict, ["games"])
    stricter = store.create_profile("Stricter", now=utcnow()).id
    store.add_blocked_tags(stricter, ["games"])
    store.deny_domain(stricter, "example.net")
    if chosen:
        store.set_new_devices_profile(strict)
    lands_in = strict if chosen else default_profile_id(store)
    async with serve(timings=Timings(device_record=0.05)) as dns:
        # Before it is recorded the device already gets the new devices' profile.
        assert await dns.ask("games.example") == ("0.0.0.0" if chosen else REAL)
        device = await recorded(store, DEVICE)
        assert (device.ip, device.mac, device.is_new, device.profile_id) == ("127.0.0.1", None, True, lands_in)
        assert await dns.ask("example.net") == REAL

        store.assign_device(device.id, stricter)
        await dns.answers_eventually("example.net", "0.0.0.0")
        assert await dns.ask("games.example") == "0.0.0.0"
        assert await dns.ask("kids.example") == REAL
    assert [(d.key, d.profile_id, d.is_new) for d in store.list_devices()] == [(DEVICE, stricter, False)]


# --- overrides that end by themselves ---------------------------------------------------


def pause(store: PolicyStore, profile_id: int, until: datetime) -> None:
    store.pause_profile(profile_id, now=utcnow(), created_by="Mum", until=until)


def allow_adult_for_a_while(store: PolicyStore, profile_id: int, until: datetime) -> None:
    store.add_blocked_tags(profile_id, ["adult"])
    store.allow_name(profile_id, "adult.example", now=utcnow(), created_by="Dad", until=until)


@pytest.mark.parametrize(
    ("override", "name", "during", "after"),
    [(pause, "example.net", "0.0.0.0", REAL), (allow_adult_for_a_while, "adult.example", REAL, "0.0.0.0")],
    ids=["pause", "allow a site"],
)
async def test_an_override_ends_on_time_with_no_further_change(
    serve: Serve,
    store: PolicyStore,
    mia: int,
    override: Callable[[PolicyStore, int, datetime], None],
    name: str,
    during: str,
    after: str,
) -> None:
    store.allow_domain(mia, "kids.example")
    ends = utcnow() + timedelta(seconds=2)
    override(store, mia, ends)
    async with serve() as dns:
        version = store.policy_version()
        assert await dns.ask(name) == during
        assert await dns.ask(name, "AAAA", transport="tcp") == AAAA_OF[during]
        assert await dns.ask("kids.example") == REAL  # the allow list works during a pause too
        await dns.answers_eventually(name, after)
        assert utcnow() >= ends
        assert await dns.ask(name, "AAAA", transport="tcp") == AAAA_OF[after]
    assert store.policy_version() == version


# --- schedules ------------------------------------------------------------------------

# Far from UTC (UTC+14, no daylight saving): a window read in the wrong zone misses by hours.
FAMILY_ZONE = "Pacific/Kiritimati"


def window(zone: str, starts_in: int, minutes: int) -> tuple[str, str]:
    """Start and end ("HH:MM") of a window ``starts_in`` minutes from now on ``zone``'s wall clock."""
    now = datetime.now(ZoneInfo(zone)).replace(second=0, microsecond=0)
    start = now + timedelta(minutes=starts_in)
    return start.strftime("%H:%M"), (start + timedelta(minutes=minutes)).strftime("%H:%M")


@pytest.mark.parametrize(
    ("rule", "written_for", "starts_in", "expected"),
    [
        ("block_tags", FAMILY_ZONE, -10, {"games.example": "0.0.0.0", "example.net": REAL}),
        ("block_tags", FAMILY_ZONE, 60, {"games.example": REAL}),
        ("block_tags", "UTC", -10, {"games.example": REAL}),  # now in UTC is not now in the family's zone
        (
            "allow_only",
            FAMILY_ZONE,
            -10,
            {"example.net": "0.0.0.0", "games.example": "0.0.0.0", "kids.example": REAL, "www.kids.example": REAL},
        ),
        ("allow_only", FAMILY_ZONE, 60, {"example.net": REAL}),
    ],
    ids=["block now", "block later", "block now in another zone", "bedtime now", "bedtime later"],
)
async def test_a_rule_is_in_force_only_during_its_window_in_the_family_zone(
    serve: Serve,
    store: PolicyStore,
    mia: int,
    upstream: FakeUpstream,
    rule: str,
    written_for: str,
    starts_in: int,
    expected: dict[str, str],
) -> None:
    upstream.add(f"www.kids.example. 3600 IN A {REAL}")
    start, end = window(written_for, starts_in, 40)
    if rule == "block_tags":
        store.add_rule(mia, days="daily", start=start, end=end, action=rule, tags=["games"])
    else:
        store.add_rule(mia, days="daily", start=start, end=end, action=rule, allow=["kids.example"])
    async with serve(time_zone=FAMILY_ZONE) as dns:
        assert {name: await dns.ask(name) for name in expected} == expected


# --- database trouble --------------------------------------------------------------------


@contextmanager
def unreadable(database: Path) -> Iterator[None]:
    """Overwrite the SQLite file, its WAL and its shared-memory index in place, and
    put the bytes back afterwards. Open connections keep reading a file that was
    moved or made unreadable (and tests may run as root), so only changing the
    bytes under them makes reads fail."""
    files = [path for path in (database, Path(f"{database}-wal"), Path(f"{database}-shm")) if path.exists()]
    saved = {path: path.read_bytes() for path in files}
    for path, data in saved.items():
        with path.open("r+b") as file:
            file.write(b"\xff" * len(data))
    try:
        yield
    finally:
        for path, data in saved.items():
            with path.open("r+b") as file:
                file.write(data)
                file.truncate()


async def logged(caplog: pytest.LogCaptureFixture, text: str, within: float = DEADLINE) -> None:
    deadline = time.monotonic() + within
    while not any(text in record.getMessage() for record in caplog.records):
        if time.monotonic() > deadline:
            pytest.fail(f"nothing logged with {text!r} within {within} s")
        await asyncio.sleep(0.05)


async def test_dns_keeps_the_last_rules_while_the_database_cannot_be_read(
    serve: Serve,
    store: PolicyStore,
    mia: int,
    database_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL outages are tested through a TCP proxy, in tests of their own")
    caplog.set_level(logging.INFO, logger=app.__name__)
    store.add_blocked_tags(mia, ["games"])
    async with serve(timings=Timings(policy_poll=0.1, store_retry=0.1)) as dns:
        assert await dns.ask("games.example") == "0.0.0.0"
        with unreadable(Path(database_url.removeprefix("sqlite:///"))):
            with pytest.raises(StoreError, match="file is not a database"):
                store.policy_version()
            await logged(caplog, "cannot read the family policy")
            assert await dns.ask("games.example") == "0.0.0.0"
            assert await dns.ask("games.example", "AAAA", transport="tcp") == "::"
            assert await dns.ask("example.net") == REAL
            assert await dns.ask("kids.example", "AAAA") == "2001:db8::50"  # not cached yet: asked upstream
        store.deny_domain(mia, "example.net")
        await dns.answers_eventually("example.net", "0.0.0.0")
        await logged(caplog, "the family policy can be read again")
        assert await dns.ask("games.example") == "0.0.0.0"
