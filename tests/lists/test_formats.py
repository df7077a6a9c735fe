"""Reading hosts, domains, wildcard and adblock lists, down to their odd lines."""

from __future__ import annotations

import csv
import gzip
import os
from pathlib import Path

import pytest

from dnsfilter.lists.entries import ListEntry, ParseReport
from dnsfilter.lists.formats import FORMATS, ListParser
from dnsfilter.lists.listfile import parse_text
from dnsfilter.policy.domains import normalise_name

# The shared snapshot of real lists (see its README.md); tests skip without it.
DATA_DIR = Path(os.environ.get("DNSFILTER_LIST_DATA", "/work/shared/data"))


def parse(fmt: str, text: str, subdomains: bool = True) -> tuple[list[ListEntry], ParseReport]:
    parser = ListParser(fmt, subdomains)
    entries = list(parser.parse(text.split("\n")))
    return entries, parser.report


def only_entry(fmt: str, line: str, subdomains: bool = True) -> ListEntry:
    entries, report = parse(fmt, line, subdomains)
    assert not report.rejected, report.examples
    assert len(entries) == 1, entries
    return entries[0]


def rejected_as(fmt: str, line: str) -> str:
    entries, report = parse(fmt, line)
    assert entries == [], entries
    assert report.rejected_total == 1, report.rejected
    (reason,) = report.rejected
    number, example = report.examples[reason]
    assert number == 1
    if reason != "not-text":  # shown with U+FFFD in place of the bad bytes
        assert example == line.strip()[:200]
    return reason


# --- names ---------------------------------------------------------------

NAMES = [
    ("plain", "example.org", "example.org"),
    ("upper case", "WWW.Example.ORG", "www.example.org"),
    ("trailing dot", "example.org.", "example.org"),
    ("underscore", "_dmarc.example.org", "_dmarc.example.org"),
    ("hyphen at label edge", "-foo.blogspot.com", "-foo.blogspot.com"),
    ("idn", "bücher.example", "xn--bcher-kva.example"),
    ("idn vietnamese", "tiếngviệt.vn", "xn--tingvit-5t4cyc.vn"),
    ("punycode kept", "xn--bcher-kva.example", "xn--bcher-kva.example"),
    ("single label", "amazon", "amazon"),
    ("63 letter label", "a" * 63 + ".org", "a" * 63 + ".org"),
    ("digits in tld position with letters", "example.x1", "example.x1"),
    ("empty label", "a..org", None),
    ("64 letter label", "a" * 64 + ".org", None),
    ("too long", ".".join(["a" * 60] * 5), None),
    ("space", "exa mple.org", None),
    ("slash", "example.org/path", None),
    ("ipv4", "192.0.2.1", None),
    ("ipv6", "2001:db8::1", None),
    ("numeric tld", "example.123", None),
    ("empty", "", None),
    ("only a dot", ".", None),
    ("star", "*.example.org", None),
]


@pytest.mark.parametrize(("text", "expected"), [n[1:] for n in NAMES], ids=[n[0] for n in NAMES])
def test_normalise_name(text: str, expected: str | None) -> None:
    assert normalise_name(text) == expected


# --- accepted lines, per format -------------------------------------------

