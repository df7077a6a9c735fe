"""Bounded memos that forget their oldest entries a slice at a time.

The query path keeps small memos (parsed packets, decisions, canned
replies). When one is full, emptying it whole would throw away the names a
home asks every minute together with the one-off ones, and free thousands
of objects in one go while an answer waits. Forgetting the oldest eighth
keeps the rest and spreads the work: one pass per eighth of the memo's
size of new entries.

The callers keep ``dict.get`` and the store inline (the query path's cost
is in such calls) and call ``make_room`` only when the memo is full.
"""

from __future__ import annotations

from itertools import islice
from typing import Any

# The part of a full memo forgotten at once.
FORGET_SHARE = 8


def make_room(memo: dict[Any, Any], limit: int) -> None:
    """Forget ``memo``'s oldest entries until it holds about seven eighths of ``limit``."""
    forget_oldest(memo, len(memo) - limit + max(1, limit // FORGET_SHARE))


def forget_oldest(memo: dict[Any, Any], count: int) -> None:
    """Forget the ``count`` entries stored first (a dict keeps the order of storing)."""
    for key in list(islice(memo, count)):
        del memo[key]
