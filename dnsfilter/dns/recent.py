"""Replies just sent, reused for the same packet from the same client.

A device asks the same few names again and again, often several times a
second (each app, each tab, A and AAAA). Within the second, with the same
rules in force, the reply to the same packet from the same client is the
same bytes but for the ID, so it is kept here and the whole pipeline is
skipped. Entries expire at the next second of TTL ageing and are dropped
whenever the resolver's configuration or rules change.
"""

from __future__ import annotations

import math
from typing import Generic, TypeVar

from dnsfilter.policy.memo import FORGET_SHARE, forget_oldest

_DEFAULT_LIMIT = 4096  # sized with the canned replies' memo (canned.py)

Note = TypeVar("Note")


class RecentReplies(Generic[Note]):
    """Replies by client and packet; each keeps a ``note`` (what the query log needs)."""

    __slots__ = ("_by_client", "_size", "_limit")

    def __init__(self, limit: int = _DEFAULT_LIMIT) -> None:
        self._by_client: dict[str, dict[bytes, tuple[bytes, float, Note]]] = {}
        self._size = 0
        self._limit = limit

    def get(self, client: str, packet_after_id: bytes, now: float) -> tuple[bytes, float, Note] | None:
        """(reply after its ID, valid until, note), if kept and still valid at ``now``."""
        replies = self._by_client.get(client)
        if replies is None:
            return None
        kept = replies.get(packet_after_id)
        if kept is None or now >= kept[1]:
            return None
        return kept

    def put(self, client: str, packet_after_id: bytes, reply_after_id: bytes, until: float, note: Note) -> None:
        if self._size >= self._limit:
            self._forget_oldest()
        replies = self._by_client.get(client)
        if replies is None:
            replies = self._by_client[client] = {}
        replies[packet_after_id] = (reply_after_id, until, note)
        self._size += 1

    def clear(self) -> None:
        self._by_client.clear()
        self._size = 0

    def _forget_oldest(self) -> None:
        """Bounded: every client's oldest replies go (most of them are out of date
        anyway), about an eighth of the limit in all; clients left with none go."""
        share = max(1, self._limit // FORGET_SHARE) / self._size
        for client, replies in list(self._by_client.items()):
            forget_oldest(replies, math.ceil(len(replies) * share))
            if not replies:
                del self._by_client[client]
        self._size = sum(len(replies) for replies in self._by_client.values())
