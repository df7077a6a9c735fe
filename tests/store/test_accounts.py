"""The web page's accounts, sessions and failed sign-ins (SQLite file and PostgreSQL)."""

from __future__ import annotations

import hashlib
import threading
from datetime import timedelta

import pytest
from sqlalchemy import text

from dnsfilter.store import Database, NotFoundError
from dnsfilter.store.accounts import AccountStore, SessionData
from tests.store.conftest import NOW

DAY = timedelta(days=1)


@pytest.fixture
def accounts(database: Database) -> AccountStore:
    store = AccountStore(database)
    store.set_password_hash("scrypt$first", NOW)
    return store


def _start(accounts: AccountStore, token: str, at_minute: int = 0, **kwargs: str) -> SessionData:
    values = {"address": "192.168.1.5", "user_agent": "Firefox", **kwargs}
    return accounts.create_session(
        token, f"csrf-{token}", now=NOW + timedelta(minutes=at_minute), lifetime=DAY, **values
    )


def _stored_hashes(database: Database) -> list[str]:
    with database.reading() as session:
        return [row[0] for row in session.execute(text("SELECT token_hash FROM web_sessions ORDER BY token_hash"))]


# -- passwords -------------------------------------------------------------------


def test_no_password_until_one_is_set(database: Database) -> None:
    store = AccountStore(database)
    assert store.password_hash() is None
    store.set_password_hash("scrypt$one", NOW)
    assert store.password_hash() == "scrypt$one"
    store.set_password_hash("scrypt$two", NOW + DAY)
    assert store.password_hash() == "scrypt$two"
    assert store.password_hash("someone-else") is None


def test_a_session_needs_an_account(database: Database) -> None:
    with pytest.raises(NotFoundError, match="dnsfilter passwd"):
        AccountStore(database).create_session("t", "c", now=NOW, lifetime=DAY, address="a", user_agent="u")
    assert _stored_hashes(database) == []


def test_a_new_password_ends_every_session_of_that_account(accounts: AccountStore) -> None:
    _start(accounts, "phone")
    _start(accounts, "laptop")
    accounts.set_password_hash("scrypt$helper", NOW, account="helper")
    helper = accounts.create_session("h", "c", now=NOW, lifetime=DAY, address="a", user_agent="u", account="helper")
    accounts.set_password_hash("scrypt$new", NOW + timedelta(minutes=5))
    assert accounts.find_session("phone", NOW + timedelta(minutes=6)) is None
    assert accounts.find_session("laptop", NOW + timedelta(minutes=6)) is None
    assert accounts.list_sessions(NOW) == ()
    assert accounts.find_session("h", NOW) == helper  # another account's sessions stay


# -- sessions ----------------------------------------------------------------------


def test_a_session_is_found_by_its_token_and_stored_by_its_hash(accounts: AccountStore) -> None:
    created = _start(accounts, "secret-token")
    digest = hashlib.sha256(b"secret-token").hexdigest()
    assert created == SessionData(
        id=digest[:12],
        account="parent",
        csrf_token="csrf-secret-token",
        created_at=NOW,
        last_seen_at=NOW,
        expires_at=NOW + DAY,
        address="192.168.1.5",
        user_agent="Firefox",
    )
    assert accounts.find_session("secret-token", NOW + timedelta(seconds=30)) == created
    assert accounts.find_session("secret-tokeN", NOW) is None
    assert accounts.find_session("", NOW) is None
    assert _stored_hashes(accounts.database) == [digest]  # never the token itself


def test_an_expired_session_is_not_found_and_is_deleted(accounts: AccountStore) -> None:
    _start(accounts, "old")
    _start(accounts, "other")
    assert accounts.find_session("old", NOW + timedelta(seconds=30)) is not None  # not used since: no slide
    assert accounts.find_session("old", NOW + DAY) is None
    assert _stored_hashes(accounts.database) == [hashlib.sha256(b"other").hexdigest()]


def test_a_session_in_use_slides_its_expiry_at_most_once_a_minute(accounts: AccountStore) -> None:
    _start(accounts, "t")
    early = accounts.find_session("t", NOW + timedelta(seconds=59))
    assert early is not None and early.last_seen_at == NOW and early.expires_at == NOW + DAY  # nothing written
    later = NOW + timedelta(hours=20)
    used = accounts.find_session("t", later)
    assert used is not None and used.last_seen_at == later and used.expires_at == later + DAY
    # The slide was stored: the session outlives its first expiry.
    again = accounts.find_session("t", NOW + DAY + timedelta(hours=1))
    assert again is not None and again.expires_at == NOW + DAY + timedelta(hours=1) + DAY
    assert accounts.find_session("t", later + 2 * DAY + timedelta(hours=2)) is None


def test_expired_sessions_are_removed_when_a_new_one_starts(accounts: AccountStore) -> None:
    _start(accounts, "old")
    new = _start(accounts, "new", at_minute=24 * 60 + 1)
    assert _stored_hashes(accounts.database) == [hashlib.sha256(b"new").hexdigest()]
    assert new.id == hashlib.sha256(b"new").hexdigest()[:12]


def test_ending_a_session(accounts: AccountStore) -> None:
    _start(accounts, "a")
    _start(accounts, "b")
    accounts.end_session("a")
    accounts.end_session("a")  # again: nothing happens
    accounts.end_session("never")
    assert accounts.find_session("a", NOW) is None
    assert accounts.find_session("b", NOW) is not None


