"""Reading blocklist files: hosts, plain domains, wildcard and adblock lists.

A list is parsed line by line into ``ListEntry`` values (a normalised name,
whether it covers subdomains, whether it is an exception). Lines that cannot
be used are skipped and counted in a ``ParseReport`` under a stable reason
id, with the first offending line kept as an example, so the lists page can
say what was left out and why::

    parser = ListParser("hosts", subdomains=False)
    for entry in parser.parse(lines):
        ...
    parser.report.rejected  # Counter({"local-name": 3, ...})

``dnsfilter.lists.listfile.parse_text`` does the same for a whole downloaded
file, which may be gzip-compressed, have a byte-order mark, Windows line
ends, bad bytes, or be something else altogether (a captive portal's web
page, a binary file).

Reasons (stable: they are stored and shown):

===========================  ================================================
``invalid-name``             not a valid DNS name (bad character, empty part,
                             part over 63 or name over 253 characters)
``single-label``             a bare word such as ``localdomain`` in a hosts,
                             domains or wildcard list
``ip-address``               an IP address where a name belongs
``local-name``               ``localhost`` and friends in a hosts file
``redirect``                 a hosts line pointing a name at a real address
``hosts-syntax``             a hosts line without an address or without names
``whitespace``               a space inside an entry
``wildcard-inside-label``    ``*`` other than a leading ``*.``
``modifier``                 adblock ``$...`` options
``regex``                    adblock ``/regular expression/``
``no-separator``             adblock ``||name`` without the closing ``^``
``cosmetic``                 adblock element-hiding rules (``##``, ``#@#``...)
``adblock-syntax``           any other adblock rule a DNS filter cannot use
``not-text``                 a line that is not UTF-8 text
``html``                     a web page instead of a list (a captive portal,
                             an error page); parsing stops there
``binary``                   NUL bytes: the file is not a text list at all
``bad-gzip``                 the file starts like gzip but does not unpack
``too-large``                the unpacked file is over the size limit
===========================  ================================================
"""

from __future__ import annotations

import ipaddress
import itertools
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Final

from dnsfilter.lists.entries import ENTRY_PARTS, ListEntry, ParseReport, new_entry
from dnsfilter.policy.domains import name_problem, normalise_name

__all__ = ["FORMATS", "ListParser"]

FORMATS: Final = ("hosts", "domains", "wildcard", "adblock")


# The fast paths below match plain ASCII names with the rule of
# ``dnsfilter.policy.domains`` (labels may start or end with "-" or hold "_":
# real hosts such as "-foo.blogspot.com" and "_dmarc.example.org" are
# queried and resolve); anything else goes through ``normalise_name``.
_NAME: Final = re.compile(r"[a-z0-9_-]{1,63}(?:\.[a-z0-9_-]{1,63})*")
_DOTTED_NAME: Final = re.compile(r"[a-z0-9_-]{1,63}(?:\.[a-z0-9_-]{1,63})+")

# Targets that mean "this name goes nowhere" in a hosts file.
_NULL_ADDRESSES: Final = frozenset({"0.0.0.0", "127.0.0.1", "::", "::0", "::1", "0:0:0:0:0:0:0:0"})

# Names every hosts file maps to itself; listing them is not blocking anything.
_LOCAL_NAMES: Final = frozenset(
    {
        "localhost",
        "localhost.localdomain",
        "local",
        "broadcasthost",
        "0.0.0.0",
        "ip6-localhost",
        "ip6-loopback",
        "ip6-localnet",
        "ip6-mcastprefix",
        "ip6-allnodes",
        "ip6-allrouters",
        "ip6-allhosts",
    }
)

_HTML_STARTS: Final = ("<!doctype", "<html", "<head", "<body", "<?xml", "<script", "<meta", "<title")

_COSMETIC_MARKERS: Final = ("##", "#@#", "#?#", "#$#", "#%#")


def _not_text(line: str) -> bool:
    """True for a line decoded with surrogateescape that held bytes that are not UTF-8."""
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


