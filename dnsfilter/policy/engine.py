"""The decision step between a question and its answer.

``decide`` is pure: the name, the client and the time come in as arguments,
a Decision comes out; no I/O, no clock, no awaits. The resolver holds one
Policy and swaps it whole when the rules change.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from dnsfilter.policy.decision import ALLOW, Action, Decision, Reason
from dnsfilter.policy.domains import DomainMap


class Policy(Protocol):
    def decide(self, qname: str, qtype: int, client: str, now: float) -> Decision:
        """What to do with ``qname``/``qtype`` asked by ``client`` at ``now``."""
        ...


class StaticPolicy:
    """Blocks the names of the configuration's deny list, allows the rest."""

    __slots__ = ("_deny",)

    def __init__(self, deny: Iterable[str] = ()) -> None:
        self._deny: DomainMap[Decision] = DomainMap(
            (name, Decision(Action.BLOCK, Reason.DENY_LIST, list_id="config", rule=name))
            for name in deny
        )

    def decide(self, qname: str, qtype: int, client: str, now: float) -> Decision:
        return self._deny.lookup(qname) or ALLOW
