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

``parse_text`` does the same for a whole downloaded file, which may be
gzip-compressed, have a byte-order mark, Windows line ends, bad bytes, or be
something else altogether (a captive portal's web page, a binary file).

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

import collections
import gc
import gzip
import io
import ipaddress
import itertools
import re
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Final

__all__ = [
    "FORMATS",
    "ListEntry",
    "ListParser",
    "ParseReport",
    "normalise_name",
    "parse_text",
]

FORMATS: Final = ("hosts", "domains", "wildcard", "adblock")

# Unpacked lists are at most a few tens of MB; anything far larger is a gzip
# bomb or the wrong file, and must not exhaust a router's memory.
MAX_TEXT_BYTES: Final = 256 * 1024 * 1024

EXAMPLE_CHARS: Final = 200

_GZIP_MAGIC: Final = b"\x1f\x8b"

# Labels may start or end with "-" or hold "_": real hosts such as
# "-foo.blogspot.com" and "_dmarc.example.org" are queried and resolve.
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


@dataclass(frozen=True, slots=True)
class ListEntry:
    """One usable line of a list."""

    name: str  # normalised: lower case, punycode, no trailing dot, no leading "*." or "."
    subdomains: bool  # True: the name and every name under it; False: exactly this host
    exception: bool  # adblock "@@" rule: the name is NOT in this list
    line: int  # 1-based line number in the list


# A frozen dataclass's __init__ goes through object.__setattr__ once per field,
# which alone costs most of the 1 µs a line may take; lists have 200k+ lines.
# Setting the slots directly builds the very same object in half the time.
_new = object.__new__
_set_name: Callable[[ListEntry, str], None] = vars(ListEntry)["name"].__set__
_set_subdomains: Callable[[ListEntry, bool], None] = vars(ListEntry)["subdomains"].__set__
_set_exception: Callable[[ListEntry, bool], None] = vars(ListEntry)["exception"].__set__
_set_line: Callable[[ListEntry, int], None] = vars(ListEntry)["line"].__set__


# The loops below inline these calls: a function call per line is measurable.
_ENTRY_PARTS: Final = (_new, _set_name, _set_subdomains, _set_exception, _set_line)


def _entry(name: str, subdomains: bool, exception: bool, line: int) -> ListEntry:
    entry: ListEntry = _new(ListEntry)
    _set_name(entry, name)
    _set_subdomains(entry, subdomains)
    _set_exception(entry, exception)
    _set_line(entry, line)
    return entry


@dataclass(slots=True)
class ParseReport:
    """What parsing a list found; filled in while parsing."""

    lines: int = 0  # every line read, blank and comment lines included
    entries: int = 0  # entries produced, exceptions included
    exceptions: int = 0  # of those, adblock "@@" exceptions
    rejected: collections.Counter[str] = field(default_factory=collections.Counter)
    examples: dict[str, tuple[int, str]] = field(default_factory=dict)  # reason -> first (line, text)
    looks_like_html: bool = False  # a web page (captive portal, error page) came back instead of a list

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())

    def reject(self, reason: str, line: int, text: str) -> None:
        self.rejected[reason] += 1
        if reason not in self.examples:
            self.examples[reason] = (line, text[:EXAMPLE_CHARS])


def normalise_name(text: str) -> str | None:
    """``text`` as a name for matching (lower case, punycode, no final dot), or None.

    None when it is not a valid DNS name: a label outside 1..63 letters, digits,
    hyphens and underscores, a name over 253 characters, or an IP address.
    Single-label names such as ``amazon`` are valid here; formats that must
    not hold them reject them separately.
    """
    name = _normalise(text.lower())
    if name is None or not _NAME.fullmatch(name) or name.rpartition(".")[2].isdigit():
        return None
    return name


def _normalise(name: str) -> str | None:
    """Lower-cased ``name`` without its final dot, non-ASCII labels in punycode."""
    name = name.removesuffix(".")
    if not name.isascii():
        try:
            name = name.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    if len(name) > 253:
        return None
    return name


def _name_problem(text: str) -> str:
    """Why ``text`` (already lower case) was refused as a name: a reason id."""
    if "\x00" in text:
        return "binary"
    if any(ch.isspace() for ch in text):
        return "whitespace"
    try:
        ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        pass
    else:
        return "ip-address"
    if "*" in text:
        return "wildcard-inside-label"
    return "invalid-name"


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
        new, set_name, set_subdomains, set_exception, set_line = _ENTRY_PARTS
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
        new, set_name, set_subdomains, set_exception, set_line = _ENTRY_PARTS
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
        new, set_name, set_subdomains, set_exception, set_line = _ENTRY_PARTS
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
        return _entry(name, subdomains, False, number)

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
                entries.append(_entry(name, self.subdomains, False, number))
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
        return _entry(name, subdomains, exception, number)

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
        name = _normalise(lowered)
        reason = ""
        if name is None or not _NAME.fullmatch(name) or name.rpartition(".")[2].isdigit():
            reason = _name_problem(lowered if name is None else name)
        elif not single_label_ok and "." not in name:
            reason = "single-label"
        if reason:
            self.report.reject(reason, number, line)
            return None
        return name


def _is_local_name(word: str) -> bool:
    return word.lower().rstrip(".") in _LOCAL_NAMES


def parse_text(data: bytes, fmt: str, subdomains: bool) -> tuple[list[ListEntry], ParseReport]:
    """Every entry of a whole list file as downloaded or bundled, and the report.

    ``data`` may be gzip (recognised by its first bytes). A file with NUL bytes
    is not a text list and yields nothing (reason ``binary``); check
    ``report.looks_like_html`` and the rejected counts before trusting the rest.
    ValueError for an unknown format.
    """
    parser = ListParser(fmt, subdomains)
    report = parser.report
    if data.startswith(_GZIP_MAGIC):
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(data)) as unpacked:
                data = unpacked.read(MAX_TEXT_BYTES + 1)
        except (OSError, EOFError, zlib.error) as error:
            report.reject("bad-gzip", 0, str(error))
            return [], report
    if len(data) > MAX_TEXT_BYTES:
        report.reject("too-large", 0, f"more than {MAX_TEXT_BYTES} bytes")
        return [], report
    nul = data.find(b"\x00")
    if nul >= 0:
        report.reject("binary", data.count(b"\n", 0, nul) + 1, repr(data[max(0, nul - 40) : nul + 40]))
        return [], report
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        # Keep going: one bad line should not cost the other 200,000 (counted as "not-text").
        text = data.decode("utf-8", "surrogateescape")
    lines = text.split("\n")
    if lines and not lines[-1]:
        lines.pop()  # the final line end does not start another line
    # Every entry is a new tracked object, so the cyclic collector would run
    # thousands of times over a growing heap while none of them can form a cycle.
    collecting = gc.isenabled()
    gc.disable()
    try:
        entries = list(parser.parse(lines))
    finally:
        if collecting:
            gc.enable()
    return entries, report
