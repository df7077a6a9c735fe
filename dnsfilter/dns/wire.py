"""DNS wire format: the per-query parser and the answers built without dnslib.

The hot path reads only the header, the question and the OPT record, with
``struct`` and byte indexing; a full parse with dnslib costs several times
more CPU per query. Answers are assembled from fixed pieces: our header, the
client's question bytes exactly as sent (so 0x20 letter case is echoed), the
answer records, and our own OPT record.

Messages exchanged with upstream resolvers are in ``response.py``.
"""

from __future__ import annotations

import re
import struct
from typing import Final

from dnsfilter.policy.memo import make_room

# Header flag bits (RFC 1035 4.1.1, RFC 4035 for AD/CD).
QR: Final = 0x8000
OPCODE_MASK: Final = 0x7800
AA: Final = 0x0400
TC: Final = 0x0200
RD: Final = 0x0100
RA: Final = 0x0080
AD: Final = 0x0020
CD: Final = 0x0010
RCODE_MASK: Final = 0x000F

OPCODE_QUERY: Final = 0

# Response codes. BADVERS needs the extended RCODE bits of the OPT record.
NOERROR: Final = 0
FORMERR: Final = 1
SERVFAIL: Final = 2
NXDOMAIN: Final = 3
NOTIMP: Final = 4
REFUSED: Final = 5
BADVERS: Final = 16

# Record types and classes used here.
TYPE_A: Final = 1
TYPE_NS: Final = 2
TYPE_CNAME: Final = 5
TYPE_SOA: Final = 6
TYPE_PTR: Final = 12
TYPE_HINFO: Final = 13
TYPE_TXT: Final = 16
TYPE_AAAA: Final = 28
TYPE_OPT: Final = 41
TYPE_SVCB: Final = 64
TYPE_HTTPS: Final = 65
TYPE_AXFR: Final = 252
TYPE_IXFR: Final = 251
TYPE_ANY: Final = 255
CLASS_IN: Final = 1

EDNS_DO: Final = 0x8000

# Bits of Query.reply_form besides RD and CD (which keep their header bits).
REPLY_FORM_EDNS: Final = 0x1
REPLY_FORM_DO: Final = 0x2
MIN_UDP_SIZE: Final = 512
MAX_NAME_WIRE: Final = 255
MAX_LABEL: Final = 63

_HEADER = struct.Struct(">HHHHHH")
_HEADER_TAIL = struct.Struct(">HHHHH")  # the header after the ID
_TYPE_CLASS = struct.Struct(">HH")
_RR_FIXED = struct.Struct(">HHIH")  # type, class, ttl, rdlength
_OPT_FIXED = struct.Struct(">HHBBHH")  # type, payload size, ext rcode, version, flags, rdlength
_TTL = struct.Struct(">I")

# Names made only of these bytes are shown as plain text; anything else is
# escaped (RFC 4343 presentation format) so a label can never smuggle a dot,
# a control character or markup into logs, lookups or the web UI.
_PLAIN_NAME = re.compile(rb"[a-z0-9_\-.*]*\Z")

# What an upstream answer is filed under: qname, qtype, qclass, DO and CD
# in one string, because a string caches its hash and a Query (with its key)
# is shared by every repeat of a packet: a cache lookup hashes nothing.
AnswerKey = str


def answer_key(qname: str, qtype: int, qclass: int, do: bool, cd: bool) -> AnswerKey:
    return f"{qname}\x00{qtype}\x00{qclass}\x00{int(do)}{int(cd)}"


class MalformedPacket(ValueError):
    """The bytes are not a DNS message we can answer.

    ``header`` is the 12-byte header when it was readable, so the caller can
    still send FORMERR; it is None when the packet is too short to reply to.
    """

    def __init__(self, why: str, header: bytes | None = None) -> None:
        super().__init__(why)
        self.header = header


