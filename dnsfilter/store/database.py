"""Opening the policy database: SQLite (one file, the default) or PostgreSQL.

``open_database(url)`` connects, creates or upgrades the schema and returns a
``Database`` handing out short read and write transactions. Every call blocks;
async code runs them in a thread (``asyncio.to_thread``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import URL, Connection, Engine, create_engine, event, make_url, text
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from dnsfilter.errors import NoDatabase, StoreError
from dnsfilter.store.migrations import MIGRATIONS, Migration, prepare_schema, stored_version

if TYPE_CHECKING:
    import psycopg

NOTIFY_CHANNEL = "dnsfilter_policy"


@dataclass(frozen=True, slots=True)
class DatabaseWaits:
    """How long the store waits for the database (tests shorten them)."""

    busy_timeout_ms: int = 10_000  # an SQLite writer waits this long for another before giving up
    connect_timeout_s: int = 5  # connecting to PostgreSQL
TCP_USER_TIMEOUT_MS = 10_000
_IMMEDIATE = "dnsfilter_sqlite_immediate"
_SCHEMA_LOCK_ID = 0x646E7366  # "dnsf": serialises schema upgrades between instances


class ConflictError(StoreError):
    """Two changes collided (the same new name or device at the same moment); nothing was saved."""


class Database:
    """An open policy database. Thread-safe: each transaction takes its own connection."""

    def __init__(
        self, engine: Engine, where: str, file: Path | None = None, waits: DatabaseWaits = DatabaseWaits()
    ) -> None:
        self.waits = waits
        self.engine = engine
        self.where = where  # for messages: the file path, or host:port/database
        self.file = file  # the SQLite file
        self._file_identity: tuple[int, int] | None = None
        self.is_postgresql = engine.dialect.name == "postgresql"
        read_engine: Engine
        write_engine: Engine
        if self.is_postgresql:
            # Reads see one consistent moment even across several queries.
            read_engine = engine.execution_options(isolation_level="REPEATABLE READ")
            write_engine = engine
        else:
            read_engine = engine
            # BEGIN IMMEDIATE takes the write lock up front, so the busy timeout
            # applies; a read transaction upgraded to a write fails at once instead.
            write_engine = engine.execution_options(**{_IMMEDIATE: True})
        self._reads = sessionmaker(read_engine, expire_on_commit=False)
        self._writes = sessionmaker(write_engine, expire_on_commit=False)

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A read-only transaction, rolled back at the end."""
        with self._translated_errors(), self._reads() as session, session.begin():
            yield session
            session.rollback()

    @contextmanager
    def writing(self) -> Iterator[Session]:
        """A write transaction, committed when the block ends without an error."""
        self._check_file()
        with self._translated_errors(), self._writes() as session, session.begin():
            yield session

    def remember_file(self) -> None:
        """Note which SQLite file is open, so a deleted or replaced one is noticed."""
        if self.file is not None:
            self._file_identity = _identity(self.file)

    def _check_file(self) -> None:
        # Open connections keep writing to a deleted file, which then vanishes
        # with everything written: refuse instead, and say so.
        if self._file_identity is not None and _identity(self.file) != self._file_identity:
            raise StoreError(
                f"The database file {self.where} was deleted or replaced while dnsfilter was running, "
                "so nothing more is written to it. Put the file back, or restart dnsfilter to start a "
                "new one; until then the rules already read stay in force."
            )

    def close(self) -> None:
        self.engine.dispose()

    def listen_for_changes(self) -> ChangeListener | None:
        """On PostgreSQL, a listener woken by every policy change; None on SQLite (poll instead).

        Changes made by any instance on the same PostgreSQL database wake it.
        Wake-ups can be spurious (the channel is per database, not per schema), so
        the caller compares ``policy_version()`` before rebuilding anything.
        """
        if not self.is_postgresql:
            return None
        import psycopg  # only installed where PostgreSQL is used

        url = self.engine.url.set(drivername="postgresql")
        try:
            connection = psycopg.connect(
                url.render_as_string(hide_password=False), autocommit=True, connect_timeout=self.waits.connect_timeout_s
            )
            connection.execute(f"LISTEN {NOTIFY_CHANNEL}")
        except psycopg.Error as error:
            raise StoreError(f"Cannot reach PostgreSQL at {self.where}: {first_line(error)}") from error
        return ChangeListener(connection)

    @contextmanager
    def _translated_errors(self) -> Iterator[None]:
        try:
            yield
        except IntegrityError as error:
            raise ConflictError(
                "Someone else changed the same thing at the same moment; nothing was saved. Try again."
            ) from error
        except (OperationalError, DBAPIError) as error:
            raise StoreError(f"The policy database at {self.where} failed: {first_line(error)}") from error


class ChangeListener:
    """Waits for ``NOTIFY dnsfilter_policy`` on a connection of its own (blocking: use a thread)."""

    def __init__(self, connection: psycopg.Connection[Any]) -> None:
        self._connection = connection

    def wait(self, timeout: float) -> bool:
        """True when a change was announced within ``timeout`` seconds."""
        for _notice in self._connection.notifies(timeout=timeout, stop_after=1):
            return True
        return False

    def close(self) -> None:
        self._connection.close()


