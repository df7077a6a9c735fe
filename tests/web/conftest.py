"""The parents' web page as a browser sees it: a real filter with its page on
127.0.0.1 port 0, on SQLite and on PostgreSQL (``database_url``), talked to
over HTTP with aiohttp.

- ``page``: the running filter and page (``Page``: base URL, service, server,
  DNS address); stopped afterwards.
- ``set_password(page)``: the parent's password, set as ``dnsfilter passwd`` does.
- ``parent``: a ``Client`` signed in with that password, sending the page's
  Origin and the session's X-CSRF-Token on every change, as the page does.
- ``open_page(config)``: start one more filter and page (a restart on the same data).

Queries come from 127.0.0.1, which the filter knows as the device "ip:127.0.0.1".
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from dnslib import RCODE, DNSRecord

from dnsfilter.config import Config, ListenAddress
from dnsfilter.service.accounts import Accounts
from dnsfilter.service.app import Service
from dnsfilter.store.accounts import AccountStore
from dnsfilter.web.server import WebServer
from tests.conftest import _postgresql_schema_url
from tests.fakes import DnsClient, FakeUpstream
from tests.running import make_config, running_service

PASSWORD = "correct horse battery staple"
DEVICE = "ip:127.0.0.1"  # every query in these tests comes from 127.0.0.1
REAL = "192.0.2.50"  # what the fake upstream answers for the test names
DEADLINE = 2.0  # seconds a change made on the page may take to reach DNS answers
# Names of the test catalog (tests/fixtures/blocklists) and one that is in no list.
TEST_NAMES = ("example.net", "adult.example", "games.example", "play.example", "kids.example", "chatapp.example")
CHANGES = ("POST", "PUT", "PATCH", "DELETE")


def utcnow() -> datetime:
    return datetime.now(UTC)


def describe(reply: DNSRecord) -> str:
    """An answer as the tests compare it: "NXDOMAIN", "NODATA", or its records' data in order."""
    if reply.header.rcode != RCODE.NOERROR:
        return str(RCODE.get(reply.header.rcode))
    if not reply.rr:
        return "NODATA"
    return " ".join(str(rr.rdata) for rr in reply.rr)


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
    def dns_address(self) -> tuple[str, int]:
        return self.service.bound[0]

    async def ask(self, name: str, qtype: str = "A") -> str:
        """The filter's answer to a real query from 127.0.0.1, described."""
        question = DNSRecord.question(name, qtype)
        return describe(DNSRecord.parse(await DnsClient(timeout=2.0).udp(bytes(question.pack()), self.dns_address)))

    async def answers_within(self, name: str, expected: str, within: float = DEADLINE) -> None:
        """Ask until the answer is ``expected``; fail with the last answer after ``within`` seconds."""
        deadline = time.monotonic() + within
        while (answer := await self.ask(name)) != expected:
            if time.monotonic() > deadline:
                pytest.fail(f"{name} is still answered {answer!r} {within} s after the change, not {expected!r}")
            await asyncio.sleep(0.05)


def page_config(data_dir: Path, upstream: FakeUpstream, database_url: str, **sections: dict[str, Any]) -> Config:
    """The filter for these tests: its page on 127.0.0.1 port 0, the query log written quickly."""
    web = {"listen": ListenAddress("127.0.0.1", 0), **sections.pop("web", {})}
    query_log = {"flush_seconds": 0.2, **sections.pop("query_log", {})}
    return make_config(
        data_dir, [upstream.address], database={"url": database_url}, web=web, query_log=query_log, **sections
    )


@asynccontextmanager
async def running_page(config: Config, clock: Callable[[], datetime] | None = None) -> AsyncIterator[Page]:
    """The filter of ``config`` and its page; ``clock`` is the page's clock (sign-in waits, sessions)."""
    async with running_service(config) as running:
        server = WebServer(running.service)
        if clock is not None:
            server.context.clock = clock
        await server.start()
        try:
            yield Page(running.service, server, config)
        finally:
            await server.stop()


@pytest.fixture
async def upstream() -> AsyncIterator[FakeUpstream]:
    async with FakeUpstream() as fake:
        for name in TEST_NAMES:
            fake.add(f"{name}. 3600 IN A {REAL}", f"{name}. 3600 IN AAAA 2001:db8::50")
        yield fake


@pytest.fixture
def config(tmp_path: Path, upstream: FakeUpstream, database_url: str) -> Config:
    return page_config(tmp_path / "data", upstream, database_url)


@pytest.fixture
async def page(config: Config) -> AsyncIterator[Page]:
    async with running_page(config) as running:
        yield running


