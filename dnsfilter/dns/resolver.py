"""The query pipeline: from a client's packet to the answer bytes.

One ordered list, read top to bottom in ``Resolver.handle``:

    client allowed?  -> REFUSED
    packet readable? -> FORMERR / drop
    opcode, EDNS version, class, transfer types -> NOTIMP / BADVERS / REFUSED
    policy decision  -> block answer
    ANY              -> RFC 8482 minimal answer
    local names      -> the home router, never public upstreams
    cache hit        -> patched stored bytes
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
from dnsfilter.errors import UpstreamError
from dnsfilter.policy.engine import Policy

log = logging.getLogger(__name__)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Pending = Coroutine[Any, Any, bytes | None]
Outcome = bytes | None | Pending

_NULL_RDATA = {wire.TYPE_A: b"\x00" * 4, wire.TYPE_AAAA: b"\x00" * 16}
_ANY_TTL = 3600
_ACL_MEMO_LIMIT = 4096


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
        self.policy = policy
        self.cache = cache
        self.upstreams = upstreams
        self.local_zones = local_zones
        self.local_upstreams = local_upstreams
        self.acl = acl
        self.settings = settings
        self.stats = ResolverStats()
        self.clock = clock
        self.wall_clock = wall_clock
        self._inflight: dict[tuple[str, int, int, bool, bool], asyncio.Task[CachedAnswer]] = {}

    def handle(self, data: bytes, client: str, tcp: bool) -> Outcome:
        """Answer one packet: bytes now, None to drop, or a coroutine (miss)."""
        self.stats.queries += 1
        try:
            query = wire.parse_query(data)
        except wire.MalformedPacket as error:
            self.stats.malformed += 1
            if error.header is None or not self.acl.allows(client):
                return None
            return wire.header_only_reply(error.header, wire.FORMERR)
        settings = self.settings
        if not self.acl.allows(client):
            self.stats.refused += 1
            return wire.build_reply(query, settings.udp_size, wire.REFUSED)
        if query.opcode != wire.OPCODE_QUERY:
            return wire.build_reply(query, settings.udp_size, wire.NOTIMP)
        if query.edns_version:
            return wire.build_reply(query, settings.udp_size, wire.BADVERS)
        qtype = query.qtype
        if query.qclass != wire.CLASS_IN or qtype in (wire.TYPE_AXFR, wire.TYPE_IXFR):
            return wire.build_reply(query, settings.udp_size, wire.REFUSED)
        if qtype == wire.TYPE_OPT:
            return wire.build_reply(query, settings.udp_size, wire.FORMERR)

        decision = self.policy.decide(query.qname, qtype, client, self.wall_clock())
        if decision.blocked:
            self.stats.blocked += 1
            return self._fit(self._block_answer(query), query, tcp)
        if qtype == wire.TYPE_ANY:
            return self._fit(
                wire.build_reply(query, settings.udp_size, answers=wire.rfc8482_hinfo(_ANY_TTL), ancount=1),
                query,
                tcp,
            )
        upstreams = self.upstreams
        if self.local_zones.covers(query.qname, qtype):
            if self.local_upstreams is None:
                return wire.build_reply(query, settings.udp_size, wire.NXDOMAIN)
            upstreams = self.local_upstreams

        key = (query.qname, qtype, query.qclass, query.do, bool(query.flags & wire.CD))
        now = self.clock()
        entry = self.cache.get(key, now)
        if entry is not None:
            return self._fit(entry.render(query, now, settings.udp_size), query, tcp)
        return self._forward(query, key, upstreams, tcp)

    def _block_answer(self, query: wire.Query) -> bytes:
        settings = self.settings
        if settings.block_nxdomain:
            return wire.build_reply(query, settings.udp_size, wire.NXDOMAIN)
        rdata = _NULL_RDATA.get(query.qtype)
        if rdata is None:
            return wire.build_reply(query, settings.udp_size)  # NODATA
        record = wire.address_record(query.qtype, settings.block_ttl, rdata)
        return wire.build_reply(query, settings.udp_size, answers=record, ancount=1)

    def _fit(self, reply: bytes, query: wire.Query, tcp: bool) -> bytes:
        """Truncate a UDP reply the client cannot take (TC=1 sends it to TCP)."""
        if not tcp and len(reply) > wire.max_udp_reply(query, self.settings.udp_size):
            return wire.truncated(reply, query, self.settings.udp_size)
        return reply

    async def _forward(
        self,
        query: wire.Query,
        key: tuple[str, int, int, bool, bool],
        upstreams: Upstreams,
        tcp: bool,
    ) -> bytes | None:
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._fetch(query, key, upstreams))
            self._inflight[key] = task
            task.add_done_callback(lambda done: self._forget(key, done))
        try:
            # shield: one client giving up must not cancel the others' answer.
            entry = await asyncio.shield(task)
        except UpstreamError as error:
            self.stats.upstream_failures += 1
            now = self.clock()
            stale = self.cache.get_stale(key, now)
            if stale is not None:
                log.info("serving %s stale: %s", query.qname, error)
                return self._fit(
                    stale.render(query, now, self.settings.udp_size, self.settings.stale_ttl), query, tcp
                )
            return wire.build_reply(query, self.settings.udp_size, wire.SERVFAIL)
        except wire.MalformedPacket:
            return wire.build_reply(query, self.settings.udp_size, wire.SERVFAIL)
        return self._fit(entry.render(query, self.clock(), self.settings.udp_size), query, tcp)

    def _forget(self, key: tuple[str, int, int, bool, bool], task: asyncio.Task[CachedAnswer]) -> None:
        self._inflight.pop(key, None)
        if not task.cancelled():
            task.exception()  # retrieved here, so an unawaited failure is not reported as lost

    async def _fetch(
        self, query: wire.Query, key: tuple[str, int, int, bool, bool], upstreams: Upstreams
    ) -> CachedAnswer:
        """Ask upstream once for everyone waiting on ``key``, and cache it."""
        self.stats.forwarded += 1
        question = query.question
        # Ask in lower case so differently-cased clients share one answer.
        question = question[:-4].lower() + question[-4:]
        response = await upstreams.resolve(question, do=query.do, cd=bool(query.flags & wire.CD))
        entry = answer_from_upstream(response, self.clock(), self.cache.limits)
        self.cache.put(key, entry)
        return entry

    async def drain(self, timeout: float) -> None:
        """Wait (bounded) for upstream queries in flight, e.g. at shutdown."""
        pending = list(self._inflight.values())
        if pending:
            await asyncio.wait(pending, timeout=timeout)
