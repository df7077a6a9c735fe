"""The pipeline on its own (``Resolver.handle``), against stub stages: a stub
upstream that records what it is asked, a real cache, a policy snapshot built
for the test. No sockets: bytes in, bytes (or a coroutine for a miss) out."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import pytest
from dnslib import QTYPE, RCODE, DNSRecord

from dnsfilter.config.settings import LAN_NETWORKS
from dnsfilter.dns.acl import ClientAcl
from dnsfilter.dns.cache import AnswerCache, CacheLimits
from dnsfilter.dns.localzones import LocalZones
from dnsfilter.dns.logbuffer import FROM_CACHE, FROM_FILTER, LogBuffer
from dnsfilter.dns.resolver import AnswerSettings, Resolver
from dnsfilter.errors import UpstreamError
from dnsfilter.lists.index import DomainIndex
from dnsfilter.policy.decision import Reason
from dnsfilter.policy.snapshot import PolicySnapshot
from tests.fakes import make_query, zone_reply
from tests.policy.test_snapshot import (
    index,  # noqa: F401 - a fixture
    profile,
    snapshot,
)

CHILD = "192.168.1.23"


class StubUpstream:
    """Answers from a table of zone text; records every question; fails on request."""

    def __init__(self, name: str = "stub") -> None:
        self.name = name
        self.records: dict[tuple[str, int], list[str]] = {}
        self.asked: list[tuple[str, int]] = []
        self.failing = False
        self.release = asyncio.Event()
        self.release.set()

    async def exchange(self, question: bytes, do: bool = False, cd: bool = False) -> tuple[bytes, str]:
        record = DNSRecord.parse(b"\x00\x01\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" + question)
        qname, qtype = str(record.q.qname).rstrip(".").lower(), record.q.qtype
        self.asked.append((qname, qtype))
        await self.release.wait()
        if self.failing:
            raise UpstreamError(f"{self.name} is down")
        found = self.records.get((qname, qtype))
        if found is None:
            return zone_reply(name=qname, qtype=QTYPE[qtype], rcode=RCODE.NXDOMAIN), self.name
        return zone_reply(*found, name=qname, qtype=QTYPE[qtype]), self.name

    def all_down(self) -> bool:
        return self.failing


@pytest.fixture
def family(index: DomainIndex) -> PolicySnapshot:  # noqa: F811
    return snapshot(index, profile(1, blocked_tags=frozenset({"adult"}), safe_search="on", bypass_protection=True))


@pytest.fixture
def upstream() -> StubUpstream:
    stub = StubUpstream()
    stub.records[("example.net", 1)] = ["example.net. 300 IN A 192.0.2.10"]
    stub.records[("cdn.example.net", 1)] = ["cdn.example.net. 300 IN CNAME www.adult.example.", "www.adult.example. 300 IN A 192.0.2.66"]
    stub.records[("forcesafesearch.google.com", 1)] = ["forcesafesearch.google.com. 300 IN A 216.239.38.120"]
    return stub


@pytest.fixture
def router() -> StubUpstream:
    stub = StubUpstream("router")
    stub.records[("printer.lan", 1)] = ["printer.lan. 60 IN A 192.168.1.9"]
    return stub


@pytest.fixture
def resolver(family: PolicySnapshot, upstream: StubUpstream, router: StubUpstream) -> Resolver:
    return Resolver(
        policy=family,
        cache=AnswerCache(CacheLimits(size=100)),
        upstreams=upstream,
        local_zones=LocalZones("lan"),
        local_upstreams=router,
        acl=ClientAcl(LAN_NETWORKS),
        settings=AnswerSettings(block_ttl=10, max_answer_ttl=0),
        query_log=LogBuffer(),
    )


def answered(outcome: bytes | None | Coroutine[Any, Any, bytes | None]) -> DNSRecord:
    assert isinstance(outcome, bytes), f"expected an answer right away, got {outcome!r}"
    return DNSRecord.parse(outcome)


async def awaited(outcome: bytes | None | Coroutine[Any, Any, bytes | None]) -> DNSRecord:
    assert not isinstance(outcome, (bytes, type(None))), "expected a miss that waits for upstream"
    reply = await outcome
    assert reply is not None
    return DNSRecord.parse(reply)


def addresses(record: DNSRecord) -> list[str]:
    return [str(rr.rdata) for rr in record.rr if rr.rtype in (QTYPE.A, QTYPE.AAAA)]


def test_a_blocked_name_is_answered_at_once_without_upstream(resolver: Resolver, upstream: StubUpstream) -> None:
    reply = answered(resolver.handle(make_query("www.adult.example", qid=7), CHILD, False))
    assert reply.header.id == 7 and addresses(reply) == ["0.0.0.0"] and reply.rr[0].ttl == 10
    assert upstream.asked == [] and resolver.stats.blocked == 1


async def test_a_miss_waits_once_then_the_cache_answers_at_once(resolver: Resolver, upstream: StubUpstream) -> None:
    first = await awaited(resolver.handle(make_query("example.net"), CHILD, False))
    assert addresses(first) == ["192.0.2.10"]
    again = answered(resolver.handle(make_query("Example.NET", qid=9), CHILD, False))
    assert again.header.id == 9 and addresses(again) == ["192.0.2.10"]
    assert upstream.asked == [("example.net", 1)]


async def test_the_same_question_from_two_clients_is_asked_upstream_once(
    resolver: Resolver, upstream: StubUpstream
) -> None:
    upstream.release.clear()
    waiting = [resolver.handle(make_query("example.net"), address, False) for address in (CHILD, "192.168.1.24")]
    tasks = [asyncio.ensure_future(awaited(outcome)) for outcome in waiting]
    await asyncio.sleep(0)
    upstream.release.set()
    replies = await asyncio.gather(*tasks)
    assert [addresses(reply) for reply in replies] == [["192.0.2.10"], ["192.0.2.10"]]
    assert upstream.asked == [("example.net", 1)]


async def test_an_allowed_alias_to_a_blocked_name_is_blocked(resolver: Resolver) -> None:
    reply = await awaited(resolver.handle(make_query("cdn.example.net"), CHILD, False))
    assert addresses(reply) == ["0.0.0.0"]
    # From the cache as well: the chain's tags are kept with the entry.
    assert addresses(answered(resolver.handle(make_query("cdn.example.net"), CHILD, False))) == ["0.0.0.0"]


async def test_safe_search_is_a_cname_to_the_filtered_host(resolver: Resolver, upstream: StubUpstream) -> None:
    reply = await awaited(resolver.handle(make_query("www.google.com"), CHILD, False))
    assert [str(rr.rdata) for rr in reply.rr] == ["forcesafesearch.google.com.", "216.239.38.120"]
    assert upstream.asked == [("forcesafesearch.google.com", 1)]


def test_bypass_canary_gets_our_own_no_such_name(resolver: Resolver, upstream: StubUpstream) -> None:
    reply = answered(resolver.handle(make_query("use-application-dns.net"), CHILD, False))
    assert reply.header.rcode == RCODE.NXDOMAIN and upstream.asked == []


async def test_local_names_go_to_the_router_only(resolver: Resolver, upstream: StubUpstream, router: StubUpstream) -> None:
    reply = await awaited(resolver.handle(make_query("printer.lan"), CHILD, False))
    assert addresses(reply) == ["192.168.1.9"]
    assert router.asked == [("printer.lan", 1)] and upstream.asked == []


async def test_upstream_down_is_a_quick_servfail(resolver: Resolver, upstream: StubUpstream) -> None:
    upstream.failing = True
    reply = await awaited(resolver.handle(make_query("example.net"), CHILD, False))
    assert reply.header.rcode == RCODE.SERVFAIL and resolver.stats.upstream_failures == 1


@pytest.mark.parametrize(
    ("client", "packet", "rcode"),
    [
        ("203.0.113.9", make_query("example.net"), RCODE.REFUSED),
        (CHILD, make_query("example.net")[:-3], RCODE.FORMERR),
    ],
    ids=["outside the home network", "cut short"],
)
def test_what_is_refused_or_malformed_is_answered_with_its_code(
    resolver: Resolver, upstream: StubUpstream, client: str, packet: bytes, rcode: int
) -> None:
    reply = answered(resolver.handle(packet, client, False))
    assert reply.header.rcode == rcode and upstream.asked == []


def test_garbage_from_outside_is_dropped(resolver: Resolver) -> None:
    assert resolver.handle(b"\x01\x02\x03", "203.0.113.9", False) is None


def test_any_gets_the_minimal_answer(resolver: Resolver, upstream: StubUpstream) -> None:
    reply = answered(resolver.handle(make_query("example.net", "ANY"), CHILD, False))
    assert reply.rr[0].rtype == QTYPE.HINFO and upstream.asked == []


async def test_every_answer_is_noted_for_the_log_with_where_it_came_from(resolver: Resolver) -> None:
    buffer = resolver.query_log
    assert buffer is not None
    resolver.handle(make_query("www.adult.example"), CHILD, False)
    await awaited(resolver.handle(make_query("example.net"), CHILD, False))
    resolver.handle(make_query("example.net"), CHILD, False)
    entries = list(buffer.take())
    noted = [(answer[2].qname, answer[3].reason, answer[4]) for _, answer in entries]
    assert noted == [
        ("www.adult.example", Reason.CATEGORY, FROM_FILTER),
        ("example.net", Reason.ALLOWED, "stub"),
        ("example.net", Reason.ALLOWED, FROM_CACHE),
    ]


async def test_a_new_policy_applies_to_the_next_query(resolver: Resolver, index: DomainIndex) -> None:  # noqa: F811
    assert addresses(answered(resolver.handle(make_query("www.adult.example"), CHILD, False))) == ["0.0.0.0"]
    resolver.policy = snapshot(index, profile(1))
    reply = await awaited(resolver.handle(make_query("www.adult.example"), CHILD, False))
    assert reply.header.rcode == RCODE.NXDOMAIN  # asked upstream now, which does not know it
