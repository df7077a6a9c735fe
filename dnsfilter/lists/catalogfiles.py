"""How ``catalog.yaml`` and ``services/*.yaml`` are written: their entries and
the checks on each value, in the schema machinery of ``dnsfilter.yamlschema``.
``dnsfilter.lists.catalog`` reads the files with these and checks across them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Final, TypeVar

import yaml

from dnsfilter.lists.formats import FORMATS, ListParser
from dnsfilter.yamlschema import (
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

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T")
D = TypeVar("D", bound="DataclassInstance")

KINDS: Final = ("block", "security", "optional", "neutral", "allow")

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


IDENTIFIER: Final = from_text(_parse_id)


def record(cls: type[D]) -> Convert[D]:
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
Items = tuple[tuple[int, T, yaml.Node], ...]


def each(convert: Convert[T], *, empty: str | None = None) -> Convert[Items[T]]:
    """A list whose good items are kept, each with its node, when others fail.

    The failures are reported as usual; keeping the rest lets the checks across
    entries (repeated ids, unknown references, missing files) run as well, so
    one load shows every mistake.
    """
    whole_list = sequence(lambda node, path, problems: node, empty=empty)

    def convert_each(node: yaml.Node, path: str, problems: Problems) -> Items[T]:
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
class Texts:
    en: str = required(text)
    vi: str = required(text)


@dataclass(frozen=True, slots=True)
class ProviderEntry:
    id: str = required(IDENTIFIER)
    name: str = required(text)
    homepage: str = required(from_text(_parse_url))
    license: str = required(from_text(_parse_spdx))
    license_file: str = required(from_text(_parse_relative_path))
    attribution: str = required(text)


@dataclass(frozen=True, slots=True)
class SourceEntry:
    id: str = required(IDENTIFIER)
    provider: str = required(IDENTIFIER)
    format: str = required(choice(*FORMATS))
    match: str = required(choice("subdomains", "exact"))
    url: str = required(from_text(_parse_url))
    snapshot: str = required(from_text(_parse_relative_path))
    expected_entries: int = required(integer(0, 100_000_000))


@dataclass(frozen=True, slots=True)
class CategoryEntry:
    id: str = required(IDENTIFIER)
    kind: str = required(choice(*KINDS))
    title: Texts = required(section(Texts))
    description: Texts = required(section(Texts))
    sources: Items[SourceEntry] = setting(
        (), each(record(SourceEntry))
    )


@dataclass(frozen=True, slots=True)
class CatalogFile:
    providers: Items[ProviderEntry] = required(
        each(record(ProviderEntry), empty="is empty; name at least one list provider")
    )
    categories: Items[CategoryEntry] = required(
        each(record(CategoryEntry), empty="is empty; name at least one category")
    )


@dataclass(frozen=True, slots=True)
class ServiceEntry:
    id: str = required(IDENTIFIER)
    name: str = required(text)
    category: str = required(IDENTIFIER)
    rules: Items[str] = required(
        each(from_text(_parse_rule), empty="is empty; give at least one, like ||example.org^")
    )
    # None: the file's source.
    source: str | None = setting(None, optional(text))


@dataclass(frozen=True, slots=True)
class ServicesFile:
    origin: str = required(choice("adguard", "dnsfilter"))
    services: Items[ServiceEntry] = required(
        each(record(ServiceEntry))
    )
    # The default source of the services above; each may give its own.
    source: str | None = setting(None, optional(text))
