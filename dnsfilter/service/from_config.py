"""From the configuration to the parts of the running filter.

Each function reads one section of the config and builds what the service
needs of it, in the parts' own terms (limits, settings, upstream pools).
"""

from __future__ import annotations

from dataclasses import dataclass

from dnsfilter.config import Config, system_upstreams
from dnsfilter.dns.cache import CacheLimits
from dnsfilter.dns.resolver import AnswerSettings
from dnsfilter.dns.server import ListenerLimits
from dnsfilter.dns.upstream.pool import UpstreamPool
from dnsfilter.dns.upstream.servers import UpstreamServer
from dnsfilter.lists.updater import UpdateLimits
from dnsfilter.service.discovery import ClientSourcePaths


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


def upstream_servers(config: Config) -> tuple[UpstreamServer, ...]:
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


def update_limits(config: Config) -> UpdateLimits:
    return UpdateLimits(timeout=config.lists.download_timeout, max_shrink=config.lists.max_shrink)


def tcp_limits(config: Config) -> ListenerLimits:
    """The DNS listeners' limits: TCP's from the config, the others their defaults."""
    dns = config.dns
    return ListenerLimits(
        idle_timeout=dns.tcp_idle_timeout, max_connections=dns.tcp_max_connections,
        max_per_client=dns.tcp_max_per_client, udp_size=dns.udp_payload_size,
    )
