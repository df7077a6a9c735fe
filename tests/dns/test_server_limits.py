"""What one client may hold of the listeners, on real sockets: TCP slots
(slowloris, refused clients, message deadlines, the busy idle timeout) and
UDP misses awaiting a silent upstream.

Clients other than 127.0.0.1 bind another loopback address (Linux answers
on all of 127.0.0.0/8), so the filter sees them as other devices.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from dnslib import RCODE, DNSRecord

from dnsfilter.dns.server import ListenerLimits
from tests.fakes import FakeUpstream, can_bind, frame, make_query
from tests.running import RunningFilter, make_config, running_service

Address = tuple[str, int]


pytestmark = pytest.mark.skipif(
    not can_bind("127.0.0.2"), reason="this machine answers on 127.0.0.1 only, not all of 127.0.0.0/8"
)


@pytest.fixture
async def upstream() -> AsyncIterator[FakeUpstream]:
    async with FakeUpstream() as fake:
        fake.add("example.org. 300 IN A 192.0.2.1")
        yield fake


@asynccontextmanager
async def limited(
    upstream: FakeUpstream, tmp_path: Path, limits: ListenerLimits, **dns: Any
) -> AsyncIterator[RunningFilter]:
    """The filter with the listeners' limits replaced (shorter timings than a config allows)."""
    config = make_config(tmp_path, [upstream.address], dns=dns, upstream={"timeout": 2.0})
    async with running_service(config) as running:
        running.service.listeners.set_limits(limits)
        yield running


async def connect(address: Address, source: str = "127.0.0.1") -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(*address, local_addr=(source, 0))


async def closed_within(reader: asyncio.StreamReader, seconds: float) -> bool:
    """Whether the server closes (or resets) the connection within ``seconds``."""
    try:
        return await asyncio.wait_for(reader.read(1), seconds) == b""
    except ConnectionError:
        return True
    except TimeoutError:
        return False


async def until(condition: Callable[[], bool], seconds: float = 3.0) -> None:
    """Return once ``condition()`` holds (checked every 10 ms)."""
    async with asyncio.timeout(seconds):
        while not condition():
            await asyncio.sleep(0.01)


async def tcp_answer(address: Address, source: str, name: str = "example.org") -> DNSRecord:
    reader, writer = await connect(address, source)
    try:
        writer.write(frame(make_query(name)))
        length = int.from_bytes(await asyncio.wait_for(reader.readexactly(2), 2), "big")
        return DNSRecord.parse(await asyncio.wait_for(reader.readexactly(length), 2))
    finally:
        writer.close()


# --- TCP ---------------------------------------------------------------------------


async def test_slowloris_from_one_address_leaves_tcp_open_to_the_others(
    upstream: FakeUpstream, tmp_path: Path
) -> None:
    limits = ListenerLimits()
    async with limited(upstream, tmp_path, limits) as running:
        tcp, stats = running.service.listeners._tcp, running.service.listeners.stats
        held = [await connect(running.address) for _ in range(limits.max_connections + 4)]
        # Every one of them accepted, and admitted or refused, before the other client comes.
        await until(lambda: len(tcp.connections) + stats.tcp_refused_connections == len(held))
        for _, writer in held:
            writer.write(b"\x00\x64")  # a 100-byte message, never finished

        async def dribble() -> None:
            while True:
                for _, writer in held:
                    if not writer.is_closing():
                        writer.write(b"x")
                await asyncio.sleep(0.2)

        dribbling = asyncio.ensure_future(dribble())
        try:
            reply = await tcp_answer(running.address, "127.0.0.2")
            assert str(reply.rr[0].rdata) == "192.0.2.1"
            assert tcp.per_client.by_client["127.0.0.1"] == limits.max_per_client
        finally:
            dribbling.cancel()
            for _, writer in held:
                writer.close()


async def test_a_refused_client_is_closed_at_accept_and_takes_no_slot(upstream: FakeUpstream, tmp_path: Path) -> None:
    allowed = (ipaddress.ip_network("127.0.0.1/32"),)
    limits = ListenerLimits(max_connections=2)
    async with limited(upstream, tmp_path, limits, allow_clients=allowed) as running:
        refused = [await connect(running.address, "127.0.0.2") for _ in range(5)]
        for reader, _ in refused:
            assert await closed_within(reader, 1.0)
        # Both slots are still free for allowed clients.
        both = [await connect(running.address) for _ in range(2)]
        for reader, writer in both:
            writer.write(frame(make_query("example.org")))
            assert len(await asyncio.wait_for(reader.read(512), 2)) > 2
        assert running.service.listeners.stats.tcp_refused_clients == 5
        for _, writer in refused + both:
            writer.close()


async def test_a_message_dribbled_byte_by_byte_is_dropped_at_its_deadline(
    upstream: FakeUpstream, tmp_path: Path
) -> None:
    limits = ListenerLimits(message_timeout=0.5)
    async with limited(upstream, tmp_path, limits) as running:
        reader, writer = await connect(running.address)
        loop = asyncio.get_running_loop()
        started = loop.time()
        writer.write(b"\x00\x64")
        closed = False
        while not closed and loop.time() - started < 3:
            writer.write(b"x")  # more bytes keep coming, none of them finishing the message
            closed = await closed_within(reader, 0.1)
        assert closed and 0.4 < loop.time() - started < 1.5
        assert running.service.listeners.stats.tcp_slow_messages == 1
        writer.close()


