"""The configuration file: defaults, every key's valid and invalid values, text forms."""

from __future__ import annotations

import dataclasses
import ipaddress
import operator
import re
from pathlib import Path

import pytest

from dnsfilter.config import (
    DEFAULT_CONFIG,
    Config,
    ListenAddress,
    load_config,
    parse_config,
    parse_listen,
    parse_upstream,
    system_upstreams,
)
from dnsfilter.config.values import Secret
from dnsfilter.dns.upstream.servers import UpstreamServer
from dnsfilter.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "dnsfilter.yaml"

# Every generated config starts with these lines, so line numbers are not all 1.
HEADER = "# test configuration\n\n"
HEADER_LINES = HEADER.count("\n")


def config_setting(path: str, value: str) -> str:
    """A config that sets one key: ``cache.size`` -> ``cache:`` / ``  size: VALUE``."""
    *sections, key = path.split(".")
    lines = [f"{'  ' * depth}{name}:" for depth, name in enumerate(sections)]
    lines.append(f"{'  ' * len(sections)}{key}: {value}")
    return HEADER + "\n".join(lines) + "\n"


def line_of_setting(path: str) -> int:
    return HEADER_LINES + len(path.split("."))


def problems_in(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, source="test.yaml")
    assert caught.value.source == "test.yaml"
    return caught.value.problems


def only_problem(text: str) -> str:
    problems = problems_in(text)
    assert len(problems) == 1, problems
    return problems[0]


def value_at(config: Config, path: str) -> object:
    return operator.attrgetter(path)(config)


# --- defaults ------------------------------------------------------------------

