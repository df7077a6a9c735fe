"""What every handler of the page needs: the running service, the parent
accounts, and the clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from dnsfilter.service.accounts import Accounts
from dnsfilter.service.app import Service
from dnsfilter.store import PolicyStore
from dnsfilter.store.accounts import AccountStore
from dnsfilter.store.database import Database
from dnsfilter.web.errors import ApiError


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class WebContext:
    service: Service
    tls: bool = False
    clock: Callable[[], datetime] = _utc_now
    # The one-time code that sets the first password from the page; None once a password exists.
    setup_code: str | None = None
    _accounts: Accounts | None = field(default=None, init=False)
    _accounts_database: Database | None = field(default=None, init=False)

    def now(self) -> datetime:
        return self.clock()

    @property
    def store(self) -> PolicyStore:
        """The policy store; 503 while the database cannot be reached (PostgreSQL may answer later)."""
        store = self.service.store
        if store is None:
            raise ApiError(
                503, "unavailable",
                "The filter cannot reach its database right now, so settings cannot be read or changed. "
                "DNS filtering goes on with the rules it has. Try again in a minute.",
            )
        return store

    @property
    def accounts(self) -> Accounts:
        database = self.store.database
        if self._accounts is None or self._accounts_database is not database:
            self._accounts = Accounts(AccountStore(database))
            self._accounts_database = database
        return self._accounts
