"""Writing the family policy as commented YAML (``dnsfilter policy export``).

Profiles by name, devices by key: a copy kept in git shows only real
changes. Text that came from the network is always quoted and escaped.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

import yaml

from dnsfilter.policy.records import (
    DEFAULT_PROFILE_SET_UP,
    NEW_DEVICES_PROFILE,
    DeviceData,
    OverrideData,
    ProfileData,
)
from dnsfilter.store.policyschema import FORMAT
from dnsfilter.store.policystore import (
    PolicyStore,
)
from dnsfilter.yamlschema import (
    STR_TAG,
)

_HEADER: Final = """\
# dnsfilter family policy: profiles, devices, running overrides and settings.
# Load it with: dnsfilter policy import FILE
# An import replaces the whole policy, and only if every line of the file is valid.
# Every key, its values and its default are described in docs/policy-file.md
# (in dnsfilter's source, next to README.md).
# Times are in the family's time zone, {zone}, with their offset from UTC;
# a time written without an offset, like 2026-12-07 20:00, is read in {zone}.
"""

# Short reminders of every key; docs/policy-file.md says the rest (a test checks both).
_COMMENTS: Final = {
    "dnsfilter_policy": "# The layout of this file.\n",
    "profiles": """\
# A profile is a person, or a group of devices. Exactly one is the default
# (default: true): devices nobody has put in a profile use it.
#   name: the person's name;  bypass_protection: true or false
#   blocked: categories (adult) and services (service:tiktok) blocked at all times
#   allow, deny: names, with the names under them, always allowed or always blocked
#   safe_search: off, on or strict;  block_mode: null_ip or nxdomain
#   rules: weekly times. days like mon-fri, sun-thu or sat,sun; start and end as
#   HH:MM (an end before the start runs past midnight); enabled: true or false.
#   action: block_tags blocks the tags listed (categories and services);
#   allow_only blocks everything but the names in allow.
#   budgets: minutes a day a category or service may be used (1 to 1440), on the
#   days given (written like the rules' days; daily if left out); tag: which one.
#   Once used up it is blocked until midnight; a grant override gives extra time.
""",
    "new_devices_profile": "# The profile devices seen for the first time are put in; null: the default.\n",
    "devices": """\
# key: how dnsfilter knows the device: mac:aa:bb:cc:dd:ee:ff or ip:192.168.1.23;
# profile: whose device it is;  label: your name for it;
# name: what the device calls itself on the network, exactly as seen;
# new: true until someone has looked at the device.
""",
    "overrides": """\