ACCEPTED = [
    # (id, format, line, subdomains given to the parser, expected entry)
    ("domains plain", "domains", "example.org", True, ("example.org", True, False)),
    ("domains exact source", "domains", "example.org", False, ("example.org", False, False)),
    ("domains leading dot (UT1 dynamic-dns)", "domains", ".afshin.ir", False, ("afshin.ir", True, False)),
    ("domains crlf", "domains", "example.org\r", True, ("example.org", True, False)),
    ("domains inline comment", "domains", "example.org # a note", True, ("example.org", True, False)),
    ("domains trailing dot", "domains", "Example.ORG.", True, ("example.org", True, False)),
    ("domains idn", "domains", "bücher.example", True, ("xn--bcher-kva.example", True, False)),
    ("domains wildcard line", "domains", "*.example.org", False, ("example.org", True, False)),
    ("wildcard star", "wildcard", "*.explorer.01coin.io", True, ("explorer.01coin.io", True, False)),
    ("wildcard plain line", "wildcard", "example.org", False, ("example.org", False, False)),
    ("wildcard upper case", "wildcard", "*.Example.ORG", True, ("example.org", True, False)),
    ("hosts zero", "hosts", "0.0.0.0 example.org", False, ("example.org", False, False)),
    ("hosts loopback", "hosts", "127.0.0.1 example.org", False, ("example.org", False, False)),
    ("hosts ipv6 any", "hosts", ":: example.org", False, ("example.org", False, False)),
    ("hosts tab", "hosts", "0.0.0.0\texample.org", False, ("example.org", False, False)),
    ("hosts many spaces", "hosts", "0.0.0.0    example.org  ", False, ("example.org", False, False)),
    ("hosts inline comment", "hosts", "0.0.0.0 example.org #ad server", False, ("example.org", False, False)),
    ("hosts trailing dot", "hosts", "0.0.0.0 Example.org.", False, ("example.org", False, False)),
    ("adblock subdomains", "adblock", "||example.org^", False, ("example.org", True, False)),
    ("adblock exact", "adblock", "|fbcdn-a.akamaihd.net^", True, ("fbcdn-a.akamaihd.net", False, False)),
    ("adblock exception", "adblock", "@@||example.org^", True, ("example.org", True, True)),
    ("adblock exact exception", "adblock", "@@|www.example.org^", True, ("www.example.org", False, True)),
    ("adblock single-label tld", "adblock", "||amazon^", True, ("amazon", True, False)),
    ("adblock punycode tld", "adblock", "||xn--cckwcxetd^", True, ("xn--cckwcxetd", True, False)),
    ("adblock upper case", "adblock", "||Example.ORG^", True, ("example.org", True, False)),
    ("adblock closing pipe", "adblock", "||example.org^|", True, ("example.org", True, False)),
    ("adblock leading star dot", "adblock", "||*.example.org^", True, ("example.org", True, False)),
    ("adblock plain name", "adblock", "example.org", False, ("example.org", False, False)),
    ("adblock idn", "adblock", "||bücher.example^", True, ("xn--bcher-kva.example", True, False)),
]


@pytest.mark.parametrize(
    ("fmt", "line", "subdomains", "expected"), [a[1:] for a in ACCEPTED], ids=[a[0] for a in ACCEPTED]
)
def test_accepted_line(fmt: str, line: str, subdomains: bool, expected: tuple[str, bool, bool]) -> None:
    entry = only_entry(fmt, line, subdomains)
    assert (entry.name, entry.subdomains, entry.exception, entry.line) == (*expected, 1)


# --- skipped without a count: comments, blanks, headers --------------------

SILENT = [
    ("blank", "domains", ""),
    ("spaces", "hosts", "   \t "),
    ("hash comment", "domains", "# Title: Phishing Block List"),
    ("bang comment", "wildcard", "! comment"),
    ("indented comment", "hosts", "   # comment"),
    ("hosts comment", "hosts", "#0.0.0.0 example.org"),
    ("adblock comment", "adblock", "! service: activision_blizzard (Activision Blizzard)"),
    ("adblock hash comment", "adblock", "# comment"),
    ("adblock header", "adblock", "[Adblock Plus 2.0]"),
    ("adblock blank", "adblock", ""),
]


@pytest.mark.parametrize(("fmt", "line"), [s[1:] for s in SILENT], ids=[s[0] for s in SILENT])
def test_silently_skipped(fmt: str, line: str) -> None:
    entries, report = parse(fmt, line)
    assert entries == []
    assert not report.rejected
    assert report.lines == 1


# --- rejected lines: every reason, from real data where it has one ----------

