"""Answered queries waiting for the query-log writer.

The query path appends and returns: no I/O, no formatting, no await, and
nothing allocated. An entry is a time and a reference to what the resolver
already has (the parsed query, the decision, the reply bytes), kept in two
parallel lists rather than as a pair: a pair per query would be an object
the garbage collector must track for as long as the entry waits. It is
turned into a log row later, by the writer, off the query path. The buffer
is bounded in bytes (and in entries): when the writer falls behind (a
locked or unreachable database), entries are dropped and counted rather
than letting memory grow.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
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
DEFAULT_LIMIT_BYTES = 8 * 1024 * 1024
# What an entry holds beyond its reply's bytes: the time, two list slots, the
# answer tuple, the parsed query and its name, the reply object (measured with
# tracemalloc: about 470 bytes in all with a 45-byte reply, for a new name;
# repeats share the parsed query and often the whole answer, so this errs
# high for them).
ENTRY_OVERHEAD = 440

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
    """Bounded by ``limit_bytes`` (an estimate: ``ENTRY_OVERHEAD`` plus the
    reply's length per entry) and by ``limit`` entries, at each ``take``.

    The query path calls ``add_time`` and then ``add_answer``: the lists' own
    methods, so no Python frame runs for it and nothing is measured there.
    The bound is applied when the writer trims or takes the entries, four
    times a second, so between two trims the lists hold at most a quarter
    second of queries beyond it. What is over the bound then is dropped and
    counted: the oldest, since a parent looking at the log wants the newest.
    The entries of a write under way count against the bounds until the
    writer ``settle``s them (written) or puts them back (not written), so
    the waiting and the written entries together stay within the bounds.
    """

    __slots__ = (
        "_entries", "add_time", "add_answer", "limit", "limit_bytes", "dropped", "taken",
        "_measured", "_bytes", "_out", "_out_bytes",
    )

    def __init__(self, limit: int = DEFAULT_LIMIT, limit_bytes: int = DEFAULT_LIMIT_BYTES) -> None:
        self._entries = Entries()
        self.add_time = self._entries.times.append
        self.add_answer = self._entries.answers.append
        self.limit = limit
        self.limit_bytes = limit_bytes
        self.dropped = 0  # entries lost because the writer could not keep up
        self.taken = 0  # entries handed to the writer
        self._measured = 0  # the oldest entries whose size is in _bytes (appends come after)
        self._bytes = 0
        self._out = self._out_bytes = 0  # entries (and their bytes) taken and not yet settled

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def waiting_bytes(self) -> int:
        """Estimated bytes of the entries waiting, at the last trim."""
        return self._bytes

    @property
    def out_bytes(self) -> int:
        """Estimated bytes of the entries taken and not yet settled or put back."""
        return self._out_bytes

    def half_full(self) -> bool:
        """Whether half of either bound is used by waiting entries, as of the last trim."""
        return 2 * self._bytes >= self.limit_bytes or 2 * self._measured >= self.limit

    def add(self, at: float, answered: Answered) -> None:
        """One entry, for callers off the query path."""
        self.add_time(at)
        self.add_answer(answered)

    def trim(self) -> None:
        """Drop (and count) the oldest waiting entries beyond what the bounds
        leave beside the entries taken and not yet settled."""
        answers = self._entries.answers
        count = len(answers)
        size = self._bytes
        for new in range(self._measured, count):  # what the query path added since
            size += ENTRY_OVERHEAD + len(answers[new][6])
        overflow = min(count, max(0, count + self._out - self.limit))
        size -= _size_of(islice(answers, overflow))
        room = self.limit_bytes - self._out_bytes
        while size > room and overflow < count:
            size -= ENTRY_OVERHEAD + len(answers[overflow][6])
            overflow += 1
        if overflow:
            self.dropped += overflow
            del self._entries.times[:overflow]
            del answers[:overflow]
        self._bytes = size
        self._measured = count - overflow

    def take(self, most: int | None = None, most_bytes: int | None = None) -> Entries:
        """The oldest entries buffered (within the bounds): all, or up to ``most``
        entries and ``most_bytes`` (at least one). They count against the bounds
        until ``settle`` or ``put_back``; one batch is out at a time."""
        self.trim()
        buffered = self._entries
        count = len(buffered) if most is None else min(most, len(buffered))
        size = self._bytes
        if count < len(buffered) or (most_bytes is not None and size > most_bytes):
            room = size if most_bytes is None else most_bytes
            taking = count
            count = size = 0
            for answered in islice(buffered.answers, taking):
                entry_bytes = ENTRY_OVERHEAD + len(answered[6])
                if count and size + entry_bytes > room:
                    break
                size += entry_bytes
                count += 1
        taken = Entries(buffered.times[:count], buffered.answers[:count])
        del buffered.times[:count]
        del buffered.answers[:count]
        self.taken += count
        self._bytes -= size
        self._measured -= count
        self._out, self._out_bytes = count, size
        return taken

    def settle(self) -> None:
        """The entries taken last are written: their room is free again."""
        self._out = self._out_bytes = 0

    def put_back(self, entries: Entries) -> None:
        """Return entries the writer could not store, ahead of newer ones (within the bounds)."""
        self.settle()
        self.taken -= len(entries)
        self._entries.times[:0] = entries.times
        self._entries.answers[:0] = entries.answers
        self._bytes += _size_of(entries.answers)
        self._measured += len(entries)
        self.trim()


def _size_of(answers: Iterable[Answered]) -> int:
    """The estimated bytes of entries with these answers."""
    return sum(ENTRY_OVERHEAD + len(answered[6]) for answered in answers)