class Query:
    """One parsed client query, everything but its ID.

    The ID is left out so that a repeated query (the same device asking the
    same name again) is parsed once and shared: see ``QueryParser``. Replies
    take the ID as the first two bytes of the client's packet.

    ``qname`` is lower case without the trailing dot ("" for the root), in
    presentation format. ``question`` is the question section exactly as the
    client sent it. ``edns_size`` is 0 when the client sent no OPT record.
    ``key`` identifies the upstream answer that fits this query.
    ``reply_form`` sums up what a reply must echo: RD, CD, EDNS and DO.
    ``error_rcode`` is not NOERROR when the query is one we answer with an
    error whatever the name: an unknown opcode, a newer EDNS version, a
    class other than IN, a zone transfer.
    """

    __slots__ = (
        "flags",
        "qname",
        "qtype",
        "qclass",
        "question",
        "edns_size",
        "edns_version",
        "do",
        "edns_options",
        "_key",
        "reply_form",
        "error_rcode",
    )

    def __init__(self, flags: int, qname: str, qtype: int, qclass: int, question: bytes) -> None:
        self.flags = flags
        self.qname = qname
        self.qtype = qtype
        self.qclass = qclass
        self.question = question
        self.edns_size = 0
        self.edns_version = 0
        self.do = False
        self.edns_options = b""
        self._key: AnswerKey | None = None
        self.reply_form = flags & (RD | CD)
        self.error_rcode = NOERROR

    @property
    def key(self) -> AnswerKey:
        # Made on first use: blocked queries never need it.
        key = self._key
        if key is None:
            key = self._key = answer_key(self.qname, self.qtype, self.qclass, self.do, bool(self.flags & CD))
        return key

    @property
    def opcode(self) -> int:
        return (self.flags & OPCODE_MASK) >> 11

    def __repr__(self) -> str:
        return (
            f"Query(qname={self.qname!r}, qtype={self.qtype}, qclass={self.qclass}, "
            f"edns_size={self.edns_size}, do={self.do})"
        )


class QueryParser:
    """``parse_query`` with a bounded memo keyed by the packet minus its ID.

    A home network asks the same few hundred names over and over, with the
    same flags and EDNS, so most packets differ from one seen before only in
    their ID. The memo is safe because a Query is a pure function of those
    bytes, and bounded: when full it forgets its oldest entries.
    """

    __slots__ = ("_memo", "_limit")

    def __init__(self, limit: int = 4096) -> None:  # sized as in canned.py
        self._memo: dict[bytes, Query] = {}
        self._limit = limit

    def parse(self, data: bytes) -> Query:
        body = data[2:]
        query = self._memo.get(body)
        if query is None:
            query = parse_query(data)
            if len(self._memo) >= self._limit:
                make_room(self._memo, self._limit)
            self._memo[body] = query
        return query


def name_to_text(labels: list[bytes]) -> str:
    """Presentation form of a name given as raw labels, lower-cased, escaped."""
    joined = b".".join(labels).lower()
    # One dot per label boundary, none inside a label: then the text is exact.
    if _PLAIN_NAME.match(joined) and joined.count(b".") == len(labels) - 1:
        return joined.decode("ascii")
    return ".".join(_escape_label(label.lower()) for label in labels)


def _escape_label(label: bytes) -> str:
    out = []
    for byte in label:
        if byte in b".\\":
            out.append("\\" + chr(byte))
        elif 0x21 <= byte <= 0x7E:
            out.append(chr(byte))
        else:
            out.append(f"\\{byte:03d}")
    return "".join(out)


def parse_query(data: bytes) -> Query:
    """Parse a client query. Raises MalformedPacket for anything unanswerable.

    Responses (QR set) are refused here too: answering them would let anyone
    bounce packets between two resolvers.
    """
    if len(data) < 12:
        raise MalformedPacket("shorter than a DNS header")
    _qid, flags, qdcount, ancount, nscount, arcount = _HEADER.unpack_from(data)
    if flags & QR:
        raise MalformedPacket("a response, not a query")
    if qdcount != 1:
        raise MalformedPacket(f"{qdcount} questions", data[:12])
    labels: list[bytes] = []
    size = len(data)
    pos = 12
    try:
        length = data[pos]
        while length:
            if length > MAX_LABEL:
                # Also catches compression pointers: nothing precedes the
                # question that a pointer could legitimately refer to.
                raise MalformedPacket("bad label in question", data[:12])
            end = pos + 1 + length
            labels.append(data[pos + 1 : end])
            pos = end
            if pos - 12 >= MAX_NAME_WIRE:
                raise MalformedPacket("name longer than 255 bytes", data[:12])
            length = data[pos]  # IndexError when the label ran past the end
    except IndexError:
        raise MalformedPacket("question cut short", data[:12]) from None
    pos += 5
    if pos > size:
        raise MalformedPacket("question cut short", data[:12])
    qtype, qclass = _TYPE_CLASS.unpack_from(data, pos - 4)
    query = Query(flags, name_to_text(labels), qtype, qclass, data[12:pos])
    if arcount:
        _read_edns(data, pos, ancount + nscount, arcount, query, data[:12])
    # The common query needs none of the checks in _error_rcode.
    if flags & OPCODE_MASK or qclass != CLASS_IN or qtype in _SPECIAL_TYPES or query.edns_version:
        query.error_rcode = _error_rcode(query)
    return query


