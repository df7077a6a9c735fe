"""Reading rows into plain records, and the small queries every store method shares."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Hashable, Iterable
from datetime import datetime
from types import MappingProxyType
from typing import Any, TypeVar, cast

from sqlalchemy import CursorResult, Result, func, select, update
from sqlalchemy.orm import Session

from dnsfilter.policy.records import (
    NEW_DEVICES_PROFILE,
    BudgetData,
    DeviceData,
    OverrideData,
    PolicyData,
    ProfileData,
    RuleData,
)
from dnsfilter.store.database import NOTIFY_CHANNEL
from dnsfilter.store.models import (
    Base,
    Device,
    DomainEntry,
    Override,
    PolicyVersion,
    Profile,
    ProfileTag,
    Rule,
    Setting,
)
from dnsfilter.store.querylog.models import Budget, UsageMinute
from dnsfilter.store.validation import NotFoundError

Row = TypeVar("Row", bound=Base)
Key = TypeVar("Key", bound=Hashable)
Item = TypeVar("Item")


def find(session: Session, model: type[Row], row_id: int, what: str) -> Row:
    """The row with this id, or NotFoundError naming what was looked for."""
    row = session.get(model, row_id) if isinstance(row_id, int) and not isinstance(row_id, bool) else None
    if row is None:
        raise NotFoundError(f"There is no {what} number {row_id}; it may have been deleted. Reload and try again.")
    return row


def rowcount(result: Result[Any]) -> int:
    """How many rows an UPDATE or DELETE touched."""
    return int(cast(CursorResult[Any], result).rowcount)


def current_version(session: Session) -> int:
    return session.execute(select(PolicyVersion.version).where(PolicyVersion.id == 1)).scalar_one()


def bump_version(session: Session, notify: bool) -> None:
    """Count one policy change in the caller's transaction; ``notify`` on PostgreSQL."""
    session.flush()  # constraint errors surface here, before the count moves
    session.execute(update(PolicyVersion).where(PolicyVersion.id == 1).values(version=PolicyVersion.version + 1))
    if notify:
        # PostgreSQL delivers it only when (and if) the transaction commits.
        session.execute(select(func.pg_notify(NOTIFY_CHANNEL, "")))


def default_profile_id(session: Session) -> int:
    return session.execute(select(Profile.id).where(Profile.is_default)).scalar_one()


def new_devices_profile_id(session: Session) -> int:
    """The profile chosen for new devices, or the default when none is (or it is gone)."""
    setting = session.get(Setting, NEW_DEVICES_PROFILE)
    if setting is not None:
        chosen = json.loads(setting.value)
        if isinstance(chosen, int) and session.get(Profile, chosen) is not None:
            return chosen
    return default_profile_id(session)


def grouped(pairs: Iterable[tuple[Key, Item]]) -> dict[Key, tuple[Item, ...]]:
    """The items of ``(key, item)`` pairs gathered by key, each group in the order the pairs came.

    The order matters: the snapshot takes the first rule, override or budget that applies, so the
    queries' ORDER BY must carry through to each profile's group."""
    groups: defaultdict[Key, list[Item]] = defaultdict(list)
    for key, item in pairs:
        groups[key].append(item)
    return {key: tuple(items) for key, items in groups.items()}


def profiles_with_details(session: Session, now: datetime | None) -> tuple[ProfileData, ...]:
    """Every profile with tags, names, rules and budgets; with overrides active at ``now`` when given."""
    # One query per kind of detail, then split by profile: not one query per profile.
    tags = grouped(session.execute(select(ProfileTag.profile_id, ProfileTag.tag)))
    entries = session.execute(select(DomainEntry.profile_id, DomainEntry.kind, DomainEntry.name))
    names = grouped(((profile_id, kind), name) for profile_id, kind, name in entries)
    rules = grouped((rule.profile_id, rule_data(rule)) for rule in session.scalars(select(Rule).order_by(Rule.id)))
    overrides: dict[int, tuple[OverrideData, ...]] = {}
    if now is not None:
        active = select(Override).where(Override.expires_at > now).order_by(Override.expires_at, Override.id)
        overrides = grouped((item.profile_id, override_data(item)) for item in session.scalars(active))
    by_tag = select(Budget).order_by(Budget.tag, Budget.id)
    budgets = grouped((budget.profile_id, budget_data(budget)) for budget in session.scalars(by_tag))
    return tuple(
        profile_data(
            profile,
            blocked_tags=frozenset(tags.get(profile.id, ())),
            allowed_names=frozenset(names.get((profile.id, "allow"), ())),
            denied_names=frozenset(names.get((profile.id, "deny"), ())),
            rules=rules.get(profile.id, ()),
            overrides=overrides.get(profile.id, ()),
            budgets=budgets.get(profile.id, ()),
        )
        for profile in session.scalars(select(Profile).order_by(Profile.id))
    )


