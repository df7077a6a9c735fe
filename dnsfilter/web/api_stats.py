"""Charts: queries and blocks per day and per hour, screen time per category."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, time, timedelta

from aiohttp import web

from dnsfilter.store.querylog.queries import hourly, minutes_by_day
from dnsfilter.web.bodies import query
from dnsfilter.web.errors import invalid
from dnsfilter.web.json import json_response
from dnsfilter.web.security import CONTEXT
from dnsfilter.web.views import when


def _number(day: date) -> int:
    return day.year * 10000 + day.month * 100 + day.day


async def days(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    body = query(request, ("days", "profile", "device"))
    count = body.integer("days", 1, 400, required=False) or 7
    profile_id = body.integer("profile", 1, 10**9, required=False)
    device = body.text("device", required=False, max_length=80)
    zone = context.service.config.zone
    today = context.now().astimezone(zone).date()
    first = today - timedelta(days=count - 1)
    since = datetime.combine(first, time(), zone)
    until = datetime.combine(today + timedelta(days=1), time(), zone)
    database = context.store.database
    hours = await asyncio.to_thread(
        hourly, database, since_ms=int(since.timestamp() * 1000), until_ms=int(until.timestamp() * 1000),
        profile_id=profile_id, device=device,
    )
    totals: dict[date, list[int]] = {}
    for hour, queries, blocked in hours:
        day = datetime.fromtimestamp(hour * 3600, UTC).astimezone(zone).date()
        counted = totals.setdefault(day, [0, 0])
        counted[0] += queries
        counted[1] += blocked
    minutes = {} if device is not None else await asyncio.to_thread(
        minutes_by_day, database, _number(first), _number(today), profile_id
    )
    rows = []
    for offset in range(count):
        day = first + timedelta(days=offset)
        queries, blocked = totals.get(day, [0, 0])
        rows.append({"day": day.isoformat(), "queries": queries, "blocked": blocked, "minutes": minutes.get(_number(day), {})})
    return json_response({"days": rows})


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
