"""The family's policy: profiles, blocked tags, allow/deny names, rules, overrides, devices.

``PolicyStore`` is synchronous: each method is one short transaction and
blocks. The async service calls it through ``asyncio.to_thread(store.method,
...)``; it is safe to call from several threads at once.

Every change bumps the policy version in the same transaction (and, on
PostgreSQL, sends ``NOTIFY dnsfilter_policy`` when it commits), so running
instances notice it by polling ``policy_version()``. The one exception is a
device merely being seen again: ``last_seen`` changes all the time and no
snapshot depends on it, so it is written at most once a minute per device and
does not bump the version. The store never reads the clock: ``now`` (aware
UTC) is always a parameter.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from dnsfilter.policy.records import (
    DEFAULT_PROFILE_SET_UP,
    NEW_DEVICES_PROFILE,
    DeviceData,
    PolicyData,
    ProfileData,
)
from dnsfilter.store import validation as check
from dnsfilter.store.budgets import BudgetMethods, checked_budget
from dnsfilter.store.database import Database
from dnsfilter.store.devices import DeviceMethods
from dnsfilter.store.models import (
    Device,
    DomainEntry,
    Override,
    Profile,
    ProfileTag,
    Rule,
    Setting,
)
from dnsfilter.store.overrides import OverrideMethods
from dnsfilter.store.queries import (
    bump_version,
    current_version,
    default_profile_id,
    find,
    load_policy,
    profile_data,
    profiles_with_details,
    rowcount,
)
from dnsfilter.store.querylog.models import Budget
from dnsfilter.store.rules import RuleMethods, rule_values
from dnsfilter.store.validation import NotFoundError, PolicyInputError

SAFE_SEARCH = ("off", "on", "strict")
BLOCK_MODES = ("null_ip", "nxdomain")
OVERRIDE_KINDS = ("pause", "grant", "allow_name")


class PolicyStore(DeviceMethods, OverrideMethods, BudgetMethods, RuleMethods):
    """Reads and changes the family policy in ``database``."""

    def __init__(self, database: Database) -> None:
        self.database = database

    # -- version and snapshot ------------------------------------------------

    def policy_version(self) -> int:
        """The counter bumped by every policy change."""
        with self.database.reading() as session:
            return current_version(session)

    def load_all(self, now: datetime, usage_day: int | None = None) -> PolicyData:
        """Everything a snapshot needs, read at one moment; overrides expired at ``now`` are left out.
        With ``usage_day`` (YYYYMMDD), the minutes used that day by each budgeted tag."""
        with self.database.reading() as session:
            return load_policy(session, now, usage_day)

    # -- profiles ------------------------------------------------------------

    def create_profile(
        self,
        name: str,
        *,
        now: datetime,
        safe_search: str = "off",
        bypass_protection: bool = True,
        block_mode: str = "null_ip",
    ) -> ProfileData:
        name = check.person_name(name)
        check.choice(safe_search, SAFE_SEARCH, "safe search level")
        check.choice(block_mode, BLOCK_MODES, "block mode")
        with self.database.writing() as session:
            self._refuse_taken_name(session, name, None)
            profile = Profile(
                name=name,
                safe_search=safe_search,
                bypass_protection=bypass_protection,
                block_mode=block_mode,
                is_default=False,
                created_at=now,
            )
            session.add(profile)
            session.flush()
            self.bump(session)
            return profile_data(profile)

    def list_profiles(self) -> tuple[ProfileData, ...]:
        """Every profile with its tags, names and rules (overrides: see ``list_overrides``)."""
        with self.database.reading() as session:
            return profiles_with_details(session, None)

    def get_profile(self, profile_id: int) -> ProfileData:
        with self.database.reading() as session:
            find(session, Profile, profile_id, "profile")
            return next(p for p in profiles_with_details(session, None) if p.id == profile_id)

    def rename_profile(self, profile_id: int, name: str) -> None:
        name = check.person_name(name)
        with self.database.writing() as session:
            profile = find(session, Profile, profile_id, "profile")
            self._refuse_taken_name(session, name, profile_id)
            profile.name = name
            self.bump(session)

    def delete_profile(self, profile_id: int) -> int:
        """Delete a profile; its devices move to the default profile. Returns how many moved."""
        with self.database.writing() as session:
            profile = find(session, Profile, profile_id, "profile")
            if profile.is_default:
                raise PolicyInputError(
                    f'"{profile.name}" is the default profile and cannot be deleted; '
                    "make another profile the default first."
                )
            default_id = default_profile_id(session)
            moved = rowcount(
                session.execute(update(Device).where(Device.profile_id == profile_id).values(profile_id=default_id))
            )
            session.execute(delete(Setting).where(Setting.key == NEW_DEVICES_PROFILE, Setting.value == str(profile_id)))
            session.delete(profile)
            self.bump(session)
            return moved

    def make_default_profile(self, profile_id: int) -> None:
        """Make this the profile for devices nobody has assigned (exactly one is the default)."""
        with self.database.writing() as session:
            profile = find(session, Profile, profile_id, "profile")
            if profile.is_default:
                return
            session.execute(update(Profile).where(Profile.is_default).values(is_default=False))
            session.flush()  # the unique index allows one default at a time
            profile.is_default = True
            self.bump(session)

    def set_safe_search(self, profile_id: int, level: str) -> None:
        self._set_profile_field(profile_id, "safe_search", check.choice(level, SAFE_SEARCH, "safe search level"))

    def set_bypass_protection(self, profile_id: int, enabled: bool) -> None:
        self._set_profile_field(profile_id, "bypass_protection", bool(enabled))

    def set_block_mode(self, profile_id: int, mode: str) -> None:
        self._set_profile_field(profile_id, "block_mode", check.choice(mode, BLOCK_MODES, "block mode"))

    # -- blocked tags and allow/deny names -----------------------------------

    def add_blocked_tags(self, profile_id: int, tags: Iterable[str]) -> None:
        """Always block these categories or services (tags already blocked are fine)."""
        wanted = check.tags(tags)
        with self.database.writing() as session:
            find(session, Profile, profile_id, "profile")
            have = set(session.scalars(select(ProfileTag.tag).where(ProfileTag.profile_id == profile_id)))
            session.add_all(ProfileTag(profile_id=profile_id, tag=tag) for tag in wanted if tag not in have)
            self.bump(session)

    def remove_blocked_tags(self, profile_id: int, tags: Iterable[str]) -> None:
        unwanted = check.tags(tags)
        with self.database.writing() as session:
            find(session, Profile, profile_id, "profile")
            session.execute(
                delete(ProfileTag).where(ProfileTag.profile_id == profile_id, ProfileTag.tag.in_(unwanted))
            )
            self.bump(session)

    def allow_domain(self, profile_id: int, name: str) -> str:
        """Always allow ``name`` and its subdomains (replaces a deny entry). Returns the stored name."""
        return self._set_domain(profile_id, name, "allow")

    def deny_domain(self, profile_id: int, name: str) -> str:
        """Always block ``name`` and its subdomains (replaces an allow entry). Returns the stored name."""
        return self._set_domain(profile_id, name, "deny")

    def remove_domain(self, profile_id: int, name: str) -> bool:
        """Forget the allow or deny entry for ``name``; False when there was none."""
        name = check.domain(name)
        with self.database.writing() as session:
            find(session, Profile, profile_id, "profile")
            entry = session.get(DomainEntry, (profile_id, name))
            if entry is None:
                return False
            session.delete(entry)
            self.bump(session)
            return True

    # -- settings ------------------------------------------------------------

    def get_setting(self, key: str, default: Any = None) -> Any:
        with self.database.reading() as session:
            setting = session.get(Setting, key)
            return default if setting is None else json.loads(setting.value)

    def set_setting(self, key: str, value: Any) -> None:
        """Store any JSON-compatible value under ``key``."""
        stored = check.setting_value(check.setting_key(key), value)
        with self.database.writing() as session:
            session.merge(Setting(key=key, value=stored))
            self.bump(session)

    def delete_setting(self, key: str) -> None:
        with self.database.writing() as session:
            if rowcount(session.execute(delete(Setting).where(Setting.key == key))):
                self.bump(session)

    def set_new_devices_profile(self, profile_id: int | None) -> None:
        """Where new devices land; None means the default profile."""
        with self.database.writing() as session:
            if profile_id is None:
                session.execute(delete(Setting).where(Setting.key == NEW_DEVICES_PROFILE))
            else:
                find(session, Profile, profile_id, "profile")
                session.merge(Setting(key=NEW_DEVICES_PROFILE, value=str(profile_id)))
            self.bump(session)

    def set_up_default_profile(self, tags: Iterable[str], block_mode: str, safe_search: str) -> bool:
        """Give a new database's default profile its first blocked tags, block
        mode and safe search, once: False when that was already done (or a
        policy was imported), so a parent's later choices are never overwritten."""
        wanted = check.tags(tags)
        mode = check.choice(block_mode, BLOCK_MODES, "block mode")
        level = check.choice(safe_search, SAFE_SEARCH, "safe search level")
        with self.database.writing() as session:
            if session.get(Setting, DEFAULT_PROFILE_SET_UP) is not None:
                return False
            profile = find(session, Profile, default_profile_id(session), "profile")
            profile.block_mode = mode
            profile.safe_search = level
            have = set(session.scalars(select(ProfileTag.tag).where(ProfileTag.profile_id == profile.id)))
            session.add_all(ProfileTag(profile_id=profile.id, tag=tag) for tag in wanted if tag not in have)
            session.add(Setting(key=DEFAULT_PROFILE_SET_UP, value="true"))
            self.bump(session)
        return True

    # -- everything at once ---------------------------------------------------

    def replace_policy(
        self,
        profiles: Sequence[ProfileData],
        devices: Sequence[DeviceData],
        settings: Mapping[str, Any],
        *,
        new_devices_profile: int | None,
        now: datetime,
    ) -> None:
        """Replace the whole policy in one transaction (``dnsfilter policy import``).

        Profiles carry their tags, names, rules and overrides; a profile's ``id``
        only links it to ``devices`` and ``new_devices_profile`` (the database
        numbers rows anew, and ``created_at`` of a profile is ``now``). A device
        already known keeps what the network told about it: its addresses and
        name, and when it was first and last seen.
        Everything is checked first; on any error nothing changes.
        """
        names = [check.person_name(profile.name).casefold() for profile in profiles]
        if len(set(names)) < len(names) or sum(profile.is_default for profile in profiles) != 1:
            raise PolicyInputError("Profile names must differ, and exactly one profile must be the default.")
        rows = {profile.id: _profile_rows(profile, now) for profile in profiles}
        for device in devices:
            check.device_key(device.key)
        labels = [check.person_name(device.label, "device name") if device.label else None for device in devices]
        for wanted in [device.profile_id for device in devices] + [new_devices_profile or profiles[0].id]:
            if wanted not in rows:
                raise NotFoundError(f"There is no profile number {wanted} among the profiles given.")
        # The new-devices profile is a row id, set by new_devices_profile instead.
        settings = {key: value for key, value in settings.items() if key != NEW_DEVICES_PROFILE}
        stored = {check.setting_key(key): check.setting_value(key, value) for key, value in settings.items()}
        with self.database.writing() as session:
            known = {row.key: row for row in session.execute(select(Device.__table__))}
            for model in (Budget, Override, Rule, ProfileTag, DomainEntry, Device, Setting, Profile):
                session.execute(delete(model))
            for profile, children in rows.values():
                session.add(profile)
                session.flush()  # gives the profile the id its rows point at
                for child in children:
                    child.profile_id = profile.id
                session.add_all(children)
            for device, label in zip(devices, labels, strict=True):
                seen = known.get(device.key, device)
                session.add(
                    Device(
                        key=device.key,
                        mac=seen.mac,
                        ip=seen.ip,
                        name=seen.name,
                        label=label,
                        profile_id=rows[device.profile_id][0].id,
                        is_new=device.is_new,
                        first_seen=seen.first_seen,
                        last_seen=seen.last_seen,
                    )
                )
            stored.setdefault(DEFAULT_PROFILE_SET_UP, "true")  # the imported profiles are the parent's choice
            session.add_all(Setting(key=key, value=value) for key, value in stored.items())
            if new_devices_profile is not None:
                session.add(Setting(key=NEW_DEVICES_PROFILE, value=str(rows[new_devices_profile][0].id)))
            self.bump(session)

    # -- shared --------------------------------------------------------------

    def bump(self, session: Session) -> None:
        bump_version(session, self.database.is_postgresql)

    def _refuse_taken_name(self, session: Session, name: str, own_id: int | None) -> None:
        # Case-insensitive: "mia" next to "Mia" would only confuse.
        for other_id, other in session.execute(select(Profile.id, Profile.name)):
            if other_id != own_id and other.casefold() == name.casefold():
                raise PolicyInputError(f'There is already a profile called "{other}"; choose another name.')

    def _set_profile_field(self, profile_id: int, field: str, value: object) -> None:
        with self.database.writing() as session:
            setattr(find(session, Profile, profile_id, "profile"), field, value)
            self.bump(session)

    def _set_domain(self, profile_id: int, name: str, kind: str) -> str:
        name = check.domain(name)
        with self.database.writing() as session:
            find(session, Profile, profile_id, "profile")
            entry = session.get(DomainEntry, (profile_id, name))
            if entry is None:
                session.add(DomainEntry(profile_id=profile_id, name=name, kind=kind))
            else:
                entry.kind = kind
            self.bump(session)
            return name


