"""Python's cyclic garbage collector, run when and as much as a DNS server can afford.

CPython's collector stops every thread while it walks the objects it
tracks. Left to itself it walks the young ones every few thousand new
objects, and under a flood of new names the young ones are what the cache
and the query log hold for a few seconds: each walk took 20 to 70 ms on a
2-CPU machine, and cached answers waited behind it. Yet the filter makes
almost no reference cycles: what it allocates is freed by reference
counting as soon as the cache evicts it or the log has written it (such a
flood left about 500 objects in cycles in 25 s, all from SQLAlchemy's
statement caches).

So once the filter has started, what start-up built is frozen (never
walked again), the automatic collector is off, and a full collection runs
only when the tracked objects have grown by ``growth`` since the last one
(cycles are piling up somewhere) or ``interval`` seconds have passed. Each
takes tens of milliseconds, an hour apart in a quiet home.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time

log = logging.getLogger(__name__)

GROWTH = 1_000_000  # tracked objects more than after the last collection
INTERVAL = 3600.0  # seconds: a collection at least this often
CHECK_EVERY = 1.0  # seconds between two looks at the count (a look costs nothing)


class Collector:
    """Started once the filter answers; ``stop`` gives the collector back to Python."""

    def __init__(self, growth: int = GROWTH, interval: float = INTERVAL, check_every: float = CHECK_EVERY) -> None:
        self.growth = growth
        self.interval = interval
        self.check_every = check_every
        self.collections = 0
        self.last_pause = 0.0  # seconds the last collection held the process
        self._was_enabled = True
        self._due = 0.0
        self._handle: asyncio.TimerHandle | None = None

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        # What start-up built (index tables, modules, the policy) lives as long as the process.
        gc.freeze()
        self._was_enabled = gc.isenabled()
        gc.disable()
        self._due = loop.time() + self.interval
        self._handle = loop.call_later(self.check_every, self._check)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        gc.unfreeze()
        if self._was_enabled:
            gc.enable()

    def _check(self) -> None:
        loop = asyncio.get_running_loop()
        # With the collector off, generation 0's count is the tracked objects
        # allocated less those freed since the last collection.
        if gc.get_count()[0] >= self.growth or loop.time() >= self._due:
            self.collect()
            self._due = loop.time() + self.interval
        self._handle = loop.call_later(self.check_every, self._check)

    def collect(self) -> int:
        """One full collection of what is not frozen; the number of objects it freed."""
        started = time.perf_counter()
        freed = gc.collect()
        self.last_pause = time.perf_counter() - started
        self.collections += 1
        log.debug("garbage collection: %d objects in cycles freed in %.0f ms", freed, self.last_pause * 1000)
        return freed
