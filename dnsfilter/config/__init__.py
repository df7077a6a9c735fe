"""The configuration file: how this instance runs (listen addresses, upstreams,
database, data directory, lists, log, web page), never the family's policy.

May import ``dns``'s value types, ``policy``'s name rules and ``yamlschema``;
imported by ``service``, ``cli`` and ``web`` only.
"""

from __future__ import annotations

from dnsfilter.config.loading import load_config, parse_config
from dnsfilter.config.settings import (
    DATABASE_FILE,
    DEFAULT_CONFIG,
    BlockingSettings,
    CacheSettings,
    Config,
    DatabaseSettings,
    DevicesSettings,
    DnsSettings,
    ListsSettings,
    LocalSettings,
    QueryLogSettings,
    UpstreamSettings,
    WebSettings,
)
from dnsfilter.config.system import system_upstreams
from dnsfilter.config.values import ListenAddress, parse_listen, parse_upstream

__all__ = [
    "DATABASE_FILE",
    "DEFAULT_CONFIG",
    "BlockingSettings",
    "CacheSettings",
    "Config",
    "DatabaseSettings",
    "DevicesSettings",
    "DnsSettings",
    "ListenAddress",
    "ListsSettings",
    "LocalSettings",
    "QueryLogSettings",
    "UpstreamSettings",
    "WebSettings",
    "load_config",
    "parse_config",
    "parse_listen",
    "parse_upstream",
    "system_upstreams",
]
