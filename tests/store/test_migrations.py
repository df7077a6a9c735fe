"""Creating, upgrading and refusing databases (SQLite file and PostgreSQL schema)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Connection, inspect, text

from dnsfilter.errors import NoDatabase, StoreError
from dnsfilter.store import Database, Migration, PolicyStore, open_database
from dnsfilter.store.accounts import AccountStore
from dnsfilter.store.migrations import MIGRATIONS, latest_version
from tests.store.conftest import NOW

LATEST = latest_version(MIGRATIONS)
LOG_TABLES = ("query_log", "hourly_counts", "name_counts", "usage_minutes", "log_counters", "budgets")
VERSION_3_TABLES = ("home_name_counts",)
VERSION_4_TABLES = ("web_sessions", "web_accounts", "login_failures")  # sessions first: they refer to accounts


def _add_device_os(connection: Connection) -> None:
    """An example next version: one new column and one new table."""
    connection.execute(text("ALTER TABLE devices ADD COLUMN os_hint VARCHAR(32)"))
    connection.execute(text("UPDATE devices SET os_hint = 'unknown'"))
    connection.execute(text("CREATE TABLE device_notes (profile_id INTEGER REFERENCES profiles(id), note TEXT)"))


def _broken_step(connection: Connection) -> None:
    connection.execute(text("ALTER TABLE devices ADD COLUMN half_done INTEGER"))
    raise RuntimeError("the step failed half way")


NEXT = (*MIGRATIONS, Migration(LATEST + 1, "devices remember their operating system; notes", _add_device_os))


def _version_1_database(open_db: Callable[..., Database]) -> Database:
    """A database as version 1 left it: no log tables."""
    database = open_db(migrations=())
    with database.writing() as session:
        for table in (*LOG_TABLES, *VERSION_3_TABLES, *VERSION_4_TABLES):
            session.execute(text(f"DROP TABLE {table}"))
    return database


def _version_2_database(open_db: Callable[..., Database]) -> Database:
    """A database as version 2 left it: name counts per profile only."""
    database = open_db(migrations=MIGRATIONS[:1])
    with database.writing() as session:
        for table in (*VERSION_3_TABLES, *VERSION_4_TABLES):
            session.execute(text(f"DROP TABLE {table}"))
    return database


def _version_3_database(open_db: Callable[..., Database]) -> Database:
    """A database as version 3 left it: no web accounts."""
    database = open_db(migrations=MIGRATIONS[:2])
    with database.writing() as session:
        for table in VERSION_4_TABLES:
            session.execute(text(f"DROP TABLE {table}"))
    return database


def _schema_version(database: Database) -> int:
    with database.reading() as session:
        return int(session.execute(text("SELECT version FROM schema_version")).scalar_one())


def _columns(database: Database, table: str) -> set[str]:
    with database.reading() as session:
        return {column["name"] for column in inspect(session.connection()).get_columns(table)}


def test_a_new_database_is_at_the_newest_version(database: Database) -> None:
    assert _schema_version(database) == LATEST == 6
    assert latest_version(()) == 1
    assert set(LOG_TABLES + VERSION_3_TABLES + VERSION_4_TABLES) <= set(inspect(database.engine).get_table_names())


def test_upgrade_from_version_1_adds_the_log_tables(open_db: Callable[..., Database]) -> None:
    old = PolicyStore(_version_1_database(open_db))
    old.create_profile("Mia", now=NOW)
    old.add_blocked_tags(old.create_profile("Leo", now=NOW).id, ["games"])
    old.database.close()
    upgraded = open_db()
    assert _schema_version(upgraded) == LATEST
    assert set(LOG_TABLES + VERSION_3_TABLES + VERSION_4_TABLES) <= set(inspect(upgraded.engine).get_table_names())
    profiles = PolicyStore(upgraded).load_all(NOW).profiles
    assert [(p.name, p.blocked_tags, p.budgets) for p in profiles] == [
        ("Everyone", frozenset(), ()), ("Mia", frozenset(), ()), ("Leo", frozenset({"games"}), ())
    ]


def test_upgrade_from_version_2_adds_up_the_home_name_counts(open_db: Callable[..., Database]) -> None:
    old = _version_2_database(open_db)
    counted = [  # hour, profile, action, name, count
        (500_000, 1, "allow", "example.org", 3),
        (500_000, 2, "allow", "example.org", 4),
        (500_000, 2, "block", "example.org", 1),
        (500_001, 1, "allow", "example.org", 5),
        (500_001, 1, "allow", "<b>x</b>\\000.example", 2),
    ]
    with old.writing() as session:
        for hour, profile, action, name, count in counted:
            session.execute(
                text("INSERT INTO name_counts VALUES (:hour, :profile, :action, :name, :count)"),
                {"hour": hour, "profile": profile, "action": action, "name": name, "count": count},
            )
    old.close()
    upgraded = open_db()
    assert _schema_version(upgraded) == LATEST
    with upgraded.reading() as session:
        rows = session.execute(text("SELECT hour, action, name, count FROM home_name_counts ORDER BY hour, action, name"))
        assert [tuple(row) for row in rows] == [
            (500_000, "allow", "example.org", 7),
            (500_000, "block", "example.org", 1),
            (500_001, "allow", "<b>x</b>\\000.example", 2),
            (500_001, "allow", "example.org", 5),
        ]


def test_upgrade_from_version_3_adds_the_web_accounts(open_db: Callable[..., Database]) -> None:
    old = _version_3_database(open_db)
    PolicyStore(old).create_profile("Mia", now=NOW)
    assert not set(VERSION_4_TABLES) & set(inspect(old.engine).get_table_names())
    old.close()
    upgraded = open_db()
    assert _schema_version(upgraded) == LATEST
    assert set(VERSION_4_TABLES) <= set(inspect(upgraded.engine).get_table_names())
    assert {"token_hash", "account_id", "csrf_token", "expires_at", "address", "user_agent"} <= _columns(
        upgraded, "web_sessions"
    )
    # The new tables work: a password, a session, a failure.
    accounts = AccountStore(upgraded)
    accounts.set_password_hash("scrypt$stand-in", NOW)
    accounts.create_session("token", "csrf", now=NOW, lifetime=timedelta(days=1), address="10.0.0.2", user_agent="x")
    assert accounts.find_session("token", NOW) is not None
    assert accounts.record_failure("ip:10.0.0.3", NOW) == 1
    assert [p.name for p in PolicyStore(upgraded).list_profiles()] == ["Everyone", "Mia"]


def test_upgrade_from_version_4_indexes_the_hourly_totals(open_db: Callable[..., Database]) -> None:
    old = open_db()
    with old.engine.begin() as connection:
        connection.exec_driver_sql("DROP INDEX ix_hourly_counts_totals")
        connection.exec_driver_sql("UPDATE schema_version SET version = 4")
    old.close()
    upgraded = open_db()
    assert _schema_version(upgraded) == LATEST
    indexes = {index["name"]: index["column_names"] for index in inspect(upgraded.engine).get_indexes("hourly_counts")}
    assert indexes["ix_hourly_counts_totals"] == ["tag", "hour", "profile_id", "action", "count"]


def _name_count_rows(database: Database) -> list[tuple[object, ...]]:
    with database.reading() as session:
        rows = session.execute(text("SELECT hour, profile_id, action, name, count FROM name_counts ORDER BY count"))
        return [tuple(row) for row in rows]


def test_upgrade_from_version_5_keeps_the_name_counts_in_key_order(
    open_db: Callable[..., Database], caplog: pytest.LogCaptureFixture
) -> None:
    old = open_db(migrations=MIGRATIONS[:4])
    counted = [(500_000, 1, "allow", "example.org", 3), (500_001, 2, "block", "<b>x</b>\\000.example", 4)]
    with old.writing() as session:
        if not old.is_postgresql:  # as version 5 made it: with row ids
            session.execute(text("DROP TABLE name_counts"))
            session.execute(text(
                "CREATE TABLE name_counts (hour INTEGER NOT NULL, profile_id INTEGER NOT NULL, "
                "action VARCHAR(16) NOT NULL, name TEXT NOT NULL, count INTEGER NOT NULL, "
                "PRIMARY KEY (hour, profile_id, action, name))"
            ))
        for row in counted:
            session.execute(text("INSERT INTO name_counts VALUES (:h, :p, :a, :n, :c)"),
                            dict(zip("hpanc", row, strict=True)))
    old.close()
    with caplog.at_level(logging.INFO, logger="dnsfilter.store.migrations"):
        upgraded = open_db()
    assert "upgrading the database to schema version 6: name counts kept in their key's order" in caplog.text
    assert _schema_version(upgraded) == LATEST
    assert _name_count_rows(upgraded) == counted
    if not upgraded.is_postgresql:
        with upgraded.reading() as session:
            ddl = session.execute(text("SELECT sql FROM sqlite_master WHERE name = 'name_counts'")).scalar_one()
            assert "WITHOUT ROWID" in ddl
            assert "name_counts_before_6" not in inspect(session.connection()).get_table_names()
    # Counts still add up on the new table, as the writer adds them.
    with upgraded.writing() as session:
        session.execute(text(
            "INSERT INTO name_counts VALUES (500000, 1, 'allow', 'example.org', 2) "
            "ON CONFLICT (hour, profile_id, action, name) DO UPDATE SET count = name_counts.count + excluded.count"
        ))
    assert _name_count_rows(upgraded)[-1] == (500_000, 1, "allow", "example.org", 5)


def test_reopening_keeps_the_data(open_db: Callable[..., Database]) -> None:
    store = PolicyStore(open_db())
    store.create_profile("Mia", now=NOW)
    again = PolicyStore(open_db())
    assert [p.name for p in again.list_profiles()] == ["Everyone", "Mia"]


def test_upgrade_to_the_next_version_keeps_the_data(open_db: Callable[..., Database]) -> None:
    old = PolicyStore(open_db())
    mia = old.create_profile("Mia", now=NOW)
    old.record_seen("ip:10.0.0.2", ip="10.0.0.2", mac=None, name="<pc>", now=NOW)
    old.add_rule(mia.id, days="sun-thu", start="20:30", end="07:00", action="allow_only", allow=["example.org"])
    before = old.load_all(NOW)
    old.database.close()

    upgraded = open_db(migrations=NEXT)
    assert _schema_version(upgraded) == LATEST + 1
    assert "os_hint" in _columns(upgraded, "devices")
    assert "device_notes" in inspect(upgraded.engine).get_table_names()
    with upgraded.reading() as session:
        assert session.execute(text("SELECT os_hint FROM devices")).scalar_one() == "unknown"
    assert PolicyStore(upgraded).load_all(NOW) == before
    # Opening again runs nothing twice (the ALTER TABLE would fail).
    assert _schema_version(open_db(migrations=NEXT)) == LATEST + 1


def test_a_failed_step_leaves_the_database_as_it_was(open_db: Callable[..., Database]) -> None:
    PolicyStore(open_db()).create_profile("Mia", now=NOW)
    with pytest.raises(RuntimeError, match="half way"):
        open_db(migrations=(*MIGRATIONS, Migration(LATEST + 1, "broken", _broken_step)))
    database = open_db()
    assert _schema_version(database) == LATEST
    assert "half_done" not in _columns(database, "devices")
    assert [p.name for p in PolicyStore(database).list_profiles()] == ["Everyone", "Mia"]


def test_a_database_from_a_newer_dnsfilter_is_refused(open_db: Callable[..., Database]) -> None:
    open_db(migrations=NEXT)
    with pytest.raises(
        StoreError, match=rf"newer dnsfilter \(schema version {LATEST + 1}; .* up to version {LATEST}\)"
    ):
        open_db()


def test_migrations_must_be_numbered_in_order() -> None:
    with pytest.raises(ValueError, match="expected 2"):
        latest_version((Migration(3, "skips two", _add_device_os),))


def test_only_a_caller_allowed_to_create_gets_a_new_database(database_url: str, tmp_path: Path) -> None:
    # The commands other than run open with create=False: a wrong path starts no empty policy.
    with pytest.raises(NoDatabase) as missing:
        open_database(database_url, create=False)
    assert missing.value.where in database_url or missing.value.where.endswith("policy.db")
    if database_url.startswith("sqlite"):
        assert list(tmp_path.iterdir()) == []  # not even an empty file
    open_database(database_url).close()  # as run does
    reopened = open_database(database_url, create=False)
    try:
        assert PolicyStore(reopened).list_profiles()[0].is_default
    finally:
        reopened.close()


def test_a_missing_folder_is_reported(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="Cannot open the database file .* does not exist"):
        open_database(f"sqlite:///{tmp_path / 'nowhere' / 'policy.db'}")


def test_a_relative_sqlite_file_lives_in_the_data_dir(tmp_path: Path) -> None:
    database = open_database("sqlite:///policy.db", data_dir=tmp_path)
    database.close()
    assert (tmp_path / "policy.db").is_file()


def test_a_file_that_is_not_a_database_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "policy.db"
    path.write_bytes(b"this is not a database, just some text " * 100)
    with pytest.raises(StoreError, match="Cannot open the database file .*policy.db"):
        open_database(f"sqlite:///{path}")


def test_an_unreachable_postgresql_is_reported() -> None:
    pytest.importorskip("psycopg")
    with pytest.raises(StoreError, match=r"Cannot reach PostgreSQL at 127\.0\.0\.1:1/test"):
        open_database("postgresql://postgres@127.0.0.1:1/test")


@pytest.mark.parametrize(
    ("url", "message"),
    [("mysql://root@localhost/db", "SQLite or PostgreSQL"), ("not a url", "not a database address"), ("sqlite://", "file name")],
    ids=["mysql", "garbage", "memory"],
)
def test_unsupported_urls_are_refused(url: str, message: str) -> None:
    with pytest.raises(StoreError, match=message):
        open_database(url)


def test_changes_are_announced_on_postgresql(database: Database) -> None:
    listener = database.listen_for_changes()
    if not database.is_postgresql:
        assert listener is None  # SQLite: instances poll policy_version()
        return
    assert listener is not None
    try:
        PolicyStore(database).create_profile("Mia", now=NOW)
        assert listener.wait(timeout=10) is True
    finally:
        listener.close()
