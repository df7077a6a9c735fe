"""Answered queries waiting for the query-log writer.

The query path appends and returns: no I/O, no formatting, no await. An
entry holds references to what the resolver already has (the parsed query,
the decision, the reply bytes) and is turned into a log row later, by the
writer, off the query path. The buffer is bounded: when the writer falls
behind (a locked or unreachable database), new entries are dropped and
counted rather than letting memory grow.
"""

from __future__ import annotations

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


class LogBuffer:
    """Bounded by ``limit`` entries at each ``take``.

    ``append`` is the list's own method (no Python frame on the query path);
    the bound is applied when the writer takes the entries, at least once a
    second, so between two takes the list holds at most one second of queries
    beyond it. What is over the limit then is dropped and counted: the oldest,
    since a parent looking at the log wants the newest.
    """

    __slots__ = ("_entries", "append", "limit", "dropped", "taken")

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        self._entries: list[Entry] = []
        self.append = self._entries.append
        self.limit = limit
        self.dropped = 0  # entries lost because the writer could not keep up
        self.taken = 0  # entries handed to the writer

    def __len__(self) -> int:
        return len(self._entries)

    def trim(self) -> None:
        """Drop (and count) the oldest entries beyond the limit."""
        overflow = len(self._entries) - self.limit
        if overflow > 0:
            self.dropped += overflow
            del self._entries[:overflow]

    def take(self) -> list[Entry]:
        """Everything buffered (within the limit), oldest first; the buffer starts empty again."""
        self.trim()
        entries = self._entries.copy()
        self._entries.clear()
        self.taken += len(entries)
        return entries

    def put_back(self, entries: list[Entry]) -> None:
        """Return entries the writer could not store, ahead of newer ones (within the limit)."""
        self.taken -= len(entries)
        self._entries[:0] = entries
        self.trim()
