"""Reading upstream answers: TTL offsets, negative TTLs, OPT removal, bad input."""

from __future__ import annotations

import struct

import pytest
from dnslib import EDNS0, RCODE, RR, DNSRecord
from hypothesis import given, settings
from hypothesis import strategies as st

from dnsfilter.dns import replies
from dnsfilter.dns.wire import MalformedPacket


def upstream_answer(qname: str = "example.org", records: list[str] | None = None, *, rcode: int = 0,
                    authority: list[str] | None = None, edns: bool = True) -> bytes:
    record = DNSRecord.question(qname).reply()
    record.header.rcode = rcode
    for text in records or []:
        record.add_answer(*RR.fromZone(text))
    for text in authority or []:
        record.add_auth(*RR.fromZone(text))
    if edns:
        record.add_ar(EDNS0(udp_len=4096))
    return record.pack()


class TestScanResponse:
    def test_ttl_offsets_point_at_every_ttl(self) -> None:
        data = upstream_answer(records=["example.org. 300 IN CNAME www.example.org.",
                                        "www.example.org. 60 IN A 192.0.2.1"])
        info = replies.scan_response(data)
        assert info.ttls == [300, 60]
        assert [struct.unpack_from(">I", data, off)[0] for off in info.ttl_offsets] == [300, 60]
        assert info.opt_span is not None
        assert info.end == len(data)

    def test_negative_ttl_from_soa(self) -> None:
        data = upstream_answer(
            rcode=RCODE.NXDOMAIN,
            authority=["example.org. 900 IN SOA ns.example.org. host.example.org. 1 2 3 4 120"],
        )
        info = replies.scan_response(data)
        assert info.rcode == RCODE.NXDOMAIN
        assert info.negative_ttl == 120

    def test_without_opt(self) -> None:
        data = upstream_answer(records=["example.org. 300 IN A 192.0.2.1"])
        stripped = replies.without_opt(data, replies.scan_response(data))
        parsed = DNSRecord.parse(stripped)
        assert parsed.ar == [] and str(parsed.rr[0].rdata) == "192.0.2.1"

    @pytest.mark.parametrize(
        "mangle",
        [
            lambda d: d[:-3],
            lambda d: d[:12],
            lambda d: d[:4] + b"\x00\x02" + d[6:],
            lambda d: d[:6] + b"\x00\x09" + d[8:],
        ],
        ids=["cut-record", "no-question", "two-questions", "too-many-answers"],
    )
    def test_rejects_garbled_answers(self, mangle: object) -> None:
        data = upstream_answer(records=["example.org. 300 IN A 192.0.2.1"])
        with pytest.raises(MalformedPacket):
            replies.scan_response(mangle(data))  # type: ignore[operator]



@settings(max_examples=2000, deadline=None)
@given(st.binary(max_size=600))
def test_response_scanner_never_raises_anything_but_malformed(data: bytes) -> None:
    try:
        replies.scan_response(data)
    except MalformedPacket:
        pass


class TestCnameChain:
    """The names an answer's aliases lead to, which the policy checks too."""

    @pytest.mark.parametrize(
        ("records", "authority", "chain"),
        [
            (["example.org. 60 IN A 192.0.2.1"], [], []),
            (
                ["example.org. 300 IN CNAME edge.cdn.example.", "edge.cdn.example. 60 IN A 192.0.2.1"],
                [],
                ["edge.cdn.example"],
            ),
            (
                [
                    "example.org. 300 IN CNAME a.example.net.",
                    "a.example.net. 300 IN CNAME B.Example.COM.",
                    "b.example.com. 60 IN A 192.0.2.1",
                ],
                [],
                ["a.example.net", "b.example.com"],
            ),
            # A CNAME outside the answer section is not part of the chain.
            ([], ["other.example. 300 IN CNAME hidden.example."], []),
            (
                ["example.org. 300 IN CNAME x.example.", "example.org. 300 IN CNAME x.example."],
                [],
                ["x.example"],
            ),
        ],
        ids=["no-alias", "one-cname-compressed", "two-cnames-lower-cased", "authority-ignored", "repeat-once"],
    )
    def test_chain(self, records: list[str], authority: list[str], chain: list[str]) -> None:
        info = replies.scan_response(upstream_answer(records=records, authority=authority))
        assert info.chain == chain

    def test_dname_target_is_part_of_the_chain(self) -> None:
        data = bytearray(upstream_answer(records=["example.org. 300 IN CNAME example.net."], edns=False))
        type_at = replies.question_end(bytes(data)) + 2  # after the owner's compression pointer
        struct.pack_into(">H", data, type_at, replies.TYPE_DNAME)
        assert replies.scan_response(bytes(data)).chain == ["example.net"]

    def test_target_with_odd_bytes_is_escaped(self) -> None:
        data = bytearray(upstream_answer(records=["example.org. 300 IN CNAME placeholder.example."], edns=False))
        target = b"\x07bad.<b>\x07example\x00"
        start = data.index(b"\x0bplaceholder")
        data[start:] = target
        struct.pack_into(">H", data, start - 2, len(target))  # RDLENGTH
        assert replies.scan_response(bytes(data)).chain == ["bad\\.<b>.example"]

    @pytest.mark.parametrize(
        "rdata",
        [b"\xc0\xff", b"\x05abc", b"\x3fabc"],
        ids=["pointer-forward", "label-cut-short", "label-past-end"],
    )
    def test_damaged_target_is_refused(self, rdata: bytes) -> None:
        data = bytearray(upstream_answer(records=["example.org. 300 IN CNAME a.example."], edns=False))
        start = data.index(b"\x01a\x07example")
        del data[start:]
        struct.pack_into(">H", data, start - 2, len(rdata))
        with pytest.raises(MalformedPacket):
            replies.scan_response(bytes(data + rdata))