LOCAL_NETWORKS = tuple(
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

DEFAULTS = [
    ("dns.listen", (ListenAddress("127.0.0.1", 5300),)),
    ("dns.udp_payload_size", 1232),
    ("dns.tcp_idle_timeout", 10.0),
    ("dns.tcp_max_connections", 256),
    ("dns.tcp_max_per_client", 16),
    ("dns.allow_clients", LOCAL_NETWORKS),
    ("upstream.servers", ()),
    ("upstream.timeout", 2.0),
    ("local.domain", "lan"),
    ("local.router", None),
    ("cache.size", 10000),
    ("cache.min_ttl", 0),
    ("cache.max_ttl", 86400),
    ("cache.negative_max_ttl", 3600),
    ("cache.stale_ttl", 30),
    ("cache.stale_max_age", 86400),
    ("blocking.mode", "null_ip"),
    ("blocking.ttl", 10),
    ("blocking.deny", ()),
    ("blocking.categories", None),
    ("blocking.services", ()),
    ("blocking.max_answer_ttl", 60),
    ("blocking.safe_search", "on"),
    ("devices.trusted_forwarders", ()),
    ("devices.dhcp_leases", ("/var/lib/misc/dnsmasq.leases", "/tmp/dhcp.leases")),
    ("devices.odhcpd_leases", ("/tmp/hosts/odhcpd",)),
    ("devices.neighbour_table", True),
    ("devices.refresh_seconds", 30.0),
    ("query_log.enabled", True),
    ("query_log.retention_days", 7),
    ("query_log.aggregate_days", 400),
    ("query_log.flush_seconds", 2.0),
    ("query_log.batch_size", 100000),
    ("query_log.queue_size", 200000),
    ("query_log.queue_bytes", 8388608),
    ("query_log.instance", None),
    ("lists.auto_update", True),
    ("lists.update_interval_hours", 24.0),
    ("lists.max_shrink", 0.5),
    ("lists.download_timeout", 120.0),
    ("web.enabled", True),
    ("web.listen", ListenAddress("127.0.0.1", 8080)),
    ("web.hosts", ()),
    ("web.tls", "off"),
    ("web.certificate", None),
    ("web.key", None),
    ("web.metrics", False),
    ("web.metrics_allow", ()),
    ("web.metrics_token", None),
    ("database.url", None),
    ("data_dir", Path("data")),
    ("time_zone", None),
    ("log_level", "info"),
]


@pytest.mark.parametrize(("path", "expected"), DEFAULTS, ids=[row[0] for row in DEFAULTS])
def test_default(path: str, expected: object) -> None:
    assert value_at(DEFAULT_CONFIG, path) == expected
    assert value_at(parse_config(""), path) == expected


def test_defaults_table_covers_every_key() -> None:
    def leaf_paths(value: object, prefix: str) -> list[str]:
        if not dataclasses.is_dataclass(value) or isinstance(value, ListenAddress):
            return [prefix]
        return [
            path
            for field in dataclasses.fields(value)
            for path in leaf_paths(getattr(value, field.name), f"{prefix}.{field.name}".lstrip("."))
        ]

    assert sorted(leaf_paths(DEFAULT_CONFIG, "")) == sorted(path for path, _ in DEFAULTS)


@pytest.mark.parametrize(
    "text",
    ["", "\n\n", "# only a comment\n", "---\n", "~\n", "dns:\n", "dns:\ncache:\n  # size: 5\n"],
    ids=["empty", "blank-lines", "comment", "document-marker", "null", "empty-section", "commented-keys"],
)
def test_nothing_set_means_defaults(text: str) -> None:
    assert parse_config(text) == DEFAULT_CONFIG


def test_values_are_frozen_and_slotted() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEFAULT_CONFIG.cache.size = 5  # type: ignore[misc]
    assert not hasattr(DEFAULT_CONFIG.dns, "__dict__")


def test_database_url_defaults_to_a_file_in_data_dir(tmp_path: Path) -> None:
    config = parse_config(f"data_dir: {tmp_path}/state\n")
    assert config.database_url == f"sqlite:///{tmp_path}/state/dnsfilter.db"
    relative = DEFAULT_CONFIG.database_url
    assert relative == "sqlite:///" + (Path.cwd() / "data" / "dnsfilter.db").as_posix()


def test_database_url_given_is_used_as_is() -> None:
    config = parse_config("database:\n  url: postgresql://dnsfilter@db.lan/dnsfilter\n")
    assert config.database_url == "postgresql://dnsfilter@db.lan/dnsfilter"


# --- the example file ------------------------------------------------------------


def test_example_file_is_exactly_the_defaults_but_where_the_service_keeps_its_state() -> None:
    # The example is the installed file: its data is in the service's state
    # directory, where the built-in settings (no file) use ./data for a try.
    example = load_config(EXAMPLE)
    assert example.data_dir == Path("/var/lib/dnsfilter")
    assert dataclasses.replace(example, data_dir=DEFAULT_CONFIG.data_dir) == DEFAULT_CONFIG


def test_example_servers_in_comments_are_valid() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    commented = re.search(r"^  # servers:\n((?:  #.*\n)+)", text, re.MULTILINE)
    assert commented is not None
    uncommented = "".join(line.replace("#", "", 1) for line in commented.group(0).splitlines(keepends=True))
    servers = parse_config("upstream:\n" + uncommented).upstream.servers
    assert [str(server) for server in servers] == [
        "9.9.9.9:53",
        "tls://9.9.9.9:853#dns.quad9.net",
        "https://dns.quad9.net/dns-query",
        "185.228.168.168:53",
        "tls://family-filter-dns.cleanbrowsing.org:853",
        "https://doh.cleanbrowsing.org/doh/family-filter/",
        "tls://149.112.112.112:853#dns.quad9.net",
    ]


def test_example_file_sets_every_key() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    for path, _ in DEFAULTS:
        key = path.rsplit(".", 1)[-1]
        assert re.search(rf"^ *{key}:", text, re.MULTILINE), f"{path} is missing from {EXAMPLE.name}"


# --- valid values ----------------------------------------------------------------

VALID = [
    ("dns.listen", "[127.0.0.1:53]", (ListenAddress("127.0.0.1", 53),)),
    ("dns.listen", '["0.0.0.0:53", "[::]:53"]', (ListenAddress("0.0.0.0", 53), ListenAddress("::", 53))),
    ("dns.listen", "[192.168.1.2]", (ListenAddress("192.168.1.2", 53),)),
    ("dns.listen", "[127.0.0.1:0]", (ListenAddress("127.0.0.1", 0),)),
    ("dns.udp_payload_size", "512", 512),
    ("dns.udp_payload_size", "4096", 4096),
    ("dns.tcp_idle_timeout", "0.5", 0.5),
    ("dns.tcp_idle_timeout", "300", 300.0),
    ("dns.tcp_max_connections", "1", 1),
    ("dns.tcp_max_connections", "65535", 65535),
    ("dns.tcp_max_per_client", "1", 1),
    ("dns.allow_clients", "[192.168.1.0/24]", (ipaddress.ip_network("192.168.1.0/24"),)),
    ("dns.allow_clients", "[192.168.1.20]", (ipaddress.ip_network("192.168.1.20/32"),)),
    ("dns.allow_clients", '["2001:db8::/32"]', (ipaddress.ip_network("2001:db8::/32"),)),
    ("upstream.servers", "[]", ()),
    ("upstream.servers", "[9.9.9.9]", (UpstreamServer("udp", "9.9.9.9", 53),)),
    (
        "upstream.servers",
        '["tls://9.9.9.9#dns.quad9.net", "https://dns.quad9.net/dns-query"]',
        (
            UpstreamServer("tls", "9.9.9.9", 853, tls_name="dns.quad9.net"),
            UpstreamServer("https", "dns.quad9.net", 443, "/dns-query", "dns.quad9.net"),
        ),
    ),
    (
        "upstream.servers",
        '[{address: "tls://9.9.9.9", tls_name: dns.quad9.net}]',
        (UpstreamServer("tls", "9.9.9.9", 853, tls_name="dns.quad9.net"),),
    ),
    (
        "upstream.servers",
        '[{address: "tls://9.9.9.9#dns.quad9.net", tls_name: dns.quad9.net}]',
        (UpstreamServer("tls", "9.9.9.9", 853, tls_name="dns.quad9.net"),),
    ),
    ("upstream.servers", '[{address: "9.9.9.9"}]', (UpstreamServer("udp", "9.9.9.9", 53),)),
    ("upstream.timeout", "0.05", 0.05),
    ("upstream.timeout", "30", 30.0),
    ("local.domain", "home", "home"),
    ("local.domain", "Fritz.Box.", "fritz.box"),
    ("local.router", "192.168.1.1", UpstreamServer("udp", "192.168.1.1", 53)),
    ("local.router", "udp://192.168.1.1:5353", UpstreamServer("udp", "192.168.1.1", 5353)),
    ("local.router", "~", None),
    ("cache.size", "0", 0),
    ("cache.size", "10000000", 10_000_000),
    ("cache.size", "1_000", 1000),
    ("cache.min_ttl", "0", 0),
    ("cache.min_ttl", "60", 60),
    ("cache.max_ttl", "86400", 86400),
    ("cache.max_ttl", "604800", 604800),
    ("cache.negative_max_ttl", "0", 0),
    ("cache.negative_max_ttl", "86400", 86400),
    ("cache.stale_ttl", "1", 1),
    ("cache.stale_ttl", "3600", 3600),
    ("cache.stale_max_age", "0", 0),
    ("cache.stale_max_age", "604800", 604800),
    ("blocking.mode", "null_ip", "null_ip"),
    ("blocking.mode", "nxdomain", "nxdomain"),
    ("blocking.mode", "NXDOMAIN", "nxdomain"),
    ("blocking.ttl", "0", 0),
    ("blocking.ttl", "86400", 86400),
    ("blocking.deny", "[example.org, example.net]", ("example.org", "example.net")),
    ("blocking.categories", "[adult, Gambling, proxy_vpn]", ("adult", "gambling", "proxy_vpn")),
    ("blocking.categories", "[]", ()),
    ("blocking.services", "[tiktok, roblox]", ("tiktok", "roblox")),
    ("blocking.max_answer_ttl", "0", 0),
    ("blocking.max_answer_ttl", "300", 300),
    # Unquoted, YAML reads on and off as true and false; the words are meant.
    ("blocking.safe_search", "on", "on"),
    ("blocking.safe_search", "off", "off"),
    ("blocking.safe_search", '"off"', "off"),
    ("blocking.safe_search", "Strict", "strict"),
    ("devices.trusted_forwarders", "[192.168.1.1, fd00::1]", ("192.168.1.1", "fd00::1")),
    ("devices.trusted_forwarders", '["[FD00::0001]"]', ("fd00::1",)),
    ("devices.dhcp_leases", "[/var/lib/misc/dnsmasq.leases]", ("/var/lib/misc/dnsmasq.leases",)),
    ("devices.dhcp_leases", "[]", ()),
    ("devices.odhcpd_leases", "[/tmp/hosts/odhcpd]", ("/tmp/hosts/odhcpd",)),
    ("devices.neighbour_table", "false", False),
    ("devices.refresh_seconds", "5", 5.0),
    ("devices.refresh_seconds", "3600", 3600.0),
    ("query_log.enabled", "false", False),
    ("query_log.retention_days", "30", 30),
    ("query_log.aggregate_days", "3650", 3650),
    ("query_log.flush_seconds", "0.2", 0.2),
    ("query_log.batch_size", "1000000", 1000000),
    ("query_log.queue_size", "100", 100),
    ("query_log.queue_bytes", "65536", 65536),
    ("query_log.instance", "pi-kitchen", "pi-kitchen"),
    ("lists.auto_update", "false", False),
    ("lists.update_interval_hours", "6", 6.0),
    ("lists.max_shrink", "0.25", 0.25),
    ("lists.download_timeout", "30", 30.0),
    ("web.listen", "0.0.0.0:80", ListenAddress("0.0.0.0", 80)),
    ("web.listen", "192.168.1.2", ListenAddress("192.168.1.2", 8080)),
    ("web.enabled", "false", False),
    ("web.hosts", "[filter.lan, Bộ-lọc.lan]", ("filter.lan", "xn--b-lc-ix5azc.lan")),
    ("web.tls", "self_signed", "self_signed"),
    ("web.certificate", "/etc/dnsfilter/web.pem", "/etc/dnsfilter/web.pem"),
    ("web.key", "/etc/dnsfilter/web.key", "/etc/dnsfilter/web.key"),
    ("web.listen", '"[::]:8443"', ListenAddress("::", 8443)),
    # On needs metrics_allow or metrics_token too (see test_metrics_on_needs_who_may_read_them).
    ("web.metrics", "off", False),
    ("web.metrics", "false", False),
    (
        "web.metrics_allow",
        "[192.168.1.10, 10.0.0.0/8]",
        (ipaddress.ip_network("192.168.1.10/32"), ipaddress.ip_network("10.0.0.0/8")),
    ),
    ("web.metrics_allow", '["fd00::/8"]', (ipaddress.ip_network("fd00::/8"),)),
    ("web.metrics_allow", "[]", ()),
    ("web.metrics_token", "0123456789abcdef0123456789abcdef", Secret("0123456789abcdef0123456789abcdef")),
    ("web.metrics_token", '"Zm9vYmFyYmF6cXV1eA=="', Secret("Zm9vYmFyYmF6cXV1eA==")),
    ("web.metrics_token", "12345678901234567890", Secret("12345678901234567890")),
    ("web.metrics_token", "~", None),
    (
        "database.url",
        "sqlite:////var/lib/dnsfilter/dnsfilter.db",
        "sqlite:////var/lib/dnsfilter/dnsfilter.db",
    ),
    ("database.url", "postgresql://dnsfilter@db.lan/dnsfilter", "postgresql://dnsfilter@db.lan/dnsfilter"),
    ("database.url", "postgresql+psycopg://u:p@db/dnsfilter", "postgresql+psycopg://u:p@db/dnsfilter"),
    ("database.url", "~", None),
    ("data_dir", "/var/lib/dnsfilter", Path("/var/lib/dnsfilter")),
    ("data_dir", "state", Path("state")),
    ("data_dir", "~/dnsfilter", Path.home() / "dnsfilter"),
    ("time_zone", "Europe/Berlin", "Europe/Berlin"),
    ("time_zone", "UTC", "UTC"),
    ("time_zone", "~", None),
    ("log_level", "debug", "debug"),
    ("log_level", "warning", "warning"),
    ("log_level", "error", "error"),
    ("log_level", "Info", "info"),
]


@pytest.mark.parametrize(
    ("path", "value", "expected"), VALID, ids=[f"{path}={value}" for path, value, _ in VALID]
)
def test_valid_value(path: str, value: str, expected: object) -> None:
    config = parse_config(config_setting(path, value))
    assert value_at(config, path) == expected
    assert type(value_at(config, path)) is type(expected)


def test_every_key_has_a_valid_value_tested() -> None:
    assert {path for path, _, _ in VALID} == {path for path, _ in DEFAULTS}


def test_cache_min_ttl_may_equal_max_ttl() -> None:
    config = parse_config("cache:\n  min_ttl: 300\n  max_ttl: 300\n")
    assert (config.cache.min_ttl, config.cache.max_ttl) == (300, 300)


# --- invalid values --------------------------------------------------------------

# (key, YAML value, path in the message when not the key itself, what the message says)
INVALID = [
    ("dns.listen", "127.0.0.1:53", None, "must be a list; write it in brackets: [127.0.0.1:53]"),
    ("dns.listen", "[5353]", "dns.listen[0]", "must be text, not the number 5353"),
    ("dns.listen", '["1.2.3.4:70000"]', "dns.listen[0]", "a port is a number from 0 to 65535"),
    ("dns.listen", "[localhost:53]", "dns.listen[0]", '"localhost" is not an IP address'),
    ("dns.listen", "[]", None, "give at least one address, such as 0.0.0.0:53"),
    ("dns.listen", "[127.0.0.1:53, 127.0.0.1:53]", None, "lists 127.0.0.1:53 more than once"),
    ("dns.udp_payload_size", "big", None, 'must be a whole number from 512 to 4096, not the text "big"'),
    ("dns.udp_payload_size", "511", None, "511 is out of range; use a whole number from 512 to 4096"),
    ("dns.udp_payload_size", "4097", None, "4097 is out of range; use a whole number from 512 to 4096"),
    ("dns.tcp_idle_timeout", "yes", None, "must be a number from 0.5 to 300, not yes (a yes/no value)"),
    ("dns.tcp_idle_timeout", "0.4", None, "0.4 is out of range; use a number from 0.5 to 300"),
    ("dns.tcp_idle_timeout", ".nan", None, ".nan is out of range; use a number from 0.5 to 300"),
    ("dns.tcp_max_connections", "1.5", None, "must be a whole number from 1 to 65535, not the number 1.5"),
    ("dns.tcp_max_connections", "0", None, "0 is out of range; use a whole number from 1 to 65535"),
    ("dns.tcp_max_connections", "65536", None, "65536 is out of range; use a whole number from 1 to 65535"),
    ("dns.tcp_max_per_client", "0", None, "0 is out of range; use a whole number from 1 to 65535"),
    ("dns.tcp_max_per_client", "many", None, 'must be a whole number from 1 to 65535, not the text "many"'),
    ("dns.allow_clients", "192.168.1.0/24", None, "must be a list; write it in brackets: [192.168.1.0/24]"),
    (
        "dns.allow_clients",
        "[{net: 1}]",
        "dns.allow_clients[0]",
        "must be a single value, not a section of keys",
    ),
    ("dns.allow_clients", "[300.1.1.0/24]", "dns.allow_clients[0]", "write one like 192.168.1.0/24"),
    ("dns.allow_clients", "[192.168.1.0/33]", "dns.allow_clients[0]", '"192.168.1.0/33" is not a network'),
    ("dns.allow_clients", "[]", None, "every device would be refused; list your home network"),
    ("upstream.servers", "9.9.9.9", None, "must be a list; write it in brackets: [9.9.9.9]"),
    ("upstream.servers", "[true]", "upstream.servers[0]", "must be text, not true (a yes/no value)"),
    ("upstream.servers", "[dns.google]", "upstream.servers[0]", "a plain DNS server needs an IP address"),
    ("upstream.servers", "[9.9.9.9:0]", "upstream.servers[0]", "a port is a number from 1 to 65535"),
    ("upstream.timeout", "slow", None, 'must be a number from 0.05 to 30, not the text "slow"'),
    ("upstream.timeout", "0.01", None, "0.01 is out of range; use a number from 0.05 to 30"),
    ("upstream.timeout", "31", None, "31 is out of range; use a number from 0.05 to 30"),
    ("local.domain", "5", None, "must be text, not the number 5; put it in quotes if it is meant as text"),
    ("local.domain", "home..lan", None, "has an empty part between two dots"),
    ("local.domain", "ho me", None, "use letters, digits, hyphens and dots"),
    ("local.domain", "a" * 64, None, "has a part longer than 63 characters"),
    ("local.router", "[192.168.1.1]", None, "must be a single value, not a list"),
    ("local.router", "tls://192.168.1.1", None, "write just its IP address, e.g. 192.168.1.1"),
    ("local.router", "router.lan", None, '"router.lan" is a host name, but a plain DNS server needs an IP'),
    ("local.router", "192.168.1.1:70000", None, "a port is a number from 1 to 65535"),
    ("cache.size", "true", None, "must be a whole number from 0 to 10000000, not true (a yes/no value)"),
    ("cache.size", "-1", None, "-1 is out of range; use a whole number from 0 to 10000000"),
    ("cache.size", "10000001", None, "10000001 is out of range; use a whole number from 0 to 10000000"),
    ("cache.min_ttl", "1m", None, 'must be a whole number from 0 to 86400, not the text "1m"'),
    ("cache.min_ttl", "86401", None, "86401 is out of range; use a whole number from 0 to 86400"),
    ("cache.max_ttl", "1.0", None, "must be a whole number from 1 to 604800, not the number 1.0"),
    ("cache.max_ttl", "0", None, "0 is out of range; use a whole number from 1 to 604800"),
    ("cache.max_ttl", "604801", None, "604801 is out of range; use a whole number from 1 to 604800"),
    ("cache.negative_max_ttl", "[1]", None, "must be a single value, not a list"),
    ("cache.negative_max_ttl", "-1", None, "-1 is out of range; use a whole number from 0 to 86400"),
    ("cache.negative_max_ttl", "86401", None, "86401 is out of range; use a whole number from 0 to 86400"),
    ("cache.stale_ttl", "no", None, "must be a whole number from 1 to 3600, not no (a yes/no value)"),
    ("cache.stale_ttl", "0", None, "0 is out of range; use a whole number from 1 to 3600"),
    ("cache.stale_ttl", "3601", None, "3601 is out of range; use a whole number from 1 to 3600"),
    ("cache.stale_max_age", "1d", None, 'must be a whole number from 0 to 604800, not the text "1d"'),
    ("cache.stale_max_age", "-1", None, "-1 is out of range; use a whole number from 0 to 604800"),
    ("cache.stale_max_age", "604801", None, "604801 is out of range; use a whole number from 0 to 604800"),
    ("blocking.mode", "0", None, "must be text, not the number 0"),
    ("blocking.mode", "block", None, '"block" is not allowed; use one of: null_ip, nxdomain'),
    ("blocking.safe_search", "true", None, '"true" is not allowed; use one of: off, on, strict'),
    ("blocking.safe_search", "[on]", None, "must be a single value, not a list"),
    ("blocking.ttl", "ten", None, 'must be a whole number from 0 to 86400, not the text "ten"'),
    ("blocking.ttl", "-1", None, "-1 is out of range; use a whole number from 0 to 86400"),
    ("blocking.ttl", "86401", None, "86401 is out of range; use a whole number from 0 to 86400"),
    ("blocking.deny", "example.org", None, "must be a list; write it in brackets: [example.org]"),
    ("blocking.deny", "[1]", "blocking.deny[0]", "must be text, not the number 1"),
    ("blocking.categories", "adult", None, "must be a list"),
    ("blocking.categories", '["adult content"]', "blocking.categories[0]", "is not a category or service name"),
    ("blocking.services", "[<b>]", "blocking.services[0]", "is not a category or service name"),
    ("blocking.services", "tiktok", None, "must be a list"),
    ("blocking.max_answer_ttl", "1m", None, 'must be a whole number from 0 to 86400, not the text "1m"'),
    ("blocking.max_answer_ttl", "86401", None, "86401 is out of range; use a whole number from 0 to 86400"),
    ("devices.trusted_forwarders", "192.168.1.1", None, "must be a list"),
    (
        "devices.trusted_forwarders",
        "[router.lan]",
        "devices.trusted_forwarders[0]",
        '"router.lan" is not an IP address; write one like 192.168.1.1',
    ),
    ("devices.trusted_forwarders", "[192.168.1.0/24]", "devices.trusted_forwarders[0]", "is not an IP address"),
    ("devices.dhcp_leases", '[""]', "devices.dhcp_leases[0]", "is empty; write a file path such as"),
    ("devices.dhcp_leases", "/tmp/dhcp.leases", None, "must be a list"),
    ("devices.odhcpd_leases", "[5]", "devices.odhcpd_leases[0]", "must be text, not the number 5"),
    ("devices.odhcpd_leases", "{a: 1}", None, "must be a list"),
    ("devices.neighbour_table", "sometimes", None, "must be true or false"),
    ("devices.neighbour_table", "[true]", None, "must be a single value, not a list"),
    ("devices.refresh_seconds", "1", None, "out of range"),
    ("devices.refresh_seconds", "often", None, "must be a number"),
    ("query_log.enabled", "maybe", None, "must be true or false"),
    ("query_log.enabled", "[true]", None, "must be a single value, not a list"),
    ("query_log.retention_days", "0", None, "0 is out of range; use a whole number from 1 to 365"),
    ("query_log.retention_days", "a week", None, "must be a whole number from 1 to 365"),
    ("query_log.aggregate_days", "3651", None, "out of range"),
    ("query_log.aggregate_days", "1.5", None, "must be a whole number"),
    ("query_log.flush_seconds", "0.1", None, "out of range"),
    ("query_log.flush_seconds", "soon", None, "must be a number"),
    ("query_log.batch_size", "5", None, "out of range"),
    ("query_log.batch_size", "1000001", None, "out of range"),
    ("query_log.batch_size", "[1]", None, "must be a single value"),
    ("query_log.queue_size", "10", None, "out of range"),
    ("query_log.queue_size", "lots", None, "must be a whole number"),
    ("query_log.queue_bytes", "1000", None, "out of range"),
    ("query_log.queue_bytes", "8MB", None, "must be a whole number"),
    ("query_log.instance", '""', None, "cannot name this filter"),
    ("query_log.instance", '"tab\\there"', None, "cannot name this filter"),
    ("lists.auto_update", "yes please", None, "must be true or false"),
    ("lists.auto_update", "1", None, "must be true or false"),
    ("lists.update_interval_hours", "0.5", None, "out of range"),
    ("lists.update_interval_hours", "daily", None, "must be a number"),
    ("lists.max_shrink", "1.5", None, "out of range"),
    ("lists.max_shrink", "[0.5]", None, "must be a single value"),
    ("lists.download_timeout", "fast", None, "must be a number"),
    ("lists.download_timeout", "1", None, "out of range"),
    ("blocking.deny", '["a..b"]', "blocking.deny[0]", '"a..b" has an empty part between two dots'),
    ("web.listen", "[127.0.0.1:8080]", None, "must be a single value, not a list"),
    ("web.listen", "localhost:8080", None, '"localhost" is not an IP address; listen on an address of this'),
    ("web.listen", "127.0.0.1:65536", None, 'has the port "65536"; a port is a number from 0 to 65535'),
    ("web.tls", '"yes"', None, "is not allowed; use one of: off, self_signed, files"),
    ("web.tls", "[files]", None, "must be a single value, not a list"),
    ("web.tls", "files", "web.tls", "give certificate: and key:"),
    ("web.hosts", "filter.lan", None, "must be a list"),
    ("web.hosts", "[http://filter.lan/]", "web.hosts[0]", "is a web address; write just the name: filter.lan"),
    ("web.enabled", "maybe", None, "must be true or false"),
    ("web.enabled", "[true]", None, "must be a single value, not a list"),
    ("web.certificate", '""', None, "is empty; write a file path"),
    ("web.certificate", "[a.pem]", None, "must be a single value, not a list"),
    ("web.key", '""', None, "is empty; write a file path"),
    ("web.key", "[a.pem]", None, "must be a single value, not a list"),
    ("web.metrics", "sometimes", None, "must be true or false"),
    ("web.metrics", "[on]", None, "must be a single value, not a list"),
    ("web.metrics", "on", None, "is on, so say who may read them: metrics_allow"),
    ("web.metrics_allow", "192.168.1.10", None, "must be a list; write it in brackets: [192.168.1.10]"),
    ("web.metrics_allow", "[prometheus.lan]", "web.metrics_allow[0]", '"prometheus.lan" is not a network'),
    ("web.metrics_allow", "[192.168.1.10/24]", "web.metrics_allow[0]", "write 192.168.1.0/24 for the whole network"),
    ("web.metrics_token", "[abcdefghijklmnopqrstuvwxyz]", None, "must be a single value, not a list"),
    ("web.metrics_token", "hunter2", None, "is too short to keep the metrics private (at least 16 characters)"),
    ("web.metrics_token", '"hunter2 hunter2 hunter2"', None, "may hold only letters, digits and - . _ ~ + /"),
    ("web.metrics_token", "x" * 257, None, "is longer than 256 characters"),
    ("database.url", "5", None, "must be text, not the number 5"),
    ("database.url", "mysql://db/dnsfilter", None, 'a database URL starting "mysql://" is not supported'),
    ("database.url", "sqlite://", None, "an SQLite URL is sqlite:/// followed by the file"),
    ("database.url", "sqlite:///", None, "sqlite:////var/lib/dnsfilter/dnsfilter.db"),
    ("database.url", "postgresql://", None, "a PostgreSQL URL needs a server and database"),
    ("database.url", "postgresql+asyncpg://db/x", None, "postgresql+psycopg:// is the only driver accepted"),
    ("database.url", "dnsfilter.db", None, "is not a database URL; write sqlite:////path/to/dnsfilter.db or"),
    ("data_dir", "[a, b]", None, "must be a single value, not a list"),
    ("data_dir", '""', None, "is empty; write a directory such as /var/lib/dnsfilter"),
    ("time_zone", "1", None, "must be text, not the number 1"),
    (
        "time_zone",
        "Mars/Olympus_Mons",
        None,
        '"Mars/Olympus_Mons" is not a time zone name; write the zone of the family\'s city, such as',
    ),
    ("log_level", "2", None, "must be text, not the number 2"),
    ("log_level", "verbose", None, '"verbose" is not allowed; use one of: debug, info, warning, error'),
]


@pytest.mark.parametrize(
    ("path", "value", "problem_path", "message"),
    INVALID,
    ids=[f"{path}={value}" for path, value, _, _ in INVALID],
)
def test_invalid_value(path: str, value: str, problem_path: str | None, message: str) -> None:
    problem = only_problem(config_setting(path, value))
    assert problem.startswith(f"{problem_path or path} (line {line_of_setting(path)}): "), problem
    assert message in problem


def test_every_key_has_a_bad_type_and_a_bad_value_tested() -> None:
    tested: dict[str, int] = {}
    for path, _, _, _ in INVALID:
        tested[path] = tested.get(path, 0) + 1
    assert {path: count for path, count in tested.items() if count >= 2}.keys() == {
        path for path, _ in DEFAULTS
    }


NOT_OPTIONAL = [path for path, default in DEFAULTS if default is not None]


@pytest.mark.parametrize("path", NOT_OPTIONAL, ids=NOT_OPTIONAL)
def test_null_is_an_error_where_a_value_is_needed(path: str) -> None:
    problem = only_problem(config_setting(path, "~"))
    assert problem.startswith(f"{path} (line {line_of_setting(path)}): has no value; "), problem
    assert problem.endswith(", or remove the line to use the default")
    if isinstance(value_at(DEFAULT_CONFIG, path), tuple):
        assert "write [] for an empty list" in problem


SECTIONS = ["dns", "upstream", "local", "cache", "blocking", "devices", "query_log", "lists", "web", "database"]


@pytest.mark.parametrize(
    ("value", "described"),
    [("[a, b]", "a list"), ("5", "the number 5"), ("on", "on (a yes/no value)"), ("text", 'the text "text"')],
    ids=["list", "number", "bool", "text"],
)
@pytest.mark.parametrize("section", SECTIONS)
def test_section_must_be_a_mapping(section: str, value: str, described: str) -> None:
    problem = only_problem(f"{HEADER}{section}: {value}\n")
    assert problem == (
        f"{section} (line {HEADER_LINES + 1}): "
        f"must be a section of keys (key: value on lines below it), not {described}"
    )


def test_file_must_be_a_mapping() -> None:
    assert only_problem("- dns\n- cache\n") == (
        "line 1: the file must hold sections such as dns: and upstream:, each with its keys below it"
    )


def test_cache_min_ttl_above_max_ttl() -> None:
    problem = only_problem("cache:\n  max_ttl: 60\n  min_ttl: 120\n")
    assert problem == (
        "cache.min_ttl (line 3): min_ttl (120) is larger than max_ttl (60); "
        "make min_ttl smaller or max_ttl larger"
    )


def test_unsupported_yaml_tag() -> None:
    assert only_problem("log_level: !level info\n") == (
        "log_level (line 1): uses the YAML tag !level, which is not supported here; remove the tag"
    )


# --- unknown and duplicate keys ----------------------------------------------------

UNKNOWN = [
    ("upstreams: []\n", "upstreams (line 1)", '"upstreams"; did you mean "upstream"?'),
    ("colour: red\n", "colour (line 1)", "the keys allowed here are: dns, upstream, local, cache, blocking,"),
    ("dns:\n  lisen: [127.0.0.1:53]\n", "dns.lisen (line 2)", 'did you mean "listen"?'),
    ("upstream:\n  server: []\n", "upstream.server (line 2)", 'did you mean "servers"?'),
    ("local:\n  domian: lan\n", "local.domian (line 2)", 'did you mean "domain"?'),
    ("cache:\n  max_tll: 5\n", "cache.max_tll (line 2)", 'did you mean "max_ttl"?'),
    ("blocking:\n  denied: []\n", "blocking.denied (line 2)", 'did you mean "deny"?'),
    ("web:\n  port: 80\n", "web.port (line 2)", "the keys allowed here are: enabled, listen, hosts, tls, certificate, key"),
    ("database:\n  uri: x\n", "database.uri (line 2)", 'did you mean "url"?'),
    (
        "upstream:\n  servers:\n    - {address: 9.9.9.9, tls-name: x}\n",
        "upstream.servers[0].tls-name (line 3)",
        'did you mean "tls_name"?',
    ),
    ("dns:\n  1: 2\n", "dns.1 (line 2)", 'unknown key "1"; the keys allowed here are: listen,'),
]


@pytest.mark.parametrize(
    ("text", "where", "message"), UNKNOWN, ids=[where.split(" ")[0] for _, where, _ in UNKNOWN]
)
def test_unknown_key(text: str, where: str, message: str) -> None:
    problem = only_problem(text)
    assert problem.startswith(f"{where}: unknown key "), problem
    assert message in problem


def test_key_must_be_a_name() -> None:
    assert only_problem("dns:\n  ? [a, b]\n  : 1\n") == "dns (line 2): a key must be a plain name, not a list"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "log_level: info\nlog_level: debug\n",
            'log_level (line 2): "log_level" is given twice (first on line 1); keep only one',
        ),
        (
            "cache:\n  size: 1\n\n  size: 2\n",
            'cache.size (line 4): "size" is given twice (first on line 2); keep only one',
        ),
        (
            "dns: {}\ncache: {}\ndns: {}\n",
            'dns (line 3): "dns" is given twice (first on line 1); keep only one',
        ),
    ],
    ids=["top-level", "nested", "section"],
)
def test_duplicate_key(text: str, problem: str) -> None:
    assert problems_in(text) == [problem]


