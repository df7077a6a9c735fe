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
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from dnsfilter.store import validation as check
from dnsfilter.store.database import Database
from dnsfilter.store.devices import DeviceMethods
from dnsfilter.store.models import (
    Device,
    DomainEntry,
    Profile,
    ProfileTag,
    Rule,
    Setting,
)
from dnsfilter.store.overrides import OverrideMethods
from dnsfilter.store.queries import (
    NEW_DEVICES_PROFILE,
    bump_version,
    current_version,
    default_profile_id,
    find,
    load_policy,
    profile_data,
    profiles_with_details,
    rowcount,
    rule_data,
)
from dnsfilter.store.records import PolicyData, ProfileData, RuleData
from dnsfilter.store.validation import NotFoundError, PolicyInputError

SAFE_SEARCH = ("off", "on", "strict")
BLOCK_MODES = ("null_ip", "nxdomain")
RULE_ACTIONS = ("block_tags", "allow_only")


class PolicyStore(DeviceMethods, OverrideMethods):
    """Reads and changes the family policy in ``database``."""

    def __init__(self, database: Database) -> None:
        self.database = database

    # -- version and snapshot ------------------------------------------------

    def policy_version(self) -> int:
        """The counter bumped by every policy change."""
        with self.database.reading() as session:
            return current_version(session)

    def load_all(self, now: datetime) -> PolicyData:
        """Everything a snapshot needs, read at one moment; overrides expired at ``now`` are left out."""
        with self.database.reading() as session:
            return load_policy(session, now)

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

    # -- rules ---------------------------------------------------------------

    def add_rule(
        self,
        profile_id: int,
        *,
        days: str,
        start: str,
        end: str,
        action: str,
        tags: Iterable[str] = (),
        allow: Iterable[str] = (),
        enabled: bool = True,
    ) -> RuleData:
        values = _rule_values(days, start, end, action, tags, allow)
        with self.database.writing() as session:
            find(session, Profile, profile_id, "profile")
            rule = Rule(profile_id=profile_id, enabled=bool(enabled), **values)
            session.add(rule)
            session.flush()
            self.bump(session)
            return rule_data(rule)

    def update_rule(
        self,
        rule_id: int,
        *,
        days: str | None = None,
        start: str | None = None,
        end: str | None = None,
        action: str | None = None,
        tags: Iterable[str] | None = None,
        allow: Iterable[str] | None = None,
        enabled: bool | None = None,
    ) -> RuleData:
        """Change the given fields; the others keep their values."""
        with self.database.writing() as session:
            rule = find(session, Rule, rule_id, "rule")
            values = _rule_values(
                rule.days if days is None else days,
                rule.start if start is None else start,
                rule.end if end is None else end,
                rule.action if action is None else action,
                rule.tags if tags is None else tags,
                rule.allow if allow is None else allow,
            )
            for field, value in values.items():
                setattr(rule, field, value)
            if enabled is not None:
                rule.enabled = bool(enabled)
            self.bump(session)
            return rule_data(rule)

    def delete_rule(self, rule_id: int) -> None:
        with self.database.writing() as session:
            session.delete(find(session, Rule, rule_id, "rule"))
            self.bump(session)

    def list_rules(self, profile_id: int | None = None) -> tuple[RuleData, ...]:
        with self.database.reading() as session:
            query = select(Rule).order_by(Rule.id)
            if profile_id is not None:
                find(session, Profile, profile_id, "profile")
                query = query.where(Rule.profile_id == profile_id)
            return tuple(rule_data(rule) for rule in session.scalars(query))

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


def _rule_values(
    days: str, start: str, end: str, action: str, tags: Iterable[str], allow: Iterable[str]
) -> dict[str, Any]:
    action = check.choice(action, RULE_ACTIONS, "rule action")
    values: dict[str, Any] = {
        "days": check.days(days),
        "start": check.clock_time(start, "start time"),
        "end": check.clock_time(end, "end time"),
        "action": action,
        "tags": check.tags(tags),
        "allow": check.domains(allow),
    }
    if action == "block_tags" and not values["tags"]:
        raise PolicyInputError("A rule that blocks categories needs at least one category or service.")
    if action == "block_tags" and values["allow"]:
        raise PolicyInputError('Only an "allow_only" rule has a list of allowed names.')
    if action == "allow_only" and values["tags"]:
        raise PolicyInputError('An "allow_only" rule blocks everything else; it takes no categories.')
    return values


__all__ = ["NotFoundError", "PolicyInputError", "PolicyStore"]
