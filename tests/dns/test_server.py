"""The running filter on real UDP and TCP sockets, against a fake upstream."""

from __future__ import annotations

import asyncio
import ipaddress
import struct
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from dnslib import EDNS0, QTYPE, RCODE, DNSRecord, EDNSOption

from dnsfilter.config import ListenAddress, parse_listen, parse_upstream
from tests.fakes import DnsClient, FakeUpstream, can_bind, make_query
from tests.running import FrozenClock, RunningFilter, make_config, running_service


@pytest.fixture
async def upstream() -> AsyncIterator[FakeUpstream]:
    async with FakeUpstream() as fake:
        fake.add(
            "example.org. 300 IN A 192.0.2.1",
            "example.org. 300 IN AAAA 2001:db8::1",
            "slow.example.org. 300 IN A 192.0.2.2",
            "fast.example.org. 300 IN A 192.0.2.3",
            "alias.example.org. 600 IN CNAME example.org.",
        )
        fake.add(*(f"big.example.org. 300 IN A 198.51.100.{i}" for i in range(1, 61)))
        fake.add_nxdomain("missing.example.org")
        yield fake


@pytest.fixture
async def dnsfilter(upstream: FakeUpstream, tmp_path: Path) -> AsyncIterator[RunningFilter]:
    config = make_config(tmp_path, [upstream.address], blocking={"deny": ("blocked.example",)})
    async with running_service(config) as running:
        yield running


def parse(reply: bytes) -> DNSRecord:
    return DNSRecord.parse(reply)


# --- answering ------------------------------------------------------------------


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_forwards_and_answers(dnsfilter: RunningFilter, dns_client: DnsClient, transport: str) -> None:
    reply = await dns_client.query("example.org", "A", dnsfilter.address, transport)
    assert reply.header.rcode == RCODE.NOERROR
    assert [str(rr.rdata) for rr in reply.rr] == ["192.0.2.1"]
    assert reply.header.ra and reply.header.qr


async def test_second_query_is_served_from_cache_with_aged_ttl(
    upstream: FakeUpstream, dns_client: DnsClient, tmp_path: Path
) -> None:
    clock = FrozenClock()
    async with running_service(make_config(tmp_path, [upstream.address]), clock) as running:
        first = parse(await dns_client.udp(make_query("example.org"), running.address))
        clock.advance(100)
        second = parse(await dns_client.udp(make_query("example.org", qid=777), running.address))
    assert upstream.query_counts[("example.org", QTYPE.A)] == 1
    assert first.rr[0].ttl == 300 and second.rr[0].ttl == 200
    assert second.header.id == 777


async def test_letter_case_of_the_question_is_echoed(dnsfilter: RunningFilter, dns_client: DnsClient) -> None:
    await dns_client.udp(make_query("example.org"), dnsfilter.address)  # cache it in lower case
    reply = parse(await dns_client.udp(make_query("eXaMpLe.OrG"), dnsfilter.address))
    assert str(reply.q.qname) == "eXaMpLe.OrG."
    assert str(reply.rr[0].rdata) == "192.0.2.1"


async def test_nxdomain_is_relayed_and_negatively_cached(
    upstream: FakeUpstream, dnsfilter: RunningFilter, dns_client: DnsClient
) -> None:
    for _ in range(3):
        reply = parse(await dns_client.udp(make_query("missing.example.org"), dnsfilter.address))
        assert reply.header.rcode == RCODE.NXDOMAIN
    assert upstream.query_counts[("missing.example.org", QTYPE.A)] == 1


async def test_identical_queries_in_flight_are_coalesced(
    upstream: FakeUpstream, dnsfilter: RunningFilter, dns_client: DnsClient
) -> None:
    upstream.behave("slow.example.org", delay=0.2)
    replies = await asyncio.gather(
        *(dns_client.udp(make_query("slow.example.org"), dnsfilter.address) for _ in range(20))
    )
    assert all(str(parse(r).rr[0].rdata) == "192.0.2.2" for r in replies)
    assert upstream.query_counts[("slow.example.org", QTYPE.A)] == 1


