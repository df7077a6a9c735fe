"""The query pipeline: from a client's packet to the answer bytes.

One ordered list, read top to bottom in ``Resolver.handle``:

    client allowed?  -> REFUSED
    packet readable? -> FORMERR / drop
    opcode, EDNS version, class, transfer types -> NOTIMP / BADVERS / REFUSED
    same packet, same client, same second -> the reply just sent
    device -> profile -> decision (the policy snapshot)
        block            -> the profile's block answer
        bypass name      -> NXDOMAIN / NODATA of our own
        safe search      -> CNAME to the filtered host + its addresses
    ANY              -> RFC 8482 minimal answer
    cache hit        -> patched stored bytes, unless a name in its CNAME chain
                        is blocked for this profile; TTLs capped so a change
                        of rules reaches the device in time
    local names      -> the home router, never public upstreams
    miss             -> coalesced upstream query (the only await); with a
                        stale entry, that entry after 1.8 s, or at once while
                        every upstream is down (RFC 8767)

Everything up to the cache hit runs synchronously inside the listener's
callback and returns bytes; only a miss returns a coroutine to await.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol

from dnsfilter.dns import wire
from dnsfilter.dns.acl import ClientAcl
from dnsfilter.dns.cache import AnswerCache, CachedAnswer, answer_from_upstream
from dnsfilter.dns.canned import NODATA, NULL_IP, NXDOMAIN, CannedReplies
from dnsfilter.dns.localzones import LocalZones
from dnsfilter.dns.logbuffer import FROM_CACHE, FROM_FILTER, STALE, Answered, LogBuffer
from dnsfilter.dns.profiles import ClientProfiles
from dnsfilter.dns.recent import RecentReplies
from dnsfilter.dns.rewrite import rewrite_response
from dnsfilter.dns.upstream.localerrors import LocalProblem
from dnsfilter.errors import UpstreamError
from dnsfilter.policy.decision import Action, Decision, Reason
from dnsfilter.policy.identity import ClientId, ClientTable
from dnsfilter.policy.precedence import ProfilePolicy
from dnsfilter.policy.snapshot import PolicySnapshot

Pending = Coroutine[Any, Any, bytes | None]
Outcome = bytes | None | Pending

_ANY_TTL = 3600
_SAFE_UDP_SIZE = wire.MIN_UDP_SIZE  # every client takes this much
# RFC 8767 5: how long a client waits for a fresh answer before a stale one.
CLIENT_RESPONSE_TIMER = 1.8

_ALLOW = Action.ALLOW
_BLOCK = Action.BLOCK
_REWRITE = Action.REWRITE
# Our own answers without asking upstream, by how they read:
_LOCAL_FORMS = {Action.LOCAL_NXDOMAIN: NXDOMAIN, Action.LOCAL_NODATA: NODATA}


class Upstreams(Protocol):
    """What the resolver needs of an upstream pool (dnsfilter.dns.upstream.pool)."""

    async def exchange(self, question: bytes, do: bool = False, cd: bool = False) -> tuple[bytes, str]:
        """The checked answer to ``question``, and the name of the server that gave it."""
        ...

    def all_down(self) -> bool:
        """Is every upstream known to be down (a stale answer need not wait)?"""
        ...


@dataclass(frozen=True, slots=True)
class AnswerSettings:
    udp_size: int = 1232
    block_ttl: int = 10
    stale_ttl: int = 30
    # Longest TTL handed to a device (0: as the upstream gave it), so that a
    # change of rules reaches devices within this many seconds.
    max_answer_ttl: int = 0


@dataclass(slots=True)
class ResolverStats:
    """Plain counts since start, read by ``dnsfilter.dns.counts`` (what they add up to)."""

    queries: int = 0
    refused: int = 0
    malformed: int = 0
    blocked: int = 0
    rewritten: int = 0  # safe search
    answered_locally: int = 0  # bypass protection
    forwarded: int = 0
    upstream_failures: int = 0
    tcp_queries: int = 0
    unsupported: int = 0  # answered with an error whatever the name (opcode, EDNS version, class, transfer)
    # Allowed queries are not counted where the cache already counts them (a hit):
    allowed_uncached: int = 0  # allowed, answered without the cache (ANY, local names, upstream answers)
    rewrite_hits: int = 0  # cache hits that were safe-search answers
    chain_blocked_hits: int = 0  # cache hits stopped by a blocked name their CNAMEs lead to
    # Queries by type: a list indexed by the 16-bit type, so counting one is an index.
    by_type: list[int] = field(default_factory=lambda: [0] * 65536)


class Resolver:
    """Answers client packets. Shared by the UDP and TCP listeners.

    ``policy``, ``clients``, ``forwarders``, ``acl``, ``cache`` and
    ``settings`` are replaced whole when rules, devices or the config change;
    replacing any of them drops the replies kept for reuse. ``take_seen``
    hands over the devices that asked since it was last called (to record them).
    """

    def __init__(
        self,
        *,
        policy: PolicySnapshot,
        cache: AnswerCache,
        upstreams: Upstreams,
        local_zones: LocalZones,
        local_upstreams: Upstreams | None,
        acl: ClientAcl,
        settings: AnswerSettings,
        clients: ClientTable | None = None,
        forwarders: frozenset[str] = frozenset(),
        query_log: LogBuffer | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._recent: RecentReplies[Answered] = RecentReplies()
        # Where answered queries go for the query log; None: not logged.
        self.query_log = query_log
        self._profiles = ClientProfiles(policy, clients or ClientTable.build({}, ()), forwarders)
        self._cache = cache
        self.upstreams = upstreams
        self.local_zones = local_zones
        self.local_upstreams = local_upstreams
        self._acl = acl
        self.stats = ResolverStats()
        self._by_type = self.stats.by_type
        self.clock = clock
        self.wall_clock = wall_clock
        self._parser = wire.QueryParser()
        self.settings = settings
        self._inflight: dict[wire.AnswerKey, asyncio.Task[CachedAnswer]] = {}

    # Changing what answers depend on drops the replies kept for reuse.
    @property
    def settings(self) -> AnswerSettings:
        return self._settings

    @settings.setter
    def settings(self, settings: AnswerSettings) -> None:
        self._settings = settings
        self._canned = CannedReplies(settings.udp_size, settings.block_ttl)
        self._recent.clear()

    @property
    def policy(self) -> PolicySnapshot:
        return self._profiles.policy

    @policy.setter
    def policy(self, policy: PolicySnapshot) -> None:
        self._use(policy=policy)

    @property
    def clients(self) -> ClientTable:
        return self._profiles.clients

    @clients.setter
    def clients(self, clients: ClientTable) -> None:
        self._use(clients=clients)

    @property
    def forwarders(self) -> frozenset[str]:
        """Addresses (the router) whose EDNS MAC and client-subnet options are believed."""
        return self._profiles.forwarders

    @forwarders.setter
    def forwarders(self, forwarders: frozenset[str]) -> None:
        self._use(forwarders=forwarders)

    def _use(
        self,
        policy: PolicySnapshot | None = None,
        clients: ClientTable | None = None,
        forwarders: frozenset[str] | None = None,
    ) -> None:
        current = self._profiles
        self._profiles = ClientProfiles(
            policy or current.policy,
            clients or current.clients,
            current.forwarders if forwarders is None else forwarders,
            current.seen,
        )
        self._recent.clear()

    def take_seen(self) -> dict[str, ClientId]:
        """The devices that asked since the last call (for the service to record)."""
        return self._profiles.take_seen()

    @property
    def acl(self) -> ClientAcl:
        return self._acl

    @acl.setter
    def acl(self, acl: ClientAcl) -> None:
        self._acl = acl
        self._recent.clear()

    @property
    def cache(self) -> AnswerCache:
        return self._cache

    @cache.setter
    def cache(self, cache: AnswerCache) -> None:
        old = self._cache
        if cache is not old:  # its counts go on: they are counted since start
            cache.hits, cache.misses, cache.stale_served = old.hits, old.misses, old.stale_served
        self._cache = cache
        self._recent.clear()

    def handle(self, data: bytes, client: str, tcp: bool) -> Outcome:
        """Answer one packet: bytes now, None to drop, or a coroutine (miss)."""
        self.stats.queries += 1
        now = self.clock()
        if not tcp:
            recent = self._recent.get(client, data[2:], now)
            if recent is not None:
                answered = recent[2]
                # Counted as the full pipeline counted it the first time; only
                # blocks, bypass answers and cache hits are kept for reuse.
                if answered[4] == FROM_CACHE:
                    self._cache.hits += 1
                elif answered[3].action is _BLOCK:
                    self.stats.blocked += 1
                else:
                    self.stats.answered_locally += 1
                self._by_type[answered[2].qtype] += 1
                query_log = self.query_log
                if query_log is not None:
                    query_log.add_time(self.wall_clock())
                    query_log.add_answer(answered)
                return data[:2] + recent[0]
        else:
            self.stats.tcp_queries += 1
        try:
            query = self._parser.parse(data)
        except wire.MalformedPacket as error:
            self.stats.malformed += 1
            if error.header is None or not self._acl.allows(client):
                return None
            return wire.header_only_reply(error.header, wire.FORMERR)
        self._by_type[query.qtype] += 1
        qid = data[:2]
        settings = self._settings
        if not self._acl.allows(client):
            self.stats.refused += 1
            return wire.build_reply(qid, query, settings.udp_size, wire.REFUSED)
        if query.error_rcode:
            self.stats.unsupported += 1
            return wire.build_reply(qid, query, settings.udp_size, query.error_rcode)

        profiles = self._profiles
        device, profile, decision = profiles.decide(query, client)
        policy = profiles.policy
        action = decision.action
        if action is not _ALLOW:
            if action is _REWRITE:
                return self._rewrite(qid, query, device.key, decision, policy, profile, tcp, now)
            tail = self._canned_reply(query, action, policy, profile)
            reply = qid + tail
            answered = (device.key, profile.id, query, decision, FROM_FILTER, 0, reply)
            self._record(answered)
            if not tcp:
                self._recent.put(client, data[2:], tail, now + 1.0, answered)
            return reply
        if query.qtype == wire.TYPE_ANY:
            self.stats.allowed_uncached += 1
            answer = wire.rfc8482_hinfo(_ANY_TTL)
            reply = wire.build_reply(qid, query, settings.udp_size, answers=answer, ancount=1)
            self._record((device.key, profile.id, query, decision, FROM_FILTER, 0, reply))
            return reply
        entry = self._cache.get(query.key, now)
        if entry is not None:
            if entry.chain and decision.reason is not Reason.ALLOW_LIST:
                blocked = self._chain_block(entry, query, policy, profile)
                if blocked is not None:
                    self.stats.chain_blocked_hits += 1
                    reply = qid + self._canned_reply(query, blocked.action, policy, profile)
                    self._record((device.key, profile.id, query, blocked, FROM_CACHE, 0, reply))
                    return reply
            cap = settings.max_answer_ttl if profile.next_change is None else self._ttl_cap(policy, profile)
            reply = entry.render(qid, query, now, settings.udp_size, 0, cap)
            if len(reply) > _SAFE_UDP_SIZE and not tcp:
                reply = self._fit(reply, query, tcp)
            answered = (device.key, profile.id, query, decision, FROM_CACHE, 0, reply)
            self._record(answered)
            if not tcp:
                self._recent.put(client, data[2:], reply[2:], entry.next_change(now), answered)
            return reply
        # Only answers from the router can be cached for local names, so
        # checking whether a name is local can wait until the cache misses.
        upstreams = self.upstreams
        if self.local_zones.covers(query.qname, query.qtype):
            if self.local_upstreams is None:
                self.stats.allowed_uncached += 1
                reply = wire.build_reply(qid, query, settings.udp_size, wire.NXDOMAIN)
                self._record((device.key, profile.id, query, decision, FROM_FILTER, 0, reply))
                return reply
            upstreams = self.local_upstreams
        pending = _Answer(query, device.key, decision, policy, profile, now, upstreams)
        return self._forward(qid, pending, query.key, lambda: self._fetch(query, upstreams), tcp)

    def _record(self, answered: Answered) -> None:
        query_log = self.query_log
        if query_log is not None:
            query_log.add_time(self.wall_clock())
            query_log.add_answer(answered)

    def _canned_reply(
        self, query: wire.Query, action: Action, policy: PolicySnapshot, profile: ProfilePolicy
    ) -> bytes:
        """Our own answer after its ID, for a block (in the profile's block mode)
        or a bypass name; built once per query shape."""
        if action is _BLOCK:
            self.stats.blocked += 1
            form = NXDOMAIN if profile.block_mode == NXDOMAIN else NULL_IP
        else:
            self.stats.answered_locally += 1
            form = _LOCAL_FORMS[action]
        canned = self._canned
        if form == NULL_IP and profile.next_change is not None:
            # A block that ends sooner (a pause, a rule's window) must not
            # outlive its end in the device's cache.
            until_change = policy.ttl_cap(profile, self.wall_clock())
            if until_change is not None and until_change < self._settings.block_ttl:
                return canned.build(query, form, until_change)
        return canned.reply(query, form)

    def _chain_block(
        self, entry: CachedAnswer, query: wire.Query, policy: PolicySnapshot, profile: ProfilePolicy
    ) -> Decision | None:
        """The decision that stops the answer when a name its CNAMEs lead to may
        not be reached by this profile (a blocked site behind an allowed alias)."""
        for name in entry.chain:
            decision = policy.decide_alias(name, query.qtype, profile)
            if decision.action is not _ALLOW:
                return decision
        return None

    def _ttl_cap(self, policy: PolicySnapshot, profile: ProfilePolicy) -> int:
        """The longest TTL this profile's devices may be given now (0: no cap)."""
        cap = self._settings.max_answer_ttl
        if profile.next_change is not None:
            until_change = policy.ttl_cap(profile, self.wall_clock()) or 0
            cap = min(cap, until_change) if cap else until_change
        return cap

    def _rewrite(
        self,
        qid: bytes,
        query: wire.Query,
        device_key: str,
        decision: Decision,
        policy: PolicySnapshot,
        profile: ProfilePolicy,
        tcp: bool,
        now: float,
    ) -> Outcome:
        """Safe search: the CNAME to ``decision.target`` with the target's records."""
        self.stats.rewritten += 1
        target = decision.target or ""
        key = f"{query.key}\x00{target}"
        entry = self._cache.get(key, now)
        if entry is not None:
            self.stats.rewrite_hits += 1
            reply = entry.render(qid, query, now, self._settings.udp_size, 0, self._ttl_cap(policy, profile))
            reply = self._fit(reply, query, tcp)
            self._record((device_key, profile.id, query, decision, FROM_CACHE, 0, reply))
            return reply
        pending = _Answer(query, device_key, decision, policy, profile, now, self.upstreams)
        return self._forward(qid, pending, key, lambda: self._fetch_rewrite(query, target, key), tcp)

    def _fit(self, reply: bytes, query: wire.Query, tcp: bool) -> bytes:
        """Truncate a UDP reply the client cannot take (TC=1 sends it to TCP)."""
        if not tcp and len(reply) > wire.max_udp_reply(query, self._settings.udp_size):
            return wire.truncated(reply, query, self._settings.udp_size)
        return reply

    async def _forward(
        self,
        qid: bytes,
        answer: _Answer,
        key: wire.AnswerKey,
        fetch: Callable[[], Coroutine[Any, Any, CachedAnswer]],
        tcp: bool,
    ) -> bytes:
        reply = await self._wait_for_answer(qid, answer, key, fetch, tcp)
        taken_us = int((self.clock() - answer.asked_at) * 1_000_000)
        logged = answer.logged_decision
        if logged.action is _ALLOW:  # counted once answered: a CNAME target may still block it
            self.stats.allowed_uncached += 1
        self._record((answer.device_key, answer.profile.id, answer.query, logged, answer.upstream, taken_us, reply))
        return reply

    async def _wait_for_answer(
        self,
        qid: bytes,
        answer: _Answer,
        key: wire.AnswerKey,
        fetch: Callable[[], Coroutine[Any, Any, CachedAnswer]],
        tcp: bool,
    ) -> bytes:
        query = answer.query
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.get_running_loop().create_task(fetch())
            self._inflight[key] = task
            task.add_done_callback(lambda done: self._forget(key, done))
        settings = self._settings
        stale_ttl = 0
        try:
            entry, fresh = await self._fresh_or_stale(task, key, answer)
            if fresh:
                answer.upstream = entry.source
            else:
                self._cache.stale_served += 1
                stale_ttl = settings.stale_ttl
                answer.upstream = STALE
        except LocalProblem:
            # This machine's trouble (logged by the pool): no stale answer hides it.
            self.stats.upstream_failures += 1
            return wire.build_reply(qid, query, settings.udp_size, wire.SERVFAIL)
        except UpstreamError:
            self.stats.upstream_failures += 1
            stale = self._cache.get_stale(key, self.clock())
            if stale is None:
                return wire.build_reply(qid, query, settings.udp_size, wire.SERVFAIL)
            entry, stale_ttl = stale, settings.stale_ttl
            answer.upstream = STALE
        except wire.MalformedPacket:
            return wire.build_reply(qid, query, settings.udp_size, wire.SERVFAIL)
        # Decided with the policy in force when the query came in, so the
        # answer matches the decision made before the wait.
        if entry.chain and answer.decision.action is _ALLOW and answer.decision.reason is not Reason.ALLOW_LIST:
            blocked = self._chain_block(entry, query, answer.policy, answer.profile)
            if blocked is not None:
                answer.logged_decision = blocked
                return qid + self._canned_reply(query, blocked.action, answer.policy, answer.profile)
        cap = self._ttl_cap(answer.policy, answer.profile)
        return self._fit(entry.render(qid, query, self.clock(), settings.udp_size, stale_ttl, cap), query, tcp)

    async def _fresh_or_stale(
        self, task: asyncio.Task[CachedAnswer], key: wire.AnswerKey, answer: _Answer
    ) -> tuple[CachedAnswer, bool]:
        """The fetched answer and True, or a stale one and False when it should go now (RFC 8767):
        every upstream is down, or the client response timer ran out. The fetch
        goes on either way and refreshes the cache when it ends."""
        if not task.done():
            stale = self._cache.peek_stale(key, self.clock())
            if stale is not None:
                if answer.upstreams.all_down():
                    return stale, False
                # wait(), unlike wait_for(), leaves the fetch running when time is up.
                done, _ = await asyncio.wait((task,), timeout=CLIENT_RESPONSE_TIMER)
                if not done:
                    return stale, False
        # shield: one client giving up must not cancel the others' answer.
        return await asyncio.shield(task), True

    def _forget(self, key: wire.AnswerKey, task: asyncio.Task[CachedAnswer]) -> None:
        self._inflight.pop(key, None)
        if not task.cancelled():
            task.exception()  # retrieved here, so an unawaited failure is not reported as lost

    async def _fetch(self, query: wire.Query, upstreams: Upstreams) -> CachedAnswer:
        """Ask upstream once for everyone waiting on this question, and cache it."""
        self.stats.forwarded += 1
        question = query.question
        # Ask in lower case so differently-cased clients share one answer.
        question = question[:-4].lower() + question[-4:]
        response, server = await upstreams.exchange(question, do=query.do, cd=bool(query.flags & wire.CD))
        entry = answer_from_upstream(response, self.clock(), self._cache.limits)
        entry.source = server
        self._cache.put(query.key, entry)
        return entry

    async def _fetch_rewrite(self, query: wire.Query, target: str, key: wire.AnswerKey) -> CachedAnswer:
        """Resolve the safe-search host and file the CNAME answer under ``key``."""
        self.stats.forwarded += 1
        target_question = wire.encode_name(target) + query.question[-4:]
        response, server = await self.upstreams.exchange(target_question)
        entry = answer_from_upstream(rewrite_response(query.question, target, response), self.clock(), self._cache.limits)
        entry.source = server
        self._cache.put(key, entry)
        return entry

    async def drain(self, timeout: float) -> None:
        """Wait (bounded) for upstream queries in flight, e.g. at shutdown."""
        pending = list(self._inflight.values())
        if pending:
            await asyncio.wait(pending, timeout=timeout)


@dataclass(slots=True)
class _Answer:
    """What a miss must remember across the upstream wait, and learns there."""

    query: wire.Query
    device_key: str
    decision: Decision
    policy: PolicySnapshot
    profile: ProfilePolicy
    asked_at: float  # the resolver's clock
    upstreams: Upstreams  # the pool the miss is asked of
    upstream: str = ""  # the server that answered, or STALE
    # What the log says was decided: a CNAME target's block when one stopped the answer.
    logged_decision: Decision = field(init=False)

    def __post_init__(self) -> None:
        self.logged_decision = self.decision
