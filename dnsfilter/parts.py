"""From the configuration to the parts of the running filter.

Each function reads one section of the config and builds what the service
needs of it; ``Background`` keeps the service's long-running tasks so they
can be stopped and awaited.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from dnsfilter.config import Config, UpstreamConfig, system_upstreams
from dnsfilter.dns.cache import CacheLimits
from dnsfilter.dns.resolver import AnswerSettings
from dnsfilter.dns.server import TcpLimits
from dnsfilter.dns.upstream import UpstreamPool
from dnsfilter.policy.clients import ClientSourcePaths
from dnsfilter.policy.updater import UpdateLimits

log = logging.getLogger(__name__)


def cache_limits(config: Config) -> CacheLimits:
    c = config.cache
    return CacheLimits(c.size, c.min_ttl, c.max_ttl, c.negative_max_ttl, c.stale_max_age)


def answer_settings(config: Config) -> AnswerSettings:
    return AnswerSettings(
        udp_size=config.dns.udp_payload_size,
        block_ttl=config.blocking.ttl,
        stale_ttl=config.cache.stale_ttl,
        max_answer_ttl=config.blocking.max_answer_ttl,
    )


def client_source_paths(config: Config) -> ClientSourcePaths:
    devices = config.devices
    if devices.neighbour_table:
        return ClientSourcePaths(dnsmasq_leases=devices.dhcp_leases, odhcpd=devices.odhcpd_leases)
    return ClientSourcePaths(
        arp=None, neighbour_command=None, dnsmasq_leases=devices.dhcp_leases, odhcpd=devices.odhcpd_leases
    )


def upstream_servers(config: Config) -> tuple[UpstreamConfig, ...]:
    """The configured upstreams, or the machine's own resolvers (never us)."""
    return config.upstream.servers or system_upstreams(exclude=config.dns.listen)


@dataclass(slots=True)
class Upstreams:
    public: UpstreamPool
    local: UpstreamPool | None

    async def aclose(self) -> None:
        await self.public.aclose()
        if self.local is not None:
            await self.local.aclose()


def build_upstreams(config: Config) -> Upstreams:
    udp_size = config.dns.udp_payload_size
    timeout = config.upstream.timeout
    public = UpstreamPool(upstream_servers(config), timeout, udp_size)
    router = config.local.router
    local = UpstreamPool((router,), timeout, udp_size) if router is not None else None
    return Upstreams(public, local)


class Background:
    """Long-running tasks of the service, kept so they can be stopped and awaited."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, coroutine: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.get_running_loop().create_task(coroutine, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task %s failed", task.get_name(), exc_info=task.exception())

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks))


def update_limits(config: Config) -> UpdateLimits:
    return UpdateLimits(timeout=config.lists.download_timeout, max_shrink=config.lists.max_shrink)


def tcp_limits(config: Config) -> TcpLimits:
    return TcpLimits(config.dns.tcp_idle_timeout, config.dns.tcp_max_connections)
