"""The test doubles themselves: a broken fake must fail here, loudly."""

from __future__ import annotations

import asyncio
import ssl

import pytest
from dnslib import QTYPE, RCODE, DNSRecord

from dnsfilter.dns.replies import scan_response
from dnsfilter.dns.wire import MalformedPacket
from tests.conftest import TlsContexts
from tests.fakes import DnsClient, FakeUpstream, make_query


async def test_answers_records_over_udp_and_tcp(fake_upstream: FakeUpstream, dns_client: DnsClient) -> None:
    fake_upstream.add("example.org. 300 IN A 192.0.2.1", "example.org. 300 IN A 192.0.2.2")
    for transport in ("udp", "tcp"):
        reply = await dns_client.query("Example.ORG", "A", fake_upstream.address, transport)
        assert reply.header.qr and reply.header.rcode == RCODE.NOERROR
        assert sorted(str(rr.rdata) for rr in reply.rr) == ["192.0.2.1", "192.0.2.2"]
        assert str(reply.q.qname) == "Example.ORG."  # question case echoed
    assert fake_upstream.query_counts[("example.org", QTYPE.A)] == 2
    assert fake_upstream.transport_counts == {"udp": 1, "tcp": 1}


async def test_nxdomain_with_soa_and_cname_chain(fake_upstream: FakeUpstream, dns_client: DnsClient) -> None:
    fake_upstream.add_nxdomain("gone.example.org")
    fake_upstream.add("www.example.org. 60 IN CNAME example.org.", "example.org. 60 IN A 192.0.2.7")
    gone = await dns_client.query("gone.example.org", "A", fake_upstream.address)
    assert gone.header.rcode == RCODE.NXDOMAIN and gone.auth[0].rtype == QTYPE.SOA
    www = await dns_client.query("www.example.org", "A", fake_upstream.address)
    assert [rr.rtype for rr in www.rr] == [QTYPE.CNAME, QTYPE.A]


async def test_edns_do_echoed(fake_upstream: FakeUpstream, dns_client: DnsClient) -> None:
    reply = await dns_client.query("example.org", "A", fake_upstream.address, do=True)
    assert reply.ar[0].rtype == QTYPE.OPT and reply.ar[0].edns_do


@pytest.mark.parametrize(
    ("flags", "check"),
    [
        ({"servfail": True}, lambda r, q: DNSRecord.parse(r).header.rcode == RCODE.SERVFAIL),
        ({"refused": True}, lambda r, q: DNSRecord.parse(r).header.rcode == RCODE.REFUSED),
        ({"wrong_id": True}, lambda r, q: r[:2] != q[:2]),
        ({"wrong_question": True}, lambda r, q: str(DNSRecord.parse(r).q.qname).startswith("wrong.")),
        ({"truncate": True}, lambda r, q: DNSRecord.parse(r).header.tc == 1 and not DNSRecord.parse(r).rr),
        ({"garbage": True}, lambda r, q: r[:2] == q[:2]),
    ],
    ids=["servfail", "refused", "wrong_id", "wrong_question", "truncate", "garbage"],
)
async def test_udp_misbehaviour(fake_upstream: FakeUpstream, dns_client: DnsClient, flags, check) -> None:  # type: ignore[no-untyped-def]
    fake_upstream.add("example.org. 300 IN A 192.0.2.1")
    fake_upstream.behave(**flags)
    query = make_query("example.org")
    assert check(await dns_client.udp(query, fake_upstream.address), query)


async def test_truncate_is_udp_only(fake_upstream: FakeUpstream, dns_client: DnsClient) -> None:
    fake_upstream.add("example.org. 300 IN A 192.0.2.1")
    fake_upstream.behave(truncate=True)
    reply = await dns_client.query("example.org", "A", fake_upstream.address, "tcp")
    assert reply.header.tc == 0 and len(reply.rr) == 1


