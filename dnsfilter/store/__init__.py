"""The family policy database: profiles, devices, rules, overrides, budgets, settings.

``open_database(url)`` opens (and creates or upgrades) SQLite or PostgreSQL;
``PolicyStore(database)`` reads and changes the policy and hands out plain
frozen records. Both block: async code calls them through ``asyncio.to_thread``.
"""

from __future__ import annotations

from dnsfilter.store.budgets import MAX_BUDGET_MINUTES, local_day
from dnsfilter.store.database import ConflictError, Database, open_database
from dnsfilter.store.migrations import MIGRATIONS, Migration
from dnsfilter.store.policystore import PolicyStore
from dnsfilter.store.records import (
    BudgetData,
    BudgetUse,
    DeviceData,
    DeviceSeen,
    OverrideData,
    PolicyData,
    ProfileData,
    RuleData,
)
from dnsfilter.store.validation import NotFoundError, PolicyInputError

__all__ = [
    "MAX_BUDGET_MINUTES",
    "MIGRATIONS",
    "BudgetData",
    "BudgetUse",
    "ConflictError",
    "Database",
    "DeviceData",
    "DeviceSeen",
    "Migration",
    "NotFoundError",
    "OverrideData",
    "PolicyData",
    "PolicyInputError",
    "PolicyStore",
    "ProfileData",
    "RuleData",
    "local_day",
    "open_database",
]