def load_policy(session: Session, now: datetime, usage_day: int | None = None) -> PolicyData:
    settings = {setting.key: json.loads(setting.value) for setting in session.scalars(select(Setting))}
    return PolicyData(
        version=current_version(session),
        profiles=profiles_with_details(session, now),
        devices=tuple(device_data(device) for device in session.scalars(select(Device).order_by(Device.id))),
        settings=MappingProxyType(settings),
        usage_day=usage_day,
        used_minutes=MappingProxyType({} if usage_day is None else budgeted_minutes(session, usage_day)),
    )


def budgeted_minutes(session: Session, day: int) -> dict[tuple[int, str], int]:
    """Distinct minutes used on ``day`` per (profile id, tag), for the tags that have a budget."""
    budgeted = select(Budget.profile_id, Budget.tag).distinct().subquery()
    # Joined on the whole key prefix (profile, tag, day): each budget is an index range, not a scan.
    query = (
        select(budgeted.c.profile_id, budgeted.c.tag, func.count())
        .join(
            UsageMinute,
            (UsageMinute.profile_id == budgeted.c.profile_id)
            & (UsageMinute.tag == budgeted.c.tag)
            & (UsageMinute.day == day),
        )
        .group_by(budgeted.c.profile_id, budgeted.c.tag)
    )
    return {(profile_id, tag): count for profile_id, tag, count in session.execute(query)}


def profile_data(
    profile: Profile,
    *,
    blocked_tags: frozenset[str] = frozenset(),
    allowed_names: frozenset[str] = frozenset(),
    denied_names: frozenset[str] = frozenset(),
    rules: tuple[RuleData, ...] = (),
    overrides: tuple[OverrideData, ...] = (),
    budgets: tuple[BudgetData, ...] = (),
) -> ProfileData:
    return ProfileData(
        id=profile.id,
        name=profile.name,
        safe_search=profile.safe_search,
        bypass_protection=profile.bypass_protection,
        block_mode=profile.block_mode,
        is_default=profile.is_default,
        created_at=profile.created_at,
        blocked_tags=blocked_tags,
        allowed_names=allowed_names,
        denied_names=denied_names,
        rules=rules,
        overrides=overrides,
        budgets=budgets,
    )


def rule_data(rule: Rule) -> RuleData:
    return RuleData(
        id=rule.id,
        profile_id=rule.profile_id,
        days=rule.days,
        start=rule.start,
        end=rule.end,
        action=rule.action,
        tags=tuple(rule.tags),
        allow=tuple(rule.allow),
        enabled=rule.enabled,
    )


def override_data(item: Override) -> OverrideData:
    return OverrideData(
        id=item.id,
        profile_id=item.profile_id,
        kind=item.kind,
        target=item.target,
        expires_at=item.expires_at,
        created_by=item.created_by,
        created_at=item.created_at,
        note=item.note,
    )


def budget_data(budget: Budget) -> BudgetData:
    return BudgetData(
        id=budget.id, profile_id=budget.profile_id, tag=budget.tag, minutes=budget.minutes, days=budget.days
    )


def device_data(device: Device) -> DeviceData:
    return DeviceData(
        id=device.id,
        key=device.key,
        mac=device.mac,
        ip=device.ip,
        name=device.name,
        label=device.label,
        profile_id=device.profile_id,
        is_new=device.is_new,
        first_seen=device.first_seen,
        last_seen=device.last_seen,
    )
