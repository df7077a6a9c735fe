"""Answered queries waiting for the query-log writer.

The query path appends and returns: no I/O, no formatting, no await, and
nothing allocated. An entry is a time and a reference to what the resolver
already has (the parsed query, the decision, the reply bytes), kept in two
parallel lists rather than as a pair: a pair per query would be an object
the garbage collector must track for as long as the entry waits. It is
turned into a log row later, by the writer, off the query path. The buffer
is bounded: when the writer falls behind (a locked or unreachable
database), entries are dropped and counted rather than letting memory grow.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TypeAlias

from dnsfilter.dns.wire import Query
from dnsfilter.policy.decision import Decision

# Who asked, what, what was decided, where the answer came from and how long
# it took, and the reply bytes (after the ID for our own canned answers):
# made once per answer and shared by every repeat served within the second.
Answered: TypeAlias = tuple[str, int, Query, Decision, str, int, bytes]
# When (POSIX seconds) and what.
Entry: TypeAlias = tuple[float, Answered]

DEFAULT_LIMIT = 200_000

# Upstream labels for answers no server was asked for.
FROM_CACHE = "cache"
FROM_FILTER = "filter"  # blocked, bypass and other answers made here
STALE = "stale"


@dataclass(frozen=True, slots=True)
class Entries:
    """Entries oldest first: ``times[i]`` is when ``answers[i]`` was answered."""

    times: list[float] = field(default_factory=list)
    answers: list[Answered] = field(default_factory=list)

    @classmethod
    def of(cls, entries: Iterable[Entry]) -> Entries:
        made = cls()
        for at, answered in entries:
            made.times.append(at)
            made.answers.append(answered)
        return made

    def __len__(self) -> int:
        return len(self.times)

    def __iter__(self) -> Iterator[Entry]:
        return zip(self.times, self.answers, strict=True)


class LogBuffer:
    """Bounded by ``limit`` entries at each ``take``.

    The query path calls ``add_time`` and then ``add_answer``: the lists' own
    methods, so no Python frame runs for it. The bound is applied when the
    writer takes the entries, at least once a second, so between two takes
    the lists hold at most one second of queries beyond it. What is over the
    limit then is dropped and counted: the oldest, since a parent looking at
    the log wants the newest.
    """

    __slots__ = ("_entries", "add_time", "add_answer", "limit", "dropped", "taken")

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        self._entries = Entries()
        self.add_time = self._entries.times.append
        self.add_answer = self._entries.answers.append
        self.limit = limit
        self.dropped = 0  # entries lost because the writer could not keep up
        self.taken = 0  # entries handed to the writer

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, at: float, answered: Answered) -> None:
        """One entry, for callers off the query path."""
        self.add_time(at)
        self.add_answer(answered)

    def trim(self) -> None:
        """Drop (and count) the oldest entries beyond the limit."""
        overflow = len(self._entries) - self.limit
        if overflow > 0:
            self.dropped += overflow
            del self._entries.times[:overflow]
            del self._entries.answers[:overflow]

    def take(self) -> Entries:
        """Everything buffered (within the limit), oldest first; the buffer starts empty again."""
        self.trim()
        buffered = self._entries
        taken = Entries(buffered.times.copy(), buffered.answers.copy())
        buffered.times.clear()
        buffered.answers.clear()
        self.taken += len(taken)
        return taken

    def put_back(self, entries: Entries) -> None:
        """Return entries the writer could not store, ahead of newer ones (within the limit)."""
        self.taken -= len(entries)
        self._entries.times[:0] = entries.times
        self._entries.answers[:0] = entries.answers
        self.trim()
