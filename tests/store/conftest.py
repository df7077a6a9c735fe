"""A fresh policy database for each test, on SQLite and on PostgreSQL.

PostgreSQL tests use a new schema on the server named by
DNSFILTER_TEST_POSTGRESQL_URL (default: the local server, database "test"),
dropped afterwards; they are skipped, with the reason shown, when it is unreachable.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dnsfilter.store import Database, PolicyStore, open_database

POSTGRESQL_URL = os.environ.get("DNSFILTER_TEST_POSTGRESQL_URL", "postgresql://postgres@127.0.0.1:5432/test")
NOW = datetime(2025, 3, 14, 18, 0, tzinfo=UTC)


def _postgresql_schema_url() -> Iterator[str]:
    psycopg = pytest.importorskip("psycopg", reason="psycopg is not installed: pip install 'psycopg[binary]'")
    schema = f"dnsfilter_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(POSTGRESQL_URL, autocommit=True, connect_timeout=3)
    except psycopg.Error as error:
        reason = f"PostgreSQL is not reachable at {POSTGRESQL_URL}: {error}".strip()
        print(reason)
        pytest.skip(reason)
    with admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
        try:
            yield f"{POSTGRESQL_URL}?options=-csearch_path%3D{schema}"
        finally:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty database: a file in tmp_path, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'policy.db'}"
    else:
        yield from _postgresql_schema_url()


@pytest.fixture
def open_db(database_url: str) -> Iterator[Callable[..., Database]]:
    """Opens Databases on ``database_url`` (keyword arguments go to open_database); all closed afterwards."""
    opened: list[Database] = []

    def opener(**kwargs: object) -> Database:
        database = open_database(database_url, **kwargs)  # type: ignore[arg-type]
        opened.append(database)
        return database

    yield opener
    for database in opened:
        database.close()


@pytest.fixture
def database(open_db: Callable[..., Database]) -> Database:
    return open_db()


@pytest.fixture
def store(database: Database) -> PolicyStore:
    return PolicyStore(database)
