"""The family policy database: profiles, devices, rules, overrides, budgets,
settings, the policy file, and the query log (``querylog/``), in SQLite or
PostgreSQL through SQLAlchemy. May import ``policy``; never ``dns`` or ``lists``.

``open_database(url)`` opens (and creates or upgrades) SQLite or PostgreSQL;
``PolicyStore(database)`` reads and changes the policy and hands out plain
frozen records. Both block: async code calls them through ``asyncio.to_thread``.
"""

from __future__ import annotations

from dnsfilter.store.database import ConflictError, Database, database_location, open_database
from dnsfilter.store.migrations import MIGRATIONS, Migration
from dnsfilter.store.policystore import PolicyStore
from dnsfilter.store.validation import NotFoundError, PolicyInputError

__all__ = [
    "MIGRATIONS",
    "ConflictError",
    "Database",
    "Migration",
    "NotFoundError",
    "PolicyInputError",
    "PolicyStore",
    "database_location",
    "open_database",
]
