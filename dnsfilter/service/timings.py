"""How often the running filter looks at things and how long it waits, in
seconds. The defaults suit a home; tests pass shorter ones."""

from __future__ import annotations

from dataclasses import dataclass, field

from dnsfilter.store.database import DatabaseWaits


@dataclass(frozen=True, slots=True)
class Timings:
    index_check: float = 30.0  # between looks for a newly compiled index
    device_record: float = 5.0  # between writes of the devices seen
    store_retry: float = 10.0  # before reading a failed database again
    policy_poll: float = 2.0  # between asks of SQLite for the policy version (PostgreSQL announces)
    log_max_backoff: float = 60.0  # longest pause between failed query-log writes
    log_first_prune: float = 60.0  # the first pruning comes soon after start, not an interval later
    log_prune: float = 3600.0  # between two prunings of the query log
    log_prune_step_pause: float = 0.05  # room for the writer between two pruning steps
    database: DatabaseWaits = field(default_factory=DatabaseWaits)
