"""Plain frozen values handed out by the policy store (never ORM objects).

They are safe to keep after the transaction ends, to pass between threads, and
to build an in-memory policy snapshot from.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any, Final

# The setting naming the profile new devices land in (the default profile if unset).
NEW_DEVICES_PROFILE: Final = "new_devices_profile_id"
# The family's time zone chosen on the web page (a zone name); it wins over
# the configuration's time_zone.
TIME_ZONE: Final = "time_zone"
# The setting present once the default profile got its first blocked
# categories (from the configuration, or with an imported policy).
DEFAULT_PROFILE_SET_UP: Final = "default_profile_set_up"


@dataclass(frozen=True, slots=True)
class RuleData:
    id: int
    profile_id: int
    days: str  # as the parent wrote it, e.g. "sun-thu"; the schedule module reads it
    start: str  # "HH:MM", wall clock in the configured zone
    end: str  # "HH:MM"; earlier than start means the window crosses midnight
    action: str  # "block_tags" | "allow_only"
    tags: tuple[str, ...]  # blocked during the window (block_tags)
    allow: tuple[str, ...]  # names still allowed during the window (allow_only)
    enabled: bool


@dataclass(frozen=True, slots=True)
class OverrideData:
    id: int
    profile_id: int
    kind: str  # "pause" | "grant" | "allow_name"
    target: str | None  # the tag (grant), the name (allow_name), None (pause)
    expires_at: datetime  # aware UTC
    created_by: str
    created_at: datetime
    note: str


@dataclass(frozen=True, slots=True)
class BudgetData:
    """Minutes a day a profile may use a category or service (see ``dnsfilter.store.budgets``)."""

    id: int
    profile_id: int
    tag: str  # category id ("games") or service tag ("service:roblox")
    minutes: int  # 1..1440 on each day it applies
    days: str  # as the parent wrote it, like rules' days: "mon-fri", "daily"


@dataclass(frozen=True, slots=True)
class BudgetUse:
    """A budget on one day: whether it applies, and how much of it is used.

    ``used`` is None when that day's minutes were not read (nothing is known
    about them, so the budget blocks nothing).
    """

    budget: BudgetData
    day: int  # YYYYMMDD in the family's zone
    applies: bool  # the day is one of the budget's days
    used: int | None  # distinct minutes the profile used the tag that day

    @property
    def remaining(self) -> int | None:
        """Minutes left that day; None when the budget does not limit that day or the use is unknown."""
        if not self.applies or self.used is None:
            return None
        return max(0, self.budget.minutes - self.used)

    @property
    def spent(self) -> bool:
        """True when the day's minutes are used up: the tag is blocked until the day ends."""
        return self.remaining == 0


@dataclass(frozen=True, slots=True)
class ProfileData:
    id: int
    name: str
    safe_search: str  # "off" | "on" | "strict"
    bypass_protection: bool
    block_mode: str  # "null_ip" | "nxdomain"
    is_default: bool
    created_at: datetime
    blocked_tags: frozenset[str] = frozenset()
    allowed_names: frozenset[str] = frozenset()
    denied_names: frozenset[str] = frozenset()
    rules: tuple[RuleData, ...] = ()
    overrides: tuple[OverrideData, ...] = ()  # only those active at the time asked
    budgets: tuple[BudgetData, ...] = ()


@dataclass(frozen=True, slots=True)
class DeviceData:
    id: int
    key: str  # "mac:aa:bb:cc:dd:ee:ff" or "ip:192.168.1.23"
    mac: str | None
    ip: str | None
    name: str | None  # from DHCP or the network: untrusted text, exactly as seen
    label: str | None  # the parent's name for it
    profile_id: int
    is_new: bool
    first_seen: datetime
    last_seen: datetime


@dataclass(frozen=True, slots=True)
class DeviceSeen:
    """What ``record_seen`` did."""

    device_id: int
    created: bool  # a new device: the policy version was bumped
    changed: bool  # its address or name changed: the policy version was bumped


@dataclass(frozen=True, slots=True)
class PolicyData:
    """Everything needed to build a policy snapshot, read in one transaction."""

    version: int
    profiles: tuple[ProfileData, ...]
    devices: tuple[DeviceData, ...]
    settings: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    # Screen time of ``usage_day`` (YYYYMMDD in the family's zone; None: not
    # read): distinct minutes per (profile id, tag), for tags with a budget.
    usage_day: int | None = None
    used_minutes: Mapping[tuple[int, str], int] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def default_profile(self) -> ProfileData:
        return next(profile for profile in self.profiles if profile.is_default)
