"""The rules of signing in to the web page: passwords, tokens, setup codes and
throttling. Storage is ``dnsfilter.store.accounts``.

Passwords are hashed with scrypt (memory-hard, in the standard library) and
stored as ``scrypt$n$r$p$salt$hash`` (base64), so the parameters can be raised
later without breaking stored hashes. Text is NFC-normalised first, so a
password typed on two keyboards ("Lê" composed or not) is the same password.

Every call that hashes (~50-100 ms) or touches the database blocks: the web
layer runs them through ``asyncio.to_thread``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import threading
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

from dnsfilter.errors import UsageError
from dnsfilter.store.accounts import DEFAULT_ACCOUNT, AccountStore, SessionData

PASSWORD_MIN = 10
PASSWORD_MAX = 200
SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
SALT_BYTES = 16
HASH_BYTES = 32
# Stored parameters are checked against these before use, so a damaged or
# planted hash cannot make verifying take minutes or gigabytes.
_N_MAX = 2**20
_R_MAX = 32
_P_MAX = 16
_MAXMEM = 256 * 1024 * 1024

SESSION_LIFETIME = timedelta(days=30)
FREE_FAILURES = 4  # mistakes that cost nothing
FIRST_DELAY = 2.0  # seconds to wait after the 5th failure; doubles with each one after
MAX_DELAY = 900.0  # 15 minutes: ~100 guesses a day at most, so 1,000 take ten days
FORGET_AFTER = timedelta(days=1)  # a key with no failure for longer than this starts again from zero

SETUP_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L
SETUP_CODE_LENGTH = 12


# -- passwords -----------------------------------------------------------------


def _normal(password: str) -> bytes:
    return unicodedata.normalize("NFC", password).encode("utf-8", "surrogatepass")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str) -> str:
    """``password`` hashed with a new random salt, as ``scrypt$n$r$p$salt$hash``."""
    salt = secrets.token_bytes(SALT_BYTES)
    derived = hashlib.scrypt(
        _normal(password), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=HASH_BYTES, maxmem=_MAXMEM
    )
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(derived)}"


def _small_number(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= 9


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` is the one ``stored`` was made from; False for a malformed ``stored``."""
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != "scrypt" or not all(_small_number(part) for part in parts[1:4]):
        return False
    n, r, p = (int(part) for part in parts[1:4])
    if not (1 < n <= _N_MAX and n & (n - 1) == 0 and 1 <= r <= _R_MAX and 1 <= p <= _P_MAX):
        return False
    try:
        salt = base64.b64decode(parts[4], validate=True)
        expected = base64.b64decode(parts[5], validate=True)
    except (binascii.Error, ValueError):
        return False
    if not salt or not 16 <= len(expected) <= 64:
        return False
    try:
        derived = hashlib.scrypt(_normal(password), salt=salt, n=n, r=r, p=p, dklen=len(expected), maxmem=_MAXMEM)
    except (ValueError, MemoryError):
        return False
    return hmac.compare_digest(derived, expected)


def check_new_password(password: str) -> None:
    """Raise UsageError, saying what would work, when ``password`` is not good enough."""
    length = len(unicodedata.normalize("NFC", password))
    if not password.strip():
        raise UsageError(
            "The password cannot be only spaces. Choose at least 10 characters: "
            "a few words you will remember are good."
        )
    if length < PASSWORD_MIN:
        raise UsageError(
            f"The password is too short ({length} characters); use at least {PASSWORD_MIN}. "
            "A few words you will remember are good."
        )
    if length > PASSWORD_MAX:
        raise UsageError(f"The password is too long ({length} characters); use at most {PASSWORD_MAX}.")


# -- tokens and setup codes ----------------------------------------------------


def new_token() -> str:
    """A new secret for a session cookie or a CSRF token (256 random bits)."""
    return secrets.token_urlsafe(32)


def new_setup_code() -> str:
    """A one-time code for setting the first password, such as "ABCD-EFGH-JKMN"."""
    code = "".join(secrets.choice(SETUP_CODE_ALPHABET) for _ in range(SETUP_CODE_LENGTH))
    return "-".join(code[i : i + 4] for i in range(0, SETUP_CODE_LENGTH, 4))


def _bare_code(code: str) -> bytes:
    return "".join(ch for ch in code.upper() if ch != "-" and not ch.isspace()).encode("utf-8", "surrogatepass")


def same_setup_code(given: str, expected: str) -> bool:
    """True when ``given`` is ``expected``, ignoring case, spaces and dashes (in constant time)."""
    wanted = _bare_code(expected)
    return bool(wanted) and hmac.compare_digest(_bare_code(given), wanted)


# -- throttling ----------------------------------------------------------------