REJECTED = [
    ("ut1 ip line", "domains", "118.123.4.224", "ip-address"),
    ("ipv6 line", "domains", "2001:db8::1", "ip-address"),
    ("domains single label", "domains", "localdomain", "single-label"),
    ("wildcard single label", "wildcard", "*.com", "single-label"),
    ("domains bad character", "domains", "exa$mple.org", "invalid-name"),
    ("domains url", "domains", "http://example.org/page", "invalid-name"),
    ("domains empty label", "domains", "a..example.org", "invalid-name"),
    ("domains long label", "domains", "a" * 64 + ".org", "invalid-name"),
    ("domains long name", "domains", ".".join(["a" * 60] * 5), "invalid-name"),
    ("domains numeric tld", "domains", "example.123", "invalid-name"),
    ("domains space", "domains", "0.0.0.0 example.org", "whitespace"),
    ("wildcard star in label", "wildcard", "*.ads*.example.org", "wildcard-inside-label"),
    ("domains star in label", "domains", "ad*.example.org", "wildcard-inside-label"),
    ("hosts localhost", "hosts", "127.0.0.1 localhost", "local-name"),
    ("hosts localhost.localdomain", "hosts", "127.0.0.1 localhost.localdomain", "local-name"),
    ("hosts broadcasthost", "hosts", "255.255.255.255 broadcasthost", "local-name"),
    ("hosts local", "hosts", "0.0.0.0 local", "local-name"),
    ("hosts zero as name", "hosts", "0.0.0.0 0.0.0.0", "local-name"),
    ("hosts ip6 names", "hosts", "::1 ip6-localhost ip6-loopback", "local-name"),
    ("hosts redirect", "hosts", "192.0.2.1 example.org", "redirect"),
    ("hosts no address", "hosts", "example.org", "hosts-syntax"),
    ("hosts no name", "hosts", "0.0.0.0", "hosts-syntax"),
    ("hosts name is ip", "hosts", "0.0.0.0 192.0.2.1", "ip-address"),
    ("hosts single label", "hosts", "0.0.0.0 router", "single-label"),
    ("hosts bad name", "hosts", "0.0.0.0 exa!mple.org", "invalid-name"),
    ("adguard dnstype", "adblock", "||amazonaws.com^$dnstype=~CNAME", "modifier"),
    ("adguard dnsrewrite", "adblock", "||mask.icloud.com^$dnsrewrite=NXDOMAIN;;", "modifier"),
    ("adguard denyallow", "adblock", "||qq.com^$denyallow=wx.qq.com|weixin.qq.com", "modifier"),
    ("adguard regex", "adblock", "/_spotify-connect._tcp.local/", "regex"),
    ("regex with modifier", "adblock", "/^ad[0-9]+\\./$important", "regex"),
    ("adguard star in label", "adblock", "||awsdns-*.com^", "wildcard-inside-label"),
    ("adguard star exact", "adblock", "|cdn*-epicgames-*.file.myqcloud.com^", "wildcard-inside-label"),
    ("adguard leading star", "adblock", "*vod-adaptive.akamaized.net^", "wildcard-inside-label"),
    ("adguard no separator", "adblock", "||playstation.com", "no-separator"),
    ("adguard exact no separator", "adblock", "|example.org", "no-separator"),
    ("adguard stray space", "adblock", "||slack-files.com ^", "whitespace"),
    ("cosmetic", "adblock", "example.org##.banner", "cosmetic"),
    ("cosmetic generic", "adblock", "##.ad-banner", "cosmetic"),
    ("cosmetic exception", "adblock", "example.org#@#.banner", "cosmetic"),
    ("adblock path", "adblock", "||example.org/ads^", "adblock-syntax"),
    ("adblock bare pipes", "adblock", "||^", "adblock-syntax"),
    ("adblock ip", "adblock", "||192.0.2.1^", "ip-address"),
    ("adblock bad name", "adblock", "||exa!mple.org^", "invalid-name"),
    ("html page", "domains", "<!DOCTYPE html>", "html"),
    ("html in hosts", "hosts", "<html lang='en'>", "html"),
    ("html in adblock", "adblock", "<html>", "html"),
    ("not utf-8", "domains", b"caf\xe9.example".decode("utf-8", "surrogateescape"), "not-text"),
    ("nul byte", "domains", "exam\x00ple.org", "binary"),
]


@pytest.mark.parametrize(
    ("fmt", "line", "reason"), [r[1:] for r in REJECTED], ids=[r[0] for r in REJECTED]
)
def test_rejected_line(fmt: str, line: str, reason: str) -> None:
    assert rejected_as(fmt, line) == reason


