"""UDP sockets shared by several queries, on real sockets: answers reach the
query they belong to whatever their order, a late answer to a query given up
on is ignored, a socket retires after its queries or its seconds and closes
once its last answer is in, and a refusal fails every query waiting on it."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
from dnslib import DNSRecord

from dnsfilter.dns.upstream import udp
from dnsfilter.dns.upstream.transports import Answer
from dnsfilter.dns.upstream.udp import QUERIES_PER_SOCKET, UdpTransport
from tests.fakes import FakeUpstream, question_of

NAMES = [f"n{n}.example.org" for n in range(20)]
FAST = "fast.example.org"
SLOW = "slow.example.org"  # answered after a second


class NoTcp:
    """The TCP fallback, which these tests must never need."""

    async def exchange(self, question: bytes, do: bool, cd: bool) -> Answer:
        raise AssertionError("asked over TCP")

    async def aclose(self) -> None:
        pass


def first_address(answer: Answer) -> str:
    return str(DNSRecord.parse(answer.data).rr[0].rdata)


@pytest.fixture
async def upstream() -> AsyncIterator[FakeUpstream]:
    async with FakeUpstream() as fake:
        for n, name in enumerate(NAMES):
            fake.add(f"{name}. 300 IN A 192.0.2.{n + 1}")
            fake.behave(name, delay=0.01 * (len(NAMES) - n))  # the last asked is answered first
        fake.add(f"{FAST}. 300 IN A 192.0.2.99")  # at once
        fake.add(f"{SLOW}. 300 IN A 192.0.2.98")
        fake.behave(SLOW, delay=1.0)
        yield fake


@pytest.fixture
async def transport(upstream: FakeUpstream) -> AsyncIterator[UdpTransport]:
    made = UdpTransport("127.0.0.1", upstream.port, 1232, NoTcp())
    yield made
    await made.aclose()


async def test_answers_in_any_order_reach_their_own_queries(transport: UdpTransport, upstream: FakeUpstream) -> None:
    answers = await asyncio.gather(*(transport.exchange(question_of(name), False, False) for name in NAMES))
    assert [first_address(answer) for answer in answers] == [f"192.0.2.{n + 1}" for n in range(len(NAMES))]
    assert transport.sockets_opened == 1  # all twenty on one socket
    assert upstream.transport_counts == {"udp": len(NAMES)}


async def test_a_full_socket_retires_and_closes_after_its_last_answer(transport: UdpTransport) -> None:
    slow = asyncio.ensure_future(transport.exchange(question_of(SLOW), False, False))
    await asyncio.sleep(0.01)
    first = transport._current
    assert first is not None
    for _ in range(QUERIES_PER_SOCKET - 1):
        await transport.exchange(question_of(FAST), False, False)
    assert transport.sockets_opened == 1 and first.queries == QUERIES_PER_SOCKET and not slow.done()
    await transport.exchange(question_of(FAST), False, False)
    assert transport.sockets_opened == 2 and first.retired
    assert first._transport is not None  # still waiting for the slow answer
    assert first_address(await slow) == "192.0.2.98"
    assert first._transport is None and not first.waiting


async def test_a_socket_takes_no_new_query_after_its_seconds(
    transport: UdpTransport, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(udp, "SOCKET_SECONDS", 0.5)
    await transport.exchange(question_of(FAST), False, False)
    await transport.exchange(question_of(FAST), False, False)
    assert transport.sockets_opened == 1
    await asyncio.sleep(0.6)
    await transport.exchange(question_of(FAST), False, False)
    assert transport.sockets_opened == 2


async def test_a_late_answer_to_a_query_given_up_on_is_ignored(transport: UdpTransport) -> None:
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(transport.exchange(question_of(NAMES[0]), False, False), 0.05)  # answered at 0.2 s
    sock = transport._current
    assert sock is not None and not sock.waiting
    # The same socket goes on: the late answer arrives meanwhile and ends nothing.
    answers = await asyncio.gather(*(transport.exchange(question_of(NAMES[5]), False, False) for _ in range(3)))
    assert {first_address(answer) for answer in answers} == {"192.0.2.6"}
    assert transport.sockets_opened == 1


async def test_a_refusal_fails_every_query_waiting_and_the_next_uses_a_new_socket() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    transport = UdpTransport("127.0.0.1", port, 1232, NoTcp())
    try:
        results = await asyncio.wait_for(
            asyncio.gather(*(transport.exchange(question_of(name), False, False) for name in NAMES[:5]),
                           return_exceptions=True),
            2.0,
        )  # fmt: skip
        assert all(isinstance(result, ConnectionRefusedError) for result in results), results
        refused = transport._current
        assert refused is not None and refused.retired and refused._transport is None
        opened = transport.sockets_opened
        with pytest.raises(ConnectionRefusedError):
            await asyncio.wait_for(transport.exchange(question_of(NAMES[0]), False, False), 2.0)
        assert transport.sockets_opened == opened + 1
    finally:
        await transport.aclose()
