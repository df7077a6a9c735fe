"""The upstream pool on real sockets (127.0.0.1) against fake upstreams: UDP, TCP, DoT, DoH."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web
from dnslib import QTYPE, RCODE, RR, A, DNSRecord

from dnsfilter.config import parse_upstream
from dnsfilter.dns.upstream import transports, udp
from dnsfilter.dns.upstream.pool import Backoff, UpstreamPool
from dnsfilter.dns.upstream.streams import StreamTransport
from dnsfilter.dns.upstream.transports import DNS_MESSAGE, check_reply, matches
from dnsfilter.dns.wire import MalformedPacket
from dnsfilter.errors import UpstreamError
from tests.conftest import TlsContexts
from tests.fakes import FakeUpstream, make_query, question_of

QUESTION = question_of("example.org")
MakePool = Callable[..., UpstreamPool]


class Clock:
    """The backoff clock, moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def addresses(reply: bytes) -> list[str]:
    return sorted(str(rr.rdata) for rr in DNSRecord.parse(reply).rr if rr.rtype == QTYPE.A)


def closed_port(kind: socket.SocketKind) -> int:
    """A port on 127.0.0.1 nobody listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
async def make_pool() -> AsyncIterator[MakePool]:
    """Builds pools from upstream texts and closes them all after the test."""
    made: list[UpstreamPool] = []

    def make(servers: list[str], timeout: float = 0.5, **options: Any) -> UpstreamPool:
        pool = UpstreamPool([parse_upstream(text) for text in servers], timeout, **options)
        made.append(pool)
        return pool

    yield make
    for pool in made:
        await pool.aclose()


@pytest.fixture
async def upstream(fake_upstream: FakeUpstream) -> FakeUpstream:
    fake_upstream.add("example.org. 300 IN A 192.0.2.1")
    return fake_upstream


@pytest.fixture
async def backup() -> AsyncIterator[FakeUpstream]:
    """A second upstream whose answers differ from the first's."""
    async with FakeUpstream() as fake:
        fake.add("example.org. 300 IN A 192.0.2.99")
        yield fake


class DohServer:
    """An RFC 8484 endpoint on 127.0.0.1 answering from a FakeUpstream; can be told to misbehave."""

    def __init__(self, fake: FakeUpstream, ssl_context: Any) -> None:
        self.fake = fake
        self.ssl_context = ssl_context
        self.status = 200
        self.content_type = DNS_MESSAGE
        self.hosts: list[str] = []
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def start(self) -> DohServer:
        app = web.Application()
        app.router.add_post("/dns-query", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self.ssl_context).start()
        self.port = self._runner.addresses[0][1]
        return self

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        self.hosts.append(request.host)
        body = await request.read()
        if self.status != 200:
            return web.Response(status=self.status, text="no")
        packets = await self.fake.respond(body, "https")
        if not packets:
            return web.Response(status=504)
        return web.Response(body=packets[-1], content_type=self.content_type)


@pytest.fixture
async def doh(upstream: FakeUpstream, tls_context: TlsContexts) -> AsyncIterator[DohServer]:
    server = await DohServer(upstream, tls_context.server).start()
    yield server
    await server.close()


# --- answers over each transport --------------------------------------------------


@pytest.mark.parametrize("scheme", ["", "tcp://"], ids=["udp", "tcp"])
async def test_answers_over_udp_and_tcp(upstream: FakeUpstream, make_pool: MakePool, scheme: str) -> None:
    pool = make_pool([scheme + upstream.address])
    reply = await pool.resolve(QUESTION, do=True)
    assert addresses(reply) == ["192.0.2.1"]
    assert upstream.transport_counts == {scheme.rstrip(":/") or "udp": 1}
    sent = DNSRecord.parse(upstream.last_queries[-1])
    assert sent.header.rd and sent.ar[0].edns_do and sent.ar[0].edns_len == 1232
    [status] = pool.status()
    assert status.healthy and status.consecutive_failures == 0 and status.last_rtt_ms is not None
    assert status.address == str(parse_upstream(scheme + upstream.address))


async def test_ids_are_random_and_cd_is_passed(upstream: FakeUpstream, make_pool: MakePool) -> None:
    pool = make_pool([upstream.address])
    for _ in range(4):
        await pool.resolve(QUESTION, cd=True)
    ids = {packet[:2] for packet in upstream.last_queries}
    assert len(ids) > 1
    assert all(DNSRecord.parse(packet).header.cd for packet in upstream.last_queries)