async def test_pointer_loop_is_a_self_pointer(fake_upstream: FakeUpstream, dns_client: DnsClient) -> None:
    fake_upstream.behave("example.org", pointer_loop=True)
    reply = await dns_client.udp(make_query("example.org"), fake_upstream.address)
    owner = len(reply) - 16  # the record: 2-byte name, 10 fixed bytes, 4 bytes of rdata
    assert reply[owner : owner + 2] == bytes((0xC0 | owner >> 8, owner & 0xFF))
    with pytest.raises(Exception):
        DNSRecord.parse(reply)


async def test_per_name_behaviour_and_drop(fake_upstream: FakeUpstream, dns_client: DnsClient) -> None:
    fake_upstream.behave("quiet.example.org", drop=True)
    assert await dns_client.udp_or_none(make_query("quiet.example.org"), fake_upstream.address) is None
    assert await dns_client.udp_or_none(make_query("loud.example.org"), fake_upstream.address) is not None
    fake_upstream.behave("quiet.example.org")  # reset
    assert await dns_client.udp_or_none(make_query("quiet.example.org"), fake_upstream.address) is not None


async def test_spoof_then_real_sends_two(fake_upstream: FakeUpstream) -> None:
    fake_upstream.behave(spoof_then_real=True)
    loop = asyncio.get_running_loop()
    got: asyncio.Queue[bytes] = asyncio.Queue()

    class Collect(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: object) -> None:
            got.put_nowait(data)

    transport, _ = await loop.create_datagram_endpoint(Collect, remote_addr=("127.0.0.1", fake_upstream.port))
    try:
        query = make_query("example.org")
        transport.sendto(query)
        first = await asyncio.wait_for(got.get(), 2)
        second = await asyncio.wait_for(got.get(), 2)
    finally:
        transport.close()
    assert first[:2] != query[:2] and second[:2] == query[:2]


async def test_delay_and_pipelining_out_of_order(fake_upstream: FakeUpstream, dns_client: DnsClient) -> None:
    fake_upstream.behave("slow.example.org", delay=0.2)
    slow, fast = make_query("slow.example.org"), make_query("fast.example.org")
    replies = await dns_client.tcp_pipeline([slow, fast], fake_upstream.address)
    assert [r[:2] for r in replies] == [fast[:2], slow[:2]]
    assert fake_upstream.tcp_connections_accepted == 1


async def test_malformed_query_gets_formerr(fake_upstream: FakeUpstream, dns_client: DnsClient) -> None:
    reply = await dns_client.udp(b"\x12\x34" + bytes(10) + b"\xff\xff", fake_upstream.address)
    assert reply[:2] == b"\x12\x34" and reply[3] & 0x0F == RCODE.FORMERR
    assert await dns_client.udp_or_none(b"\x01", fake_upstream.address) is None
    with pytest.raises(MalformedPacket):
        scan_response(b"\x01")


async def test_wait_for_queries_and_last_queries(fake_upstream: FakeUpstream, dns_client: DnsClient) -> None:
    fake_upstream.behave(drop=True)
    query = make_query("example.org", qid=0x1234)
    assert await dns_client.udp_or_none(query, fake_upstream.address, timeout=0.05) is None
    await fake_upstream.wait_for_queries(1)
    assert fake_upstream.last_queries[-1] == query
    assert fake_upstream.last_udp_peer is not None


async def test_close_is_clean_with_open_connections() -> None:
    fake = await FakeUpstream().start()
    fake.behave(drop=True)
    reader, writer = await asyncio.open_connection("127.0.0.1", fake.port)
    writer.write(b"\x00\x1d" + make_query("example.org"))
    await fake.wait_for_queries(1)
    await asyncio.wait_for(fake.close(), 5)
    assert await asyncio.wait_for(reader.read(), 2) == b""
    writer.close()


def test_tls_contexts(tls_context: TlsContexts) -> None:
    assert tls_context.client.verify_mode == ssl.CERT_REQUIRED
    assert tls_context.client.check_hostname
    assert tls_context.ca_file.exists() and tls_context.cert_file.exists()
