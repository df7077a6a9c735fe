"""How one question travels to one upstream: UDP (with TCP on truncation), TCP, DoT, DoH.

Each transport sends a query and returns an ``Answer`` it has checked with
``check_reply``, or raises: ``UpstreamError`` for an unusable exchange,
``OSError`` for network trouble. None of them time out by themselves: the
pool wraps every attempt in a deadline, and cancellation cleans up here.

UDP sockets live in ``dnsfilter.dns.upstream.udp``, TCP and DoT connections
in ``dnsfilter.dns.upstream.streams``.
"""

from __future__ import annotations

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
