"""A running filter and its web page, for the API and browser tests.

- ``Page``: the filter and its page (base URL, port, service, server, store,
  DNS address, ``ask()`` for the filter's real DNS answer to a query from
  127.0.0.1, ``set_password()`` as ``dnsfilter passwd`` sets it).
- ``page_config(data_dir, upstream, database_url, **sections)``: the filter's
  configuration, its page on 127.0.0.1 port 0.
- ``running_page(config, clock=None, timings=Timings())``: start the filter
  and its page; stopped afterwards.
- ``answer_test_names(upstream)``: the fake upstream answers ``REAL`` for the
  test names.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from dnslib import EDNS0, RCODE, DNSRecord, EDNSOption

from dnsfilter.config import Config, ListenAddress
from dnsfilter.service.accounts import Accounts
from dnsfilter.service.app import Service
from dnsfilter.service.timings import Timings
from dnsfilter.store import PolicyStore
from dnsfilter.store.accounts import AccountStore
from dnsfilter.web.server import WebServer
from tests.fakes import DnsClient, FakeUpstream
from tests.running import make_config, running_service

PASSWORD = "correct horse battery staple"
DEVICE = "ip:127.0.0.1"  # every query in these tests comes from 127.0.0.1
REAL = "192.0.2.50"  # what the fake upstream answers for the test names
BLOCKED = "0.0.0.0"
DEADLINE = 2.0  # seconds a change made on the page may take to reach DNS answers
# Names of the test catalog (tests/fixtures/blocklists): games.example is in the
# "games" list, adult.example in "adult"; example.net is in no list.
TEST_NAMES = ("example.net", "adult.example", "games.example", "play.example", "kids.example", "chatapp.example")


def utcnow() -> datetime:
    return datetime.now(UTC)


def describe(reply: DNSRecord) -> str:
    """An answer as the tests compare it: "NXDOMAIN", "NODATA", or its records' data in order."""
    if reply.header.rcode != RCODE.NOERROR:
        return str(RCODE.get(reply.header.rcode))
    if not reply.rr:
        return "NODATA"
    return " ".join(str(rr.rdata) for rr in reply.rr)


def answer_test_names(upstream: FakeUpstream, names: Iterable[str] = TEST_NAMES, *, aaaa: bool = True) -> None:
    """Has ``upstream`` answer ``REAL`` for ``names`` (and 2001:db8::50 for AAAA, unless ``aaaa`` is false)."""
    for name in names:
        if aaaa:
            upstream.add(f"{name}. 3600 IN A {REAL}", f"{name}. 3600 IN AAAA 2001:db8::50")
        else:
            upstream.add(f"{name}. 3600 IN A {REAL}")


async def until(read: Callable[[], Awaitable[Any]], done: Callable[[Any], bool], what: str, within: float = 8.0) -> Any:
    """Poll ``read()`` until ``done`` holds for it; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        value = await read()
        if done(value):
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"still waiting for {what} after {within} s (last seen: {str(value)[:300]})")
        await asyncio.sleep(0.05)


@dataclass
class Page:
    """A running filter and its web page."""

    service: Service
    server: WebServer
    config: Config

    @property
    def base(self) -> str:
        assert self.server.bound is not None
        host, port = self.server.bound
        return f"http://{host}:{port}"

    @property
    def port(self) -> int:
        assert self.server.bound is not None
        return self.server.bound[1]

    @property
    def store(self) -> PolicyStore:
        assert self.service.store is not None
        return self.service.store

    @property
    def dns_address(self) -> tuple[str, int]:
        return self.service.bound[0]

    async def send(self, packet: bytes) -> bytes:
        return await DnsClient(timeout=2.0).udp(packet, self.dns_address)

    async def ask(self, name: str, qtype: str = "A", mac: bytes | None = None) -> str:
        """The filter's answer to a real query from 127.0.0.1 (``mac``: as a trusted router tells it), described."""
        question = DNSRecord.question(name, qtype)
        if mac is not None:
            question.add_ar(EDNS0(udp_len=1232, opts=[EDNSOption(65001, mac)]))
        return describe(DNSRecord.parse(await self.send(bytes(question.pack()))))

    async def answers_within(self, name: str, expected: str, within: float = DEADLINE) -> None:
        """Ask until the answer is ``expected``; fail with the last answer after ``within`` seconds."""
        deadline = time.monotonic() + within
        while (answer := await self.ask(name)) != expected:
            if time.monotonic() > deadline:
                pytest.fail(f"{name} is still answered {answer!r} {within} s after the change, not {expected!r}")
            await asyncio.sleep(0.05)

    async def set_password(self, password: str = PASSWORD) -> None:
        """The parent's password, as ``dnsfilter passwd`` sets it (every session ends)."""
        accounts = Accounts(AccountStore(self.store.database))
        await asyncio.to_thread(accounts.set_password, password, utcnow())
        self.server.context.setup_code = None  # as after a restart with a password set


def page_config(data_dir: Path, upstream: FakeUpstream, database_url: str, **sections: dict[str, Any]) -> Config:
    """The filter for these tests: its page on 127.0.0.1 port 0, the query log written quickly."""
    web = {"listen": ListenAddress("127.0.0.1", 0), **sections.pop("web", {})}
    query_log = {"flush_seconds": 0.2, **sections.pop("query_log", {})}
    return make_config(
        data_dir, [upstream.address], database={"url": database_url}, web=web, query_log=query_log, **sections
    )


@asynccontextmanager
async def running_page(
    config: Config, clock: Callable[[], datetime] | None = None, timings: Timings = Timings()
) -> AsyncIterator[Page]:
    """The filter of ``config`` and its page; ``clock`` is the page's clock (sign-in waits, sessions)."""
    async with running_service(config, timings=timings) as running:
        server = WebServer(running.service)
        if clock is not None:
            server.context.clock = clock
        await server.start()
        try:
            yield Page(running.service, server, config)
        finally:
            await server.stop()
