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
import threading
import weakref

import pytest

from dnsfilter.dns.logbuffer import Entries, LogBuffer
from dnsfilter.service.collector import Collector
from dnsfilter.service.logbatches import STEP_SIZE, BatchBuilder
from dnsfilter.service.logwriter import LogWriter
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


class Node:
    """An object in a reference cycle: only the cyclic collector frees it."""

    def __init__(self) -> None:
        self.me = self


def make_cycles(count: int) -> weakref.ref[Node]:
    nodes = [Node() for _ in range(count)]
    return weakref.ref(nodes[0])


@pytest.fixture
def collector() -> object:
    """The collector's state as the test process had it, given back after the test."""
    thresholds, enabled = gc.get_threshold(), gc.isenabled()
    yield None
    gc.unfreeze()
    gc.set_threshold(*thresholds)
    if enabled:
        gc.enable()


async def test_the_automatic_collector_is_off_and_what_start_up_built_is_frozen(collector: object) -> None:
    running = Collector(check_every=0.01)
    running.start()
    try:
        assert not gc.isenabled()
        assert gc.get_freeze_count() > 0
        cycle = make_cycles(10)
        await asyncio.sleep(0.05)  # a few looks at the count, far from the growth that collects
        assert cycle() is not None
        assert running.collections == 0
    finally:
        running.stop()
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0


async def test_cycles_piling_up_are_collected(collector: object) -> None:
    running = Collector(growth=5_000, check_every=0.01)
    running.start()
    try:
        cycle = make_cycles(10_000)
        for _ in range(200):
            if cycle() is None:
                break
            await asyncio.sleep(0.01)
        assert cycle() is None
        assert running.collections >= 1
    finally:
        running.stop()


async def test_a_collection_runs_at_least_every_interval(collector: object) -> None:
    running = Collector(growth=10**9, interval=0.05, check_every=0.01)
    running.start()
    try:
        cycle = make_cycles(3)
        for _ in range(200):
            if cycle() is None:
                break
            await asyncio.sleep(0.01)
        assert cycle() is None
        assert running.collections >= 1
        assert running.last_pause >= 0
    finally:
        running.stop()
