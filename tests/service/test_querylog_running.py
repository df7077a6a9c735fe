"""The query log of a running filter: the rows its answers make, written
within seconds and at shutdown; pruning a large log while the writer
writes; forgetting one device.

Queries go over real UDP to the filter, from 127.0.0.1 (the device
"ip:127.0.0.1"). The log is read from the database with a connection of
the test's own, polled until a deadline. The database in trouble (locked,
cut off, silent, deleted, full) is in test_querylog_outages.py.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pytest
from dnslib import DNSRecord
from sqlalchemy import func, select, text

from dnsfilter.config import Config
from dnsfilter.dns.logbuffer import LogBuffer
from dnsfilter.service.app import Service
from dnsfilter.service.logwriter import LogWriter
from dnsfilter.store import Database, PolicyStore, open_database
from dnsfilter.store.querylog import retention as logretention
from dnsfilter.store.querylog.models import (
    HourlyCount,
    LogCounter,
    QueryLogRow,
    UsageMinute,
)
from dnsfilter.store.querylog.retention import forget_device, prune
from tests.fakes import DnsClient, FakeUpstream
from tests.running import make_config, running_service

DEVICE = "ip:127.0.0.1"
INSTANCE = "filter-under-test"
DEADLINE = 8.0  # seconds for rows to appear
QUICK = 0.5  # seconds: an answer slower than this was held up (the writer waits 10 s on a lock)
REAL = "192.0.2.50"

T = TypeVar("T")


@pytest.fixture
async def upstream(fake_upstream: FakeUpstream) -> FakeUpstream:
    fake_upstream.add(f"example.net. 300 IN A {REAL}")
    return fake_upstream  # other names: NOERROR, no records


def log_config(tmp_path: Path, upstream: FakeUpstream, url: str, **query_log: Any) -> Config:
    settings = {"flush_seconds": 0.2, "instance": INSTANCE, **query_log}
    return make_config(tmp_path / "data", [upstream.address], database={"url": url}, query_log=settings)


@pytest.fixture
def reader(database_url: str) -> Iterator[LogReader]:
    reading = LogReader(open_database(database_url))
    yield reading
    reading.database.close()


class LogReader:
    """The log as the web UI sees it: a connection of its own, reads in a thread."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def _names(self) -> list[str]:
        with self.database.reading() as session:
            return list(session.execute(select(QueryLogRow.name).order_by(QueryLogRow.id)).scalars())

    async def names(self) -> list[str]:
        return await asyncio.to_thread(self._names)

    def _rows(self) -> list[dict[str, Any]]:
        with self.database.reading() as session:
            rows = session.execute(select(QueryLogRow).order_by(QueryLogRow.id)).scalars()
            return [{c.name: getattr(row, c.name) for c in QueryLogRow.__table__.columns} for row in rows]

    async def rows(self) -> list[dict[str, Any]]:
        return await asyncio.to_thread(self._rows)

    def _counter(self) -> tuple[int, int] | None:
        with self.database.reading() as session:
            row = session.execute(select(LogCounter).where(LogCounter.instance == INSTANCE)).scalar_one_or_none()
            return None if row is None else (row.written, row.dropped)

    async def counter(self) -> tuple[int, int] | None:
        """(written, dropped) recorded for this filter."""
        return await asyncio.to_thread(self._counter)

    async def wait_for_names(self, expected: set[str], within: float = DEADLINE) -> list[str]:
        """Every name in ``expected`` logged; returns all names logged."""
        return await until(self.names, lambda names: expected <= set(names), f"rows for {len(expected)} names", within)