@pytest.mark.parametrize("name", ["#localhost", ""], ids=["by-name", "by-ip"])
async def test_answers_over_tls(
    upstream: FakeUpstream, tls_context: TlsContexts, make_pool: MakePool, name: str
) -> None:
    port = await upstream.start_tls(tls_context.server)
    pool = make_pool([f"tls://127.0.0.1:{port}{name}"], ssl_context=tls_context.client)
    assert addresses(await pool.resolve(QUESTION)) == ["192.0.2.1"]
    assert addresses(await pool.resolve(QUESTION)) == ["192.0.2.1"]
    assert upstream.transport_counts == {"tls": 2}
    assert upstream.tcp_connections_accepted == 1


@pytest.mark.parametrize(
    ("name", "context"),
    [("#wrong.example.org", "test-ca"), ("#localhost", "system")],
    ids=["wrong-name", "untrusted-ca"],
)
async def test_tls_certificate_is_verified(
    upstream: FakeUpstream, tls_context: TlsContexts, make_pool: MakePool, name: str, context: str
) -> None:
    port = await upstream.start_tls(tls_context.server)
    ssl_context = tls_context.client if context == "test-ca" else None
    pool = make_pool([f"tls://127.0.0.1:{port}{name}"], ssl_context=ssl_context)
    with pytest.raises(UpstreamError, match="certificate"):
        await pool.resolve(QUESTION)
    assert upstream.total_queries == 0


@pytest.mark.parametrize("name", ["#localhost", ""], ids=["by-name", "by-ip"])
async def test_answers_over_https(
    doh: DohServer, upstream: FakeUpstream, tls_context: TlsContexts, make_pool: MakePool, name: str
) -> None:
    pool = make_pool([f"https://127.0.0.1:{doh.port}/dns-query{name}"], ssl_context=tls_context.client)
    assert addresses(await pool.resolve(QUESTION)) == ["192.0.2.1"]
    assert addresses(await pool.resolve(QUESTION)) == ["192.0.2.1"]
    assert upstream.last_queries[-1][:2] == b"\x00\x00"  # RFC 8484 4.1
    expected_host = f"localhost:{doh.port}" if name else f"127.0.0.1:{doh.port}"
    assert doh.hosts == [expected_host, expected_host]


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"status": 500}, "HTTP status 500"),
        ({"content_type": "text/plain"}, "content type"),
        ({"name": "#wrong.example.org"}, "certificate"),
    ],
    ids=["status-500", "content-type", "wrong-name"],
)
async def test_https_failures(
    doh: DohServer, tls_context: TlsContexts, make_pool: MakePool, change: dict[str, Any], error: str
) -> None:
    doh.status = change.get("status", 200)
    doh.content_type = change.get("content_type", DNS_MESSAGE)
    name = change.get("name", "#localhost")
    pool = make_pool([f"https://127.0.0.1:{doh.port}/dns-query{name}"], timeout=2.0, ssl_context=tls_context.client)
    with pytest.raises(UpstreamError, match=error):
        await asyncio.wait_for(pool.resolve(QUESTION), 1.0)  # fails at once, not by timing out


async def test_https_failure_falls_over_to_udp(
    doh: DohServer, backup: FakeUpstream, tls_context: TlsContexts, make_pool: MakePool
) -> None:
    doh.status = 503
    pool = make_pool([f"https://127.0.0.1:{doh.port}/dns-query#localhost", backup.address], ssl_context=tls_context.client)
    assert addresses(await pool.resolve(QUESTION)) == ["192.0.2.99"]
    assert pool.status()[0].last_error == "HTTP status 503"


# --- truncation and TCP connections -----------------------------------------------


async def test_truncated_udp_answer_is_asked_again_over_tcp(upstream: FakeUpstream, make_pool: MakePool) -> None:
    upstream.behave(truncate=True)
    pool = make_pool([upstream.address])
    assert addresses(await pool.resolve(QUESTION)) == ["192.0.2.1"]
    assert upstream.transport_counts == {"udp": 1, "tcp": 1}


