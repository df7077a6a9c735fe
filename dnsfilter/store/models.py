"""The family policy tables (schema version 1), as typed SQLAlchemy models.

Only the store modules use these classes; everything outside ``dnsfilter.store``
gets plain frozen values from ``dnsfilter.policy.records``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, overload

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAME_MAX = 64  # profile names and device labels: what fits on a phone screen


class UtcDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime on both databases.

    SQLite has no time zones, so values are stored as naive UTC there and made
    aware again on the way out; a naive value from Python is a bug and refused.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("times given to the policy store must be aware (UTC)")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@overload
def exact_text(value: str) -> str: ...
@overload
def exact_text(value: None) -> None: ...
def exact_text(value: str | None) -> str | None:
    """``value`` as an ExactText column stores it (for writes that bypass the ORM)."""
    if value is None or ("\\" not in value and "\x00" not in value):
        return value
    return value.replace("\\", "\\\\").replace("\x00", "\\0")


class ExactText(TypeDecorator[str]):
    """Text returned exactly as given, NUL characters included.

    Device names come from DHCP and from the network, so they may hold anything;
    PostgreSQL text cannot hold NUL, so NUL and the backslash are escaped in storage.
    """

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return exact_text(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        out: list[str] = []
        chars = iter(value)
        for ch in chars:
            if ch == "\\":
                ch = next(chars, "\\")
                out.append("\x00" if ch == "0" else ch)
            else:
                out.append(ch)
        return "".join(out)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UtcDateTime(), dict[str, Any]: JSON, list[str]: JSON}


class Profile(Base):
    """A person (or a group of devices) with their own blocking."""

    __tablename__ = "profiles"
    __table_args__ = (
        CheckConstraint("safe_search IN ('off', 'on', 'strict')", name="profile_safe_search"),
        CheckConstraint("block_mode IN ('null_ip', 'nxdomain')", name="profile_block_mode"),
        # At most one default; the store keeps it at exactly one.
        Index(
            "profiles_one_default",
            "is_default",
            unique=True,
            sqlite_where=text("is_default"),
            postgresql_where=text("is_default"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX), unique=True)
    safe_search: Mapped[str] = mapped_column(String(8), default="off")
    bypass_protection: Mapped[bool] = mapped_column(Boolean, default=True)
    block_mode: Mapped[str] = mapped_column(String(8), default="null_ip")
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]


class ProfileTag(Base):
    """A category or service (``service:tiktok``) always blocked for a profile."""

    __tablename__ = "profile_tags"

    profile_id: Mapped[int] = mapped_column(ForeignKey("profiles.id", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(100), primary_key=True)


class DomainEntry(Base):
    """A name (and its subdomains) always allowed or always blocked for a profile."""

    __tablename__ = "domain_entries"
    __table_args__ = (CheckConstraint("kind IN ('allow', 'deny')", name="domain_entry_kind"),)

    profile_id: Mapped[int] = mapped_column(ForeignKey("profiles.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(253), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))


class Device(Base):
    """A phone, tablet or computer seen on the network."""

    __tablename__ = "devices"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(100), unique=True)
    mac: Mapped[str | None] = mapped_column(String(64))
    ip: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(ExactText)
    label: Mapped[str | None] = mapped_column(String(NAME_MAX))
    # No cascade: deleting a profile moves its devices to the default first.
    profile_id: Mapped[int] = mapped_column(ForeignKey("profiles.id"), index=True)
    is_new: Mapped[bool] = mapped_column(Boolean, default=True)
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]


class Rule(Base):
    """A weekly screen-time window and what it does."""

    __tablename__ = "rules"
    __table_args__ = (CheckConstraint("action IN ('block_tags', 'allow_only')", name="rule_action"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    profile_id: Mapped[int] = mapped_column(ForeignKey("profiles.id", ondelete="CASCADE"), index=True)
    days: Mapped[str] = mapped_column(String(64))
    start: Mapped[str] = mapped_column(String(5))
    end: Mapped[str] = mapped_column(String(5))
    action: Mapped[str] = mapped_column(String(16))
    tags: Mapped[list[str]]
    allow: Mapped[list[str]]
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)


class Override(Base):
    """A temporary exception: internet paused, a tag granted, a name allowed."""

    __tablename__ = "overrides"
    __table_args__ = (CheckConstraint("kind IN ('pause', 'grant', 'allow_name')", name="override_kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    profile_id: Mapped[int] = mapped_column(ForeignKey("profiles.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    target: Mapped[str | None] = mapped_column(String(253))
    expires_at: Mapped[datetime] = mapped_column(index=True)
    created_by: Mapped[str] = mapped_column(String(NAME_MAX))
    created_at: Mapped[datetime]
    note: Mapped[str] = mapped_column(Text, default="")


class Setting(Base):
    """A policy-wide setting; the value is JSON text."""

    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class SchemaVersion(Base):
    """One row: the schema version this database has been upgraded to."""

    __tablename__ = "schema_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int]


class PolicyVersion(Base):
    """One row: bumped in the same transaction as every policy change.

    Running instances poll this one integer to notice changes made elsewhere.
    """

    __tablename__ = "policy_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int]


__all__ = [
    "NAME_MAX",
    "Base",
    "Device",
    "DomainEntry",
    "Override",
    "PolicyVersion",
    "Profile",
    "ProfileTag",
    "Rule",
    "SchemaVersion",
    "Setting",
]
