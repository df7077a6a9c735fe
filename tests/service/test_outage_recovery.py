"""A running filter cut off its database and given it back: the query log and
a policy change made meanwhile are in force within seconds of the database
answering again, each kind of failure is reported once when it starts and
once when it ends, and the log waiting in memory stays within its byte bound.

Every test runs on SQLite and on PostgreSQL. The SQLite file is overwritten
in place and put back (``unreadable``: reads and writes both fail, even as
root); PostgreSQL is cut off through a TcpProxy, while the test's own
connection still reaches it. The retry timings are the defaults (the point
of these tests); only unrelated waits are shortened.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import AsyncIterator
from contextlib import ExitStack, suppress
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from dnsfilter.dns.logbuffer import ENTRY_OVERHEAD
from dnsfilter.service import app, logwriter
from dnsfilter.service.timings import Timings
from dnsfilter.store import PolicyStore
from dnsfilter.store.database import DatabaseWaits
from tests.fakes import FakeUpstream, make_query
from tests.running import make_config, running_service
from tests.service.test_querylog_outages import through
from tests.service.test_querylog_running import Asker, LogReader, names, parts, until
from tests.service.test_running_policy import Filter, unreadable
from tests.tcpproxy import TcpProxy
from tests.webpage import DEVICE, REAL, answer_test_names, utcnow

# Short waits for what is not under test: the policy version polled (SQLite),
# the devices seen written, a lock or a connection given up on.
WAITS = Timings(
    policy_poll=0.1, device_record=0.1, database=DatabaseWaits(busy_timeout_ms=200, connect_timeout_s=1)
)
# The longest pause between two tries, by default: what comes back is in force this long after, plus the work.
RETRY_CAP = 5.0
RECOVERY = RETRY_CAP + 1.5
# Long enough to tell a capped retry from one that keeps growing (a write at 1, 3, 7, 15, 31 s,
# a policy read every 10 s): those would leave the log and the policy 9 s behind.
OUTAGE = 21.5


class Outage:
    """Takes the filter's database away and gives it back; ``url`` is the one the filter uses."""

    def __init__(self, database_url: str, proxy: TcpProxy | None) -> None:
        self.database_url = database_url
        self.proxy = proxy
        self.url = database_url if proxy is None else through(proxy, database_url)
        self._garbled = ExitStack()

    @property
    def shared(self) -> bool:
        """Whether the test's own connection reaches the database during the outage."""
        return self.proxy is not None

    def begin(self) -> None:
        if self.proxy is None:
            self._garbled.enter_context(unreadable(Path(urlsplit(self.database_url).path)))
        else:
            self.proxy.down()

    def end(self) -> None:
        if self.proxy is None:
            self._garbled.close()
        else:
            self.proxy.up()


@pytest.fixture
async def outage(database_url: str) -> AsyncIterator[Outage]:
    if database_url.startswith("sqlite"):
        cut = Outage(database_url, None)
        yield cut
        with suppress(OSError):  # a test that failed half way: the filter may have removed its WAL file
            cut.end()
        return
    target = urlsplit(database_url)
    proxy = await TcpProxy(target.hostname or "127.0.0.1", target.port or 5432).start()
    try:
        yield Outage(database_url, proxy)
    finally:
        await proxy.close()


@pytest.fixture
async def upstream(fake_upstream: FakeUpstream) -> FakeUpstream:
    answer_test_names(fake_upstream, ("example.net",))
    return fake_upstream  # other names: NOERROR, no records


@pytest.fixture
def reader(store: PolicyStore) -> LogReader:
    return LogReader(store.database)


async def ask_from(source: str, name: str, server: tuple[str, int]) -> None:
    """One query from the address ``source`` (127.0.0.x: another device)."""
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        sock.bind((source, 0))
        await loop.sock_sendto(sock, make_query(name), server)
        await asyncio.wait_for(loop.sock_recv(sock, 4096), 2.0)


def said(caplog: pytest.LogCaptureFixture, text: str) -> int:
    """How many times ``text`` was logged."""
    return sum(text in record.getMessage() for record in caplog.records)


def devices_in(store: PolicyStore) -> set[str]:
    return {device.key for device in store.list_devices()}


