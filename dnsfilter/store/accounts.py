"""The web page's accounts, sign-in sessions and failed sign-ins, in the database.

Storage only: hashing passwords, making tokens and deciding how long a
sign-in must wait live in ``dnsfilter.service.accounts``. ``AccountStore`` is
synchronous like ``PolicyStore``: each method is one short transaction and
blocks (async code calls it through ``asyncio.to_thread``); it never reads the
clock, ``now`` (aware UTC) is always a parameter.

A session is stored under the SHA-256 of its token, never the token itself.
Its public id is the first 12 hex digits of that hash: safe to show on the
page and to end a session by, useless for signing in. Each session row keeps
its lifetime in seconds, so ``find_session`` can slide the expiry without
being told it again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from dnsfilter.store.accountmodels import (
    ADDRESS_MAX,
    FAILURE_KEY_MAX,
    USER_AGENT_MAX,
    LoginFailure,
    WebAccount,
    WebSession,
)
from dnsfilter.store.database import Database
from dnsfilter.store.validation import NotFoundError, PolicyInputError

DEFAULT_ACCOUNT = "parent"
SESSION_ID_LENGTH = 12
# A session in use is written back (last seen, new expiry) at most this often,
# so reading it on every request does not write on every request.
TOUCH_INTERVAL = timedelta(minutes=1)
_SESSION_ID = re.compile(rf"[0-9a-f]{{{SESSION_ID_LENGTH}}}")


@dataclass(frozen=True, slots=True)
class SessionData:
    """A signed-in browser, as the web page may show it."""

    id: str  # public id: the first 12 hex digits of the token hash (safe to show and to delete by)
    account: str
    csrf_token: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    address: str
    user_agent: str


def token_hash(token: str) -> str:
    """What is stored for a session token: its SHA-256, in hex."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _clean(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters and storable (lone surrogates from
    undecodable headers become "?"); ExactText takes care of NUL."""
    return text[:limit].encode("utf-8", "replace").decode("utf-8")


def _session_data(row: WebSession, account: str) -> SessionData:
    return SessionData(
        id=row.token_hash[:SESSION_ID_LENGTH],
        account=account,
        csrf_token=row.csrf_token,
        created_at=row.created_at,
        last_seen_at=row.last_seen_at,
        expires_at=row.expires_at,
        address=row.address,
        user_agent=row.user_agent,
    )


def _account_id(session: Session, account: str) -> int | None:
    return session.scalar(select(WebAccount.id).where(WebAccount.name == account))


class AccountStore:
    """Reads and changes the web page's accounts and sessions in ``database``."""

    def __init__(self, database: Database) -> None:
        self.database = database

    # -- passwords -----------------------------------------------------------

    def password_hash(self, account: str = DEFAULT_ACCOUNT) -> str | None:
        """The stored password hash; None when no password is set yet."""
        with self.database.reading() as session:
            stored = session.scalar(select(WebAccount.password_hash).where(WebAccount.name == account))
        return stored or None

    def set_password_hash(self, password_hash: str, now: datetime, account: str = DEFAULT_ACCOUNT) -> None:
        """Store a new password hash (creating the account if needed) and end
        every session of the account, in one transaction."""
        if not password_hash:
            raise PolicyInputError("a password hash cannot be empty")
        with self.database.writing() as session:
            account_id = _account_id(session, account)
            if account_id is None:
                row = WebAccount(name=account, password_hash=password_hash, password_changed_at=now, created_at=now)
                session.add(row)
                session.flush()
                return
            session.execute(
                update(WebAccount)
                .where(WebAccount.id == account_id)
                .values(password_hash=password_hash, password_changed_at=now)
            )
            session.execute(delete(WebSession).where(WebSession.account_id == account_id))

    # -- sessions ------------------------------------------------------------

    def create_session(
        self,
        token: str,
        csrf_token: str,
        *,
        now: datetime,
        lifetime: timedelta,
        address: str,
        user_agent: str,
        account: str = DEFAULT_ACCOUNT,
    ) -> SessionData:
        """Remember a signed-in browser until ``now + lifetime`` (longer while it is used).

        Sessions already expired, of any account, are removed in passing.
        Raises NotFoundError when the account has no password yet.
        """
        seconds = int(lifetime.total_seconds())
        if seconds <= 0:
            raise PolicyInputError("a session must last longer than a second")
        row = WebSession(
            token_hash=token_hash(token),
            csrf_token=csrf_token,
            created_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(seconds=seconds),
            lifetime_s=seconds,
            address=_clean(address, ADDRESS_MAX),
            user_agent=_clean(user_agent, USER_AGENT_MAX),
        )
        with self.database.writing() as session:
            account_id = _account_id(session, account)
            if account_id is None:
                raise NotFoundError(f'no password is set for "{account}" yet: run dnsfilter passwd')
            session.execute(delete(WebSession).where(WebSession.expires_at <= now))
            row.account_id = account_id
            session.add(row)
            session.flush()
            return _session_data(row, account)

    def find_session(self, token: str, now: datetime) -> SessionData | None:
        """The live session of ``token``; None when unknown or expired.

        An expired session is deleted. A session in use has its last use
        noted and its expiry moved to ``now`` + its lifetime, at most once
        per TOUCH_INTERVAL; only then is anything written (a second, short
        transaction), so most requests only read.
        """
        hashed = token_hash(token)
        with self.database.reading() as session:
            found = session.execute(
                select(WebSession, WebAccount.name)
                .join(WebAccount, WebAccount.id == WebSession.account_id)
                .where(WebSession.token_hash == hashed)
            ).one_or_none()
            if found is None:
                return None
            row, account = found
            data, lifetime = _session_data(row, account), timedelta(seconds=row.lifetime_s)
        if data.expires_at <= now:
            with self.database.writing() as session:
                session.execute(
                    delete(WebSession).where(WebSession.token_hash == hashed, WebSession.expires_at <= now)
                )
            return None
        if now - data.last_seen_at < TOUCH_INTERVAL:
            return data
        expires_at = max(data.expires_at, now + lifetime)
        with self.database.writing() as session:
            touched = session.execute(
                update(WebSession)
                .where(WebSession.token_hash == hashed)
                .values(last_seen_at=now, expires_at=expires_at)
            )
            if touched.rowcount == 0:  # type: ignore[attr-defined]
                return None  # ended in the meantime (signed out, password changed)
        return dataclasses.replace(data, last_seen_at=now, expires_at=expires_at)

    def end_session(self, token: str) -> None:
        """Sign a browser out (nothing happens for an unknown token)."""
        with self.database.writing() as session:
            session.execute(delete(WebSession).where(WebSession.token_hash == token_hash(token)))

    def end_session_by_id(self, session_id: str, account: str = DEFAULT_ACCOUNT) -> bool:
        """End the account's session with this public id; False when there is none."""
        if not _SESSION_ID.fullmatch(session_id):
            return False
        with self.database.writing() as session:
            account_id = _account_id(session, account)
            if account_id is None:
                return False
            ended = session.execute(
                delete(WebSession).where(
                    WebSession.account_id == account_id,
                    WebSession.token_hash.startswith(session_id, autoescape=True),
                )
            )
            return bool(ended.rowcount)  # type: ignore[attr-defined]

    def end_all_sessions(self, account: str = DEFAULT_ACCOUNT, keep_token: str | None = None) -> int:
        """End every session of the account but ``keep_token``'s; returns how many ended."""
        with self.database.writing() as session:
            account_id = _account_id(session, account)
            if account_id is None:
                return 0
            query = delete(WebSession).where(WebSession.account_id == account_id)
            if keep_token is not None:
                query = query.where(WebSession.token_hash != token_hash(keep_token))
            return int(session.execute(query).rowcount)  # type: ignore[attr-defined]

    def list_sessions(self, now: datetime, account: str = DEFAULT_ACCOUNT) -> tuple[SessionData, ...]:
        """The account's live sessions, newest first."""
        with self.database.reading() as session:
            rows = session.scalars(
                select(WebSession)
                .join(WebAccount, WebAccount.id == WebSession.account_id)
                .where(WebAccount.name == account, WebSession.expires_at > now)
                .order_by(WebSession.created_at.desc(), WebSession.token_hash)
            ).all()
            return tuple(_session_data(row, account) for row in rows)

    # -- failed sign-ins -----------------------------------------------------

    def failures(self, key: str) -> tuple[int, datetime | None]:
        """How many failed sign-ins ``key`` has, and when the last one was."""
        with self.database.reading() as session:
            found = session.execute(
                select(LoginFailure.failures, LoginFailure.last_failure_at).where(
                    LoginFailure.key == _clean(key, FAILURE_KEY_MAX)
                )
            ).one_or_none()
        return (0, None) if found is None else (int(found[0]), found[1])

    def record_failure(self, key: str, now: datetime, forget_before: datetime | None = None) -> int:
        """Count one more failed sign-in for ``key``; returns the new count.

        One atomic statement (INSERT .. ON CONFLICT DO UPDATE), so instances
        sharing a PostgreSQL database never lose a count. When the last
        failure was before ``forget_before``, counting starts again at 1.
        """
        key = _clean(key, FAILURE_KEY_MAX)
        dialect_insert = postgresql.insert if self.database.is_postgresql else sqlite.insert
        statement = dialect_insert(LoginFailure).values(key=key, failures=1, last_failure_at=now)
        counted = LoginFailure.failures + 1
        if forget_before is not None:
            counted = case((LoginFailure.last_failure_at < forget_before, 1), else_=counted)
        counting = statement.on_conflict_do_update(
            index_elements=["key"],
            set_={"failures": counted, "last_failure_at": statement.excluded.last_failure_at},
        ).returning(LoginFailure.failures)
        with self.database.writing() as session:
            return int(session.execute(counting).scalar_one())

    def clear_failures(self, key: str) -> None:
        """Forget ``key``'s failed sign-ins (after a successful one)."""
        with self.database.writing() as session:
            session.execute(delete(LoginFailure).where(LoginFailure.key == _clean(key, FAILURE_KEY_MAX)))


__all__ = ["DEFAULT_ACCOUNT", "SESSION_ID_LENGTH", "TOUCH_INTERVAL", "AccountStore", "SessionData", "token_hash"]
