"""The list lines behind a name's tags: what ``explain`` shows a parent.

The index says which tags a name carries; to show the list lines behind
them, the lists of those tags are read again. That is slow (seconds for a
big list) and happens only when a parent asks, never on the query path.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

from dnsfilter.lists.blocklists import Blocklists
from dnsfilter.lists.entries import ListEntry
from dnsfilter.lists.formats import ListParser
from dnsfilter.lists.listfile import read_entries
from dnsfilter.policy.tags import SERVICE_PREFIX


@dataclass(frozen=True, slots=True)
class RuleMatch:
    tag: str  # category id or "service:<id>"
    list_id: str  # source id, or the service id for a service's own rules
    line: int
    rule: str  # the line as written in the list
    exception: bool


def list_evidence(name: str, blocklists: Blocklists) -> tuple[tuple[str, ...], tuple[RuleMatch, ...]]:
    """The tags the index gives ``name``, and the list lines behind them."""
    tags = blocklists.index.tag_names_of(name)
    # Exceptions (@@ rules) remove tags, so the index cannot point at them;
    # only adblock lists and services have exceptions, and they are small.
    searched = set(tags)
    searched.update(source.category for source in blocklists.catalog.sources if source.format == "adblock")
    searched.update(SERVICE_PREFIX + service.id for service in blocklists.catalog.services)
    matches: list[RuleMatch] = []
    for tag in sorted(searched, key=lambda t: (t not in tags, t)):
        if tag.startswith(SERVICE_PREFIX):
            found = _service_matches(name, tag, blocklists)
        else:
            found = _source_matches(name, tag, blocklists)
        matches += [m for m in found if tag in tags or m.exception]
    return tags, tuple(matches)


def _covers(entry: ListEntry, name: str) -> bool:
    if entry.name == name:
        return True
    return entry.subdomains and name.endswith("." + entry.name)


def _source_matches(name: str, tag: str, blocklists: Blocklists) -> list[RuleMatch]:
    found: list[RuleMatch] = []
    for source in blocklists.catalog.sources_of(tag):
        path = blocklists.store.path_for(source)
        data = path.read_bytes()
        entries, _report = read_entries(data, source.format, source.subdomains)
        hits = [entry for entry in entries if _covers(entry, name)]
        if hits:
            lines = _text_lines(path, data)
            found += [
                RuleMatch(tag, source.id, hit.line, lines[hit.line - 1].strip(), hit.exception) for hit in hits
            ]
    return found


def _service_matches(name: str, tag: str, blocklists: Blocklists) -> list[RuleMatch]:
    service = blocklists.catalog.service(tag[len(SERVICE_PREFIX) :])
    parser = ListParser("adblock", True)
    return [
        RuleMatch(tag, service.id, entry.line, service.rules[entry.line - 1], entry.exception)
        for entry in parser.parse(service.rules)
        if _covers(entry, name)
    ]


def _text_lines(path: Path, data: bytes) -> list[str]:
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return data.decode("utf-8", errors="replace").splitlines()
