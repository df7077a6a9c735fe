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
# tracemalloc: about 470 bytes in all with a 45-byte reply, for a new name).
ENTRY_OVERHEAD = 440
# What a repeat of an answer adds, the answer being shared: its time and two
# list slots. (A repeat with an answer of its own, sharing only the parsed
# query, is counted in full: the estimate errs high for it.)
REPEAT_BYTES = 48

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
    """Bounded by ``limit_bytes`` and by ``limit`` entries, at each ``trim`` and
    ``take``. The bytes are an estimate: ``ENTRY_OVERHEAD`` and the reply for
    an answer's first entry, ``REPEAT_BYTES`` for each repeat (an answer
    served again within its second is the same object).

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
        "_measured", "_bytes", "_answers_seen", "_out", "_out_bytes",
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
        # The answers of the measured entries, by identity (held here, so an
        # identity is not reused while it is a key).
        self._answers_seen: dict[int, Answered] = {}
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
        size = self._bytes + _added_bytes(answers, self._measured, count, self._answers_seen)
        most, room = self.limit - self._out, self.limit_bytes - self._out_bytes
        if count > most or size > room:
            overflow = count - _fitting(reversed(answers), max(0, most), room, at_least_one=False)[0]
            self.dropped += overflow
            del self._entries.times[:overflow]
            del answers[:overflow]
            self._measure_all()
        else:
            self._bytes, self._measured = size, count

    def take(self, most: int | None = None, most_bytes: int | None = None) -> Entries:
        """The oldest entries buffered (within the bounds): all, or up to ``most``
        entries and ``most_bytes`` (at least one). They count against the bounds
        until ``settle`` or ``put_back``; one batch is out at a time."""
        self.trim()
        buffered = self._entries
        count, size = len(buffered), self._bytes
        if (most is not None and most < count) or (most_bytes is not None and size > most_bytes):
            count, size = _fitting(buffered.answers, count if most is None else most, most_bytes, at_least_one=True)
        taken = Entries(buffered.times[:count], buffered.answers[:count])
        del buffered.times[:count]
        del buffered.answers[:count]
        self._measure_all()  # an answer's first entry left may be a repeat no longer
        self.taken += count
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
        self._measure_all()
        self.trim()

    def _measure_all(self) -> None:
        self._answers_seen = {}
        answers = self._entries.answers
        self._bytes = _added_bytes(answers, 0, len(answers), self._answers_seen)
        self._measured = len(answers)


def _added_bytes(answers: list[Answered], start: int, stop: int | None, seen: dict[int, Answered]) -> int:
    """The estimate for ``answers[start:stop]``, beside the answers in ``seen`` (which it adds to)."""
    size = 0
    for answered in islice(answers, start, stop):
        if id(answered) in seen:
            size += REPEAT_BYTES
        else:
            seen[id(answered)] = answered
            size += ENTRY_OVERHEAD + len(answered[6])
    return size


def _fitting(answers: Iterable[Answered], most: int, most_bytes: int | None, at_least_one: bool) -> tuple[int, int]:
    """How many of ``answers``, in the order given, fit in ``most`` entries and
    ``most_bytes``, and their estimated bytes. The estimate counts an answer
    in full once whichever of its entries comes first, so it adds up from
    either end."""
    seen: set[int] = set()
    size = count = 0
    for answered in islice(answers, most):
        entry_bytes = REPEAT_BYTES if id(answered) in seen else ENTRY_OVERHEAD + len(answered[6])
        if most_bytes is not None and size + entry_bytes > most_bytes and (count or not at_least_one):
            break
        seen.add(id(answered))
        size += entry_bytes
        count += 1
    return count, size
