"""What the filter decided about one query, as data.

Every block carries a stable ``Reason`` (stored in the query log, shown in
the UI) and the rule that matched, so any answer can be explained.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Action(enum.Enum):
    ALLOW = "allow"  # resolve upstream as asked
    BLOCK = "block"  # answer with the profile's block answer
    REWRITE = "rewrite"  # answer with a CNAME to ``Decision.target`` (safe search)
    LOCAL_NXDOMAIN = "local_nxdomain"  # answer "no such name" ourselves (bypass protection)
    LOCAL_NODATA = "local_nodata"  # answer "no records of this type" ourselves


class Reason(enum.StrEnum):
    """Why a query was answered the way it was. Values are stored: never rename."""

    ALLOWED = "allowed"
    DENY_LIST = "deny_list"  # a deny list: the configuration's or the profile's
    CATEGORY = "category"  # a blocklist category (adult, gambling...)
    SERVICE = "service"  # an app or service (tiktok, roblox...)
    ALLOW_LIST = "allow_list"  # the profile's allow list or an "allow this site" override
    BYPASS = "bypass"  # a name devices ask before leaving this filter (DoH canary, relay)
    PAUSED = "paused"  # the parent paused this profile's internet
    SCHEDULE = "schedule"  # a screen-time rule in force now
    SAFE_SEARCH = "safe_search"  # a search engine sent to its filtered host
    BUDGET = "budget"  # the day's minutes for this category or service are used up


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    reason: Reason
    category: str | None = None
    list_id: str | None = None
    rule: str | None = None
    target: str | None = None  # the CNAME target of a REWRITE

    @property
    def blocked(self) -> bool:
        """True for BLOCK only: rewrites and local answers are not blocks."""
        return self.action is Action.BLOCK


# Allowing is by far the commonest outcome: one shared instance, no allocation.
ALLOW = Decision(Action.ALLOW, Reason.ALLOWED)
