"""The query log, its hourly counts, screen-time minutes and daily budgets
(schema versions 2, 3 and 6), as SQLAlchemy models sharing the policy's ``Base``.

Rows are kept small because a Raspberry Pi writes them to an SD card: times
are integer milliseconds, the hour and the day are integers, and only the
indexes the log's own queries need exist.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from dnsfilter.store.models import Base, ExactText

# SQLite makes an INTEGER PRIMARY KEY the row id (8 bytes at most, no extra
# index); BIGINT there would be a separate column. PostgreSQL wants BIGINT.
_ROW_ID = BigInteger().with_variant(Integer, "sqlite")


class QueryLogRow(Base):
    """One answered query, or the same query repeated by one device within a second.

    Devices ask the same name again and again (every app, every tab); the
    repeats the filter answered with the very same reply within the second
    are one row with ``repeats`` > 1, so the log stays readable and the SD
    card is spared, while counts stay exact.
    """

    __tablename__ = "query_log"
    __table_args__ = (
        Index("query_log_at", "at_ms"),
        Index("query_log_device_at", "device", "at_ms"),
    )

    id: Mapped[int] = mapped_column(_ROW_ID, primary_key=True, autoincrement=True)
    at_ms: Mapped[int] = mapped_column(BigInteger)  # POSIX milliseconds
    instance: Mapped[str] = mapped_column(String(64))  # which filter answered (several may share a database)
    device: Mapped[str] = mapped_column(String(100))  # the device key, "mac:..." or "ip:..."
    profile_id: Mapped[int | None] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(ExactText)  # as the wire parser wrote it: escaped, never interpreted
    qtype: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(16))  # Action value: allow, block, rewrite, local_*
    reason: Mapped[str] = mapped_column(String(16))  # Reason value
    category: Mapped[str | None] = mapped_column(String(100))  # the category, service or engine the decision names
    tags: Mapped[str] = mapped_column(String(400), default="")  # every category/service the name is listed under, comma-separated
    list_id: Mapped[str | None] = mapped_column(String(100))
    rule: Mapped[str | None] = mapped_column(ExactText)
    upstream: Mapped[str] = mapped_column(String(100), default="")  # "cache", "stale", or the server asked
    response_us: Mapped[int] = mapped_column(Integer, default=0)
    rcode: Mapped[int] = mapped_column(Integer, default=0)
    answer: Mapped[str] = mapped_column(ExactText, default="")  # first address or alias, for the parent to read
    repeats: Mapped[int] = mapped_column(Integer, default=1)  # queries this row stands for (at_ms: the first)


class HourlyCount(Base):
    """Queries per hour, device, profile, tag and action; kept long after the raw rows."""

    __tablename__ = "hourly_counts"
    # The charts and the home page read the totals (tag ""): this index holds
    # them apart from the per-tag rows, so a month's chart reads only those.
    __table_args__ = (Index("ix_hourly_counts_totals", "tag", "hour", "profile_id", "action", "count"),)

    hour: Mapped[int] = mapped_column(Integer, primary_key=True)  # POSIX seconds // 3600
    device: Mapped[str] = mapped_column(String(100), primary_key=True)
    profile_id: Mapped[int] = mapped_column(Integer, primary_key=True)  # 0: none
    tag: Mapped[str] = mapped_column(String(100), primary_key=True)  # "": no tag
    action: Mapped[str] = mapped_column(String(16), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)


class NameCount(Base):
    """Queries per hour, profile, name and action: a day's top sites without
    reading the day's raw rows. Kept as long as the raw rows.

    Without a row id on SQLite (schema version 6), as ``HomeNameCount``: the
    writer adds to a row per new name in every batch, and then updates one
    B-tree for it instead of two (a table and its key's index).
    """

    __tablename__ = "name_counts"
    __table_args__ = {"sqlite_with_rowid": False}

    hour: Mapped[int] = mapped_column(Integer, primary_key=True)  # POSIX seconds // 3600
    profile_id: Mapped[int] = mapped_column(Integer, primary_key=True)  # 0: none
    action: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(ExactText, primary_key=True)
    count: Mapped[int] = mapped_column(Integer)


class HomeNameCount(Base):
    """Queries per hour, action and name for the whole home: the name counts
    of every profile added up as they are written.

    A day's top sites for the home then read a few thousand rows per hour
    rather than one per name and profile. Without a row id on SQLite, the
    rows are the primary key's index itself: half the size, and a day is
    read in key order without a second lookup per row.
    """

    __tablename__ = "home_name_counts"
    __table_args__ = {"sqlite_with_rowid": False}

    hour: Mapped[int] = mapped_column(Integer, primary_key=True)  # POSIX seconds // 3600
    action: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(ExactText, primary_key=True)
    count: Mapped[int] = mapped_column(Integer)


class UsageMinute(Base):
    """A minute in which a profile's devices used a category or service.

    The primary key makes a minute count once, however many queries, devices
    or filters sharing the database saw it.
    """

    __tablename__ = "usage_minutes"

    profile_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tag: Mapped[str] = mapped_column(String(100), primary_key=True)
    day: Mapped[int] = mapped_column(Integer, primary_key=True)  # YYYYMMDD in the family's zone
    # Real minutes since that day's midnight: 0..1439, up to 1499 on the day the clocks go back.
    minute: Mapped[int] = mapped_column(Integer, primary_key=True)


class LogCounter(Base):
    """Per filter: queries logged and queries dropped because the writer fell behind."""

    __tablename__ = "log_counters"

    instance: Mapped[str] = mapped_column(String(64), primary_key=True)
    written: Mapped[int] = mapped_column(BigInteger, default=0)
    dropped: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_ms: Mapped[int] = mapped_column(BigInteger, default=0)


class Budget(Base):
    """Minutes per day a profile may use a category or service."""

    __tablename__ = "budgets"

    id: Mapped[int] = mapped_column(primary_key=True)
    profile_id: Mapped[int] = mapped_column(ForeignKey("profiles.id", ondelete="CASCADE"), index=True)
    tag: Mapped[str] = mapped_column(String(100))
    minutes: Mapped[int] = mapped_column(Integer)
    days: Mapped[str] = mapped_column(String(64))  # as rules write them: "mon-fri", "sat,sun", "daily"


__all__ = ["Budget", "HomeNameCount", "HourlyCount", "LogCounter", "NameCount", "QueryLogRow", "UsageMinute"]
