"""Reading the query log: searching it a page at a time, following it live,
and the numbers behind the charts and the daily summary.

Every function blocks; async callers use ``asyncio.to_thread``. Names,
rules and answers come back exactly as the writer stored them (the wire
parser's escaped presentation form): nothing is interpreted here, and
anything printed must still be escaped by whoever prints it.

The queries use only the log's two indexes, on ``at_ms`` and on
``(device, at_ms)``: a page is read newest first by (``at_ms``, ``id``), the
order of both indexes, so it stops after ``limit`` matches however far back
it starts (``logscan`` says how a page is read when few rows match). Totals
and per-tag counts come from ``hourly_counts``; only the top names need the
raw rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from dnsfilter.store.database import Database
from dnsfilter.store.querylog.models import (
    HomeNameCount,
    HourlyCount,
    LogCounter,
    NameCount,
    QueryLogRow,
    UsageMinute,
)
from dnsfilter.store.querylog.scan import COLUMNS, conditions, read_page

BLOCK = "block"
# Answers that let the device reach the site (safe search too): "visited".
VISITED = ("allow", "rewrite")
_MS_PER_HOUR = 3_600_000


@dataclass(frozen=True, slots=True)
class LogFilter:
    """Which logged queries to return; every field left None matches everything."""

    since_ms: int | None = None
    until_ms: int | None = None  # exclusive
    device: str | None = None  # device key
    profile_id: int | None = None
    action: str | None = None  # "allow", "block", "rewrite", "local_nxdomain", "local_nodata"
    tag: str | None = None  # a category or "service:x" the name is listed under
    name_contains: str | None = None  # substring, case-insensitive, matched literally


@dataclass(frozen=True, slots=True)
class LogRecord:
    """One logged query, as stored (see ``QueryLogRow``): ``repeats`` > 1 when the
    device asked it again within the second and got the very same answer."""

    id: int
    at_ms: int
    instance: str
    device: str
    profile_id: int | None
    name: str
    qtype: int
    action: str
    reason: str
    category: str | None
    tags: tuple[str, ...]
    list_id: str | None
    rule: str | None
    upstream: str
    response_us: int
    rcode: int
    answer: str
    repeats: int = 1  # queries this row stands for; at_ms is the first one's


@dataclass(frozen=True, slots=True)
class Summary:
    total: int
    blocked: int
    by_action: dict[str, int]
    per_tag: dict[str, int]  # queries per category or "service:x", whatever was answered
    top_names: list[tuple[str, int]]  # most asked names, most first (queries, repeats included)
    top_blocked: list[tuple[str, int]]  # most blocked names, most first


def search(database: Database, where: LogFilter, *, limit: int = 50, before_id: int | None = None) -> list[LogRecord]:
    """Up to ``limit`` queries matching ``where``, newest first.

    Newest first means by time, then by id: the order ids were given in,
    except for queries a filter wrote late (after losing its database for a
    while), which appear at the time they were asked. For the next page,
    pass the last record's id as ``before_id``; pages neither skip nor
    repeat a query. If that record has been deleted meanwhile (pruned, or
    its device forgotten), the page goes on from the next older one left.
    """
    _check_limit(limit)
    upper = None if where.until_ms is None else where.until_ms - 1  # at_ms <= upper
    with database.reading() as session:
        cursor = None
        if before_id is not None:
            cursor = _cursor(session, before_id)
            if cursor is None:
                return []
            upper = cursor[0] if upper is None else min(upper, cursor[0])
        rows = read_page(
            session, where, upper=upper, cursor=cursor, limit=limit, postgresql=database.is_postgresql
        )
        return [_record(row) for row in rows]


def tail(database: Database, after_id: int, *, where: LogFilter = LogFilter(), limit: int = 500) -> list[LogRecord]:
    """Up to ``limit`` queries with an id above ``after_id`` matching ``where``,
    oldest first: the queries written since the caller last looked.

    Start from ``latest_id()`` to follow new queries only, or from 0 to read
    the whole log from its oldest query; then pass the last record's id.
    On PostgreSQL, a batch one filter was still writing can commit after
    another filter's later ids were read: a tail that must miss nothing
    reads again from a few polls back and skips the ids it has (as
    ``dnsfilter log tail`` does).
    """
    _check_limit(limit)
    with database.reading() as session:
        # The id range is the narrow part here: keep SQLite off the indexes,
        # which would read a device's whole history to sort it by id.
        found = conditions(where, postgresql=database.is_postgresql, unindexed=not database.is_postgresql)
        query = (
            select(*COLUMNS)
            .where(QueryLogRow.id > after_id, *found)
            .order_by(QueryLogRow.id)
            .limit(limit)
        )
        return [_record(row) for row in session.execute(query)]


def latest_id(database: Database) -> int:
    """The id of the newest query written (0 while the log is empty): where a tail starts."""
    with database.reading() as session:
        return int(session.execute(select(func.max(QueryLogRow.id))).scalar_one() or 0)


def summary(
    database: Database,
    *,
    since_ms: int,
    until_ms: int,
    profile_id: int | None = None,
    device: str | None = None,
    top: int = 10,
) -> Summary:
    """Queries from ``since_ms`` until ``until_ms`` (exclusive), for one profile or device or all.

    Totals and per-tag counts come from the hourly counts, so they cover
    the whole hours the range touches (and outlive the raw rows). The top
    names come from the per-hour name counts for the same hours (the
    profile's, or the whole home's; kept as long as the raw rows), or for
    one device from its raw rows in the range.
    """
    first_hour, end_hour = _hours(since_ms, until_ms)
    with database.reading() as session:
        counts = session.execute(
            select(HourlyCount.tag, HourlyCount.action, func.sum(HourlyCount.count))
            .where(*_hour_conditions(first_hour, end_hour, profile_id, device))
            .group_by(HourlyCount.tag, HourlyCount.action)
        )
        by_action: dict[str, int] = {}
        per_tag: dict[str, int] = {}
        for tag, action, count in counts:
            if tag == "":
                by_action[action] = by_action.get(action, 0) + int(count)
            else:
                per_tag[tag] = per_tag.get(tag, 0) + int(count)
        if device is None:
            # Counted per hour and name as they were written: a busy day is
            # hundreds of thousands of raw rows but far fewer distinct names.
            top_names = _top_counted(session, first_hour, end_hour, profile_id, None, top)
            top_blocked = _top_counted(session, first_hour, end_hour, profile_id, BLOCK, top)
        else:
            where = LogFilter(since_ms=since_ms, until_ms=until_ms, device=device, profile_id=profile_id)
            top_names = _top_names(session, where, top)
            top_blocked = _top_names(session, replace(where, action=BLOCK), top)
    return Summary(
        total=sum(by_action.values()),
        blocked=by_action.get(BLOCK, 0),
        by_action=dict(sorted(by_action.items(), key=lambda item: (-item[1], item[0]))),
        per_tag=dict(sorted(per_tag.items(), key=lambda item: (-item[1], item[0]))),
        top_names=top_names,
        top_blocked=top_blocked,
    )


@dataclass(frozen=True, slots=True)
class ProfileDay:
    """One profile's queries in a range, for the home page."""

    total: int = 0
    blocked: int = 0
    top_visited: list[tuple[str, int]] = field(default_factory=list)  # answers that let the device reach it
    top_blocked: list[tuple[str, int]] = field(default_factory=list)


