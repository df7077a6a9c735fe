"""Why a name is blocked or allowed: ``dnsfilter explain NAME``.

The index says which tags a name carries; to show the list lines behind
them, the lists of those tags are read again. That is slow (seconds for a
big list) and happens only here, never on the query path.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from dnsfilter.policy.blocklists import Blocklists
from dnsfilter.policy.decision import Decision, Reason
from dnsfilter.policy.engine import FilterPolicy
from dnsfilter.policy.listformats import ListEntry, ListParser, normalise_name, parse_text
from dnsfilter.policy.tags import SERVICE_PREFIX, names_of


@dataclass(frozen=True, slots=True)
class RuleMatch:
    tag: str  # category id or "service:<id>"
    list_id: str  # source id, or the service id for a service's own rules
    line: int
    rule: str  # the line as written in the list
    exception: bool


@dataclass(frozen=True, slots=True)
class Explanation:
    name: str
    decision: Decision
    tags: tuple[str, ...]
    matches: tuple[RuleMatch, ...]


def explain(name: str, blocklists: Blocklists, blocked: Iterable[str], deny: Iterable[str] = ()) -> Explanation:
    """The default profile's decision for ``name`` and the list lines behind it."""
    normal = normalise_name(name)
    if normal is None:
        raise ValueError(f'"{name}" is not a valid domain name')
    index = blocklists.index
    decision = FilterPolicy(index, blocked, deny).decide(normal, 1, "", 0.0)
    tags = tuple(names_of(index.tag_names, index.tags(normal)))
    # Exceptions (@@ rules) remove tags, so the index cannot point at them;
    # only adblock lists and services have exceptions, and they are small.
    searched = set(tags)
    searched.update(source.category for source in blocklists.catalog.sources if source.format == "adblock")
    searched.update(SERVICE_PREFIX + service.id for service in blocklists.catalog.services)
    matches: list[RuleMatch] = []
    for tag in sorted(searched, key=lambda t: (t not in tags, t)):
        if tag.startswith(SERVICE_PREFIX):
            found = _service_matches(normal, tag, blocklists)
        else:
            found = _source_matches(normal, tag, blocklists)
        matches += [m for m in found if tag in tags or m.exception]
    return Explanation(normal, decision, tags, tuple(matches))


def _covers(entry: ListEntry, name: str) -> bool:
    if entry.name == name:
        return True
    return entry.subdomains and name.endswith("." + entry.name)


def _source_matches(name: str, tag: str, blocklists: Blocklists) -> list[RuleMatch]:
    found: list[RuleMatch] = []
    for source in blocklists.catalog.sources_of(tag):
        path = blocklists.store.path_for(source)
        data = path.read_bytes()
        entries, _report = parse_text(data, source.format, source.subdomains)
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


def format_explanation(explanation: Explanation) -> str:
    decision = explanation.decision
    out = [explanation.name]
    if decision.blocked:
        why = {
            Reason.DENY_LIST: f"it is in the configuration's deny list ({decision.rule})",
            Reason.CATEGORY: f"the category {decision.category} is blocked",
            Reason.SERVICE: f"the service {decision.category} is blocked",
        }.get(decision.reason, decision.reason.value)
        out.append(f"  BLOCKED for every device: {why}.")
    else:
        out.append("  allowed for every device.")
    if explanation.tags:
        out.append("  listed as: " + ", ".join(t.removeprefix(SERVICE_PREFIX) for t in explanation.tags))
    elif not explanation.matches:
        out.append("  not in any blocklist or service.")
    for match in explanation.matches:
        kind = "exception (unblocks)" if match.exception else "rule"
        out.append(f"    {match.list_id}, line {match.line}: {match.rule}   [{kind}, {match.tag}]")
    return "\n".join(out)