def test_server_mapping_needs_an_address() -> None:
    assert only_problem("upstream:\n  servers:\n    - tls_name: dns.quad9.net\n") == (
        'upstream.servers[0] (line 3): the key "address" is missing; add it'
    )


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            "{address: 9.9.9.9, tls_name: dns.quad9.net}",
            "plain DNS servers have no certificate; remove tls_name",
        ),
        (
            "{address: tls://9.9.9.9#a.example, tls_name: b.example}",
            'already ends in "#a.example"; give the name in one',
        ),
        ("{address: tls://9.9.9.9, tls_name: 9.9.9.9}", 'the certificate name "9.9.9.9" is an IP address'),
        ("{address: tls://9.9.9.9, tls_name: 5}", "must be text, not the number 5"),
    ],
    ids=["udp", "given-twice", "ip", "number"],
)
def test_server_mapping_tls_name(entry: str, message: str) -> None:
    problem = only_problem(f"upstream:\n  servers:\n    - 9.9.9.9\n    - {entry}\n")
    assert problem.startswith("upstream.servers[1].tls_name (line 4): "), problem
    assert message in problem


# --- several problems, syntax, files ------------------------------------------------


def test_all_problems_reported_at_once_in_line_order() -> None:
    text = (
        "dns:\n"  # 1
        "  listen: [127.0.0.1:53, localhost]\n"  # 2
        "  udp_payload_size: 100\n"  # 3
        "upstream:\n"  # 4
        "  servers:\n"  # 5
        "    - 9.9.9.9\n"  # 6
        '    - "tls://"\n'  # 7
        "  timeout: fast\n"  # 8
        "cache:\n"  # 9
        "  size: true\n"  # 10
        "blocking:\n"  # 11
        "  mode: block\n"  # 12
        "loglevel: debug\n"  # 13
    )
    assert problems_in(text) == [
        (
            'dns.listen[1] (line 2): "localhost" is not an IP address; listen on an address of this machine, '
            "such as 127.0.0.1:53 or 0.0.0.0:53 (all IPv4 addresses)"
        ),
        "dns.udp_payload_size (line 3): 100 is out of range; use a whole number from 512 to 4096",
        'upstream.servers[1] (line 7): "tls://" has no host name; write it as tls://HOST[:PORT]',
        'upstream.timeout (line 8): must be a number from 0.05 to 30, not the text "fast"',
        "cache.size (line 10): must be a whole number from 0 to 10000000, not true (a yes/no value)",
        'blocking.mode (line 12): "block" is not allowed; use one of: null_ip, nxdomain',
        'loglevel (line 13): unknown key "loglevel"; did you mean "log_level"?',
    ]


