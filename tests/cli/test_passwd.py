"""``dnsfilter passwd``: as a parent or a script runs it (a real process), and its
terminal dialogue with the input functions replaced."""

from __future__ import annotations

import dataclasses
import io
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dnsfilter.cli.passwd import read_new_password, set_password
from dnsfilter.config import DATABASE_FILE, DEFAULT_CONFIG
from dnsfilter.errors import UsageError
from dnsfilter.service.accounts import verify_password
from dnsfilter.store import open_database
from dnsfilter.store.accounts import AccountStore
from tests.running import started_once

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2025, 3, 14, 18, 0, tzinfo=UTC)


def _passwd(*args: str, stdin: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dnsfilter", "passwd", *args],
        input=stdin, capture_output=True, text=True, cwd=REPO, timeout=60, check=False,
    )  # fmt: skip


def _stored_hash(database_url: str) -> str | None:
    database = open_database(database_url)
    try:
        return AccountStore(database).password_hash()
    finally:
        database.close()


def test_a_password_from_standard_input_is_set(tmp_path: Path) -> None:
    data_dir = started_once(tmp_path / "data")
    result = _passwd("--data-dir", str(data_dir), stdin="Mật khẩu của bố mẹ\n")
    assert result.returncode == 0, result.stderr
    database_file = data_dir / DATABASE_FILE
    assert result.stdout == (
        f"Password set for the web page (database {database_file}). "
        "Every browser that was signed in must sign in again.\n"
    )
    stored = _stored_hash(f"sqlite:///{database_file}")
    assert stored is not None and stored.startswith("scrypt$")
    assert verify_password("Mật khẩu của bố mẹ", stored) is True
    assert verify_password("Mật khẩu của bố mẹ\n", stored) is False  # the line end is not part of it


def test_a_new_password_signs_every_browser_out(tmp_path: Path, database_url: str) -> None:
    config = tmp_path / "dnsfilter.yaml"
    config.write_text(f'data_dir: "{tmp_path}"\ndatabase:\n  url: "{database_url}"\n')
    started_once(tmp_path, database_url)
    assert _passwd("-c", str(config), stdin="first passphrase\r\n").returncode == 0
    database = open_database(database_url)
    try:
        store = AccountStore(database)
        store.create_session("token", "csrf", now=NOW, lifetime=timedelta(days=1), address="a", user_agent="u")
        result = _passwd("-c", str(config), stdin="second passphrase")
        assert result.returncode == 0, result.stderr
        assert f"(database {database.where})" in result.stdout
        assert store.find_session("token", NOW) is None
        stored = store.password_hash()
        assert stored is not None and verify_password("second passphrase", stored)
        assert not verify_password("first passphrase", stored)
    finally:
        database.close()


@pytest.mark.parametrize(
    ("stdin", "message"),
    [
        ("short\n", "The password is too short (5 characters); use at least 10"),
        ("", "No password on standard input; nothing was changed"),
        ("\n", "No password on standard input"),
        ("            \n", "The password cannot be only spaces"),
    ],
    ids=["too-short", "nothing", "empty-line", "spaces"],
)
def test_a_bad_password_changes_nothing(tmp_path: Path, stdin: str, message: str) -> None:
    result = _passwd("--data-dir", str(started_once(tmp_path)), stdin=stdin)
    assert result.returncode == 1
    assert f"\ndnsfilter: {message}" in result.stderr
    assert result.stdout == ""
    assert _stored_hash(f"sqlite:///{tmp_path / DATABASE_FILE}") is None


def test_no_database_there_is_said_before_the_password_is_asked(tmp_path: Path) -> None:
    result = _passwd("--data-dir", str(tmp_path / "data"), stdin="a long passphrase\n")
    assert result.returncode == 1
    assert f"Nothing is stored at {tmp_path / 'data' / DATABASE_FILE} yet" in result.stderr
    assert "-c /path/to/dnsfilter.yaml" in result.stderr
    assert list(tmp_path.iterdir()) == []  # no folder, no empty database


# -- at a terminal -----------------------------------------------------------------


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _typing(*answers: str) -> tuple[list[str], Callable[[str], str]]:
    prompts: list[str] = []
    typed = iter(answers)

    def ask(prompt: str) -> str:
        prompts.append(prompt)
        answer = next(typed, None)
        if answer is None:
            raise EOFError
        return answer

    return prompts, ask


def test_at_a_terminal_the_password_is_typed_twice() -> None:
    prompts, ask = _typing("a long passphrase", "a long passphrase")
    assert read_new_password(_Terminal("not read from here\n"), ask) == "a long passphrase"
    assert prompts == ["New password for the web page: ", "Type it again: "]


@pytest.mark.parametrize(
    ("answers", "message", "asked"),
    [
        (("a long passphrase", "a long passphrasf"), "The two passwords are not the same; nothing was changed", 2),
        (("too short",), "too short", 1),  # said at once, not after typing it again
        ((), "No password was typed", 1),
        (("a long passphrase",), "No password was typed", 2),
    ],
    ids=["mismatch", "short", "ctrl-d", "ctrl-d-second"],
)
def test_at_a_terminal_mistakes_are_said_plainly(answers: tuple[str, ...], message: str, asked: int) -> None:
    prompts, ask = _typing(*answers)
    with pytest.raises(UsageError, match=message):
        read_new_password(_Terminal(), ask)
    assert len(prompts) == asked


def test_a_mismatch_sets_nothing(tmp_path: Path) -> None:
    config = dataclasses.replace(DEFAULT_CONFIG, data_dir=started_once(tmp_path))
    _, ask = _typing("a long passphrase", "another passphrase")
    with pytest.raises(UsageError, match="not the same"):
        set_password(config, stdin=_Terminal(), ask=ask)
    assert _stored_hash(f"sqlite:///{tmp_path / DATABASE_FILE}") is None
    _, ask = _typing("a long passphrase", "a long passphrase")
    said = set_password(config, stdin=_Terminal(), ask=ask, now=NOW)
    assert str(tmp_path / DATABASE_FILE) in said
    stored = _stored_hash(f"sqlite:///{tmp_path / DATABASE_FILE}")
    assert stored is not None and verify_password("a long passphrase", stored)

