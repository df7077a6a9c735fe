"""How fast a large query log reads: a search page and a day's summary.

Everything timed goes through ``dnsfilter.store.querylog.queries`` (``search`` and
``summary``), as the command line and the parents' page call it, over the
last whole day (UTC) of the log. What to ask for is chosen from the log
itself first, untimed:

- the device whose queries that day are the median of all devices', and the
  profile it was in;
- the tag asked least that day that still fills a page (the hardest tag
  filter a parent can make: the read passes most of the day's rows);
- the most asked name of the day (common) and, of the names 12 to 30
  characters long, the first in alphabetical order of those asked least
  (rare: once; a page that never fills, so the whole day is read).

Each read runs five times; the best and the slowest are printed, with how
many of the day's rows the filter matches (counted apart, untimed).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from results_table import aligned
from sqlalchemy import func, select

from dnsfilter.store.database import Database
from dnsfilter.store.querylog.models import HourlyCount, NameCount, QueryLogRow
from dnsfilter.store.querylog.queries import (
    BLOCK,
    LogFilter,
    LogRecord,
    Summary,
    search,
    summary,
)
from dnsfilter.store.querylog.scan import conditions

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
TARGET_MS = 200.0  # "each under 200 ms on SQLite"
RUNS = 5
PAGE = 50
TOP = 10
Result = TypeVar("Result")
COLUMNS = (
    ("read", "<"),
    ("matches in the day", ">"),
    ("returned", ">"),
    ("best ms", ">"),
    ("slowest ms", ">"),
    ("< 200 ms", ">"),
)


@dataclass(frozen=True, slots=True)
class Choices:
    since_ms: int  # the last whole day of the log
    until_ms: int
    rows: int  # rows of that day
    device: str
    profile_id: int
    tag: str
    common_name: str
    rare_name: str

    def day(self) -> str:
        return datetime.fromtimestamp(self.since_ms / 1000, UTC).strftime("%Y-%m-%d")


@dataclass(frozen=True, slots=True)
class Timing:
    label: str
    matches: str
    returned: str
    best_ms: float
    slowest_ms: float


def choose(database: Database) -> Choices | None:
    """What to read, from the log's last whole day (None when the log is empty)."""
    with database.reading() as session:
        last = session.execute(select(func.max(QueryLogRow.at_ms))).scalar_one_or_none()
        if last is None:
            return None
        until = (int(last) // DAY_MS + 1) * DAY_MS
        since = until - DAY_MS
        hours = (
            HourlyCount.hour >= since // HOUR_MS,
            HourlyCount.hour < until // HOUR_MS,
        )
        day = LogFilter(since_ms=since, until_ms=until)
        rows = _count(session, day)
        per_device = session.execute(
            select(HourlyCount.device, func.sum(HourlyCount.count).label("queries"))
            .where(HourlyCount.tag == "", *hours)
            .group_by(HourlyCount.device)
            .order_by("queries", HourlyCount.device)
        ).all()
        device = per_device[len(per_device) // 2][0]
        profile = session.execute(
            select(HourlyCount.profile_id)
            .where(HourlyCount.device == device, HourlyCount.tag == "", *hours)
            .group_by(HourlyCount.profile_id)
            .order_by(func.sum(HourlyCount.count).desc())
            .limit(1)
        ).scalar_one()
        per_tag = session.execute(
            select(HourlyCount.tag, func.sum(HourlyCount.count).label("queries"))
            .where(HourlyCount.tag != "", *hours)
            .group_by(HourlyCount.tag)
            .order_by("queries", HourlyCount.tag)
        ).all()
        # Queries, not rows: a row stands for up to a few; four pages of
        # queries still fill one page of rows.
        filling = [tag for tag, queries in per_tag if queries >= 4 * PAGE] or [""]
        name_hours = (
            NameCount.hour >= since // HOUR_MS,
            NameCount.hour < until // HOUR_MS,
        )
        asked = func.sum(NameCount.count).label("asked")
        by_name = (
            select(NameCount.name, asked).where(*name_hours).group_by(NameCount.name)
        )
        common = session.execute(
            by_name.order_by(asked.desc(), NameCount.name).limit(1)
        ).scalar_one()
        ordinary = (
            func.length(NameCount.name) >= 12,
            func.length(NameCount.name) <= 30,
        )
        rare = session.execute(
            by_name.where(*ordinary).order_by(asked, NameCount.name).limit(1)
        ).scalar_one()
    return Choices(
        since, until, rows, str(device), int(profile), str(filling[0]), common, rare
    )


def time_reads(database: Database, chosen: Choices) -> list[Timing]:
    """Each search page and summary, best of RUNS."""
    day = LogFilter(since_ms=chosen.since_ms, until_ms=chosen.until_ms)
    searches = [
        ("search: no filter", day),
        (f"search: device {chosen.device}", replace(day, device=chosen.device)),
        (f"search: profile {chosen.profile_id}, blocked",
         replace(day, profile_id=chosen.profile_id, action=BLOCK)),
        (f"search: tag {chosen.tag}", replace(day, tag=chosen.tag)),
        (f'search: name text "{chosen.common_name}" (common)',
         replace(day, name_contains=chosen.common_name)),
        (f'search: name text "{chosen.rare_name}" (rare)',
         replace(day, name_contains=chosen.rare_name)),
    ]  # fmt: skip
    timings = []
    for label, where in searches:
        with database.reading() as session:
            matches = f"{_count(session, where):,} rows"

        def page_of(where: LogFilter = where) -> list[LogRecord]:
            return search(database, where, limit=PAGE)

        page, best, slowest = _best_of(page_of)
        timings.append(Timing(label, matches, f"{len(page)} rows", best, slowest))
    summaries: list[tuple[str, dict[str, Any]]] = [
        ("summary: whole home", {}),
        (f"summary: profile {chosen.profile_id}", {"profile_id": chosen.profile_id}),
        (f"summary: device {chosen.device}", {"device": chosen.device}),
    ]
    for label, who in summaries:

        def read(who: dict[str, Any] = who) -> Summary:
            return summary(
                database,
                since_ms=chosen.since_ms,
                until_ms=chosen.until_ms,
                top=TOP,
                **who,
            )

        day_summary, best, slowest = _best_of(read)
        returned = (
            f"top {len(day_summary.top_names)} + {len(day_summary.top_blocked)} blocked"
        )
        timings.append(
            Timing(label, f"{day_summary.total:,} queries", returned, best, slowest)
        )
    return timings


def _count(session: Any, where: LogFilter) -> int:
    return int(
        session.execute(select(func.count()).where(*conditions(where))).scalar_one()
    )


def _best_of(call: Callable[[], Result]) -> tuple[Result, float, float]:
    """``call``'s result with its best and slowest time of RUNS runs, in ms."""
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        result = call()
        times.append((time.perf_counter() - started) * 1000)
    return result, min(times), max(times)


def format_reads(
    heading: list[str], chosen: Choices | None, timings: list[Timing]
) -> str:
    if chosen is None:
        return "\n".join([*heading, "! the log is empty: nothing to read"])
    about = (
        f"the day read: {chosen.day()} (UTC), {chosen.rows:,} rows; pages of {PAGE}, "
        f"summaries with the top {TOP} names; best and slowest of {RUNS} runs, through "
        "dnsfilter.store.querylog.queries in this process"
    )
    lines = [*heading, about]
    body = [
        [
            timing.label,
            timing.matches,
            timing.returned,
            f"{timing.best_ms:,.1f}",
            f"{timing.slowest_ms:,.1f}",
            "yes" if timing.best_ms < TARGET_MS else "NO",
        ]
        for timing in timings
    ]
    lines += aligned(COLUMNS, body)
    return "\n".join(lines)


def file_size(path: Path) -> int:
    """The database and its WAL, in bytes."""
    return sum(
        candidate.stat().st_size
        for candidate in (path, path.with_name(path.name + "-wal"))
        if candidate.exists()
    )
