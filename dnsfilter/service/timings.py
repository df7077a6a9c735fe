"""How often the running filter looks at things and how long it waits, in
seconds. The defaults suit a home; tests pass shorter ones."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field

from dnsfilter.errors import StoreError
from dnsfilter.store.database import DatabaseWaits

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Timings:
    index_check: float = 30.0  # between looks for a newly compiled index
    device_record: float = 5.0  # between writes of the devices seen
    store_retry: float = 10.0  # before trying to reach a database not reached at start again
    # After a failed policy read, the next ones come this long apart, doubling up to
    # the most: the rules read during an outage are in force seconds after it ends.
    policy_first_backoff: float = 0.5
    policy_max_backoff: float = 5.0
    policy_poll: float = 2.0  # between asks of SQLite for the policy version (PostgreSQL announces)
    # Between failed query-log writes: short, so the log resumes seconds after an outage.
    log_first_backoff: float = 0.5
    log_max_backoff: float = 5.0
    log_first_prune: float = 60.0  # the first pruning comes soon after start, not an interval later
    log_prune: float = 3600.0  # between two prunings of the query log
    log_prune_step_pause: float = 0.05  # room for the writer between two pruning steps
    database: DatabaseWaits = field(default_factory=DatabaseWaits)


def backoff(first: float, most: float) -> Iterator[float]:
    """Pauses between retries: ``first``, doubling each time, never more than ``most``."""
    pause = min(first, most)
    while True:
        yield pause
        pause = min(most, pause * 2)


async def retried(attempt: Callable[[], Awaitable[object]], first: float, most: float) -> None:
    """Await ``attempt()`` after each pause of ``backoff(first, most)`` until it raises no StoreError."""
    for pause in backoff(first, most):
        await asyncio.sleep(pause)
        try:
            await attempt()
        except StoreError as error:
            log.debug("still failing: %s", error)
            continue
        return
