"""The query log never keeps DNS waiting: its rows are made on the event loop
a few entries at a time, with the loop free between two steps, and Python's
cyclic collector does not stop the process for the objects the log and the
cache hold for a few seconds.

What a flood of new names does to cached answers with all of this in place
is measured by ``benchmarks/attacks.py --only flood``.
"""

from __future__ import annotations

import asyncio
import gc
import os
import threading
import weakref
from collections.abc import Iterator

import pytest
from sqlalchemy import event

from dnsfilter.dns.logbuffer import Entries, LogBuffer
from dnsfilter.service.collector import YOUNG, Collector
from dnsfilter.service.logbatches import STEP_SIZE, BatchBuilder
from dnsfilter.service.logwriter import WRITER_NICENESS, LogWriter
from dnsfilter.store import Database
from tests.service.test_logwriter import AT, BERLIN, builder, entry, stored_rows

NEW_NAMES = 2_000  # a flood's second of new names, each its own answer


def flood() -> Entries:
    return Entries.of(entry(f"n{number}.flood.example", at=AT + number / NEW_NAMES) for number in range(NEW_NAMES))


def test_the_steps_end_with_the_same_batch_as_building_it_at_once() -> None:
    entries = flood()
    steps = list(builder().steps(entries))
    assert steps[-1] == builder().build(entries)
    # One pause after every STEP_SIZE entries, and again while the answers are added up.
    assert steps[:-1] == [None] * (len(steps) - 1)
    assert len(steps) - 1 >= 2 * NEW_NAMES // STEP_SIZE


async def test_rows_are_made_on_the_loop_with_dns_served_between_two_steps(database: Database) -> None:
    """A task standing for the DNS listeners runs again and again while the
    writer turns 2,000 new names into rows; the rows are made in the loop's
    own thread, so the writer's thread needs the GIL only to hand them to the
    driver (Python work there would make the loop wait for the GIL)."""
    buffer = LogBuffer()
    for at, answered in flood():
        buffer.add(at, answered)
    turns = 0
    seen: list[tuple[int, int]] = []  # (thread, the listener's turns) at each name's tags

    def tags_of(name: str) -> tuple[str, ...]:
        seen.append((threading.get_ident(), turns))
        return ()

    made = BatchBuilder("filter-a", BERLIN, tags_of)
    writer = LogWriter(lambda: database, buffer, made, flush_seconds=1.0, batch_size=NEW_NAMES)
    writing = True

    async def listener() -> None:
        nonlocal turns
        while writing:
            turns += 1
            await asyncio.sleep(0)

    serving = asyncio.create_task(listener())
    assert await writer.flush() == NEW_NAMES
    writing = False
    await serving
    assert {thread for thread, _ in seen} == {threading.get_ident()}
    assert len({turn for _, turn in seen}) >= NEW_NAMES // STEP_SIZE
    assert len(stored_rows(database)) == NEW_NAMES


async def test_the_database_work_runs_in_a_thread_that_gives_way_to_dns(database: Database) -> None:
    """The driver's work for a write (SQLite's own, outside the GIL) happens in a
    thread the kernel weighs less than the loop's: on a one- or two-core box
    the loop gets the CPU back as soon as a query arrives."""
    writing_threads: set[int] = set()

    def record_thread(*_: object) -> None:
        writing_threads.add(threading.get_native_id())

    event.listen(database.engine, "before_cursor_execute", record_thread)
    buffer = LogBuffer()
    for at, answered in flood():
        buffer.add(at, answered)
    writer = LogWriter(lambda: database, buffer, builder(), flush_seconds=1.0, batch_size=NEW_NAMES)
    try:
        assert await writer.flush() == NEW_NAMES
        assert threading.get_native_id() not in writing_threads
        loop_priority = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        assert [os.getpriority(os.PRIO_PROCESS, thread) for thread in writing_threads] == [
            min(loop_priority + WRITER_NICENESS, 19)
        ]
    finally:
        event.remove(database.engine, "before_cursor_execute", record_thread)
        await writer.finish(asyncio.create_task(asyncio.sleep(0)))


class Node:
    """An object in a reference cycle: only the cyclic collector frees it."""

    def __init__(self) -> None:
        self.me = self


def make_cycles(count: int) -> weakref.ref[Node]:
    nodes = [Node() for _ in range(count)]
    return weakref.ref(nodes[0])


@pytest.fixture
def collector() -> Iterator[None]:
    """The collector's settings as the test process had them, given back after the test."""
    thresholds, enabled = gc.get_threshold(), gc.isenabled()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)
    if enabled:
        gc.enable()


async def until_freed(cycle: weakref.ref[Node]) -> None:
    for _ in range(300):
        if cycle() is None:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the cycle was never collected")


async def test_young_cycles_are_collected_after_few_new_objects(collector: object) -> None:
    running = Collector(freeze_every=3600)
    running.start()
    try:
        assert gc.get_threshold()[0] == YOUNG
        assert gc.get_freeze_count() > 0  # what start-up built is never walked
        cycle = make_cycles(1)
        make_cycles(2 * YOUNG)  # new objects: a young collection runs among them
        await until_freed(cycle)
        assert running.full_collections == 0
    finally:
        running.stop()
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold()[0] != YOUNG


async def test_survivors_are_frozen_and_a_full_collection_still_reaches_them(collector: object) -> None:
    """Objects that outlived a second are no longer walked by young collections;
    the full collection every ``interval`` frees the cycles among them."""
    running = Collector(freeze_every=0.02, interval=0.5)
    running.start()
    try:
        nodes = [Node() for _ in range(10)]
        frozen_before = gc.get_freeze_count()
        await asyncio.sleep(0.1)
        assert gc.get_freeze_count() > frozen_before
        cycle = weakref.ref(nodes[0])
        del nodes  # garbage now, but frozen: only the full collection sees it
        gc.collect(1)
        assert cycle() is not None
        await until_freed(cycle)
        assert running.full_collections >= 1
        assert running.last_pause >= 0
    finally:
        running.stop()