def open_database(
    url: str,
    *,
    data_dir: Path | None = None,
    migrations: Sequence[Migration] = MIGRATIONS,
    waits: DatabaseWaits = DatabaseWaits(),
    create: bool = True,
) -> Database:
    """Connect to ``url``, create or upgrade the schema, and return the Database.

    ``sqlite:///policy.db`` (a relative path is taken inside ``data_dir``) or
    ``postgresql://user@host:5432/dbname`` (``postgresql+psycopg://`` is used).
    Raises StoreError with a plain explanation when that cannot be done, and
    NoDatabase when ``create`` is false and there is no dnsfilter database yet.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as error:
        raise StoreError(
            f'database.url "{url}" is not a database address; write sqlite:///policy.db '
            "or postgresql://user@host:5432/dbname"
        ) from error
    if parsed.get_backend_name() == "sqlite":
        engine, where = _sqlite_engine(parsed, data_dir, waits, create)
    elif parsed.get_backend_name() in ("postgresql", "postgres"):
        engine, where = _postgresql_engine(parsed, waits)
    else:
        raise StoreError(
            f'database.url: dnsfilter stores its policy in SQLite or PostgreSQL, not "{parsed.drivername}"'
        )
    database = Database(engine, where, Path(where) if parsed.get_backend_name() == "sqlite" else None, waits)
    try:
        _prepare(database, migrations, create)
    except BaseException:
        engine.dispose()
        raise
    database.remember_file()
    return database


def _prepare(database: Database, migrations: Sequence[Migration], create: bool) -> None:
    try:
        with database.writing() as session:
            connection = session.connection()
            if database.is_postgresql:
                connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _SCHEMA_LOCK_ID})
            if not create and stored_version(connection) is None:
                raise NoDatabase(database.where)
            prepare_schema(connection, migrations, datetime.now(UTC))
    except StoreError as error:
        cause = error.__cause__
        if not isinstance(cause, DBAPIError):
            raise
        if database.is_postgresql:
            raise StoreError(
                f"Cannot reach PostgreSQL at {database.where}: {first_line(cause)}. "
                "Check that the server is running and that database.url in the configuration is right."
            ) from cause
        raise StoreError(
            f"Cannot open the database file {database.where}: {first_line(cause)}. "
            "Check that the folder exists, that dnsfilter may write to it, and that the file is a dnsfilter database."
        ) from cause


def database_location(url: str, data_dir: Path | None = None) -> str:
    """Where ``url`` keeps the family's data, for messages: the SQLite file, or
    PostgreSQL's host:port/database (never the password)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return url
    if parsed.get_backend_name() == "sqlite":
        return str(_sqlite_path(parsed, data_dir))
    return _postgresql_location(parsed)


def _sqlite_path(url: URL, data_dir: Path | None) -> Path:
    if not url.database or url.database == ":memory:":
        raise StoreError("database.url: give SQLite a file name, such as sqlite:///policy.db")
    path = Path(url.database).expanduser()
    return data_dir / path if not path.is_absolute() and data_dir is not None else path


def _postgresql_location(url: URL) -> str:
    return f"{url.host or 'localhost'}:{url.port or 5432}/{url.database or ''}"


def _sqlite_engine(url: URL, data_dir: Path | None, waits: DatabaseWaits, create: bool) -> tuple[Engine, str]:
    path = _sqlite_path(url, data_dir)
    if not create and not path.exists():
        raise NoDatabase(str(path))  # before SQLite makes an empty file there
    if not path.parent.is_dir():
        raise StoreError(
            f"Cannot open the database file {path}: the folder {path.parent} does not exist. "
            "Create it, or set data_dir or database.url in the configuration."
        )
    engine = create_engine(
        url.set(drivername="sqlite+pysqlite", database=str(path)),
        connect_args={"timeout": waits.busy_timeout_ms / 1000},
    )
    event.listen(engine, "connect", lambda connection, record: _sqlite_connected(connection, waits))
    event.listen(engine, "begin", _sqlite_begin)
    return engine, str(path)


def _sqlite_connected(dbapi_connection: Any, waits: DatabaseWaits) -> None:
    # SQLAlchemy emits BEGIN itself (see _sqlite_begin), so DDL is transactional too.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {int(waits.busy_timeout_ms)}")
        cursor.execute("PRAGMA journal_mode = WAL")  # readers never wait for the writer
        cursor.execute("PRAGMA synchronous = NORMAL")  # safe with WAL, far fewer SD card syncs
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    immediate = connection.get_execution_options().get(_IMMEDIATE, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _postgresql_engine(url: URL, waits: DatabaseWaits) -> tuple[Engine, str]:
    url = url.set(drivername="postgresql+psycopg")
    where = _postgresql_location(url)
    # Keepalives and a TCP user timeout notice a server that vanished from the
    # network (no reset ever comes) within about ten seconds instead of the
    # kernel's quarter of an hour.
    connect_args = {
        "connect_timeout": waits.connect_timeout_s,
        "keepalives": 1,
        "keepalives_idle": 10,
        "keepalives_interval": 3,
        "keepalives_count": 3,
        "tcp_user_timeout": TCP_USER_TIMEOUT_MS,
    }
    engine = create_engine(url, connect_args=connect_args, pool_pre_ping=True)
    return engine, where


def _identity(path: Path | None) -> tuple[int, int] | None:
    try:
        stat = os.stat(path) if path is not None else None
    except OSError:
        return None
    return None if stat is None else (stat.st_dev, stat.st_ino)


def first_line(error: BaseException) -> str:
    """The first line of what the driver said (the rest can hold the statement and its values)."""
    original = getattr(error, "orig", None) or error
    lines = str(original).strip().splitlines()
    return lines[0] if lines else type(original).__name__