def test_every_documented_reason_is_tested() -> None:
    from dnsfilter.lists import formats as listformats

    documented = {
        line.split("``")[1]
        for line in (listformats.__doc__ or "").splitlines()
        if line.startswith("``") and "  " in line
    }
    tested = {reason for *_, reason in REJECTED} | {"bad-gzip", "too-large"}
    assert documented == tested


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown list format"):
        ListParser("csv", True)
    with pytest.raises(ValueError, match="unknown list format"):
        parse_text(b"example.org\n", "csv", True)


def test_formats() -> None:
    assert FORMATS == ("hosts", "domains", "wildcard", "adblock")


# --- whole lists ------------------------------------------------------------


def test_hosts_line_with_several_names() -> None:
    entries, report = parse("hosts", "0.0.0.0 a.example.org b.example.org localhost bad!.org # x", False)
    assert [e.name for e in entries] == ["a.example.org", "b.example.org"]
    assert report.rejected == {"local-name": 1, "invalid-name": 1}
    assert report.entries == 2


def test_counts_lines_entries_and_exceptions() -> None:
    text = "! title\n\n||a.example^\n@@||b.example^\n@@|c.example^\n||d.example^$third-party\n"
    entries, report = parse("adblock", text)
    assert [(e.name, e.exception, e.line) for e in entries] == [
        ("a.example", False, 3),
        ("b.example", True, 4),
        ("c.example", True, 5),
    ]
    assert (report.lines, report.entries, report.exceptions) == (7, 3, 2)
    assert report.rejected == {"modifier": 1}
    assert report.examples == {"modifier": (6, "||d.example^$third-party")}


def test_first_example_is_kept_and_truncated() -> None:
    long_line = "x" * 300 + " y"
    _, report = parse("domains", f"1.2.3.4\n5.6.7.8\n{long_line}")
    assert report.rejected == {"ip-address": 2, "whitespace": 1}
    assert report.examples["ip-address"] == (1, "1.2.3.4")
    assert report.examples["whitespace"] == (3, "x" * 200)


def test_parse_streams() -> None:
    def endless() -> object:
        number = 0
        while True:
            number += 1
            yield f"host{number}.example.org"

    parser = ListParser("domains", True)
    stream = parser.parse(endless())  # type: ignore[arg-type]
    first = [next(stream) for _ in range(3)]
    assert [e.name for e in first] == ["host1.example.org", "host2.example.org", "host3.example.org"]


def test_empty_input() -> None:
    entries, report = parse_text(b"", "hosts", False)
    assert entries == []
    assert (report.lines, report.entries, report.rejected_total) == (0, 0, 0)


def test_entries_are_frozen_dataclasses() -> None:
    entry = only_entry("domains", "example.org")
    assert entry == ListEntry("example.org", True, False, 1)
    assert hash(entry) == hash(ListEntry("example.org", True, False, 1))
    with pytest.raises(AttributeError):
        entry.name = "other.example"  # type: ignore[misc]


# --- parse_text: whole files as bytes ---------------------------------------


def test_text_with_bom_and_crlf() -> None:
    data = "\ufeff# comment\r\n0.0.0.0 example.org\r\n0.0.0.0 example.net\r\n".encode()
    entries, report = parse_text(data, "hosts", False)
    assert [(e.name, e.line) for e in entries] == [("example.org", 2), ("example.net", 3)]
    assert report.lines == 3


def test_bom_before_an_entry() -> None:
    entries, _ = parse_text("\ufeffexample.org\n".encode(), "domains", True)
    assert [e.name for e in entries] == ["example.org"]


def test_gzip_is_unpacked() -> None:
    data = gzip.compress(b"*.example.org\n*.example.net\n")
    entries, report = parse_text(data, "wildcard", True)
    assert [e.name for e in entries] == ["example.org", "example.net"]
    assert report.lines == 2


def test_concatenated_gzip_members_are_all_read() -> None:
    data = gzip.compress(b"example.org\n") + gzip.compress(b"example.net\n")
    entries, _ = parse_text(data, "domains", True)
    assert [e.name for e in entries] == ["example.org", "example.net"]


def test_broken_gzip() -> None:
    entries, report = parse_text(gzip.compress(b"example.org\n" * 100)[:40], "domains", True)
    assert entries == []
    assert report.rejected == {"bad-gzip": 1}