_SPECIAL_TYPES: Final = frozenset((TYPE_OPT, TYPE_AXFR, TYPE_IXFR))


def _error_rcode(query: Query) -> int:
    if query.opcode != OPCODE_QUERY:
        return NOTIMP
    if query.edns_version:
        return BADVERS  # RFC 6891 6.1.3
    if query.qtype == TYPE_OPT:
        return FORMERR  # a meta-type cannot be asked for
    if query.qclass != CLASS_IN or query.qtype in (TYPE_AXFR, TYPE_IXFR):
        return REFUSED  # no CHAOS answers, no zone transfers from a filter
    return NOERROR


def _read_edns(
    data: bytes, pos: int, skip: int, arcount: int, query: Query, header: bytes
) -> None:
    """Find the OPT record in the additional section and copy its fields."""
    try:
        for _ in range(skip):
            pos = _skip_rr(data, pos)
        seen_opt = False
        for _ in range(arcount):
            start = pos
            pos = skip_name(data, pos)
            rtype, size, _ext, version, eflags, rdlength = _OPT_FIXED.unpack_from(data, pos)
            pos += 10
            if pos + rdlength > len(data):
                raise MalformedPacket("additional record cut short", header)
            if rtype == TYPE_OPT:
                if seen_opt or data[start] != 0:
                    # RFC 6891 6.1.1: more than one OPT, or an OPT not at the root.
                    raise MalformedPacket("bad OPT record", header)
                seen_opt = True
                query.edns_size = max(size, MIN_UDP_SIZE)
                query.edns_version = version
                query.do = bool(eflags & EDNS_DO)
                query.edns_options = data[pos : pos + rdlength]
                query.reply_form |= REPLY_FORM_EDNS | (REPLY_FORM_DO if query.do else 0)
            pos += rdlength
    except (IndexError, struct.error):
        raise MalformedPacket("additional section cut short", header) from None


def skip_name(data: bytes, pos: int) -> int:
    """Position after a possibly compressed name (pointers are not followed)."""
    total = 0
    while True:
        length = data[pos]
        if length == 0:
            return pos + 1
        if length & 0xC0 == 0xC0:
            if pos + 2 > len(data):
                raise IndexError(pos)
            return pos + 2
        if length > MAX_LABEL:
            raise IndexError(pos)
        pos += 1 + length
        total += 1 + length
        if total >= MAX_NAME_WIRE or pos > len(data):
            raise IndexError(pos)


def read_name(data: bytes, pos: int) -> str:
    """The name at ``pos`` as ``name_to_text`` gives it, following compression pointers.

    Pointers must point backwards (so they cannot loop) and the name may not
    exceed 255 bytes. Raises IndexError when the name does not hold up.
    """
    labels: list[bytes] = []
    total = 0
    limit = pos
    while True:
        length = data[pos]
        if length == 0:
            return name_to_text(labels)
        if length & 0xC0 == 0xC0:
            target = (length & 0x3F) << 8 | data[pos + 1]
            if target >= limit:
                raise IndexError(pos)
            pos = limit = target
            continue
        if length > MAX_LABEL:
            raise IndexError(pos)
        end = pos + 1 + length
        if end > len(data):
            raise IndexError(pos)
        labels.append(data[pos + 1 : end])
        total += 1 + length
        if total >= MAX_NAME_WIRE:
            raise IndexError(pos)
        pos = end


def _skip_rr(data: bytes, pos: int) -> int:
    pos = skip_name(data, pos)
    _rtype, _rclass, _ttl, rdlength = _RR_FIXED.unpack_from(data, pos)
    pos += 10 + rdlength
    if pos > len(data):
        raise IndexError(pos)
    return pos


# --- building answers -------------------------------------------------------


_OPT_RECORDS: dict[tuple[int, bool, int], bytes] = {}


