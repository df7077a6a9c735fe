"""Answers a running filter builds for a profile: TTLs capped before the
next change of rules, safe search, bypass protection, blocked names behind
a CNAME, devices named by the router's MAC option, and the block mode.

Every test runs on SQLite and on PostgreSQL. The policy is mostly written
before the filter starts; changes noticed while it runs are the subject of
test_running_policy.py, whose helpers these tests share.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from dnslib import QTYPE, RR, DNSRecord

from dnsfilter.service.timings import Timings
from dnsfilter.store import PolicyStore
from tests.fakes import FakeUpstream
from tests.service.test_running_policy import (  # noqa: F401 - mia, serve and store are fixtures
    DEVICE,
    FAMILY_ZONE,
    REAL,
    Serve,
    describe,
    mia,
    recorded,
    serve,
    store,
    utcnow,
    window,
)

SAFE_SEARCH_RECORDS = (
    "www.google.com. 300 IN A 142.250.74.36",
    "www.google.com. 300 IN AAAA 2a00:1450:4001:82b::2004",
    "www.youtube.com. 300 IN A 142.250.74.46",
    "forcesafesearch.google.com. 300 IN A 216.239.38.120",
    "forcesafesearch.google.com. 300 IN AAAA 2001:4860:4802:32::78",
    "restrictmoderate.youtube.com. 300 IN A 216.239.38.119",
    "restrict.youtube.com. 300 IN A 216.239.38.120",
)

# What a public resolver would answer for the names bypass protection answers itself.
BYPASS_RECORDS = (
    "use-application-dns.net. 300 IN A 192.0.2.80",
    "mask.icloud.com. 300 IN A 192.0.2.81",
    "mask.icloud.com. 300 IN AAAA 2001:db8::81",
    "mask.icloud.com. 300 IN HTTPS 1 . alpn=h2,h3",
    "mask-h2.icloud.com. 300 IN A 192.0.2.82",
    "mask-h2.icloud.com. 300 IN AAAA 2001:db8::82",
    "mask-h2.icloud.com. 300 IN HTTPS 1 . alpn=h2",
    # SVCB 1 dns.example.net. alpn=dot, in the generic form (dnslib has no SVCB type of its own).
    r"_dns.resolver.arpa. 300 IN SVCB \# 27 000103646e73076578616d706c65036e6574000001000403646f74",
)

# An innocent-looking name whose answer leads to one the games list blocks.
CLOAKED = "cloak.example.org"
CLOAK_RECORDS = (f"{CLOAKED}. 300 IN CNAME cdn.games.example.", "cdn.games.example. 300 IN A 192.0.2.70")
UNCLOAKED = "cdn.games.example. 192.0.2.70"


@pytest.fixture
async def upstream() -> AsyncIterator[FakeUpstream]:
    async with FakeUpstream() as fake:
        fake.add(f"example.net. 3600 IN A {REAL}", f"games.example. 3600 IN A {REAL}")
        fake.add("games.example. 3600 IN AAAA 2001:db8::50", 'games.example. 3600 IN TXT "play"')
        fake.add(*SAFE_SEARCH_RECORDS, *BYPASS_RECORDS, *CLOAK_RECORDS)
        yield fake


# --- TTL caps -----------------------------------------------------------------------


def ttl(reply: DNSRecord) -> int:
    assert reply.rr, f"no records in {reply}"
    return min(int(rr.ttl) for rr in reply.rr)


def nothing_scheduled(store: PolicyStore, profile_id: int) -> float | None:
    return None


def override_ending_in_20_seconds(store: PolicyStore, profile_id: int) -> float | None:
    ends = utcnow() + timedelta(seconds=20)
    store.allow_name(profile_id, "adult.example", now=utcnow(), created_by="Dad", until=ends)
    return (ends - utcnow()).total_seconds()


def rule_starting_in_two_minutes(store: PolicyStore, profile_id: int) -> float | None:
    start, end = window("UTC", 2, 30)
    store.add_rule(profile_id, days="daily", start=start, end=end, action="block_tags", tags=["games"])
    starts = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=2)
    return (starts - utcnow()).total_seconds()


@pytest.mark.parametrize(
    ("max_answer_ttl", "schedule"),
    [
        (60, nothing_scheduled),
        (0, override_ending_in_20_seconds),
        (60, override_ending_in_20_seconds),
        (0, rule_starting_in_two_minutes),
        (0, nothing_scheduled),
    ],
    ids=["max_answer_ttl", "override ends", "override ends before max_answer_ttl", "rule starts", "no cap"],
)
async def test_answers_are_not_kept_past_a_change_of_rules(
    serve: Serve,
    store: PolicyStore,
    mia: int,
    max_answer_ttl: int,
    schedule: Callable[[PolicyStore, int], float | None],
) -> None:
    until_change = schedule(store, mia)  # the upstream's TTL is 3600
    async with serve(time_zone="UTC", blocking={"max_answer_ttl": max_answer_ttl}) as dns:
        from_upstream = ttl(await dns.reply("example.net"))
        from_cache = ttl(await dns.reply("example.net", transport="tcp"))
    limits = [limit for limit in (max_answer_ttl, until_change) if limit]
    if limits:
        assert 0 < from_upstream <= min(limits)
        assert 0 < from_cache <= min(limits)
    else:
        assert from_upstream == 3600
        assert 3599 <= from_cache <= 3600  # aged by the cache, at most a second


@pytest.mark.parametrize("paused", [True, False], ids=["pause ends in 20 s", "nothing scheduled"])
async def test_a_block_is_not_kept_past_the_end_of_a_pause(
    serve: Serve, store: PolicyStore, mia: int, paused: bool
) -> None:
    store.add_blocked_tags(mia, ["games"])
    if paused:
        store.pause_profile(mia, now=utcnow(), created_by="Mum", until=utcnow() + timedelta(seconds=20))
    async with serve(time_zone="UTC", blocking={"ttl": 3600}) as dns:
        blocked = ttl(await dns.reply("games.example"))
        again = ttl(await dns.reply("games.example", transport="tcp"))
        if paused:
            assert ttl(await dns.reply("example.net")) <= 20  # the pause blocks everything
    if paused:
        assert 0 < blocked <= 20 and 0 < again <= 20
    else:
        assert blocked == again == 3600


# --- safe search -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("level", "name", "qtype", "target", "address"),
    [
        ("on", "www.google.com", "A", "forcesafesearch.google.com", "216.239.38.120"),
        ("on", "www.google.com", "AAAA", "forcesafesearch.google.com", "2001:4860:4802:32::78"),
        ("strict", "www.google.com", "A", "forcesafesearch.google.com", "216.239.38.120"),
        ("on", "www.youtube.com", "A", "restrictmoderate.youtube.com", "216.239.38.119"),
        ("strict", "www.youtube.com", "A", "restrict.youtube.com", "216.239.38.120"),
        ("off", "www.google.com", "A", None, "142.250.74.36"),
        ("off", "www.youtube.com", "A", None, "142.250.74.46"),
    ],
    ids=["google", "google AAAA", "google strict", "youtube", "youtube strict", "google off", "youtube off"],
)
async def test_safe_search_answers_with_the_engines_filtered_host(
    serve: Serve,
    store: PolicyStore,
    mia: int,
    upstream: FakeUpstream,
    level: str,
    name: str,
    qtype: str,
    target: str | None,
    address: str,
) -> None:
    store.set_safe_search(mia, level)
    async with serve() as dns:
        first = await dns.reply(name, qtype)
        asked = dict(upstream.query_counts)
        second = await dns.reply(name, qtype, transport="tcp")
    expected = address if target is None else f"{target}. {address}"
    assert describe(first) == describe(second) == expected
    assert dict(upstream.query_counts) == asked  # the second answer came from the cache
    assert asked == {(target or name, getattr(QTYPE, qtype)): 1}  # a rewritten name itself is never asked
    if target is not None:
        assert (str(first.rr[0].rname), first.rr[0].rtype) == (f"{name}.", QTYPE.CNAME)


# --- bypass protection ----------------------------------------------------------------


def bypass_case(record: str) -> Any:
    """The record, and what the filter answers for its name and type itself."""
    name, _ttl, _class, qtype = record.split()[:4]
    return pytest.param(record, "NODATA" if name.startswith("_dns.") else "NXDOMAIN", id=f"{name} {qtype}")


@pytest.mark.parametrize(("record", "protected_answer"), [bypass_case(record) for record in BYPASS_RECORDS])
@pytest.mark.parametrize("protected", [True, False], ids=["protected", "not protected"])
async def test_bypass_names_are_answered_here_while_protection_is_on(
    serve: Serve,
    store: PolicyStore,
    mia: int,
    upstream: FakeUpstream,
    protected: bool,
    record: str,
    protected_answer: str,
) -> None:
    rr = RR.fromZone(record)[0]
    name, qtype = str(rr.rname).rstrip("."), QTYPE.get(rr.rtype)
    store.set_bypass_protection(mia, protected)
    async with serve() as dns:
        answer = await dns.ask(name, qtype)
        again = await dns.ask(name, qtype, transport="tcp")
    if protected:
        assert answer == again == protected_answer
        assert upstream.total_queries == 0
    else:
        assert answer == again == str(rr.rdata)
        assert upstream.query_counts[(name, rr.rtype)] == 1


# --- blocked names behind a CNAME -----------------------------------------------------


@pytest.mark.parametrize(
    ("blocked", "allowed", "expected"),
    [(True, False, "0.0.0.0"), (False, False, UNCLOAKED), (True, True, UNCLOAKED)],
    ids=["target blocked", "target not blocked", "alias on the allow list"],
)
async def test_a_blocked_name_behind_a_cname_is_blocked(
    serve: Serve, store: PolicyStore, mia: int, blocked: bool, allowed: bool, expected: str
) -> None:
    if blocked:
        store.add_blocked_tags(mia, ["games"])
    if allowed:
        store.allow_domain(mia, CLOAKED)
    async with serve() as dns:
        from_upstream = await dns.ask(CLOAKED)
        from_cache = await dns.ask(CLOAKED, transport="tcp")
    assert from_upstream == from_cache == expected


async def test_a_cached_answer_is_blocked_once_its_cname_target_is(serve: Serve, store: PolicyStore, mia: int) -> None:
    async with serve() as dns:
        assert await dns.ask(CLOAKED) == UNCLOAKED
        store.add_blocked_tags(mia, ["games"])
        await dns.answers_eventually(CLOAKED, "0.0.0.0")


# Most sites are served from a CDN: the name the parent left open answers with a
# CNAME to a host name nobody would think of listing. Bedtime judges only the
# name the device asked for.
CDN_RECORDS = (
    "wiki.example. 300 IN CNAME dyna.wikicdn.example.",
    "play.games.example. 300 IN CNAME edge.cdn.example.",
    "dyna.wikicdn.example. 300 IN A 192.0.2.90",
    "edge.cdn.example. 300 IN A 192.0.2.91",
)


@pytest.mark.parametrize(
    ("name", "expected"),
    [("wiki.example", "dyna.wikicdn.example. 192.0.2.90"), ("play.games.example", "edge.cdn.example. 192.0.2.91")],
    ids=["name the rule allows", "tag granted for a while"],
)
async def test_a_name_open_during_bedtime_is_not_blocked_by_its_cname_target(
    serve: Serve, store: PolicyStore, mia: int, upstream: FakeUpstream, name: str, expected: str
) -> None:
    upstream.add(*CDN_RECORDS)
    start, end = window(FAMILY_ZONE, -10, 40)
    store.add_rule(mia, days="daily", start=start, end=end, action="allow_only", allow=["wiki.example"])
    store.grant_tag(mia, "games", now=utcnow(), created_by="Mum", minutes=30)
    async with serve(time_zone=FAMILY_ZONE) as dns:
        assert await dns.ask("example.net") == "0.0.0.0"  # bedtime is in force
        assert await dns.ask(name) == expected
        assert await dns.ask(name, transport="tcp") == expected


# --- devices behind a router ------------------------------------------------------------

TABLET_MAC = "02:16:3e:00:00:01"
TABLET_OPTION = bytes.fromhex(TABLET_MAC.replace(":", ""))  # option 65001 carries the 6 raw bytes


@pytest.mark.parametrize(
    ("trusted", "with_option"),
    [(("127.0.0.1",), "0.0.0.0"), ((), REAL)],
    ids=["trusted forwarder", "no trusted forwarder"],
)
async def test_the_mac_option_names_the_device_only_from_a_trusted_forwarder(
    serve: Serve, store: PolicyStore, trusted: tuple[str, ...], with_option: str
) -> None:
    tablet = store.create_profile("Tablet", now=utcnow()).id
    store.add_blocked_tags(tablet, ["games"])
    seen = store.record_seen(f"mac:{TABLET_MAC}", ip="192.168.1.23", mac=TABLET_MAC, name=None, now=utcnow())
    store.assign_device(seen.device_id, tablet)
    async with serve(devices={"trusted_forwarders": trusted}) as dns:
        # In turns: the router speaks for many devices, so no answer may stick to its address.
        for _ in range(2):
            assert await dns.ask("games.example", mac=TABLET_OPTION) == with_option
            assert await dns.ask("games.example") == REAL  # 127.0.0.1 itself, in the default profile
            assert await dns.ask("games.example", mac=TABLET_OPTION, transport="tcp") == with_option


@pytest.mark.parametrize(
    ("trusted", "key"), [(("127.0.0.1",), f"mac:{TABLET_MAC}"), ((), DEVICE)], ids=["trusted", "not trusted"]
)
async def test_a_device_behind_a_trusted_forwarder_is_recorded_by_its_mac(
    serve: Serve, store: PolicyStore, trusted: tuple[str, ...], key: str
) -> None:
    async with serve(devices={"trusted_forwarders": trusted}, timings=Timings(device_record=0.05)) as dns:
        await dns.ask("example.net", mac=TABLET_OPTION)
        device = await recorded(store, key)
    assert (device.ip, device.mac) == ("127.0.0.1", TABLET_MAC if trusted else None)
    assert [device.key for device in store.list_devices()] == [key]


async def test_a_child_cannot_claim_a_parents_mac(serve: Serve, store: PolicyStore, mia: int) -> None:
    store.add_blocked_tags(mia, ["games"])
    parents = store.create_profile("Parents", now=utcnow()).id
    dad = "02:16:3e:00:00:02"
    seen = store.record_seen(f"mac:{dad}", ip="192.168.1.10", mac=dad, name="dads-laptop", now=utcnow())
    store.assign_device(seen.device_id, parents)
    claim = bytes.fromhex(dad.replace(":", ""))
    async with serve() as dns:  # no forwarder is trusted: the option is the child's own
        assert await dns.ask("games.example", mac=claim) == "0.0.0.0"
        assert await dns.ask("games.example", mac=claim, transport="tcp") == "0.0.0.0"


# --- block mode -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "qtype", "expected"),
    [
        ("null_ip", "A", "0.0.0.0"),
        ("null_ip", "AAAA", "::"),
        ("null_ip", "TXT", "NODATA"),
        ("nxdomain", "A", "NXDOMAIN"),
        ("nxdomain", "AAAA", "NXDOMAIN"),
        ("nxdomain", "TXT", "NXDOMAIN"),
    ],
    ids=lambda value: str(value),
)
async def test_blocked_names_are_answered_in_the_profiles_block_mode(
    serve: Serve, store: PolicyStore, mia: int, mode: str, qtype: str, expected: str
) -> None:
    store.add_blocked_tags(mia, ["games"])
    store.set_block_mode(mia, mode)
    async with serve() as dns:
        assert await dns.ask("games.example", qtype) == expected
        assert await dns.ask(CLOAKED, qtype) == expected
        assert await dns.ask("example.net") == REAL