def test_config_error_message_lists_every_problem() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config("cache:\n  size: -1\n  stale_ttl: 0\n", source="home.yaml")
    assert str(caught.value) == (
        "home.yaml: 2 problem(s) in the configuration:\n"
        "  - cache.size (line 2): -1 is out of range; use a whole number from 0 to 10000000\n"
        "  - cache.stale_ttl (line 3): 0 is out of range; use a whole number from 1 to 3600"
    )


@pytest.mark.parametrize(
    ("text", "start", "hint"),
    [
        (
            "dns:\n  listen: [127.0.0.1:53\ncache: {}\n",
            "line 3: this is not valid YAML",
            "check the indentation",
        ),
        (
            "dns:\n  listen: x\n   udp_payload_size: 5\n",
            "line 3: this is not valid YAML",
            "check the indentation",
        ),
        ("dns:\n\tlisten: x\n", "line 2: this is not valid YAML", "indent with spaces, not tabs"),
        ('log_level: "info\n', "line 2: this is not valid YAML", "quotes"),
        ("a: 1\n---\nb: 2\n", "line 2: this is not valid YAML", 'keep one document: remove the "---" line'),
    ],
    ids=["unclosed-bracket", "bad-indent", "tab", "unclosed-quote", "two-documents"],
)
def test_yaml_syntax_error_has_its_line(text: str, start: str, hint: str) -> None:
    problem = only_problem(text)
    assert problem.startswith(start), problem
    assert hint in problem


