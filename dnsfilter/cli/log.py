"""``dnsfilter log search``, ``dnsfilter log tail`` and ``dnsfilter stats``:
the query log for a parent at a terminal.

Devices are shown by the parent's label (or the name they gave themselves)
from the policy database, profiles by name, times in the family's zone.
Everything that came from the network is escaped before it is printed, so
a device cannot write terminal escape sequences by asking for a name or
naming itself.
"""

from __future__ import annotations

import datetime
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from dnslib import RCODE

from dnsfilter.cli.lookup import device_key, find_profile
from dnsfilter.cli.text import type_name
from dnsfilter.cli.times import parse_day, parse_time
from dnsfilter.config import Config
from dnsfilter.dns.logbuffer import FROM_CACHE, FROM_FILTER, STALE
from dnsfilter.errors import UsageError, shown
from dnsfilter.policy.budgets import budget_uses, local_day
from dnsfilter.policy.records import BudgetData, BudgetUse, DeviceData, OverrideData, PolicyData, ProfileData
from dnsfilter.store import Database, PolicyStore, open_database
from dnsfilter.store.querylog.queries import (
    LogFilter,
    LogRecord,
    counters,
    latest_id,
    search,
    summary,
    tail,
    usage_minutes,
)

POLL_SECONDS = 1.0
TAIL_BATCH = 500
TAIL_BACKLOG = 10  # rows shown when a tail starts, as ``tail -f`` does
# Polls a tail looks back over: on PostgreSQL a filter's batch can commit
# after a later id from another filter sharing the database.
TAIL_LOOKBACK = 3

_ACTION_WORDS = {
    "allow": "allowed",
    "block": "blocked",
    "rewrite": "rewritten",
    "local_nxdomain": "no such name",
    "local_nodata": "no data",
}


@dataclass(frozen=True, slots=True)
class Filters:
    """The command line's filters, as the parent typed them."""

    device: str | None = None
    profile: str | None = None
    action: str | None = None
    tag: str | None = None
    name: str | None = None


class Household:
    """Who is who, from the policy database, for resolving and showing."""

    def __init__(self, profiles: tuple[ProfileData, ...], devices: tuple[DeviceData, ...]) -> None:
        self.profiles = profiles
        self.devices = devices
        self._profile_names = {profile.id: shown(profile.name) for profile in profiles}
        self._device_names = {device.key: shown(device.label or device.name or device.key) for device in devices}

    def profile_name(self, profile_id: int | None) -> str:
        """The profile's name, escaped; a deleted profile by its number."""
        if profile_id is None:
            return "-"
        return self._profile_names.get(profile_id, f"#{profile_id}")

    def device_name(self, key: str) -> str:
        """The parent's label, else the device's own name, else its key; escaped."""
        return self._device_names.get(key) or shown(key)


# --- the commands -----------------------------------------------------------------


