"""The family policy of dns_policy.py's "policy on" side, written through PolicyStore.

Before ours starts, its database gets 20 profiles and 200 devices:

- every profile blocks the benchmark category and two other tags, always
  allows 20 names and always blocks 20 others, and has a ``block_tags`` rule
  in force now and one that is not; two profiles in three also have an
  ``allow_only`` bedtime rule, in force now on every fourth profile;
- "+N minutes" overrides: a granted tag on every third profile, an allowed
  name on every second; safe search on or strict on most;
- devices 127.0.0.2 to 127.0.0.151 are known by address (``ip:`` keys), the
  other 50 by MAC (``mac:`` keys), seen through the router (127.0.0.1),
  spread over the profiles in turn.

The measured devices (one by address, one by MAC) share profile
``MEASURED``: no bedtime in force there, and no override or rule touches
the benchmark category, so its listed names stay blocked and the cached
names allowed, as on the "single default profile" side. Rules are written
relative to ``now`` in UTC (the configs say ``time_zone: UTC``) and change
no sooner than an hour from it, so nothing changes during a run.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from dnsfilter.store import PolicyStore, open_database

PROFILES = 20
DEVICES = 200
FIRST_HOST = 2  # devices are 127.0.0.2 to 127.0.0.201
BY_MAC_FROM = 150  # devices from this one on are known by MAC
ROUTER = "127.0.0.1"
MEASURED = 7  # the measured devices' profile, counting from 0
LISTED_NAMES = 20  # allowed and denied names per profile
BEDTIME_NAMES = 3  # names a bedtime rule leaves open
OVERRIDE_MINUTES = 180
PARENT = "Parent"


@dataclass(frozen=True, slots=True)
class MeasuredDevices:
    """Who dnsperf pretends to be, and what their profile does differently."""

    profile: str
    ip: str  # identified by its source address
    mac: str  # identified by the router's EDNS option 65001
    denied: tuple[str, ...]  # the profile's deny list
    scheduled_names: tuple[str, ...]  # blocked for it only by a rule in force now
    about: str  # one line for the report


@dataclass(frozen=True, slots=True)
class Family:
    profiles: int
    by_ip: int
    by_mac: int
    rules: int
    rules_in_force: int
    bedtimes_in_force: int
    overrides: int
    measured: MeasuredDevices

    def describe(self) -> str:
        return (
            f"{self.profiles} profiles and the default, {self.by_ip + self.by_mac} "
            f"devices ({self.by_ip} by address, {self.by_mac} by MAC through the "
            f"router), {self.rules} rules ({self.rules_in_force} in force, "
            f"{self.bedtimes_in_force} of them bedtimes), {self.overrides} overrides"
        )


def device_ip(number: int) -> str:
    return f"127.0.0.{FIRST_HOST + number}"


def device_mac(number: int) -> str:
    host = FIRST_HOST + number
    return f"02:00:00:00:{host >> 8:02x}:{host & 0xFF:02x}"


def clock(now: datetime, hours: int) -> str:
    """The wall time ``hours`` from ``now``, as a rule writes it."""
    return (now + timedelta(hours=hours)).strftime("%H:%M")


@dataclass(frozen=True, slots=True)
class _Written:
    """One profile as written."""

    id: int
    name: str
    safe_search: str
    denied: tuple[str, ...]
    scheduled_tag: str  # blocked by its rule in force now
    rules: int
    rules_in_force: int
    bedtime_in_force: bool
    overrides: int


def write_family(
    database_url: str,
    data_dir: Path,
    *,
    blocked_tag: str,
    other_tags: Sequence[str],
    tag_names: Mapping[str, Sequence[str]],
    names: Iterator[str],
    now: datetime,
) -> Family:
    """Fill the database at ``database_url`` (created if need be).

    ``names`` (none of them asked by the benchmark) feed the allow, deny and
    bedtime lists; ``tag_names`` holds names of each of ``other_tags``, for
    checking that the measured profile's rule in force blocks its tag.
    """
    store = PolicyStore(open_database(database_url, data_dir=data_dir))
    try:
        profiles = [
            _write_profile(store, number, blocked_tag, other_tags, names, now)
            for number in range(PROFILES)
        ]
        for number in range(DEVICES):
            mac = device_mac(number) if number >= BY_MAC_FROM else None
            seen = store.record_seen(
                f"mac:{mac}" if mac else f"ip:{device_ip(number)}",
                ip=ROUTER if mac else device_ip(number),
                mac=mac,
                name=f"device-{FIRST_HOST + number}",
                now=now,
            )
            store.assign_device(seen.device_id, profiles[number % PROFILES].id)
    finally:
        store.database.close()
    chosen = profiles[MEASURED]
    mac = device_mac(BY_MAC_FROM + (MEASURED - BY_MAC_FROM) % PROFILES)
    measured = MeasuredDevices(
        profile=chosen.name,
        ip=device_ip(MEASURED),
        mac=mac,
        denied=chosen.denied,
        scheduled_names=tuple(tag_names[chosen.scheduled_tag]),
        about=(
            f'measured: profile "{chosen.name}", device {device_ip(MEASURED)} by '
            f"address and {mac} by MAC through the router; the profile blocks "
            f"{blocked_tag} and two other tags, a rule in force blocks "
            f"{chosen.scheduled_tag}, safe search {chosen.safe_search}, "
            f"{chosen.rules - chosen.rules_in_force} rules later today (a bedtime "
            f"among them), {chosen.overrides} overrides (a grant, an allowed name)"
        ),
    )
    return Family(
        profiles=PROFILES,
        by_ip=min(BY_MAC_FROM, DEVICES),
        by_mac=max(0, DEVICES - BY_MAC_FROM),
        rules=sum(profile.rules for profile in profiles),
        rules_in_force=sum(profile.rules_in_force for profile in profiles),
        bedtimes_in_force=sum(profile.bedtime_in_force for profile in profiles),
        overrides=sum(profile.overrides for profile in profiles),
        measured=measured,
    )


def _write_profile(
    store: PolicyStore,
    number: int,
    blocked_tag: str,
    other_tags: Sequence[str],
    names: Iterator[str],
    now: datetime,
) -> _Written:
    def other(offset: int) -> str:
        return other_tags[(number + offset) % len(other_tags)]

    safe_search = ("off", "on", "on", "strict")[number % 4]
    profile = store.create_profile(
        f"Child {number + 1:02d}", now=now, safe_search=safe_search
    )
    store.add_blocked_tags(profile.id, [blocked_tag, other(0), other(1)])
    for _ in range(LISTED_NAMES):
        store.allow_domain(profile.id, next(names))
    denied = tuple(
        store.deny_domain(profile.id, next(names)) for _ in range(LISTED_NAMES)
    )
    # (action, tags, start and end in hours from now); a negative start is
    # in force now. No rule or grant names the benchmark category.
    rules: list[tuple[str, list[str], int, int]] = [
        ("block_tags", [other(2)], -1, 3),
        ("block_tags", [other(3)], 4, 6),
    ]
    bedtime_now = number % 4 == 0 and number != MEASURED
    if number % 3 != 2:
        rules.append(
            ("allow_only", [], -2, 2) if bedtime_now else ("allow_only", [], 8, 10)
        )
    for action, tags, start, end in rules:
        opened = [next(names) for _ in range(BEDTIME_NAMES)]
        store.add_rule(
            profile.id,
            days="daily",
            start=clock(now, start),
            end=clock(now, end),
            action=action,
            tags=tags,
            allow=opened if action == "allow_only" else (),
        )
    overrides = 0
    if number % 3 == 1:
        store.grant_tag(
            profile.id, other(1), now=now, created_by=PARENT, minutes=OVERRIDE_MINUTES
        )
        overrides += 1
    if number % 2 == 1:
        store.allow_name(
            profile.id,
            next(names),
            now=now,
            created_by=PARENT,
            minutes=OVERRIDE_MINUTES,
        )
        overrides += 1
    return _Written(
        id=profile.id,
        name=profile.name,
        safe_search=safe_search,
        denied=denied,
        scheduled_tag=other(2),
        rules=len(rules),
        rules_in_force=sum(start < 0 for _, _, start, _ in rules),
        bedtime_in_force=bedtime_now and number % 3 != 2,
        overrides=overrides,
    )