def test_load_config_reads_the_file(tmp_path: Path) -> None:
    path = tmp_path / "dnsfilter.yaml"
    path.write_text("cache:\n  size: 5\n", encoding="utf-8")
    assert load_config(path).cache.size == 5
    assert load_config(str(path)).cache.size == 5


def test_load_config_error_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "dnsfilter.yaml"
    path.write_text("cache:\n  size: -5\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.source == str(path)
    assert caught.value.problems == [
        "cache.size (line 2): -5 is out of range; use a whole number from 0 to 10000000"
    ]


def test_load_config_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "missing.yaml"
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.source == str(path)
    assert caught.value.problems == [
        "the file does not exist; copy config/dnsfilter.yaml there, or give the right path"
    ]


def test_load_config_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path)
    assert caught.value.problems == ["is a directory; give the path of the configuration file itself"]


def test_load_config_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("local:\n  domain: köln\n".encode("latin-1"))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.problems == ["is not UTF-8 text (a bad byte at position 18); save it as UTF-8"]


def test_load_config_accepts_a_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "dnsfilter.yaml"
    path.write_bytes(b"\xef\xbb\xbflog_level: debug\n")
    assert load_config(path).log_level == "debug"


# --- upstream text forms ---------------------------------------------------------------

UPSTREAMS = [
    ("9.9.9.9", UpstreamServer("udp", "9.9.9.9", 53), "9.9.9.9:53"),
    ("9.9.9.9:5353", UpstreamServer("udp", "9.9.9.9", 5353), "9.9.9.9:5353"),
    ("2620:fe::fe", UpstreamServer("udp", "2620:fe::fe", 53), "[2620:fe::fe]:53"),
    ("[2620:fe::fe]:53", UpstreamServer("udp", "2620:fe::fe", 53), "[2620:fe::fe]:53"),
    ("[2620:00fe:0::fe]", UpstreamServer("udp", "2620:fe::fe", 53), "[2620:fe::fe]:53"),
    ("fe80::1%eth0", UpstreamServer("udp", "fe80::1%eth0", 53), "[fe80::1%eth0]:53"),
    ("udp://9.9.9.9", UpstreamServer("udp", "9.9.9.9", 53), "9.9.9.9:53"),
    ("UDP://9.9.9.9:54", UpstreamServer("udp", "9.9.9.9", 54), "9.9.9.9:54"),
    (" 9.9.9.9 ", UpstreamServer("udp", "9.9.9.9", 53), "9.9.9.9:53"),
    ("tcp://9.9.9.9", UpstreamServer("tcp", "9.9.9.9", 53), "tcp://9.9.9.9:53"),
    ("tcp://[2620:fe::fe]:5353", UpstreamServer("tcp", "2620:fe::fe", 5353), "tcp://[2620:fe::fe]:5353"),
    ("tls://9.9.9.9", UpstreamServer("tls", "9.9.9.9", 853), "tls://9.9.9.9:853"),
    (
        "tls://9.9.9.9#dns.quad9.net",
        UpstreamServer("tls", "9.9.9.9", 853, tls_name="dns.quad9.net"),
        "tls://9.9.9.9:853#dns.quad9.net",
    ),
    (
        "tls://dns.quad9.net:8853",
        UpstreamServer("tls", "dns.quad9.net", 8853, tls_name="dns.quad9.net"),
        "tls://dns.quad9.net:8853",
    ),
    (
        "tls://[2620:fe::fe]#DNS.Quad9.net.",
        UpstreamServer("tls", "2620:fe::fe", 853, tls_name="dns.quad9.net"),
        "tls://[2620:fe::fe]:853#dns.quad9.net",
    ),
    (
        "tls://one.example#two.example",
        UpstreamServer("tls", "one.example", 853, tls_name="two.example"),
        "tls://one.example:853#two.example",
    ),
    (
        "https://dns.google/dns-query",
        UpstreamServer("https", "dns.google", 443, "/dns-query", "dns.google"),
        "https://dns.google/dns-query",
    ),
    (
        "https://dns.quad9.net",
        UpstreamServer("https", "dns.quad9.net", 443, "/dns-query", "dns.quad9.net"),
        "https://dns.quad9.net/dns-query",
    ),
    (
        "https://doh.cleanbrowsing.org/doh/family-filter/",
        UpstreamServer("https", "doh.cleanbrowsing.org", 443, "/doh/family-filter/", "doh.cleanbrowsing.org"),
        "https://doh.cleanbrowsing.org/doh/family-filter/",
    ),
    (
        "https://9.9.9.9:8443/dns-query#dns.quad9.net",
        UpstreamServer("https", "9.9.9.9", 8443, "/dns-query", "dns.quad9.net"),
        "https://9.9.9.9:8443/dns-query#dns.quad9.net",
    ),
    (
        "https://[2620:fe::fe]/",
        UpstreamServer("https", "2620:fe::fe", 443, "/", None),
        "https://[2620:fe::fe]/",
    ),
    (
        "https://bücher.example/dns-query",
        UpstreamServer("https", "xn--bcher-kva.example", 443, "/dns-query", "xn--bcher-kva.example"),
        "https://xn--bcher-kva.example/dns-query",
    ),
]


