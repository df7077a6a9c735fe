"""Messages exchanged with upstream resolvers.

``build_upstream_query`` makes the query we send; ``scan_response`` walks an
upstream answer once when it enters the cache and records where every TTL
lives, so a cache hit is served by patching bytes, never by parsing.
"""

from __future__ import annotations

import socket
import struct

from dnsfilter.dns.wire import (
    CD,
    MAX_LABEL,
    MAX_NAME_WIRE,
    RCODE_MASK,
    RD,
    TYPE_A,
    TYPE_AAAA,
    TYPE_CNAME,
    TYPE_OPT,
    TYPE_SOA,
    MalformedPacket,
    opt_record,
    read_name,
    skip_name,
)

TYPE_DNAME = 39

_HEADER = struct.Struct(">HHHHHH")
_RR_FIXED = struct.Struct(">HHIH")  # type, class, ttl, rdlength
_TTL = struct.Struct(">I")


# --- building queries for upstreams -----------------------------------------


def build_upstream_query(qid: int, question: bytes, udp_size: int, do: bool, cd: bool = False) -> bytes:
    """A recursive query with EDNS, as sent to an upstream resolver."""
    flags = RD | (CD if cd else 0)
    return _HEADER.pack(qid, flags, 1, 0, 0, 1) + question + opt_record(udp_size, do)


# --- reading upstream answers -----------------------------------------------


class ResponseInfo:
    """What ``scan_response`` learnt about an upstream answer.

    ``ttl_offsets`` and ``ttls`` list every TTL field outside the OPT record,
    so a cached copy can be aged by patching bytes. ``negative_ttl`` is the
    RFC 2308 TTL taken from the SOA in the authority section, or None.
    ``opt_span`` is the (start, end) of the OPT record, or None.
    ``chain`` holds the targets of the answer's CNAME and DNAME records, in
    order: the policy checks them too, so a blocked name cannot hide behind
    an allowed one.
    """

    __slots__ = ("rcode", "flags", "ancount", "ttl_offsets", "ttls", "negative_ttl", "opt_span", "end", "chain")

    def __init__(self) -> None:
        self.rcode = 0
        self.flags = 0
        self.ancount = 0
        self.ttl_offsets: list[int] = []
        self.ttls: list[int] = []
        self.negative_ttl: int | None = None
        self.opt_span: tuple[int, int] | None = None
        self.end = 0
        self.chain: list[str] = []


def question_end(data: bytes) -> int:
    """Offset just after the single, uncompressed question of a message."""
    pos = 12
    while True:
        length = data[pos]
        if length == 0:
            break
        if length > MAX_LABEL:
            raise IndexError(pos)  # compressed or garbled: not what we sent
        pos += 1 + length
        if pos - 12 >= MAX_NAME_WIRE:
            raise IndexError(pos)
    pos += 5
    if pos > len(data):
        raise IndexError(pos)
    return pos


def scan_response(data: bytes) -> ResponseInfo:
    """Walk an upstream response once; MalformedPacket if it does not hold up."""
    info = ResponseInfo()
    try:
        _qid, flags, qdcount, ancount, nscount, arcount = _HEADER.unpack_from(data)
        if qdcount != 1:
            raise MalformedPacket(f"{qdcount} questions in answer")
        info.flags = flags
        info.ancount = ancount
        pos = question_end(data)
        ext_rcode = 0
        for index in range(ancount + nscount + arcount):
            start = pos
            pos = skip_name(data, pos)
            rtype, _rclass, ttl, rdlength = _RR_FIXED.unpack_from(data, pos)
            rdata = pos + 10
            end = rdata + rdlength
            if end > len(data):
                raise MalformedPacket("record cut short")
            if rtype == TYPE_OPT:
                if info.opt_span is not None or index < ancount + nscount:
                    raise MalformedPacket("misplaced OPT record")
                info.opt_span = (start, end)
                ext_rcode = data[pos + 4]
            else:
                info.ttl_offsets.append(pos + 4)
                info.ttls.append(ttl & 0x7FFFFFFF)  # RFC 2181 8: top bit set means 0
                if (rtype == TYPE_CNAME or rtype == TYPE_DNAME) and index < ancount:
                    target = read_name(data, rdata)
                    if target not in info.chain:
                        info.chain.append(target)
                elif rtype == TYPE_SOA and ancount <= index < ancount + nscount and rdlength >= 20:
                    minimum = _TTL.unpack_from(data, end - 4)[0]
                    info.negative_ttl = min(ttl & 0x7FFFFFFF, minimum)
            pos = end
        info.rcode = (ext_rcode << 4) | (flags & RCODE_MASK)
        info.end = pos
    except (IndexError, struct.error):
        raise MalformedPacket("answer cut short or garbled") from None
    return info


_CNAME = TYPE_CNAME.to_bytes(2, "big")
_ADDRESS_FAMILIES = {(TYPE_A, 4): socket.AF_INET, (TYPE_AAAA, 16): socket.AF_INET6}


def summary_key(reply: bytes, question: bytes) -> bytes | None:
    """What ``answer_summary`` reads of ``reply``, a reply to ``question``, apart
    from the question: replies with equal keys have equal summaries, whatever
    name they answer (every blocked name's reply differs only in its name).

    None when the summary may depend on the name: the reply does not carry
    ``question`` after its header, or its first answer is not owned by a
    pointer to the question or is a CNAME (whose target may point into it).
    """
    end = 12 + len(question)
    if not reply.startswith(question, 12):
        return None
    if reply[6:8] != b"\x00\x00" and (reply[end : end + 2] != b"\xc0\x0c" or reply[end + 2 : end + 4] == _CNAME):
        return None
    return reply[2:12] + reply[end:]


def answer_summary(reply: bytes) -> tuple[int, str]:
    """The RCODE and, for the query log, what the first answer record says:
    an address, or the name a CNAME points to ("" when there is none)."""
    if len(reply) < 12:
        return 0, ""
    rcode = reply[3] & RCODE_MASK
    try:
        if not struct.unpack_from(">H", reply, 6)[0]:
            return rcode, ""
        pos = skip_name(reply, question_end(reply))
        rtype, _rclass, _ttl, rdlength = _RR_FIXED.unpack_from(reply, pos)
        rdata = reply[pos + 10 : pos + 10 + rdlength]
        family = _ADDRESS_FAMILIES.get((rtype, len(rdata)))
        if family is not None and rdlength == len(rdata):
            return rcode, socket.inet_ntop(family, rdata)
        if rtype == TYPE_CNAME:
            return rcode, read_name(reply, pos + 10)
        return rcode, f"type {rtype}"
    except (IndexError, struct.error, ValueError):
        return rcode, ""


def without_opt(data: bytes, info: ResponseInfo) -> bytes:
    """The answer with its OPT record removed (our own is added per client).

    OPT is nearly always last; if it is not, nothing after it is moved and we
    only drop it when that is safe (no record follows it).
    """
    if info.opt_span is None:
        return data[: info.end]
    start, end = info.opt_span
    if end != info.end:
        raise MalformedPacket("OPT record is not the last record")
    arcount = struct.unpack_from(">H", data, 10)[0] - 1
    return data[:10] + struct.pack(">H", arcount) + data[12:start]
