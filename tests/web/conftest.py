"""The parents' web page as a browser sees it: a real filter with its page on
127.0.0.1 port 0, on SQLite and on PostgreSQL (``database_url``), talked to
over HTTP with aiohttp.

- ``page``: the running filter and page (``Page``: base URL, service, server,
  DNS address); stopped afterwards.
- ``page.set_password()``: the parent's password, set as ``dnsfilter passwd`` does.
- ``parent``: a ``Client`` signed in with that password, sending the page's
  Origin and the session's X-CSRF-Token on every change, as the page does.
- ``open_page(config)``: start one more filter and page (a restart on the same data).

Queries come from 127.0.0.1, which the filter knows as the device "ip:127.0.0.1".
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from dnsfilter.config import Config
from tests.conftest import _postgresql_schema_url
from tests.fakes import FakeUpstream
from tests.webpage import PASSWORD, Page, answer_test_names, page_config, running_page

CHANGES = ("POST", "PUT", "PATCH", "DELETE")


@pytest.fixture
async def upstream() -> AsyncIterator[FakeUpstream]:
    async with FakeUpstream() as fake:
        answer_test_names(fake)
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
            answer_test_names(upstream, aaaa=False)
            async with running_page(page_config(folder / "data", upstream, database_url)) as page:
                await page.set_password()
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
    await page.set_password()
    client = browser()
    answer = await client.login()
    assert answer.status == 200, answer.raw
    return client