def by_profile(database: Database, *, since_ms: int, until_ms: int, top: int = 5) -> dict[int, ProfileDay]:
    """Every profile's totals and top names in a range, in three queries
    whatever the number of profiles (a big family's home page stays quick)."""
    first_hour, end_hour = _hours(since_ms, until_ms)
    totals: dict[int, dict[str, int]] = {}
    with database.reading() as session:
        rows = session.execute(
            select(HourlyCount.profile_id, HourlyCount.action, func.sum(HourlyCount.count))
            .where(HourlyCount.tag == "", *_hour_conditions(first_hour, end_hour, None, None))
            .group_by(HourlyCount.profile_id, HourlyCount.action)
        )
        for profile_id, action, count in rows:
            totals.setdefault(int(profile_id), {})[action] = int(count)
        visited = _top_per_profile(session, first_hour, end_hour, VISITED, top)
        blocked = _top_per_profile(session, first_hour, end_hour, (BLOCK,), top)
    return {
        profile_id: ProfileDay(
            sum(actions.values()), actions.get(BLOCK, 0), visited.get(profile_id, []), blocked.get(profile_id, [])
        )
        for profile_id, actions in totals.items()
    }


def _top_per_profile(
    session: Session, first_hour: int, end_hour: int, actions: tuple[str, ...], top: int
) -> dict[int, list[tuple[str, int]]]:
    counts = NameCount.__table__.c
    asked = func.sum(counts.count)
    ranked = select(
        counts.profile_id, counts.name, asked.label("asked"),
        func.row_number().over(partition_by=counts.profile_id, order_by=(asked.desc(), counts.name)).label("rank"),
    ).where(counts.hour >= first_hour, counts.hour < end_hour)
    inner = ranked.where(counts.action.in_(actions)).group_by(counts.profile_id, counts.name).subquery()
    rows = session.execute(
        select(inner.c.profile_id, inner.c.name, inner.c.asked)
        .where(inner.c.rank <= top)
        .order_by(inner.c.profile_id, inner.c.rank)
    )
    found: dict[int, list[tuple[str, int]]] = {}
    for profile_id, name, count in rows:
        found.setdefault(int(profile_id), []).append((name, int(count)))
    return found


def hourly(
    database: Database,
    *,
    since_ms: int,
    until_ms: int,
    profile_id: int | None = None,
    device: str | None = None,
) -> list[tuple[int, int, int]]:
    """(hour, queries, blocked) for each hour the range touches that had queries,
    oldest first; ``hour`` is POSIX seconds // 3600. Hours without queries are left out."""
    first_hour, end_hour = _hours(since_ms, until_ms)
    blocked = func.sum(HourlyCount.count).filter(HourlyCount.action == BLOCK)
    with database.reading() as session:
        rows = session.execute(
            select(HourlyCount.hour, func.sum(HourlyCount.count), blocked)
            .where(HourlyCount.tag == "", *_hour_conditions(first_hour, end_hour, profile_id, device))
            .group_by(HourlyCount.hour)
            .order_by(HourlyCount.hour)
        )
        return [(int(hour), int(total), int(blocked or 0)) for hour, total, blocked in rows]