async def test_tcp_pipelines_queries_on_one_connection(upstream: FakeUpstream, make_pool: MakePool) -> None:
    names = [f"n{i}.example.org" for i in range(6)]
    upstream.add(*(f"{name}. 300 IN A 192.0.2.{10 + i}" for i, name in enumerate(names)))
    upstream.behave(names[0], delay=0.2)  # answered last: replies come back out of order
    pool = make_pool([f"tcp://{upstream.address}"], timeout=2.0)
    replies = await asyncio.gather(*(pool.resolve(question_of(name)) for name in names))
    assert [addresses(reply) for reply in replies] == [[f"192.0.2.{10 + i}"] for i in range(6)]
    assert upstream.tcp_connections_accepted == 1
    assert upstream.transport_counts == {"tcp": 6}


async def test_tcp_reconnects_after_the_upstream_hangs_up(upstream: FakeUpstream, make_pool: MakePool) -> None:
    pool = make_pool([f"tcp://{upstream.address}"])
    await pool.resolve(QUESTION)
    await upstream.drop_tcp_connections()
    assert addresses(await pool.resolve(QUESTION)) == ["192.0.2.1"]
    assert upstream.tcp_connections_accepted == 2
    assert pool.status()[0].consecutive_failures == 0


async def test_tcp_connection_closes_when_idle(upstream: FakeUpstream, make_pool: MakePool) -> None:
    pool = make_pool([f"tcp://{upstream.address}"], idle_timeout=0.05)
    await pool.resolve(QUESTION)
    await upstream.wait_for(lambda: upstream.open_tcp_connections == 0)
    assert addresses(await pool.resolve(QUESTION)) == ["192.0.2.1"]
    assert upstream.tcp_connections_accepted == 2


async def test_stream_forgets_queries_that_time_out(upstream: FakeUpstream) -> None:
    upstream.behave(drop=True)
    stream = StreamTransport("127.0.0.1", upstream.port, 1232)
    try:
        for _ in range(3):
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.05):
                    await stream.exchange(QUESTION, False, False)
            assert stream.in_flight == 0
        upstream.behave()
        assert addresses((await stream.exchange(QUESTION, False, False)).data) == ["192.0.2.1"]
    finally:
        await stream.aclose()


async def test_stream_bounds_queries_in_flight(upstream: FakeUpstream) -> None:
    upstream.behave(delay=0.05)
    stream = StreamTransport("127.0.0.1", upstream.port, 1232, max_inflight=2)
    try:
        exchanges = [asyncio.ensure_future(stream.exchange(QUESTION, False, False)) for _ in range(5)]
        await upstream.wait_for_queries(2)
        assert stream.in_flight == 2
        for answer in await asyncio.gather(*exchanges):
            assert addresses(answer.data) == ["192.0.2.1"]
    finally:
        await stream.aclose()


# --- failover and health ----------------------------------------------------------


@pytest.mark.parametrize("dead", ["closed-port", "drop"])
async def test_fails_over_when_the_first_upstream_is_dead(
    upstream: FakeUpstream, backup: FakeUpstream, make_pool: MakePool, dead: str
) -> None:
    if dead == "drop":
        upstream.behave(drop=True)
        first = upstream.address
    else:
        first = f"127.0.0.1:{closed_port(socket.SOCK_DGRAM)}"
    pool = make_pool([first, backup.address], timeout=0.2)
    assert addresses(await pool.resolve(QUESTION)) == ["192.0.2.99"]
    down, up = pool.status()
    assert down.consecutive_failures == 1 and down.healthy and down.last_error
    assert up.consecutive_failures == 0 and up.last_rtt_ms is not None


async def test_down_upstream_is_skipped_then_probed_back(
    upstream: FakeUpstream, backup: FakeUpstream, make_pool: MakePool
) -> None:
    clock = Clock()
    upstream.behave(drop=True)
    pool = make_pool([upstream.address, backup.address], timeout=0.1, clock=clock)
    for _ in range(3):
        assert addresses(await pool.resolve(QUESTION)) == ["192.0.2.99"]
    status = pool.status()[0]
    assert not status.healthy and status.consecutive_failures == 3 and status.last_error == "timed out"

    clock.now += 4.9  # still backing off: not asked at all
    assert addresses(await pool.resolve(QUESTION)) == ["192.0.2.99"]
    assert upstream.total_queries == 3

    clock.now += 0.1  # backoff over: the next query probes it first, and it is back
    upstream.behave()
    assert addresses(await pool.resolve(QUESTION)) == ["192.0.2.1"]
    assert upstream.total_queries == 4 and backup.total_queries == 4
    assert pool.status()[0].healthy and pool.status()[0].consecutive_failures == 0


