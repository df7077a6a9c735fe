"""The query log while its database is in trouble: SQLite locked by another
writer, the queue overflowing, PostgreSQL cut off or gone silent, the SQLite
file deleted, the disk full. DNS keeps answering at its usual speed; the
writer reports, retries, and loses only what the bounded queue cannot hold.

Helpers and the upstream fixture come from test_querylog_running.py. The full
disk is a real one: a small tmpfs mounted for the test and filled with a file
until the kernel answers ENOSPC (root only; skipped otherwise, with the
reason). Root also ignores file permissions, so "a folder made read-only" is
not tested, and a mounted tmpfs cannot be made read-only while the database
has files open on it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import os
import shutil
import sqlite3
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from dnsfilter.service.logwriter import LogWriter
from dnsfilter.service.timings import Timings
from dnsfilter.store import open_database
from dnsfilter.store.database import DatabaseWaits
from tests.fakes import FakeUpstream
from tests.running import running_service
from tests.service.test_querylog_running import (  # noqa: F401 - reader and upstream are fixtures
    QUICK,
    Asker,
    LogReader,
    log_config,
    names,
    parts,
    reader,
    until,
    upstream,
)
from tests.tcpproxy import TcpProxy

# A failed write is retried within 0.3 s (not up to 5 s).
QUICK_RETRIES = Timings(log_max_backoff=0.3)
# A lock is given up on after 0.2 s (not 10 s), and a failed write retried soon.
SHORT_WAITS = Timings(log_max_backoff=0.3, database=DatabaseWaits(busy_timeout_ms=200))
# The policy's own retries too (quieter logs).
QUICK_RECONNECTS = Timings(log_max_backoff=0.3, store_retry=0.2)


# --- SQLite locked by another writer ----------------------------------------------------


class SqliteLock:
    """Another program holding the SQLite write lock (as ``sqlite3`` with BEGIN EXCLUSIVE would)."""

    def __init__(self, path: Path) -> None:
        self.connection = sqlite3.connect(path, timeout=0, isolation_level=None)

    def __enter__(self) -> SqliteLock:
        self.connection.execute("BEGIN EXCLUSIVE")
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.connection.rollback()
        self.connection.close()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_sqlite_locked_by_another_writer_dns_keeps_its_speed_and_nothing_is_lost(
    upstream: FakeUpstream, tmp_path: Path, database_url: str, reader: LogReader
) -> None:
    async with running_service(log_config(tmp_path, upstream, database_url)) as running:
        buffer, writer = parts(running.service)
        dns = Asker(running.service)
        await dns.ask("before.example.net")
        await reader.wait_for_names({"before.example.net"})
        asked = names("locked", 300)
        with SqliteLock(tmp_path / "policy.db"):
            await dns.ask_all(asked)
            # The writer has taken some and waits for the lock (its busy timeout is 10 s).
            await until(lambda: buffer.taken, lambda taken: taken > 1, "entries taken")
            await asyncio.sleep(0.5)  # held a while longer, well within the busy timeout
            assert await reader.names() == ["before.example.net"]
        await reader.wait_for_names(set(asked))
    assert dns.slowest < QUICK, f"an answer took {dns.slowest:.3f} s while the log was locked"
    assert (buffer.dropped, writer.failures) == (0, 0)
    assert await reader.counter() == (301, 0)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_sqlite_locked_past_the_busy_timeout_is_reported_and_retried(
    upstream: FakeUpstream, tmp_path: Path, database_url: str, reader: LogReader
) -> None:
    async with running_service(log_config(tmp_path, upstream, database_url), timings=SHORT_WAITS) as running:
        buffer, writer = parts(running.service)
        dns = Asker(running.service)
        asked = names("locked", 200)
        with SqliteLock(tmp_path / "policy.db"):
            await dns.ask_all(asked[:100])
            await until(lambda: writer.failures, lambda failures: failures >= 2, "failed writes")
            assert writer.last_error is not None and "locked" in writer.last_error
            await dns.ask_all(asked[100:])
        await reader.wait_for_names(set(asked))
        await until(lambda: writer.last_error, lambda error: error is None, "recovery")
    assert dns.slowest < QUICK
    assert buffer.dropped == 0
    assert sorted(await reader.names()) == sorted(asked)  # each once: a failed write left nothing behind


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_queue_overflow_drops_the_oldest_and_counts_them(
    upstream: FakeUpstream, tmp_path: Path, database_url: str, reader: LogReader
) -> None:
    async with running_service(log_config(tmp_path, upstream, database_url, queue_size=100), timings=SHORT_WAITS) as running:
        buffer, writer = parts(running.service)
        dns = Asker(running.service)
        asked = names("flood", 500)
        with SqliteLock(tmp_path / "policy.db"):
            await dns.ask_all(asked)
            await until(lambda: buffer.dropped, lambda dropped: dropped >= 400, "400 or more dropped")
        assert dns.answered == 500
        # 500 asked at once: on a loaded machine the last is answered after about 0.5 s,
        # still far from the 10 s the writer may wait on the lock.
        assert dns.slowest < 4 * QUICK
        # The bound holds the queries waiting and those being written together: the
        # newest half of it waits while a write of at most the other half is out
        # (and fails, here). Which older ones are kept depends on when that write began.
        logged = await reader.wait_for_names(set(asked[450:]))
        kept = len(logged)
        assert await until(reader.counter, lambda counted: counted == (kept, 500 - kept), "the counter row")
    assert set(logged) <= set(asked) and 50 <= kept <= 100
    assert buffer.dropped == 500 - kept and writer.written == kept


# --- PostgreSQL cut off and back --------------------------------------------------------


class SilentProxy(TcpProxy):
    """A TcpProxy that can also go ``silent``: connections stay open but nothing gets
    through either way, as when the database's host drops off the network without
    closing anything (Wi-Fi gone, a NAS asleep). ``down()`` ends them as a reset would."""

    silent = False

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(65536):
                if not self.silent:
                    sink.write(data)
                    await sink.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            self._writers.discard(sink)
            sink.transport.abort()


@pytest.fixture
async def proxy(database_url: str) -> AsyncIterator[SilentProxy]:
    target = urlsplit(database_url)
    started = SilentProxy(target.hostname or "127.0.0.1", target.port or 5432)
    await started.start()
    yield started
    await started.close()


def through(proxy: TcpProxy, database_url: str) -> str:
    """``database_url`` by way of the proxy."""
    url = urlsplit(database_url)
    user, _, _ = url.netloc.rpartition("@")
    return urlunsplit(url._replace(netloc=f"{user}@127.0.0.1:{proxy.port}" if user else f"127.0.0.1:{proxy.port}"))


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_postgresql_cut_off_and_back_the_writer_recovers_by_itself(
    upstream: FakeUpstream, tmp_path: Path, database_url: str, reader: LogReader, proxy: SilentProxy
) -> None:
    async with running_service(log_config(tmp_path, upstream, through(proxy, database_url)), timings=QUICK_RECONNECTS) as running:
        buffer, writer = parts(running.service)
        dns = Asker(running.service)
        await dns.ask("before.example.net")
        await reader.wait_for_names({"before.example.net"})
        proxy.down()
        cut = names("cut", 200)
        await dns.ask_all(cut[:100])
        await until(lambda: writer.failures, lambda failures: failures >= 2, "failed writes")
        assert writer.last_error is not None
        await dns.ask_all(cut[100:])
        assert await reader.names() == ["before.example.net"]  # nothing reached the database
        proxy.up()
        logged = await reader.wait_for_names(set(cut))
        await until(lambda: writer.last_error, lambda error: error is None, "recovery")
        after = await dns.ask("after.example.net")
        await reader.wait_for_names({"after.example.net"})
    assert after.header.rcode == 0
    assert dns.slowest < QUICK, f"an answer took {dns.slowest:.3f} s while PostgreSQL was cut off"
    assert buffer.dropped == 0
    assert sorted(logged[1:]) == sorted(cut)  # each once


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_postgresql_gone_silent_the_writer_gives_up_and_the_queue_stays_bounded(
    upstream: FakeUpstream,
    tmp_path: Path,
    database_url: str,
    reader: LogReader,
    proxy: SilentProxy,
) -> None:
    config = log_config(tmp_path, upstream, through(proxy, database_url), queue_size=100)
    # The store's own bound on a network wait: 1 s.
    timings = dataclasses.replace(QUICK_RECONNECTS, database=DatabaseWaits(connect_timeout_s=1))
    async with running_service(config, timings=timings) as running:
        buffer, writer = parts(running.service)
        dns = Asker(running.service)
        await dns.ask("before.example.net")
        await reader.wait_for_names({"before.example.net"})
        proxy.silent = True
        try:
            await dns.ask_all(names("silent", 20))
            await until(lambda: buffer.taken, lambda taken: taken > 1, "a write under way")
            await dns.ask_all(names("more", 300))
            await until(lambda: writer.last_error, lambda error: error is not None, "a report", within=4.0)
            await until(lambda: len(buffer), lambda waiting: waiting <= 100, "a bounded queue", within=1.0)
        finally:
            proxy.down()  # ends the silent connections: no thread is left waiting on one
            proxy.silent = False
            proxy.up()
        assert dns.slowest < QUICK


# --- the database file deleted ---------------------------------------------------------


def names_in_file(path: Path) -> set[str]:
    """The names logged in the SQLite file now at ``path`` (none when there is no file)."""
    if not path.exists():
        return set()
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return {name for (name,) in connection.execute("SELECT name FROM query_log")}
    except sqlite3.Error:
        return set()
    finally:
        connection.close()


def delete_database(path: Path) -> None:
    """As ``rm policy.db*`` would: the file, its WAL and shared-memory index."""
    for file in path.parent.glob(path.name + "*"):
        file.unlink()


@asynccontextmanager
async def database_deleted_while_running(
    upstream: FakeUpstream, path: Path, timings: Timings = Timings()
) -> AsyncIterator[tuple[LogWriter, Asker]]:
    """A running filter whose SQLite file at ``path`` is deleted once its first query is logged."""
    async with running_service(log_config(path.parent, upstream, f"sqlite:///{path}"), timings=timings) as running:
        _, writer = parts(running.service)
        dns = Asker(running.service)
        await dns.ask("before.example.net")
        await until(lambda: names_in_file(path), lambda logged: "before.example.net" in logged, "the first row")
        delete_database(path)
        yield writer, dns


async def test_database_file_deleted_dns_keeps_answering(upstream: FakeUpstream, tmp_path: Path) -> None:
    async with database_deleted_while_running(upstream, tmp_path / "policy.db") as (writer, dns):
        await dns.ask_all(names("gone", 200))
        # The writer has dealt with them, one way or the other.
        await until(lambda: writer.written + writer.failures, lambda done: done > 1, "a flush")
    assert dns.answered == 201
    assert dns.slowest < QUICK, f"an answer took {dns.slowest:.3f} s after the database file was deleted"


async def test_rows_logged_after_the_database_file_is_deleted_are_not_lost_unnoticed(
    upstream: FakeUpstream, tmp_path: Path
) -> None:
    path = tmp_path / "policy.db"
    async with database_deleted_while_running(upstream, path, QUICK_RETRIES) as (writer, dns):
        asked = names("gone", 20)
        await dns.ask_all(asked)
        await until(
            lambda: (writer.written, writer.last_error),
            lambda state: state[0] >= 21 or state[1] is not None,
            "the writer's flush",
        )
        # Either said (the entries kept for later) or written where database.url says.
        reported = writer.last_error is not None
        stored = set(asked) <= names_in_file(path)
        assert reported or stored, f"{writer.written} rows counted as written, none in {path}, no error"


# --- a full disk ----------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """An 8 MB tmpfs, unmounted afterwards."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        reason = "mounting a small tmpfs to fill up needs root and the mount command"
        print(reason)
        pytest.skip(reason)
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m,mode=0700", "tmpfs", str(disk)],
        capture_output=True, text=True, timeout=10,
    )  # fmt: skip
    if mounted.returncode != 0:
        reason = f"cannot mount a tmpfs: {mounted.stderr.strip()}"
        print(reason)
        pytest.skip(reason)
    try:
        yield disk
    finally:
        if subprocess.run(["umount", str(disk)], capture_output=True, timeout=10).returncode != 0:
            subprocess.run(["umount", "-l", str(disk)], capture_output=True, timeout=10)


