"""The settings of the configuration file, one frozen dataclass a section.

Each key is declared once, below, as a field with its default and its
converter (see ``dnsfilter.yamlschema``); ``dnsfilter.config.loading`` reads
a file into them.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
import socket
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import yaml

from dnsfilter.config.system import machine_time_zone
from dnsfilter.config.values import (
    ListenAddress,
    Network,
    Secret,
    parse_blocked_name,
    parse_certificate_name,
    parse_database_url,
    parse_directory,
    parse_file_path,
    parse_instance_name,
    parse_ip,
    parse_listen,
    parse_metrics_token,
    parse_network,
    parse_router,
    parse_time_zone,
    parse_upstream,
    parse_web_listen,
)
from dnsfilter.dns.upstream.servers import UpstreamServer
from dnsfilter.policy.domains import checked_name
from dnsfilter.policy.safesearch import SafeSearchLevel
from dnsfilter.yamlschema import (
    BOOL_TAG,
    STR_TAG,
    Invalid,
    Problems,
    boolean,
    choice,
    from_text,
    integer,
    number,
    optional,
    required,
    scalar,
    section,
    sequence,
    setting,
)

__all__ = [
    "DEFAULT_CONFIG",
    "BlockingSettings",
    "CacheSettings",
    "Config",
    "DatabaseSettings",
    "DevicesSettings",
    "DnsSettings",
    "ListenAddress",
    "ListsSettings",
    "QueryLogSettings",
    "LocalSettings",
    "UpstreamSettings",
    "WebSettings",
]

DATABASE_FILE: Final = "dnsfilter.db"


# --- the settings ----------------------------------------------------------

LAN_NETWORKS: Final[tuple[Network, ...]] = tuple(
    ipaddress.ip_network(text)
    for text in (
        "127.0.0.0/8",
        "::1/128",
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "169.254.0.0/16",
        "fe80::/10",
        "fc00::/7",
    )
)


def _check_dns(dns: DnsSettings) -> Iterator[tuple[str, str]]:
    repeated = sorted({str(listen) for listen in dns.listen if dns.listen.count(listen) > 1})
    if repeated:
        yield "listen", f"lists {', '.join(repeated)} more than once; remove the repeat"


@dataclass(frozen=True, slots=True)
class DnsSettings:
    listen: tuple[ListenAddress, ...] = setting(
        (ListenAddress("127.0.0.1", 5300),),
        sequence(from_text(parse_listen), empty="is empty; give at least one address, such as 0.0.0.0:53"),
    )
    udp_payload_size: int = setting(1232, integer(512, 4096))
    tcp_idle_timeout: float = setting(10.0, number(0.5, 300))
    tcp_max_connections: int = setting(256, integer(1, 65535))
    tcp_max_per_client: int = setting(16, integer(1, 65535))
    allow_clients: tuple[Network, ...] = setting(
        LAN_NETWORKS,
        sequence(
            from_text(parse_network),
            empty="is empty, so every device would be refused; list your home network, like 192.168.1.0/24",
        ),
    )


@dataclass(frozen=True, slots=True)
class _ServerEntry:
    """An upstream written as a mapping: {address: tls://9.9.9.9, tls_name: dns.quad9.net}."""

    address: UpstreamServer = required(from_text(parse_upstream))
    tls_name: str | None = setting(None, optional(from_text(parse_certificate_name)))


def _check_server_entry(entry: _ServerEntry) -> Iterator[tuple[str, str]]:
    address = entry.address
    if entry.tls_name is None:
        return
    if address.protocol not in ("tls", "https"):
        yield (
            "tls_name",
            f"plain DNS servers have no certificate; remove tls_name, or write tls://{address.host}",
        )
    elif address.tls_name not in (None, address.host, entry.tls_name):
        yield (
            "tls_name",
            f'the address already ends in "#{address.tls_name}"; give the name in one place only',
        )


_SERVER_ENTRY: Final = section(_ServerEntry, check=_check_server_entry)
_SERVER_TEXT: Final = from_text(parse_upstream)


def _upstream_server(node: yaml.Node, path: str, problems: Problems) -> UpstreamServer:
    if not isinstance(node, yaml.MappingNode):
        return _SERVER_TEXT(node, path, problems)
    entry = _SERVER_ENTRY(node, path, problems)
    if entry.tls_name is None:
        return entry.address
    return dataclasses.replace(entry.address, tls_name=entry.tls_name)


@dataclass(frozen=True, slots=True)
class UpstreamSettings:
    # Empty: the machine's own resolvers, from /etc/resolv.conf (see system_upstreams).
    servers: tuple[UpstreamServer, ...] = setting((), sequence(_upstream_server))
    timeout: float = setting(2.0, number(0.05, 30))


@dataclass(frozen=True, slots=True)
class LocalSettings:
    domain: str = setting("lan", from_text(checked_name))
    # None: local names are answered NXDOMAIN, never leaked to public resolvers.
    router: UpstreamServer | None = setting(None, optional(from_text(parse_router)))


def _check_cache(cache: CacheSettings) -> Iterator[tuple[str, str]]:
    if cache.min_ttl > cache.max_ttl:
        yield (
            "min_ttl",
            (
                f"min_ttl ({cache.min_ttl}) is larger than max_ttl ({cache.max_ttl}); "
                "make min_ttl smaller or max_ttl larger"
            ),
        )


@dataclass(frozen=True, slots=True)
class CacheSettings:
    size: int = setting(10000, integer(0, 10_000_000))
    min_ttl: int = setting(0, integer(0, 86400))
    max_ttl: int = setting(86400, integer(1, 604800))
    negative_max_ttl: int = setting(3600, integer(0, 86400))
    stale_ttl: int = setting(30, integer(1, 3600))
    stale_max_age: int = setting(86400, integer(0, 604800))


def parse_tag_id(text: str) -> str:
    """A category or service id as the catalog writes them: tiktok, adult, proxy_vpn."""
    word = text.strip().lower()
    if not _TAG_ID.fullmatch(word):
        raise ValueError(
            f'"{text}" is not a category or service name; use the short names from '
            "blocklists/catalog.yaml, such as adult or tiktok"
        )
    return word


_TAG_ID: Final = re.compile(r"[a-z0-9][a-z0-9_\-]{0,63}")


def _safe_search_level(node: yaml.Node, path: str, problems: Problems) -> str:
    # Unquoted, YAML reads on and off as true and false: a parent writing them means the words.
    if isinstance(node, yaml.ScalarNode) and node.style is None and node.tag == BOOL_TAG:
        node = yaml.ScalarNode(STR_TAG, node.value, node.start_mark, node.end_mark)
    return _SAFE_SEARCH_LEVEL(node, path, problems)


_SAFE_SEARCH_LEVEL: Final = choice(*SafeSearchLevel)


@dataclass(frozen=True, slots=True)
class BlockingSettings:
    mode: str = setting("null_ip", choice("null_ip", "nxdomain"))
    ttl: int = setting(10, integer(0, 86400))
    deny: tuple[str, ...] = setting((), sequence(from_text(parse_blocked_name)))
    # None: the categories the catalog marks as harmful to children or a
    # security risk. Checked against the catalog when the filter starts.
    categories: tuple[str, ...] | None = setting(None, optional(sequence(from_text(parse_tag_id))))
    services: tuple[str, ...] = setting((), sequence(from_text(parse_tag_id)))
    # The default profile's safe search when first set up. On: blocking the
    # search engines that cannot be filtered (search_no_safesearch, one of the
    # default categories) protects only while the others are filtered; with
    # off, the default categories leave that one out.
    safe_search: str = setting(SafeSearchLevel.ON.value, _safe_search_level)
    # Longest TTL given to devices for an allowed answer (0: the upstream's),
    # so a pause or a new rule reaches every device within this many seconds.
    max_answer_ttl: int = setting(60, integer(0, 86400))


@dataclass(frozen=True, slots=True)
class DevicesSettings:
    # Addresses whose EDNS MAC and client-subnet options are believed: the
    # router that forwards its clients' queries. Empty: local.router.
    trusted_forwarders: tuple[str, ...] = setting((), sequence(from_text(parse_ip)))
    dhcp_leases: tuple[str, ...] = setting(
        ("/var/lib/misc/dnsmasq.leases", "/tmp/dhcp.leases"), sequence(from_text(parse_file_path))
    )
    odhcpd_leases: tuple[str, ...] = setting(("/tmp/hosts/odhcpd",), sequence(from_text(parse_file_path)))
    # Read /proc/net/arp and run "ip neigh" to learn devices' MAC addresses.
    neighbour_table: bool = setting(True, boolean)
    refresh_seconds: float = setting(30.0, number(5, 3600))


@dataclass(frozen=True, slots=True)
class ListsSettings:
    auto_update: bool = setting(True, boolean)
    update_interval_hours: float = setting(24.0, number(1, 24 * 30))
    # A download that lost more than this share of its entries is refused.
    max_shrink: float = setting(0.5, number(0.05, 0.95))
    download_timeout: float = setting(120.0, number(5, 3600))


@dataclass(frozen=True, slots=True)
class QueryLogSettings:
    enabled: bool = setting(True, boolean)
    # Every query, kept this many days; the hourly counts behind the charts
    # and the screen-time minutes are kept aggregate_days.
    retention_days: int = setting(7, integer(1, 365))
    aggregate_days: int = setting(400, integer(1, 3650))
    # Queries are written together, every flush_seconds or batch_size queries,
    # or once half of the queue's bounds below are used.
    flush_seconds: float = setting(2.0, number(0.2, 60))
    # Large enough that a second at the filter's full rate is one write:
    # repeats of an answer are one row only when they are written together,
    # and each write has a cost of its own.
    batch_size: int = setting(100_000, integer(10, 1_000_000))
    # Memory (an estimate, in bytes) and queries waiting to be written at most,
    # whichever is reached first; beyond, the oldest are dropped and counted.
    queue_bytes: int = setting(8 * 1024 * 1024, integer(65_536, 1024 * 1024 * 1024))
    queue_size: int = setting(200_000, integer(100, 10_000_000))
    # Names this filter in the log when several share one database. ~: the machine's name.
    instance: str | None = setting(None, optional(from_text(parse_instance_name)))


def _check_web(web: WebSettings) -> Iterator[tuple[str, str]]:
    if web.tls == "files" and (web.certificate is None or web.key is None):
        yield "tls", "is files, so give certificate: and key: (the paths of the PEM files) too"
    if web.metrics and not web.metrics_allow and web.metrics_token is None:
        yield (
            "metrics",
            "is on, so say who may read them: metrics_allow (the address of the Prometheus server, "
            "like [192.168.1.10]) or metrics_token",
        )


def _metrics_token(node: yaml.Node, path: str, problems: Problems) -> Secret:
    # The value is never quoted back, even in part; digits alone are a token too.
    scalar(node)
    try:
        return parse_metrics_token(node.value)
    except ValueError as error:
        raise Invalid(str(error)) from None


@dataclass(frozen=True, slots=True)
class WebSettings:
    enabled: bool = setting(True, boolean)
    listen: ListenAddress = setting(ListenAddress("127.0.0.1", 8080), from_text(parse_web_listen))
    # Names the page is opened by besides the box's addresses and localhost
    # (any other Host is refused: a web page cannot rebind a name to the box).
    hosts: tuple[str, ...] = setting((), sequence(from_text(checked_name)))
    tls: str = setting("off", choice("off", "self_signed", "files"))
    certificate: str | None = setting(None, optional(from_text(parse_file_path)))
    key: str | None = setting(None, optional(from_text(parse_file_path)))
    # /metrics for Prometheus: off, or open to the addresses in metrics_allow
    # and to whoever sends metrics_token as "Authorization: Bearer TOKEN".
    metrics: bool = setting(False, boolean)
    metrics_allow: tuple[Network, ...] = setting((), sequence(from_text(parse_network)))
    metrics_token: Secret | None = setting(None, optional(_metrics_token))


@dataclass(frozen=True, slots=True)
class DatabaseSettings:
    # None: an SQLite file in data_dir (see Config.database_url).
    url: str | None = setting(None, optional(from_text(parse_database_url)))


@dataclass(frozen=True, slots=True)
class Config:
    dns: DnsSettings = setting(DnsSettings(), section(DnsSettings, check=_check_dns))
    upstream: UpstreamSettings = setting(UpstreamSettings(), section(UpstreamSettings))
    local: LocalSettings = setting(LocalSettings(), section(LocalSettings))
    cache: CacheSettings = setting(CacheSettings(), section(CacheSettings, check=_check_cache))
    blocking: BlockingSettings = setting(BlockingSettings(), section(BlockingSettings))
    devices: DevicesSettings = setting(DevicesSettings(), section(DevicesSettings))
    query_log: QueryLogSettings = setting(QueryLogSettings(), section(QueryLogSettings))
    lists: ListsSettings = setting(ListsSettings(), section(ListsSettings))
    web: WebSettings = setting(WebSettings(), section(WebSettings, check=_check_web))
    database: DatabaseSettings = setting(DatabaseSettings(), section(DatabaseSettings))
    data_dir: Path = setting(Path("data"), from_text(parse_directory))
    time_zone: str | None = setting(None, optional(from_text(parse_time_zone)))
    log_level: str = setting("info", choice("debug", "info", "warning", "error"))

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        """The family's time zone, in which schedules are read."""
        if self.time_zone is None:
            return machine_time_zone()
        return zoneinfo.ZoneInfo(self.time_zone)

    @property
    def trusted_forwarders(self) -> frozenset[str]:
        """Who may tell us which device asked: the configured forwarders, else the router."""
        if self.devices.trusted_forwarders:
            return frozenset(self.devices.trusted_forwarders)
        return frozenset((self.local.router.host,)) if self.local.router is not None else frozenset()

    @property
    def instance_name(self) -> str:
        """This filter's name in the query log."""
        return self.query_log.instance or socket.gethostname()[:64] or "dnsfilter"

    @property
    def database_url(self) -> str:
        if self.database.url is not None:
            return self.database.url
        return "sqlite:///" + (self.data_dir.absolute() / DATABASE_FILE).as_posix()


DEFAULT_CONFIG: Final = Config()