# --- EDNS and truncation ------------------------------------------------------------


async def test_edns_is_echoed_with_our_buffer_size(dnsfilter: RunningFilter, dns_client: DnsClient) -> None:
    reply = parse(await dns_client.udp(make_query("example.org", edns=True, udp_size=4096, do=True), dnsfilter.address))
    (opt,) = reply.ar
    assert opt.rtype == QTYPE.OPT and opt.rclass == 1232 and opt.edns_do
    plain = parse(await dns_client.udp(make_query("example.org"), dnsfilter.address))
    assert plain.ar == []


async def test_unknown_edns_options_are_ignored(dnsfilter: RunningFilter, dns_client: DnsClient) -> None:
    record = DNSRecord.question("example.org")
    record.add_ar(EDNS0(udp_len=1232, opts=[EDNSOption(65001, b"\x02\x42\xac\x11\x00\x02"), EDNSOption(8, b"\x00\x01\x18\x00\xc0\x00\x02")]))
    reply = parse(await dns_client.udp(record.pack(), dnsfilter.address))
    assert reply.header.rcode == RCODE.NOERROR and str(reply.rr[0].rdata) == "192.0.2.1"


async def test_edns_version_1_gets_badvers(dnsfilter: RunningFilter, dns_client: DnsClient) -> None:
    packet = bytearray(make_query("example.org", edns=True))
    packet[-5] = 1  # OPT TTL byte 2: EDNS version (then 2 flag bytes, 2 length bytes)
    reply = parse(await dns_client.udp(bytes(packet), dnsfilter.address))
    assert reply.header.rcode == 0 and reply.ar[0].ttl >> 24 == 1  # extended RCODE 16


async def test_large_answer_is_truncated_over_udp_and_whole_over_tcp(
    dnsfilter: RunningFilter, dns_client: DnsClient
) -> None:
    udp = parse(await dns_client.udp(make_query("big.example.org"), dnsfilter.address))
    assert udp.header.tc and udp.rr == []
    edns = parse(await dns_client.udp(make_query("big.example.org", edns=True, udp_size=4096), dnsfilter.address))
    assert not edns.header.tc and len(edns.rr) == 60
    tcp = parse(await dns_client.tcp(make_query("big.example.org"), dnsfilter.address))
    assert not tcp.header.tc and len(tcp.rr) == 60


# --- hostile and odd input ---------------------------------------------------------