def test_ending_a_session_by_its_public_id(accounts: AccountStore) -> None:
    session = _start(accounts, "a")
    _start(accounts, "b")
    accounts.set_password_hash("scrypt$helper", NOW, account="helper")
    assert accounts.end_session_by_id(session.id, account="helper") is False  # not that account's
    assert accounts.end_session_by_id(session.id[:11]) is False
    assert accounts.end_session_by_id(session.id.upper()) is False
    assert accounts.end_session_by_id(session.id[:11] + "%") is False
    assert accounts.end_session_by_id("%") is False
    assert accounts.end_session_by_id("") is False
    assert accounts.find_session("a", NOW) is not None
    assert accounts.end_session_by_id(session.id) is True
    assert accounts.end_session_by_id(session.id) is False
    assert accounts.find_session("a", NOW) is None
    assert accounts.find_session("b", NOW) is not None


def test_ending_all_sessions_but_this_one(accounts: AccountStore) -> None:
    for token in ("a", "b", "c"):
        _start(accounts, token)
    assert accounts.end_all_sessions(keep_token="b") == 2
    assert [s.id for s in accounts.list_sessions(NOW)] == [hashlib.sha256(b"b").hexdigest()[:12]]
    assert accounts.end_all_sessions() == 1
    assert accounts.end_all_sessions() == 0
    assert accounts.end_all_sessions(account="nobody") == 0


def test_live_sessions_are_listed_newest_first(accounts: AccountStore) -> None:
    _start(accounts, "first", at_minute=0)
    _start(accounts, "second", at_minute=10)
    _start(accounts, "third", at_minute=20)
    listed = accounts.list_sessions(NOW + timedelta(minutes=30))
    assert [s.csrf_token for s in listed] == ["csrf-third", "csrf-second", "csrf-first"]
    assert [s.csrf_token for s in accounts.list_sessions(NOW + DAY + timedelta(minutes=5))] == [
        "csrf-third", "csrf-second"
    ]
    assert accounts.list_sessions(NOW, account="nobody") == ()


@pytest.mark.parametrize(
    ("user_agent", "address", "stored_agent", "stored_address"),
    [
        ("Mozilla\x00<script>\\0", "10.0.0.9", "Mozilla\x00<script>\\0", "10.0.0.9"),
        ("x" * 500, "a" * 100, "x" * 200, "a" * 64),
        ("bad \udcff header", "fe80::1%eth0", "bad ? header", "fe80::1%eth0"),
        ("Trình duyệt 🙂", "", "Trình duyệt 🙂", ""),
    ],
    ids=["nul-and-backslash", "too-long", "lone-surrogate", "unicode"],
)
def test_what_the_browser_says_is_stored_safely(
    accounts: AccountStore, user_agent: str, address: str, stored_agent: str, stored_address: str
) -> None:
    _start(accounts, "t", user_agent=user_agent, address=address)
    found = accounts.find_session("t", NOW)
    assert found is not None
    assert (found.user_agent, found.address) == (stored_agent, stored_address)


# -- failed sign-ins ---------------------------------------------------------------


def test_failures_are_counted_and_cleared(accounts: AccountStore) -> None:
    assert accounts.failures("ip:192.168.1.5") == (0, None)
    assert accounts.record_failure("ip:192.168.1.5", NOW) == 1
    assert accounts.record_failure("ip:192.168.1.5", NOW + timedelta(seconds=5)) == 2
    assert accounts.record_failure("account:parent", NOW) == 1
    assert accounts.failures("ip:192.168.1.5") == (2, NOW + timedelta(seconds=5))
    accounts.clear_failures("ip:192.168.1.5")
    accounts.clear_failures("ip:192.168.1.5")
    assert accounts.failures("ip:192.168.1.5") == (0, None)
    assert accounts.failures("account:parent") == (1, NOW)


def test_old_failures_can_be_forgotten(accounts: AccountStore) -> None:
    for _ in range(3):
        accounts.record_failure("k", NOW)
    assert accounts.record_failure("k", NOW + timedelta(hours=1), forget_before=NOW) == 4  # last one not older
    assert accounts.record_failure("k", NOW + DAY * 2, forget_before=NOW + DAY) == 1


@pytest.mark.parametrize(
    "key",
    ["ip:\x00\\0", "account:" + "é" * 1000, "ip:\udcff", ""],
    ids=["nul", "long", "surrogate", "empty"],
)
def test_any_key_can_be_counted(accounts: AccountStore, key: str) -> None:
    assert accounts.record_failure(key, NOW) == 1
    assert accounts.record_failure(key, NOW) == 2
    assert accounts.failures(key) == (2, NOW)
    accounts.clear_failures(key)
    assert accounts.failures(key) == (0, None)


def test_failures_counted_at_once_are_all_counted(accounts: AccountStore) -> None:
    threads, each = 6, 10
    seen: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(threads)

    def guess() -> None:
        try:
            start.wait()
            for _ in range(each):
                count = accounts.record_failure("account:parent", NOW)
                with lock:
                    seen.append(count)
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    workers = [threading.Thread(target=guess) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert errors == []
    assert sorted(seen) == list(range(1, threads * each + 1))  # every count handed out once
    assert accounts.failures("account:parent")[0] == threads * each
