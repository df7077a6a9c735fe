"""What the filter decided about one query, as data.

Every block carries a stable ``Reason`` (stored in the query log, shown in
the UI) and the rule that matched, so any answer can be explained.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Action(enum.Enum):
    ALLOW = "allow"
    BLOCK = "block"


class Reason(enum.StrEnum):
    """Why a query was answered the way it was. Values are stored: never rename."""

    ALLOWED = "allowed"
    DENY_LIST = "deny_list"  # the configuration's deny list
    CATEGORY = "category"  # a blocklist category (adult, gambling...)
    SERVICE = "service"  # an app or service (tiktok, roblox...)


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    reason: Reason
    category: str | None = None
    list_id: str | None = None
    rule: str | None = None

    @property
    def blocked(self) -> bool:
        return self.action is Action.BLOCK


# Allowing is by far the commonest outcome: one shared instance, no allocation.
ALLOW = Decision(Action.ALLOW, Reason.ALLOWED)
