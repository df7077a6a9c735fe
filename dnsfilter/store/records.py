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

    @property
    def default_profile(self) -> ProfileData:
        return next(profile for profile in self.profiles if profile.is_default)
