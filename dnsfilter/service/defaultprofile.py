"""What is blocked for every device until people and profiles exist.

The config's ``blocking.categories`` (or, when unset, the catalog's
categories that are harmful to children or a security risk) and
``blocking.services``, checked against the catalog so a typo is reported
instead of silently blocking nothing; and ``blocking.safe_search``, given to
the default profile of a new database with those tags.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from dnsfilter.config import BlockingSettings
from dnsfilter.errors import ConfigError
from dnsfilter.lists.catalog import Catalog
from dnsfilter.policy.safesearch import SafeSearchLevel
from dnsfilter.policy.tags import service_tag
from dnsfilter.store import PolicyStore


def default_profile_tags(blocking: BlockingSettings, catalog: Catalog, source: str) -> frozenset[str]:
    """The tags blocked for every device; ConfigError names every unknown id."""
    if blocking.categories is None:
        chosen = catalog.default_blocked(safe_search=blocking.safe_search != SafeSearchLevel.OFF)
    else:
        chosen = frozenset(blocking.categories)
    problems = [
        f"blocking.{key}[{index}]: {message}"
        for key, names in (("categories", blocking.categories or ()), ("services", blocking.services))
        for index, name in enumerate(names)
        if (message := unknown_name(key, name, catalog)) is not None
    ]
    if problems:
        raise ConfigError(source, problems)
    return chosen | {service_tag(name) for name in blocking.services}


def unknown_name(key: str, name: str, catalog: Catalog) -> str | None:
    """Why ``name`` under ``blocking.<key>`` (categories or services) is not in the catalog; None if it is."""
    if key == "categories":
        kind, known = "category", {category.id for category in catalog.categories}
    else:
        kind, known = "service", {service.id for service in catalog.services}
    if name in known:
        return None
    close = difflib.get_close_matches(name, sorted(known), n=3)
    hint = f"did you mean {' or '.join(close)}?" if close else f"see blocklists/ for the {kind} names"
    return f'there is no {kind} called "{name}"; {hint}'


def set_up_default_profile(store: PolicyStore, tags: Iterable[str], blocking: BlockingSettings) -> bool:
    """Give a new database's default profile the configured tags, block mode and safe search,
    once (False when that was already done): a parent's later choices are never overwritten."""
    return store.set_up_default_profile(tags, blocking.mode, str(blocking.safe_search))
