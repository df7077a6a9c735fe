"""The hand-written wire format, checked against dnslib as the reference."""

from __future__ import annotations

import struct

import pytest
from dnslib import EDNS0, QTYPE, RCODE, DNSError, DNSRecord
from hypothesis import given, settings
from hypothesis import strategies as st

from dnsfilter.dns import wire


def query_bytes(name: str = "example.org", qtype: str = "A", *, edns: int | None = None,
                do: bool = False, qid: int = 0x1234) -> bytes:
    record = DNSRecord.question(name, qtype)
    record.header.id = qid
    if edns is not None:
        record.add_ar(EDNS0(udp_len=edns, flags="do" if do else ""))
    return record.pack()


def header(qid: int = 1, flags: int = wire.RD, qd: int = 1, an: int = 0, ns: int = 0, ar: int = 0) -> bytes:
    return struct.pack(">HHHHHH", qid, flags, qd, an, ns, ar)


class TestParseQuery:
    def test_reads_the_question_and_header(self) -> None:
        query = wire.parse_query(query_bytes("www.Example.ORG", "AAAA", qid=4321))
        assert query.qname == "www.example.org"
        assert query.qtype == wire.TYPE_AAAA
        assert query.qclass == wire.CLASS_IN
        assert query.flags & wire.RD
        assert query.edns_size == 0
        # The question is kept byte for byte, letter case included (0x20).
        assert query.question == wire.encode_name("www.Example.ORG") + b"\x00\x1c\x00\x01"

    def test_root_name(self) -> None:
        assert wire.parse_query(query_bytes(".", "NS")).qname == ""

    @pytest.mark.parametrize(
        ("size", "expected"), [(4096, 4096), (1232, 1232), (100, 512)], ids=["large", "default", "below-512"]
    )
    def test_edns_buffer_size(self, size: int, expected: int) -> None:
        assert wire.parse_query(query_bytes(edns=size)).edns_size == expected

    def test_edns_do_bit_and_options(self) -> None:
        record = DNSRecord.question("example.org")
        record.add_ar(EDNS0(udp_len=1232, flags="do", opts=[]))
        query = wire.parse_query(record.pack())
        assert query.do
        assert query.edns_version == 0

    def test_edns_version_is_read(self) -> None:
        packet = header(ar=1) + wire.encode_name("example.org") + b"\x00\x01\x00\x01" + \
            b"\x00" + struct.pack(">HHBBHH", 41, 1232, 0, 1, 0, 0)
        assert wire.parse_query(packet).edns_version == 1

    @pytest.mark.parametrize(
        "labels",
        [[b"a.b", b"org"], [b"<script>", b"org"], [b"caf\xc3\xa9", b"org"], [b"a\x00b", b"org"], [b"A\\B", b"org"]],
        ids=["dot-in-label", "markup", "utf8", "nul", "backslash"],
    )
    def test_odd_labels_are_escaped_not_trusted(self, labels: list[bytes]) -> None:
        name = b"".join(bytes([len(label)]) + label for label in labels) + b"\x00"
        query = wire.parse_query(header() + name + b"\x00\x01\x00\x01")
        first = query.qname.rsplit(".", 1)[0]
        # One label stays one label: no bare dot, no raw control byte or markup survives.
        assert query.qname.endswith(".org")
        assert "." not in first.replace("\\.", "")
        assert all(0x20 < ord(ch) < 0x7F for ch in query.qname)
        if labels[0] == b"<script>":
            assert query.qname == "<script>.org"  # printable: kept, escaped for HTML elsewhere

    @pytest.mark.parametrize(
        ("packet", "replyable"),
        [
            (b"", False),
            (b"\x12\x34\x01\x00\x00\x01", False),
            (header(qd=0), True),
            (header(qd=2) + wire.encode_name("a.org") + b"\x00\x01\x00\x01" * 2, True),
            (header() + b"\x07example", True),
            (header() + wire.encode_name("example.org") + b"\x00\x01", True),
            (header() + b"\xc0\x0c\x00\x01\x00\x01", True),
            (header() + b"\x40" + b"a" * 64 + b"\x00\x00\x01\x00\x01", True),
            (header() + (b"\x3f" + b"a" * 63) * 5 + b"\x00\x00\x01\x00\x01", True),
            (header(ar=1) + wire.encode_name("a.org") + b"\x00\x01\x00\x01" + b"\x00\x00\x29", True),
            (header(ar=2) + wire.encode_name("a.org") + b"\x00\x01\x00\x01"
             + (b"\x00" + struct.pack(">HHBBHH", 41, 1232, 0, 0, 0, 0)) * 2, True),
            (header(ar=1) + wire.encode_name("a.org") + b"\x00\x01\x00\x01"
             + b"\x01x\x00" + struct.pack(">HHBBHH", 41, 1232, 0, 0, 0, 0), True),
            (header(flags=wire.QR) + wire.encode_name("a.org") + b"\x00\x01\x00\x01", False),
        ],
        ids=[
            "empty", "short-header", "no-question", "two-questions", "cut-label", "cut-type",
            "pointer-in-question", "label-64", "name-over-255", "cut-opt", "two-opts",
            "opt-not-at-root", "a-response",
        ],
    )
    def test_malformed(self, packet: bytes, replyable: bool) -> None:
        with pytest.raises(wire.MalformedPacket) as caught:
            wire.parse_query(packet)
        assert (caught.value.header is not None) == replyable


