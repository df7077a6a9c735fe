"""Start the real filter service in-process for integration tests."""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from dnsfilter.config import DEFAULT_CONFIG, Config, ListenAddress, parse_upstream
from dnsfilter.lists.blocklists import Blocklists
from dnsfilter.lists.compiler import INDEX_FILE
from dnsfilter.service.app import Service
from dnsfilter.service.collector import Collector
from dnsfilter.service.timings import Timings
from dnsfilter.store import open_database

# A small catalog with a few lists and one service, so a test compiles in milliseconds.
TEST_BLOCKLISTS = Path(__file__).resolve().parent / "fixtures" / "blocklists"


_compiled: list[Path] = []


def provide_test_index(data_dir: Path) -> None:
    """Put the test catalog's compiled index in ``data_dir`` (compiled once per run).

    Starting a service compiles in a separate process when there is no
    index, which costs a second per test; the lists do not change.
    """
    if not _compiled:
        scratch = Path(tempfile.mkdtemp(prefix="dnsfilter-test-index-"))
        blocklists = Blocklists(scratch, TEST_BLOCKLISTS)
        blocklists.open_blocking()
        _compiled.append(blocklists.index_path)
    data_dir.mkdir(parents=True, exist_ok=True)
    if not (data_dir / INDEX_FILE).exists():
        shutil.copyfile(_compiled[0], data_dir / INDEX_FILE)


def started_once(data_dir: Path, database_url: str | None = None) -> Path:
    """What the filter's first start leaves behind: ``data_dir`` and a new family database
    (SQLite in ``data_dir`` unless ``database_url`` names one). The other commands need both."""
    data_dir.mkdir(parents=True, exist_ok=True)
    url = database_url or dataclasses.replace(DEFAULT_CONFIG, data_dir=data_dir).database_url
    open_database(url, data_dir=data_dir).close()
    return data_dir


class FrozenClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make_config(data_dir: Path, upstreams: list[str], **sections: dict[str, Any]) -> Config:
    """Defaults, listening on 127.0.0.1 port 0, with section fields replaced."""
    config = dataclasses.replace(
        DEFAULT_CONFIG,
        data_dir=data_dir,
        dns=dataclasses.replace(DEFAULT_CONFIG.dns, listen=(ListenAddress("127.0.0.1", 0),)),
        upstream=dataclasses.replace(
            DEFAULT_CONFIG.upstream, servers=tuple(parse_upstream(u) for u in upstreams), timeout=0.5
        ),
        lists=dataclasses.replace(DEFAULT_CONFIG.lists, auto_update=False),
        # Upstream TTLs as given, so tests can check ageing; the cap has tests of its own.
        blocking=dataclasses.replace(DEFAULT_CONFIG.blocking, max_answer_ttl=0),
        # Devices are told apart by address only, not by this machine's ARP table.
        devices=dataclasses.replace(
            DEFAULT_CONFIG.devices, neighbour_table=False, dhcp_leases=(), odhcpd_leases=()
        ),
    )
    for name, changes in sections.items():
        config = dataclasses.replace(config, **{name: dataclasses.replace(getattr(config, name), **changes)})
    return config


@asynccontextmanager
async def running_service(
    config: Config, clock: FrozenClock | None = None, blocklists: Path = TEST_BLOCKLISTS, timings: Timings = Timings()
) -> AsyncIterator[RunningFilter]:
    if blocklists == TEST_BLOCKLISTS:
        provide_test_index(config.data_dir)
    service = Service(config, blocklists, timings=timings)
    if clock is not None:
        service.resolver.clock = clock
    await service.start()
    # The garbage collector as `dnsfilter run` sets it: a test's answer times
    # then measure the filter, not full collections of the test process's heap.
    collector = Collector()
    collector.start()
    try:
        yield RunningFilter(service)
    finally:
        collector.stop()
        await service.stop()


class RunningFilter:
    def __init__(self, service: Service) -> None:
        self.service = service

    @property
    def address(self) -> tuple[str, int]:
        return self.service.bound[0]
