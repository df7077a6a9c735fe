"""Records as the JSON the page reads (see /api/openapi.json for the shapes).

Times go out as ISO 8601 in UTC ending in Z; days as YYYY-MM-DD in the
family's zone. Text that came from the network (DHCP names, query names) is
sent as it is: the page shows it as text, and the JSON encoder escapes < and >.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from dnsfilter.policy.budgets import local_day
from dnsfilter.policy.records import (
    BudgetData,
    BudgetUse,
    DeviceData,
    OverrideData,
    ProfileData,
    RuleData,
)
from dnsfilter.policy.schedule import parse_days
from dnsfilter.store.querylog.queries import LogRecord

Json = dict[str, Any]


def when(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # the store writes UTC
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def when_ms(at_ms: int) -> str:
    return datetime.fromtimestamp(at_ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{at_ms % 1000:03d}Z"


def weekdays(days: str) -> list[int]:
    try:
        return sorted(parse_days(days))
    except ValueError:
        return []


def rule_view(rule: RuleData) -> Json:
    return {
        "id": rule.id, "profile_id": rule.profile_id, "days": rule.days, "weekdays": weekdays(rule.days),
        "start": rule.start, "end": rule.end, "action": rule.action, "tags": list(rule.tags),
        "allow": list(rule.allow), "enabled": rule.enabled,
    }


def override_view(item: OverrideData) -> Json:
    return {
        "id": item.id, "profile_id": item.profile_id, "kind": item.kind, "target": item.target,
        "expires_at": when(item.expires_at), "created_by": item.created_by, "created_at": when(item.created_at),
        "note": item.note,
    }


def budget_view(budget: BudgetData, use: BudgetUse | None = None) -> Json:
    return {
        "id": budget.id, "profile_id": budget.profile_id, "tag": budget.tag, "minutes": budget.minutes,
        "days": budget.days, "weekdays": weekdays(budget.days),
        "applies_today": use.applies if use is not None else None,
        "used_today": use.used if use is not None else None,
        "remaining_today": use.remaining if use is not None else None,
    }


def device_view(device: DeviceData) -> Json:
    return {
        "id": device.id, "key": device.key, "mac": device.mac, "ip": device.ip, "name": device.name,
        "label": device.label, "profile_id": device.profile_id, "is_new": device.is_new,
        "first_seen": when(device.first_seen), "last_seen": when(device.last_seen),
    }


def profile_view(
    profile: ProfileData,
    devices: Iterable[DeviceData],
    uses: Mapping[int, BudgetUse],
    new_devices_profile: int | None,
) -> Json:
    return {
        "id": profile.id, "name": profile.name, "is_default": profile.is_default,
        "is_new_devices_profile": profile.id == new_devices_profile,
        "safe_search": profile.safe_search, "bypass_protection": profile.bypass_protection,
        "block_mode": profile.block_mode,
        "blocked": sorted(profile.blocked_tags), "allow": sorted(profile.allowed_names),
        "deny": sorted(profile.denied_names),
        "rules": [rule_view(rule) for rule in profile.rules],
        "budgets": [budget_view(budget, uses.get(budget.id)) for budget in profile.budgets],
        "overrides": [override_view(item) for item in profile.overrides],
        "devices": [device.id for device in devices if device.profile_id == profile.id],
        "created_at": when(profile.created_at),
    }


def log_row_view(record: LogRecord, device_names: Mapping[str, str], profile_names: Mapping[int, str], type_name: str) -> Json:
    return {
        "id": record.id, "at": when_ms(record.at_ms), "device": record.device,
        "device_name": device_names.get(record.device), "profile_id": record.profile_id,
        "profile_name": profile_names.get(record.profile_id) if record.profile_id is not None else None,
        "name": record.name, "type": type_name, "action": record.action, "reason": record.reason,
        "category": record.category, "tags": list(record.tags), "list_id": record.list_id, "rule": record.rule,
        "upstream": record.upstream, "response_ms": round(record.response_us / 1000, 1), "rcode": record.rcode,
        "answer": record.answer, "repeats": record.repeats, "instance": record.instance,
    }


def family_day(moment: datetime, zone: Any) -> str:
    day = local_day(moment, zone)
    return f"{day // 10000:04d}-{day // 100 % 100:02d}-{day % 100:02d}"