def delay_after(failures: int) -> float:
    """Seconds a key must wait after ``failures`` failed sign-ins in a row:
    none for the first 4, then 2 s, 4 s, 8 s ... up to 15 minutes."""
    if failures <= FREE_FAILURES:
        return 0.0
    doublings = failures - FREE_FAILURES - 1
    if doublings >= 10:  # 2 * 2**9 = 1024 > MAX_DELAY already; no giant powers
        return MAX_DELAY
    return min(MAX_DELAY, FIRST_DELAY * float(1 << doublings))


def retry_after(failures: int, last_failure_at: datetime | None, now: datetime) -> float:
    """Seconds still to wait before the next sign-in may be tried (0: none)."""
    if last_failure_at is None:
        return 0.0
    waited = (now - last_failure_at).total_seconds()
    return max(0.0, delay_after(failures) - waited)


@dataclass(frozen=True, slots=True)
class LoginResult:
    """How a sign-in went.

    ``ok``: the password was right. ``throttled``: it was not even checked,
    because too many failures came before; ``retry_after`` seconds must pass
    first. After a wrong password, ``retry_after`` is the wait it earned.
    """

    ok: bool
    retry_after: float
    throttled: bool


class Accounts:
    """Setting the password, signing in with throttling, and starting sessions."""

    def __init__(self, store: AccountStore, forget_after: timedelta = FORGET_AFTER) -> None:
        self.store = store
        self.forget_after = forget_after
        # Sign-ins refused since start (for metrics): a wrong password, or too many before it.
        self.failed_sign_ins = 0
        self.throttled_sign_ins = 0
        self._counting = threading.Lock()  # sign-ins are checked in threads, several at once

    def has_password(self, account: str = DEFAULT_ACCOUNT) -> bool:
        return self.store.password_hash(account) is not None

    def set_password(self, password: str, now: datetime, account: str = DEFAULT_ACCOUNT) -> None:
        """Check, hash and store a new password; every session of the account ends."""
        check_new_password(password)
        self.store.set_password_hash(hash_password(password), now, account)

    def check_login(self, password: str, address: str, now: datetime, account: str = DEFAULT_ACCOUNT) -> LoginResult:
        """Check a sign-in, throttled per address and per account (the longer wait wins).

        Each attempt is counted as a failure before the password is checked,
        and undone by success: attempts sent in parallel cannot all slip in
        before the first one is counted.
        """
        keys = (f"ip:{address}", f"account:{account}")
        forget_before = now - self.forget_after
        before: dict[str, int] = {}
        wait = 0.0
        for key in keys:
            failures, last = self.store.failures(key)
            if last is not None and last < forget_before:
                failures = 0
            before[key] = failures
            wait = max(wait, retry_after(failures, last, now))
        if wait > 0:
            return self._refused(LoginResult(ok=False, retry_after=wait, throttled=True))
        counted = {key: self.store.record_failure(key, now, forget_before) for key in keys}
        earned = max(delay_after(count) for count in counted.values())
        # Another attempt counted between our check and our count: it is that
        # attempt's turn, unless both were still among the free ones.
        if any(counted[key] != before[key] + 1 and delay_after(counted[key] - 1) > 0 for key in keys):
            return self._refused(LoginResult(ok=False, retry_after=earned, throttled=True))
        stored = self.store.password_hash(account)
        # Without a password there is nothing to sign in to, but it takes as long to say so.
        ok = verify_password(password, stored or _UNUSABLE_HASH) and stored is not None
        if not ok:
            return self._refused(LoginResult(ok=False, retry_after=earned, throttled=False))
        for key in keys:
            self.store.clear_failures(key)
        return LoginResult(ok=True, retry_after=0.0, throttled=False)

    def _refused(self, result: LoginResult) -> LoginResult:
        with self._counting:
            if result.throttled:
                self.throttled_sign_ins += 1
            else:
                self.failed_sign_ins += 1
        return result

    def start_session(
        self,
        address: str,
        user_agent: str,
        now: datetime,
        lifetime: timedelta = SESSION_LIFETIME,
        account: str = DEFAULT_ACCOUNT,
    ) -> tuple[str, SessionData]:
        """A new session for a browser that just signed in: its token (for the cookie) and its data."""
        token = new_token()
        session = self.store.create_session(
            token, new_token(), now=now, lifetime=lifetime, address=address, user_agent=user_agent, account=account
        )
        return token, session


_UNUSABLE_HASH = f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(bytes(SALT_BYTES))}${_b64(bytes(HASH_BYTES))}"


__all__ = [
    "SESSION_LIFETIME",
    "Accounts",
    "LoginResult",
    "check_new_password",
    "delay_after",
    "hash_password",
    "new_setup_code",
    "new_token",
    "retry_after",
    "same_setup_code",
    "verify_password",
]
