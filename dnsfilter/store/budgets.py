"""Daily screen-time budgets: "60 minutes of games a day".

Part of ``PolicyStore`` (mixed in). A budget gives one profile a number of
minutes a day for one category or service (a tag, as blocked tags are
written), on the days it names (written like rules' days: "mon-fri",
"sat,sun", "daily"). The policy snapshot blocks the tag for that profile once
the day's minutes are used (``Reason.BUDGET``), until the day ends; a grant
of the tag ("+30 minutes") lifts it for as long as the grant runs.

How screen time is counted
    The query-log writer notes, for every answer that let a device reach a
    site, the minute of the family's wall clock in which one of the profile's
    devices asked for a name of the tag (``usage_minutes``: profile, tag,
    day, minute). A minute counts once, however many names, devices or
    filters sharing the database saw it: used minutes are distinct minutes.
    A day is a calendar day in the family's time zone, from midnight to
    midnight.

What parents should know (the same in plain words)
    The filter cannot see screens, only the names devices look up. A minute
    counts as used when any of the child's devices looked up a name of that
    category or service during it; two devices or two games in the same
    minute count one minute. Apps look names up while open and often in the
    background, so a minute may count while the child is not playing; a
    game that plays on a connection it opened earlier may count less. It is
    a good guide, not a stopwatch. The block starts within a minute or two
    of the last minute being used. Minutes start from zero at midnight; on
    the night clocks go back, the repeated hour counts too. A site on the
    allow list stays open, but its minutes count. Budgets need the query
    log, which counts the minutes (on unless ``query_log.enabled`` is off).

Every change bumps the policy version, like any other policy change.
"""

from __future__ import annotations

from sqlalchemy import func, select

from dnsfilter.policy.budgets import MAX_BUDGET_MINUTES, date_of, use_on
from dnsfilter.policy.records import BudgetData, BudgetUse
from dnsfilter.policy.schedule import parse_days
from dnsfilter.store import validation as check
from dnsfilter.store.database import Database
from dnsfilter.store.models import Profile
from dnsfilter.store.queries import budget_data, bump_version, find
from dnsfilter.store.querylog.models import Budget, UsageMinute
from dnsfilter.store.validation import PolicyInputError


class BudgetMethods:
    database: Database

    def set_budget(self, profile_id: int, tag: str, minutes: int, days: str = "daily") -> BudgetData:
        """Allow ``minutes`` a day of ``tag`` (``games``, ``service:roblox``) on ``days``;
        replaces the profile's budget for that tag, keeping its number."""
        tag, minutes, days = checked_budget(tag, minutes, days)
        with self.database.writing() as session:
            find(session, Profile, profile_id, "profile")
            # The profile's row locked (PostgreSQL): two filters setting the same budget make one row.
            session.execute(select(Profile.id).where(Profile.id == profile_id).with_for_update())
            same = select(Budget).where(Budget.profile_id == profile_id, Budget.tag == tag).order_by(Budget.id)
            found = list(session.scalars(same))
            for duplicate in found[1:]:
                session.delete(duplicate)
            if found:
                budget = found[0]
                budget.minutes, budget.days = minutes, days
            else:
                budget = Budget(profile_id=profile_id, tag=tag, minutes=minutes, days=days)
                session.add(budget)
            session.flush()
            bump_version(session, self.database.is_postgresql)
            return budget_data(budget)

    def remove_budget(self, budget_id: int) -> None:
        with self.database.writing() as session:
            session.delete(find(session, Budget, budget_id, "budget"))
            bump_version(session, self.database.is_postgresql)

    def list_budgets(self, profile_id: int | None = None) -> tuple[BudgetData, ...]:
        """Budgets by profile, then tag."""
        with self.database.reading() as session:
            query = select(Budget).order_by(Budget.profile_id, Budget.tag, Budget.id)
            if profile_id is not None:
                find(session, Profile, profile_id, "profile")
                query = query.where(Budget.profile_id == profile_id)
            return tuple(budget_data(budget) for budget in session.scalars(query))

    def minutes_used(self, profile_id: int, day: int) -> dict[str, int]:
        """Distinct minutes the profile used each tag on ``day`` (YYYYMMDD, see ``local_day``)."""
        _checked_day(day)
        with self.database.reading() as session:
            find(session, Profile, profile_id, "profile")
            query = (
                select(UsageMinute.tag, func.count())
                .where(UsageMinute.profile_id == profile_id, UsageMinute.day == day)
                .group_by(UsageMinute.tag)
                .order_by(UsageMinute.tag)
            )
            return {tag: count for tag, count in session.execute(query)}

    def budget_use(self, profile_id: int, day: int) -> tuple[BudgetUse, ...]:
        """Each budget of the profile on ``day``: whether it applies, minutes used and left."""
        used = self.minutes_used(profile_id, day)
        return tuple(use_on(budget, day, used.get(budget.tag, 0)) for budget in self.list_budgets(profile_id))


def checked_budget(tag: str, minutes: int, days: str) -> tuple[str, int, str]:
    """The budget's tag, minutes and days as stored; PolicyInputError when one is wrong."""
    tag = check.tag(tag)
    if tag.startswith("rule:"):
        raise PolicyInputError(f'"{tag}" is not a category or service; a budget limits one such as games.')
    if isinstance(minutes, bool) or not isinstance(minutes, int) or not 1 <= minutes <= MAX_BUDGET_MINUTES:
        raise PolicyInputError(
            f"{minutes} is not a number of minutes a day; give a whole number from 1 to {MAX_BUDGET_MINUTES}."
        )
    try:
        parse_days(days)
    except ValueError as error:
        raise PolicyInputError(str(error)) from error
    return tag, minutes, check.days(days)


def _checked_day(day: int) -> None:
    try:
        date_of(day)
    except (TypeError, ValueError):
        raise PolicyInputError(f"{day} is not a day; write it as YYYYMMDD, such as 20260311.") from None