async def test_each_message_has_its_own_deadline(upstream: FakeUpstream, tmp_path: Path) -> None:
    # Two queries sent slowly, each within the deadline, both over it together.
    limits = ListenerLimits(message_timeout=0.6)
    async with limited(upstream, tmp_path, limits) as running:
        reader, writer = await connect(running.address)
        for qid in (1, 2):
            message = frame(make_query("example.org", qid=qid))
            for start in range(0, len(message), 8):
                writer.write(message[start : start + 8])
                await asyncio.sleep(0.3 * 8 / len(message))
            length = int.from_bytes(await asyncio.wait_for(reader.readexactly(2), 2), "big")
            assert DNSRecord.parse(await reader.readexactly(length)).header.id == qid
        writer.close()


async def test_quiet_connections_are_closed_sooner_once_over_half_the_slots_are_used(
    upstream: FakeUpstream, tmp_path: Path
) -> None:
    limits = ListenerLimits(max_connections=8, idle_timeout=10.0, busy_idle_timeout=0.3)
    async with limited(upstream, tmp_path, limits) as running:
        half = [await connect(running.address, f"127.0.0.{10 + i}") for i in range(4)]
        assert not await closed_within(half[0][0], 0.6)  # half full: the long timeout
        extra = await connect(running.address, "127.0.0.20")
        loop = asyncio.get_running_loop()
        started = loop.time()
        for reader, _ in [*half, extra]:
            assert await closed_within(reader, 2.0)
        assert loop.time() - started < 2.0
        for _, writer in [*half, extra]:
            writer.close()


# --- UDP ---------------------------------------------------------------------------


class UdpClient(asyncio.DatagramProtocol):
    """A UDP socket on a chosen source address, collecting every reply."""

    def __init__(self) -> None:
        self.replies: asyncio.Queue[DNSRecord] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None

    @classmethod
    async def open(cls, source: str, address: Address) -> UdpClient:
        _, client = await asyncio.get_running_loop().create_datagram_endpoint(
            cls, local_addr=(source, 0), remote_addr=address
        )
        return client

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.replies.put_nowait(DNSRecord.parse(data))

    def send(self, packet: bytes) -> None:
        assert self.transport is not None
        self.transport.sendto(packet)

    async def replies_within(self, count: int, seconds: float) -> list[DNSRecord]:
        async with asyncio.timeout(seconds):
            return [await self.replies.get() for _ in range(count)]

    def close(self) -> None:
        assert self.transport is not None
        self.transport.close()


SMALL_UDP = ListenerLimits(max_pending_udp=8, max_pending_udp_per_client=4)


async def test_a_flooding_client_gets_servfail_beyond_its_share_and_others_still_get_through(
    upstream: FakeUpstream, tmp_path: Path
) -> None:
    upstream.behave(drop=True)  # silent: every miss stays pending
    async with limited(upstream, tmp_path, SMALL_UDP) as running:
        flooder = await UdpClient.open("127.0.0.1", running.address)
        for i in range(10):
            flooder.send(make_query(f"new{i}.example.org", qid=100 + i))
        # The client's share (4) waits for the upstream; the rest fail at once,
        # long before the upstream timeout (2 s).
        refused = await flooder.replies_within(6, 1.0)
        assert all(reply.header.rcode == RCODE.SERVFAIL for reply in refused)
        assert sorted(reply.header.id for reply in refused) == list(range(104, 110))
        assert str(refused[0].q.qname) == "new4.example.org."
        await upstream.wait_for_queries(4)
        assert upstream.total_queries == 4

        upstream.behave()  # answering again
        other = await UdpClient.open("127.0.0.2", running.address)
        other.send(make_query("example.org", qid=7))
        (reply,) = await other.replies_within(1, 1.0)
        assert reply.header.id == 7 and str(reply.rr[0].rdata) == "192.0.2.1"
        assert running.service.listeners.stats.udp_overloaded == 6
        flooder.close()
        other.close()


async def test_servfail_once_every_client_together_holds_the_cap(upstream: FakeUpstream, tmp_path: Path) -> None:
    upstream.behave(drop=True)
    async with limited(upstream, tmp_path, SMALL_UDP) as running:
        clients = [await UdpClient.open(f"127.0.0.{i}", running.address) for i in (1, 2, 3)]
        for n, client in enumerate(clients[:2]):
            for i in range(4):
                client.send(make_query(f"new{n}-{i}.example.org"))
        await upstream.wait_for_queries(8)
        clients[2].send(make_query("late.example.org", edns=True))
        (reply,) = await clients[2].replies_within(1, 1.0)
        assert reply.header.rcode == RCODE.SERVFAIL
        assert reply.ar[0].rclass == SMALL_UDP.udp_size  # our EDNS buffer size
        assert running.service.listeners._pending_udp.total == 8
        for client in clients:
            client.close()
