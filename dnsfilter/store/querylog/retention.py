"""Keeping the query log to its configured age, in small steps.

Raw rows older than ``retention_days`` and hourly counts and screen-time
minutes older than ``aggregate_days`` are deleted a few thousand at a time,
each step its own short transaction, so pruning a large log never holds the
database long enough to stall the writer. ``forget_device`` deletes one
device's whole history (a parent's request).
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select

from dnsfilter.store.database import Database
from dnsfilter.store.queries import rowcount
from dnsfilter.store.querylog.models import (
    HomeNameCount,
    HourlyCount,
    NameCount,
    QueryLogRow,
    UsageMinute,
)

PRUNE_BATCH = 5000


def _delete_old_rows(database: Database, before_ms: int, batch: int) -> int:
    with database.writing() as session:
        oldest = select(QueryLogRow.id).where(QueryLogRow.at_ms < before_ms).order_by(QueryLogRow.at_ms).limit(batch)
        result = session.execute(delete(QueryLogRow).where(QueryLogRow.id.in_(oldest)))
        return rowcount(result)


def _delete_old_name_counts(database: Database, before_hour: int) -> int:
    # Whole hours older than the raw rows kept: the top sites of a range the log still covers.
    with database.writing() as session:
        per_profile = session.execute(delete(NameCount).where(NameCount.hour < before_hour))
        home = session.execute(delete(HomeNameCount).where(HomeNameCount.hour < before_hour))
        return rowcount(per_profile) + rowcount(home)


def _delete_old_aggregates(database: Database, before_hour: int, before_day: int) -> int:
    with database.writing() as session:
        counts = session.execute(delete(HourlyCount).where(HourlyCount.hour < before_hour))
        minutes = session.execute(delete(UsageMinute).where(UsageMinute.day < before_day))
        return rowcount(counts) + rowcount(minutes)


async def prune(
    database: Database,
    now: datetime,
    zone: ZoneInfo,
    retention_days: int,
    aggregate_days: int,
    batch: int = PRUNE_BATCH,
    pause: float = 0.05,
) -> int:
    """Delete what is past its age at ``now``, ``batch`` rows at a time with
    ``pause`` seconds between (room for the writer); returns how many rows went."""
    before_ms = int((now - timedelta(days=retention_days)).timestamp() * 1000)
    removed = 0
    while True:
        deleted = await asyncio.to_thread(_delete_old_rows, database, before_ms, batch)
        removed += deleted
        if deleted < batch:
            break
        await asyncio.sleep(pause)
    removed += await asyncio.to_thread(_delete_old_name_counts, database, before_ms // 3_600_000)
    cutoff = now - timedelta(days=aggregate_days)
    local = cutoff.astimezone(zone)
    day = local.year * 10000 + local.month * 100 + local.day
    removed += await asyncio.to_thread(_delete_old_aggregates, database, int(cutoff.timestamp() // 3600), day)
    return removed


def forget_device(database: Database, device_key: str) -> int:
    """Delete every logged query and hourly count of one device (blocking)."""
    with database.writing() as session:
        rows = session.execute(delete(QueryLogRow).where(QueryLogRow.device == device_key))
        counts = session.execute(delete(HourlyCount).where(HourlyCount.device == device_key))
        return rowcount(rows) + rowcount(counts)
