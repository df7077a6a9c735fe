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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.dialects import postgresql, sqlite

from dnsfilter.dns.logbuffer import Answered, Entries, LogBuffer
from dnsfilter.dns.replies import answer_summary
from dnsfilter.errors import StoreError
from dnsfilter.policy.decision import Action
from dnsfilter.store.database import ConflictError, Database, first_line
from dnsfilter.store.logmodels import HomeNameCount, HourlyCount, LogCounter, NameCount, QueryLogRow, UsageMinute
from dnsfilter.store.models import exact_text

log = logging.getLogger(__name__)

MAX_BACKOFF = 60.0
# A write still waiting after this long is reported (a database that stopped
# answering without closing the connection); the buffer stays bounded meanwhile.
SLOW_WRITE_SECONDS = 3.0
_BUFFER_CHECK = 0.25  # seconds between looks at the buffer's size
# Answers that mean the device reached the site: they count as screen time.
_USED = frozenset((Action.ALLOW, Action.REWRITE))


# The raw row's columns, in the order ``Batch.rows`` holds them.
ROW_COLUMNS: tuple[str, ...] = (
    "at_ms", "instance", "device", "profile_id", "name", "qtype", "action", "reason", "category",
    "tags", "list_id", "rule", "upstream", "response_us", "rcode", "answer", "repeats",
)


@dataclass(frozen=True, slots=True)
class Batch:
    """One flush, ready for the database."""

    rows: list[tuple[Any, ...]]  # in ROW_COLUMNS order, text as ExactText stores it
    counts: list[dict[str, Any]]
    minutes: list[dict[str, Any]]
    counter: dict[str, Any] | None = None  # this filter's written/dropped since the last flush
    names: list[dict[str, Any]] = field(default_factory=list)  # per hour, profile, action and name
    # The names' counts for the whole home: (hour, action, name as stored, count).
    home_names: list[tuple[int, str, str, int]] = field(default_factory=list)

    def row_dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(ROW_COLUMNS, row, strict=True)) for row in self.rows]


class _Answer:
    """What every entry of one answer shares (repeats within the second share it)."""

    __slots__ = ("first_ms", "rest", "group", "used_tags", "profile_id", "entries", "hours", "minutes")

    def __init__(self, first_ms: int, rest: tuple[Any, ...], group: tuple[str, int, str, tuple[str, ...], str],
                 used_tags: tuple[str, ...], profile_id: int) -> None:
        self.first_ms = first_ms
        self.rest = rest  # the row after at_ms, without repeats
        self.group = group  # (device, profile, action, tags, name): what its hourly counts add to
        self.used_tags = used_tags  # tags it counts screen time for
        self.profile_id = profile_id
        self.entries = 0
        self.hours: dict[int, int] | None = None  # entries per hour, when the batch spans two hours
        self.minutes: set[int] = set()


