"""One way to write a name, for lists, the config, the policy file, the command
line and the web page: ``normalise_name`` and ``checked_name``."""

from __future__ import annotations

import pytest

from dnsfilter.policy.domains import (
    DomainMap,
    checked_name,
    name_problem,
    normalise_name,
    self_and_parents,
)

NAMES = {
    "plain": ("example.org", "example.org"),
    "upper case and final dot": ("WWW.Example.ORG.", "www.example.org"),
    # IDNA 2008 with UTS 46, as browsers ask: sharp s kept, not turned into "ss" (IDNA 2003).
    "sharp s": ("faß.de", "xn--fa-hia.de"),
    "umlaut, upper case": ("Bücher.Example", "xn--bcher-kva.example"),
    "vietnamese": ("tiếngviệt.vn", "xn--tingvit-5t4cyc.vn"),
    "full-width dot": ("example\u3002org", "example.org"),
    "underscore label": ("_dns.resolver.arpa", "_dns.resolver.arpa"),
    "single label": ("localhost", "localhost"),
    "hyphen at a label's edge, as real hosts have": ("-foo.blogspot.com", "-foo.blogspot.com"),
    "punycode as written": ("xn--fa-hia.de", "xn--fa-hia.de"),
}


@pytest.mark.parametrize(("text", "expected"), NAMES.values(), ids=NAMES.keys())
def test_names_are_written_one_way(text: str, expected: str) -> None:
    assert normalise_name(text) == expected
    assert checked_name(f"  {text} ") == expected


NOT_NAMES = {
    "empty": ("", "is empty; write a name such as example.org"),
    "web address": ("https://www.example.org/page", "is a web address; write just the name: www.example.org"),
    "ip address": ("192.168.1.1", "is an IP address"),
    "wildcard": ("*.example.org", 'holds a "*"'),
    "empty label": ("example..org", "has an empty part between two dots"),
    "long label": ("a" * 64 + ".example", "has a part longer than 63 characters"),
    "long name": (".".join(["a" * 63] * 4), "is longer than the 253 characters"),
    "space": ("exa mple.org", "use letters, digits, hyphens and dots"),
    "symbol": ("ex@mple.org", "use letters, digits, hyphens and dots"),
    "number last": ("example.123", "ends in a number"),
    "bad international": ("\u0300ab.example", "not a valid international name"),
}


@pytest.mark.parametrize(("text", "message"), NOT_NAMES.values(), ids=NOT_NAMES.keys())
def test_a_text_that_is_no_name_says_what_to_write(text: str, message: str) -> None:
    assert normalise_name(text) is None
    with pytest.raises(ValueError, match=message.replace("*", r"\*")):
        checked_name(text)


@pytest.mark.parametrize(
    ("text", "reason"),
    [("a\x00b", "binary"), ("a b", "whitespace"), ("10.0.0.1", "ip-address"), ("[::1]", "ip-address"),
     ("a*.b", "wildcard-inside-label"), ("a..b", "invalid-name")],
)
def test_list_reasons(text: str, reason: str) -> None:
    assert name_problem(text) == reason


def test_parents_and_map() -> None:
    assert list(self_and_parents("a.b.example.org")) == ["a.b.example.org", "b.example.org", "example.org", "org"]
    listed = DomainMap([("example.org", 1), ("b.example.org", 2)])
    assert listed.lookup("a.b.example.org") == 2
    assert listed.lookup("x.example.org") == 1
    assert listed.lookup("example.net") is None
