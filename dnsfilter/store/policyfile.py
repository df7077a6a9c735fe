"""The family policy as one YAML file: ``dnsfilter policy export`` and ``import``.

``export_policy`` writes profiles (with their daily budgets), devices, running
overrides and settings as commented YAML in a fixed order (profiles by name,
devices by key), so that a copy kept in git shows only real changes.
``import_policy`` checks the whole file with the configuration machinery
(``dnsfilter.yamlschema``): every problem is reported at once with its dotted path
and line, and nothing is written unless all of it is valid. It then replaces
the whole policy in one transaction, and the budgets in a second one right
after (``replace_policy`` does not write budgets yet). Screen time used
today is not in the file; it is filed by profile number, and an import
numbers the profiles anew, so until midnight a budget may count from zero
(or, on SQLite, count the minutes of the profile that had its number).

Times (when an override ends, when it was made) are written in the family's
time zone with their offset from UTC, so a parent reads local times; a time
written without an offset is read in the family's time zone (``family_zone``:
the one chosen on the web page, else the configuration's). An import restores
the overrides still running at the time of the import and leaves out, and
counts, those that have ended.

Device keys are stored one way (``mac:aa:bb:cc:dd:ee:ff``, ``ip:192.168.1.23``,
as the resolver makes them), however the file spells them. Devices are
matched by key: one already known keeps what the network told about it
(addresses, name, when first and last seen); devices not in the file are
forgotten and come back as new when they next make a query.
Export, then import into an empty database, then export again gives the
same text. Writing is in ``policyexport``, reading and checking in
``policyschema``; docs/policy-file.md is the reference for parents.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from dnsfilter.errors import DnsFilterError, PolicyFileError
from dnsfilter.policy.records import (
    TIME_ZONE,
    BudgetData,
    DeviceData,
    OverrideData,
    ProfileData,
    RuleData,
)
from dnsfilter.store import validation as check
from dnsfilter.store.policyexport import export_policy
from dnsfilter.store.policyschema import FORMAT, DeviceEntry, parse_policy
from dnsfilter.store.policystore import PolicyStore

__all__ = [
    "FORMAT",
    "ImportSummary",
    "export_policy",
    "family_zone",
    "import_policy",
    "read_policy_file",
    "write_policy_file",
]


def family_zone(store: PolicyStore, configured: ZoneInfo) -> ZoneInfo:
    """The zone the running filter reads times in: the one chosen on the web page
    (the TIME_ZONE setting), else ``configured`` (the configuration's time_zone)."""
    chosen = store.get_setting(TIME_ZONE)
    try:
        return configured if chosen is None else check.time_zone(chosen)
    except check.PolicyInputError:
        return configured  # as the running filter does: it keeps the configuration's zone


# --- import -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ImportSummary:
    profiles: int
    devices: int
    rules: int
    overrides: int  # restored: still running at the time of the import
    expired_overrides: int  # in the file, but already over: left out
    budgets: int = 0

    def __str__(self) -> str:
        counts = f"{_count(self.profiles, 'profile')}, {_count(self.devices, 'device')}, {_count(self.rules, 'rule')}"
        if self.budgets:
            counts += f", {_count(self.budgets, 'budget')}"
        summary = f"{counts} imported"
        if self.overrides:
            summary += f"; {_count(self.overrides, 'override')} restored"
        if self.expired_overrides:
            left_out = "was" if self.expired_overrides == 1 else "were"
            summary += f"; {_count(self.expired_overrides, 'override')} had already ended and {left_out} left out"
        return summary


def _count(number: int, thing: str) -> str:
    return f"{number} {thing}" if number == 1 else f"{number} {thing}s"


def import_policy(
    store: PolicyStore, text: str, *, known_tags: Collection[str], now: datetime, source: str, zone: ZoneInfo
) -> ImportSummary:
    """Replace the whole policy with the one in ``text``, or change nothing.

    PolicyFileError lists every problem in the file. Categories and services
    are checked against ``known_tags``; overrides that ended before ``now`` are
    left out. Times without an offset are read in ``zone`` (see ``family_zone``),
    or in the zone the file's own settings name, which the import makes the family's.
    """
    policy = parse_policy(text, known_tags, source, zone)
    ids = {profile.name.casefold(): number for number, profile in enumerate(policy.profiles, 1)}
    overrides: dict[int, list[OverrideData]] = defaultdict(list)
    running = [item for item in policy.overrides if item.expires > now]
    for item in running:
        profile_id = ids[item.profile.casefold()]
        overrides[profile_id].append(
            OverrideData(
                0, profile_id, item.kind, item.target, item.expires, item.created_by, item.created_at or now, item.note
            )
        )
    profiles = [
        ProfileData(
            id=number,
            name=profile.name,
            safe_search=profile.safe_search,
            bypass_protection=profile.bypass_protection,
            block_mode=profile.block_mode,
            is_default=profile.default,
            created_at=now,
            blocked_tags=frozenset(profile.blocked),
            allowed_names=frozenset(profile.allow),
            denied_names=frozenset(profile.deny),
            rules=tuple(
                RuleData(0, number, rule.days, rule.start, rule.end, rule.action, rule.tags, rule.allow, rule.enabled)
                for rule in profile.rules
            ),
            overrides=tuple(overrides[number]),
            budgets=tuple(BudgetData(0, number, item.tag, item.minutes, item.days) for item in profile.budgets),
        )
        for number, profile in enumerate(policy.profiles, 1)
    ]
    devices = [_device_data(device, ids[device.profile.casefold()], now) for device in policy.devices]
    chosen = None if policy.new_devices_profile is None else ids[policy.new_devices_profile.casefold()]
    store.replace_policy(profiles, devices, dict(policy.settings), new_devices_profile=chosen, now=now)
    budgets = sum(len(profile.budgets) for profile in profiles)
    rules = sum(len(profile.rules) for profile in profiles)
    expired = len(policy.overrides) - len(running)
    return ImportSummary(len(profiles), len(devices), rules, len(running), expired, budgets)


def _device_data(device: DeviceEntry, profile_id: int, now: datetime) -> DeviceData:
    # The key says the address a device new to this database was known by.
    kind, _, address = device.key.partition(":")
    mac, ip = (address, None) if kind == "mac" else (None, address)
    return DeviceData(0, device.key, mac, ip, device.name, device.label, profile_id, device.new, now, now)


# --- files -------------------------------------------------------------------------


def read_policy_file(path: Path) -> str:
    """The text of a policy file; PolicyFileError says plainly why it cannot be read."""
    try:
        return Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        problem = "the file does not exist; give the path of a file written by dnsfilter policy export"
    except IsADirectoryError:
        problem = "is a directory; give the path of the policy file itself"
    except PermissionError:
        problem = "cannot be read (permission denied); make it readable by this user"
    except OSError as error:
        problem = f"cannot be read ({error.strerror}); check the path and the disk"
    except UnicodeDecodeError as error:
        problem = f"is not UTF-8 text (a bad byte at position {error.start}); save it as UTF-8"
    raise PolicyFileError(str(path), [problem])


def write_policy_file(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` whole or not at all: an earlier copy is never left half-written."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_text(text, encoding="utf-8")
        temporary.replace(path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise DnsFilterError(
            f"cannot write {path} ({error.strerror}); check that the folder exists and may be written to"
        ) from error

