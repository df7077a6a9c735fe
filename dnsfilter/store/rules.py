"""Schedule rules: weekly windows that block categories or apps, or everything
but an allow list ("bedtime"). Part of ``PolicyStore`` (mixed in); the
schedule module reads the days and times.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select

from dnsfilter.policy.records import RuleData
from dnsfilter.store import validation as check
from dnsfilter.store.database import Database
from dnsfilter.store.models import Profile, Rule
from dnsfilter.store.queries import bump_version, find, rule_data
from dnsfilter.store.validation import PolicyInputError

RULE_ACTIONS = ("block_tags", "allow_only")


class RuleMethods:
    database: Database

    def add_rule(
        self,
        profile_id: int,
        *,
        days: str,
        start: str,
        end: str,
        action: str,
        tags: Iterable[str] = (),
        allow: Iterable[str] = (),
        enabled: bool = True,
    ) -> RuleData:
        values = rule_values(days, start, end, action, tags, allow)
        with self.database.writing() as session:
            find(session, Profile, profile_id, "profile")
            rule = Rule(profile_id=profile_id, enabled=bool(enabled), **values)
            session.add(rule)
            session.flush()
            bump_version(session, self.database.is_postgresql)
            return rule_data(rule)

    def update_rule(
        self,
        rule_id: int,
        *,
        days: str | None = None,
        start: str | None = None,
        end: str | None = None,
        action: str | None = None,
        tags: Iterable[str] | None = None,
        allow: Iterable[str] | None = None,
        enabled: bool | None = None,
    ) -> RuleData:
        """Change the given fields; the others keep their values."""
        with self.database.writing() as session:
            rule = find(session, Rule, rule_id, "rule")
            values = rule_values(
                rule.days if days is None else days,
                rule.start if start is None else start,
                rule.end if end is None else end,
                rule.action if action is None else action,
                rule.tags if tags is None else tags,
                rule.allow if allow is None else allow,
            )
            for field, value in values.items():
                setattr(rule, field, value)
            if enabled is not None:
                rule.enabled = bool(enabled)
            bump_version(session, self.database.is_postgresql)
            return rule_data(rule)

    def delete_rule(self, rule_id: int) -> None:
        with self.database.writing() as session:
            session.delete(find(session, Rule, rule_id, "rule"))
            bump_version(session, self.database.is_postgresql)

    def list_rules(self, profile_id: int | None = None) -> tuple[RuleData, ...]:
        with self.database.reading() as session:
            query = select(Rule).order_by(Rule.id)
            if profile_id is not None:
                find(session, Profile, profile_id, "profile")
                query = query.where(Rule.profile_id == profile_id)
            return tuple(rule_data(rule) for rule in session.scalars(query))


def rule_values(
    days: str, start: str, end: str, action: str, tags: Iterable[str], allow: Iterable[str]
) -> dict[str, Any]:
    action = check.choice(action, RULE_ACTIONS, "rule action")
    values: dict[str, Any] = {
        "days": check.days(days),
        "start": check.clock_time(start, "start time"),
        "end": check.clock_time(end, "end time"),
        "action": action,
        "tags": check.tags(tags),
        "allow": check.domains(allow),
    }
    if action == "block_tags" and not values["tags"]:
        raise PolicyInputError("A rule that blocks categories needs at least one category or service.")
    if action == "block_tags" and values["allow"]:
        raise PolicyInputError('Only an "allow_only" rule has a list of allowed names.')
    if action == "allow_only" and values["tags"]:
        raise PolicyInputError('An "allow_only" rule blocks everything else; it takes no categories.')
    return values
