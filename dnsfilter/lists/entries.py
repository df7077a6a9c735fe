"""What parsing a list yields: its usable entries, and a report of the rest."""

from __future__ import annotations

import collections
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

EXAMPLE_CHARS: Final = 200


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
ENTRY_PARTS: Final = (_new, _set_name, _set_subdomains, _set_exception, _set_line)


def new_entry(name: str, subdomains: bool, exception: bool, line: int) -> ListEntry:
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
