"""How one question travels to one upstream: UDP (with TCP on truncation), TCP, DoT, DoH.

Each transport sends a query and returns an ``Answer`` it has checked with
``check_reply``, or raises: ``UpstreamError`` for an unusable exchange,
``OSError`` for network trouble. None of them time out by themselves: the
pool wraps every attempt in a deadline, and cancellation cleans up here.

TCP and DoT connections live in ``dnsfilter.dns.upstream.streams``.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import ssl
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import aiohttp

from dnsfilter.dns import replies, wire
from dnsfilter.errors import UpstreamError

log = logging.getLogger(__name__)

DNS_MESSAGE = "application/dns-message"
MAX_MESSAGE = 65535

_RR_FIXED = struct.Struct(">HHIH")
_POINTER_MASK = 0xC0
# Types whose rdata may hold compressed names (RFC 3597 4), with the offset of
# the first name; SOA holds two names back to back.
_NAME_RDATA: dict[int, int] = {
    wire.TYPE_NS: 0,
    wire.TYPE_CNAME: 0,
    wire.TYPE_PTR: 0,
    wire.TYPE_SOA: 0,
    15: 2,  # MX: preference, then the exchange name
}


@dataclass(frozen=True, slots=True)
class Answer:
    """An upstream reply that passed every check, and its RCODE."""

    data: bytes
    rcode: int
    truncated: bool = False


class Transport(Protocol):
    async def exchange(self, question: bytes, do: bool, cd: bool) -> Answer: ...

    async def aclose(self) -> None: ...


class Truncated(Exception):
    """A UDP reply came back with TC set: ask again over TCP."""


class CaseChanged(Exception):
    """A UDP reply for our question came back with its letters in another case (DNS 0x20)."""


# --- checking replies ---------------------------------------------------------


def matches(reply: bytes, qid: int, question: bytes) -> bool:
    """Is this a response to our query: ID, QR, opcode and question (name in any case)?"""
    if len(reply) < 12 + len(question):
        return False
    if reply[0] != qid >> 8 or reply[1] != qid & 0xFF:
        return False
    flags = (reply[2] << 8) | reply[3]
    if not flags & wire.QR or flags & wire.OPCODE_MASK:
        return False
    if reply[4:6] != b"\x00\x01":
        return False
    end = 12 + len(question)
    # Length octets are at most 63, so lower() touches only letters: the
    # comparison is case-insensitive for the name and exact for type and class.
    return reply[12 : end - 4].lower() == question[:-4].lower() and reply[end - 4 : end] == question[-4:]


def check_reply(reply: bytes, qid: int, question: bytes) -> Answer | None:
    """The Answer, or None when ``reply`` is not for our query (ignore it and keep waiting).

    Raises MalformedPacket when it is ours but cannot be used.
    """
    if not matches(reply, qid, question):
        return None
    info = replies.scan_response(reply)
    _check_names(reply, 12 + len(question))
    return Answer(reply[: info.end], info.rcode, bool(info.flags & wire.TC))


def _check_names(data: bytes, pos: int) -> None:
    """Follow every compressed name in the records; reject loops and forward pointers.

    ``scan_response`` only skips names, so a pointer to itself would pass it and
    hang or crash whoever expands the name later (cache, log, web UI).
    """
    count = sum(struct.unpack_from(">HHH", data, 6))
    try:
        for _ in range(count):
            pos = _walk_name(data, pos)
            rtype, _rclass, _ttl, rdlength = _RR_FIXED.unpack_from(data, pos)
            rdata = pos + 10
            offset = _NAME_RDATA.get(rtype)
            if offset is not None:
                after = _walk_name(data, rdata + offset)
                if rtype == wire.TYPE_SOA:
                    _walk_name(data, after)
            pos = rdata + rdlength
    except (IndexError, struct.error):
        raise wire.MalformedPacket("answer cut short or garbled") from None


def _walk_name(data: bytes, pos: int) -> int:
    """Position after the name at ``pos``, having checked its whole expansion.

    Every pointer must go strictly backwards from where the last jump landed
    (as dnspython does), which both bans loops and bounds the walk.
    """
    end = -1
    limit = pos
    total = 0
    while True:
        length = data[pos]
        if length & _POINTER_MASK == _POINTER_MASK:
            target = ((length & 0x3F) << 8) | data[pos + 1]
            if end < 0:
                end = pos + 2
            if target >= limit:
                raise wire.MalformedPacket("bad compression pointer")
            limit = pos = target
            continue
        if length & _POINTER_MASK:
            raise wire.MalformedPacket("unknown label type")
        if length == 0:
            return end if end >= 0 else pos + 1
        total += 1 + length
        if total >= wire.MAX_NAME_WIRE:
            raise wire.MalformedPacket("name longer than 255 bytes")
        pos += 1 + length


def new_id() -> int:
    """A fresh unpredictable query ID (RFC 5452)."""
    return secrets.randbits(16)


# 0x20 at every lower-case ASCII letter, 0 elsewhere (length octets are at most 63).
_LETTER_BITS = bytes(0x20 if 0x61 <= byte <= 0x7A else 0 for byte in range(256))


def mixed_case(question: bytes) -> bytes:
    """``question`` with each letter of its name upper or lower case at random (DNS 0x20).

    An answer must echo the question exactly, so a forger has to guess one
    bit per letter on top of the query ID and our port. One random number and
    a few integer operations: no loop over the name.
    """
    name = question[:-4].lower()
    size = len(name)
    flips = int.from_bytes(name.translate(_LETTER_BITS)) & secrets.randbits(8 * size)
    return (int.from_bytes(name) ^ flips).to_bytes(size) + question[-4:]


# --- UDP ------------------------------------------------------------------------


class UdpTransport:
    """One connected socket per query: the kernel gives each a fresh random
    source port (Linux picks ephemeral ports at random) and drops datagrams
    from any other address. The question's letters are in random case (DNS
    0x20) and must come back exactly so; TC=1 goes to ``tcp``.

    An upstream that answers our question in another case (a few forwarders
    lower-case it) is asked again over ``tcp``, where nobody off-path can
    forge an answer, and from then on always over TCP. Comparing without case
    instead would let one forged answer with the right ID and port switch the
    0x20 check off for good; going to TCP gives a forger nothing.
    """

    def __init__(self, host: str, port: int, udp_size: int, tcp: Transport) -> None:
        self.host = host
        self.port = port
        self.udp_size = udp_size
        self.tcp = tcp
        self.keeps_case = True  # False once the upstream changed a question's case

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
        loop = asyncio.get_running_loop()
        qid = new_id()
        sent = mixed_case(question)
        waiter: asyncio.Future[Answer] = loop.create_future()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _UdpExchange(waiter, qid, sent), remote_addr=(self.host, self.port)
        )
        try:
            transport.sendto(replies.build_upstream_query(qid, sent, self.udp_size, do, cd))
            return await waiter
        finally:
            transport.close()

    async def aclose(self) -> None:
        await self.tcp.aclose()


class _UdpExchange(asyncio.DatagramProtocol):
    """Waits for the one datagram that answers our query; everything else is ignored.

    The answer must carry ``question`` exactly, letter case included; one
    that differs only in case ends the wait with CaseChanged, unused.
    """

    def __init__(self, waiter: asyncio.Future[Answer], qid: int, question: bytes) -> None:
        self.waiter = waiter
        self.qid = qid
        self.question = question
        self.peer: tuple[str, int] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        peer = transport.get_extra_info("peername")
        self.peer = (peer[0], peer[1]) if peer else None

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.waiter.done() or self.peer is None or (addr[0], addr[1]) != self.peer:
            return
        try:
            answer = check_reply(data, self.qid, self.question)
        except wire.MalformedPacket as error:
            # Someone who guessed the ID must not be able to end our wait
            # with junk: keep listening for the real answer.
            log.debug("ignored an unusable answer from %s: %s", addr[0], error)
            return
        if answer is None:
            return
        if data[12 : 12 + len(self.question)] != self.question:
            self.waiter.set_exception(CaseChanged())
        else:
            self.waiter.set_result(answer)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable on a connected socket: nobody is listening there.
        if not self.waiter.done():
            self.waiter.set_exception(exc)


# --- DNS over HTTPS -------------------------------------------------------------


class HttpsTransport:
    """RFC 8484 POST with ID 0; the ClientSession belongs to the pool."""

    def __init__(
        self,
        host: str,
        port: int,
        path: str,
        tls_name: str | None,
        udp_size: int,
        session: Callable[[], aiohttp.ClientSession],
    ) -> None:
        literal = f"[{host}]" if ":" in host else host
        self.url = f"https://{literal}:{port}{path or '/dns-query'}"
        self.server_hostname = tls_name
        self.headers = {"Content-Type": DNS_MESSAGE, "Accept": DNS_MESSAGE}
        if tls_name is not None:
            # Connect to the address, but ask for and verify the named host.
            self.headers["Host"] = tls_name if port == 443 else f"{tls_name}:{port}"
        self.udp_size = udp_size
        self.session = session

    async def exchange(self, question: bytes, do: bool, cd: bool) -> Answer:
        # ID 0 lets HTTP caches share answers (RFC 8484 4.1); TLS protects it.
        packet = replies.build_upstream_query(0, question, self.udp_size, do, cd)
        try:
            async with self.session().post(
                self.url,
                data=packet,
                headers=self.headers,
                server_hostname=self.server_hostname,
                allow_redirects=False,
            ) as response:
                if response.status != 200:
                    raise UpstreamError(f"HTTP status {response.status}")
                if response.content_type != DNS_MESSAGE:
                    raise UpstreamError(f"content type {response.content_type!r}, not {DNS_MESSAGE}")
                body = await _read_bounded(response)
        except aiohttp.ClientError as error:
            raise UpstreamError(f"HTTPS request failed: {error}") from error
        try:
            answer = check_reply(body, 0, question)
        except wire.MalformedPacket as error:
            raise UpstreamError(f"malformed answer: {error}") from error
        if answer is None:
            raise UpstreamError("the answer is for another question")
        return answer

    async def aclose(self) -> None:
        """Nothing of its own: the pool closes the shared session."""


async def _read_bounded(response: aiohttp.ClientResponse) -> bytes:
    """The body, refusing anything longer than a DNS message can be."""
    if response.content_length is not None and response.content_length > MAX_MESSAGE:
        raise UpstreamError("answer longer than a DNS message")
    body = bytearray()
    async for chunk in response.content.iter_chunked(4096):
        body += chunk
        if len(body) > MAX_MESSAGE:
            raise UpstreamError("answer longer than a DNS message")
    return bytes(body)


def client_ssl_context(given: ssl.SSLContext | None) -> ssl.SSLContext:
    """The context that verifies upstream certificates: the system's trust store by default."""
    return given if given is not None else ssl.create_default_context()