@pytest.mark.parametrize(("text", "expected", "canonical"), UPSTREAMS, ids=[row[0] for row in UPSTREAMS])
def test_upstream_text_form(text: str, expected: UpstreamServer, canonical: str) -> None:
    upstream = parse_upstream(text)
    assert upstream == expected
    assert str(upstream) == canonical
    assert parse_upstream(canonical) == upstream


BAD_UPSTREAMS = [
    ("", "is empty; write a server such as 9.9.9.9 or tls://9.9.9.9#dns.quad9.net"),
    ("tls://", '"tls://" has no host name; write it as tls://HOST[:PORT]'),
    ("https://", '"https://" has no host name; write it as https://HOST[:PORT]/PATH'),
    ("tcp://", '"tcp://" has no host name; write it as tcp://IP[:PORT]'),
    ("https:///dns-query", '"https:///dns-query" has no host name'),
    ("tls://:853", '"tls://:853" has no host name'),
    (
        "dns.quad9.net",
        (
            '"dns.quad9.net" is a host name, but a plain DNS server needs an IP address (finding it by name '
            "would itself need DNS); write its IP address, or use tls://dns.quad9.net"
        ),
    ),
    ("tcp://dns.quad9.net", '"dns.quad9.net" is a host name, but a plain DNS server needs an IP address'),
    ("999.9.9.9", '"999.9.9.9" is not a valid IP address; check the numbers'),
    ("quic://9.9.9.9", '"quic://" is not supported; use udp://, tcp://, tls:// or https://'),
    ("9.9.9.9:0", 'has the port "0"; a port is a number from 1 to 65535'),
    ("9.9.9.9:65536", 'has the port "65536"; a port is a number from 1 to 65535'),
    ("9.9.9.9:dns", 'has the port "dns"'),
    ("9.9.9.9:", 'has the port ""'),
    ("[2620:fe::fe:53", 'is missing the closing "]" after the IPv6 address'),
    ("[9.9.9.9]:53", "brackets are only for IPv6 addresses, like [2620:fe::fe]:53"),
    ("[2620:fe::fe]53", 'only ":PORT" may follow the "]"'),
    (
        "9.9.9.9#dns.quad9.net",
        'only tls:// and https:// servers have a certificate name; remove "#dns.quad9.net"',
    ),
    ("tls://9.9.9.9#", 'has nothing after "#"; write the certificate name there, or remove the "#"'),
    ("tls://9.9.9.9#1.1.1.1", 'the certificate name "1.1.1.1" is an IP address'),
    (
        "tls://9.9.9.9/dns-query",
        "has a path, but only https:// servers have one; write it as tls://HOST[:PORT]",
    ),
    ("https://dns.google/dns-query?dns=x", 'has an unusable path "/dns-query?dns=x"'),
    ("tls://dns..quad9.net", '"dns..quad9.net" has an empty part between two dots'),
    ("tls://dns.qu@d9.net", "use letters, digits, hyphens and dots"),
    ("9.9.9.9 149.112.112.112", "contains a space; write one server per entry"),
]