@contextmanager
def database_for(kind: str, folder: Path) -> Iterator[str]:
    """An empty database of ``kind`` ("sqlite" or "postgresql") for fixtures wider than one test."""
    if kind == "sqlite":
        yield f"sqlite:///{folder / 'policy.db'}"
    else:
        yield from _postgresql_schema_url()


@asynccontextmanager
async def shared_page(kind: str, folder: Path) -> AsyncIterator[tuple[Page, Client]]:
    """A page on a new database of ``kind`` and a parent signed in on it, for a module's
    tests that change nothing when the page is right (each test would otherwise start a filter)."""
    with database_for(kind, folder) as database_url:
        async with FakeUpstream() as upstream:
            for name in TEST_NAMES:
                upstream.add(f"{name}. 3600 IN A {REAL}")
            async with running_page(page_config(folder / "data", upstream, database_url)) as page:
                await set_password(page)
                parent = Client(page)
                try:
                    answer = await parent.login()
                    assert answer.status == 200, answer.raw
                    yield page, parent
                finally:
                    await parent.close()


OpenPage = Callable[[Config], Any]


@pytest.fixture
def open_page() -> OpenPage:
    """``async with open_page(config, clock=None) as page``: one more filter and page (a restart on the same data)."""
    return running_page


async def set_password(page: Page, password: str = PASSWORD) -> None:
    """The parent's password, as ``dnsfilter passwd`` sets it (every session ends)."""
    store = page.service.store
    assert store is not None
    accounts = Accounts(AccountStore(store.database))
    await asyncio.to_thread(accounts.set_password, password, utcnow())


@dataclass
class Answer:
    status: int
    headers: Any
    raw: bytes

    @property
    def json(self) -> Any:
        import json

        return json.loads(self.raw)

    @property
    def error(self) -> dict[str, Any]:
        body = self.json
        assert isinstance(body, dict) and "error" in body, f"not an error: {self.status} {self.raw[:300]!r}"
        return body["error"]  # type: ignore[no-any-return]


class Client:
    """A browser on the page: its own cookie jar; ``Origin`` and the CSRF token on every change."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.csrf: str | None = None

    async def close(self) -> None:
        await self.http.close()

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        data: bytes | str | None = None,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        origin: bool = True,
        csrf: bool = True,
    ) -> Answer:
        sent: dict[str, str] = {}
        if method in CHANGES:
            if origin:
                sent["Origin"] = self.page.base
            if csrf and self.csrf is not None:
                sent["X-CSRF-Token"] = self.csrf
        sent.update(headers or {})
        options: dict[str, Any] = {"headers": sent, "params": params, "allow_redirects": False}
        if body is not None:
            options["json"] = body
        elif data is not None:
            options["data"] = data
        async with self.http.request(method, self.page.base + path, timeout=aiohttp.ClientTimeout(total=10), **options) as reply:
            return Answer(reply.status, reply.headers, await reply.read())

    async def get(self, path: str, **options: Any) -> Answer:
        return await self.request("GET", path, **options)

    async def post(self, path: str, body: Any = None, **options: Any) -> Answer:
        return await self.request("POST", path, body, **options)

    async def put(self, path: str, body: Any = None, **options: Any) -> Answer:
        return await self.request("PUT", path, body, **options)

    async def patch(self, path: str, body: Any = None, **options: Any) -> Answer:
        return await self.request("PATCH", path, body, **options)

    async def delete(self, path: str, **options: Any) -> Answer:
        return await self.request("DELETE", path, **options)

    async def ok(self, method: str, path: str, body: Any = None, status: int | None = None) -> Any:
        """The JSON of a request that must succeed (``status``, or any 2xx)."""
        answer = await self.request(method, path, body)
        good = answer.status == status if status is not None else 200 <= answer.status < 300
        assert good, f"{method} {path}: {answer.status} {answer.raw[:500]!r}"
        return answer.json if answer.raw else None

    async def login(self, password: str = PASSWORD) -> Answer:
        answer = await self.post("/api/login", {"password": password})
        if answer.status == 200:
            self.csrf = answer.json["csrf_token"]
        return answer

    def cookie(self) -> Any:
        return next((cookie for cookie in self.http.cookie_jar if cookie.key == "dnsfilter_session"), None)


@pytest.fixture
async def browser(page: Page) -> AsyncIterator[Callable[[], Client]]:
    """Makes Clients (not signed in) on ``page``; all closed afterwards."""
    made: list[Client] = []

    def make() -> Client:
        made.append(Client(page))
        return made[-1]

    yield make
    for client in made:
        await client.close()


@pytest.fixture
async def parent(page: Page, browser: Callable[[], Client]) -> Client:
    """A browser signed in with PASSWORD (set first)."""
    await set_password(page)
    client = browser()
    answer = await client.login()
    assert answer.status == 200, answer.raw
    return client


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