async def test_failed_probe_doubles_the_backoff_up_to_the_maximum(
    upstream: FakeUpstream, backup: FakeUpstream, make_pool: MakePool
) -> None:
    clock = Clock()
    upstream.behave(drop=True)
    backoff = Backoff(failures_to_down=1, initial=5.0, maximum=8.0)
    pool = make_pool([upstream.address, backup.address], timeout=0.1, clock=clock, backoff=backoff)

    async def asked_after(seconds: float) -> bool:
        before = upstream.total_queries
        clock.now += seconds
        await pool.resolve(QUESTION)
        return upstream.total_queries > before

    assert await asked_after(0)  # fails: down for 5 s
    assert not await asked_after(4.9)
    assert await asked_after(0.1)  # probe fails: down for 10 s, capped at 8
    assert not await asked_after(7.9)
    assert await asked_after(0.1)
    assert pool.status()[0].consecutive_failures == 3


async def test_all_upstreams_down_are_asked_anyway(
    upstream: FakeUpstream, backup: FakeUpstream, make_pool: MakePool
) -> None:
    upstream.behave(drop=True)
    backup.behave(drop=True)
    pool = make_pool([upstream.address, backup.address], timeout=0.1, backoff=Backoff(failures_to_down=1))
    with pytest.raises(UpstreamError):
        await pool.resolve(QUESTION)
    assert [s.healthy for s in pool.status()] == [False, False]
    backup.behave()
    assert addresses(await pool.resolve(QUESTION)) == ["192.0.2.99"]
    assert pool.status()[1].healthy


@pytest.mark.parametrize("kind", [socket.SOCK_DGRAM, socket.SOCK_STREAM], ids=["udp", "tcp"])
async def test_all_dead_fails_quickly(make_pool: MakePool, kind: socket.SocketKind) -> None:
    scheme = "" if kind == socket.SOCK_DGRAM else "tcp://"
    pool = make_pool([f"{scheme}127.0.0.1:{closed_port(kind)}" for _ in range(2)], timeout=5.0)
    with pytest.raises(UpstreamError, match="no upstream DNS server answered"):
        await asyncio.wait_for(pool.resolve(QUESTION), 1.0)  # refused at once, no waiting
    assert [s.consecutive_failures for s in pool.status()] == [1, 1]


async def test_one_resolve_is_bounded_to_two_timeouts(make_pool: MakePool) -> None:
    fakes = [await FakeUpstream().start() for _ in range(3)]
    try:
        for fake in fakes:
            fake.behave(drop=True)
        pool = make_pool([fake.address for fake in fakes], timeout=0.2)
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(UpstreamError, match="timed out"):
            await pool.resolve(QUESTION)
        assert loop.time() - started < 0.2 * 2 + 0.15
        assert [fake.total_queries for fake in fakes] == [1, 1, 0]
    finally:
        for fake in fakes:
            await fake.close()


async def test_no_servers_configured(make_pool: MakePool) -> None:
    with pytest.raises(UpstreamError, match="no upstream DNS servers are configured"):
        await make_pool([]).resolve(QUESTION)


@pytest.mark.parametrize("rcode", ["servfail", "refused"])
async def test_servfail_and_refused_ask_the_next_upstream(
    upstream: FakeUpstream, backup: FakeUpstream, make_pool: MakePool, rcode: str
) -> None:
    upstream.behave(None, **dict[str, Any]({rcode: True}))
    pool = make_pool([upstream.address, backup.address])
    assert addresses(await pool.resolve(QUESTION)) == ["192.0.2.99"]
    # An upstream that answers is alive, even when the answer is SERVFAIL.
    assert pool.status()[0].healthy and pool.status()[0].consecutive_failures == 0