async def until(read: Callable[[], Any], done: Callable[[T], bool], what: str, within: float = DEADLINE) -> T:
    """Poll ``read()`` (awaited if need be) until ``done`` holds for it; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        value: T = read()
        if inspect.isawaitable(value):
            value = await value
        if done(value):
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"still waiting for {what} after {within} s (last seen: {str(value)[:300]})")
        await asyncio.sleep(0.05)


class Asker:
    """Real UDP queries, each one timed."""

    def __init__(self, service: Service) -> None:
        self.server = service.bound[0]
        self.client = DnsClient(timeout=2.0)
        self.slowest = 0.0
        self.answered = 0

    async def ask(self, name: str) -> DNSRecord:
        started = time.perf_counter()
        reply = DNSRecord.parse(await self.client.udp(self.client.make_query(name), self.server))
        self.slowest = max(self.slowest, time.perf_counter() - started)
        self.answered += 1
        return reply

    async def ask_all(self, names: list[str], at_once: int = 20) -> None:
        for start in range(0, len(names), at_once):
            await asyncio.gather(*(self.ask(name) for name in names[start : start + at_once]))


def names(prefix: str, count: int) -> list[str]:
    return [f"{prefix}{n}.example.net" for n in range(count)]


def parts(service: Service) -> tuple[LogBuffer, LogWriter]:
    query_logging = service.query_logging
    assert query_logging.buffer is not None and query_logging.writer is not None
    return query_logging.buffer, query_logging.writer


# --- what is logged ---------------------------------------------------------------------


def profile_of_this_device(database: Database) -> int:
    """A profile of its own for 127.0.0.1, blocking "adult" like the default one."""
    store = PolicyStore(database)
    now = datetime.now(UTC)
    profile = store.create_profile("Mia", now=now)
    store.add_blocked_tags(profile.id, ["adult"])
    store.assign_device(store.record_seen(DEVICE, ip="127.0.0.1", mac=None, name=None, now=now).device_id, profile.id)
    return profile.id


async def test_answers_are_logged_within_seconds(
    upstream: FakeUpstream, tmp_path: Path, database_url: str, reader: LogReader
) -> None:
    mia = profile_of_this_device(reader.database)
    async with running_service(log_config(tmp_path, upstream, database_url)) as running:
        dns = Asker(running.service)
        for name in ("example.net", "example.net", "adult.example"):
            await dns.ask(name)
        server = str(running.service.config.upstream.servers[0])
        rows: list[dict[str, Any]] = await until(reader.rows, lambda rows: len(rows) >= 3, "three rows")
    logged = [
        (r["name"], r["device"], r["profile_id"], r["instance"], r["action"], r["reason"], r["category"],
         r["tags"], r["upstream"], r["rcode"], r["answer"])
        for r in rows
    ]  # fmt: skip
    assert logged == [
        ("example.net", DEVICE, mia, INSTANCE, "allow", "allowed", None, "", server, 0, REAL),
        ("example.net", DEVICE, mia, INSTANCE, "allow", "allowed", None, "", "cache", 0, REAL),
        ("adult.example", DEVICE, mia, INSTANCE, "block", "category", "adult", "adult", "filter", 0, "0.0.0.0"),
    ]
    assert rows[0]["response_us"] > 0 and rows[1]["response_us"] == 0
    now_ms = time.time() * 1000
    assert all(now_ms - 60_000 < r["at_ms"] <= now_ms for r in rows)


async def test_shutdown_writes_what_is_queued(
    upstream: FakeUpstream, tmp_path: Path, database_url: str, reader: LogReader
) -> None:
    config = log_config(tmp_path, upstream, database_url, flush_seconds=60.0, batch_size=100_000)
    asked = names("queued", 50)
    async with running_service(config) as running:
        await Asker(running.service).ask_all(asked)
        assert await reader.names() == []  # nothing written yet: the flush is a minute away
    assert sorted(await reader.names()) == sorted(asked)
    assert await reader.counter() == (50, 0)


# --- pruning ----------------------------------------------------------------------------

OLD_ROWS = 200_000
PRUNE_STEP = 10_000  # rows per step (the service's is 5000: fewer, larger steps keep the test short)
OTHER_DEVICE = "ip:192.0.2.9"


def insert_old_rows(database: Database, count: int, at_ms: int) -> None:
    """``count`` rows of another device, one millisecond apart from ``at_ms`` (in the database, fast)."""
    with database.writing() as session:
        session.execute(
            text(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :count) "
                "INSERT INTO query_log (at_ms, instance, device, profile_id, name, qtype, action, reason, "
                "tags, upstream, response_us, rcode, answer, repeats) "
                "SELECT CAST(:at_ms AS BIGINT) + i, 'old-filter', :device, 1, 'old.example', 1, 'allow', "
                "'allowed', '', 'cache', 0, 0, '', 1 FROM n"
            ),
            {"count": count, "at_ms": at_ms, "device": OTHER_DEVICE},
        )


def insert_aggregates(database: Database, when: datetime, zone: ZoneInfo, device: str, tag: str) -> None:
    local = when.astimezone(zone)
    with database.writing() as session:
        session.add(HourlyCount(hour=int(when.timestamp() // 3600), device=device, profile_id=1, tag=tag,
                                action="allow", count=7))  # fmt: skip
        session.add(UsageMinute(profile_id=1, tag=tag, day=local.year * 10000 + local.month * 100 + local.day,
                                minute=local.hour * 60 + local.minute))  # fmt: skip


def count(database: Database, statement: Any) -> int:
    with database.reading() as session:
        return int(session.execute(statement).scalar_one())


async def test_pruning_a_large_log_does_not_disturb_the_writer(
    upstream: FakeUpstream, tmp_path: Path, database_url: str, reader: LogReader, monkeypatch: pytest.MonkeyPatch
) -> None:
    steps: list[int] = []
    delete_old_rows = logretention._delete_old_rows

    def counted_step(*args: Any) -> int:
        steps.append(deleted := delete_old_rows(*args))
        return deleted

    monkeypatch.setattr(logretention, "_delete_old_rows", counted_step)
    zone = ZoneInfo("Europe/Berlin")
    now = datetime.now(UTC)
    config = dataclasses.replace(log_config(tmp_path, upstream, database_url), time_zone="Europe/Berlin")
    database = reader.database
    insert_old_rows(database, OLD_ROWS, int((now - timedelta(days=10)).timestamp() * 1000))
    for days, tag in ((45, "old"), (20, "kept")):  # aggregate_days is 30
        insert_aggregates(database, now - timedelta(days=days), zone, OTHER_DEVICE, tag)
    async with running_service(config) as running:
        _, writer = parts(running.service)
        dns = Asker(running.service)
        pruning = asyncio.get_running_loop().create_task(prune(database, now, zone, 7, 30, PRUNE_STEP, pause=0.01))
        asked: list[str] = []
        while not pruning.done():  # a home network's queries flow the whole time
            asked.extend(batch := names(f"p{len(asked)}-", 10))
            await dns.ask_all(batch)
            await asyncio.sleep(0.02)
        removed = await pruning
        written_while_pruning = writer.written
        await reader.wait_for_names(set(asked))
        assert writer.failures == 0
    assert written_while_pruning > 0
    assert len(steps) == OLD_ROWS // PRUNE_STEP + 1  # in steps, the last one finding nothing left
    assert removed == OLD_ROWS + 2  # and the old hourly count and minute
    assert count(database, select(func.count()).where(QueryLogRow.device == OTHER_DEVICE)) == 0
    assert sorted(name for name in await reader.names() if name.startswith("p")) == sorted(asked)
    assert count(database, select(func.count()).select_from(HourlyCount).where(HourlyCount.tag == "old")) == 0
    assert count(database, select(func.count()).select_from(HourlyCount).where(HourlyCount.tag == "kept")) == 1
    assert count(database, select(func.count()).select_from(UsageMinute).where(UsageMinute.tag == "old")) == 0
    assert count(database, select(func.count()).select_from(UsageMinute).where(UsageMinute.tag == "kept")) == 1


async def test_forget_device_removes_that_device_only(
    upstream: FakeUpstream, tmp_path: Path, database_url: str, reader: LogReader
) -> None:
    database = reader.database
    now = datetime.now(UTC)
    insert_old_rows(database, 10, int(now.timestamp() * 1000) - 60_000)
    insert_aggregates(database, now, ZoneInfo("UTC"), OTHER_DEVICE, "")
    async with running_service(log_config(tmp_path, upstream, database_url)) as running:
        await Asker(running.service).ask_all(names("mine", 5))
        await reader.wait_for_names(set(names("mine", 5)))
    hourly = select(HourlyCount.device, func.count()).group_by(HourlyCount.device)
    with database.reading() as session:
        counts = dict(session.execute(hourly).all())
    assert set(counts) == {DEVICE, OTHER_DEVICE}
    assert forget_device(database, DEVICE) == 5 + counts[DEVICE]
    with database.reading() as session:
        assert dict(session.execute(hourly).all()) == {OTHER_DEVICE: 1}
        devices = session.execute(select(QueryLogRow.device, func.count()).group_by(QueryLogRow.device)).all()
    assert dict(devices) == {OTHER_DEVICE: 10}
    assert count(database, select(func.count()).select_from(UsageMinute)) == 1  # per profile, not per device
