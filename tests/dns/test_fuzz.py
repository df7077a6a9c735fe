"""Random and mutated packets thrown at a running listener, over UDP and TCP.

The filter runs in its own thread and event loop, so hypothesis can drive it
from plain blocking sockets. After every packet a valid query must still be
answered, and no packet may make the handler raise.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from dnslib import DNSRecord
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dnsfilter.service.app import Service
from tests.fakes import FakeUpstream, make_query
from tests.running import TEST_BLOCKLISTS, make_config, provide_test_index

VALID = make_query("example.org", qid=0xBEEF)


class LiveFilter:
    """The service and a fake upstream on a private loop in a thread."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.address: tuple[str, int] = ("", 0)
        self.service: Service | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self.loop.run_until_complete, args=(self._main(),), daemon=True)

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        async with FakeUpstream() as upstream:
            upstream.add("example.org. 300 IN A 192.0.2.1")
            config = make_config(self.data_dir, [upstream.address], blocking={"deny": ("blocked.example",)})
            provide_test_index(self.data_dir)
            self.service = Service(config, TEST_BLOCKLISTS)
            await self.service.start()
            self.address = self.service.bound[0]
            self.ready.set()
            await self._stop.wait()
            await self.service.stop()

    def start(self) -> None:
        self._thread.start()
        assert self.ready.wait(10), "the filter did not start"

    def stop(self) -> None:
        assert self._stop is not None
        self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)
        self.loop.close()


@pytest.fixture(scope="module")
def live_filter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveFilter]:
    live = LiveFilter(tmp_path_factory.mktemp("fuzz"))
    live.start()
    yield live
    live.stop()


def assert_still_answers(address: tuple[str, int]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(3)
        sock.sendto(VALID, address)
        while True:
            reply = DNSRecord.parse(sock.recv(4096))
            if reply.header.id == 0xBEEF:
                break
    assert str(reply.rr[0].rdata) == "192.0.2.1"


SEEDS = [
    make_query("www.example.org", "AAAA", edns=True, qid=1),
    make_query("blocked.example", "A", do=True, qid=2),
    make_query("example.org", "HTTPS", qid=3),
]


@st.composite
def mutated_queries(draw: st.DrawFn) -> bytes:
    base = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 8))):
        base[draw(st.integers(0, len(base) - 1))] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        base = base[: draw(st.integers(0, len(base)))]
    return bytes(base)


packets = st.one_of(st.binary(max_size=600), mutated_queries())
fuzz_settings = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@fuzz_settings
@given(packet=packets)
def test_udp_listener_survives_any_packet(live_filter: LiveFilter, packet: bytes) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(packet, live_filter.address)
    assert_still_answers(live_filter.address)
    assert live_filter.service is not None
    assert live_filter.service.listeners.stats.handler_errors == 0


@fuzz_settings
@given(packet=packets)
def test_tcp_listener_survives_any_packet(live_filter: LiveFilter, packet: bytes) -> None:
    with socket.create_connection(live_filter.address, timeout=3) as sock:
        sock.sendall(struct.pack(">H", len(packet)) + packet)
        sock.sendall(struct.pack(">H", len(VALID)) + VALID)
        # Replies to the fuzz packet (if any) may come first; ours must come.
        reader = sock.makefile("rb")
        while True:
            header = reader.read(2)
            assert len(header) == 2, "connection closed before the valid query was answered"
            reply = reader.read(struct.unpack(">H", header)[0])
            if reply[:2] == VALID[:2]:
                break
    assert_still_answers(live_filter.address)
    assert live_filter.service is not None
    assert live_filter.service.listeners.stats.handler_errors == 0