async def test_last_servfail_is_returned_when_nobody_does_better(
    upstream: FakeUpstream, backup: FakeUpstream, make_pool: MakePool
) -> None:
    upstream.behave(refused=True)
    backup.behave(servfail=True)
    pool = make_pool([upstream.address, backup.address])
    assert DNSRecord.parse(await pool.resolve(QUESTION)).header.rcode == RCODE.SERVFAIL
    backup.behave(drop=True)
    pool = make_pool([upstream.address, backup.address], timeout=0.1)
    assert DNSRecord.parse(await pool.resolve(QUESTION)).header.rcode == RCODE.REFUSED


# --- hostile and broken replies ---------------------------------------------------


@pytest.mark.parametrize("scheme", ["", "tcp://"], ids=["udp", "tcp"])
@pytest.mark.parametrize("behaviour", ["wrong_id", "wrong_question", "garbage", "pointer_loop"])
async def test_unusable_replies_are_rejected(
    upstream: FakeUpstream, backup: FakeUpstream, make_pool: MakePool, behaviour: str, scheme: str
) -> None:
    upstream.behave(None, **dict[str, Any]({behaviour: True}))
    pool = make_pool([scheme + upstream.address, scheme + backup.address], timeout=0.2)
    assert addresses(await pool.resolve(QUESTION)) == ["192.0.2.99"]
    assert pool.status()[0].consecutive_failures == 1


async def test_spoof_from_the_upstream_address_does_not_end_the_wait(
    upstream: FakeUpstream, make_pool: MakePool
) -> None:
    upstream.behave(spoof_then_real=True)
    pool = make_pool([upstream.address])
    assert addresses(await pool.resolve(QUESTION)) == ["192.0.2.1"]


async def test_spoof_from_another_port_is_ignored(upstream: FakeUpstream, make_pool: MakePool) -> None:
    upstream.behave(delay=0.2)
    pool = make_pool([upstream.address], timeout=2.0)
    resolving = asyncio.ensure_future(pool.resolve(QUESTION))
    await upstream.wait_for_queries(1)
    assert upstream.last_udp_peer is not None
    forged = DNSRecord.parse(upstream.last_queries[-1]).reply()  # right ID and question
    forged.add_answer(RR("example.org", QTYPE.A, rdata=A("203.0.113.66"), ttl=86400))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as attacker:
        attacker.bind(("127.0.0.1", 0))
        attacker.sendto(forged.pack(), upstream.last_udp_peer)
    assert addresses(await resolving) == ["192.0.2.1"]


def _reply_to(query: bytes, *records: RR) -> bytes:
    reply = DNSRecord.parse(query).reply()
    for record in records:
        reply.add_answer(record)
    return bytes(reply.pack())


async def test_udp_socket_ignores_everything_but_the_answer() -> None:
    """Fed datagrams by hand: only the last one, from the right place, is ours."""
    sock = udp.UdpSocket(retire_at=float("inf"))
    sock.peer = ("127.0.0.1", 53)
    waiter: asyncio.Future[transports.Answer] = asyncio.get_running_loop().create_future()
    qid = sock.add(waiter, QUESTION)
    query = make_query("example.org", qid=qid)
    good = _reply_to(query, RR("example.org", QTYPE.A, rdata=A("192.0.2.1"), ttl=60))
    sock.datagram_received(good, ("127.0.0.1", 5353))  # another port
    sock.datagram_received(good, ("127.0.0.2", 53))  # another address
    sock.datagram_received(struct.pack(">H", qid) + b"\x81\x80" + bytes(40), ("127.0.0.1", 53))  # right ID, junk
    sock.datagram_received(struct.pack(">H", qid ^ 1) + good[2:], ("127.0.0.1", 53))
    sock.datagram_received(query, ("127.0.0.1", 53))  # QR not set
    sock.datagram_received(good[:11], ("127.0.0.1", 53))  # shorter than a header
    assert not waiter.done()
    sock.datagram_received(good, ("127.0.0.1", 53))
    assert waiter.result().data == good


_Q = b"\x07example\x03org\x00\x00\x01\x00\x01"  # example.org A IN


