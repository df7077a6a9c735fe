"""The asyncio main of ``dnsfilter run``: the service and its add-ons (the
web page) started in order, SIGHUP re-reading the config without dropping
queries, readiness told to systemd, and a clean stop on SIGTERM or Ctrl-C."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from dnsfilter.config import Config
from dnsfilter.errors import DnsFilterError
from dnsfilter.lists.catalog import BLOCKLISTS_DIR
from dnsfilter.service import readiness
from dnsfilter.service.app import Service

log = logging.getLogger(__name__)

GC_YOUNG_THRESHOLD = 50_000


class AddOn(Protocol):
    """A part that runs beside the service in its loop (the web page): started
    after it, told of each reloaded config, stopped before it."""

    async def start(self) -> None: ...

    async def reload(self, config: Config) -> None: ...

    async def stop(self) -> None: ...


async def run(
    load: Callable[[], Config],
    config_source: str,
    blocklists_dir: Path = BLOCKLISTS_DIR,
    add_ons: Callable[[Service], Sequence[AddOn]] = lambda service: (),
) -> None:
    """Run until SIGTERM/SIGINT; SIGHUP re-reads the config through ``load``."""
    service = Service(load(), blocklists_dir, config_source)
    await service.start()
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    reloads: set[asyncio.Task[None]] = set()
    started: list[AddOn] = []

    async def reload() -> None:
        readiness.notify("RELOADING=1")
        try:
            config = load()
            await service.reload(config)
            for add_on in started:
                await add_on.reload(config)
        except DnsFilterError as error:
            log.error("the new configuration was not applied, the running one is kept:\n%s", error)
        finally:
            readiness.notify("READY=1")

    def on_hup() -> None:
        task = loop.create_task(reload())
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    # From the moment DNS answers: a signal during the add-ons' start is
    # handled, not the end of the process.
    loop.add_signal_handler(signal.SIGTERM, stopping.set)
    loop.add_signal_handler(signal.SIGINT, stopping.set)
    loop.add_signal_handler(signal.SIGHUP, on_hup)
    try:
        for add_on in add_ons(service):
            await add_on.start()
            started.append(add_on)
    except BaseException:
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(signum)
        for add_on in reversed(started):
            await add_on.stop()
        await service.stop()
        raise
    # What start-up built (index tables, caches, the policy) lives as long as
    # the process: the collector need not walk it again and again.
    gc.freeze()
    # The query path allocates small short-lived objects by the hundred
    # thousand a second, and the query log holds a few seconds of them: the
    # default threshold (700) would run the young collection thousands of
    # times a second.
    gc.set_threshold(GC_YOUNG_THRESHOLD, 20, 100)
    readiness.notify("READY=1")
    try:
        await stopping.wait()
    finally:
        readiness.notify("STOPPING=1")
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(signum)
        if reloads:
            await asyncio.wait(reloads)
        for add_on in reversed(started):
            await add_on.stop()
        await service.stop()
        log.info("stopped")