def search_text(
    config: Config,
    filters: Filters,
    *,
    since: str | None = None,
    until: str | None = None,
    limit: int = 50,
    now: datetime.datetime | None = None,
) -> str:
    """``dnsfilter log search``: the newest ``limit`` matching queries as a table, newest first."""
    zone = config.zone
    now = now or datetime.datetime.now(datetime.UTC)
    since_ms = None if since is None else _ms(parse_time(since, "--since", zone, now))
    until_ms = None if until is None else _ms(parse_time(until, "--until", zone, now))
    if since_ms is not None and until_ms is not None and since_ms >= until_ms:
        raise UsageError(f'--since "{shown(since or "")}" is not before --until "{shown(until or "")}".')
    with _opened(config) as (database, household):
        where = _where(household, filters, since_ms, until_ms)
        records = search(database, where, limit=limit)
    if not records:
        return "No logged queries match."
    lines = _table([_HEADER, *(_cells(record, household, zone, full=True) for record in records)])
    if len(records) == limit:
        # Whole seconds: the last one shown comes again rather than part of it being skipped.
        oldest = datetime.datetime.fromtimestamp(records[-1].at_ms // 1000 + 1, zone)
        lines.append(
            f'The newest {limit} shown; older ones match too: add --until "{oldest:%Y-%m-%d %H:%M:%S}" '
            "to see them, or a larger --limit."
        )
    return "\n".join(lines)


def follow(
    config: Config,
    filters: Filters,
    write: Callable[[str], None],
    *,
    sleep: Callable[[float], None] | None = None,
) -> None:
    """``dnsfilter log tail``: the last few matching queries, then each new one
    as it is written, polling every second (``sleep``, default time.sleep),
    until KeyboardInterrupt."""
    zone = config.zone
    pause = sleep if sleep is not None else time.sleep
    with _opened(config) as (database, household):
        where = _where(household, filters, None, None)
        newest = latest_id(database)
        backlog = [record for record in search(database, where, limit=TAIL_BACKLOG) if record.id <= newest]
        write(_row(_HEADER))
        for record in reversed(backlog):
            write(_row(_cells(record, household, zone, full=False)))
        # Each poll reads again from where the poll TAIL_LOOKBACK - 1 before
        # started, and prints what it has not printed yet.
        starts: deque[int] = deque([newest], maxlen=TAIL_LOOKBACK)
        printed: set[int] = set()
        while True:
            records = _written_after(database, starts[0], where)
            for record in records:
                if record.id not in printed:
                    write(_row(_cells(record, household, zone, full=False)))
                    printed.add(record.id)
            if records:
                newest = max(newest, records[-1].id)
            starts.append(newest)
            printed = {row_id for row_id in printed if row_id > starts[0]}
            pause(POLL_SECONDS)


def stats_text(
    config: Config,
    *,
    day: str = "today",
    profile: str | None = None,
    device: str | None = None,
    now: datetime.datetime | None = None,
    top: int = 10,
) -> str:
    """``dnsfilter stats``: one day (in the family's zone) in numbers."""
    zone = config.zone
    now = now or datetime.datetime.now(datetime.UTC)
    date = parse_day(day, zone, now)
    start = datetime.datetime.combine(date, datetime.time(), zone)
    end = datetime.datetime.combine(date + datetime.timedelta(days=1), datetime.time(), zone)
    with _opened(config) as (database, household):
        chosen = find_profile(household.profiles, profile) if profile is not None else None
        key = device_key(household.devices, device) if device is not None else None
        numbers = summary(
            database, since_ms=_ms(start), until_ms=_ms(end),
            profile_id=None if chosen is None else chosen.id, device=key, top=top,
        )  # fmt: skip
        day_number = date.year * 10000 + date.month * 100 + date.day
        shown_profiles = household.profiles if chosen is None else (chosen,)
        if chosen is None and key is not None:
            # Screen time is counted per profile: the device's own.
            owner = {device.key: device.profile_id for device in household.devices}.get(key)
            shown_profiles = tuple(item for item in household.profiles if item.id == owner) or shown_profiles
        minutes = [(item, usage_minutes(database, item.id, day_number)) for item in shown_profiles]
        policy = PolicyStore(database).load_all(now, day_number)
        writers = counters(database)
    who = []
    if chosen is not None:
        who.append(f'profile "{shown(chosen.name)}"')
    if key is not None:
        who.append(f"device {household.device_name(key)}")
    out = [f"{date:%A %Y-%m-%d} ({zone.key}), {' and '.join(who) or 'all profiles and devices'}"]
    if numbers.total == 0:
        out.append("  No queries were logged that day.")
    else:
        share = 100 * numbers.blocked / numbers.total
        out.append(f"  {numbers.total:,} queries, {numbers.blocked:,} blocked ({share:.1f}%)")
        answers = ", ".join(
            f"{count:,} {_ACTION_WORDS.get(action, shown(action))}" for action, count in numbers.by_action.items()
        )
        out.append(f"  Answers: {answers}")
        out += _ranking("Most asked:", numbers.top_names)
        out += _ranking("Most blocked:", numbers.top_blocked)
        out += _ranking("Queries per category and service:", list(numbers.per_tag.items()))
    out.append("  Screen time per profile (minutes in which a category or service was used, on any device):")
    for item, used in minutes:
        spent = ", ".join(f"{shown(tag)} {count} min" for tag, count in used.items()) or "none"
        out.append(f"    {shown(item.name)}: {spent}")
    out += _budget_lines(policy, shown_profiles, zone, today=local_day(now, zone) == day_number)
    out.append("  Query log writers (since the log began):")
    for instance, written, dropped, updated_ms in writers:
        last = datetime.datetime.fromtimestamp(updated_ms / 1000, zone).strftime("%Y-%m-%d %H:%M")
        out.append(
            f"    {shown(instance)}: {written:,} written, {dropped:,} dropped (the writer fell behind), "
            f"last write {last}"
        )
    if not writers:
        out.append("    none yet: no filter has written to this log")
    return "\n".join(out)


def _budget_lines(policy: PolicyData, profiles: Sequence[ProfileData], zone: ZoneInfo, *, today: bool) -> list[str]:
    """Each budget of ``profiles``: minutes used that day and left, and extra time granted now (``today``)."""
    uses = budget_uses(policy)
    wanted = {item.id for item in profiles}
    lines = []
    for profile in policy.profiles:
        if profile.id not in wanted:
            continue
        # Active grants at the time read; the latest ending one for each tag.
        grants = sorted((item for item in profile.overrides if item.kind == "grant"), key=lambda item: item.expires_at)
        granted = {item.target: item for item in grants} if today else {}
        for budget in profile.budgets:
            text = _budget_text(budget, uses.get(budget.id), granted.get(budget.tag), zone)
            lines.append(f"    {shown(profile.name)}, {shown(budget.tag)}: {text}")
    return ["  Daily budgets (minutes used that day, and left):", *lines] if lines else []


def _budget_text(budget: BudgetData, use: BudgetUse | None, grant: OverrideData | None, zone: ZoneInfo) -> str:
    if use is None:
        return f"{budget.minutes} minutes a day; its days ({shown(budget.days)}) cannot be read, so it limits nothing"
    if not use.applies:
        return f"{budget.minutes} minutes a day on {shown(budget.days)}; not on this day"
    text = f"{use.used} of {budget.minutes} min used, {use.remaining} left"
    if grant is not None:
        extra = round((grant.expires_at - grant.created_at).total_seconds() / 60)
        text += f"; extra time: {extra} min granted, until {grant.expires_at.astimezone(zone):%H:%M}"
    return text


def _where(household: Household, filters: Filters, since_ms: int | None, until_ms: int | None) -> LogFilter:
    profile = find_profile(household.profiles, filters.profile) if filters.profile is not None else None
    return LogFilter(
        since_ms=since_ms,
        until_ms=until_ms,
        device=device_key(household.devices, filters.device) if filters.device is not None else None,
        profile_id=None if profile is None else profile.id,
        action=filters.action,
        tag=filters.tag,
        name_contains=filters.name,
    )


# --- the database ----------------------------------------------------------------


@contextmanager
def _opened(config: Config) -> Iterator[tuple[Database, Household]]:
    database = open_database(config.database_url, data_dir=config.data_dir, create=False)
    try:
        store = PolicyStore(database)
        yield database, Household(store.list_profiles(), store.list_devices())
    finally:
        database.close()


def _written_after(database: Database, after_id: int, where: LogFilter) -> list[LogRecord]:
    records: list[LogRecord] = []
    while True:
        batch = tail(database, after_id, where=where, limit=TAIL_BATCH)
        records += batch
        if len(batch) < TAIL_BATCH:
            return records
        after_id = batch[-1].id


def _ms(moment: datetime.datetime) -> int:
    return int(moment.timestamp() * 1000)


# --- saying it -------------------------------------------------------------------

_HEADER = ("Time", "Device", "Profile", "Name", "Type", "Decision", "Source", "Took", "Answer")
_TOOK = _HEADER.index("Took")  # right-aligned, so the milliseconds line up


def _cells(record: LogRecord, household: Household, zone: ZoneInfo, *, full: bool) -> tuple[str, ...]:
    moment = datetime.datetime.fromtimestamp(record.at_ms / 1000, zone)
    return (
        moment.strftime("%Y-%m-%d %H:%M:%S" if full else "%H:%M:%S"),
        household.device_name(record.device),
        household.profile_name(record.profile_id),
        wire_text(record.name) + (f" (x{record.repeats})" if record.repeats > 1 else ""),
        type_name(record.qtype),
        _decision(record),
        _source(record),
        _took(record.response_us),
        _answer(record),
    )


def _decision(record: LogRecord) -> str:
    words = _ACTION_WORDS.get(record.action, shown(record.action))
    if record.action == "block":
        words = words.upper()  # what a parent scans the table for
    if record.reason != "allowed":
        words += f", {shown(record.reason.replace('_', ' '))}"
    if record.category:
        words += f" {shown(record.category)}"
    return words


def _source(record: LogRecord) -> str:
    """Where the answer came from, as the log stores it: this filter (and the
    list that decided, if any), the cache, or the upstream server asked."""
    if record.upstream == FROM_FILTER:
        return f"filter, list {shown(record.list_id)}" if record.list_id else "filter"
    if record.upstream == FROM_CACHE:
        return "cache"
    if record.upstream == STALE:
        return "cache, expired"  # the upstreams failed: an expired answer beats none
    return f"upstream {shown(record.upstream)}" if record.upstream else "-"


def _took(response_us: int) -> str:
    """Milliseconds, to a tenth below 100; "-" for answers that were not timed (cache, filter)."""
    if not response_us:
        return "-"
    ms = response_us / 1000
    return f"{ms:.1f} ms" if ms < 100 else f"{ms:,.0f} ms"


def _answer(record: LogRecord) -> str:
    if record.answer:
        return wire_text(record.answer)
    if record.rcode:
        name = RCODE.get(record.rcode)
        return name if isinstance(name, str) else f"RCODE{record.rcode}"
    return "-"


def wire_text(text: str) -> str:
    """A name as the wire parser wrote it, safe to print: it is already in
    presentation form (backslash escapes), so only what a terminal would
    act on is escaped, leaving the name as the parent would type it."""
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)


def _table(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return ["  ".join(_padded(row, widths)).rstrip() for row in rows]


_TAIL_WIDTHS = (8, 16, 10, 40, 5, 24, 22, 9)


def _row(cells: Sequence[str]) -> str:
    """One line of a tail, in columns wide enough for most names (longer ones push the rest right)."""
    return "  ".join([*_padded(cells[:-1], _TAIL_WIDTHS), cells[-1]]).rstrip()


def _padded(cells: Sequence[str], widths: Sequence[int]) -> list[str]:
    return [
        cell.rjust(width) if column == _TOOK else cell.ljust(width)
        for column, (cell, width) in enumerate(zip(cells, widths, strict=True))
    ]


def _ranking(title: str, ranked: Sequence[tuple[str, int]]) -> list[str]:
    if not ranked:
        return []
    width = max(len(f"{count:,}") for _, count in ranked)
    return [f"  {title}", *(f"    {count:>{width},}  {wire_text(name)}" for name, count in ranked)]
