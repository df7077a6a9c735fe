"""Which profile a query is decided for, and the decision, at dictionary speed.

For each source address the device behind it is identified once
(``dnsfilter.dns.edns.identify``), its profile taken from the policy snapshot, and
both kept; each profile keeps the decision per parsed query (a ``Query`` is
shared by every repeat of a packet, so the lookup hashes nothing). Queries
from a trusted forwarder (the router) name their device in EDNS options, so
they are kept by forwarder and options instead.

An instance belongs to one snapshot, one device table and one set of
forwarders: the resolver makes a new one when any of them changes. The
devices identified go to ``seen`` for the service to record; ``take_seen``
hands them over and forgets the per-address results, so a device still
asking is seen again in the next round.
"""

from __future__ import annotations

from dnsfilter.dns.edns import identify
from dnsfilter.dns.wire import Query
from dnsfilter.policy.decision import Decision
from dnsfilter.policy.identity import ClientId, ClientTable
from dnsfilter.policy.memo import make_room
from dnsfilter.policy.precedence import ProfilePolicy
from dnsfilter.policy.snapshot import PolicySnapshot

# Bounds against a device making up addresses or names: the oldest are forgotten.
_ADDRESS_LIMIT = 4096
# Decisions per profile: a home's few thousand names a day fit. Measured at
# 20,000 q/s for the same CPU (a memo that size hits too rarely): with 100,000
# names asked in turn, 65,536 cost 20 MiB more peak memory than 16,384; with
# 50,000 cached names, 16,384 cost 7-9 MiB more than 8,192.
_DECISION_LIMIT = 8192
# Devices not yet recorded noted per round, at most (the service records only a few
# a minute anyway). Recorded ones are always noted, so that a flood of made-up
# addresses does not stop their last_seen moving; there are only as many as the
# database holds.
_SEEN_LIMIT = 4096

Decisions = dict[Query, Decision]


class ClientProfiles:
    __slots__ = ("policy", "clients", "forwarders", "seen", "_by_address", "_by_options", "_decisions")

    def __init__(
        self,
        policy: PolicySnapshot,
        clients: ClientTable,
        forwarders: frozenset[str],
        seen: dict[str, ClientId] | None = None,
    ) -> None:
        self.policy = policy
        self.clients = clients
        self.forwarders = forwarders
        self.seen: dict[str, ClientId] = {} if seen is None else seen
        self._by_address: dict[str, tuple[ClientId, ProfilePolicy, Decisions]] = {}
        # Forwarded queries: by the forwarder's address and the options naming the device.
        self._by_options: dict[tuple[str, bytes], tuple[ClientId, ProfilePolicy, Decisions]] = {}
        self._decisions: dict[int, Decisions] = {}

    def decide(self, query: Query, address: str) -> tuple[ClientId, ProfilePolicy, Decision]:
        """The device asking ``query`` from ``address``, its profile, and the decision."""
        known = self._by_address.get(address)
        if known is None:
            if address in self.forwarders:
                known = self._forwarded(query, address)
            else:
                known = self._identify(query, address)
        device, profile, decisions = known
        decision = decisions.get(query)
        if decision is None:
            decision = self.policy.decide(query.qname, query.qtype, profile)
            if len(decisions) >= _DECISION_LIMIT:
                make_room(decisions, _DECISION_LIMIT)
            decisions[query] = decision
        return device, profile, decision

    def _identify(self, query: Query, address: str) -> tuple[ClientId, ProfilePolicy, Decisions]:
        forwarded = address in self.forwarders
        device = identify(self.clients, address, query.edns_options, forwarded)
        seen = self.seen
        if device.key not in seen and (len(seen) < _SEEN_LIMIT or self.policy.knows(device)):
            seen[device.key] = device
        profile = self.policy.profile_for(device)
        decisions = self._decisions.get(profile.id)
        if decisions is None:
            decisions = self._decisions[profile.id] = {}
        known = (device, profile, decisions)
        if not forwarded:  # the router speaks for many devices: never memoised by address
            if len(self._by_address) >= _ADDRESS_LIMIT:
                make_room(self._by_address, _ADDRESS_LIMIT)
            self._by_address[address] = known
        return known

    def _forwarded(self, query: Query, address: str) -> tuple[ClientId, ProfilePolicy, Decisions]:
        key = (address, query.edns_options)
        known = self._by_options.get(key)
        if known is None:
            known = self._identify(query, address)
            if len(self._by_options) >= _ADDRESS_LIMIT:
                make_room(self._by_options, _ADDRESS_LIMIT)
            self._by_options[key] = known
        return known

    def take_seen(self) -> dict[str, ClientId]:
        """The devices identified since the last call; starts a new round."""
        seen, self.seen = self.seen, {}
        self._by_address.clear()
        self._by_options.clear()
        return seen
