"""``dnsfilter passwd``: set the web page's password (every signed-in browser is signed out)."""

from __future__ import annotations

import getpass
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TextIO

from dnsfilter.config import Config
from dnsfilter.errors import UsageError
from dnsfilter.service.accounts import Accounts, check_new_password
from dnsfilter.store import open_database
from dnsfilter.store.accounts import AccountStore


def read_new_password(stdin: TextIO, ask: Callable[[str], str] = getpass.getpass) -> str:
    """The new password: typed twice at a terminal, or one line of ``stdin`` when it is not one."""
    if stdin.isatty():
        try:
            first = ask("New password for the web page: ")
            check_new_password(first)
            second = ask("Type it again: ")
        except EOFError:
            raise UsageError("No password was typed; nothing was changed.") from None
        if first != second:
            raise UsageError("The two passwords are not the same; nothing was changed. Run dnsfilter passwd again.")
        return first
    line = stdin.readline()
    if not line.strip("\r\n"):
        raise UsageError(
            "No password on standard input; nothing was changed. Run dnsfilter passwd at a terminal, "
            "or give the password as one line: echo 'a long passphrase' | dnsfilter passwd"
        )
    return line.removesuffix("\n").removesuffix("\r")


def set_password(
    config: Config,
    *,
    stdin: TextIO = sys.stdin,
    ask: Callable[[str], str] = getpass.getpass,
    now: datetime | None = None,
) -> str:
    """Read the new password, store it, and say what was done."""
    password = read_new_password(stdin, ask)
    check_new_password(password)  # before the database is opened or created
    database = open_database(config.database_url, data_dir=config.data_dir, create=False)
    try:
        Accounts(AccountStore(database)).set_password(password, now or datetime.now(UTC))
    finally:
        database.close()
    return (
        f"Password set for the web page (database {database.where}). "
        "Every browser that was signed in must sign in again."
    )
