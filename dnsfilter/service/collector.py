"""Python's cyclic garbage collector, kept to pauses a DNS server can afford.

CPython's collector stops every thread while it walks the objects it
tracks, and a walk costs about a microsecond an object on a small machine.
With young collections every 50,000 new objects, a flood of new names made
each walk cover what the cache and the query log held for a few seconds:
20 to 70 ms, and cached answers waited behind it.

So once the filter has started:
- young collections run often (every ``YOUNG`` new objects), so each walks
  a few hundred objects: well under a millisecond. They free the cycles
  that requests and exceptions leave behind, almost all of them young;
- every ``FREEZE_EVERY`` seconds what has survived so far is frozen: no
  later collection walks it again, so the older generations stay small;
- every ``INTERVAL`` seconds one full collection walks everything, frozen
  objects included, for the rare cycle that forms among old objects.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time

log = logging.getLogger(__name__)

YOUNG = 500  # new tracked objects between two young collections
OLDER = (5, 1000)  # young collections per middle one, middle ones per full one
FREEZE_EVERY = 1.0  # seconds
INTERVAL = 3600.0  # seconds between two full collections of everything


class Collector:
    """Started once the filter answers; ``stop`` gives Python its own settings back."""

    def __init__(self, freeze_every: float = FREEZE_EVERY, interval: float = INTERVAL) -> None:
        self.freeze_every = freeze_every
        self.interval = interval
        self.full_collections = 0
        self.last_pause = 0.0  # seconds the last full collection held the process
        self._thresholds = gc.get_threshold()
        self._due = 0.0
        self._handle: asyncio.TimerHandle | None = None

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._thresholds = gc.get_threshold()
        gc.freeze()  # what start-up built (index tables, modules, the policy) lives as long as the process
        gc.set_threshold(YOUNG, *OLDER)
        self._due = loop.time() + self.interval
        self._handle = loop.call_later(self.freeze_every, self._tick)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        gc.unfreeze()
        gc.set_threshold(*self._thresholds)

    def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        if loop.time() >= self._due:
            self.collect_everything()
            self._due = loop.time() + self.interval
        gc.freeze()
        self._handle = loop.call_later(self.freeze_every, self._tick)

    def collect_everything(self) -> int:
        """One full collection, frozen objects included; the number of objects it freed."""
        started = time.perf_counter()
        gc.unfreeze()
        freed = gc.collect()
        gc.freeze()
        self.last_pause = time.perf_counter() - started
        self.full_collections += 1
        log.debug("garbage collection: %d objects in cycles freed in %.0f ms", freed, self.last_pause * 1000)
        return freed
