"""Why a name gets the answer it gets, for ``dnsfilter explain`` and the web page.

``explain`` asks the same ``PolicySnapshot`` the running filter decides with,
built for the moment asked about, keeps every precedence step it tried, and
adds the list lines behind the name's tags (``dnsfilter.lists.evidence``).
Saying it in words is the caller's job (``dnsfilter.cli.explanation``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal
from zoneinfo import ZoneInfo

from dnsfilter.errors import UsageError, shown
from dnsfilter.lists.blocklists import Blocklists
from dnsfilter.lists.evidence import RuleMatch, list_evidence
from dnsfilter.policy.domains import normalise_name
from dnsfilter.policy.precedence import ProfilePolicy
from dnsfilter.policy.records import DeviceData, ProfileData
from dnsfilter.policy.snapshot import Explanation, PolicySnapshot


@dataclass(frozen=True, slots=True)
class Subject:
    """Whom a name is explained for, and the profile the filter uses for them."""

    kind: Literal["device", "profile", "new device"]
    profile: ProfileData  # as stored: rules, active overrides, who made them
    policy: ProfilePolicy  # as the snapshot holds it at the moment asked about
    device: DeviceData | None = None  # the device asked about (kind "device")
    members: tuple[DeviceData, ...] = ()  # the profile's devices (kind "profile")


@dataclass(frozen=True, slots=True)
class NameExplanation:
    name: str
    qtype: int
    at: datetime  # the moment explained
    zone: ZoneInfo  # the family's zone, in which times are shown
    subject: Subject
    decided: Explanation  # the decision and every precedence step tried
    tags: tuple[str, ...]
    matches: tuple[RuleMatch, ...]
    problems: tuple[str, ...] = ()  # rules the snapshot had to leave out


def explain(
    name: str,
    qtype: int,
    subject: Subject,
    snapshot: PolicySnapshot,
    blocklists: Blocklists,
    zone: ZoneInfo,
) -> NameExplanation:
    """What ``snapshot`` (built for the moment asked about) answers ``subject``
    for ``name``, and why."""
    normal = checked_name(name)
    decided = snapshot.explain(normal, qtype, subject.policy)
    tags, matches = list_evidence(normal, blocklists)
    at = datetime.fromtimestamp(snapshot.built_at, UTC)
    return NameExplanation(normal, qtype, at, zone, subject, decided, tags, matches, snapshot.problems)


def checked_name(name: str) -> str:
    normal = normalise_name(name)
    if normal is None:
        raise UsageError(f'"{shown(name)}" is not a valid domain name; give one such as www.example.org.')
    return normal
