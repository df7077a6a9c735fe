"""Why a name gets the answer it gets, for ``dnsfilter explain`` and the web page.

``explain`` asks the same ``PolicySnapshot`` the running filter decides with,
built for the moment asked about, keeps every precedence step it tried, and
adds the list lines behind the name's tags (``dnsfilter.lists.evidence``).
Saying it in words is the caller's job (``dnsfilter.cli.explanation``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal
from zoneinfo import ZoneInfo

from dnsfilter.errors import UsageError, shown
from dnsfilter.lists.blocklists import Blocklists
from dnsfilter.lists.evidence import RuleMatch, list_evidence
from dnsfilter.policy.budgets import local_day
from dnsfilter.policy.domains import normalise_name
from dnsfilter.policy.identity import ClientId
from dnsfilter.policy.precedence import ProfilePolicy
from dnsfilter.policy.records import DeviceData, PolicyData, ProfileData
from dnsfilter.policy.snapshot import Explanation, PolicySnapshot, build_snapshot
from dnsfilter.policy.tags import TagIndex
from dnsfilter.store import PolicyStore


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


def policy_at(
    store: PolicyStore, index: TagIndex, zone: ZoneInfo, moment: datetime, deny: Iterable[str] = ()
) -> tuple[PolicyData, PolicySnapshot]:
    """The policy as it stood at ``moment`` (blocking: call it in a thread), and
    its snapshot: overrides made later were not in force then."""
    data = store.load_all(moment, local_day(moment, zone))
    profiles = tuple(
        dataclasses.replace(
            profile, overrides=tuple(item for item in profile.overrides if _utc(item.created_at) <= moment)
        )
        for profile in data.profiles
    )
    data = dataclasses.replace(data, profiles=profiles)
    return data, build_snapshot(data, index, zone, moment, deny)


def _utc(moment: datetime) -> datetime:
    # Some SQLite drivers hand back naive times; the store writes UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def device_subject(data: PolicyData, snapshot: PolicySnapshot, device: DeviceData) -> Subject:
    """Explaining for a recorded device: only its key picks the profile, as on the query path."""
    profiles = {item.id: item for item in data.profiles}
    policy = snapshot.profile_for(ClientId(device.key, device.ip or "", device.mac, device.name, "recorded"))
    return Subject("device", profiles[policy.id], policy, device=device)


def profile_subject(data: PolicyData, snapshot: PolicySnapshot, profile: ProfileData) -> Subject:
    members = tuple(item for item in data.devices if item.profile_id == profile.id)
    return Subject("profile", profile, snapshot.profiles[profile.id], members=members)


def new_device_subject(data: PolicyData, snapshot: PolicySnapshot) -> Subject:
    policy = snapshot.new_device_profile
    return Subject("new device", next(item for item in data.profiles if item.id == policy.id), policy)
