"""The answer cache: TTL ageing by patching, clamping, negative caching, stale, LRU."""

from __future__ import annotations

import tracemalloc

import pytest
from dnslib import EDNS0, RCODE, RR, DNSRecord
from hypothesis import given
from hypothesis import strategies as st

from dnsfilter.dns import cache as cache_module
from dnsfilter.dns import wire
from dnsfilter.dns.cache import AnswerCache, CacheLimits, answer_from_upstream


def client_query(name: str = "example.org", qtype: str = "A", qid: int = 99, edns: bool = False) -> wire.Query:
    record = DNSRecord.question(name, qtype)
    record.header.id = qid
    if edns:
        record.add_ar(EDNS0(udp_len=1232))
    return wire.parse_query(record.pack())


def upstream(records: list[str], *, rcode: int = 0, authority: list[str] | None = None,
             qname: str = "example.org") -> bytes:
    reply = DNSRecord.question(qname).reply()
    reply.header.id = 4242
    reply.header.aa = 1
    reply.header.rcode = rcode
    for text in records:
        reply.add_answer(*RR.fromZone(text))
    for text in authority or []:
        reply.add_auth(*RR.fromZone(text))
    reply.add_ar(EDNS0(udp_len=4096))
    return reply.pack()


SOA = "example.org. 900 IN SOA ns.example.org. host.example.org. 1 2 3 4 300"


class TestRender:
    def test_fresh_hit_is_the_upstream_answer_with_the_clients_id_and_case(self) -> None:
        entry = answer_from_upstream(upstream(["example.org. 300 IN A 192.0.2.1"]), 1000.0, CacheLimits())
        query = client_query("ExAmPle.org", qid=7)
        reply = DNSRecord.parse(entry.render(b"\x00\x07", query, 1000.0, 1232))
        assert reply.header.id == 7
        assert str(reply.q.qname) == "ExAmPle.org."
        assert str(reply.rr[0].rdata) == "192.0.2.1"
        assert reply.rr[0].ttl == 300
        assert not reply.header.aa  # we relay, we are not the authority
        assert reply.ar == []  # the upstream's OPT is never passed on

    def test_ttls_decrease_with_age(self) -> None:
        data = upstream(["example.org. 300 IN CNAME www.example.org.", "www.example.org. 60 IN A 192.0.2.1"])
        entry = answer_from_upstream(data, 1000.0, CacheLimits())
        reply = DNSRecord.parse(entry.render(b"\x00\x63", client_query(), 1045.7, 1232))
        assert [rr.ttl for rr in reply.rr] == [255, 15]

    def test_our_opt_is_added_for_edns_clients(self) -> None:
        entry = answer_from_upstream(upstream(["example.org. 300 IN A 192.0.2.1"]), 0.0, CacheLimits())
        reply = DNSRecord.parse(entry.render(b"\x00\x63", client_query(edns=True), 0.0, 1232))
        assert len(reply.ar) == 1 and reply.ar[0].rclass == 1232

    def test_each_client_form_gets_its_own_header_and_opt_whatever_the_order(self) -> None:
        """One cached answer served in turn to clients with and without EDNS, with
        RD on and off and other buffer sizes: each reply is the one a fresh entry
        renders for that client alone."""
        data = upstream(["example.org. 300 IN A 192.0.2.1"])
        shared = answer_from_upstream(data, 0.0, CacheLimits())
        plain, edns = client_query(), client_query(edns=True)
        no_rd = DNSRecord.question("example.org")
        no_rd.header.rd = 0
        clients = [(plain, 1232), (edns, 1232), (wire.parse_query(no_rd.pack()), 1232), (edns, 4096), (plain, 1232)]
        for query, udp_size in clients * 2:
            alone = answer_from_upstream(data, 0.0, CacheLimits())
            assert shared.render(b"\x00\x63", query, 0.0, udp_size) == alone.render(b"\x00\x63", query, 0.0, udp_size)
        reply = DNSRecord.parse(shared.render(b"\x00\x63", wire.parse_query(no_rd.pack()), 0.0, 1232))
        assert (reply.header.rd, reply.ar) == (0, [])
        assert DNSRecord.parse(shared.render(b"\x00\x63", edns, 0.0, 4096)).ar[0].rclass == 4096

    def test_stale_render_uses_stale_ttl(self) -> None:
        entry = answer_from_upstream(upstream(["example.org. 60 IN A 192.0.2.1"]), 0.0, CacheLimits())
        reply = DNSRecord.parse(entry.render(b"\x00\x63", client_query(), 5000.0, 1232, stale_ttl=30))
        assert reply.rr[0].ttl == 30


    @pytest.mark.parametrize(
        ("cap", "age", "ttls"),
        [
            (0, 0.0, [300, 60]),  # no cap
            (120, 0.0, [120, 60]),  # only the TTLs above the cap change
            (30, 0.0, [30, 30]),
            (30, 45.5, [30, 15]),  # aged below the cap: the aged TTL
            (400, 10.0, [290, 50]),  # a cap above every TTL changes nothing
            (1, 0.0, [1, 1]),
        ],
        ids=["none", "some-above", "all-above", "aged", "cap-above", "one-second"],
    )
    def test_ttl_cap(self, cap: int, age: float, ttls: list[int]) -> None:
        data = upstream(["example.org. 300 IN CNAME www.example.org.", "www.example.org. 60 IN A 192.0.2.1"])
        entry = answer_from_upstream(data, 1000.0, CacheLimits())
        for _ in range(2):  # the second time from the body kept for this second
            reply = DNSRecord.parse(entry.render(b"\x00\x63", client_query(), 1000.0 + age, 1232, ttl_cap=cap))
            assert [rr.ttl for rr in reply.rr] == ttls
        # The stored answer is untouched: another profile without a cap sees the real TTLs.
        plain = DNSRecord.parse(entry.render(b"\x00\x63", client_query(), 1000.0 + age, 1232))
        assert [rr.ttl for rr in plain.rr] == [300 - int(age), 60 - int(age)]

    def test_stale_render_respects_a_smaller_cap(self) -> None:
        entry = answer_from_upstream(upstream(["example.org. 60 IN A 192.0.2.1"]), 0.0, CacheLimits())
        reply = DNSRecord.parse(entry.render(b"\x00\x63", client_query(), 5000.0, 1232, stale_ttl=30, ttl_cap=5))
        assert reply.rr[0].ttl == 5

    def test_chain_is_kept_with_the_answer(self) -> None:
        data = upstream(["example.org. 300 IN CNAME edge.example.net.", "edge.example.net. 60 IN A 192.0.2.1"])
        assert answer_from_upstream(data, 0.0, CacheLimits()).chain == ("edge.example.net",)
        plain = upstream(["example.org. 300 IN A 192.0.2.1"])
        assert answer_from_upstream(plain, 0.0, CacheLimits()).chain == ()