# Exceptions that were running when this file was written. kind: pause (no
# internet), grant (target: a category or service, open for a while) or
# allow_name (target: a name allowed for a while); profile: whose it is;
# expires: when it ends; created_by, created_at: who made it, and when;
# note: why. An import restores only those that have not ended by then.
""",
    "settings": "# Other settings, as stored (time_zone: the family's time zone, when chosen on the web page).\n",
}


class _Quoted(str):
    """Free text (names, labels, notes): always written in double quotes, escaped."""


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True  # every value written out where it belongs, never as &anchor/*alias


def _represent_text(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    # Device names come from the network and may hold anything. Double quotes
    # escape control characters and line separators, so none reaches the file raw.
    plain = not isinstance(data, _Quoted) and data.isprintable()
    return dumper.represent_scalar(STR_TAG, data, style=None if plain else '"')


_Dumper.add_representer(str, _represent_text)
_Dumper.add_representer(_Quoted, _represent_text)


# New devices nobody has looked at, listed at most: more are made-up addresses, not a
# family's devices, and would bury the file. The most recently seen are listed.
NEW_DEVICES_LISTED = 100

# Settings the store keeps for itself: a row id, and a marker every import sets.
_INTERNAL_SETTINGS = frozenset((NEW_DEVICES_PROFILE, DEFAULT_PROFILE_SET_UP))


def export_policy(store: PolicyStore, now: datetime, zone: ZoneInfo) -> str:
    """The whole family policy as commented YAML; overrides that ended before ``now`` are left out.

    Times are written in ``zone``, the family's (``policyfile.family_zone``), with their offset.
    """
    policy = store.load_all(now)
    names = {profile.id: profile.name for profile in policy.profiles}
    chosen = policy.settings.get(NEW_DEVICES_PROFILE)
    overrides = [(names[item.profile_id], item) for profile in policy.profiles for item in profile.overrides]
    overrides.sort(key=lambda pair: (*_by_name(pair[0]), pair[1].expires_at, pair[1].kind, pair[1].target or ""))
    listed, left_out = _devices_listed(policy.devices)
    sections: dict[str, object] = {
        "dnsfilter_policy": FORMAT,
        "profiles": [_profile_entry(p) for p in sorted(policy.profiles, key=lambda p: _by_name(p.name))],
        "new_devices_profile": _Quoted(names[chosen]) if type(chosen) is int and chosen in names else None,
        "devices": [_device_entry(device, names) for device in listed],
        "overrides": [_override_entry(name, item, zone) for name, item in overrides],
        "settings": {key: value for key, value in policy.settings.items() if key not in _INTERNAL_SETTINGS},
    }
    parts = [_HEADER.format(zone=zone.key)]
    for key, value in sections.items():
        dumped = yaml.dump(
            {key: value}, Dumper=_Dumper, allow_unicode=True, sort_keys=key == "settings",
            default_flow_style=False, width=1000,
        )  # fmt: skip
        if key == "devices" and left_out:
            dumped += (
                f"# and {left_out} more new devices not listed: nobody has looked at them yet, and there are\n"
                f"# too many to list (a device may be sending from many addresses). An import forgets\n"
                f"# them; they come back as new if they make a query again.\n"
            )
        parts.append(_COMMENTS[key] + dumped)
    return "\n".join(parts)


def _devices_listed(devices: tuple[DeviceData, ...]) -> tuple[list[DeviceData], int]:
    """The devices to write, by key, and how many new ones nobody looked at were left out."""
    looked_at = [device for device in devices if not device.is_new or device.label is not None]
    untouched = [device for device in devices if device.is_new and device.label is None]
    untouched.sort(key=lambda device: (device.last_seen, device.key), reverse=True)
    listed = sorted(looked_at + untouched[:NEW_DEVICES_LISTED], key=lambda device: device.key)
    return listed, max(0, len(untouched) - NEW_DEVICES_LISTED)


def _by_name(name: str) -> tuple[str, str]:
    return name.casefold(), name


def _profile_entry(profile: ProfileData) -> dict[str, object]:
    return {
        "name": _Quoted(profile.name),
        "default": profile.is_default,
        "safe_search": profile.safe_search,
        "bypass_protection": profile.bypass_protection,
        "block_mode": profile.block_mode,
        "blocked": sorted(profile.blocked_tags),
        "allow": sorted(profile.allowed_names),
        "deny": sorted(profile.denied_names),
        "rules": [
            {
                "days": rule.days,
                "start": _Quoted(rule.start),
                "end": _Quoted(rule.end),
                "action": rule.action,
                "tags": list(rule.tags),
                "allow": list(rule.allow),
                "enabled": rule.enabled,
            }
            for rule in profile.rules
        ],
        "budgets": [
            {"tag": budget.tag, "minutes": budget.minutes, "days": budget.days}
            for budget in sorted(profile.budgets, key=lambda budget: budget.tag)
        ],
    }


def _device_entry(device: DeviceData, names: dict[int, str]) -> dict[str, object]:
    return {
        "key": device.key,
        "label": None if device.label is None else _Quoted(device.label),
        "profile": _Quoted(names[device.profile_id]),
        "new": device.is_new,
        "name": None if device.name is None else _Quoted(device.name),
    }


def _override_entry(profile: str, item: OverrideData, zone: ZoneInfo) -> dict[str, object]:
    return {
        "profile": _Quoted(profile),
        "kind": item.kind,
        "target": item.target,
        "expires": _local_text(item.expires_at, zone),
        "created_by": _Quoted(item.created_by),
        "created_at": _local_text(item.created_at, zone),
        "note": _Quoted(item.note),
    }


def _local_text(moment: datetime, zone: ZoneInfo) -> str:
    # The offset makes the moment exact whatever zone the file is read in later.
    return moment.astimezone(zone).isoformat()


