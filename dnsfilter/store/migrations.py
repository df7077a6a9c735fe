"""Creating the policy schema, and upgrading an existing database in place.

``models.py`` always describes the newest schema. A new database is created
from it directly and stamped with the newest version. An existing database is
brought forward one step at a time by the functions in ``MIGRATIONS``.

To change the schema (version 2, say): change ``models.py``, then append
``Migration(2, "what it adds", _add_something)`` below, where ``_add_something``
runs the DDL on the connection it is given (``ALTER TABLE ... ADD COLUMN``, or
``SomeModel.__table__.create(connection)`` for a new table). Every step runs in
the same transaction as the version stamp, so a failed upgrade leaves the
database as it was. SQLite can only add columns and tables in place; anything
else needs a table copy inside the step.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, func, insert, inspect, select, update

from dnsfilter.errors import StoreError
from dnsfilter.store.accountmodels import LoginFailure, WebAccount, WebSession
from dnsfilter.store.models import Base, PolicyVersion, Profile, SchemaVersion
from dnsfilter.store.querylog.models import (
    Budget,
    HomeNameCount,
    HourlyCount,
    LogCounter,
    NameCount,
    QueryLogRow,
    UsageMinute,
)

log = logging.getLogger(__name__)

BASELINE_VERSION = 1
DEFAULT_PROFILE_NAME = "Everyone"


@dataclass(frozen=True, slots=True)
class Migration:
    """One step: upgrades a database from ``version - 1`` to ``version``."""

    version: int
    summary: str
    upgrade: Callable[[Connection], None]


def _add_query_log(connection: Connection) -> None:
    for model in (QueryLogRow, HourlyCount, NameCount, UsageMinute, LogCounter, Budget):
        model.__table__.create(connection)  # type: ignore[attr-defined]


def _add_home_name_counts(connection: Connection) -> None:
    table = HomeNameCount.__table__
    table.create(connection)  # type: ignore[attr-defined]
    # The hours already logged, so the home's top sites cover them too.
    per_profile = NameCount.__table__
    summed = select(per_profile.c.hour, per_profile.c.action, per_profile.c.name, func.sum(per_profile.c.count))
    summed = summed.group_by(per_profile.c.hour, per_profile.c.action, per_profile.c.name)
    connection.execute(insert(table).from_select(["hour", "action", "name", "count"], summed))  # type: ignore[arg-type]


def _add_web_accounts(connection: Connection) -> None:
    for model in (WebAccount, WebSession, LoginFailure):
        model.__table__.create(connection)  # type: ignore[attr-defined]


def _add_totals_index(connection: Connection) -> None:
    # A database that got its log tables in step 2 from today's models has it already.
    present = {index["name"] for index in inspect(connection).get_indexes(HourlyCount.__tablename__)}
    for index in HourlyCount.__table__.indexes:  # type: ignore[attr-defined]
        if index.name not in present:
            index.create(connection)


def _name_counts_without_rowid(connection: Connection) -> None:
    if connection.dialect.name != "sqlite":
        return  # only SQLite gives a table row ids of its own
    columns = ", ".join(column.name for column in NameCount.__table__.columns)  # type: ignore[attr-defined]
    connection.exec_driver_sql("ALTER TABLE name_counts RENAME TO name_counts_before_6")
    NameCount.__table__.create(connection)  # type: ignore[attr-defined]
    connection.exec_driver_sql(f"INSERT INTO name_counts ({columns}) SELECT {columns} FROM name_counts_before_6")
    connection.exec_driver_sql("DROP TABLE name_counts_before_6")


MIGRATIONS: tuple[Migration, ...] = (
    Migration(2, "query log, hourly counts, screen-time minutes and daily budgets", _add_query_log),
    Migration(3, "the whole home's name counts, for its top sites", _add_home_name_counts),
    Migration(4, "web page accounts, sign-in sessions and failed sign-ins", _add_web_accounts),
    Migration(5, "an index of the hourly totals, for charts", _add_totals_index),
    Migration(6, "name counts kept in their key's order on SQLite, for faster writing", _name_counts_without_rowid),
)


def latest_version(migrations: Sequence[Migration]) -> int:
    """The version the code expects after every step in ``migrations``."""
    for expected, step in enumerate(migrations, start=BASELINE_VERSION + 1):
        if step.version != expected:
            # A programming error, caught by the tests before it ships.
            raise ValueError(f"migration {step.summary!r} is numbered {step.version}, expected {expected}")
    return BASELINE_VERSION + len(migrations)


def stored_version(connection: Connection) -> int | None:
    """The schema version recorded in the database; None for an empty database."""
    if not inspect(connection).has_table(SchemaVersion.__tablename__):
        return None
    return connection.scalar(select(SchemaVersion.version).where(SchemaVersion.id == 1))


def prepare_schema(connection: Connection, migrations: Sequence[Migration], now: datetime) -> int:
    """Create or upgrade the schema on ``connection``; returns the version now stored.

    The caller holds a write transaction (and, on PostgreSQL, a lock), so two
    instances starting together do not both upgrade.
    """
    latest = latest_version(migrations)
    version = stored_version(connection)
    if version is None:
        _create(connection, latest, now)
        return latest
    if version > latest:
        raise StoreError(
            f"This database was last used by a newer dnsfilter (schema version {version}; "
            f"this dnsfilter understands up to version {latest}). "
            "Install the newer dnsfilter again, or restore a backup of the database made before it."
        )
    for step in migrations[version - BASELINE_VERSION :]:
        # Said before the step: copying a large query log's table takes a while.
        log.info("upgrading the database to schema version %d: %s", step.version, step.summary)
        step.upgrade(connection)
        connection.execute(update(SchemaVersion).where(SchemaVersion.id == 1).values(version=step.version))
    return latest


def _create(connection: Connection, version: int, now: datetime) -> None:
    """A new database: the newest tables, the version rows and the default profile."""
    Base.metadata.create_all(connection)
    connection.execute(insert(SchemaVersion).values(id=1, version=version))
    connection.execute(insert(PolicyVersion).values(id=1, version=1))
    connection.execute(
        insert(Profile).values(
            name=DEFAULT_PROFILE_NAME,
            safe_search="off",
            bypass_protection=True,
            block_mode="null_ip",
            is_default=True,
            created_at=now,
        )
    )
