"""The blocklist catalog: categories, their list sources, and apps/services.

``blocklists/catalog.yaml`` names the categories a parent can block (each
with a kind, and a title and description in English and Vietnamese) and,
per category, the lists its domains come from. ``blocklists/services/*.yaml``
define apps and services (TikTok, Zalo...) as adblock rules. ``load_catalog``
reads and checks all of it with the same machinery as the configuration file
(``dnsfilter.yamlschema``): every mistake in every file is reported at once, with its
file, dotted path and line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, TypeVar

import yaml

from dnsfilter import shipped_folder
from dnsfilter.errors import CatalogError
from dnsfilter.lists.catalogfiles import (
    KINDS,
    CatalogFile,
    ProviderEntry,
    ServicesFile,
    record,
)
from dnsfilter.policy.tags import service_tag
from dnsfilter.yamlschema import (
    NULL_TAG,
    Convert,
    Invalid,
    Problems,
    mapping_value,
)

__all__ = [
    "BLOCKLISTS_DIR",
    "CATALOG_FILE",
    "KINDS",
    "Catalog",
    "Category",
    "Service",
    "Source",
    "load_catalog",
]

# The repository's blocklists/ folder, next to the package. dnsfilter runs
# from its source tree (an editable install, as bootstrap.sh sets up), so the
# folder is found relative to this file rather than installed as package data.
BLOCKLISTS_DIR: Final = shipped_folder("blocklists")

CATALOG_FILE: Final = "catalog.yaml"
SERVICES_DIR: Final = "services"

BLOCKED_BY_DEFAULT: Final = frozenset({"block", "security"})
# The search engines that offer no safe search: blocking them only protects
# while the others are held to their safe search.
SEARCH_WITHOUT_SAFE_SEARCH: Final = "search_no_safesearch"

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Category:
    id: str
    kind: str  # one of KINDS
    # Language code ("en", "vi") -> text. Left out of the hash: dicts have none.
    title: dict[str, str] = field(hash=False)
    description: dict[str, str] = field(hash=False)


@dataclass(frozen=True, slots=True)
class Source:
    """One list of domains for one category, as published upstream."""

    id: str
    category: str
    format: str  # one of dnsfilter.lists.formats.FORMATS
    subdomains: bool  # a listed name covers the names under it
    url: str
    license: str  # SPDX id
    attribution: str
    snapshot: str  # the bundled copy, relative to the blocklists folder
    expected_entries: int


@dataclass(frozen=True, slots=True)
class Service:
    """An app or service as adblock rules (read with ListParser("adblock", True))."""

    id: str
    name: str
    category: str
    rules: tuple[str, ...]
    origin: str  # "adguard" or "dnsfilter"
    source: str  # where the domains come from: a URL or a note


@dataclass(frozen=True, slots=True)
class Catalog:
    categories: tuple[Category, ...]
    sources: tuple[Source, ...]
    services: tuple[Service, ...]

    def category(self, id: str) -> Category:
        for category in self.categories:
            if category.id == id:
                return category
        raise KeyError(f"no category {id!r} in the catalog")

    def service(self, id: str) -> Service:
        for service in self.services:
            if service.id == id:
                return service
        raise KeyError(f"no service {id!r} in the catalog")

    def sources_of(self, category_id: str) -> tuple[Source, ...]:
        return tuple(source for source in self.sources if source.category == category_id)

    @property
    def tags(self) -> frozenset[str]:
        """Every tag a policy may name: category ids and ``service:<id>``."""
        return frozenset(c.id for c in self.categories) | frozenset(service_tag(s.id) for s in self.services)

    def default_blocked(self, safe_search: bool = True) -> frozenset[str]:
        """The categories a new profile blocks: those harmful to children or a security risk,
        less the search engines without safe search when the profile has safe search off."""
        blocked = frozenset(c.id for c in self.categories if c.kind in BLOCKED_BY_DEFAULT)
        return blocked if safe_search else blocked - {SEARCH_WITHOUT_SAFE_SEARCH}


# --- reading and checking -------------------------------------------------------


def load_catalog(directory: Path = BLOCKLISTS_DIR) -> Catalog:
    """Read and check ``catalog.yaml`` and ``services/*.yaml`` in ``directory``.

    CatalogError lists every problem in every file at once.
    """
    directory = Path(directory)
    problems: list[str] = []
    found = Problems()
    catalog = _read(directory / CATALOG_FILE, CATALOG_FILE, record(CatalogFile), problems, found)
    categories: tuple[Category, ...] = ()
    sources: tuple[Source, ...] = ()
    if catalog is not None:
        categories, sources = _build_categories(catalog, directory, found)
    problems += [f"{CATALOG_FILE}: {message}" for message in found.messages]
    # Services name categories; when the catalog has problems, some categories
    # may be missing from what was read, and every reference to them would be
    # reported as well.
    known = {category.id for category in categories} if not problems else None
    services = _load_services(directory, known, problems)
    if problems:
        raise CatalogError(str(directory), problems)
    return Catalog(categories, sources, services)


def _read(path: Path, name: str, convert: Convert[T], problems: list[str], found: Problems) -> T | None:
    """One YAML file converted, or None.

    A file that cannot be read at all is reported in ``problems`` (prefixed
    with ``name``); mistakes inside it go to ``found``, and what could be read
    is still returned so that the checks across entries can add theirs.
    """
    try:
        root = yaml.compose(path.read_text(encoding="utf-8-sig"), Loader=yaml.SafeLoader)
    except FileNotFoundError:
        problems.append(f"{name}: the file is missing; reinstall dnsfilter to restore it")
        return None
    except (OSError, UnicodeDecodeError) as error:
        problems.append(f"{name}: cannot be read ({error}); check the file")
        return None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"line {mark.line + 1}: " if mark is not None else ""
        what = f"this is not valid YAML ({error.problem}); check the indentation and quotes"
        problems.append(f"{name}: {where}{what}")
        return None
    except yaml.YAMLError as error:
        problems.append(f"{name}: the file cannot be read as YAML: {error}")
        return None
    if root is None or (isinstance(root, yaml.ScalarNode) and root.tag == NULL_TAG):
        problems.append(f"{name}: the file is empty; reinstall dnsfilter to restore it")
        return None
    try:
        return convert(root, "", found)
    except Invalid as error:
        if error.message is not None:
            found.add("", root, error.message)
        return None


def _build_categories(
    catalog: CatalogFile, directory: Path, problems: Problems
) -> tuple[tuple[Category, ...], tuple[Source, ...]]:
    providers: dict[str, ProviderEntry] = {}
    for index, provider, node in catalog.providers:
        path = f"providers[{index}]"
        if _repeated(provider.id, providers, path, node, problems):
            continue
        providers[provider.id] = provider
        if not (directory / provider.license_file).is_file():
            problems.add(f"{path}.license_file", _value_node(node, "license_file"), f'"{provider.license_file}" does not exist')
    categories: dict[str, Category] = {}
    sources: dict[str, Source] = {}
    for index, entry, node in catalog.categories:
        path = f"categories[{index}]"
        if not _repeated(entry.id, categories, path, node, problems):
            title = {"en": entry.title.en, "vi": entry.title.vi}
            description = {"en": entry.description.en, "vi": entry.description.vi}
            categories[entry.id] = Category(entry.id, entry.kind, title, description)
        for number, source, source_node in entry.sources:
            source_path = f"{path}.sources[{number}]"
            if _repeated(source.id, sources, source_path, source_node, problems):
                continue
            publisher = providers.get(source.provider)
            if publisher is None:
                known = ", ".join(providers)
                message = f'"{source.provider}" is not one of the providers ({known})'
                problems.add(f"{source_path}.provider", _value_node(source_node, "provider"), message)
                continue
            if not (directory / source.snapshot).is_file():
                missing = f'"{source.snapshot}" does not exist'
                problems.add(f"{source_path}.snapshot", _value_node(source_node, "snapshot"), missing)
            sources[source.id] = Source(
                id=source.id,
                category=entry.id,
                format=source.format,
                subdomains=source.match == "subdomains",
                url=source.url,
                license=publisher.license,
                attribution=publisher.attribution,
                snapshot=source.snapshot,
                expected_entries=source.expected_entries,
            )
    return tuple(categories.values()), tuple(sources.values())


def _load_services(
    directory: Path, categories: set[str] | None, problems: list[str]
) -> tuple[Service, ...]:
    """Every services/*.yaml, in name order. ``categories`` is None when the catalog itself failed."""
    services: dict[str, Service] = {}
    defined_in: dict[str, str] = {}
    for path in sorted((directory / SERVICES_DIR).glob("*.yaml")):
        name = path.relative_to(directory).as_posix()
        found = Problems()
        loaded = _read(path, name, record(ServicesFile), problems, found)
        if loaded is None:
            problems += [f"{name}: {message}" for message in found.messages]
            continue
        for index, entry, node in loaded.services:
            where = f"services[{index}]"
            if entry.id in services:
                message = f'"{entry.id}" is already defined in {defined_in[entry.id]}; add the rules there'
                found.add(f"{where}.id", _value_node(node, "id"), message)
                continue
            if categories is not None and entry.category not in categories:
                unknown = f'"{entry.category}" is not a category in {CATALOG_FILE}'
                found.add(f"{where}.category", _value_node(node, "category"), unknown)
            source = entry.source or loaded.source
            if not source:
                found.add(f"{where}.source", node, "is missing; say where the domains come from")
            seen: set[str] = set()
            for number, rule, rule_node in entry.rules:
                if rule in seen:
                    found.add(f"{where}.rules[{number}]", rule_node, f'"{rule}" is listed twice; keep one')
                seen.add(rule)
            rules = tuple(rule for _, rule, _ in entry.rules)
            service = Service(entry.id, entry.name, entry.category, rules, loaded.origin, source or "")
            services[entry.id] = service
            defined_in[entry.id] = name
        problems += [f"{name}: {message}" for message in found.messages]
    return tuple(services.values())


def _repeated(key: str, known: dict[str, T], path: str, node: yaml.Node, problems: Problems) -> bool:
    if key in known:
        problems.add(f"{path}.id", _value_node(node, "id"), f'the id "{key}" is used twice; give each its own id')
        return True
    return False


def _value_node(mapping: yaml.Node, key: str) -> yaml.Node:
    """The node of ``key``'s value (for its line), else the mapping itself."""
    return mapping_value(mapping, key) or mapping
