"""What is blocked for every device until people and profiles exist.

The config's ``blocking.categories`` (or, when unset, the catalog's
categories that are harmful to children or a security risk) and
``blocking.services``, checked against the catalog so a typo is reported
instead of silently blocking nothing.
"""

from __future__ import annotations

import difflib

from dnsfilter.config import BlockingSettings
from dnsfilter.errors import ConfigError
from dnsfilter.lists.catalog import Catalog
from dnsfilter.policy.tags import service_tag


def default_profile_tags(blocking: BlockingSettings, catalog: Catalog, source: str) -> frozenset[str]:
    """The tags blocked for every device; ConfigError names every unknown id."""
    categories = {category.id for category in catalog.categories}
    services = {service.id for service in catalog.services}
    chosen = catalog.default_blocked() if blocking.categories is None else frozenset(blocking.categories)
    problems = [
        _unknown(f"blocking.categories[{i}]", name, "category", categories)
        for i, name in enumerate(blocking.categories or ())
        if name not in categories
    ]
    problems += [
        _unknown(f"blocking.services[{i}]", name, "service", services)
        for i, name in enumerate(blocking.services)
        if name not in services
    ]
    if problems:
        raise ConfigError(source, problems)
    return chosen | {service_tag(name) for name in blocking.services}


def _unknown(path: str, name: str, kind: str, known: set[str]) -> str:
    close = difflib.get_close_matches(name, sorted(known), n=3)
    hint = f"did you mean {' or '.join(close)}?" if close else f"see blocklists/ for the {kind} names"
    return f'{path}: there is no {kind} called "{name}"; {hint}'
