"""One DNS query over UDP or TCP to 127.0.0.1: does a server answer, and with what.

Built by hand with ``struct`` so the benchmark driver needs nothing beyond the
standard library; only the fake upstream uses dnslib.
"""

from __future__ import annotations

import random
import socket
import struct
from dataclasses import dataclass

TYPE_A = 1
TYPE_OPT = 41
CLASS_IN = 1
EDNS_UDP_SIZE = 1232
_HEADER = struct.Struct(">HHHHHH")
_RECORD = struct.Struct(">HHIH")  # type, class, TTL, data length
_FLAG_QR = 0x8000
_FLAG_RD = 0x0100
_RCODE_MASK = 0x000F
RCODE_NAMES = {
    0: "NOERROR",
    1: "FORMERR",
    2: "SERVFAIL",
    3: "NXDOMAIN",
    4: "NOTIMP",
    5: "REFUSED",
}


@dataclass(frozen=True, slots=True)
class ProbeReply:
    """What a server answered: its RCODE name, how many answer records, their IPv4 addresses."""

    rcode: str
    answer_count: int
    addresses: tuple[str, ...] = ()  # of the A records in the answer section


def edns_option(code: int, value: bytes) -> bytes:
    """One EDNS option as it goes in an OPT record: code, length, value."""
    return struct.pack(">HH", code, len(value)) + value


def build_query(
    name: str, query_id: int, qtype: int = TYPE_A, edns_options: bytes | None = None
) -> bytes:
    """A recursive query for ``name`` (which must be plain ASCII).

    With ``edns_options`` (made by ``edns_option``; ``b""`` for none) the
    query carries an OPT record holding them, as a router adding the device's
    MAC does; without, it has no OPT record.
    """
    labels = [label for label in name.rstrip(".").encode("ascii").split(b".") if label]
    qname = b"".join(bytes([len(label)]) + label for label in labels) + b"\x00"
    question = qname + struct.pack(">HH", qtype, CLASS_IN)
    if edns_options is None:
        return _HEADER.pack(query_id, _FLAG_RD, 1, 0, 0, 0) + question
    opt = b"\x00" + _RECORD.pack(TYPE_OPT, EDNS_UDP_SIZE, 0, len(edns_options))
    header = _HEADER.pack(query_id, _FLAG_RD, 1, 0, 0, 1)
    return header + question + opt + edns_options


def read_reply(wire: bytes, query_id: int) -> ProbeReply | None:
    """The reply summary, or None when ``wire`` is not a response to ``query_id``."""
    if len(wire) < _HEADER.size:
        return None
    reply_id, flags, question_count, answer_count, _ns, _ar = _HEADER.unpack_from(wire)
    if reply_id != query_id or not flags & _FLAG_QR:
        return None
    rcode = flags & _RCODE_MASK
    addresses = _answer_addresses(wire, question_count, answer_count)
    return ProbeReply(RCODE_NAMES.get(rcode, f"RCODE{rcode}"), answer_count, addresses)


def _answer_addresses(
    wire: bytes, question_count: int, answer_count: int
) -> tuple[str, ...]:
    """The IPv4 addresses of the A records in the answer section (those before any damage)."""
    addresses: list[str] = []
    try:
        offset = _HEADER.size
        for _ in range(question_count):
            offset = _skip_name(wire, offset) + 4  # type, class
        for _ in range(answer_count):
            offset = _skip_name(wire, offset)
            rtype, _class, _ttl, length = _RECORD.unpack_from(wire, offset)
            offset += _RECORD.size
            if rtype == TYPE_A and length == 4 and offset + 4 <= len(wire):
                addresses.append(socket.inet_ntoa(wire[offset : offset + 4]))
            offset += length
    except (IndexError, struct.error):
        pass
    return tuple(addresses)


def _skip_name(wire: bytes, offset: int) -> int:
    """The offset just past the (possibly compressed) name starting at ``offset``."""
    while True:
        length = wire[offset]
        if length & 0xC0 == 0xC0:  # a pointer ends the name
            return offset + 2
        offset += 1 + length
        if length == 0:
            return offset


def query_udp(
    host: str,
    port: int,
    name: str,
    timeout: float,
    *,
    source: str | None = None,
    edns_options: bytes | None = None,
) -> ProbeReply | None:
    """Ask once over UDP; None on timeout, refusal or a reply that does not match.

    ``source``: the local address to send from (another 127.0.0.x is another
    device to the server); ``edns_options``: as for ``build_query``.
    """
    query_id = random.randrange(1 << 16)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        try:
            if source is not None:
                sock.bind((source, 0))
            query = build_query(name, query_id, edns_options=edns_options)
            sock.sendto(query, (host, port))
            wire, _ = sock.recvfrom(65535)
        except OSError:  # includes timeouts and ICMP port unreachable
            return None
    return read_reply(wire, query_id)


def query_tcp(host: str, port: int, name: str, timeout: float) -> ProbeReply | None:
    """Ask once over TCP (RFC 7766 length prefix); None on any failure."""
    query_id = random.randrange(1 << 16)
    query = build_query(name, query_id)
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(struct.pack(">H", len(query)) + query)
            (length,) = struct.unpack(">H", _receive_exactly(sock, 2))
            wire = _receive_exactly(sock, length)
    except (OSError, EOFError):
        return None
    return read_reply(wire, query_id)


def _receive_exactly(sock: socket.socket, size: int) -> bytes:
    chunks: list[bytes] = []
    remaining = size
    while remaining:
        chunk = sock.recv(remaining)
        if not chunk:
            raise EOFError("connection closed mid-message")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)