def fill(disk: Path) -> Path:
    """A file taking every free byte of ``disk``."""
    filler = disk / "filler"
    descriptor = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    block = bytes(65536)
    try:
        while True:
            os.write(descriptor, block)
    except OSError as error:
        if error.errno != errno.ENOSPC:
            raise
        try:
            while True:  # the last few bytes
                os.write(descriptor, b"\0" * 512)
        except OSError:
            pass
    finally:
        os.close(descriptor)
    assert os.statvfs(disk).f_bavail == 0
    return filler


async def test_a_full_disk_is_reported_and_the_log_catches_up_once_there_is_room(
    upstream: FakeUpstream, tmp_path: Path, small_disk: Path
) -> None:
    url = f"sqlite:///{small_disk / 'policy.db'}"
    reader = LogReader(open_database(url))
    try:
        async with running_service(log_config(tmp_path, upstream, url), timings=QUICK_RETRIES) as running:
            buffer, writer = parts(running.service)
            dns = Asker(running.service)
            await dns.ask("before.example.net")
            await reader.wait_for_names({"before.example.net"})
            filler = fill(small_disk)
            asked: list[str] = []

            async def ask_until_a_write_fails() -> int:
                asked.extend(batch := [f"{'x' * 60}.{name}" for name in names(f"full{len(asked)}-", 50)])
                await dns.ask_all(batch)
                return writer.failures

            await until(ask_until_a_write_fails, lambda failures: failures > 0, "failed write")
            assert writer.last_error is not None and "full" in writer.last_error
            later = names("later", 100)
            await dns.ask_all(later)  # answered, and kept in memory
            filler.unlink()
            logged = await reader.wait_for_names({*asked, *later})
            await until(lambda: writer.last_error, lambda error: error is None, "recovery")
    finally:
        reader.database.close()
    assert dns.slowest < QUICK, f"an answer took {dns.slowest:.3f} s while the disk was full"
    assert buffer.dropped == 0
    assert len(logged) == 1 + len(asked) + len(later)  # each once: the failed writes left nothing behind
