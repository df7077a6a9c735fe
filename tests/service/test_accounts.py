"""Signing in to the web page: password hashes, setup codes, throttling and sessions."""

from __future__ import annotations

import base64
import hashlib
import re
import unicodedata
from datetime import UTC, datetime, timedelta

import pytest

from dnsfilter.errors import UsageError
from dnsfilter.service import accounts as rules
from dnsfilter.service.accounts import (
    Accounts,
    LoginResult,
    check_new_password,
    delay_after,
    hash_password,
    new_setup_code,
    new_token,
    retry_after,
    same_setup_code,
    verify_password,
)
from dnsfilter.store import Database
from dnsfilter.store.accounts import AccountStore

NOW = datetime(2025, 3, 14, 18, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"
SECOND = timedelta(seconds=1)

# -- password hashes -----------------------------------------------------------------


def test_a_hash_verifies_its_password_only() -> None:
    stored = hash_password(PASSWORD)
    assert verify_password(PASSWORD, stored) is True
    assert verify_password(PASSWORD + " ", stored) is False
    assert verify_password("Correct horse battery", stored) is False
    assert verify_password("", stored) is False


def test_a_hash_records_its_parameters_and_a_new_salt() -> None:
    stored = hash_password(PASSWORD)
    kind, n, r, p, salt, derived = stored.split("$")
    assert (kind, n, r, p) == ("scrypt", "16384", "8", "1")
    assert len(base64.b64decode(salt)) == 16 and len(base64.b64decode(derived)) == 32
    assert hash_password(PASSWORD) != stored  # another salt


def test_the_parameters_are_read_from_the_stored_hash() -> None:
    salt = b"0123456789abcdef"
    derived = hashlib.scrypt(PASSWORD.encode(), salt=salt, n=2**10, r=4, p=2, dklen=48)
    stored = f"scrypt$1024$4$2${base64.b64encode(salt).decode()}${base64.b64encode(derived).decode()}"
    assert verify_password(PASSWORD, stored) is True
    assert verify_password(PASSWORD, stored.replace("$1024$", "$2048$")) is False


def _parts(n: str = "16384", r: str = "8", p: str = "1", salt: str = "c2FsdHNhbHRzYWx0c2FsdA==",
           derived: str = base64.b64encode(bytes(32)).decode()) -> str:  # fmt: skip
    return f"scrypt${n}${r}${p}${salt}${derived}"


@pytest.mark.parametrize(
    "stored",
    [
        "", "scrypt", "scrypt$$$$$", "plain text password", "bcrypt$16384$8$1$c2FsdA==$aGFzaA==",
        _parts() + "$extra", _parts(n="1000"), _parts(n="1"), _parts(n="2147483648"), _parts(n="²"),
        _parts(n="-16384"), _parts(r="0"), _parts(r="999"), _parts(p="100"), _parts(salt=""),
        _parts(salt="not base64!"), _parts(derived="aGFzaA=="), _parts(derived=base64.b64encode(bytes(100)).decode()),
        _parts(n="9" * 5000),
    ],
    ids=[
        "empty", "word", "empty-fields", "plain", "other-kdf", "seven-fields", "n-not-power-of-two", "n-one",
        "n-huge", "n-superscript", "n-negative", "r-zero", "r-huge", "p-huge", "no-salt", "salt-not-base64",
        "hash-too-short", "hash-too-long", "n-5000-digits",
    ],
)
def test_a_malformed_hash_verifies_nothing(stored: str) -> None:
    assert verify_password(PASSWORD, stored) is False


def test_passwords_are_compared_in_one_unicode_spelling() -> None:
    composed = unicodedata.normalize("NFC", "Lê Văn Tám học bài 🙂")
    decomposed = unicodedata.normalize("NFD", composed)
    assert composed != decomposed
    assert verify_password(decomposed, hash_password(composed)) is True
    assert verify_password(composed, hash_password(decomposed)) is True


@pytest.mark.parametrize(
    "password",
    ["ten chars!", "Mật khẩu của bố mẹ", "🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂", "x" * 200, "  spaced out  "],
    ids=["ten", "vietnamese", "emoji", "longest", "spaces-around"],
)
def test_good_new_passwords(password: str) -> None:
    check_new_password(password)


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("", "only spaces"),
        (" " * 12, "only spaces"),
        ("\t \n" * 5, "only spaces"),
        ("nine char", r"too short \(9 characters\); use at least 10"),
        ("e\u0301" * 6, r"too short \(6 characters\)"),  # 12 code points, 6 letters once composed
        ("x" * 201, r"too long \(201 characters\); use at most 200"),
    ],
    ids=["empty", "spaces", "whitespace", "nine", "combining-accents", "too-long"],
)
def test_bad_new_passwords_are_refused_in_plain_words(password: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        check_new_password(password)


# -- tokens and setup codes -------------------------------------------------------------


def test_tokens_are_long_and_new_each_time() -> None:
    tokens = {new_token() for _ in range(50)}
    assert len(tokens) == 50
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{43}", token) for token in tokens)


def test_setup_codes_are_grouped_and_unambiguous() -> None:
    codes = [new_setup_code() for _ in range(200)]
    assert all(re.fullmatch(r"[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}", code) for code in codes)
    used = set("".join(codes).replace("-", ""))
    assert not used & set("0O1IL")
    assert len(used) > 25  # the whole alphabet is used, not a few letters
    assert len(set(codes)) == 200


@pytest.mark.parametrize(
    ("given", "same"),
    [
        ("ABCD-EFGH-JKMN", True),
        ("abcd-efgh-jkmn", True),
        ("ABCDEFGHJKMN", True),
        (" abcd efgh jkmn \n", True),
        ("ABCD-EFGH-JKMP", False),
        ("ABCD-EFGH-JKM", False),
        ("ABCD-EFGH-JKMNP", False),
        ("", False),
        ("ÀBCD-EFGH-JKMN", False),
    ],
    ids=["exact", "lower", "no-dashes", "spaces", "one-wrong", "short", "long", "empty", "non-ascii"],
)
def test_setup_codes_compare_ignoring_case_spaces_and_dashes(given: str, same: bool) -> None:
    assert same_setup_code(given, "ABCD-EFGH-JKMN") is same


def test_an_empty_setup_code_matches_nothing() -> None:
    assert same_setup_code("", "") is False
    assert same_setup_code("-", " ") is False


# -- throttling ----------------------------------------------------------------------

DELAYS = {1: 0, 2: 0, 3: 0, 4: 0, 5: 2, 6: 4, 7: 8, 8: 16, 9: 32, 10: 64, 11: 128, 12: 256, 13: 512}


@pytest.mark.parametrize("failures", range(21), ids=lambda f: f"{f}-failures")
def test_the_wait_after_each_failure(failures: int) -> None:
    assert delay_after(failures) == DELAYS.get(failures, 0 if failures < 1 else 900)


def test_the_wait_stays_at_fifteen_minutes() -> None:
    assert delay_after(10**9) == 900
    # 1,000 guesses take days.
    assert sum(delay_after(n) for n in range(1, 1001)) / 86400 > 9


@pytest.mark.parametrize(
    ("failures", "last", "expected"),
    [
        (0, None, 0.0),
        (4, NOW, 0.0),
        (5, NOW, 2.0),
        (5, NOW - SECOND / 2, 1.5),
        (5, NOW - 2 * SECOND, 0.0),
        (6, NOW - SECOND, 3.0),
        (20, NOW - timedelta(minutes=10), 300.0),
        (20, NOW - timedelta(minutes=16), 0.0),
        (9, None, 0.0),
    ],
    ids=["none", "free", "fifth-now", "fifth-half", "fifth-waited", "sixth", "cap-half", "cap-waited", "no-time"],
)
def test_time_still_to_wait(failures: int, last: datetime | None, expected: float) -> None:
    assert retry_after(failures, last, NOW) == pytest.approx(expected)


# -- signing in ----------------------------------------------------------------------


@pytest.fixture
def accounts(database: Database) -> Accounts:
    signing_in = Accounts(AccountStore(database))
    signing_in.set_password(PASSWORD, NOW - timedelta(days=7))
    return signing_in


@pytest.fixture
def verified(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The passwords check_login actually verified."""
    calls: list[str] = []
    real = rules.verify_password

    def spy(password: str, stored: str) -> bool:
        calls.append(password)
        return real(password, stored)

    monkeypatch.setattr(rules, "verify_password", spy)
    return calls


def _fail(accounts: Accounts, times: int, address: str = "10.0.0.5", at: datetime = NOW) -> LoginResult:
    result = LoginResult(ok=False, retry_after=0.0, throttled=False)
    for _ in range(times):
        result = accounts.check_login("wrong password", address, at)
    return result


def test_the_right_password_signs_in(accounts: Accounts) -> None:
    assert accounts.check_login(PASSWORD, "10.0.0.5", NOW) == LoginResult(ok=True, retry_after=0.0, throttled=False)
    assert accounts.has_password() is True


def test_without_a_password_nobody_signs_in(database: Database, verified: list[str]) -> None:
    accounts = Accounts(AccountStore(database))
    assert accounts.has_password() is False
    assert accounts.check_login("", "10.0.0.5", NOW).ok is False
    assert accounts.check_login(PASSWORD, "10.0.0.5", NOW).ok is False
    assert verified == ["", PASSWORD]  # checked all the same, so it takes as long


def test_four_mistakes_are_free_then_the_wait_doubles(accounts: Accounts) -> None:
    assert [accounts.check_login("wrong password", "10.0.0.5", NOW).retry_after for _ in range(4)] == [0, 0, 0, 0]
    assert _fail(accounts, 1) == LoginResult(ok=False, retry_after=2.0, throttled=False)
    assert _fail(accounts, 1, at=NOW + 2 * SECOND) == LoginResult(ok=False, retry_after=4.0, throttled=False)


def test_while_waiting_the_password_is_not_even_checked(accounts: Accounts, verified: list[str]) -> None:
    _fail(accounts, 5)
    verified.clear()
    result = accounts.check_login(PASSWORD, "10.0.0.5", NOW + SECOND)
    assert result.throttled is True and result.ok is False and result.retry_after == pytest.approx(1.0)
    assert verified == []
    # Waiting did not grow by asking: after the 2 s, the right password works.
    assert accounts.check_login(PASSWORD, "10.0.0.5", NOW + 2 * SECOND).ok is True
    assert verified == [PASSWORD]


def test_success_clears_both_the_address_and_the_account(accounts: Accounts) -> None:
    _fail(accounts, 3)
    assert accounts.store.failures("ip:10.0.0.5")[0] == 3
    assert accounts.store.failures("account:parent")[0] == 3
    assert accounts.check_login(PASSWORD, "10.0.0.5", NOW).ok is True
    assert accounts.store.failures("ip:10.0.0.5") == (0, None)
    assert accounts.store.failures("account:parent") == (0, None)
    # Counting starts again from zero.
    assert _fail(accounts, 4).retry_after == 0


def test_guessing_from_many_addresses_still_waits_for_the_account(accounts: Accounts, verified: list[str]) -> None:
    for number in range(5):
        _fail(accounts, 1, address=f"10.0.0.{number + 10}")
    verified.clear()
    result = accounts.check_login(PASSWORD, "10.0.0.99", NOW + SECOND)
    assert result.throttled is True and result.retry_after == pytest.approx(1.0)
    assert verified == []


def test_the_longer_of_the_two_waits_wins(accounts: Accounts) -> None:
    store = accounts.store
    for _ in range(7):
        store.record_failure("ip:10.0.0.5", NOW)  # 8 s
    for _ in range(5):
        store.record_failure("account:parent", NOW)  # 2 s
    assert accounts.check_login(PASSWORD, "10.0.0.5", NOW + SECOND).retry_after == pytest.approx(7.0)
    assert accounts.check_login(PASSWORD, "10.0.0.6", NOW + SECOND).retry_after == pytest.approx(1.0)
    for _ in range(4):
        store.record_failure("account:parent", NOW)  # 9 failures: 32 s
    assert accounts.check_login(PASSWORD, "10.0.0.5", NOW + SECOND).retry_after == pytest.approx(31.0)


def test_failures_a_day_old_are_forgotten(accounts: Accounts) -> None:
    _fail(accounts, 10)  # five counted, five throttled
    assert accounts.store.failures("ip:10.0.0.5") == (5, NOW)
    assert _fail(accounts, 1, at=NOW + timedelta(days=1)).retry_after == 4.0  # exactly a day: still counted
    _fail(accounts, 1, address="10.0.0.6", at=NOW + timedelta(days=1))  # throttled by the account; not counted
    later = NOW + timedelta(days=2, seconds=1)
    assert accounts.check_login("wrong password", "10.0.0.5", later) == LoginResult(False, 0.0, False)
    assert accounts.store.failures("ip:10.0.0.5") == (1, later)


class _RacedStore(AccountStore):
    """Another guess is counted between this one's check and its count."""

    def record_failure(self, key: str, now: datetime, forget_before: datetime | None = None) -> int:
        super().record_failure(key, now, forget_before)
        return super().record_failure(key, now, forget_before)


def test_guesses_sent_at_once_do_not_all_get_checked(database: Database, verified: list[str]) -> None:
    Accounts(AccountStore(database)).set_password(PASSWORD, NOW)
    raced = Accounts(_RacedStore(database))
    # Among the free mistakes, a race costs nothing.
    assert raced.check_login("wrong password", "10.0.0.5", NOW) == LoginResult(False, 0.0, False)
    assert verified == ["wrong password"]
    raced.check_login("wrong password", "10.0.0.5", NOW)  # counts 3 and 4
    # Past them, the guess that lost the race is not checked.
    assert raced.check_login(PASSWORD, "10.0.0.5", NOW) == LoginResult(False, 4.0, True)
    assert verified == ["wrong password", "wrong password"]


def test_a_new_password_is_checked_and_ends_every_session(accounts: Accounts) -> None:
    token, _ = accounts.start_session("10.0.0.5", "Firefox", NOW)
    with pytest.raises(UsageError, match="too short"):
        accounts.set_password("short", NOW)
    assert accounts.store.find_session(token, NOW) is not None
    accounts.set_password("a brand new passphrase", NOW + SECOND)
    assert accounts.store.find_session(token, NOW + SECOND) is None
    assert accounts.check_login(PASSWORD, "10.0.0.5", NOW + SECOND).ok is False
    assert accounts.check_login("a brand new passphrase", "10.0.0.5", NOW + SECOND).ok is True


def test_a_session_starts_with_its_own_token_and_csrf_token(accounts: Accounts) -> None:
    token, session = accounts.start_session("10.0.0.5", "Firefox", NOW)
    assert session.expires_at == NOW + timedelta(days=30)
    assert session.csrf_token != token and len(session.csrf_token) >= 43
    assert session.id == hashlib.sha256(token.encode()).hexdigest()[:12]
    assert accounts.store.find_session(token, NOW) == session
    other_token, other = accounts.start_session("10.0.0.6", "Safari", NOW, lifetime=timedelta(hours=1))
    assert other_token != token and other.expires_at == NOW + timedelta(hours=1)
