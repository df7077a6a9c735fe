"""Serving stale answers (RFC 8767) on real sockets: the running filter in
front of fake upstreams that never answer.

A client with a stale entry in the cache gets it after the client response
timer (1.8 s) while the upstreams are still being tried, at once once they
are known down; a name with nothing cached gets SERVFAIL within 2 s however
many upstreams are configured. The upstream timeout is the default 2 s here,
so the old way (waiting out every upstream in turn) shows.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from dnslib import RCODE, DNSRecord

from tests.fakes import DnsClient, FakeUpstream, make_query
from tests.running import FrozenClock, RunningFilter, make_config, running_service

OUTAGE = "every upstream is down"
OUTAGE_OVER = "the outage is over"
TIMER = 1.8  # RFC 8767's client response timer
SLACK = 0.15  # scheduling on a busy test machine


@pytest.fixture(params=[1, 2], ids=["one upstream", "two upstreams"])
async def upstreams(request: pytest.FixtureRequest) -> AsyncIterator[list[FakeUpstream]]:
    fakes = [await FakeUpstream().start() for _ in range(request.param)]
    try:
        for fake in fakes:
            fake.add("example.org. 300 IN A 192.0.2.1")
        yield fakes
    finally:
        for fake in fakes:
            await fake.close()


async def timed(client: DnsClient, running: RunningFilter, name: str) -> tuple[float, DNSRecord]:
    loop = asyncio.get_running_loop()
    started = loop.time()
    reply = await client.udp(make_query(name), running.address, timeout=6)
    return loop.time() - started, DNSRecord.parse(reply)


async def test_stale_comes_after_the_timer_then_at_once_and_the_outage_is_logged_once(
    upstreams: list[FakeUpstream], dns_client: DnsClient, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="dnsfilter")
    clock = FrozenClock()
    config = make_config(tmp_path, [fake.address for fake in upstreams], upstream={"timeout": 2.0})
    async with running_service(config, clock) as running:
        await dns_client.query("example.org", "A", running.address)
        clock.advance(400)  # past the 300 s TTL: stale from now on
        for fake in upstreams:
            fake.behave(drop=True)

        # Until the upstreams are known down (three failures each), every
        # stale answer waits for the timer, and no longer.
        slow: list[float] = []
        while True:
            taken, reply = await timed(dns_client, running, "example.org")
            assert [str(rr.rdata) for rr in reply.rr] == ["192.0.2.1"] and reply.rr[0].ttl == 30
            if taken < 0.1:
                break
            slow.append(taken)
            assert len(slow) <= 4, f"still waiting for upstreams known to be down: {slow}"
        assert TIMER - SLACK < slow[0] < TIMER + SLACK
        assert max(slow) < TIMER + SLACK

        for _ in range(10):
            taken, reply = await timed(dns_client, running, "example.org")
            assert taken < 0.1 and str(reply.rr[0].rdata) == "192.0.2.1" and reply.rr[0].ttl == 30
        # One line for the outage, none per stale answer.
        assert sum(OUTAGE in message for message in caplog.messages) == 1
        assert not [message for message in caplog.messages if "stale" in message]

        # Back: the stale answer still goes at once, its refresh goes on
        # behind it and fills the cache.
        await running.service.resolver.drain(5.0)  # the refresh still asking the silent upstreams
        for fake in upstreams:
            fake.behave()
        taken, reply = await timed(dns_client, running, "example.org")
        assert taken < 0.1 and reply.rr[0].ttl == 30
        await running.service.resolver.drain(5.0)
        taken, reply = await timed(dns_client, running, "example.org")
        assert taken < 0.1 and reply.rr[0].ttl == 300
    assert sum(OUTAGE_OVER in message for message in caplog.messages) == 1


async def test_a_name_not_cached_gets_servfail_within_two_seconds(
    upstreams: list[FakeUpstream], dns_client: DnsClient, tmp_path: Path
) -> None:
    for fake in upstreams:
        fake.behave(drop=True)
    config = make_config(tmp_path, [fake.address for fake in upstreams], upstream={"timeout": 2.0})
    async with running_service(config) as running:
        taken, reply = await timed(dns_client, running, "example.org")
    assert reply.header.rcode == RCODE.SERVFAIL
    assert taken < 2.0
    assert all(fake.total_queries == 1 for fake in upstreams)  # both asked within the time