class ListParser:
    """Turns the lines of one list into entries, counting what it skips.

    ``subdomains`` is the source's meaning of a plain entry: True when a
    listed name also covers every name under it (UT1, HaGeZi), False when it
    is exactly one host (hosts files, Block List Project "-nl" lists).
    Syntax that says so itself (``*.name``, ``.name``, ``||name^``,
    ``|name^``) wins.

    Use one parser per list: ``report`` adds up everything it has parsed.
    Stop using the entries when ``report.looks_like_html`` is set: parsing
    stops at the first line of a web page, and what came before is suspect.
    """

    __slots__ = ("_loop", "format", "report", "subdomains")

    def __init__(self, fmt: str, subdomains: bool) -> None:
        if fmt not in FORMATS:
            raise ValueError(f'unknown list format "{fmt}"; use one of: {", ".join(FORMATS)}')
        self.format = fmt
        self.subdomains = subdomains
        self.report = ParseReport()
        loops = {"hosts": self._hosts, "adblock": self._adblock}
        self._loop: Callable[[Iterable[str]], Iterator[ListEntry]] = loops.get(fmt, self._names)

    def parse(self, lines: Iterable[str]) -> Iterator[ListEntry]:
        """The entries of ``lines``, one by one (lists are too long to hold twice)."""
        rest = iter(lines)
        first = next(rest, None)
        if first is None:
            return iter(())
        # A byte-order mark (Windows editors add one) sits before the first line only.
        return self._loop(itertools.chain((first.lstrip("\ufeff"),), rest))

    # --- the loops: one regex decides the common line; the rest goes slow ---

    def _names(self, lines: Iterable[str]) -> Iterator[ListEntry]:
        report = self.report
        plain_subdomains = self.subdomains
        fullmatch = _DOTTED_NAME.fullmatch
        new, set_name, set_subdomains, set_exception, set_line = ENTRY_PARTS
        slow_line = self._names_line
        number = entries = 0
        try:
            for number, raw in enumerate(lines, 1):
                name = raw.strip().lower()
                if len(name) <= 253 and not name[-1:].isdigit():
                    if fullmatch(name):
                        subdomains = plain_subdomains
                    elif name[:2] == "*." and fullmatch(name, 2):
                        name, subdomains = name[2:], True
                    else:
                        name = ""
                    if name:
                        entry = new(ListEntry)
                        set_name(entry, name)
                        set_subdomains(entry, subdomains)
                        set_exception(entry, False)
                        set_line(entry, number)
                        entries += 1
                        yield entry
                        continue
                slow = slow_line(number, raw)
                if slow is not None:
                    entries += 1
                    yield slow
                elif report.looks_like_html:
                    return
        finally:
            report.lines += number
            report.entries += entries

    def _hosts(self, lines: Iterable[str]) -> Iterator[ListEntry]:
        report = self.report
        subdomains = self.subdomains
        fullmatch = _DOTTED_NAME.fullmatch
        new, set_name, set_subdomains, set_exception, set_line = ENTRY_PARTS
        null_addresses = _NULL_ADDRESSES
        local_names = _LOCAL_NAMES
        slow_line = self._hosts_line
        number = entries = 0
        try:
            for number, raw in enumerate(lines, 1):
                address, _, name = raw.strip().partition(" ")
                if address in null_addresses:
                    name = name.strip().lower()
                    if (
                        len(name) <= 253
                        and not name[-1:].isdigit()
                        and fullmatch(name)
                        and name not in local_names
                    ):
                        entry = new(ListEntry)
                        set_name(entry, name)
                        set_subdomains(entry, subdomains)
                        set_exception(entry, False)
                        set_line(entry, number)
                        entries += 1
                        yield entry
                        continue
                for slow in slow_line(number, raw):
                    entries += 1
                    yield slow
                if report.looks_like_html:
                    return
        finally:
            report.lines += number
            report.entries += entries

    def _adblock(self, lines: Iterable[str]) -> Iterator[ListEntry]:
        report = self.report
        fullmatch = _NAME.fullmatch
        new, set_name, set_subdomains, set_exception, set_line = ENTRY_PARTS
        slow_line = self._adblock_line
        number = entries = exceptions = 0
        try:
            for number, raw in enumerate(lines, 1):
                line = raw.strip()
                if line[:2] == "||" and line[-1:] == "^":
                    name = line[2:-1].lower()
                    if len(name) <= 253 and not name[-1:].isdigit() and fullmatch(name):
                        entry = new(ListEntry)
                        set_name(entry, name)
                        set_subdomains(entry, True)
                        set_exception(entry, False)
                        set_line(entry, number)
                        entries += 1
                        yield entry
                        continue
                slow = slow_line(number, line)
                if slow is not None:
                    entries += 1
                    exceptions += slow.exception
                    yield slow
                elif report.looks_like_html:
                    return
        finally:
            report.lines += number
            report.entries += entries
            report.exceptions += exceptions

    # --- the slow paths: every other line, with the reason it was refused ---

    def _names_line(self, number: int, raw: str) -> ListEntry | None:
        """Plain domains and wildcard lists: ``name``, ``*.name`` or ``.name``."""
        line = self._content(number, raw, "#")
        if line is None:
            return None
        if line.startswith("*."):
            text, subdomains = line[2:], True
        elif line.startswith("."):
            # ".example.org" (SquidGuard, dnsmasq style): the domain and below.
            text, subdomains = line[1:], True
        else:
            text, subdomains = line, self.subdomains
        name = self._checked_name(number, line, text, single_label_ok=False)
        if name is None:
            return None
        return new_entry(name, subdomains, False, number)

    def _hosts_line(self, number: int, raw: str) -> list[ListEntry]:
        """Hosts files: ``0.0.0.0 name [name...]``; other targets are not blocks."""
        report = self.report
        line = self._content(number, raw, "#")
        if line is None:
            return []
        words = line.split()
        names = words[1:]
        if not names:
            report.reject("hosts-syntax", number, line)
            return []
        if all(_is_local_name(word) for word in names):
            report.reject("local-name", number, line)
            return []
        if words[0] not in _NULL_ADDRESSES:
            try:
                ipaddress.ip_address(words[0])
            except ValueError:
                report.reject("hosts-syntax", number, line)
            else:
                report.reject("redirect", number, line)
            return []
        entries = []
        for word in names:
            if _is_local_name(word):
                report.reject("local-name", number, line)
                continue
            name = self._checked_name(number, line, word, single_label_ok=False)
            if name is not None:
                entries.append(new_entry(name, self.subdomains, False, number))
        return entries

    def _adblock_line(self, number: int, line: str) -> ListEntry | None:
        """Adblock basic rules as DNS filters read them: ``||name^``, ``|name^``, ``@@...``."""
        report = self.report
        if not line or line[0] == "!":
            return None
        if line[0] == "[" and line.endswith("]"):
            return None  # "[Adblock Plus 2.0]"
        if self._odd_line(number, line):
            return None
        if any(marker in line for marker in _COSMETIC_MARKERS):
            report.reject("cosmetic", number, line)
            return None
        if line[0] == "#":
            return None  # a comment: AdGuard reads "#" lines as comments too
        exception = line.startswith("@@")
        rule = line[2:] if exception else line
        if rule.startswith("/") and len(rule) > 1 and (rule.endswith("/") or "/$" in rule):
            report.reject("regex", number, line)
            return None
        if any(ch.isspace() for ch in rule):
            report.reject("whitespace", number, line)
            return None
        if "$" in rule:
            report.reject("modifier", number, line)
            return None
        if rule.startswith("||"):
            body, subdomains, anchored = rule[2:], True, True
        elif rule.startswith("|"):
            body, subdomains, anchored = rule[1:], False, True
        else:
            body, subdomains, anchored = rule, self.subdomains, False
        if body.endswith("^|"):
            body = body[:-1]
        if body.endswith("^"):
            body = body[:-1]
        elif anchored:
            # "||name" also matches "name.evil.com" and "namexyz.com": a prefix, not a name.
            report.reject("no-separator", number, line)
            return None
        if subdomains and anchored and body.startswith("*."):
            body = body[2:]  # "||*.name^": names under name; taking name itself too is the safe side
        if "*" in body:
            report.reject("wildcard-inside-label", number, line)
            return None
        if not body or "/" in body or "^" in body or "|" in body:
            report.reject("adblock-syntax", number, line)
            return None
        name = self._checked_name(number, line, body, single_label_ok=True)
        if name is None:
            return None
        return new_entry(name, subdomains, exception, number)

    # --- shared by the slow paths ------------------------------------------

    def _content(self, number: int, raw: str, comment: str) -> str | None:
        """The line without spaces and comment, or None when nothing is left or it was refused."""
        line = raw.strip()
        if not line or line[0] in "#!":
            return None
        if self._odd_line(number, line):
            return None
        if comment in line:
            line = line.partition(comment)[0].rstrip()
        return line or None

    def _odd_line(self, number: int, line: str) -> bool:
        """True when the line was refused as not text, or as the start of a web page."""
        report = self.report
        if not line.isascii() and _not_text(line):
            shown = line.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
            report.reject("not-text", number, shown)
            return True
        if line.startswith("<") and line.lower().startswith(_HTML_STARTS):
            report.looks_like_html = True
            report.reject("html", number, line)
            return True
        return False

    def _checked_name(self, number: int, line: str, text: str, single_label_ok: bool) -> str | None:
        """The normalised name in ``text``; None, counted under its reason, when it is not one."""
        lowered = text.lower()
        name = normalise_name(lowered)
        reason = ""
        if name is None:
            reason = name_problem(lowered)
        elif not single_label_ok and "." not in name:
            reason = "single-label"
        if reason:
            self.report.reject(reason, number, line)
            return None
        return name


def _is_local_name(word: str) -> bool:
    return word.lower().rstrip(".") in _LOCAL_NAMES
