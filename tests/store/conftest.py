"""A fresh policy database for each test, on SQLite and on PostgreSQL.

``database_url`` (SQLite file or fresh PostgreSQL schema) lives in
tests/conftest.py, shared with the tests that run the whole filter; here
are the open database and store made from it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest

from dnsfilter.store import Database, PolicyStore, open_database

# Re-exported for the store tests that make a second fresh database of their own.
from tests.conftest import POSTGRESQL_URL, _postgresql_schema_url  # noqa: F401

NOW = datetime(2025, 3, 14, 18, 0, tzinfo=UTC)


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
