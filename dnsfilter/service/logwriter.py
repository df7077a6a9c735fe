"""Writing the query log: the buffer the query path fills, in batches, to the database.

One task (``LogWriter.run``) takes what the resolver buffered every
``flush_seconds``, or sooner once ``batch_size`` entries wait, and writes it
in one transaction: the raw rows, the hourly counts behind the charts, and
the screen-time minutes. Few, large transactions are what an SD card likes.

The rows are made on the event loop, a few dozen entries at a time with
DNS answered between two steps; only the transaction runs in a thread
(the database blocks, and the driver lets go of the GIL while it works),
a thread of the writer's own that the kernel weighs less than the loop's.
Python work in that thread would hold the GIL in 5 ms turns, and every
time the loop wanted it back it would wait a turn: under a flood of new
names a cached answer then waited up to 100 ms behind the log.

When the database is locked, full or unreachable, DNS is not affected: the
entries go back to the buffer (which drops and counts the oldest once it is
full) and the writer tries again after a short pause that doubles up to a
few seconds (0.5 s to 5 s by default), so the log resumes within seconds of
the database coming back; ``flush`` at shutdown writes what is left.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from dnsfilter.dns.logbuffer import Entries, LogBuffer
from dnsfilter.errors import StoreError
from dnsfilter.service.logbatches import BatchBuilder
from dnsfilter.service.timings import backoff
from dnsfilter.store.database import ConflictError, Database, first_line
from dnsfilter.store.querylog.writer import Batch, write_batch

log = logging.getLogger(__name__)

# A write still waiting after this long is reported (a database that stopped
# answering without closing the connection); the buffer stays bounded meanwhile.
SLOW_WRITE_SECONDS = 3.0
_BUFFER_CHECK = 0.25  # seconds between looks at the buffer's size
# How much less the write's thread weighs with the kernel than the thread
# answering DNS: added to its nice value (19 at most).
WRITER_NICENESS = 10


def _yield_to_dns() -> None:
    """Make the calling thread (the writer's own) give way to DNS when both want a CPU.

    On a box with one or two cores the database's work in this thread
    otherwise takes its full time slice while an answer waits for the CPU.
    """
    try:
        # On Linux a thread's own ID names it alone here.
        thread = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, thread, min(19, os.getpriority(os.PRIO_PROCESS, thread) + WRITER_NICENESS))
    except OSError:  # not allowed: the writer still writes
        pass


class LogWriter:
    """``database`` gives the open database, or None while it cannot be reached."""

    def __init__(
        self,
        database: Callable[[], Database | None],
        buffer: LogBuffer,
        builder: BatchBuilder,
        *,
        flush_seconds: float,
        batch_size: int,
        first_backoff: float = 0.5,
        max_backoff: float = 5.0,
    ) -> None:
        # Pauses between failed writes: the first, doubling up to the most.
        self.first_backoff = first_backoff
        self.max_backoff = max_backoff
        self.database = database
        self.buffer = buffer
        self.builder = builder
        self.flush_seconds = flush_seconds
        self.batch_size = batch_size
        self.written = 0  # rows stored since start
        self.failures = 0  # flushes that failed
        self.last_error: str | None = None
        self._dropped_reported = 0  # buffer.dropped already added to the database's counter
        self._stopping = asyncio.Event()
        # One thread of its own, kept for the writer's life, at a lower priority.
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="query log writer", initializer=_yield_to_dns)

    async def run(self) -> None:
        """Flush until ``finish``; failures wait a little longer each time (up to
        ``max_backoff``) and never end the task."""
        pause = self.flush_seconds
        retries = backoff(self.first_backoff, self.max_backoff)
        while not self._stopping.is_set():
            await self._wait(pause)
            if self._stopping.is_set():
                return
            try:
                await self.flush()
            except Exception as error:  # noqa: BLE001 - logging must never stop for good
                if not isinstance(error, StoreError):
                    log.exception("writing the query log failed unexpectedly; trying again")
                elif self.last_error is None:
                    log.error(
                        "cannot write the query log (%s); DNS is not affected, the log is kept in "
                        "memory for now (the oldest entries are dropped when it is full) and "
                        "written once the database works again",
                        error,
                    )
                self.last_error = str(error)
                pause = next(retries)
                continue
            if self.last_error is not None:
                log.info("the query log is written again")
                self.last_error = None
                retries = backoff(self.first_backoff, self.max_backoff)
            pause = self.flush_seconds

    async def finish(self, running: asyncio.Task[None]) -> None:
        """Stop ``running`` (this writer's ``run``) after the write under way, then
        write what is left; a failure is logged with how many entries it lost."""
        self._stopping.set()
        await running
        try:
            while await self.flush():
                pass
        except StoreError as error:
            log.warning("the last %d queries could not be logged: %s", len(self.buffer), error)
        finally:
            self._thread.shutdown(wait=False)

    async def _wait(self, seconds: float) -> None:
        """Until ``seconds`` pass or a batch is ready (not while backing off): a full
        batch, or the buffer half way to its bounds, so that a high rate is written
        before the bounds drop anything."""
        backing_off = self.last_error is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while (left := deadline - loop.time()) > 0:
            self.buffer.trim()  # bounded even while nothing can be written
            if self._stopping.is_set():
                return
            if not backing_off and (len(self.buffer) >= self.batch_size or self.buffer.half_full()):
                return
            await asyncio.sleep(min(left, _BUFFER_CHECK))

    async def flush(self) -> int:
        """Write the oldest entries buffered now: ``batch_size`` and half of each
        of the buffer's bounds at most; StoreError (entries kept) when the
        database fails.

        Half, so that what waits and what is being written stay within the
        bounds together, the newer half waiting while a write is out; and
        the rows made from a batch, about twice its entries' memory, stay
        small beside them.
        """
        buffer = self.buffer
        most = max(1, min(self.batch_size, buffer.limit // 2))
        entries = buffer.take(most, max(1, buffer.limit_bytes // 2))
        dropped = self.buffer.dropped - self._dropped_reported
        if not entries and not dropped:
            return 0
        try:
            database = self.database()
            if database is None:
                raise StoreError("the database cannot be reached yet")
            batch = await self._build(entries, dropped)
            await self._write_in_thread(database, batch)
        except Exception:
            self.failures += 1
            self.buffer.put_back(entries)
            raise
        self.buffer.settle()
        self._dropped_reported += dropped
        self.written += len(entries)
        return len(entries)

    async def _build(self, entries: Entries, dropped: int) -> Batch:
        """The batch of ``entries``, made a step at a time on the loop."""
        batch = None
        for batch in self.builder.steps(entries):
            if batch is None:
                await asyncio.sleep(0)  # DNS answers what arrived meanwhile
        assert batch is not None
        if entries or dropped:
            at_ms = int(entries.times[-1] * 1000) if entries else 0
            batch = replace(
                batch,
                counter={"instance": self.builder.instance, "written": len(entries), "dropped": dropped,
                         "updated_ms": at_ms},
            )
        return batch

    async def _write_in_thread(self, database: Database, batch: Batch) -> None:
        """The write, waited for without end (a thread cannot be stopped, and a write
        abandoned half way could later land twice), the buffer kept bounded and a
        slow database reported meanwhile."""
        loop = asyncio.get_running_loop()
        writing = loop.run_in_executor(self._thread, self._write, database, batch)
        slow_at = loop.time() + SLOW_WRITE_SECONDS
        while not writing.done():
            await asyncio.wait({writing}, timeout=_BUFFER_CHECK)
            self.buffer.trim()
            if not writing.done() and self.last_error is None and loop.time() >= slow_at:
                self.last_error = f"the database at {database.where} has not answered for {SLOW_WRITE_SECONDS:g} seconds"
                log.error(
                    "%s; DNS is not affected, the query log waits in memory (the oldest entries are "
                    "dropped when it is full)",
                    self.last_error,
                )
        writing.result()

    def _write(self, database: Database, batch: Batch) -> None:
        try:
            write_batch(database, batch)
        except ConflictError as error:
            # Said for a parent's edits that collide; here the schema refused a row.
            cause = error.__cause__ or error
            raise StoreError(f"the database refused the query log's rows: {first_line(cause)}") from cause
