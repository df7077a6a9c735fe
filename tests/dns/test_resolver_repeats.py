"""The pipeline (``Resolver.handle``) when packets come again: reply headers
rendered once per form and replies reused within the second must match what
the full pipeline gives, in bytes and in the counters."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from dnsfilter.dns import wire
from dnsfilter.dns.resolver import Resolver
from tests.dns.test_resolver import (  # noqa: F401 - fixtures
    CHILD,
    StubUpstream,
    answered,
    awaited,
    family,
    resolver,
    router,
    upstream,
)
from tests.fakes import make_query
from tests.policy.test_snapshot import index  # noqa: F401 - a fixture
from tests.running import FrozenClock

REPEATS = 5


@pytest.fixture
def frozen(resolver: Resolver) -> FrozenClock:  # noqa: F811
    """The resolver's clock, stopped: every repeat falls in the same second."""
    clock = FrozenClock()
    resolver.clock = clock
    return clock


def with_rd(packet: bytes, rd: bool) -> bytes:
    flags = int.from_bytes(packet[2:4], "big") & ~wire.RD | (wire.RD if rd else 0)
    return packet[:2] + flags.to_bytes(2, "big") + packet[4:]


# RD is 0x100: an odd advertised size once shared a header key with RD.
ODD_UDP_SIZE = 1233


@pytest.mark.parametrize("first_rd", [True, False], ids=["RD=1 asked first", "RD=0 asked first"])
async def test_rd_is_echoed_on_a_miss_and_a_hit_with_an_odd_udp_size(
    resolver: Resolver, first_rd: bool  # noqa: F811
) -> None:
    resolver.settings = replace(resolver.settings, udp_size=ODD_UDP_SIZE)
    packet = make_query("example.net", qid=3, edns=True, udp_size=ODD_UDP_SIZE)
    miss = await awaited(resolver.handle(with_rd(packet, first_rd), CHILD, False))
    hit = answered(resolver.handle(with_rd(packet, not first_rd), CHILD, False))
    assert (miss.header.rd, hit.header.rd) == (int(first_rd), int(not first_rd))
    assert hit.header.id == 3 and str(hit.rr[0].rdata) == "192.0.2.10"


async def test_rd_is_echoed_to_clients_waiting_on_one_upstream_answer(
    resolver: Resolver, upstream: StubUpstream  # noqa: F811
) -> None:
    resolver.settings = replace(resolver.settings, udp_size=ODD_UDP_SIZE)
    packet = make_query("example.net", edns=True, udp_size=ODD_UDP_SIZE)
    upstream.release.clear()
    waiting = [
        asyncio.ensure_future(awaited(resolver.handle(with_rd(packet, rd), client, False)))
        for rd, client in ((True, CHILD), (False, "192.168.1.24"))
    ]
    await asyncio.sleep(0)
    upstream.release.set()
    replies = await asyncio.gather(*waiting)
    assert [reply.header.rd for reply in replies] == [1, 0] and upstream.asked == [("example.net", 1)]


@pytest.mark.parametrize(
    ("name", "counter"),
    [("www.adult.example", "blocked"), ("use-application-dns.net", "answered_locally")],
    ids=["blocked", "bypass canary"],
)
def test_repeated_answers_of_our_own_are_all_counted(
    resolver: Resolver, frozen: FrozenClock, name: str, counter: str  # noqa: F811
) -> None:
    packet = make_query(name, qid=11)
    replies = {resolver.handle(packet, CHILD, False) for _ in range(REPEATS)}
    assert len(replies) == 1  # the same bytes each time: the repeats were reused
    assert getattr(resolver.stats, counter) == REPEATS


async def test_repeated_cache_hits_are_all_counted(
    resolver: Resolver, upstream: StubUpstream, frozen: FrozenClock  # noqa: F811
) -> None:
    packet = make_query("example.net", qid=12)
    await awaited(resolver.handle(packet, CHILD, False))
    replies = {resolver.handle(packet, CHILD, False) for _ in range(REPEATS)}
    assert len(replies) == 1 and upstream.asked == [("example.net", 1)]
    assert (resolver.cache.hits, resolver.cache.misses) == (REPEATS, 1)