@pytest.mark.parametrize(
    ("reply", "ours"),
    [
        (b"\x12\x34\x81\x80\x00\x01\x00\x00\x00\x00\x00\x00" + _Q, True),
        (b"\x12\x34\x81\x80\x00\x01\x00\x00\x00\x00\x00\x00" + _Q.upper(), True),
        (b"\x12\x35\x81\x80\x00\x01\x00\x00\x00\x00\x00\x00" + _Q, False),
        (b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" + _Q, False),
        (b"\x12\x34\x89\x80\x00\x01\x00\x00\x00\x00\x00\x00" + _Q, False),
        (b"\x12\x34\x81\x80\x00\x01\x00\x00\x00\x00\x00\x00" + _Q[:-4] + b"\x00\x1c\x00\x01", False),
        (b"\x12\x34\x81\x80\x00\x01\x00\x00\x00\x00\x00\x00" + _Q[:-4] + b"\x00\x01\x00\x03", False),
        (b"\x12\x34\x81\x80\x00\x01\x00\x00\x00\x00\x00\x00" + _Q.replace(b"example", b"exbmple"), False),
        (b"\x12\x34\x81\x80\x00\x00\x00\x00\x00\x00\x00\x00" + _Q, False),
        (b"\x12\x34\x81\x80\x00\x01", False),
    ],
    ids=["same", "other-case", "wrong-id", "not-a-response", "not-query-opcode", "wrong-type",
         "wrong-class", "wrong-name", "no-question", "short"],
)  # fmt: skip
def test_matches(reply: bytes, ours: bool) -> None:
    assert matches(reply, 0x1234, _Q) is ours


_HEADER_1_ANSWER = b"\x12\x34\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00"
_OWNER = 12 + len(_Q)  # where the answer record starts


def _record(owner: bytes, rtype: int, rdata: bytes) -> bytes:
    return owner + struct.pack(">HHIH", rtype, 1, 60, len(rdata)) + rdata


@pytest.mark.parametrize(
    ("record", "good"),
    [
        (_record(b"\xc0\x0c", 1, b"\xc0\x00\x02\x01"), True),
        (_record(b"\xc0\x0c", 5, b"\x03www\xc0\x0c"), True),
        (_record(struct.pack(">H", 0xC000 | _OWNER), 1, b"\xc0\x00\x02\x01"), False),
        (_record(struct.pack(">H", 0xC000 | (_OWNER + 2)), 1, b"\xc0\x00\x02\x01"), False),
        (_record(b"\xc0\x0c", 5, b"\x03www" + struct.pack(">H", 0xC000 | (_OWNER + 12))), False),
        (_record(b"\xc0\x0c", 5, struct.pack(">H", 0xC000 | (_OWNER + 12))), False),
        (_record(b"\xc0\x0c", 6, b"\xc0\x0c" + struct.pack(">H", 0xC000 | (_OWNER + 14)) + bytes(20)), False),
        (_record(b"\x80\x0c", 1, b"\xc0\x00\x02\x01"), False),
    ],
    ids=["plain", "cname-compressed", "owner-points-at-itself", "owner-points-forward",
         "cname-rdata-loop", "cname-rdata-self", "soa-second-name-loop", "bad-label-type"],
)  # fmt: skip
def test_check_reply_follows_compression_pointers(record: bytes, good: bool) -> None:
    reply = _HEADER_1_ANSWER + _Q + record
    if good:
        answer = check_reply(reply, 0x1234, _Q)
        assert answer is not None and answer.rcode == 0 and not answer.truncated
    else:
        with pytest.raises(MalformedPacket):
            check_reply(reply, 0x1234, _Q)


# --- closing ----------------------------------------------------------------------


async def test_aclose_leaves_no_tasks_or_connections(tls_context: TlsContexts) -> None:
    fake = await FakeUpstream().start()
    fake.add("example.org. 300 IN A 192.0.2.1")
    tls_port = await fake.start_tls(tls_context.server)
    doh = await DohServer(fake, tls_context.server).start()
    servers = [
        parse_upstream(text)
        for text in (
            fake.address,
            f"tcp://{fake.address}",
            f"tls://127.0.0.1:{tls_port}#localhost",
            f"https://127.0.0.1:{doh.port}/dns-query#localhost",
        )
    ]
    try:
        for server in servers:
            pool = UpstreamPool([server], 1.0, ssl_context=tls_context.client)
            assert addresses(await pool.resolve(QUESTION)) == ["192.0.2.1"]
            await pool.aclose()
            with pytest.raises(UpstreamError, match="closed"):
                await pool.resolve(QUESTION)
        await fake.wait_for(lambda: fake.open_tcp_connections == 0)
    finally:
        await doh.close()
        await fake.close()
    assert asyncio.all_tasks() == {asyncio.current_task()}
