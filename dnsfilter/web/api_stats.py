"""Charts: queries and blocks per day and per hour, screen time per category.

A day that has ended does not change any more, so its numbers are worked out
once and kept (``PastDays``): looking at a month's chart again, or a parent
leaving the page open, costs only today's hours, not a month of counts read
beside the DNS answers.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from aiohttp import web

from dnsfilter.store.database import Database
from dnsfilter.store.querylog.queries import hourly, minutes_by_day
from dnsfilter.web.bodies import query
from dnsfilter.web.errors import invalid
from dnsfilter.web.json import json_response
from dnsfilter.web.security import CONTEXT
from dnsfilter.web.views import when


def _number(day: date) -> int:
    return day.year * 10000 + day.month * 100 + day.day


Day = dict[str, Any]  # {"day", "queries", "blocked", "minutes"}


class PastDays:
    """The numbers of days that have ended, by (zone, profile, device, day); bounded."""

    LIMIT: Final = 20_000

    def __init__(self) -> None:
        self._days: dict[tuple[str, int | None, str | None, date], Day] = {}

    def get(self, key: tuple[str, int | None, str | None, date]) -> Day | None:
        return self._days.get(key)

    def keep(self, key: tuple[str, int | None, str | None, date], value: Day) -> None:
        if len(self._days) >= self.LIMIT:
            self._days.clear()
        self._days[key] = value


PAST_DAYS: Final = web.AppKey("past_days", PastDays)


def _read_days(
    database: Database, zone: ZoneInfo, first: date, last: date, profile_id: int | None, device: str | None
) -> dict[date, Day]:
    """Every day from ``first`` to ``last`` (inclusive, in ``zone``) from the database."""
    since = datetime.combine(first, time(), zone)
    until = datetime.combine(last + timedelta(days=1), time(), zone)
    found = hourly(
        database, since_ms=int(since.timestamp() * 1000), until_ms=int(until.timestamp() * 1000),
        profile_id=profile_id, device=device,
    )
    minutes = {} if device is not None else minutes_by_day(database, _number(first), _number(last), profile_id)
    days: dict[date, Day] = {}
    for offset in range((last - first).days + 1):
        day = first + timedelta(days=offset)
        days[day] = {"day": day.isoformat(), "queries": 0, "blocked": 0, "minutes": minutes.get(_number(day), {})}
    for hour, queries, blocked in found:
        counted = days.get(datetime.fromtimestamp(hour * 3600, UTC).astimezone(zone).date())
        if counted is not None:
            counted["queries"] += queries
            counted["blocked"] += blocked
    return days


async def days(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    body = query(request, ("days", "profile", "device"))
    count = body.integer("days", 1, 400, required=False) or 7
    profile_id = body.integer("profile", 1, 10**9, required=False)
    device = body.text("device", required=False, max_length=80)
    zone = context.service.config.zone
    today = context.now().astimezone(zone).date()
    first = today - timedelta(days=count - 1)
    kept = request.app[PAST_DAYS]
    wanted = [first + timedelta(days=offset) for offset in range(count)]
    known = {day: kept.get((zone.key, profile_id, device, day)) for day in wanted[:-1]}
    missing = [day for day, value in known.items() if value is None]
    database = context.store.database
    if missing:
        read = await asyncio.to_thread(_read_days, database, zone, missing[0], missing[-1], profile_id, device)
        for day in missing:
            known[day] = read[day]
            kept.keep((zone.key, profile_id, device, day), read[day])
    today_read = await asyncio.to_thread(_read_days, database, zone, today, today, profile_id, device)
    known[today] = today_read[today]
    return json_response({"days": [known[day] for day in wanted]})


async def hours(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    body = query(request, ("day", "profile", "device"))
    zone = context.service.config.zone
    text = body.text("day", required=False, max_length=10)
    try:
        day = date.fromisoformat(text) if text else context.now().astimezone(zone).date()
    except ValueError:
        raise invalid("day", '"day" must be a day written as 2026-12-07.') from None
    since = datetime.combine(day, time(), zone)
    until = datetime.combine(day + timedelta(days=1), time(), zone)
    found = await asyncio.to_thread(
        hourly, context.store.database, since_ms=int(since.timestamp() * 1000), until_ms=int(until.timestamp() * 1000),
        profile_id=body.integer("profile", 1, 10**9, required=False), device=body.text("device", required=False, max_length=80),
    )
    counted = {hour: (queries, blocked) for hour, queries, blocked in found}
    first, end = int(since.timestamp()) // 3600, int(until.timestamp()) // 3600
    return json_response(
        {
            "hours": [
                {"hour": when(datetime.fromtimestamp(hour * 3600, UTC)), "queries": counted.get(hour, (0, 0))[0],
                 "blocked": counted.get(hour, (0, 0))[1]}
                for hour in range(first, end)
            ]
        }
    )
