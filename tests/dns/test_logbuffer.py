"""The query log's bounded buffer: the query path appends, the writer takes
what is within the limit (the newest), puts back what it could not write,
and every entry lost is counted."""

from __future__ import annotations

from collections.abc import Iterable

from dnsfilter.dns.logbuffer import FROM_CACHE, Entry, LogBuffer
from dnsfilter.dns.wire import parse_query
from dnsfilter.policy.decision import ALLOW
from tests.fakes import make_query

QUERY = parse_query(make_query("example.org"))


def numbered(first: int, last: int) -> list[Entry]:
    """Entries at POSIX seconds first..last-1 (the time tells them apart)."""
    return [(float(n), ("ip:192.0.2.1", 1, QUERY, ALLOW, FROM_CACHE, 0, b"")) for n in range(first, last)]


def times(entries: Iterable[Entry]) -> list[int]:
    return [int(at) for at, _ in entries]


def test_buffer_take_keeps_the_newest_within_the_limit() -> None:
    buffer = LogBuffer(limit=4)
    for item in numbered(0, 10):
        buffer.add(*item)
    assert len(buffer) == 10  # bounded when taken, not on the query path
    assert times(buffer.take()) == [6, 7, 8, 9]
    assert (buffer.dropped, buffer.taken, len(buffer)) == (6, 4, 0)
    assert len(buffer.take()) == 0


def test_buffer_trim_drops_the_oldest() -> None:
    buffer = LogBuffer(limit=3)
    for item in numbered(0, 5):
        buffer.add(*item)
    buffer.trim()
    buffer.trim()  # twice changes nothing
    assert (len(buffer), buffer.dropped) == (3, 2)
    assert times(buffer.take()) == [2, 3, 4]


def test_buffer_put_back_goes_ahead_of_newer_entries_within_the_limit() -> None:
    buffer = LogBuffer(limit=5)
    for item in numbered(0, 3):
        buffer.add(*item)
    taken = buffer.take()
    for item in numbered(3, 7):
        buffer.add(*item)
    buffer.put_back(taken)  # the write failed
    assert (buffer.dropped, buffer.taken) == (2, 0)
    assert times(buffer.take()) == [2, 3, 4, 5, 6]
    assert (buffer.dropped, buffer.taken) == (2, 5)


def test_every_entry_is_taken_dropped_or_still_waiting() -> None:
    buffer = LogBuffer(limit=100)
    appended = 0
    for round_ in range(20):
        for item in numbered(appended, appended + 37 * round_):
            buffer.add(*item)
        appended += 37 * round_
        taken = buffer.take()
        if round_ % 3:
            buffer.put_back(taken)  # a failed write
        assert buffer.taken + buffer.dropped + len(buffer) == appended
        assert len(buffer) <= buffer.limit
    newest = times(buffer.take())
    assert newest == list(range(appended - len(newest), appended))  # what is kept is the newest, in order