@pytest.mark.parametrize(
    ("packet", "rcode"),
    [
        (b"\x12\x34\x01\x00\x00\x02\x00\x00\x00\x00\x00\x00", RCODE.FORMERR),
        (b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\xc0\x0c\x00\x01\x00\x01", RCODE.FORMERR),
        (b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x40" + b"a" * 64 + b"\x00\x00\x01\x00\x01", RCODE.FORMERR),
        (b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" + b"\x3fxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" * 5 + b"\x00\x00\x01\x00\x01", RCODE.FORMERR),
        (b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07exa", RCODE.FORMERR),
        (b"\x12\x34" + struct.pack(">H", 0x0100 | (2 << 11)) + make_query("example.org")[4:], RCODE.NOTIMP),
        (b"\x12\x34\x01\x00" + make_query("example.org", "AXFR")[4:], RCODE.REFUSED),
        (b"\x12\x34" + make_query("example.org")[2:-2] + b"\x00\x03", RCODE.REFUSED),
    ],
    ids=["two-questions", "pointer-loop", "label-64", "name-over-255", "cut-short", "opcode-status",
         "zone-transfer", "chaos-class"],
)
async def test_bad_packets_get_an_error_code(
    dnsfilter: RunningFilter, dns_client: DnsClient, packet: bytes, rcode: int
) -> None:
    reply = await dns_client.udp(packet, dnsfilter.address)
    assert reply[:2] == b"\x12\x34"
    assert reply[3] & 0x0F == rcode


@pytest.mark.parametrize(
    "packet",
    [b"", b"\x00", b"\x12\x34\x01", make_query("example.org")[:2] + b"\x81\x80" + make_query("example.org")[4:]],
    ids=["empty", "one-byte", "short-header", "a-response"],
)
async def test_unanswerable_packets_are_dropped_and_the_server_stays_up(
    dnsfilter: RunningFilter, dns_client: DnsClient, packet: bytes
) -> None:
    assert await dns_client.udp_or_none(packet, dnsfilter.address) is None
    reply = parse(await dns_client.udp(make_query("example.org"), dnsfilter.address))
    assert str(reply.rr[0].rdata) == "192.0.2.1"


async def test_any_gets_the_rfc8482_minimal_answer(
    upstream: FakeUpstream, dnsfilter: RunningFilter, dns_client: DnsClient
) -> None:
    reply = await dns_client.query("example.org", "ANY", dnsfilter.address)
    assert [rr.rtype for rr in reply.rr] == [QTYPE.HINFO]
    assert upstream.total_queries == 0


async def test_clients_outside_the_acl_are_refused(upstream: FakeUpstream, dns_client: DnsClient, tmp_path: Path) -> None:
    config = make_config(tmp_path, [upstream.address], dns={
        "listen": (ListenAddress("127.0.0.1", 0),), "allow_clients": (ipaddress.ip_network("192.168.0.0/16"),)})
    async with running_service(config) as running:
        reply = await dns_client.query("example.org", "A", running.address)
    assert reply.header.rcode == RCODE.REFUSED and reply.rr == []
    assert upstream.total_queries == 0


# --- blocking ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "qtype", "answer"),
    [
        ("blocked.example", "A", "0.0.0.0"),
        ("www.blocked.example", "A", "0.0.0.0"),
        ("Deep.Sub.BLOCKED.example", "AAAA", "::"),
        ("blocked.example", "MX", None),
        ("blocked.example", "HTTPS", None),
        ("blocked.example", "ANY", None),
    ],
    ids=["exact", "subdomain", "aaaa-mixed-case", "mx-nodata", "https-nodata", "any-nodata"],
)
async def test_denied_names_get_the_block_answer(
    upstream: FakeUpstream, dnsfilter: RunningFilter, dns_client: DnsClient, name: str, qtype: str, answer: str | None
) -> None:
    reply = await dns_client.query(name, qtype, dnsfilter.address)
    assert reply.header.rcode == RCODE.NOERROR
    assert [str(rr.rdata) for rr in reply.rr] == ([answer] if answer else [])
    assert all(rr.ttl == 10 for rr in reply.rr)
    assert upstream.total_queries == 0


async def test_nxdomain_block_mode(upstream: FakeUpstream, dns_client: DnsClient, tmp_path: Path) -> None:
    config = make_config(tmp_path, [upstream.address], blocking={"deny": ("blocked.example",), "mode": "nxdomain"})
    async with running_service(config) as running:
        reply = await dns_client.query("www.blocked.example", "A", running.address)
    assert reply.header.rcode == RCODE.NXDOMAIN


async def test_a_name_that_only_ends_like_a_denied_one_is_not_blocked(
    upstream: FakeUpstream, dnsfilter: RunningFilter, dns_client: DnsClient
) -> None:
    upstream.add("notblocked.example. 60 IN A 192.0.2.9")
    reply = await dns_client.query("notblocked.example", "A", dnsfilter.address)
    assert [str(rr.rdata) for rr in reply.rr] == ["192.0.2.9"]


# --- upstream trouble --------------------------------------------------------------


async def test_fails_over_to_the_next_upstream(upstream: FakeUpstream, dns_client: DnsClient, tmp_path: Path) -> None:
    async with FakeUpstream() as dead:
        dead.behave(drop=True)
        async with running_service(make_config(tmp_path, [dead.address, upstream.address])) as running:
            reply = await dns_client.query("example.org", "A", running.address)
    assert str(reply.rr[0].rdata) == "192.0.2.1"
    assert dead.total_queries >= 1


async def test_serves_stale_when_every_upstream_fails(
    upstream: FakeUpstream, dns_client: DnsClient, tmp_path: Path
) -> None:
    clock = FrozenClock()
    async with running_service(make_config(tmp_path, [upstream.address]), clock) as running:
        await dns_client.query("example.org", "A", running.address)
        clock.advance(400)  # past the 300 s TTL
        upstream.behave(drop=True)
        reply = parse(await dns_client.udp(make_query("example.org"), running.address, timeout=5))
    assert reply.header.rcode == RCODE.NOERROR
    assert str(reply.rr[0].rdata) == "192.0.2.1" and reply.rr[0].ttl == 30


async def test_servfail_quickly_when_every_upstream_fails_and_nothing_is_cached(
    upstream: FakeUpstream, dns_client: DnsClient, tmp_path: Path
) -> None:
    upstream.behave(drop=True)
    async with running_service(make_config(tmp_path, [upstream.address])) as running:
        loop = asyncio.get_running_loop()
        started = loop.time()
        reply = parse(await dns_client.udp(make_query("example.org"), running.address, timeout=5))
        elapsed = loop.time() - started
    assert reply.header.rcode == RCODE.SERVFAIL
    assert elapsed < 3.0


async def test_upstream_garbage_becomes_servfail(
    upstream: FakeUpstream, dnsfilter: RunningFilter, dns_client: DnsClient
) -> None:
    upstream.behave(garbage=True)
    reply = parse(await dns_client.udp(make_query("example.org"), dnsfilter.address, timeout=5))
    assert reply.header.rcode == RCODE.SERVFAIL


# --- local names -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "qtype"),
    [("printer", "A"), ("nas.lan", "A"), ("tv.home.arpa", "AAAA"), ("5.1.168.192.in-addr.arpa", "PTR"),
     ("1.0.0.10.in-addr.arpa", "PTR")],
    ids=["single-label", "lan", "home-arpa", "reverse-192-168", "reverse-10"],
)
async def test_local_names_never_reach_public_upstreams(
    upstream: FakeUpstream, dns_client: DnsClient, tmp_path: Path, name: str, qtype: str
) -> None:
    async with FakeUpstream() as router:
        router.add("printer. 60 IN A 192.168.1.20", "nas.lan. 60 IN A 192.168.1.21",
                   "tv.home.arpa. 60 IN AAAA fd00::5", "5.1.168.192.in-addr.arpa. 60 IN PTR printer.lan.",
                   "1.0.0.10.in-addr.arpa. 60 IN PTR gw.lan.")
        without_router = make_config(tmp_path, [upstream.address])
        async with running_service(without_router) as running:
            reply = await dns_client.query(name, qtype, running.address)
            assert reply.header.rcode == RCODE.NXDOMAIN
        with_router = make_config(tmp_path, [upstream.address], local={"router": parse_upstream(router.address)})
        async with running_service(with_router) as running:
            reply = await dns_client.query(name, qtype, running.address)
            assert reply.header.rcode == RCODE.NOERROR and len(reply.rr) == 1
    assert upstream.total_queries == 0


# --- TCP (RFC 7766) ----------------------------------------------------------------


async def test_tcp_pipelined_queries_are_answered_out_of_order(
    upstream: FakeUpstream, dnsfilter: RunningFilter, dns_client: DnsClient
) -> None:
    upstream.behave("slow.example.org", delay=0.5)
    slow = make_query("slow.example.org", qid=1)
    fast = make_query("fast.example.org", qid=2)
    replies = await dns_client.tcp_pipeline([slow, fast], dnsfilter.address, timeout=3)
    assert [parse(r).header.id for r in replies] == [2, 1]


async def test_tcp_several_queries_on_one_connection(dnsfilter: RunningFilter, dns_client: DnsClient) -> None:
    packets = [make_query("example.org", qid=i) for i in range(10)] + [make_query("blocked.example", qid=99)]
    replies = [parse(r) for r in await dns_client.tcp_pipeline(packets, dnsfilter.address)]
    assert sorted(r.header.id for r in replies) == [*range(10), 99]


async def test_tcp_idle_connections_are_closed(upstream: FakeUpstream, tmp_path: Path) -> None:
    config = make_config(tmp_path, [upstream.address], dns={"listen": (ListenAddress("127.0.0.1", 0),), "tcp_idle_timeout": 0.5})
    async with running_service(config) as running:
        reader, writer = await asyncio.open_connection(*running.address)
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert await asyncio.wait_for(reader.read(1), 3) == b""  # closed by the server
        assert 0.4 < loop.time() - started < 2.5
        writer.close()


async def test_tcp_connection_cap(upstream: FakeUpstream, dns_client: DnsClient, tmp_path: Path) -> None:
    config = make_config(tmp_path, [upstream.address], dns={"listen": (ListenAddress("127.0.0.1", 0),), "tcp_max_connections": 2})
    async with running_service(config) as running:
        held = [await asyncio.open_connection(*running.address) for _ in range(2)]
        reader, writer = await asyncio.open_connection(*running.address)
        assert await asyncio.wait_for(reader.read(1), 3) == b""  # over the cap: closed at once
        writer.close()
        for _, held_writer in held:
            held_writer.close()
            await held_writer.wait_closed()
        # Once the held connections are gone, new ones are answered again.
        for _ in range(50):
            if not running.service.listeners._tcp.connections:
                break
            await asyncio.sleep(0.02)
        reply = parse(await dns_client.tcp(make_query("example.org"), running.address))
        assert str(reply.rr[0].rdata) == "192.0.2.1"


async def test_tcp_garbage_does_not_hurt_other_connections(dnsfilter: RunningFilter, dns_client: DnsClient) -> None:
    reader, writer = await asyncio.open_connection(*dnsfilter.address)
    writer.write(b"\x00\x05hello\x00\x02\xff\xff")
    await writer.drain()
    reply = parse(await dns_client.tcp(make_query("example.org"), dnsfilter.address))
    assert str(reply.rr[0].rdata) == "192.0.2.1"
    writer.close()


# --- IPv6 and shutdown -------------------------------------------------------------


@pytest.mark.skipif(not can_bind("::1"), reason="this machine has no IPv6 loopback (::1)")
async def test_ipv6_listener(upstream: FakeUpstream, dns_client: DnsClient, tmp_path: Path) -> None:
    config = make_config(tmp_path, [upstream.address], dns={"listen": (parse_listen("[::1]:0"),)})
    async with running_service(config) as running:
        assert running.address[0] == "::1"
        for transport in ("udp", "tcp"):
            reply = await dns_client.query("example.org", "A", running.address, transport)
            assert str(reply.rr[0].rdata) == "192.0.2.1"


async def test_stop_lets_answers_in_flight_finish(upstream: FakeUpstream, dns_client: DnsClient, tmp_path: Path) -> None:
    upstream.behave("slow.example.org", delay=0.3)
    running_filter = running_service(make_config(tmp_path, [upstream.address]))
    running = await running_filter.__aenter__()
    pending = asyncio.ensure_future(dns_client.udp(make_query("slow.example.org"), running.address, timeout=3))
    await upstream.wait_for_queries(1)
    await running_filter.__aexit__(None, None, None)
    assert str(parse(await pending).rr[0].rdata) == "192.0.2.2"