def usage_minutes(database: Database, profile_id: int, day: int) -> dict[str, int]:
    """Minutes in which ``profile_id``'s devices used each category or service
    on ``day`` (YYYYMMDD in the family's zone), most used first."""
    with database.reading() as session:
        rows = session.execute(
            select(UsageMinute.tag, func.count())
            .where(UsageMinute.profile_id == profile_id, UsageMinute.day == day)
            .group_by(UsageMinute.tag)
        )
        return dict(sorted(((tag, int(count)) for tag, count in rows), key=lambda item: (-item[1], item[0])))


def minutes_by_day(
    database: Database, first_day: int, last_day: int, profile_id: int | None = None
) -> dict[int, dict[str, int]]:
    """Screen time per day (YYYYMMDD, inclusive range) and tag: one profile's
    minutes, or every profile's added up."""
    with database.reading() as session:
        query = (
            select(UsageMinute.day, UsageMinute.tag, func.count())
            .where(UsageMinute.day >= first_day, UsageMinute.day <= last_day)
            .group_by(UsageMinute.day, UsageMinute.tag)
        )
        if profile_id is not None:
            query = query.where(UsageMinute.profile_id == profile_id)
        found: dict[int, dict[str, int]] = {}
        for day, tag, count in session.execute(query):
            found.setdefault(int(day), {})[tag] = int(count)
        return found


def counters(database: Database) -> list[tuple[str, int, int, int]]:
    """Per filter writing to this database: (instance, queries written, queries
    dropped because the writer fell behind, time of its last write in POSIX ms)."""
    with database.reading() as session:
        rows = session.execute(
            select(LogCounter.instance, LogCounter.written, LogCounter.dropped, LogCounter.updated_ms).order_by(
                LogCounter.instance
            )
        )
        return [(instance, int(written), int(dropped), int(updated)) for instance, written, dropped, updated in rows]


# --- building the queries ---------------------------------------------------------


def _check_limit(limit: int) -> None:
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")


def _cursor(session: Session, before_id: int) -> tuple[int, int] | None:
    """(at_ms, id) that the next page's rows all sort below; None when nothing is left below it."""
    at_ms = session.execute(select(QueryLogRow.at_ms).where(QueryLogRow.id == before_id)).scalar_one_or_none()
    if at_ms is not None:
        return int(at_ms), before_id
    older = session.execute(
        select(QueryLogRow.at_ms, QueryLogRow.id)
        .where(QueryLogRow.id < before_id)
        .order_by(QueryLogRow.id.desc())
        .limit(1)
    ).one_or_none()
    if older is None:
        return None
    return int(older.at_ms), int(older.id) + 1  # that row itself is on the page


def _hours(since_ms: int, until_ms: int) -> tuple[int, int]:
    """The first hour the range touches and the hour after the last one."""
    return since_ms // _MS_PER_HOUR, -(-until_ms // _MS_PER_HOUR)


def _hour_conditions(
    first_hour: int, end_hour: int, profile_id: int | None, device: str | None
) -> list[ColumnElement[bool]]:
    found = [HourlyCount.hour >= first_hour, HourlyCount.hour < end_hour]
    if profile_id is not None:
        found.append(HourlyCount.profile_id == profile_id)
    if device is not None:
        found.append(HourlyCount.device == device)
    return found


def _top_counted(
    session: Session, first_hour: int, end_hour: int, profile_id: int | None, action: str | None, top: int
) -> list[tuple[str, int]]:
    if top < 1:
        return []
    # The whole home has its own counts: adding up every profile's would
    # read several times the rows.
    counts = NameCount.__table__.c if profile_id is not None else HomeNameCount.__table__.c
    asked = func.sum(counts.count).label("asked")
    query = select(counts.name, asked).where(counts.hour >= first_hour, counts.hour < end_hour)
    if profile_id is not None:
        query = query.where(counts.profile_id == profile_id)
    if action is not None:
        query = query.where(counts.action == action)
    rows = session.execute(query.group_by(counts.name).order_by(asked.desc(), counts.name).limit(top))
    return [(name, int(count)) for name, count in rows]


def _top_names(session: Session, where: LogFilter, top: int) -> list[tuple[str, int]]:
    if top < 1:
        return []
    asked = func.sum(QueryLogRow.repeats).label("asked")
    rows = session.execute(
        select(QueryLogRow.name, asked)
        .where(*conditions(where))
        .group_by(QueryLogRow.name)
        .order_by(asked.desc(), QueryLogRow.name)
        .limit(top)
    )
    return [(name, int(count)) for name, count in rows]


def _record(row: Sequence[Any]) -> LogRecord:
    # COLUMNS are in LogRecord's order; the tags are stored "a,b,c".
    values = list(row)
    values[10] = tuple(tag for tag in values[10].split(",") if tag)
    return LogRecord(*values)
