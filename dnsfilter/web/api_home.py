"""The home page: what is happening now, per person, and the lists' state."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, time, timedelta
from typing import Final

from aiohttp import web

from dnsfilter.lists.liststore import source_statuses
from dnsfilter.policy.records import PolicyData
from dnsfilter.store.querylog.queries import LogFilter, ProfileDay, by_profile, search
from dnsfilter.web.context import WebContext
from dnsfilter.policy.budgets import budget_uses
from dnsfilter.web.family import read_policy, sorted_profiles
from dnsfilter.web.json import json_response
from dnsfilter.web.logviews import row_views
from dnsfilter.web.security import CONTEXT
from dnsfilter.web.views import (
    Json,
    budget_view,
    device_view,
    family_day,
    override_view,
    when,
)

# Categories whose names are ways around the filter.
BYPASS_TAGS: Final = ("doh_bypass", "proxy_vpn")
BYPASS_SHOWN: Final = 20


def _midnight(context: WebContext, now: datetime) -> datetime:
    zone = context.service.config.zone
    return datetime.combine(now.astimezone(zone).date(), time(), zone)


def _until(posix: float | None) -> str | None:
    return when(datetime.fromtimestamp(posix, UTC)) if posix is not None else None


def _profile_now(context: WebContext, data: PolicyData, profile_id: int) -> Json:
    """What is in force for the profile now, from the snapshot DNS answers with."""
    snapshot = context.service.resolver.policy
    policy = snapshot.profiles.get(profile_id)
    profile = next(item for item in data.profiles if item.id == profile_id)
    if policy is None:
        return {"paused_until": None, "bedtime": None, "blocking_now": []}
    pause = next(
        (item for item in profile.overrides if item.kind == "pause" and item.id in policy.active_overrides), None
    )
    until_change = _until(policy.next_change)
    bedtime = None
    blocking = []
    for rule in profile.rules:
        if rule.id not in policy.active_rules:
            continue
        if rule.action == "allow_only":
            bedtime = {"rule_id": rule.id, "until": until_change}
        else:
            blocking.append({"rule_id": rule.id, "tags": list(rule.tags), "until": until_change})
    return {
        "paused_until": when(pause.expires_at) if pause is not None else None,
        "bedtime": bedtime,
        "blocking_now": blocking,
    }


async def overview(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    now = context.now()
    data = await read_policy(context)
    database = context.store.database
    since_ms = int(_midnight(context, now).timestamp() * 1000)
    until_ms = int(now.timestamp() * 1000) + 1
    uses = budget_uses(data)
    days = await asyncio.to_thread(by_profile, database, since_ms=since_ms, until_ms=until_ms, top=5)
    profiles = []
    for profile in sorted_profiles(data):
        today = days.get(profile.id, ProfileDay())
        minutes = {tag: used for (owner, tag), used in data.used_minutes.items() if owner == profile.id}
        profiles.append(
            {
                "id": profile.id, "name": profile.name,
                "devices": sum(1 for device in data.devices if device.profile_id == profile.id),
                "queries": today.total, "blocked": today.blocked,
                "top_sites": [list(item) for item in today.top_visited],
                "top_blocked": [list(item) for item in today.top_blocked],
                "minutes": minutes,
                "budgets": [budget_view(budget, uses.get(budget.id)) for budget in profile.budgets],
                "overrides": [override_view(item) for item in profile.overrides],
                **_profile_now(context, data, profile.id),
            }
        )
    day_ago = int((now - timedelta(days=1)).timestamp() * 1000)
    # Names of encrypted-DNS and VPN services, and the canaries bypass protection
    # answers itself (Firefox's, iCloud Private Relay's): each a way around the filter.
    wheres = [LogFilter(since_ms=day_ago, tag=tag) for tag in BYPASS_TAGS]
    wheres += [LogFilter(since_ms=day_ago, action=action) for action in ("local_nxdomain", "local_nodata")]
    attempts = []
    for where in wheres:
        attempts += await asyncio.to_thread(search, database, where, limit=BYPASS_SHOWN)
    unique = {record.id: record for record in attempts}
    newest = sorted(unique.values(), key=lambda record: -record.id)[:BYPASS_SHOWN]
    return json_response(
        {
            "now": when(now), "day": family_day(now, context.service.config.zone),
            "totals": {
                "queries": sum(day.total for day in days.values()),
                "blocked": sum(day.blocked for day in days.values()),
            },
            "profiles": profiles,
            "new_devices": [device_view(device) for device in data.devices if device.is_new],
            "bypass_attempts": row_views(newest, data),
        }
    )


async def lists_status(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    service = context.service
    blocklists = service.blocklists
    counts = blocklists.index.metadata.get("sources")
    statuses = await asyncio.to_thread(
        source_statuses, blocklists.catalog.sources, blocklists.store, counts if isinstance(counts, dict) else None
    )
    built = blocklists.index.metadata.get("built_at")
    return json_response(
        {
            "sources": [
                {
                    "id": source.id, "category": source.category,
                    "provider": source.attribution,
                    "entries": status.entries or None, "rejected": status.rejected_lines if status.entries else None,
                    "updated_at": _until(status.last_success), "last_error": status.last_error,
                    "bundled": status.bundled,
                }
                for source, status in statuses
            ],
            "index": {
                "names": len(blocklists.index),
                "built_at": _until(built) if isinstance(built, float) else None,
                "current": blocklists.is_current(),
            },
            "auto_update": service.config.lists.auto_update,
            "update_interval_hours": service.config.lists.update_interval_hours,
            "updating": service.lists_updating,
        }
    )


async def update_lists(request: web.Request) -> web.Response:
    service = request.app[CONTEXT].service
    if not service.lists_updating:
        task = asyncio.get_running_loop().create_task(service.update_lists(), name="update lists now")
        request.app[UPDATES].add(task)
        task.add_done_callback(request.app[UPDATES].discard)
    return json_response({"updating": True}, status=202)


UPDATES: web.AppKey[set[asyncio.Task[None]]] = web.AppKey("updates")
