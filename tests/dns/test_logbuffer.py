"""The query log's bounded buffer: the query path appends, the writer takes
what is within the limits (the newest, bounded in entries and in estimated
bytes), puts back what it could not write, and every entry lost is counted."""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Iterable

from dnsfilter.dns.logbuffer import ENTRY_OVERHEAD, FROM_CACHE, REPEAT_BYTES, Entry, LogBuffer
from dnsfilter.dns.wire import parse_query
from dnsfilter.policy.decision import ALLOW
from tests.fakes import make_query, zone_reply

QUERY = parse_query(make_query("example.org"))
REPLY = zone_reply("example.org. 60 IN A 192.0.2.10", name="example.org")
ENTRY_BYTES = ENTRY_OVERHEAD + len(REPLY)  # the estimate for each entry below


def numbered(first: int, last: int, reply: bytes = b"") -> list[Entry]:
    """Entries at POSIX seconds first..last-1 (the time tells them apart)."""
    return [(float(n), ("ip:192.0.2.1", 1, QUERY, ALLOW, FROM_CACHE, 0, reply)) for n in range(first, last)]


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


# --- bounded in bytes ------------------------------------------------------------------


def test_buffer_is_bounded_in_bytes_and_drops_the_oldest() -> None:
    buffer = LogBuffer(limit=1_000_000, limit_bytes=10 * ENTRY_BYTES + ENTRY_BYTES // 2)
    for item in numbered(0, 25, REPLY):
        buffer.add(*item)
    buffer.trim()
    assert (len(buffer), buffer.dropped, buffer.waiting_bytes) == (10, 15, 10 * ENTRY_BYTES)
    assert times(buffer.take()) == list(range(15, 25))


def test_a_longer_reply_takes_more_room() -> None:
    buffer = LogBuffer(limit=1_000_000, limit_bytes=4 * ENTRY_BYTES)
    long_reply = REPLY + bytes(2 * ENTRY_BYTES)
    buffer.add(*numbered(0, 1, long_reply)[0])
    for item in numbered(1, 4, REPLY):
        buffer.add(*item)
    buffer.trim()
    assert (times(buffer.take()), buffer.dropped) == ([1, 2, 3], 1)


def test_entries_put_back_keep_the_bound_in_bytes() -> None:
    buffer = LogBuffer(limit=1_000_000, limit_bytes=8 * ENTRY_BYTES)
    for item in numbered(0, 5, REPLY):
        buffer.add(*item)
    failed = buffer.take()
    for item in numbered(5, 10, REPLY):
        buffer.add(*item)
    buffer.put_back(failed)  # the write failed: the two oldest no longer fit
    assert (len(buffer), buffer.dropped, buffer.taken, buffer.waiting_bytes) == (8, 2, 0, 8 * ENTRY_BYTES)
    assert times(buffer.take()) == list(range(2, 10))


def test_every_entry_is_accounted_for_within_both_bounds() -> None:
    buffer = LogBuffer(limit=60, limit_bytes=40 * ENTRY_BYTES)
    appended = 0
    for round_ in range(20):
        for item in numbered(appended, appended + 11 * round_, REPLY):
            buffer.add(*item)
        appended += 11 * round_
        taken = buffer.take()
        assert buffer.waiting_bytes == 0 and len(taken) * ENTRY_BYTES <= buffer.limit_bytes
        if round_ % 3:
            buffer.put_back(taken)  # a failed write
        assert buffer.taken + buffer.dropped + len(buffer) == appended
        assert len(buffer) <= buffer.limit and buffer.waiting_bytes <= buffer.limit_bytes
    assert buffer.waiting_bytes == len(buffer) * ENTRY_BYTES


def test_the_estimate_is_close_to_the_memory_an_entry_takes() -> None:
    # As the query path makes them for a name not seen before: a parsed query and a reply of its own.
    count = 5000
    packets = [make_query(f"host{n}.example.org") for n in range(count)]
    buffer = LogBuffer()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for packet in packets:
            reply = packet[:2] + REPLY[2:]
            buffer.add_time(time.time())
            buffer.add_answer(("ip:192.0.2.1", 1, parse_query(packet), ALLOW, FROM_CACHE, 0, reply))
        used = (tracemalloc.get_traced_memory()[0] - before) / count
    finally:
        tracemalloc.stop()
    buffer.trim()
    estimated = buffer.waiting_bytes / count
    assert 0.9 * used <= estimated <= 1.5 * used, f"estimated {estimated:.0f} bytes an entry, used {used:.0f}"


# --- a batch out with the writer ---------------------------------------------------------


def test_take_gives_the_oldest_up_to_each_limit_and_the_rest_waits() -> None:
    buffer = LogBuffer(limit=100, limit_bytes=100 * ENTRY_BYTES)
    for item in numbered(0, 10, REPLY):
        buffer.add(*item)
    assert times(buffer.take(most=4)) == [0, 1, 2, 3]
    buffer.settle()
    assert times(buffer.take(most_bytes=3 * ENTRY_BYTES + 1)) == [4, 5, 6]
    buffer.settle()
    assert times(buffer.take(most=5, most_bytes=1)) == [7]  # at least one
    assert (len(buffer), buffer.waiting_bytes, buffer.taken, buffer.dropped) == (2, 2 * ENTRY_BYTES, 8, 0)


def test_a_batch_being_written_counts_against_both_bounds() -> None:
    buffer = LogBuffer(limit=10, limit_bytes=8 * ENTRY_BYTES)
    for item in numbered(0, 4, REPLY):
        buffer.add(*item)
    out = buffer.take(most=5, most_bytes=4 * ENTRY_BYTES)
    assert (len(out), buffer.out_bytes) == (4, 4 * ENTRY_BYTES)
    for item in numbered(4, 12, REPLY):
        buffer.add(*item)
    buffer.trim()  # four out, so four wait: the newest
    assert (times(buffer.take()), buffer.dropped) == ([8, 9, 10, 11], 4)


def test_a_settled_batch_frees_its_room() -> None:
    buffer = LogBuffer(limit=6, limit_bytes=1_000_000)
    for item in numbered(0, 3, REPLY):
        buffer.add(*item)
    buffer.take()
    buffer.settle()  # written
    for item in numbered(3, 9, REPLY):
        buffer.add(*item)
    buffer.trim()
    assert (len(buffer), buffer.dropped, buffer.out_bytes) == (6, 0, 0)


def test_a_failed_batch_comes_back_ahead_of_the_newest_within_the_bounds() -> None:
    buffer = LogBuffer(limit=6, limit_bytes=1_000_000)
    for item in numbered(0, 6, REPLY):
        buffer.add(*item)
    failed = buffer.take(most=3)  # 0-2 out, 3-5 wait
    for item in numbered(6, 10, REPLY):
        buffer.add(*item)
    buffer.trim()  # room for three beside the batch: 7-9
    buffer.put_back(failed)
    assert (times(buffer.take()), buffer.dropped, buffer.taken) == ([0, 1, 2, 7, 8, 9], 4, 6)


# --- repeats of one answer -------------------------------------------------------------


def repeated(answer_count: int, repeats: int, first: int = 0) -> list[Entry]:
    """``repeats`` entries for each of ``answer_count`` answers, interleaved, as a
    device asking the same names again within the second makes them."""
    answers = [("ip:192.0.2.1", 1, QUERY, ALLOW, FROM_CACHE, 0, REPLY) for _ in range(answer_count)]
    return [(float(first + n), answers[n % answer_count]) for n in range(answer_count * repeats)]


def test_a_repeat_of_an_answer_counts_only_what_it_adds() -> None:
    buffer = LogBuffer()
    for item in repeated(3, 5):
        buffer.add(*item)
    buffer.trim()
    assert buffer.waiting_bytes == 3 * ENTRY_BYTES + 12 * REPEAT_BYTES


def test_repeats_are_dropped_oldest_first_within_the_bound() -> None:
    buffer = LogBuffer(limit_bytes=2 * ENTRY_BYTES + 3 * REPEAT_BYTES)
    entries = repeated(2, 10)
    for item in entries:
        buffer.add(*item)
    buffer.trim()  # the newest five: two answers in full and three repeats
    assert (times(buffer.take()), buffer.dropped) == (times(entries[-5:]), 15)


def test_an_answer_whose_first_entry_was_taken_counts_in_full_again() -> None:
    buffer = LogBuffer()
    for item in repeated(1, 4):
        buffer.add(*item)
    taken = buffer.take(most=1)
    assert (len(taken), buffer.out_bytes) == (1, ENTRY_BYTES)
    assert buffer.waiting_bytes == ENTRY_BYTES + 2 * REPEAT_BYTES
    buffer.put_back(taken)
    assert buffer.waiting_bytes == ENTRY_BYTES + 3 * REPEAT_BYTES


def test_a_batch_of_repeats_is_bounded_by_their_estimate() -> None:
    buffer = LogBuffer()
    for item in repeated(2, 50):
        buffer.add(*item)
    taken = buffer.take(most_bytes=2 * ENTRY_BYTES + 10 * REPEAT_BYTES)
    assert (len(taken), buffer.out_bytes, len(buffer)) == (12, 2 * ENTRY_BYTES + 10 * REPEAT_BYTES, 88)


def test_the_estimate_is_close_to_the_memory_repeats_take() -> None:
    count = 20_000
    answers = [("ip:192.0.2.1", 1, QUERY, ALLOW, FROM_CACHE, 0, REPLY) for _ in range(100)]
    buffer = LogBuffer()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for n in range(count):
            buffer.add_time(time.time())
            buffer.add_answer(answers[n % 100])
        used = (tracemalloc.get_traced_memory()[0] - before) / count
    finally:
        tracemalloc.stop()
    buffer.trim()
    estimated = (buffer.waiting_bytes - 100 * ENTRY_BYTES) / (count - 100)
    assert 0.9 * used <= estimated <= 1.5 * used, f"estimated {estimated:.0f} bytes a repeat, used {used:.0f}"