def test_too_large() -> None:
    entries, report = parse_text(gzip.compress(b"example.org\n" * 1000), "domains", True, max_bytes=1000)
    assert entries == []
    assert report.rejected == {"too-large": 1}


def test_bad_bytes_cost_only_their_line() -> None:
    data = b"example.org\ncaf\xe9.example\nexample.net\n"
    entries, report = parse_text(data, "domains", True)
    assert [e.name for e in entries] == ["example.org", "example.net"]
    assert report.rejected == {"not-text": 1}
    assert report.examples["not-text"] == (2, "caf\ufffd.example")


def test_binary_file_is_rejected_whole() -> None:
    data = b"example.org\nexample.net\n\x00\x01\x02\x89PNG"
    entries, report = parse_text(data, "domains", True)
    assert entries == []
    assert report.rejected == {"binary": 1}
    assert report.examples["binary"][0] == 3


def test_captive_portal_page() -> None:
    page = b"\n<!DOCTYPE html>\n<html><head><title>Login</title></head>\nwifi.example.com\n</html>\n"
    entries, report = parse_text(page, "domains", True)
    assert entries == []
    assert report.looks_like_html
    assert report.rejected == {"html": 1}


# --- the real lists -----------------------------------------------------------


def manifest_rows() -> list[dict[str, str]]:
    manifest = DATA_DIR / "manifest.tsv"
    if not manifest.is_file():
        return []
    with manifest.open(encoding="utf-8", newline="") as file:
        rows = csv.DictReader(file, delimiter="\t")
        # bench/ holds derived benchmark files, not lists as published.
        return [row for row in rows if row["format"] in FORMATS and row["path"].startswith("lists/")]


def source_subdomains(row: dict[str, str]) -> bool:
    # UT1 and HaGeZi mean "the domain and its subdomains"; the Block List Project, exact hosts.
    return row["source"] in ("ut1", "hagezi", "adguard-services")


REAL_LISTS = manifest_rows()


@pytest.mark.skipif(not REAL_LISTS, reason=f"no list data in {DATA_DIR}")
@pytest.mark.parametrize("row", REAL_LISTS, ids=[row["path"] for row in REAL_LISTS])
def test_real_list(row: dict[str, str]) -> None:
    entries, report = parse_text((DATA_DIR / row["path"]).read_bytes(), row["format"], source_subdomains(row))
    expected = int(row["entries"])
    assert report.entries == len(entries)
    # The manifest counts every non-blank, non-comment line; each is an entry or a counted reject.
    assert report.entries == expected - report.rejected_total
    assert not report.looks_like_html
    if row["source"] != "adguard-services":
        # Only UT1's IP-address lines are refused in these lists.
        assert set(report.rejected) <= {"ip-address"}, report.examples
        assert report.exceptions == 0


def test_real_data_folder_present_or_skipped(capsys: pytest.CaptureFixture[str]) -> None:
    if not REAL_LISTS:
        with capsys.disabled():
            print(f"\nskipping the real-list tests: no manifest.tsv in {DATA_DIR}")
        pytest.skip(f"no list data in {DATA_DIR}")
    assert len(REAL_LISTS) == 110


@pytest.mark.skipif(not REAL_LISTS, reason=f"no list data in {DATA_DIR}")
def test_real_oddities() -> None:
    """The odd lines the data README points out, as found in the files."""
    dynamic_dns = (DATA_DIR / "lists/ut1/dynamic-dns.domains.txt.gz").read_bytes()
    dotted, report = parse_text(dynamic_dns, "domains", True)
    assert [(e.name, e.subdomains) for e in dotted[:2]] == [("afshin.ir", True), ("giswebservice.com", True)]
    _, report = parse_text((DATA_DIR / "lists/ut1/redirector.domains.txt.gz").read_bytes(), "domains", True)
    assert report.rejected == {"ip-address": 22530}
    rules, report = parse_text(
        (DATA_DIR / "lists/adguard-services/shopping.adblock.txt.gz").read_bytes(), "adblock", True
    )
    assert {"amazon", "aws", "imdb", "kindle", "xn--cckwcxetd"} <= {e.name for e in rules}