@pytest.mark.parametrize(("text", "message"), BAD_UPSTREAMS, ids=[row[0] or "empty" for row in BAD_UPSTREAMS])
def test_bad_upstream_text(text: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_upstream(text)
    assert message in str(caught.value)


def test_upstream_error_in_the_file_has_path_and_line() -> None:
    text = "upstream:\n  servers:\n    - 9.9.9.9\n    - tls://\n"
    assert (
        only_problem(text)
        == 'upstream.servers[1] (line 4): "tls://" has no host name; write it as tls://HOST[:PORT]'
    )


# --- listen addresses ----------------------------------------------------------------

LISTENS = [
    ("127.0.0.1:5353", ListenAddress("127.0.0.1", 5353), "127.0.0.1:5353"),
    ("[::1]:53", ListenAddress("::1", 53), "[::1]:53"),
    ("0.0.0.0:53", ListenAddress("0.0.0.0", 53), "0.0.0.0:53"),
    ("::", ListenAddress("::", 53), "[::]:53"),
    ("[::]", ListenAddress("::", 53), "[::]:53"),
    ("192.168.1.2", ListenAddress("192.168.1.2", 53), "192.168.1.2:53"),
    ("127.0.0.1:0", ListenAddress("127.0.0.1", 0), "127.0.0.1:0"),
    ("[0:0::1]:65535", ListenAddress("::1", 65535), "[::1]:65535"),
]


@pytest.mark.parametrize(("text", "expected", "canonical"), LISTENS, ids=[row[0] for row in LISTENS])
def test_listen_form(text: str, expected: ListenAddress, canonical: str) -> None:
    listen = parse_listen(text)
    assert listen == expected
    assert str(listen) == canonical
    assert parse_listen(canonical) == listen


BAD_LISTENS = [
    ("", "is empty; write an address and port such as 127.0.0.1:53 or [::1]:53"),
    (":53", '":53" has no address; write 0.0.0.0:53 for every IPv4 address of this machine, or [::]:53'),
    ("localhost:53", '"localhost" is not an IP address; listen on an address of this machine'),
    ("127.0.0.1:65536", 'has the port "65536"; a port is a number from 0 to 65535'),
    ("127.0.0.1:-1", 'has the port "-1"'),
    ("[::1", 'is missing the closing "]"'),
    ("[127.0.0.1]:53", "brackets are only for IPv6 addresses"),
]


@pytest.mark.parametrize(("text", "message"), BAD_LISTENS, ids=[row[0] or "empty" for row in BAD_LISTENS])
def test_bad_listen(text: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_listen(text)
    assert message in str(caught.value)


# --- client networks and the deny list --------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            "192.168.1.5/24",
            (
                '"192.168.1.5/24" is not the start of its network; '
                "write 192.168.1.0/24 for the whole network, or 192.168.1.5 alone for that one address"
            ),
        ),
        ("10.1.2.3/8", "write 10.0.0.0/8 for the whole network, or 10.1.2.3 alone"),
        ("2001:db8::1/64", "write 2001:db8::/64 for the whole network, or 2001:db8::1 alone"),
    ],
    ids=["ipv4-24", "ipv4-8", "ipv6"],
)
def test_allow_clients_with_host_bits(entry: str, message: str) -> None:
    problem = only_problem(f'dns:\n  allow_clients:\n    - "{entry}"\n')
    assert problem.startswith("dns.allow_clients[0] (line 3): "), problem
    assert message in problem


DENY = [
    ("example.org", "example.org"),
    ("Example.ORG", "example.org"),
    ("example.org.", "example.org"),
    ("*.example.org", "example.org"),
    ("*.Example.org.", "example.org"),
    ("bücher.example", "xn--bcher-kva.example"),
    ("BÜCHER.example.", "xn--bcher-kva.example"),
    ("例え.テスト", "xn--r8jz45g.xn--zckzah"),
    ("_dmarc.example.org", "_dmarc.example.org"),
    ("localhost", "localhost"),
    ("a" * 63 + ".example", "a" * 63 + ".example"),
    (".".join(["a" * 63] * 3 + ["b" * 61]), ".".join(["a" * 63] * 3 + ["b" * 61])),
]


