"""The answer cache: upstream answers stored as bytes, served by patching.

An answer is scanned once when it arrives (``replies.scan_response``): its TTLs
are clamped to the configured bounds and the offset of every TTL field is
kept. A hit then costs a header pack and, when time has passed, one
``pack_into`` per record: no parsing.

Entries live for their TTL (RFC 1035), negative answers for the SOA-derived
TTL (RFC 2308), and past expiry they are kept a while longer so they can be
served stale when every upstream is down (RFC 8767). The cache is an LRU
bounded in entries.
"""

from __future__ import annotations

import itertools
import struct
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from dnsfilter.dns import replies, wire

_HEADER = struct.Struct(">HHHHHH")
_HEADER_TAIL = struct.Struct(">HHHHH")
_TTL = struct.Struct(">I")

CacheKey = wire.AnswerKey


@dataclass(frozen=True, slots=True)
class CacheLimits:
    size: int = 10000
    min_ttl: int = 0
    max_ttl: int = 86400
    negative_max_ttl: int = 3600
    stale_max_age: int = 86400


class CachedAnswer:
    """One upstream answer, ready to be replayed to any client.

    ``body`` is everything after the question, OPT record removed; the
    header counts are kept apart so our own OPT can be appended per client.
    ``ttl_offsets`` are relative to ``body``. ``lifetime`` 0 means the
    answer may be relayed but not cached (SERVFAIL, negative without SOA...).
    ``chain`` names the CNAME/DNAME targets in the answer (usually none).
    """

    __slots__ = (
        "flags", "counts", "body", "ttl_offsets", "ttls", "stored_at", "lifetime", "rcode",
        "expires_at", "longest_ttl", "used", "chain", "source", "_aged_for", "_capped", "_form", "_framing", "_more_frames",
    )

    def __init__(
        self,
        flags: int,
        counts: tuple[int, int, int],
        body: bytes,
        ttl_offsets: tuple[int, ...],
        ttls: tuple[int, ...],
        stored_at: float,
        lifetime: int,
        rcode: int,
        chain: tuple[str, ...] = (),
    ) -> None:
        self.flags = flags
        self.counts = shared(counts)
        # The body as last aged (see aged_body): every TTL field is rewritten
        # whenever it is copied, so no pristine copy needs keeping beside it.
        self.body = body
        self.ttl_offsets = shared(ttl_offsets)
        self.ttls = ttls
        self.stored_at = stored_at
        self.lifetime = lifetime
        self.rcode = rcode
        self.expires_at = stored_at + lifetime
        self.longest_ttl = max(ttls, default=0)
        self.used = False  # hit since it was last considered for eviction
        self.chain = chain
        self.source = ""  # the upstream server that gave it (for the query log)
        # For how many seconds the body is aged: a popular name is asked many
        # times a second, so TTLs are rewritten once per second.
        self._aged_for = 0
        self._capped: tuple[int, int, bytes] | None = None  # (elapsed, cap, body)
        # Header (after the ID) and OPT record per reply form: nearly always one
        # form, kept in slots; a dict only for the others (a dict per answer would
        # be a fifth of a big cache's memory).
        self._form = -1
        self._framing: tuple[bytes, bytes] = (b"", b"")
        self._more_frames: dict[int, tuple[bytes, bytes]] | None = None

    def next_change(self, now: float) -> float:
        """When a rendering of this answer stops being valid: TTLs tick, or it expires."""
        return min(self.stored_at + int(now - self.stored_at) + 1, self.expires_at)

    def aged_body(self, now: float) -> bytes:
        elapsed = int(now - self.stored_at)
        if elapsed != self._aged_for:
            self.body = self._with_ttls(ttl - elapsed if ttl > elapsed else 0 for ttl in self.ttls)
            self._aged_for = elapsed
        return self.body

    def _with_ttls(self, ttls: Iterable[int]) -> bytes:
        """The body with these TTLs, one for each offset (so every TTL field is written)."""
        patched = bytearray(self.body)
        for offset, ttl in zip(self.ttl_offsets, ttls):
            _TTL.pack_into(patched, offset, ttl)
        return bytes(patched)

    def capped_body(self, now: float, cap: int) -> bytes:
        """The aged body with no TTL above ``cap`` (kept for the second it is asked in)."""
        elapsed = int(now - self.stored_at)
        capped = self._capped
        if capped is None or capped[0] != elapsed or capped[1] != cap:
            ttls = (min(cap, ttl - elapsed if ttl > elapsed else 0) for ttl in self.ttls)
            capped = self._capped = (elapsed, cap, self._with_ttls(ttls))
        return capped[2]

    def render(
        self, qid: bytes, query: wire.Query, now: float, udp_size: int, stale_ttl: int = 0, ttl_cap: int = 0
    ) -> bytes:
        """This answer for ``query``: its ID, its question bytes, aged TTLs.

        With ``stale_ttl`` every TTL is set to it (RFC 8767 4: stale answers
        carry a short TTL so clients come back soon). With ``ttl_cap`` no TTL
        is above it (the answer may stop applying then).
        """
        if stale_ttl:
            body = self._with_ttls(itertools.repeat(min(stale_ttl, ttl_cap) if ttl_cap else stale_ttl))
        elif ttl_cap and ttl_cap < self.longest_ttl - int(now - self.stored_at):
            body = self.capped_body(now, ttl_cap)
        else:
            body = self.aged_body(now)
        # udp_size above every reply_form bit (RD is 0x100): an odd size must
        # not read as RD and hand an RD=0 client a reply with RD=1.
        form = query.reply_form | udp_size << 16
        header, opt = self._framing if form == self._form else self._frame_for(form, query, udp_size)
        return b"".join((qid, header, query.question, body, opt))

    def _frame_for(self, form: int, query: wire.Query, udp_size: int) -> tuple[bytes, bytes]:
        if self._form < 0:
            self._form, self._framing = form, shared(self._frame(query, udp_size))
            return self._framing
        if self._more_frames is None:
            self._more_frames = {}
        frame = self._more_frames.get(form)
        if frame is None:
            frame = self._more_frames[form] = self._frame(query, udp_size)
        return frame

    def _frame(self, query: wire.Query, udp_size: int) -> tuple[bytes, bytes]:
        # RD and CD follow the client's query; the rest is the upstream's.
        flags = (self.flags & ~(wire.RD | wire.CD)) | (query.flags & (wire.RD | wire.CD))
        answers, authority, additional = self.counts
        if query.edns_size:
            header = _HEADER_TAIL.pack(flags, 1, answers, authority, additional + 1)
            return header, wire.opt_record(udp_size, query.do, self.rcode >> 4)
        return _HEADER_TAIL.pack(flags, 1, answers, authority, additional), b""


