"""The family policy as the page shows it, read in one go, and the change
notice that gets a change into DNS answers at once."""

from __future__ import annotations

import asyncio
from datetime import datetime, time, timedelta

from dnsfilter.policy.budgets import budget_uses, local_day
from dnsfilter.policy.records import (
    NEW_DEVICES_PROFILE,
    PolicyData,
    ProfileData,
)
from dnsfilter.web.context import WebContext
from dnsfilter.web.errors import not_found
from dnsfilter.web.views import Json, profile_view


async def read_policy(context: WebContext) -> PolicyData:
    """Profiles, devices, active overrides and today's minutes, at one moment."""
    now = context.now()
    store = context.store
    return await asyncio.to_thread(store.load_all, now, local_day(now, context.service.config.zone))


def new_devices_profile(data: PolicyData) -> int | None:
    value = data.settings.get(NEW_DEVICES_PROFILE)
    return value if isinstance(value, int) else None


def find_profile(data: PolicyData, profile_id: int) -> ProfileData:
    for profile in data.profiles:
        if profile.id == profile_id:
            return profile
    raise not_found("profile")


async def profile_json(context: WebContext, profile_id: int) -> Json:
    data = await read_policy(context)
    return profile_view(find_profile(data, profile_id), data.devices, budget_uses(data), new_devices_profile(data))


async def changed(context: WebContext) -> None:
    """A change was written: DNS answers by it before the page is told it is done."""
    await context.service.apply_policy_now()


def sorted_profiles(data: PolicyData) -> list[ProfileData]:
    return sorted(data.profiles, key=lambda profile: (not profile.is_default, profile.name.casefold()))


def at_midnight_tonight(context: WebContext) -> datetime:
    """The next midnight in the family's zone ("until tonight")."""
    zone = context.service.config.zone
    local = context.now().astimezone(zone)
    return datetime.combine(local.date() + timedelta(days=1), time(), zone)