class TestReplies:
    def test_block_answer_matches_dnslib(self) -> None:
        packet = query_bytes("Ads.Example.org", "A", edns=4096, do=True)
        query = wire.parse_query(packet)
        reply = wire.build_reply(
            packet[:2], query, 1232, answers=wire.address_record(wire.TYPE_A, 10, b"\x00" * 4), ancount=1
        )
        parsed = DNSRecord.parse(reply)
        assert parsed.header.id == 0x1234
        assert parsed.header.qr and parsed.header.ra and parsed.header.rd
        assert str(parsed.q.qname) == "Ads.Example.org."
        assert len(parsed.rr) == 1
        assert str(parsed.rr[0].rdata) == "0.0.0.0"
        assert parsed.rr[0].ttl == 10
        opt = parsed.ar[0]
        assert opt.rtype == QTYPE.OPT and opt.rclass == 1232
        assert opt.ttl & wire.EDNS_DO  # DO echoed

    def test_badvers_sets_extended_rcode(self) -> None:
        query = wire.parse_query(query_bytes(edns=1232))
        reply = wire.build_reply(b"\x12\x34", query, 1232, wire.BADVERS)
        parsed = DNSRecord.parse(reply)
        assert parsed.header.rcode == 0
        assert (parsed.ar[0].ttl >> 24) == 1  # 16 >> 4

    def test_no_opt_without_client_edns(self) -> None:
        reply = wire.build_reply(b"\x12\x34", wire.parse_query(query_bytes()), 1232, wire.NXDOMAIN)
        parsed = DNSRecord.parse(reply)
        assert parsed.header.rcode == RCODE.NXDOMAIN
        assert parsed.ar == []

    def test_header_only_formerr(self) -> None:
        reply = wire.header_only_reply(header(qid=77, flags=wire.RD | wire.CD, qd=2), wire.FORMERR)
        qid, flags, qd, an, ns, ar = struct.unpack(">HHHHHH", reply)
        assert (qid, flags & 0xF, qd, an, ns, ar) == (77, wire.FORMERR, 0, 0, 0, 0)
        assert flags & wire.QR and flags & wire.RD and flags & wire.CD

    def test_truncated(self) -> None:
        query = wire.parse_query(query_bytes(edns=1232))
        big = wire.build_reply(b"\x12\x34", query, 1232, answers=b"x" * 2000, ancount=0)
        cut = DNSRecord.parse(wire.truncated(big, query, 1232))
        assert cut.header.tc and cut.rr == [] and cut.ar[0].rtype == QTYPE.OPT

    def test_rfc8482_hinfo_parses(self) -> None:
        query = wire.parse_query(query_bytes("example.org", "ANY"))
        parsed = DNSRecord.parse(wire.build_reply(b"\x12\x34", query, 1232, answers=wire.rfc8482_hinfo(3600), ancount=1))
        assert parsed.rr[0].rtype == QTYPE.HINFO
        assert b"RFC8482" in parsed.rr[0].rdata.data


@settings(max_examples=3000, deadline=None)
@given(st.binary(max_size=600))
def test_parser_never_raises_anything_but_malformed(data: bytes) -> None:
    try:
        wire.parse_query(data)
    except wire.MalformedPacket:
        pass


@settings(max_examples=2000, deadline=None)
@given(st.data())
def test_mutated_queries_parse_or_fail_cleanly(data: st.DataObject) -> None:
    packet = bytearray(query_bytes("www.example.org", "AAAA", edns=1232))
    for _ in range(data.draw(st.integers(1, 6))):
        position = data.draw(st.integers(0, len(packet) - 1))
        packet[position] = data.draw(st.integers(0, 255))
    try:
        query = wire.parse_query(bytes(packet))
    except wire.MalformedPacket:
        return
    # Whatever parsed must agree with the reference parser on the question
    # (dnslib refuses binary labels, which DNS allows and we escape).
    try:
        reference = DNSRecord.parse(bytes(packet))
    except DNSError:
        return
    assert query.qtype == reference.q.qtype
    if "\\" not in query.qname:  # escaping conventions differ; plain names must match
        assert query.qname == str(reference.q.qname).rstrip(".").lower()


def test_encode_name_refuses_unicode_rather_than_guess_an_idna_version() -> None:
    # IDNA 2003 would make faß.de fass.de, another name than the xn--fa-hia.de browsers ask for.
    with pytest.raises(ValueError, match="not an ASCII name"):
        wire.encode_name("faß.de")
    assert wire.encode_name("xn--fa-hia.de") == b"\x0axn--fa-hia\x02de\x00"
