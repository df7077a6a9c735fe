"""What the resolver's counters add up to (``dnsfilter.dns.counts``): every
query counted once by its decision, by its transport and (when it could be
read) by its type, whichever way through the pipeline it went; against the
pipeline itself (``Resolver.handle``) with the stub stages of test_resolver."""

from __future__ import annotations

import pytest
from dnslib import DNSRecord

from dnsfilter.dns import counts
from dnsfilter.dns.resolver import Resolver, ResolverStats
from tests.dns.test_resolver import (  # noqa: F401 - fixtures
    CHILD,
    StubUpstream,
    awaited,
    family,
    resolver,
    router,
    upstream,
)
from tests.fakes import make_query
from tests.policy.test_snapshot import index  # noqa: F401 - a fixture


async def ask(resolver: Resolver, packet: bytes, client: str = CHILD, tcp: bool = False) -> None:  # noqa: F811
    outcome = resolver.handle(packet, client, tcp)
    if outcome is not None and not isinstance(outcome, bytes):
        await outcome


async def test_every_query_is_counted_once_whichever_way_it_went(resolver: Resolver) -> None:  # noqa: F811
    asked = [
        (make_query("example.net"), CHILD, False),  # allowed, asked upstream
        (make_query("example.net"), CHILD, False),  # allowed, from the cache
        (make_query("example.net"), CHILD, False),  # allowed, the reply just sent again
        (make_query("example.net"), CHILD, True),  # allowed, from the cache, over TCP
        (make_query("example.net", "ANY"), CHILD, False),  # allowed, the minimal answer
        (make_query("printer.lan"), CHILD, False),  # allowed, asked of the router
        (make_query("www.adult.example"), CHILD, False),  # blocked
        (make_query("www.adult.example"), CHILD, False),  # blocked, the reply just sent again
        (make_query("cdn.example.net"), CHILD, False),  # blocked once the upstream answered: a CNAME to adult
        (make_query("cdn.example.net"), CHILD, True),  # blocked: the same CNAME from the cache
        (make_query("www.google.com"), CHILD, False),  # safe search, asked upstream
        (make_query("www.google.com"), CHILD, True),  # safe search, from the cache
        (make_query("use-application-dns.net"), CHILD, False),  # bypass protection
        (make_query("example.net"), "203.0.113.9", False),  # refused: not from the home network
        (make_query("example.net")[:-3], CHILD, False),  # malformed
        (b"\x01\x02\x03", CHILD, True),  # malformed, not even a header
        (bytes(DNSRecord.question("version.bind", "TXT", "CH").pack()), CHILD, False),  # not class IN
    ]
    for packet, client, tcp in asked:
        await ask(resolver, packet, client, tcp)
    decided = counts.decisions(resolver.stats, resolver.cache)
    assert decided == {
        "allowed": 6, "blocked": 4, "safe_search": 2, "bypass": 1, "refused": 1, "malformed": 2, "unsupported": 1,
    }  # fmt: skip
    assert sum(decided.values()) == resolver.stats.queries == len(asked)
    assert counts.by_transport(resolver.stats) == {"udp": 13, "tcp": 4}
    assert counts.by_type(resolver.stats) == {"A": 13, "ANY": 1, "TXT": 1}  # the two malformed have no type


async def test_an_allowed_query_waiting_for_upstream_counts_once_answered(
    resolver: Resolver, upstream: StubUpstream  # noqa: F811
) -> None:
    upstream.release.clear()
    pending = resolver.handle(make_query("example.net"), CHILD, False)
    assert resolver.stats.queries == 1 and counts.decisions(resolver.stats, resolver.cache)["allowed"] == 0
    upstream.release.set()
    await awaited(pending)
    assert counts.decisions(resolver.stats, resolver.cache)["allowed"] == 1


@pytest.mark.parametrize(
    ("asked", "expected"),
    [
        ({1: 3, 28: 2, 65: 1}, {"A": 3, "AAAA": 2, "HTTPS": 1}),
        ({1023: 1, 1024: 2, 65535: 4, 65280: 8}, {"other": 15}),
        ({255: 1, 257: 1, 32769: 1}, {"ANY": 1, "CAA": 1, "DLV": 1}),
        ({}, {}),
    ],
    ids=["common", "numbers without a name", "named above 255", "none"],
)
def test_types_are_counted_by_name(asked: dict[int, int], expected: dict[str, int]) -> None:
    stats = ResolverStats()
    for qtype, times in asked.items():
        stats.by_type[qtype] += times
    assert counts.by_type(stats) == expected
