"""Spoofing defences of the UDP transport on real sockets: a fresh random
source port every few queries, and the question's letters in random case
(DNS 0x20), which the answer must echo exactly. An upstream that does not
keep the case is asked over TCP instead. How the sockets are shared is
tested in test_udp_sockets.py."""

from __future__ import annotations

import collections
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from dnslib import QTYPE, RR, A, DNSLabel, DNSRecord

from dnsfilter.dns.upstream.pool import UpstreamPool
from dnsfilter.dns.upstream.transports import mixed_case
from dnsfilter.dns.upstream.udp import QUERIES_PER_SOCKET
from tests.dns.upstream.test_pool import QUESTION, MakePool, addresses, make_pool  # noqa: F401 - a fixture
from tests.fakes import Address, DnsClient, FakeUpstream, make_query
from tests.running import make_config, running_service

FORGED = "203.0.113.66"


def asked_names(fake: FakeUpstream) -> list[str]:
    """The question names as they reached the upstream, letter case kept."""
    return [str(DNSRecord.parse(packet).q.qname) for packet in fake.last_queries]


def swapped_case(packet: bytes) -> DNSRecord:
    """``packet`` parsed, with the letters of its question name in the other case."""
    record = DNSRecord.parse(packet)
    record.q.qname = DNSLabel(str(record.q.qname).swapcase())
    return record


class PortsSeen(FakeUpstream):
    """Remembers the source port of every UDP query."""

    def __init__(self) -> None:
        super().__init__()
        self.ports: list[int] = []

    async def _answer_udp(self, data: bytes, peer: Address) -> None:
        self.ports.append(peer[1])
        await super()._answer_udp(data, peer)


class Forger(FakeUpstream):
    """Over UDP, first a forged answer (right ID and port, question in the other
    case, a foreign address), then the real one: what a lucky attacker sends."""

    async def respond(self, data: bytes, transport: str) -> list[bytes]:
        packets = await super().respond(data, transport)
        if transport != "udp" or not packets:
            return packets
        forged = swapped_case(packets[0])
        forged.rr = [RR(forged.q.qname, QTYPE.A, rdata=A(FORGED), ttl=86400)]
        return [bytes(forged.pack()), *packets]


class Lowercaser(FakeUpstream):
    """A forwarder that answers every question in lower case."""

    async def respond(self, data: bytes, transport: str) -> list[bytes]:
        packets = await super().respond(data, transport)
        lowered = []
        for packet in packets:
            record = DNSRecord.parse(packet)
            record.q.qname = DNSLabel(str(record.q.qname).lower())
            lowered.append(bytes(record.pack()))
        return lowered


async def started(fake: FakeUpstream) -> FakeUpstream:
    await fake.start()
    fake.add("example.org. 300 IN A 192.0.2.1")
    return fake


@pytest.fixture
async def ports_seen() -> AsyncIterator[PortsSeen]:
    fake = PortsSeen()
    await started(fake)
    yield fake
    await fake.close()


@pytest.fixture
async def forger() -> AsyncIterator[FakeUpstream]:
    fake = await started(Forger())
    yield fake
    await fake.close()


@pytest.fixture
async def lowercaser() -> AsyncIterator[FakeUpstream]:
    fake = await started(Lowercaser())
    yield fake
    await fake.close()


def test_mixed_case_changes_letters_only() -> None:
    question = b"\x03www\x07example\x03org\x00\x00\x01\x00\x01"
    variants = {mixed_case(question) for _ in range(50)}
    assert len(variants) > 40  # 13 letters: 8192 forms
    assert all(variant.lower() == question for variant in variants)
    assert mixed_case(b"\x00\x00\x02\x00\x01") == b"\x00\x00\x02\x00\x01"  # the root: nothing to change
    assert mixed_case(b"\x01-\x011\x00\x00\x01\x00\x01") == b"\x01-\x011\x00\x00\x01\x00\x01"


async def test_each_query_has_its_own_letter_case_and_few_share_a_source_port(
    ports_seen: PortsSeen, make_pool: MakePool  # noqa: F811
) -> None:
    pool = make_pool([ports_seen.address])
    asked = 4 * QUERIES_PER_SOCKET
    for _ in range(asked):
        assert addresses(await pool.resolve(QUESTION)) == ["192.0.2.1"]
    names = asked_names(ports_seen)
    assert {name.lower() for name in names} == {"example.org."}
    assert len(set(names)) > 2, names  # 10 letters: 1024 forms
    # A fresh socket every QUERIES_PER_SOCKET queries; the kernel picks its
    # port at random, not the next one up.
    ports = ports_seen.ports
    assert len(ports) == asked and len(set(ports)) == 4, collections.Counter(ports)
    assert max(collections.Counter(ports).values()) == QUERIES_PER_SOCKET
    assert max(ports) - min(ports) > 4, ports


async def test_an_answer_in_another_case_is_not_taken(forger: FakeUpstream, make_pool: MakePool) -> None:  # noqa: F811
    pool = make_pool([forger.address])
    assert addresses(await pool.resolve(QUESTION)) == ["192.0.2.1"]
    # Asked again where nobody can forge an answer; the upstream is not blamed.
    assert forger.transport_counts == {"udp": 1, "tcp": 1}
    assert pool.status()[0].consecutive_failures == 0


async def test_an_upstream_that_lowercases_is_asked_over_tcp(
    lowercaser: FakeUpstream, make_pool: MakePool, caplog: pytest.LogCaptureFixture  # noqa: F811
) -> None:
    caplog.set_level(logging.WARNING, logger="dnsfilter")
    pool: UpstreamPool = make_pool([lowercaser.address])
    for _ in range(3):
        assert addresses(await pool.resolve(QUESTION)) == ["192.0.2.1"]
    assert lowercaser.transport_counts == {"udp": 1, "tcp": 3}
    assert pool.status()[0].healthy and pool.status()[0].consecutive_failures == 0
    assert sum("does not keep the letter case" in message for message in caplog.messages) == 1


async def test_clients_keep_their_case_and_share_one_answer(
    ports_seen: PortsSeen, dns_client: DnsClient, tmp_path: Path
) -> None:
    async with running_service(make_config(tmp_path, [ports_seen.address])) as running:
        replies = [
            DNSRecord.parse(await dns_client.udp(make_query(name), running.address))
            for name in ("EXAMPLE.org", "example.org", "eXaMpLe.OrG")
        ]
    assert [str(reply.q.qname) for reply in replies] == ["EXAMPLE.org.", "example.org.", "eXaMpLe.OrG."]
    assert [str(reply.rr[0].rdata) for reply in replies] == ["192.0.2.1"] * 3
    assert ports_seen.query_counts == {("example.org", QTYPE.A): 1}