@pytest.mark.parametrize(
    ("records", "rcode", "authority", "limits", "lifetime"),
    [
        (["example.org. 300 IN A 192.0.2.1"], 0, None, CacheLimits(), 300),
        (["example.org. 5 IN A 192.0.2.1"], 0, None, CacheLimits(min_ttl=60), 60),
        (["example.org. 999999 IN A 192.0.2.1"], 0, None, CacheLimits(max_ttl=3600), 3600),
        ([], RCODE.NXDOMAIN, [SOA], CacheLimits(), 300),
        ([], RCODE.NXDOMAIN, [SOA], CacheLimits(negative_max_ttl=60), 60),
        ([], 0, [SOA], CacheLimits(), 300),
        ([], RCODE.NXDOMAIN, None, CacheLimits(), 0),
        ([], RCODE.SERVFAIL, None, CacheLimits(), 0),
        ([], RCODE.REFUSED, None, CacheLimits(), 0),
    ],
    ids=["ttl", "min-ttl", "max-ttl", "nxdomain-soa", "negative-cap", "nodata-soa",
         "nxdomain-no-soa", "servfail", "refused"],
)
def test_lifetime(records: list[str], rcode: int, authority: list[str] | None,
                  limits: CacheLimits, lifetime: int) -> None:
    assert answer_from_upstream(upstream(records, rcode=rcode, authority=authority), 0.0, limits).lifetime == lifetime


def test_truncated_answers_are_not_cached() -> None:
    data = bytearray(upstream(["example.org. 300 IN A 192.0.2.1"]))
    data[2] |= 0x02  # TC
    assert answer_from_upstream(bytes(data), 0.0, CacheLimits()).lifetime == 0


