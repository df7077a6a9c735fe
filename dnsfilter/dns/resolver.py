"""The query pipeline: from a client's packet to the answer bytes.

One ordered list, read top to bottom in ``Resolver.handle``:

    client allowed?  -> REFUSED
    packet readable? -> FORMERR / drop
    opcode, EDNS version, class, transfer types -> NOTIMP / BADVERS / REFUSED
    same packet, same client, same second -> the reply just sent
    policy decision  -> block answer
    ANY              -> RFC 8482 minimal answer
    cache hit        -> patched stored bytes
    local names      -> the home router, never public upstreams
    miss             -> coalesced upstream query (the only await)

Everything up to the cache hit runs synchronously inside the listener's
callback and returns bytes; only a miss returns a coroutine to await.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from dnsfilter.dns import wire
from dnsfilter.dns.cache import AnswerCache, CachedAnswer, answer_from_upstream
from dnsfilter.dns.localzones import LocalZones
from dnsfilter.dns.recent import RecentReplies
from dnsfilter.errors import UpstreamError
from dnsfilter.policy.engine import Policy

log = logging.getLogger(__name__)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Pending = Coroutine[Any, Any, bytes | None]
Outcome = bytes | None | Pending

_NULL_RDATA = {wire.TYPE_A: b"\x00" * 4, wire.TYPE_AAAA: b"\x00" * 16}
_ANY_TTL = 3600
_ACL_MEMO_LIMIT = 4096
_BLOCK_MEMO_LIMIT = 8192
_SAFE_UDP_SIZE = wire.MIN_UDP_SIZE  # every client takes this much


class Upstreams(Protocol):
    """What the resolver needs of an upstream pool (dnsfilter.dns.upstream)."""

    async def resolve(self, question: bytes, do: bool = False, cd: bool = False) -> bytes: ...


@dataclass(frozen=True, slots=True)
class AnswerSettings:
    udp_size: int = 1232
    block_nxdomain: bool = False
    block_ttl: int = 10
    stale_ttl: int = 30


@dataclass(slots=True)
class ResolverStats:
    queries: int = 0
    refused: int = 0
    malformed: int = 0
    blocked: int = 0
    forwarded: int = 0
    upstream_failures: int = 0


class ClientAcl:
    """Which client addresses get answers; results memoised per address."""

    __slots__ = ("_networks", "_memo")

    def __init__(self, networks: Iterable[Network]) -> None:
        self._networks = tuple(networks)
        self._memo: dict[str, bool] = {}

    def allows(self, address: str) -> bool:
        allowed = self._memo.get(address)
        if allowed is None:
            allowed = self._check(address)
            if len(self._memo) >= _ACL_MEMO_LIMIT:
                self._memo.clear()
            self._memo[address] = allowed
        return allowed

    def _check(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip in network for network in self._networks)


class Resolver:
    """Answers client packets. Shared by the UDP and TCP listeners."""

    def __init__(
        self,
        *,
        policy: Policy,
        cache: AnswerCache,
        upstreams: Upstreams,
        local_zones: LocalZones,
        local_upstreams: Upstreams | None,
        acl: ClientAcl,
        settings: AnswerSettings,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._recent = RecentReplies()
        self._policy = policy
        self._cache = cache
        self.upstreams = upstreams
        self.local_zones = local_zones
        self.local_upstreams = local_upstreams
        self._acl = acl
        self.stats = ResolverStats()
        self.clock = clock
        self.wall_clock = wall_clock
        self._parser = wire.QueryParser()
        self._block_replies: dict[wire.Query, bytes] = {}
        self.settings = settings
        self._inflight: dict[wire.AnswerKey, asyncio.Task[CachedAnswer]] = {}

    # Changing what answers depend on drops the replies kept for reuse.
    @property
    def settings(self) -> AnswerSettings:
        return self._settings

    @settings.setter
    def settings(self, settings: AnswerSettings) -> None:
        self._settings = settings
        self._block_replies.clear()
        self._recent.clear()

    @property
    def policy(self) -> Policy:
        return self._policy

    @policy.setter
    def policy(self, policy: Policy) -> None:
        self._policy = policy
        self._recent.clear()

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
        self._cache = cache
        self._recent.clear()

    def handle(self, data: bytes, client: str, tcp: bool) -> Outcome:
        """Answer one packet: bytes now, None to drop, or a coroutine (miss)."""
        self.stats.queries += 1
        now = self.clock()
        if not tcp:
            recent = self._recent.get(client, data[2:], now)
            if recent is not None:
                return data[:2] + recent
        try:
            query = self._parser.parse(data)
        except wire.MalformedPacket as error:
            self.stats.malformed += 1
            if error.header is None or not self._acl.allows(client):
                return None
            return wire.header_only_reply(error.header, wire.FORMERR)
        qid = data[:2]
        settings = self._settings
        if not self._acl.allows(client):
            self.stats.refused += 1
            return wire.build_reply(qid, query, settings.udp_size, wire.REFUSED)
        if query.error_rcode:
            return wire.build_reply(qid, query, settings.udp_size, query.error_rcode)

        decision = self._policy.decide(query.qname, query.qtype, client, self.wall_clock())
        if decision.blocked:
            self.stats.blocked += 1
            tail = self._block_reply(query)
            if not tcp:
                self._recent.put(client, data[2:], tail, now + 1.0)
            return qid + tail
        if query.qtype == wire.TYPE_ANY:
            answer = wire.rfc8482_hinfo(_ANY_TTL)
            return wire.build_reply(qid, query, settings.udp_size, answers=answer, ancount=1)
        entry = self._cache.get(query.key, now)
        if entry is not None:
            reply = entry.render(qid, query, now, settings.udp_size)
            if tcp:
                return reply
            if len(reply) > _SAFE_UDP_SIZE:
                reply = self._fit(reply, query, tcp)
            self._recent.put(client, data[2:], reply[2:], entry.next_change(now))
            return reply
        # Only answers from the router can be cached for local names, so
        # checking whether a name is local can wait until the cache misses.
        upstreams = self.upstreams
        if self.local_zones.covers(query.qname, query.qtype):
            if self.local_upstreams is None:
                return wire.build_reply(qid, query, settings.udp_size, wire.NXDOMAIN)
            upstreams = self.local_upstreams
        return self._forward(qid, query, upstreams, tcp)

    def _block_reply(self, query: wire.Query) -> bytes:
        """The block answer for ``query`` after its ID, built once per query shape."""
        reply = self._block_replies.get(query)
        if reply is None:
            reply = self._build_block_reply(query)[2:]
            if len(self._block_replies) >= _BLOCK_MEMO_LIMIT:
                self._block_replies.clear()
            self._block_replies[query] = reply
        return reply

    def _build_block_reply(self, query: wire.Query) -> bytes:
        settings = self._settings
        qid = b"\x00\x00"
        if settings.block_nxdomain:
            return wire.build_reply(qid, query, settings.udp_size, wire.NXDOMAIN)
        rdata = _NULL_RDATA.get(query.qtype)
        if rdata is None:
            return wire.build_reply(qid, query, settings.udp_size)  # NODATA
        record = wire.address_record(query.qtype, settings.block_ttl, rdata)
        return wire.build_reply(qid, query, settings.udp_size, answers=record, ancount=1)

    def _fit(self, reply: bytes, query: wire.Query, tcp: bool) -> bytes:
        """Truncate a UDP reply the client cannot take (TC=1 sends it to TCP)."""
        if not tcp and len(reply) > wire.max_udp_reply(query, self._settings.udp_size):
            return wire.truncated(reply, query, self._settings.udp_size)
        return reply

    async def _forward(self, qid: bytes, query: wire.Query, upstreams: Upstreams, tcp: bool) -> bytes | None:
        key = query.key
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._fetch(query, upstreams))
            self._inflight[key] = task
            task.add_done_callback(lambda done: self._forget(key, done))
        try:
            # shield: one client giving up must not cancel the others' answer.
            entry = await asyncio.shield(task)
        except UpstreamError as error:
            self.stats.upstream_failures += 1
            now = self.clock()
            stale = self._cache.get_stale(key, now)
            if stale is not None:
                log.info("serving %s stale: %s", query.qname, error)
                reply = stale.render(qid, query, now, self._settings.udp_size, self._settings.stale_ttl)
                return self._fit(reply, query, tcp)
            return wire.build_reply(qid, query, self._settings.udp_size, wire.SERVFAIL)
        except wire.MalformedPacket:
            return wire.build_reply(qid, query, self._settings.udp_size, wire.SERVFAIL)
        return self._fit(entry.render(qid, query, self.clock(), self._settings.udp_size), query, tcp)

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
        response = await upstreams.resolve(question, do=query.do, cd=bool(query.flags & wire.CD))
        entry = answer_from_upstream(response, self.clock(), self._cache.limits)
        self._cache.put(query.key, entry)
        return entry

    async def drain(self, timeout: float) -> None:
        """Wait (bounded) for upstream queries in flight, e.g. at shutdown."""
        pending = list(self._inflight.values())
        if pending:
            await asyncio.wait(pending, timeout=timeout)
