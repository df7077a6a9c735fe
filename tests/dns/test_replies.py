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


class TestSummaryKey:
    """Replies whose summaries may be shared in a batch of the query log."""

    @staticmethod
    def question_of(reply: bytes) -> bytes:
        return reply[12 : replies.question_end(reply)]

    def test_blocked_names_share_a_key_and_a_summary(self) -> None:
        first = upstream_answer("one.example", ["one.example. 60 IN A 0.0.0.0"])
        second = upstream_answer("other.example.net", ["other.example.net. 60 IN A 0.0.0.0"])
        key = replies.summary_key(first, self.question_of(first))
        assert key is not None
        assert key == replies.summary_key(second, self.question_of(second))
        assert replies.answer_summary(first) == replies.answer_summary(second) == (0, "0.0.0.0")

    def test_a_cname_into_the_question_has_no_key(self) -> None:
        # The target is a pointer into each question: equal bytes after the
        # question, different targets.
        first = upstream_answer("www.a.example", ["www.a.example. 60 IN CNAME a.example."])
        second = upstream_answer("www.b.example", ["www.b.example. 60 IN CNAME b.example."])
        assert replies.summary_key(first, self.question_of(first)) is None
        assert replies.answer_summary(first) == (0, "a.example")
        assert replies.answer_summary(second) == (0, "b.example")

    def test_another_question_or_owner_has_no_key(self) -> None:
        data = upstream_answer("example.org", ["example.org. 60 IN A 192.0.2.1"])
        assert replies.summary_key(data, self.question_of(upstream_answer("example.net"))) is None
        not_the_question = upstream_answer("example.org", ["other.example. 60 IN A 192.0.2.1"])
        assert replies.summary_key(not_the_question, self.question_of(not_the_question)) is None
        assert replies.summary_key(bytes(12), b"\x00\x00\x01\x00\x01") is None

    @settings(max_examples=300, deadline=None)
    @given(
        st.lists(st.sampled_from(["a.example", "www.a.example", "b.example.org", "x.y.z"]), min_size=2, max_size=2),
        st.lists(st.sampled_from(["A 192.0.2.1", "A 0.0.0.0", "AAAA ::", "CNAME a.example.", "CNAME cdn.example.",
                                  "MX 10 a.example.", "TXT hello"]), min_size=2, max_size=2),
        st.sampled_from([0, 3]),
    )
    def test_equal_keys_mean_equal_summaries(self, names: list[str], records: list[str], rcode: int) -> None:
        made = [upstream_answer(name, [f"{name}. 60 IN {record}"], rcode=rcode) for name, record in zip(names, records)]
        keys = [replies.summary_key(reply, self.question_of(reply)) for reply in made]
        if keys[0] is not None and keys[0] == keys[1]:
            assert replies.answer_summary(made[0]) == replies.answer_summary(made[1])