class TestAnswerCache:
    def entry(self, ttl: int = 60, now: float = 0.0):  # type: ignore[no-untyped-def]
        return answer_from_upstream(upstream([f"example.org. {ttl} IN A 192.0.2.1"]), now, CacheLimits())

    def test_hit_until_expiry_then_stale_then_gone(self) -> None:
        cache = AnswerCache(CacheLimits(stale_max_age=100))
        cache.put("k", self.entry(ttl=60))
        assert cache.get("k", 59.9) is not None
        assert cache.get("k", 60.0) is None
        assert cache.get_stale("k", 159.0) is not None
        assert cache.get_stale("k", 160.0) is None
        assert len(cache) == 0

    def test_bounded_and_recently_used_entries_stay(self) -> None:
        cache = AnswerCache(CacheLimits(size=2))
        cache.put("a", self.entry())
        cache.put("b", self.entry())
        assert cache.get("a", 1.0) is not None  # a was used: it gets a second chance
        cache.put("c", self.entry())
        assert len(cache) == 2
        assert cache.get("b", 1.0) is None
        assert cache.get("a", 1.0) is not None and cache.get("c", 1.0) is not None

    def test_a_full_cache_of_popular_entries_still_takes_new_ones(self) -> None:
        cache = AnswerCache(CacheLimits(size=100))
        for i in range(100):
            cache.put(f"k{i}", self.entry())
            cache.get(f"k{i}", 1.0)
        for i in range(100, 1000):
            cache.put(f"k{i}", self.entry())
            assert len(cache) == 100
            assert cache.get(f"k{i}", 1.0) is not None

    def test_uncacheable_and_disabled(self) -> None:
        cache = AnswerCache(CacheLimits())
        cache.put("x", answer_from_upstream(upstream([], rcode=RCODE.SERVFAIL), 0.0, CacheLimits()))
        assert len(cache) == 0
        disabled = AnswerCache(CacheLimits(size=0))
        disabled.put("x", self.entry())
        assert len(disabled) == 0


class TestCompactAnswers:
    """A cached answer keeps one body (its TTLs rewritten as it ages) and shares
    the parts many answers hold alike."""

    DATA = upstream(["example.org. 300 IN CNAME www.example.org.", "www.example.org. 60 IN A 192.0.2.1"],
                    authority=[SOA])

    @given(st.lists(st.tuples(st.floats(1000.0, 1400.0), st.sampled_from([0, 5, 100]), st.sampled_from([0, 30])),
                    min_size=1, max_size=12))
    def test_any_order_of_ages_caps_and_stale_renders_as_a_fresh_entry_would(
        self, renders: list[tuple[float, int, int]]
    ) -> None:
        kept = answer_from_upstream(self.DATA, 1000.0, CacheLimits())
        query = client_query(edns=True)
        for now, cap, stale in renders:
            fresh = answer_from_upstream(self.DATA, 1000.0, CacheLimits())
            expected = fresh.render(b"\x00\x01", query, now, 1232, stale, cap)
            assert kept.render(b"\x00\x01", query, now, 1232, stale, cap) == expected

    def test_answers_alike_share_their_framing_counts_and_ttl_offsets(self) -> None:
        first = answer_from_upstream(upstream(["example.org. 300 IN A 192.0.2.1"]), 0.0, CacheLimits())
        second = answer_from_upstream(
            upstream(["other.example. 300 IN A 192.0.2.9"], qname="other.example"), 5.0, CacheLimits()
        )
        first.render(b"\x00\x01", client_query(edns=True), 1.0, 1232)
        second.render(b"\x00\x02", client_query("other.example", edns=True), 6.0, 1232)
        assert first.counts is second.counts and first.ttl_offsets is second.ttl_offsets
        assert first._framing is second._framing

    def test_sharing_is_bounded(self, monkeypatch: pytest.MonkeyPatch) -> None:
        table: dict[object, object] = {}
        monkeypatch.setattr(cache_module, "_SHARED", table)
        for n in range(cache_module.SHARED_LIMIT + 100):
            cache_module.shared((n,))
        assert len(table) == cache_module.SHARED_LIMIT
        odd = (cache_module.SHARED_LIMIT + 500,)
        assert cache_module.shared(odd) is odd  # kept as it is, not added

    def test_a_cached_name_takes_about_half_a_kilobyte(self) -> None:
        count = 5000
        queries = [client_query(f"host{n}.example.org", edns=True) for n in range(count)]
        answers = [upstream([f"host{n}.example.org. 3600 IN A 192.0.2.{n % 250}"], qname=f"host{n}.example.org")
                   for n in range(count)]
        cache = AnswerCache(CacheLimits(size=count))
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            for query, data in zip(queries, answers, strict=True):
                entry = answer_from_upstream(data, 1000.0, cache.limits)
                cache.put(query.key, entry)
                entry.render(b"\x00\x01", query, 1001.5, 1232)  # aged once, framed once
            used = (tracemalloc.get_traced_memory()[0] - before) / count
        finally:
            tracemalloc.stop()
        assert used < 600, f"{used:.0f} bytes a cached name"
