"""Domain names: the one way a name is written for matching, and matching a
name against listed domains (the name itself or any parent).

Every name that enters the filter (list lines, the configuration, the policy
file, the command line, the web page) goes through ``normalise_name`` or
``checked_name``: lower case, no final dot, and international names as
browsers ask for them, in IDNA 2008 with UTS 46 mapping (``faß.de`` is
``xn--fa-hia.de``, not ``fass.de`` as IDNA 2003 would have it). A name's
labels are 1 to 63 letters, digits, hyphens or underscores (underscores
appear in real names such as ``_dns.resolver.arpa``), at most 253 characters
in all, and the last label is not a number (that is an IP address).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Iterator
from typing import Final, Generic, TypeVar

import idna

T = TypeVar("T")

MAX_NAME_LENGTH: Final = 253
_NAME: Final = re.compile(r"[a-z0-9_-]{1,63}(?:\.[a-z0-9_-]{1,63})*")


def normalise_name(text: str) -> str | None:
    """``text`` as a name for matching, or None when it is not a valid DNS name.

    Single-label names such as ``amazon`` are valid here; callers that must
    not take them check separately.
    """
    name = text.lower().removesuffix(".")
    if not name.isascii():
        ascii_name = _idna_ascii(name)
        if ascii_name is None:
            return None
        name = ascii_name
    if len(name) > MAX_NAME_LENGTH or not _NAME.fullmatch(name) or name.rpartition(".")[2].isdigit():
        return None
    return name


def _idna_ascii(name: str) -> str | None:
    """An international name in its ASCII form (IDNA 2008, UTS 46 mapping), or None."""
    try:
        mapped = idna.uts46_remap(name, std3_rules=False, transitional=False)
        return ".".join(
            label if label.isascii() else idna.alabel(label).decode("ascii") for label in mapped.split(".")
        )
    except (idna.IDNAError, UnicodeError, ValueError):
        return None


def name_problem(text: str) -> str:
    """Why ``text`` (lower case) is not a name, as a short reason id: ``binary``,
    ``whitespace``, ``ip-address``, ``wildcard-inside-label`` or ``invalid-name``."""
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


def checked_name(text: str) -> str:
    """``text`` as a name for matching; ValueError with what to write instead when it is not one."""
    stripped = text.strip()
    name = normalise_name(stripped)
    if name is not None:
        return name
    lowered = stripped.lower().removesuffix(".")
    if not lowered:
        raise ValueError("is empty; write a name such as example.org")
    if "/" in lowered:
        host = lowered.split("://", 1)[-1].split("/", 1)[0]
        raise ValueError(f'"{text}" is a web address; write just the name: {host}')
    reason = name_problem(lowered)
    if reason == "ip-address":
        raise ValueError(f'"{text}" is an IP address; write a name such as example.org')
    if reason == "wildcard-inside-label":
        raise ValueError(f'"{text}" holds a "*"; write the name itself (example.org also covers its subdomains)')
    ascii_name = lowered if lowered.isascii() else _idna_ascii(lowered)
    if ascii_name is None:
        raise ValueError(f'"{text}" is not a valid international name; check its spelling')
    if len(ascii_name) > MAX_NAME_LENGTH:
        raise ValueError(f'"{text}" is longer than the {MAX_NAME_LENGTH} characters a DNS name may have')
    labels = ascii_name.split(".")
    if any(not label for label in labels):
        raise ValueError(f'"{text}" has an empty part between two dots; remove the extra dot')
    if any(len(label) > 63 for label in labels):
        raise ValueError(f'"{text}" has a part longer than 63 characters, which DNS does not allow')
    if labels[-1].isdigit():
        raise ValueError(f'"{text}" ends in a number; write a name such as example.org')
    raise ValueError(f'"{text}" is not a valid name; use letters, digits, hyphens and dots')


def self_and_parents(name: str) -> Iterator[str]:
    """``a.b.example.org``, ``b.example.org``, ``example.org``, ``org``."""
    while True:
        yield name
        dot = name.find(".")
        if dot < 0:
            return
        name = name[dot + 1 :]


class DomainMap(Generic[T]):
    """Listed domains, each with a value; a lookup matches subdomains too.

    Names must already be normalised (lower case, no trailing dot), which
    both the config loader and the wire parser guarantee.
    """

    __slots__ = ("_entries",)

    def __init__(self, entries: Iterable[tuple[str, T]] = ()) -> None:
        self._entries: dict[str, T] = dict(entries)

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, name: str) -> T | None:
        """The value of the closest listed entry covering ``name``, or None."""
        entries = self._entries
        while True:
            value = entries.get(name)
            if value is not None:
                return value
            dot = name.find(".")
            if dot < 0:
                return None
            name = name[dot + 1 :]
