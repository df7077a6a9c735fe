"""The decision step between a question and its answer.

``decide`` is pure: the name, the client and the time come in as arguments,
a Decision comes out; no I/O, no clock, no awaits. The resolver holds one
Policy and swaps it whole when the rules or the lists change.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from dnsfilter.policy.decision import ALLOW, Action, Decision, Reason
from dnsfilter.policy.domains import DomainMap
from dnsfilter.policy.index import DomainIndex
from dnsfilter.policy.tags import SERVICE_PREFIX, mask_of

_NAME_MEMO_LIMIT = 65536


class Policy(Protocol):
    def decide(self, qname: str, qtype: int, client: str, now: float) -> Decision:
        """What to do with ``qname``/``qtype`` asked by ``client`` at ``now``."""
        ...


class FilterPolicy:
    """One default profile for every device: blocked categories and services,
    plus the names of the configuration's deny list."""

    __slots__ = ("index", "_deny", "_blocked", "_decisions", "_by_name")

    def __init__(self, index: DomainIndex, blocked: Iterable[str] = (), deny: Iterable[str] = ()) -> None:
        self.index = index
        self._blocked = mask_of(index.tag_names, blocked)
        self._deny: DomainMap[Decision] = DomainMap(
            (name, Decision(Action.BLOCK, Reason.DENY_LIST, list_id="config", rule=name)) for name in deny
        )
        # Decisions are values: one per distinct set of matching tags.
        self._decisions: dict[int, Decision] = {}
        # A home asks the same names all day: remember the decision per name
        # (this policy object is replaced whenever anything it uses changes).
        self._by_name: dict[str, Decision] = {}

    def decide(self, qname: str, qtype: int, client: str, now: float) -> Decision:
        decision = self._by_name.get(qname)
        if decision is None:
            decision = self._decide_name(qname)
            if len(self._by_name) >= _NAME_MEMO_LIMIT:
                self._by_name.clear()
            self._by_name[qname] = decision
        return decision

    def _decide_name(self, qname: str) -> Decision:
        if len(self._deny):
            denied = self._deny.lookup(qname)
            if denied is not None:
                return denied
        hit = self.index.tags(qname) & self._blocked
        if not hit:
            return ALLOW
        decision = self._decisions.get(hit)
        if decision is None:
            decision = self._decisions[hit] = self._block_for(hit)
        return decision

    def _block_for(self, hit: int) -> Decision:
        """Blame the first matching tag: categories come before services."""
        bit = (hit & -hit).bit_length() - 1
        tag = self.index.tag_names[bit]
        if tag.startswith(SERVICE_PREFIX):
            return Decision(Action.BLOCK, Reason.SERVICE, category=tag[len(SERVICE_PREFIX) :])
        return Decision(Action.BLOCK, Reason.CATEGORY, category=tag)
