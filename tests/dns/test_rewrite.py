"""Safe-search answers: CNAME to the filtered host, then the host's records."""

from __future__ import annotations

import pytest
from dnslib import QTYPE, RCODE, RR, DNSRecord

from dnsfilter.dns import wire
from dnsfilter.dns.cache import CacheLimits, answer_from_upstream
from dnsfilter.dns.rewrite import EMPTY_TARGET_TTL, rewrite_response

SOA = "google.com. 60 IN SOA ns1.google.com. dns-admin.google.com. 1 900 900 1800 60"


def question(name: str, qtype: str = "A") -> bytes:
    packed = DNSRecord.question(name, qtype).pack()
    return bytes(packed[12:])


def target_answer(name: str, records: list[str], qtype: str = "A", rcode: int = 0,
                  authority: list[str] | None = None) -> bytes:
    reply = DNSRecord.question(name, qtype).reply()
    reply.header.rcode = rcode
    for text in records:
        reply.add_answer(*RR.fromZone(text))
    for text in authority or []:
        reply.add_auth(*RR.fromZone(text))
    return bytes(reply.pack())


def test_cname_then_the_targets_addresses() -> None:
    upstream = target_answer(
        "forcesafesearch.google.com",
        ["forcesafesearch.google.com. 300 IN A 216.239.38.120"],
    )
    reply = DNSRecord.parse(rewrite_response(question("www.google.com"), "forcesafesearch.google.com", upstream))
    assert str(reply.q.qname) == "www.google.com."
    assert [(str(rr.rname), QTYPE[rr.rtype], str(rr.rdata), rr.ttl) for rr in reply.rr] == [
        ("www.google.com.", "CNAME", "forcesafesearch.google.com.", 300),
        ("forcesafesearch.google.com.", "A", "216.239.38.120", 300),
    ]
    assert reply.header.rcode == RCODE.NOERROR and reply.header.qr


def test_the_cname_lives_no_longer_than_the_shortest_target_record() -> None:
    upstream = target_answer(
        "restrict.youtube.com",
        ["restrict.youtube.com. 3600 IN A 216.239.38.120", "restrict.youtube.com. 120 IN A 216.239.38.121"],
    )
    reply = DNSRecord.parse(rewrite_response(question("www.youtube.com"), "restrict.youtube.com", upstream))
    assert reply.rr[0].ttl == 120


def test_no_records_for_the_type_keeps_the_soa() -> None:
    upstream = target_answer("forcesafesearch.google.com", [], qtype="HTTPS", authority=[SOA])
    data = rewrite_response(question("www.google.com", "HTTPS"), "forcesafesearch.google.com", upstream)
    reply = DNSRecord.parse(data)
    assert [QTYPE[rr.rtype] for rr in reply.rr] == ["CNAME"]
    assert reply.rr[0].ttl == EMPTY_TARGET_TTL
    assert [QTYPE[rr.rtype] for rr in reply.auth] == ["SOA"]


def test_a_missing_target_is_passed_on_as_such() -> None:
    upstream = target_answer("safe.example", [], rcode=RCODE.NXDOMAIN, authority=[SOA])
    reply = DNSRecord.parse(rewrite_response(question("www.bing.com"), "safe.example", upstream))
    assert reply.header.rcode == RCODE.NXDOMAIN


def test_the_answer_enters_the_cache_like_an_upstream_answer() -> None:
    upstream = target_answer(
        "strict.bing.com", ["strict.bing.com. 600 IN A 204.79.197.220"],
    )
    data = rewrite_response(question("www.bing.com"), "strict.bing.com", upstream)
    entry = answer_from_upstream(data, 100.0, CacheLimits())
    assert entry.lifetime == 600 and entry.ttls == (600, 600)
    client = wire.parse_query(bytes(DNSRecord.question("WWW.Bing.com").pack()))
    reply = DNSRecord.parse(entry.render(b"\x12\x34", client, 160.0, 1232))
    assert reply.header.id == 0x1234
    assert [(QTYPE[rr.rtype], rr.ttl) for rr in reply.rr] == [("CNAME", 540), ("A", 540)]
    # Compressed against the question, so the client's letter case shows through (names ignore case).
    assert str(reply.rr[0].rdata).lower() == "strict.bing.com."


@pytest.mark.parametrize(
    "garbage", [b"", b"\x00" * 5, b"\xff" * 40], ids=["empty", "short", "noise"],
)
def test_an_unreadable_target_answer_is_refused(garbage: bytes) -> None:
    with pytest.raises(wire.MalformedPacket):
        rewrite_response(question("www.google.com"), "forcesafesearch.google.com", garbage)
