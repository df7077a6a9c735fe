"""``dnsfilter check-config``: every problem of a configuration file, or what it sets up."""

from __future__ import annotations

from pathlib import Path

from dnsfilter.config import load_config
from dnsfilter.lists.catalog import BLOCKLISTS_DIR, load_catalog
from dnsfilter.service.defaultprofile import default_profile_tags


def check_config(path: Path, catalog_dir: Path = BLOCKLISTS_DIR) -> str:
    """What the valid configuration at ``path`` sets up; ConfigError lists every problem."""
    config = load_config(path)
    # Names of categories and services are checked against the catalog too.
    default_profile_tags(config.blocking, load_catalog(catalog_dir), str(path))
    listen = ", ".join(str(address) for address in config.dns.listen)
    upstreams = ", ".join(str(server) for server in config.upstream.servers) or "this machine's resolvers"
    return f"{path}: the configuration is valid.\n  DNS on {listen}; upstream: {upstreams}; data in {config.data_dir}"