async def test_after_an_outage_the_log_and_a_policy_change_are_in_force_within_seconds(
    upstream: FakeUpstream,
    tmp_path: Path,
    outage: Outage,
    store: PolicyStore,
    reader: LogReader,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=app.__name__)
    caplog.set_level(logging.INFO, logger=logwriter.__name__)
    mia = store.create_profile("Mia", now=utcnow()).id
    store.assign_device(store.record_seen(DEVICE, ip="127.0.0.1", mac=None, name=None, now=utcnow()).device_id, mia)
    config = make_config(
        tmp_path / "data", [upstream.address], database={"url": outage.url}, query_log={"flush_seconds": 0.2}
    )
    async with running_service(config, timings=WAITS) as running:
        buffer, writer = parts(running.service)
        dns, log_dns = Filter(running), Asker(running.service)
        assert await dns.ask("example.net") == REAL
        await log_dns.ask("before.example.net")
        await reader.wait_for_names({"before.example.net"})

        outage.begin()
        cut_at = time.monotonic()
        asked = names("cut", 30)
        await log_dns.ask_all(asked)
        await ask_from("127.0.0.2", "example.net", running.address)  # a new device, not recorded yet
        await until(lambda: writer.failures, lambda failures: failures > 0, "a failed write")
        await until(lambda: said(caplog, "cannot read the family policy"), bool, "the policy's failure")
        await until(lambda: said(caplog, "cannot record the devices seen"), bool, "the devices' failure")
        if outage.shared:
            store.deny_domain(mia, "example.net")  # the parent's change, while this filter is cut off
        await asyncio.sleep(2.0)
        await ask_from("127.0.0.3", "example.net", running.address)  # another device, later in the outage
        assert await dns.ask("example.net") == REAL  # DNS keeps the rules it had
        await asyncio.sleep(max(0.0, cut_at + OUTAGE - time.monotonic()))

        outage.end()
        back_at = time.monotonic()
        if not outage.shared:
            store.deny_domain(mia, "example.net")  # the change, as soon as the file can be written
        await dns.answers_eventually("example.net", "0.0.0.0", within=RECOVERY)
        policy_after = time.monotonic() - back_at
        await reader.wait_for_names(set(asked), within=RECOVERY)
        log_after = time.monotonic() - back_at
        await until(
            lambda: devices_in(store), lambda keys: {"ip:127.0.0.2", "ip:127.0.0.3"} <= keys, "devices", RECOVERY
        )
        await until(lambda: said(caplog, "the devices seen can be recorded again"), bool, "the devices' recovery")
        await until(lambda: writer.last_error, lambda error: error is None, "the log's recovery")
    assert policy_after < RECOVERY and log_after < RECOVERY
    assert buffer.dropped == 0
    logged = [name for name in await reader.names() if name != "example.net"]  # asked to see the policy
    assert sorted(logged) == sorted(["before.example.net", *asked])  # each once
    for text in (
        "cannot read the family policy", "the family policy can be read again",
        "cannot record the devices seen", "the devices seen can be recorded again",
        "cannot write the query log", "the query log is written again",
    ):  # fmt: skip
        assert said(caplog, text) == 1, f"{text!r} logged {said(caplog, text)} times"


async def test_while_the_database_is_away_the_log_waiting_stays_within_its_bytes(
    upstream: FakeUpstream, tmp_path: Path, outage: Outage, reader: LogReader
) -> None:
    bound = 64 * 1024
    config = make_config(
        tmp_path / "data", [upstream.address], database={"url": outage.url},
        query_log={"flush_seconds": 0.2, "queue_bytes": bound, "instance": "filter-under-test"},
    )  # fmt: skip
    async with running_service(config, timings=WAITS) as running:
        buffer, writer = parts(running.service)
        dns = Asker(running.service)
        await dns.ask("before.example.net")
        await reader.wait_for_names({"before.example.net"})
        outage.begin()
        asked = names("flood", 400)  # about 490 estimated bytes each: three times the bound
        assert sum(len(name) + ENTRY_OVERHEAD for name in asked) > 2 * bound
        for start in range(0, len(asked), 40):
            await dns.ask_all(asked[start : start + 40])
            buffer.trim()  # as the writer does four times a second
            assert buffer.waiting_bytes <= bound
        await until(lambda: writer.failures, lambda failures: failures > 0, "a failed write")
        outage.end()
        # Every entry written or counted as dropped (a write under way may still drop a few).
        written, dropped = await until(
            reader.counter, lambda counter: counter is not None and sum(counter) == 1 + len(asked), "the counter row",
            RECOVERY,
        )  # fmt: skip
        logged = await reader.names()
    assert len(asked) - dropped <= bound // (ENTRY_OVERHEAD + 12 + len("flood0.example.net"))
    assert (buffer.dropped, writer.written) == (dropped, written)
    # None lost, none twice; the newest always kept. The bound holds the entries of a
    # write under way too: while one is out, the newest of the rest wait beside it, so
    # which older ones survive depends on when that write began.
    newest_half = bound // 2 // (ENTRY_OVERHEAD + 160)  # an entry's estimate at most, with its reply
    assert len(logged) == len(set(logged)) == 1 + len(asked) - dropped
    assert set(logged) <= {"before.example.net", *asked}
    assert set(asked[-newest_half:]) <= set(logged)


def test_the_default_retries_are_capped_at_a_few_seconds() -> None:
    defaults = Timings()
    assert defaults.log_first_backoff <= 0.5 and defaults.policy_first_backoff <= 0.5
    assert defaults.log_max_backoff <= RETRY_CAP and defaults.policy_max_backoff <= RETRY_CAP
