"""``dnsfilter check-config``: every problem of a configuration file, or what it sets up."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from dnsfilter.config import Config, load_config
from dnsfilter.config.settings import parse_tag_id
from dnsfilter.config.system import utc_time_zone_warning
from dnsfilter.errors import ConfigError
from dnsfilter.lists.catalog import BLOCKLISTS_DIR, Catalog, load_catalog
from dnsfilter.service.defaultprofile import unknown_name
from dnsfilter.yamlread import compose
from dnsfilter.yamlschema import STR_TAG, Invalid, Problems, mapping_value


def check_config(path: Path, catalog_dir: Path = BLOCKLISTS_DIR) -> str:
    """What the valid configuration at ``path`` sets up; ConfigError lists every problem,
    names the catalog does not know among them, each with its line."""
    config: Config | None = None
    problems: list[str]
    try:
        config = load_config(path)
        source, problems = str(path), []
    except ConfigError as error:
        source, problems = error.source, error.problems
    problems += unknown_catalog_names(path, load_catalog(catalog_dir)).messages
    if problems or config is None:
        raise ConfigError(source, sorted(problems, key=_line))
    listen = ", ".join(str(address) for address in config.dns.listen)
    upstreams = ", ".join(str(server) for server in config.upstream.servers) or "this machine's resolvers"
    report = f"{path}: the configuration is valid.\n  DNS on {listen}; upstream: {upstreams}; data in {config.data_dir}"
    # The database, where the web page keeps its choice, is not opened here.
    warning = utc_time_zone_warning(config.time_zone, config.zone, web_page_unknown=True)
    if warning is not None:
        report += f"\n  warning: {warning}"
    return report


def unknown_catalog_names(path: Path, catalog: Catalog) -> Problems:
    """The entries of ``blocking.categories`` and ``blocking.services`` the catalog does not
    know, at their lines. Read from the file's nodes, so they are found even when other
    keys have problems; a file that cannot be read has none (load_config says why)."""
    found = Problems()
    try:
        root = compose(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, Invalid):
        return found
    for key in ("categories", "services"):
        names = mapping_value(mapping_value(root, "blocking"), key)
        if not isinstance(names, yaml.SequenceNode):
            continue
        for index, item in enumerate(names.value):
            if not (isinstance(item, yaml.ScalarNode) and item.tag == STR_TAG):
                continue  # not a name at all: load_config reports it
            try:
                message = unknown_name(key, parse_tag_id(item.value), catalog)
            except ValueError:
                continue  # likewise
            if message is not None:
                found.add(f"blocking.{key}[{index}]", item, message)
    return found


def _line(problem: str) -> int:
    # Problems are formatted "path (line N): ..." or "line N: ...", or have no line (0).
    match = re.match(r"[^:]*?\(line (\d+)\)|line (\d+):", problem)
    return int(match.group(1) or match.group(2)) if match else 0