@pytest.mark.parametrize(("entry", "normalised"), DENY, ids=[row[0][:30] for row in DENY])
def test_deny_entry_normalised(entry: str, normalised: str) -> None:
    config = parse_config(f'blocking:\n  deny:\n    - "{entry}"\n')
    assert config.blocking.deny == (normalised,)


BAD_DENY = [
    ("", "is empty; write a name such as example.org"),
    ("*", '"*": a * is only allowed at the start, as in *.example.org'),
    ("ex*ample.org", "a * is only allowed at the start, as in *.example.org"),
    ("*.*.example.org", "a * is only allowed at the start"),
    ("example..org", "has an empty part between two dots; remove the extra dot"),
    (".example.org", "has an empty part between two dots"),
    ("a" * 64 + ".example", "has a part longer than 63 characters"),
    (".".join(["a" * 63] * 3 + ["b" * 62]), "is longer than the 253 characters a DNS name may have"),
    ("exa mple.org", "use letters, digits, hyphens and dots"),
    ("ex@mple.org", "use letters, digits, hyphens and dots"),
    (
        "https://www.example.org/page",
        '"https://www.example.org/page" is a web address; write just the name: www.example.org',
    ),
    ("192.168.1.1", '"192.168.1.1" is an IP address; the deny list holds names such as example.org'),
]


@pytest.mark.parametrize(("entry", "message"), BAD_DENY, ids=[row[0][:30] or "empty" for row in BAD_DENY])
def test_bad_deny_entry(entry: str, message: str) -> None:
    problem = only_problem(f'blocking:\n  deny:\n    - example.net\n    - "{entry}"\n')
    assert problem.startswith("blocking.deny[1] (line 4): "), problem
    assert message in problem


def test_time_zone_suggests_the_closest_name() -> None:
    assert only_problem("time_zone: Europe/Berln\n") == (
        'time_zone (line 1): "Europe/Berln" is not a time zone name; did you mean Europe/Berlin?'
    )


def test_metrics_on_needs_who_may_read_them() -> None:
    allowed = parse_config("web:\n  metrics: on\n  metrics_allow: [192.168.1.10]\n").web
    assert (allowed.metrics, allowed.metrics_token) == (True, None)
    with_token = parse_config("web:\n  metrics: on\n  metrics_token: 0123456789abcdef0123\n").web
    assert (with_token.metrics, with_token.metrics_allow, with_token.metrics_token) == (True, (), "0123456789abcdef0123")


@pytest.mark.parametrize(
    "token",
    [
        "hunter2hunter",
        "hunter2 hunter2 hunter2 hunter2",
        "hunter2hunter2" * 20,
        "[hunter2hunter2hunter2]",
        "!tag hunter2hunter2hunter2",
    ],
    ids=["short", "space", "long", "list", "tag"],
)
def test_metrics_token_errors_do_not_repeat_the_token(token: str) -> None:
    problem = only_problem(f"web:\n  metrics_token: {token}\n")
    assert problem.startswith("web.metrics_token (line 2): "), problem
    assert "hunter2" not in problem


def test_metrics_token_is_hidden_when_printed() -> None:
    config = parse_config("web:\n  metrics: on\n  metrics_token: hunter2hunter2hunter2\n")
    assert config.web.metrics_token == "hunter2hunter2hunter2"
    assert "hunter2" not in repr(config) and "hunter2" not in f"{config.web.metrics_token} {config}"


def test_database_url_error_does_not_repeat_the_password() -> None:
    problem = only_problem("database:\n  url: postgres://dnsfilter:hunter2@db.lan/dnsfilter\n")
    assert "hunter2" not in problem
    assert 'write "postgresql", not "postgres"' in problem


def test_ints_are_accepted_where_numbers_are_expected() -> None:
    timeout = parse_config("upstream:\n  timeout: 3\n").upstream.timeout
    assert timeout == 3.0
    assert type(timeout) is float


# --- the machine's own resolvers ---------------------------------------------------------

ADVICE = "add upstream servers to the config, for example upstream: {servers: [9.9.9.9]}"

RESOLV_CONF = """\
# Generated by NetworkManager
search lan example.org
nameserver 192.168.1.1   # the router
; nameserver 10.0.0.1
nameserver 2620:fe::fe
nameserver fe80::1%eth0
nameserver not-an-address
nameserver
options edns0 trust-ad
nameserver 192.168.1.1
"""


def write_resolv_conf(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "resolv.conf"
    path.write_text(text, encoding="utf-8")
    return path


def test_system_upstreams_reads_nameservers(tmp_path: Path) -> None:
    servers = system_upstreams(write_resolv_conf(tmp_path, RESOLV_CONF))
    assert servers == (
        UpstreamServer("udp", "192.168.1.1", 53),
        UpstreamServer("udp", "2620:fe::fe", 53),
        UpstreamServer("udp", "fe80::1%eth0", 53),
    )


@pytest.mark.parametrize(
    ("nameservers", "listen", "expected"),
    [
        (["127.0.0.1", "9.9.9.9"], ["127.0.0.1:53"], ["9.9.9.9"]),
        (["127.0.0.1", "9.9.9.9"], ["127.0.0.1:5353"], ["127.0.0.1", "9.9.9.9"]),
        (["127.0.0.53", "9.9.9.9"], ["127.0.0.1:53"], ["127.0.0.53", "9.9.9.9"]),
        (["127.0.0.53", "::1", "9.9.9.9"], ["0.0.0.0:53"], ["::1", "9.9.9.9"]),
        (["127.0.0.1", "::1", "9.9.9.9"], ["[::]:53"], ["9.9.9.9"]),
        (["192.168.1.2", "192.168.1.1"], ["192.168.1.2:53", "[::1]:53"], ["192.168.1.1"]),
        (["::1", "9.9.9.9"], ["[::1]:53"], ["9.9.9.9"]),
        (["127.0.0.1", "127.0.0.1", "9.9.9.9", "9.9.9.9"], ["127.0.0.1:53"], ["9.9.9.9"]),
    ],
    ids=[
        "loopback",
        "other-port",
        "other-loopback",
        "all-ipv4",
        "all-addresses",
        "lan-address",
        "ipv6-loopback",
        "repeats",
    ],
)
def test_system_upstreams_skips_this_filter(
    tmp_path: Path, nameservers: list[str], listen: list[str], expected: list[str]
) -> None:
    path = write_resolv_conf(tmp_path, "".join(f"nameserver {server}\n" for server in nameservers))
    servers = system_upstreams(path, exclude=[parse_listen(text) for text in listen])
    assert [server.host for server in servers] == expected


def test_system_upstreams_none_left_because_it_is_us(tmp_path: Path) -> None:
    path = write_resolv_conf(tmp_path, "nameserver 127.0.0.1\nnameserver 127.0.0.1\n")
    with pytest.raises(ConfigError) as caught:
        system_upstreams(path, exclude=[ListenAddress("127.0.0.1", 53)])
    assert caught.value.problems == [
        f"no usable nameserver in {path} (only 127.0.0.1, which is this filter itself); {ADVICE}"
    ]


@pytest.mark.parametrize(
    "text",
    ["", "# nameserver 9.9.9.9\nsearch lan\n", "nameserver bad\n"],
    ids=["empty", "comments", "invalid"],
)
def test_system_upstreams_none_listed(tmp_path: Path, text: str) -> None:
    path = write_resolv_conf(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        system_upstreams(path)
    assert caught.value.problems == [f"no usable nameserver in {path}; {ADVICE}"]


def test_system_upstreams_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "missing.conf"
    with pytest.raises(ConfigError) as caught:
        system_upstreams(path)
    assert caught.value.problems == [f"cannot read {path} (No such file or directory); {ADVICE}"]
