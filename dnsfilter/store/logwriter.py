"""Writing the query log: the buffer the query path fills, in batches, to the database.

One task (``LogWriter.run``) takes what the resolver buffered every
``flush_seconds``, or sooner once ``batch_size`` entries wait, and writes it
in one transaction (in a thread: the database blocks): the raw rows, the
hourly counts behind the charts, and the screen-time minutes. Few, large
transactions are what an SD card likes.

When the database is locked, full or unreachable, DNS is not affected: the
entries go back to the buffer (which drops and counts the oldest once it is
full) and the writer tries again after a growing pause, up to a minute,
until it succeeds; ``flush`` at shutdown writes what is left.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert
from sqlalchemy.dialects import postgresql, sqlite

from dnsfilter.dns.logbuffer import Entry, LogBuffer
from dnsfilter.dns.replies import answer_summary
from dnsfilter.errors import StoreError
from dnsfilter.policy.decision import Action
from dnsfilter.store.database import Database
from dnsfilter.store.logmodels import HourlyCount, LogCounter, QueryLogRow, UsageMinute

log = logging.getLogger(__name__)

MAX_BACKOFF = 60.0
_BUFFER_CHECK = 0.25  # seconds between looks at the buffer's size
# Answers that mean the device reached the site: they count as screen time.
_USED = frozenset((Action.ALLOW, Action.REWRITE))


@dataclass(frozen=True, slots=True)
class Batch:
    """One flush, ready for the database."""

    rows: list[dict[str, Any]]
    counts: list[dict[str, Any]]
    minutes: list[dict[str, Any]]
    counter: dict[str, Any] | None = None  # this filter's written/dropped since the last flush


class BatchBuilder:
    """Turns buffered entries into rows; names' tags come from ``tags_of``
    (the current list index), local days and minutes from ``zone``."""

    def __init__(self, instance: str, zone: ZoneInfo, tags_of: Callable[[str], tuple[str, ...]]) -> None:
        self.instance = instance
        self.zone = zone
        self.tags_of = tags_of
        self._minutes: dict[int, tuple[int, int]] = {}  # POSIX minute -> (YYYYMMDD, minute of day)

    def build(self, entries: Iterable[Entry]) -> Batch:
        rows: list[dict[str, Any]] = []
        counts: dict[tuple[int, str, int, str, str], int] = {}
        minutes: set[tuple[int, str, int, int]] = set()
        summaries: dict[bytes, tuple[int, str]] = {}
        tags_by_name: dict[str, tuple[str, ...]] = {}
        for at, (device, profile_id, query, decision, upstream, response_us, reply) in entries:
            summary = summaries.get(reply)
            if summary is None:
                summary = summaries[reply] = answer_summary(reply)
            name = query.qname
            tags = tags_by_name.get(name)
            if tags is None:
                tags = tags_by_name[name] = self.tags_of(name)
            action = decision.action.value
            rows.append(
                {
                    "at_ms": int(at * 1000),
                    "instance": self.instance,
                    "device": device,
                    "profile_id": profile_id,
                    "name": name,
                    "qtype": query.qtype,
                    "action": action,
                    "reason": decision.reason.value,
                    "category": decision.category,
                    "tags": ",".join(tags),
                    "list_id": decision.list_id,
                    "rule": decision.rule,
                    "upstream": upstream,
                    "response_us": response_us,
                    "rcode": summary[0],
                    "answer": summary[1],
                }
            )
            hour = int(at // 3600)
            for tag in ("", *tags):
                key = (hour, device, profile_id, tag, action)
                counts[key] = counts.get(key, 0) + 1
            if tags and decision.action in _USED:
                day, minute = self._local_minute(int(at // 60))
                minutes.update((profile_id, tag, day, minute) for tag in tags)
        return Batch(
            rows,
            [
                {"hour": h, "device": d, "profile_id": p, "tag": t, "action": a, "count": n}
                for (h, d, p, t, a), n in counts.items()
            ],
            [{"profile_id": p, "tag": t, "day": d, "minute": m} for p, t, d, m in minutes],
        )

    def _local_minute(self, posix_minute: int) -> tuple[int, int]:
        known = self._minutes.get(posix_minute)
        if known is None:
            local = datetime.fromtimestamp(posix_minute * 60, self.zone)
            known = (local.year * 10000 + local.month * 100 + local.day, local.hour * 60 + local.minute)
            if len(self._minutes) > 4096:
                self._minutes.clear()
            self._minutes[posix_minute] = known
        return known


def write_batch(database: Database, batch: Batch) -> None:
    """One transaction: rows appended, counts added to, minutes noted once."""
    dialect_insert = postgresql.insert if database.is_postgresql else sqlite.insert
    with database.writing() as session:
        if batch.rows:
            session.execute(insert(QueryLogRow), batch.rows)
        if batch.counts:
            add = dialect_insert(HourlyCount)
            add = add.on_conflict_do_update(
                index_elements=["hour", "device", "profile_id", "tag", "action"],
                set_={"count": HourlyCount.count + add.excluded.count},
            )
            session.execute(add, batch.counts)
        if batch.minutes:
            note = dialect_insert(UsageMinute).on_conflict_do_nothing()
            session.execute(note, batch.minutes)
        if batch.counter is not None:
            tally = dialect_insert(LogCounter).values(**batch.counter)
            tally = tally.on_conflict_do_update(
                index_elements=["instance"],
                set_={
                    "written": LogCounter.written + tally.excluded.written,
                    "dropped": LogCounter.dropped + tally.excluded.dropped,
                    "updated_ms": tally.excluded.updated_ms,
                },
            )
            session.execute(tally)


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
    ) -> None:
        self.database = database
        self.buffer = buffer
        self.builder = builder
        self.flush_seconds = flush_seconds
        self.batch_size = batch_size
        self.written = 0  # rows stored since start
        self.failures = 0  # flushes that failed
        self.last_error: str | None = None
        self._dropped_reported = 0  # buffer.dropped already added to the database's counter

    async def run(self) -> None:
        """Flush forever; failures wait longer each time, and never end the task."""
        pause = self.flush_seconds
        while True:
            await self._wait(pause)
            try:
                await self.flush()
            except StoreError as error:
                if self.last_error is None:
                    log.error(
                        "cannot write the query log (%s); DNS is not affected, the log is kept in "
                        "memory for now (the oldest entries are dropped when it is full) and "
                        "written once the database works again",
                        error,
                    )
                self.last_error = str(error)
                pause = min(MAX_BACKOFF, max(pause * 2, 1.0))
                continue
            if self.last_error is not None:
                log.info("the query log is written again")
                self.last_error = None
            pause = self.flush_seconds

    async def _wait(self, seconds: float) -> None:
        """Until ``seconds`` pass or a full batch is waiting (not while backing off)."""
        backing_off = self.last_error is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while (left := deadline - loop.time()) > 0:
            if not backing_off and len(self.buffer) >= self.batch_size:
                return
            self.buffer.trim()  # bounded even while nothing can be written
            await asyncio.sleep(min(left, _BUFFER_CHECK))

    async def flush(self) -> int:
        """Write everything buffered now; StoreError (entries kept) when the database fails."""
        entries = self.buffer.take()
        dropped = self.buffer.dropped - self._dropped_reported
        if not entries and not dropped:
            return 0
        try:
            database = self.database()
            if database is None:
                raise StoreError("the database cannot be reached yet")
            await asyncio.to_thread(self._write, database, entries, dropped)
        except StoreError:
            self.failures += 1
            self.buffer.put_back(entries)
            raise
        self._dropped_reported += dropped
        self.written += len(entries)
        return len(entries)

    def _write(self, database: Database, entries: list[Entry], dropped: int) -> None:
        batch = self.builder.build(entries)
        if entries or dropped:
            at_ms = int(entries[-1][0] * 1000) if entries else 0
            batch = replace(
                batch,
                counter={"instance": self.builder.instance, "written": len(entries), "dropped": dropped,
                         "updated_ms": at_ms},
            )
        write_batch(database, batch)