# Parts that many answers hold alike (their header and OPT record, counts,
# where their TTLs are), kept once. Bounded: answers of odd shapes, however
# many, are then kept as they are rather than growing the table.
_SHARED: dict[object, object] = {}
SHARED_LIMIT = 4096
_Part = TypeVar("_Part", bound=Hashable)


def shared(part: _Part) -> _Part:
    """The copy of ``part`` already kept, or ``part`` itself."""
    known = _SHARED.get(part)
    if known is not None:
        return known  # type: ignore[return-value]
    if len(_SHARED) < SHARED_LIMIT:
        _SHARED[part] = part
    return part


def answer_from_upstream(response: bytes, now: float, limits: CacheLimits) -> CachedAnswer:
    """Turn a validated upstream response into a CachedAnswer.

    Raises ``wire.MalformedPacket`` when the response does not hold up.
    """
    info = replies.scan_response(response)
    trimmed = replies.without_opt(response, info)
    start = replies.question_end(trimmed)
    body = bytearray(trimmed[start:])
    clamped = tuple(min(max(ttl, limits.min_ttl), limits.max_ttl) for ttl in info.ttls)
    offsets = tuple(offset - start for offset in info.ttl_offsets)
    for offset, ttl in zip(offsets, clamped):
        _TTL.pack_into(body, offset, ttl)
    _qid, flags, _qd, answers, authority, additional = _HEADER.unpack_from(trimmed)
    flags &= ~wire.AA  # we are not the authority for anything we relay
    return CachedAnswer(
        flags,
        (answers, authority, additional),
        bytes(body),
        offsets,
        clamped,
        now,
        _lifetime(info, clamped, limits),
        info.rcode,
        tuple(info.chain),
    )


def _lifetime(info: replies.ResponseInfo, ttls: tuple[int, ...], limits: CacheLimits) -> int:
    if info.flags & wire.TC:
        return 0
    if info.rcode == wire.NXDOMAIN or (info.rcode == wire.NOERROR and info.ancount == 0):
        # RFC 2308 5: without an SOA a negative answer must not be cached.
        if info.negative_ttl is None:
            return 0
        return min(info.negative_ttl, limits.negative_max_ttl)
    if info.rcode != wire.NOERROR:
        return 0
    return min(ttls[: info.ancount]) if info.ancount else 0


class AnswerCache:
    """CachedAnswer by key, bounded in entries, evicting like an LRU.

    Eviction is "second chance" (CLOCK): a hit only sets a flag on the entry,
    and when the cache is full the oldest entries that were used since their
    last chance go round once more. It keeps popular names as an LRU does,
    without reordering anything on the hot path.
    """

    __slots__ = ("limits", "_entries", "hits", "misses", "stale_served")

    def __init__(self, limits: CacheLimits) -> None:
        self.limits = limits
        self._entries: dict[CacheKey, CachedAnswer] = {}
        self.hits = 0
        self.misses = 0
        self.stale_served = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: CacheKey, now: float) -> CachedAnswer | None:
        """A fresh entry, or None (expired entries are kept for serve-stale)."""
        entry = self._entries.get(key)
        if entry is not None and now < entry.expires_at:
            entry.used = True
            self.hits += 1
            return entry
        self.misses += 1
        return None

    def get_stale(self, key: CacheKey, now: float) -> CachedAnswer | None:
        """An expired entry still within the stale window, or None; counted as served."""
        entry = self.peek_stale(key, now)
        if entry is not None:
            self.stale_served += 1
        return entry

    def peek_stale(self, key: CacheKey, now: float) -> CachedAnswer | None:
        """Like ``get_stale``, for an answer that may not be served after all (not counted)."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if now >= entry.expires_at + self.limits.stale_max_age:
            del self._entries[key]
            return None
        return entry

    def put(self, key: CacheKey, entry: CachedAnswer) -> None:
        if entry.lifetime <= 0 or self.limits.size <= 0:
            return
        entries = self._entries
        entries.pop(key, None)  # a replaced entry goes to the back
        entries[key] = entry
        while len(entries) > self.limits.size:
            oldest = next(iter(entries))
            candidate = entries.pop(oldest)
            if candidate.used or candidate is entry:
                candidate.used = False
                entries[oldest] = candidate  # its second chance (the newcomer always stays)
            # else: evicted

    def clear(self) -> None:
        self._entries.clear()
