"""Plain DNS over UDP to one upstream, on a few short-lived sockets.

Opening, connecting and closing a socket for every query was most of a cache
miss's cost. So a connected socket carries up to ``QUERIES_PER_SOCKET``
queries (at the same time or one after another), then takes no more and
closes once its last answer is in; a socket is also retired
``SOCKET_SECONDS`` after it opened. Each new socket gets a fresh random
source port from the kernel (Linux picks ephemeral ports at random), which
drops datagrams from any other address.

A forger who cannot see our packets must still guess the port, the 16-bit
ID of one of the few queries waiting on it, and the letter case of its name
(DNS 0x20): the question's letters are in random case and must come back
exactly so. A reply that echoes the question in another case means the
upstream does not keep case (a few forwarders lower-case it): the question
is asked again over TCP, and from then on always over TCP, where nobody
off-path can forge an answer. Comparing without case instead would let one
forged answer switch the check off for good.
"""

from __future__ import annotations

import asyncio
import logging
from typing import cast

from dnsfilter.dns import replies, wire
from dnsfilter.dns.upstream.transports import Answer, CaseChanged, Transport, check_reply, mixed_case, new_id

log = logging.getLogger(__name__)

QUERIES_PER_SOCKET = 50  # then a fresh socket, on a fresh random port
SOCKET_SECONDS = 5.0  # a socket takes no new query after this long


class UdpTransport:
    """Questions to ``host``:``port`` over UDP; TC=1 and case changes go to ``tcp``."""

    def __init__(self, host: str, port: int, udp_size: int, tcp: Transport) -> None:
        self.host = host
        self.port = port
        self.udp_size = udp_size
        self.tcp = tcp
        self.keeps_case = True  # False once the upstream changed a question's case
        self.sockets_opened = 0
        self._current: UdpSocket | None = None
        self._opening = asyncio.Lock()

    async def exchange(self, question: bytes, do: bool, cd: bool) -> Answer:
        if not self.keeps_case:
            return await self.tcp.exchange(question, do, cd)
        try:
            answer = await self._udp(question, do, cd)
        except CaseChanged:
            self.keeps_case = False
            log.warning(
                "upstream %s:%d does not keep the letter case of questions (DNS 0x20); "
                "asking it over TCP from now on, so forged answers cannot get in",
                self.host,
                self.port,
            )
            return await self.tcp.exchange(question, do, cd)
        if answer.truncated:
            return await self.tcp.exchange(question, do, cd)
        return answer

    async def _udp(self, question: bytes, do: bool, cd: bool) -> Answer:
        sent = mixed_case(question)
        waiter: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        sock = self._current
        if sock is None or not sock.takes_more():
            sock = await self._fresh_socket()
        qid = sock.add(waiter, sent)
        try:
            sock.send(replies.build_upstream_query(qid, sent, self.udp_size, do, cd))
            return await waiter
        finally:
            sock.remove(qid)

    async def _fresh_socket(self) -> UdpSocket:
        async with self._opening:  # queries arriving together share the one being opened
            current = self._current
            if current is not None and current.takes_more():
                return current
            if current is not None:
                current.retire()
            loop = asyncio.get_running_loop()
            _, opened = await loop.create_datagram_endpoint(
                lambda: UdpSocket(loop.time() + SOCKET_SECONDS), remote_addr=(self.host, self.port)
            )
            self.sockets_opened += 1
            self._current = opened
            return opened

    async def aclose(self) -> None:
        if self._current is not None:
            self._current.retire()
            self._current = None
        await self.tcp.aclose()


class UdpSocket(asyncio.DatagramProtocol):
    """One connected socket and the queries waiting on it, by ID.

    A datagram is taken only from the upstream's address and port, and only
    as the answer to a query waiting here with its ID, exact question and
    type; anything else is ignored, so junk cannot end a wait.
    """

    def __init__(self, retire_at: float) -> None:
        self.retire_at = retire_at
        self.queries = 0  # queries this socket has carried
        self.waiting: dict[int, tuple[asyncio.Future[Answer], bytes]] = {}
        self.peer: tuple[str, int] | None = None
        self.retired = False
        self._transport: asyncio.DatagramTransport | None = None

    def takes_more(self) -> bool:
        if self.retired or self._transport is None or self.queries >= QUERIES_PER_SOCKET:
            return False
        if asyncio.get_running_loop().time() >= self.retire_at:
            self.retire()
            return False
        return True

    def add(self, waiter: asyncio.Future[Answer], question: bytes) -> int:
        """Wait for the answer to ``question`` under a fresh ID, returned."""
        qid = new_id()
        while qid in self.waiting:
            qid = new_id()
        self.waiting[qid] = (waiter, question)
        self.queries += 1
        return qid

    def send(self, query: bytes) -> None:
        assert self._transport is not None
        self._transport.sendto(query)

    def remove(self, qid: int) -> None:
        """The query ``qid`` is over (answered, failed or given up): a late answer is ignored."""
        self.waiting.pop(qid, None)
        if self.retired and not self.waiting:
            self._close()

    def retire(self) -> None:
        """No new queries; closed once those waiting are over."""
        self.retired = True
        if not self.waiting:
            self._close()

    def _close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    # --- asyncio.DatagramProtocol --------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # asyncio's own loop hands over a transport that is not a DatagramTransport subclass.
        self._transport = cast(asyncio.DatagramTransport, transport)
        peer = transport.get_extra_info("peername")
        self.peer = (peer[0], peer[1]) if peer else None

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.peer is None or (addr[0], addr[1]) != self.peer or len(data) < 12:
            return
        qid = (data[0] << 8) | data[1]
        waiting = self.waiting.get(qid)
        if waiting is None or waiting[0].done():
            return
        waiter, question = waiting
        try:
            answer = check_reply(data, qid, question)
        except wire.MalformedPacket as error:
            # Someone who guessed the ID must not be able to end our wait
            # with junk: keep listening for the real answer.
            log.debug("ignored an unusable answer from %s: %s", addr[0], error)
            return
        if answer is None:
            return
        if data[12 : 12 + len(question)] != question:
            waiter.set_exception(CaseChanged())
        else:
            waiter.set_result(answer)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable on a connected socket: nobody is listening
        # there, for any of the queries waiting; the next ones try a new socket.
        self.retire()
        self._fail_all(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self.retired = True
        self._transport = None
        self._fail_all(exc or ConnectionResetError("the socket to the upstream was closed"))

    def _fail_all(self, exc: Exception) -> None:
        for waiter, _ in self.waiting.values():
            if not waiter.done():
                waiter.set_exception(exc)
