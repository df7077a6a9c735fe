"""The blocklist catalog: categories, their list sources, and apps/services.

``blocklists/catalog.yaml`` names the categories a parent can block (each
with a kind, and a title and description in English and Vietnamese) and,
per category, the lists its domains come from. ``blocklists/services/*.yaml``
define apps and services (TikTok, Zalo...) as adblock rules. ``load_catalog``
reads and checks all of it with the same machinery as the configuration file
(``configschema``): every mistake in every file is reported at once, with its
file, dotted path and line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Final, TypeVar

import yaml

from dnsfilter.configschema import (
    NULL_TAG,
    Convert,
    Invalid,
    Problems,
    build,
    choice,
    describe,
    from_text,
    integer,
    optional,
    read_mapping,
    required,
    section,
    sequence,
    setting,
    text,
)
from dnsfilter.errors import CatalogError
from dnsfilter.policy.listformats import FORMATS, ListParser

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

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
BLOCKLISTS_DIR: Final = Path(__file__).resolve().parent.parent.parent / "blocklists"

CATALOG_FILE: Final = "catalog.yaml"
SERVICES_DIR: Final = "services"

KINDS: Final = ("block", "security", "optional", "neutral", "allow")
BLOCKED_BY_DEFAULT: Final = frozenset({"block", "security"})

T = TypeVar("T")
D = TypeVar("D", bound="DataclassInstance")


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
    format: str  # one of listformats.FORMATS
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

    def default_blocked(self) -> frozenset[str]:
        """The categories a new profile blocks: those harmful to children or a security risk."""
        return frozenset(c.id for c in self.categories if c.kind in BLOCKED_BY_DEFAULT)


# --- how the files are written -------------------------------------------------

_ID: Final = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_SPDX: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+-]*")


def _parse_id(value: str) -> str:
    if not _ID.fullmatch(value):
        raise ValueError(f'"{value}" is not a valid id; use lower-case letters, digits, "-" and "_"')
    return value


def _parse_url(value: str) -> str:
    if not re.fullmatch(r"https://[^\s/]+/\S*", value):
        raise ValueError(f'"{value}" is not an https:// address; lists are only fetched over https')
    return value


def _parse_spdx(value: str) -> str:
    if not _SPDX.fullmatch(value):
        raise ValueError(f'"{value}" is not an SPDX licence id, such as CC-BY-SA-4.0 or GPL-3.0-only')
    return value


def _parse_relative_path(value: str) -> str:
    path = PurePosixPath(value)
    if path.is_absolute() or ".." in path.parts or "\\" in value or not path.parts:
        raise ValueError(f'"{value}" must be a path inside the blocklists folder, like lists/ut1/x.txt.gz')
    return value


def _parse_rule(value: str) -> str:
    parser = ListParser("adblock", True)
    entries = list(parser.parse([value]))
    if len(entries) != 1:
        reason = next(iter(parser.report.rejected), "not a rule")
        raise ValueError(f'"{value}" cannot be used by a DNS filter ({reason}); write it as ||name^')
    return value


_IDENTIFIER: Final = from_text(_parse_id)


def _record(cls: type[D]) -> Convert[D]:
    """Like ``section``, but a mistake inside one of its lists leaves the rest usable.

    ``section`` refuses a mapping when anything inside it had a problem; here
    only a key that cannot be converted does, so that the good entries of a
    list still reach the checks across entries (see ``_each``).
    """

    def convert(node: yaml.Node, path: str, problems: Problems) -> D:
        if not isinstance(node, yaml.MappingNode):
            raise Invalid(f"must be a section of keys (key: value on lines below it), not {describe(node)}")
        return build(cls, read_mapping(cls, node, path, problems), node, path, problems, None)

    return convert


# The entries of a list that could be read: (index in the file's list, value, node).
_Items = tuple[tuple[int, T, yaml.Node], ...]


def _each(convert: Convert[T], *, empty: str | None = None) -> Convert[_Items[T]]:
    """A list whose good items are kept, each with its node, when others fail.

    The failures are reported as usual; keeping the rest lets the checks across
    entries (repeated ids, unknown references, missing files) run as well, so
    one load shows every mistake.
    """
    whole_list = sequence(lambda node, path, problems: node, empty=empty)

    def convert_each(node: yaml.Node, path: str, problems: Problems) -> _Items[T]:
        kept: list[tuple[int, T, yaml.Node]] = []
        for index, item in enumerate(whole_list(node, path, problems)):
            try:
                kept.append((index, convert(item, f"{path}[{index}]", problems), item))
            except Invalid as error:
                if error.message is not None:
                    problems.add(f"{path}[{index}]", item, error.message)
        return tuple(kept)

    return convert_each


@dataclass(frozen=True, slots=True)
class _Texts:
    en: str = required(text)
    vi: str = required(text)


@dataclass(frozen=True, slots=True)
class _ProviderEntry:
    id: str = required(_IDENTIFIER)
    name: str = required(text)
    homepage: str = required(from_text(_parse_url))
    license: str = required(from_text(_parse_spdx))
    license_file: str = required(from_text(_parse_relative_path))
    attribution: str = required(text)


@dataclass(frozen=True, slots=True)
class _SourceEntry:
    id: str = required(_IDENTIFIER)
    provider: str = required(_IDENTIFIER)
    format: str = required(choice(*FORMATS))
    match: str = required(choice("subdomains", "exact"))
    url: str = required(from_text(_parse_url))
    snapshot: str = required(from_text(_parse_relative_path))
    expected_entries: int = required(integer(0, 100_000_000))


@dataclass(frozen=True, slots=True)
class _CategoryEntry:
    id: str = required(_IDENTIFIER)
    kind: str = required(choice(*KINDS))
    title: _Texts = required(section(_Texts))
    description: _Texts = required(section(_Texts))
    sources: _Items[_SourceEntry] = setting(
        (), _each(_record(_SourceEntry))
    )


@dataclass(frozen=True, slots=True)
class _CatalogFile:
    providers: _Items[_ProviderEntry] = required(
        _each(_record(_ProviderEntry), empty="is empty; name at least one list provider")
    )
    categories: _Items[_CategoryEntry] = required(
        _each(_record(_CategoryEntry), empty="is empty; name at least one category")
    )


@dataclass(frozen=True, slots=True)
class _ServiceEntry:
    id: str = required(_IDENTIFIER)
    name: str = required(text)
    category: str = required(_IDENTIFIER)
    rules: _Items[str] = required(
        _each(from_text(_parse_rule), empty="is empty; give at least one, like ||example.org^")
    )
    # None: the file's source.
    source: str | None = setting(None, optional(text))


@dataclass(frozen=True, slots=True)
class _ServicesFile:
    origin: str = required(choice("adguard", "dnsfilter"))
    services: _Items[_ServiceEntry] = required(
        _each(_record(_ServiceEntry))
    )
    # The default source of the services above; each may give its own.
    source: str | None = setting(None, optional(text))


# --- reading and checking -------------------------------------------------------


def load_catalog(directory: Path = BLOCKLISTS_DIR) -> Catalog:
    """Read and check ``catalog.yaml`` and ``services/*.yaml`` in ``directory``.

    CatalogError lists every problem in every file at once.
    """
    directory = Path(directory)
    problems: list[str] = []
    found = Problems()
    catalog = _read(directory / CATALOG_FILE, CATALOG_FILE, _record(_CatalogFile), problems, found)
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
    catalog: _CatalogFile, directory: Path, problems: Problems
) -> tuple[tuple[Category, ...], tuple[Source, ...]]:
    providers: dict[str, _ProviderEntry] = {}
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
        loaded = _read(path, name, _record(_ServicesFile), problems, found)
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
    """The node of ``key``'s value in a mapping node (for its line), else the mapping itself."""
    if isinstance(mapping, yaml.MappingNode):
        for key_node, value_node in mapping.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
                found: yaml.Node = value_node
                return found
    return mapping
