"""Is the filter well, in plain words: from what its parts already know, with
no query of its own (the health check may be asked every few seconds).

- DNS: the listeners hold their sockets, and the event loop runs its timers
  on time (a loop held up by a long call holds up every answer);
- lists: the compiled blocklist index is mapped and has names;
- database: the policy keeper's last read worked, and is recent (it asks the
  policy version every few seconds);
- query log: the writer's last write worked, and its queue is below its bounds.

Anyone the page answers may ask, so nothing here is a secret: no database
address, no error text (the service's log has those).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from dataclasses import dataclass
from typing import Final

from dnsfilter.service.app import Service

LAG_LIMIT: Final = 1.0  # seconds a timer may run late before answers count as held up
LAG_WINDOW: Final = 10.0  # seconds the worst delay is remembered
READ_STALE: Final = 30.0  # seconds without a policy read that worked (it is asked every few seconds)
QUEUE_FULL: Final = 0.9  # share of the query log's bound past which it is falling behind
SEE_LOG: Final = "The filter's log says why (journalctl -u dnsfilter)."


class LoopWatch:
    """How late the event loop runs a timer set every ``every`` seconds: the worst
    delay of the last ``window`` seconds, and the current one if a timer is overdue."""

    def __init__(self, every: float = 0.5, window: float = LAG_WINDOW) -> None:
        self.every = every
        self.window = window
        self._lags: deque[tuple[float, float]] = deque(maxlen=math.ceil(window / every) + 2)
        self._due: float | None = None
        self._timer: asyncio.TimerHandle | None = None

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._due = loop.time() + self.every
        self._timer = loop.call_at(self._due, self._tick)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._due = None

    def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        if self._due is not None:
            self._lags.append((now, max(0.0, now - self._due)))
        self._due = now + self.every
        self._timer = loop.call_at(self._due, self._tick)

    def worst_lag(self) -> float:
        """Seconds: the longest a timer waited past its time lately (0 while not started)."""
        if self._due is None:
            return 0.0
        now = asyncio.get_running_loop().time()
        recent = [lag for at, lag in self._lags if at >= now - self.window]
        return max([*recent, now - self._due, 0.0])


@dataclass(frozen=True, slots=True)
class Check:
    name: str  # dns, lists, database, query_log
    ok: bool
    says: str  # plain words, for a parent


@dataclass(frozen=True, slots=True)
class Health:
    checks: tuple[Check, ...]

    @property
    def healthy(self) -> bool:
        return all(check.ok for check in self.checks)

    @property
    def problems(self) -> list[str]:
        return [check.says for check in self.checks if not check.ok]


def check_health(service: Service, watch: LoopWatch, now: float | None = None) -> Health:
    """Each part's state; ``now`` is the wall clock (POSIX seconds)."""
    wall = time.time() if now is None else now
    return Health((_dns(service, watch), _lists(service), _database(service, wall), _query_log(service)))


def _dns(service: Service, watch: LoopWatch) -> Check:
    bound = service.listeners.bound
    if not bound:
        return Check("dns", False, "DNS is not listening on any address: devices get no answers. " + SEE_LOG)
    lag = watch.worst_lag()
    if lag > LAG_LIMIT:
        return Check(
            "dns", False,
            f"DNS answers were held up for up to {lag:.1f} seconds in the last {watch.window:g} seconds: "
            "the filter was busy with something else.",
        )  # fmt: skip
    where = ", ".join(f"[{host}]:{port}" if ":" in host else f"{host}:{port}" for host, port in bound)
    return Check("dns", True, f"DNS answers on {where}.")


def _lists(service: Service) -> Check:
    names = len(service.blocklists.index)
    if not names:
        return Check(
            "lists", False, "No blocklist is loaded: sites are blocked only by the family's own deny lists. " + SEE_LOG
        )
    return Check("lists", True, f"The blocklists are loaded ({names} names).")


def _database(service: Service, now: float) -> Check:
    if service.store is None:
        return Check(
            "database", False,
            "The database has not answered since the filter started: every device gets the default "
            f"profile from the configuration until it does. {SEE_LOG}",
        )  # fmt: skip
    keeper = service.keeper
    if keeper.read_error is not None:
        return Check(
            "database", False,
            "The family's rules cannot be read from the database: DNS keeps the rules it read last "
            f"and tries again. {SEE_LOG}",
        )  # fmt: skip
    stale = max(READ_STALE, 5 * keeper.poll_interval)
    if keeper.read_at is None or now - keeper.read_at > stale:
        waited = "long" if keeper.read_at is None else f"{now - keeper.read_at:.0f} seconds"
        return Check(
            "database", False,
            f"The database has not answered for {waited}: DNS keeps the rules it read last. {SEE_LOG}",
        )  # fmt: skip
    return Check("database", True, "The family's rules are read from the database.")


def _query_log(service: Service) -> Check:
    buffer, writer = service.query_logging.buffer, service.query_logging.writer
    if buffer is None:
        return Check("query_log", True, "The query log is off (query_log.enabled is false).")
    waiting = len(buffer)
    if writer is not None and writer.last_error is not None:
        return Check(
            "query_log", False,
            f"The query log cannot be written to the database: {waiting} queries wait in memory, and the "
            f"oldest are dropped once it is full. DNS is not affected. {SEE_LOG}",
        )  # fmt: skip
    fill = max(waiting / buffer.limit, buffer.waiting_bytes / buffer.limit_bytes)
    if fill >= QUEUE_FULL:
        return Check(
            "query_log", False,
            f"The query log is falling behind: its queue is {fill:.0%} full ({waiting} queries), and the "
            "oldest are dropped once it is full. DNS is not affected.",
        )  # fmt: skip
    return Check("query_log", True, f"The query log is written (waiting to be written: {waiting}).")
