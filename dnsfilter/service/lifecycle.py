"""The asyncio main of ``dnsfilter run``: the service and its add-ons (the
web page) started in order, SIGHUP re-reading the config without dropping
queries, readiness and watchdog pings told to systemd, and a clean stop on
SIGTERM or Ctrl-C."""

from __future__ import annotations

import asyncio
import logging
import resource
import signal
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from dnsfilter.config import Config
from dnsfilter.config.system import utc_time_zone_warning
from dnsfilter.errors import DnsFilterError
from dnsfilter.lists.catalog import BLOCKLISTS_DIR
from dnsfilter.service import readiness
from dnsfilter.service.app import Service
from dnsfilter.service.collector import Collector

log = logging.getLogger(__name__)

# Every query waiting on an upstream, and every TCP client, holds a file
# descriptor: 1024 (a shell's usual soft limit) runs out at a few hundred
# new names a second when an upstream stops answering.
OPEN_FILES_WANTED = 65536
OPEN_FILES_LOW = 4096


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
    raise_open_file_limit()
    # From the first moment: a start that hangs the loop is restarted too.
    watchdog = readiness.Watchdog.from_environment()
    if watchdog is not None:
        watchdog.start()
    try:
        await _serve(load, config_source, blocklists_dir, add_ons)
    finally:
        if watchdog is not None:
            watchdog.stop()


async def _serve(
    load: Callable[[], Config],
    config_source: str,
    blocklists_dir: Path,
    add_ons: Callable[[Service], Sequence[AddOn]],
) -> None:
    service = Service(load(), blocklists_dir, config_source)
    await service.start()
    warn_if_following_utc(service)
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    reloads: set[asyncio.Task[None]] = set()
    started: list[AddOn] = []

    async def reload() -> None:
        readiness.notify(readiness.reloading())
        try:
            # Reading and checking a big file takes a while: DNS keeps answering meanwhile.
            config = await asyncio.to_thread(load)
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
    collector = Collector()
    collector.start()
    readiness.notify("READY=1")
    try:
        await stopping.wait()
    finally:
        readiness.notify("STOPPING=1")
        collector.stop()  # pauses no longer matter, and a test's process goes on
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(signum)
        if reloads:
            await asyncio.wait(reloads)
        for add_on in reversed(started):
            await add_on.stop()
        await service.stop()
        log.info("stopped")


def warn_if_following_utc(service: Service) -> None:
    """Say at start when schedules follow UTC only because no time zone was chosen.

    Once started, ``service.config`` holds the zone chosen on the web page, if
    any, over the file's. Without the database that choice is unknown, and no
    schedule is in force until it answers: nothing is said then.
    """
    if service.store is None:
        return
    warning = utc_time_zone_warning(service.config.time_zone, service.config.zone)
    if warning is not None:
        log.warning("%s.", warning[0].upper() + warning[1:])


def raise_open_file_limit(wanted: int = OPEN_FILES_WANTED) -> None:
    """Lift the soft limit on open files to the hard one (at most ``wanted``),
    and say how to raise the hard one when that leaves too few."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(hard, wanted)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (OSError, ValueError) as error:
            log.warning("could not raise the open-file limit from %d to %d: %s", soft, target, error)
        else:
            log.info("raised the open-file limit from %d to %d", soft, target)
            soft = target
    if soft != resource.RLIM_INFINITY and soft < OPEN_FILES_LOW:
        log.warning(
            "only %d files may be open at once, too few when an upstream is slow and many queries wait: "
            "raise the limit to %d (LimitNOFILE=%d in the systemd unit, or ulimit -n %d before starting by hand)",
            soft, wanted, wanted, wanted,
        )  # fmt: skip