def opt_record(udp_size: int, do: bool = False, ext_rcode: int = 0) -> bytes:
    """Our OPT pseudo-record: advertised buffer size, DO echoed, no options."""
    key = (udp_size, do, ext_rcode)
    record = _OPT_RECORDS.get(key)
    if record is None:
        # Few distinct values (one buffer size, DO, a handful of RCODEs): kept.
        record = b"\x00" + _OPT_FIXED.pack(TYPE_OPT, udp_size, ext_rcode & 0xFF, 0, EDNS_DO if do else 0, 0)
        _OPT_RECORDS[key] = record
    return record


def reply_flags(query_flags: int, rcode: int, aa: bool = False) -> int:
    """Response flags: QR and RA set, opcode, RD and CD copied from the query."""
    flags = QR | RA | (query_flags & (OPCODE_MASK | RD | CD)) | (rcode & RCODE_MASK)
    return flags | AA if aa else flags


def build_reply(
    qid: bytes,
    query: Query,
    udp_size: int,
    rcode: int = NOERROR,
    answers: bytes = b"",
    ancount: int = 0,
    authority: bytes = b"",
    nscount: int = 0,
    aa: bool = False,
) -> bytes:
    """A complete reply to ``query`` with the given sections.

    ``qid`` is the client's 2-byte ID as sent. ``udp_size`` is the buffer size we advertise in our OPT record, added only
    when the client used EDNS. Answer record owners usually point at the
    question (0xC00C), which is why the question is always at offset 12.
    """
    arcount = 1 if query.edns_size else 0
    header = _HEADER_TAIL.pack(reply_flags(query.flags, rcode, aa), 1, ancount, nscount, arcount)
    opt = opt_record(udp_size, query.do, rcode >> 4) if arcount else b""
    return b"".join((qid, header, query.question, answers, authority, opt))


def header_only_reply(header: bytes, rcode: int) -> bytes:
    """FORMERR-style reply when the question could not be read: header only."""
    qid, flags = struct.unpack_from(">HH", header)
    return _HEADER.pack(qid, reply_flags(flags, rcode), 0, 0, 0, 0)


def address_record(qtype: int, ttl: int, rdata: bytes) -> bytes:
    """An answer record owned by the question name (compression pointer)."""
    return b"\xc0\x0c" + _RR_FIXED.pack(qtype, CLASS_IN, ttl, len(rdata)) + rdata


def rfc8482_hinfo(ttl: int) -> bytes:
    """The minimal answer to ANY (RFC 8482 4.2): one synthesised HINFO."""
    rdata = b"\x07RFC8482\x00"
    return b"\xc0\x0c" + _RR_FIXED.pack(TYPE_HINFO, CLASS_IN, ttl, len(rdata)) + rdata


def truncated(reply: bytes, query: Query, udp_size: int) -> bytes:
    """The reply cut down to header + question (+OPT) with TC set."""
    flags = struct.unpack_from(">H", reply, 2)[0] | TC
    arcount = 1 if query.edns_size else 0
    header = _HEADER_TAIL.pack(flags, 1, 0, 0, arcount)
    opt = opt_record(udp_size, query.do) if arcount else b""
    return b"".join((reply[:2], header, query.question, opt))


def max_udp_reply(query: Query, our_size: int) -> int:
    """Largest UDP reply the client can take (RFC 6891 6.2.3, RFC 1035)."""
    if query.edns_size:
        return min(query.edns_size, our_size)
    return MIN_UDP_SIZE


def encode_name(name: str) -> bytes:
    """Wire form of a plain (unescaped) ASCII presentation name (safe-search targets, tests).
    Unicode names go through policy.domains first, which applies IDNA 2008 as browsers do."""
    name = name.rstrip(".")
    if not name:
        return b"\x00"
    if not name.isascii():
        raise ValueError(f"{name!r} is not an ASCII name; convert it with IDNA 2008 first")
    out = bytearray()
    for label in name.split("."):
        raw = label.encode("ascii")
        if not 0 < len(raw) <= MAX_LABEL:
            raise ValueError(f"bad label {label!r} in {name!r}")
        out.append(len(raw))
        out += raw
    out.append(0)
    if len(out) > MAX_NAME_WIRE:
        raise ValueError(f"name too long: {name!r}")
    return bytes(out)
