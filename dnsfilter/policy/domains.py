"""Matching a name against listed domains: the name itself or any parent."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


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
