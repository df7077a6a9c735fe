"""The running filter and its policy database: out of reach at start, cut
while running, back again; a local file that cannot be opened."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from dnslib import DNSRecord

from dnsfilter.errors import StoreError
from dnsfilter.service.timings import Timings
from dnsfilter.store import PolicyStore, open_database
from tests.fakes import DnsClient, FakeUpstream, make_query
from tests.running import make_config, running_service
from tests.tcpproxy import TcpProxy

DEADLINE = 8.0


@pytest.fixture
async def upstream(fake_upstream: FakeUpstream) -> FakeUpstream:
    for name in ("adult.example", "family.example", "news.example"):
        fake_upstream.add(f"{name}. 300 IN A 192.0.2.80")
    return fake_upstream


QUICK_RETRIES = Timings(store_retry=0.2, policy_poll=0.2)


@pytest.fixture
async def proxy(database_url: str) -> AsyncIterator[TcpProxy]:
    parts = urlsplit(database_url)
    started = await TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432).start()
    yield started
    await started.close()


def through(proxy: TcpProxy, database_url: str) -> str:
    parts = urlsplit(database_url)
    netloc = parts.netloc.rsplit("@", 1)
    host = f"127.0.0.1:{proxy.port}"
    return urlunsplit(parts._replace(netloc=f"{netloc[0]}@{host}" if len(netloc) == 2 else host))


async def address_of(client: DnsClient, name: str, server: tuple[str, int]) -> str:
    reply = DNSRecord.parse(await client.udp(make_query(name), server))
    return str(reply.rr[0].rdata) if reply.rr else "no answer"


async def eventually(client: DnsClient, name: str, server: tuple[str, int], expected: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while (got := await address_of(client, name, server)) != expected:
        assert time.monotonic() < deadline, f"{name} still answered {got}, expected {expected}"
        await asyncio.sleep(0.1)


def deny_for_everyone(url: str, name: str) -> None:
    database = open_database(url)
    try:
        store = PolicyStore(database)
        store.deny_domain(next(p.id for p in store.list_profiles() if p.is_default), name)
    finally:
        database.close()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_postgresql_out_of_reach_at_start_then_back(
    upstream: FakeUpstream, dns_client: DnsClient, tmp_path: Path, database_url: str, proxy: TcpProxy
) -> None:
    deny_for_everyone(database_url, "family.example")  # the family's own rule, in the database
    proxy.down()
    config = make_config(tmp_path, [upstream.address], database={"url": through(proxy, database_url)})
    async with running_service(config, timings=QUICK_RETRIES) as running:
        server = running.address
        # Filtering from the start: the configuration's default categories.
        assert await address_of(dns_client, "adult.example", server) == "0.0.0.0"
        assert await address_of(dns_client, "family.example", server) == "192.0.2.80"
        proxy.up()
        await eventually(dns_client, "family.example", server, "0.0.0.0")
        assert await address_of(dns_client, "adult.example", server) == "0.0.0.0"


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_postgresql_cut_while_running_keeps_the_rules_and_recovers(
    upstream: FakeUpstream, dns_client: DnsClient, tmp_path: Path, database_url: str, proxy: TcpProxy
) -> None:
    config = make_config(tmp_path, [upstream.address], database={"url": through(proxy, database_url)})
    async with running_service(config, timings=QUICK_RETRIES) as running:
        server = running.address
        deny_for_everyone(database_url, "family.example")
        await eventually(dns_client, "family.example", server, "0.0.0.0")
        proxy.down()
        for _ in range(10):  # across several failed reads: the last rules stay in force
            assert await address_of(dns_client, "family.example", server) == "0.0.0.0"
            assert await address_of(dns_client, "news.example", server) == "192.0.2.80"
            await asyncio.sleep(0.1)
        deny_for_everyone(database_url, "news.example")  # changed while this box is cut off
        proxy.up()
        await eventually(dns_client, "news.example", server, "0.0.0.0")


async def test_sqlite_file_that_cannot_be_opened_stops_the_start_with_a_reason(
    upstream: FakeUpstream, tmp_path: Path
) -> None:
    (tmp_path / "not-a-file.db").mkdir()
    config = make_config(tmp_path, [upstream.address], database={"url": f"sqlite:///{tmp_path / 'not-a-file.db'}"})
    with pytest.raises(StoreError, match="Cannot open the database file .*not-a-file.db.*Check that"):
        async with running_service(config):
            pass


async def test_sqlite_file_that_is_not_a_database(upstream: FakeUpstream, tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is a shopping list, not a database\n" * 100)
    config = make_config(tmp_path, [upstream.address], database={"url": f"sqlite:///{junk}"})
    with pytest.raises(StoreError, match="Check that"):
        async with running_service(config):
            pass
    assert junk.read_bytes().startswith(b"this is a shopping list")  # nothing was overwritten