class BatchBuilder:
    """Turns buffered entries into rows; names' tags come from ``tags_of``
    (the current list index), local days and minutes from ``zone``.

    Written for speed: at the filter's full rate the writer turns about a
    hundred thousand entries a second into rows, so what entries share (the
    answer, the device, the decision, the name) is worked out once.
    """

    def __init__(self, instance: str, zone: ZoneInfo, tags_of: Callable[[str], tuple[str, ...]]) -> None:
        self.instance = instance
        self.zone = zone
        self.tags_of = tags_of
        self._minutes: dict[int, tuple[int, int]] = {}  # POSIX minute -> (YYYYMMDD, minutes since midnight)

    def build(self, entries: Entries) -> Batch:
        times = entries.times
        memo = _BatchMemo()
        answers: dict[int, _Answer] = {}
        one_hour = bool(times) and int(times[0] // 3600) == int(times[-1] // 3600)
        for at, answered in zip(times, entries.answers):
            # One answer object is shared by the repeats served within its second.
            answer = answers.get(id(answered))
            if answer is None:
                answer = answers[id(answered)] = self._answer(answered, int(at * 1000), memo)
            answer.entries += 1
            if answer.used_tags:
                answer.minutes.add(int(at // 60))
            if not one_hour:
                hours = answer.hours if answer.hours is not None else {}
                answer.hours = hours
                hour = int(at // 3600)
                hours[hour] = hours.get(hour, 0) + 1
        hourly: dict[tuple[int, str, int, str, str], int] = {}
        by_name: dict[tuple[int, int, str, str], int] = {}
        minutes: set[tuple[int, str, int, int]] = set()
        first_hour = int(times[0] // 3600) if times else 0
        for answer in answers.values():
            device, profile_id, action, tags, name = answer.group
            per_hour = answer.hours or {first_hour: answer.entries}
            for hour, count in per_hour.items():
                named = (hour, profile_id, action, name)
                by_name[named] = by_name.get(named, 0) + count
                for tag in ("", *tags):
                    key = (hour, device, profile_id, tag, action)
                    hourly[key] = hourly.get(key, 0) + count
            for posix_minute in answer.minutes:
                day, minute = self._local_minute(posix_minute)
                minutes.update((profile_id, tag, day, minute) for tag in answer.used_tags)
        home: dict[tuple[int, str, str], int] = {}
        for (hour, _, action, name), count in by_name.items():
            whole_home = (hour, action, name)
            home[whole_home] = home.get(whole_home, 0) + count
        return Batch(
            [(answer.first_ms, *answer.rest, answer.entries) for answer in answers.values()],
            [
                {"hour": h, "device": d, "profile_id": p, "tag": t, "action": a, "count": n}
                for (h, d, p, t, a), n in hourly.items()
            ],
            [{"profile_id": p, "tag": t, "day": d, "minute": m} for p, t, d, m in minutes],
            names=[
                {"hour": h, "profile_id": p, "action": a, "name": n, "count": c} for (h, p, a, n), c in by_name.items()
            ],
            home_names=[(h, a, exact_text(n), c) for (h, a, n), c in home.items()],
        )

    def _answer(self, answered: Answered, first_ms: int, memo: _BatchMemo) -> _Answer:
        device, profile_id, query, decision, upstream, response_us, reply = answered
        # Written straight to the driver (see write_batch), so ExactText columns are escaped here.
        summary = memo.summaries.get(reply[2:])  # the ID differs between otherwise equal replies
        if summary is None:
            rcode, text = answer_summary(reply)
            summary = memo.summaries[reply[2:]] = (rcode, exact_text(text))
        named = memo.names.get(query.qname)
        if named is None:
            tags = self.tags_of(query.qname)
            named = memo.names[query.qname] = (exact_text(query.qname), tags, ",".join(tags))
        decided = memo.decisions.get(id(decision))
        if decided is None:
            decided = memo.decisions[id(decision)] = (
                decision.action.value, decision.reason.value, decision.category, decision.list_id,
                exact_text(decision.rule), decision.action in _USED,
            )
        action, reason, category, list_id, rule, used = decided
        rest = (
            self.instance, device, profile_id, named[0], query.qtype, action, reason, category, named[2],
            list_id, rule, upstream, response_us, summary[0], summary[1],
        )
        tags = named[1]
        group = (device, profile_id, action, tags, query.qname)
        return _Answer(first_ms, rest, group, tags if used else (), profile_id)

    def _local_minute(self, posix_minute: int) -> tuple[int, int]:
        """The family's day of a minute, and the real minutes since that day's midnight.

        Real minutes, not the clock's: on the night the clocks go back, the
        repeated hour is another 60 minutes of the day, used or not.
        """
        known = self._minutes.get(posix_minute)
        if known is None:
            local = datetime.fromtimestamp(posix_minute * 60, self.zone)
            midnight = datetime.combine(local.date(), time(), self.zone)
            since_midnight = posix_minute - int(midnight.timestamp()) // 60
            known = (local.year * 10000 + local.month * 100 + local.day, since_midnight)
            if len(self._minutes) > 4096:
                self._minutes.clear()
            self._minutes[posix_minute] = known
        return known


class _BatchMemo:
    """What entries of one batch share, worked out once (decisions by identity:
    they live as long as the entries that hold them)."""

    __slots__ = ("summaries", "names", "decisions")

    def __init__(self) -> None:
        self.summaries: dict[bytes, tuple[int, str]] = {}
        self.names: dict[str, tuple[str, tuple[str, ...], str]] = {}
        self.decisions: dict[int, tuple[str, str, str | None, str | None, str | None, bool]] = {}


def _insert_sql(table: str, columns: Sequence[str], postgresql_style: bool, on_conflict: str = "") -> str:
    marks = ", ".join(["%s" if postgresql_style else "?"] * len(columns))
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks}){on_conflict}"


def _adding_up(table: str, keys: Sequence[str]) -> str:
    # The same statement on SQLite (3.24 and later) and PostgreSQL.
    return f" ON CONFLICT ({', '.join(keys)}) DO UPDATE SET count = {table}.count + excluded.count"


_COUNT_KEYS = ("hour", "device", "profile_id", "tag", "action")
_NAME_KEYS = ("hour", "profile_id", "action", "name")
_HOME_NAME_KEYS = ("hour", "action", "name")
_MINUTE_KEYS = ("profile_id", "tag", "day", "minute")


def _statements(postgresql_style: bool) -> dict[str, str]:
    return {
        "rows": _insert_sql(QueryLogRow.__tablename__, ROW_COLUMNS, postgresql_style),
        "counts": _insert_sql(
            HourlyCount.__tablename__, (*_COUNT_KEYS, "count"), postgresql_style, _adding_up(HourlyCount.__tablename__, _COUNT_KEYS)
        ),
        "names": _insert_sql(NameCount.__tablename__, (*_NAME_KEYS, "count"), postgresql_style, _adding_up(NameCount.__tablename__, _NAME_KEYS)),
        "home_names": _insert_sql(
            HomeNameCount.__tablename__,
            (*_HOME_NAME_KEYS, "count"),
            postgresql_style,
            _adding_up(HomeNameCount.__tablename__, _HOME_NAME_KEYS),
        ),
        "minutes": _insert_sql(UsageMinute.__tablename__, _MINUTE_KEYS, postgresql_style, " ON CONFLICT DO NOTHING"),
    }


_STATEMENTS = {False: _statements(False), True: _statements(True)}


def write_batch(database: Database, batch: Batch) -> None:
    """One transaction: rows appended, counts added to, minutes noted once.

    Everything goes straight to the driver's executemany: the ORM's per-row
    work would cost more than the DNS answer being logged. Text of
    ExactText columns is escaped here (the rows are escaped by the builder).
    """
    statements = _STATEMENTS[database.is_postgresql]
    with database.writing() as session:
        connection = session.connection()
        if batch.rows:
            connection.exec_driver_sql(statements["rows"], batch.rows)
        if batch.counts:
            counts = [tuple(row[key] for key in (*_COUNT_KEYS, "count")) for row in batch.counts]
            connection.exec_driver_sql(statements["counts"], counts)
        if batch.names:
            names = [(r["hour"], r["profile_id"], r["action"], exact_text(r["name"]), r["count"]) for r in batch.names]
            connection.exec_driver_sql(statements["names"], names)
        if batch.home_names:
            connection.exec_driver_sql(statements["home_names"], batch.home_names)
        if batch.minutes:
            minutes = [tuple(row[key] for key in _MINUTE_KEYS) for row in batch.minutes]
            connection.exec_driver_sql(statements["minutes"], minutes)
        if batch.counter is not None:
            dialect_insert = postgresql.insert if database.is_postgresql else sqlite.insert
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
        self._stopping = asyncio.Event()

    async def run(self) -> None:
        """Flush until ``finish``; failures wait longer each time and never end the task."""
        pause = self.flush_seconds
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
                pause = min(MAX_BACKOFF, max(pause * 2, 1.0))
                continue
            if self.last_error is not None:
                log.info("the query log is written again")
                self.last_error = None
            pause = self.flush_seconds

    async def finish(self, running: asyncio.Task[None]) -> None:
        """Stop ``running`` (this writer's ``run``) after the write under way, then
        write what is left; a failure is logged with how many entries it lost."""
        self._stopping.set()
        await running
        try:
            await self.flush()
        except StoreError as error:
            log.warning("the last %d queries could not be logged: %s", len(self.buffer), error)

    async def _wait(self, seconds: float) -> None:
        """Until ``seconds`` pass or a full batch is waiting (not while backing off)."""
        backing_off = self.last_error is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while (left := deadline - loop.time()) > 0:
            if self._stopping.is_set() or (not backing_off and len(self.buffer) >= self.batch_size):
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
            await self._write_in_thread(database, entries, dropped)
        except Exception:
            self.failures += 1
            self.buffer.put_back(entries)
            raise
        self._dropped_reported += dropped
        self.written += len(entries)
        return len(entries)

    async def _write_in_thread(self, database: Database, entries: Entries, dropped: int) -> None:
        """The write, waited for without end (a thread cannot be stopped, and a write
        abandoned half way could later land twice), the buffer kept bounded and a
        slow database reported meanwhile."""
        writing = asyncio.ensure_future(asyncio.to_thread(self._write, database, entries, dropped))
        loop = asyncio.get_running_loop()
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

    def _write(self, database: Database, entries: Entries, dropped: int) -> None:
        batch = self.builder.build(entries)
        if entries or dropped:
            at_ms = int(entries.times[-1] * 1000) if entries else 0
            batch = replace(
                batch,
                counter={"instance": self.builder.instance, "written": len(entries), "dropped": dropped,
                         "updated_ms": at_ms},
            )
        try:
            write_batch(database, batch)
        except ConflictError as error:
            # Said for a parent's edits that collide; here the schema refused a row.
            cause = error.__cause__ or error
            raise StoreError(f"the database refused the query log's rows: {first_line(cause)}") from cause
