"""Bypass protection: the names that let a device leave this filter, for every query type."""

from __future__ import annotations

import pytest

from dnsfilter.policy.bypass import BypassAnswer, bypass_answer

A, AAAA, TXT, SVCB, HTTPS, ANY = 1, 28, 16, 64, 65, 255
QTYPES = {"A": A, "AAAA": AAAA, "TXT": TXT, "SVCB": SVCB, "HTTPS": HTTPS, "ANY": ANY}

CASES = [
    ("use-application-dns.net", BypassAnswer.NXDOMAIN),
    ("mask.icloud.com", BypassAnswer.NXDOMAIN),
    ("mask-h2.icloud.com", BypassAnswer.NXDOMAIN),
    ("mask-canary.icloud.com", BypassAnswer.NXDOMAIN),
    # Below a name answered NXDOMAIN nothing exists (RFC 8020): same answer.
    ("x.mask.icloud.com", BypassAnswer.NXDOMAIN),
    ("a.b.mask-h2.icloud.com", BypassAnswer.NXDOMAIN),
    ("x.use-application-dns.net", BypassAnswer.NXDOMAIN),
    ("_dns.resolver.arpa", BypassAnswer.NODATA),
]


@pytest.mark.parametrize("qtype_name", QTYPES)
@pytest.mark.parametrize(("name", "answer"), CASES, ids=[c[0] for c in CASES])
def test_answer_for_every_type(name: str, answer: BypassAnswer, qtype_name: str) -> None:
    assert bypass_answer(name, QTYPES[qtype_name]) is answer


UNRELATED = [
    "icloud.com",
    "www.icloud.com",
    "mask-api.icloud.com",  # not in Apple's guidance; also serves the egress IP list
    "mask.icloud.com.example.org",
    "notmask.icloud.com",
    "application-dns.net",
    "resolver.arpa",
    "x._dns.resolver.arpa",
    "_dns.dns.google",  # a known resolver's own name: the doh_bypass lists' job
    "example.org",
]


@pytest.mark.parametrize("qtype_name", QTYPES)
@pytest.mark.parametrize("name", UNRELATED)
def test_unrelated_names_untouched(name: str, qtype_name: str) -> None:
    assert bypass_answer(name, QTYPES[qtype_name]) is None
