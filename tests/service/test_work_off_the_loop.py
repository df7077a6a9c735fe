"""Slow work of the control path runs beside the event loop, not in it: DNS
keeps answering while SIGHUP re-reads a big configuration, and while the
keeper builds the policy snapshot."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from dnsfilter.config import Config, parse_config
from dnsfilter.lists.index import DomainIndex
from dnsfilter.service import keeper as keeper_module
from dnsfilter.service import lifecycle
from dnsfilter.service.app import Service
from dnsfilter.service.keeper import PolicyKeeper
from dnsfilter.store import PolicyStore
from tests.fakes import DnsClient, FakeUpstream
from tests.running import TEST_BLOCKLISTS, make_config, provide_test_index

# A valid configuration of about 1 MB: a second or so to read and check.
BIG_CONFIG = "blocking:\n  deny:\n" + "".join(f"  - n{number}.example.org\n" for number in range(40_000))
SLOWEST_ANSWER = 0.2


class Watch:
    """An add-on that hands over the service and says when a reload reached it."""

    def __init__(self) -> None:
        self.service: Service | None = None
        self.started = asyncio.Event()
        self.reloaded = asyncio.Event()

    async def start(self) -> None:
        self.started.set()

    async def reload(self, config: Config) -> None:
        self.reloaded.set()

    async def stop(self) -> None: ...


async def slowest_answer_until(done: asyncio.Event, client: DnsClient, address: tuple[str, int]) -> float:
    slowest = 0.0
    while not done.is_set():
        started = time.perf_counter()
        reply = await client.query("example.org", "A", address)
        assert str(reply.rr[0].rdata) == "192.0.2.1"
        slowest = max(slowest, time.perf_counter() - started)
        await asyncio.sleep(0.01)
    return slowest


async def test_dns_answers_while_sighup_reads_a_big_config(
    tmp_path: Path, fake_upstream: FakeUpstream, dns_client: DnsClient
) -> None:
    fake_upstream.add("example.org. 300 IN A 192.0.2.1")
    config = make_config(tmp_path / "data", [fake_upstream.address])
    provide_test_index(config.data_dir)
    reads: list[float] = []

    def load() -> Config:
        if reads:  # a reload: read the big file (what is measured), apply the same settings
            started = time.perf_counter()
            parse_config(BIG_CONFIG)
            reads.append(time.perf_counter() - started)
        else:
            reads.append(0.0)
        return config

    watch = Watch()

    def add_ons(service: Service) -> list[Watch]:
        watch.service = service
        return [watch]

    running = asyncio.create_task(lifecycle.run(load, "test", TEST_BLOCKLISTS, add_ons))
    try:
        await asyncio.wait_for(watch.started.wait(), 30)
        assert watch.service is not None
        address = watch.service.bound[0]
        await dns_client.query("example.org", "A", address)  # in the cache from now on
        os.kill(os.getpid(), signal.SIGHUP)
        slowest = await asyncio.wait_for(slowest_answer_until(watch.reloaded, dns_client, address), 60)
        # Read in the event loop, one answer would wait the whole read.
        assert slowest < min(SLOWEST_ANSWER, reads[1] / 2), (
            f"an answer took {slowest:.3f} s while the config was read ({reads[1]:.3f} s)"
        )
    finally:
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.wait_for(running, 30)


async def test_the_snapshot_is_built_beside_the_loop(store: PolicyStore, monkeypatch: pytest.MonkeyPatch) -> None:
    built_in: list[threading.Thread] = []
    build = keeper_module.build_snapshot

    def recording_build(*args: Any, **kwargs: Any) -> Any:
        built_in.append(threading.current_thread())
        return build(*args, **kwargs)

    monkeypatch.setattr(keeper_module, "build_snapshot", recording_build)
    keeper = PolicyKeeper(store, ZoneInfo("UTC"))
    index = DomainIndex.empty()
    await keeper.load(lambda: index)
    assert built_in and threading.main_thread() not in built_in


async def test_lists_swapped_during_the_build_are_the_ones_used(
    store: PolicyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    old, new = DomainIndex.empty(), DomainIndex.empty()
    in_use = [old]
    build = keeper_module.build_snapshot

    def build_then_swap(*args: Any, **kwargs: Any) -> Any:
        snapshot = build(*args, **kwargs)
        in_use[0] = new  # the lists were recompiled while this build ran
        return snapshot

    monkeypatch.setattr(keeper_module, "build_snapshot", build_then_swap)
    keeper = PolicyKeeper(store, ZoneInfo("UTC"))
    snapshot = await keeper.load(lambda: in_use[0])
    assert snapshot.index is new
