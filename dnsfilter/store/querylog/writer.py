"""Writing one batch of the query log to the database, in one transaction.

A ``Batch`` holds plain values (``dnsfilter.service.logbatches`` makes them
from the answers the resolver buffered): the raw rows, the hourly counts
behind the charts, the names' counts and the screen-time minutes. Few,
large transactions are what an SD card likes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite

from dnsfilter.store.database import Database
from dnsfilter.store.querylog.models import (
    HomeNameCount,
    HourlyCount,
    LogCounter,
    NameCount,
    QueryLogRow,
    UsageMinute,
)

# The raw row's columns, in the order ``Batch.rows`` holds them.
ROW_COLUMNS: tuple[str, ...] = (
    "at_ms", "instance", "device", "profile_id", "name", "qtype", "action", "reason", "category",
    "tags", "list_id", "rule", "upstream", "response_us", "rcode", "answer", "repeats",
)


@dataclass(frozen=True, slots=True)
class Batch:
    """One flush, ready for the database."""

    # Each list in its statement's column order, text as ExactText stores it,
    # so the lists go to the driver as they are.
    rows: list[tuple[Any, ...]]  # ROW_COLUMNS
    counts: list[tuple[Any, ...]]  # (hour, device, profile_id, tag, action, count)
    minutes: list[tuple[int, str, int, int]]  # (profile_id, tag, day, minute)
    counter: dict[str, Any] | None = None  # this filter's written/dropped since the last flush
    names: list[tuple[int, int, str, str, int]] = field(default_factory=list)  # (hour, profile_id, action, name, count)
    home_names: list[tuple[int, str, str, int]] = field(default_factory=list)  # (hour, action, name, count)

    def row_dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(ROW_COLUMNS, row, strict=True)) for row in self.rows]


def _insert_sql(table: str, columns: Sequence[str], postgresql_style: bool, on_conflict: str = "") -> str:
    marks = ", ".join(["%s" if postgresql_style else "?"] * len(columns))
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks}){on_conflict}"


def _adding_up(table: str, keys: Sequence[str]) -> str:
    # The same statement on SQLite (3.24 and later) and PostgreSQL.
    return f" ON CONFLICT ({', '.join(keys)}) DO UPDATE SET count = {table}.count + excluded.count"


_COUNT_KEYS = ("hour", "device", "profile_id", "tag", "action")
_NAME_KEYS = ("hour", "profile_id", "action", "name")
_HOME_NAME_KEYS = ("hour", "action", "name")
_MINUTE_KEYS = ("profile_id", "tag", "day", "minute")


def _statements(postgresql_style: bool) -> dict[str, str]:
    return {
        "rows": _insert_sql(QueryLogRow.__tablename__, ROW_COLUMNS, postgresql_style),
        "counts": _insert_sql(
            HourlyCount.__tablename__, (*_COUNT_KEYS, "count"), postgresql_style, _adding_up(HourlyCount.__tablename__, _COUNT_KEYS)
        ),
        "names": _insert_sql(NameCount.__tablename__, (*_NAME_KEYS, "count"), postgresql_style, _adding_up(NameCount.__tablename__, _NAME_KEYS)),
        "home_names": _insert_sql(
            HomeNameCount.__tablename__,
            (*_HOME_NAME_KEYS, "count"),
            postgresql_style,
            _adding_up(HomeNameCount.__tablename__, _HOME_NAME_KEYS),
        ),
        "minutes": _insert_sql(UsageMinute.__tablename__, _MINUTE_KEYS, postgresql_style, " ON CONFLICT DO NOTHING"),
    }


_STATEMENTS = {False: _statements(False), True: _statements(True)}


def write_batch(database: Database, batch: Batch) -> None:
    """One transaction: rows appended, counts added to, minutes noted once.

    Everything goes straight to the driver's executemany, as the batch holds
    it: the ORM's per-row work would cost more than the DNS answer being
    logged, and work done here, in the writer's thread, would hold the GIL
    against the event loop.
    """
    statements = _STATEMENTS[database.is_postgresql]
    with database.writing() as session:
        connection = session.connection()
        if batch.rows:
            connection.exec_driver_sql(statements["rows"], batch.rows)
        if batch.counts:
            connection.exec_driver_sql(statements["counts"], batch.counts)
        if batch.names:
            connection.exec_driver_sql(statements["names"], batch.names)
        if batch.home_names:
            connection.exec_driver_sql(statements["home_names"], batch.home_names)
        if batch.minutes:
            connection.exec_driver_sql(statements["minutes"], batch.minutes)
        if batch.counter is not None:
            dialect_insert = postgresql.insert if database.is_postgresql else sqlite.insert
            tally = dialect_insert(LogCounter).values(**batch.counter)
            tally = tally.on_conflict_do_update(
                index_elements=["instance"],
                set_={
                    "written": LogCounter.written + tally.excluded.written,
                    "dropped": LogCounter.dropped + tally.excluded.dropped,
                    "updated_ms": tally.excluded.updated_ms,
                },
            )
            session.execute(tally)
