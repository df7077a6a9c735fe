"""Budget arithmetic: the family's calendar day, and a budget on a day.

A budget gives a profile a number of minutes a day of one tag; the store
counts the minutes used (see ``dnsfilter.store.budgets``), the snapshot
blocks the tag once a day's minutes are used.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from dnsfilter.policy.records import BudgetData, BudgetUse, PolicyData
from dnsfilter.policy.schedule import parse_days

MAX_BUDGET_MINUTES = 24 * 60


def local_day(moment: datetime, zone: ZoneInfo) -> int:
    """The day (YYYYMMDD) ``moment`` falls on in the family's ``zone``, as screen time is filed."""
    local = moment.astimezone(zone)
    return local.year * 10000 + local.month * 100 + local.day


def use_on(budget: BudgetData, day: int, used: int | None) -> BudgetUse:
    """``budget`` on ``day`` with ``used`` minutes (None: not read).

    ValueError when the budget's days cannot be read.
    """
    return BudgetUse(budget, day, date_of(day).weekday() in parse_days(budget.days), used)


def date_of(day: int) -> date:
    return date(day // 10000, day // 100 % 100, day % 100)


def budget_uses(data: PolicyData) -> dict[int, BudgetUse]:
    """Each budget's minutes used and left on ``data``'s usage day (the page and ``stats`` show these)."""
    uses: dict[int, BudgetUse] = {}
    if data.usage_day is None:
        return uses
    for profile in data.profiles:
        for budget in profile.budgets:
            try:
                uses[budget.id] = use_on(budget, data.usage_day, data.used_minutes.get((profile.id, budget.tag), 0))
            except ValueError:
                continue  # days that cannot be read: the snapshot reports it
    return uses