def _profile_rows(
    profile: ProfileData, now: datetime
) -> tuple[Profile, list[ProfileTag | DomainEntry | Rule | Override | Budget]]:
    """A profile's row and the checked rows that belong to it (``replace_policy`` sets their profile_id)."""
    row = Profile(
        name=check.person_name(profile.name),
        safe_search=check.choice(profile.safe_search, SAFE_SEARCH, "safe search level"),
        bypass_protection=bool(profile.bypass_protection),
        block_mode=check.choice(profile.block_mode, BLOCK_MODES, "block mode"),
        is_default=bool(profile.is_default),
        created_at=now,
    )
    if profile.allowed_names & profile.denied_names:
        raise PolicyInputError(f'A name is both allowed and denied for "{row.name}"; keep one of the two.')
    children: list[ProfileTag | DomainEntry | Rule | Override | Budget] = [
        ProfileTag(tag=tag) for tag in check.tags(sorted(profile.blocked_tags))
    ]
    children += [DomainEntry(name=name, kind="allow") for name in check.domains(sorted(profile.allowed_names))]
    children += [DomainEntry(name=name, kind="deny") for name in check.domains(sorted(profile.denied_names))]
    for rule in profile.rules:
        values = rule_values(rule.days, rule.start, rule.end, rule.action, rule.tags, rule.allow)
        children.append(Rule(enabled=bool(rule.enabled), **values))
    for item in profile.overrides:
        kind = check.choice(item.kind, OVERRIDE_KINDS, "override kind")
        target = item.target or ""
        children.append(
            Override(
                kind=kind,
                target=None if kind == "pause" else check.tag(target) if kind == "grant" else check.domain(target),
                expires_at=check.until(item.expires_at, now),
                created_by=check.person_name(item.created_by, "name of who made the change"),
                created_at=item.created_at,
                note=check.note(item.note),
            )
        )
    budgets = [checked_budget(item.tag, item.minutes, item.days) for item in profile.budgets]
    if len({tag for tag, _minutes, _days in budgets}) < len(budgets):
        raise PolicyInputError(f'"{row.name}" has two budgets for the same category or service; keep one.')
    children += [Budget(tag=tag, minutes=minutes, days=days) for tag, minutes, days in budgets]
    return row, children


__all__ = ["NotFoundError", "PolicyInputError", "PolicyStore"]
