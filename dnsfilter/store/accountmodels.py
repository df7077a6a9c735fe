"""The web page's parent accounts, their sign-in sessions and the failed
sign-ins being throttled (schema version 4), as SQLAlchemy models sharing the
policy's ``Base``.

Only ``dnsfilter.store.accounts`` uses these classes. No password and no
session token is stored as given: accounts hold a KDF hash, sessions the
SHA-256 of their token, so a copy of the database signs nobody in.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from dnsfilter.store.models import NAME_MAX, Base, ExactText

ADDRESS_MAX = 64
USER_AGENT_MAX = 200
FAILURE_KEY_MAX = 200


class WebAccount(Base):
    """Someone who may sign in to the web page (today only "parent")."""

    __tablename__ = "web_accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX), unique=True)
    password_hash: Mapped[str] = mapped_column(Text)  # "scrypt$n$r$p$salt$hash"; "" when none is set
    password_changed_at: Mapped[datetime]
    created_at: Mapped[datetime]


class WebSession(Base):
    """A browser signed in to the web page."""

    __tablename__ = "web_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 hex of the cookie's token
    account_id: Mapped[int] = mapped_column(ForeignKey("web_accounts.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
    lifetime_s: Mapped[int] = mapped_column(Integer)  # each use (at most once a minute) moves expires_at this far on
    # Both come from the network (the browser writes its User-Agent), so they may hold anything.
    address: Mapped[str] = mapped_column(ExactText)  # at most ADDRESS_MAX characters
    user_agent: Mapped[str] = mapped_column(ExactText)  # at most USER_AGENT_MAX characters


class LoginFailure(Base):
    """Failed sign-ins counted for one key ("ip:192.168.1.5", "account:parent")."""

    __tablename__ = "login_failures"

    key: Mapped[str] = mapped_column(ExactText, primary_key=True)  # at most FAILURE_KEY_MAX characters
    failures: Mapped[int] = mapped_column(Integer)
    last_failure_at: Mapped[datetime]


__all__ = ["ADDRESS_MAX", "FAILURE_KEY_MAX", "USER_AGENT_MAX", "LoginFailure", "WebAccount", "WebSession"]
