"""Keeping the family policy in force: the control path of DESIGN.md section 3.

``PolicyKeeper`` reads the policy from the store (in a thread: the store
blocks), builds the immutable ``PolicySnapshot`` the resolver decides with,
and says when it must be built again: when the policy version changes (any
instance, any tool), at the next minute, and at the next moment a rule,
override or expiry changes something. It also records the devices the
resolver saw, so a new device appears for the parent and keeps its profile.

Nothing here is on the query path: the resolver only reads the snapshot it
was handed and fills a small dict of devices seen.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import TypeVar
from zoneinfo import ZoneInfo

from dnsfilter.lists.index import DomainIndex
from dnsfilter.policy.budgets import local_day
from dnsfilter.policy.identity import ClientId
from dnsfilter.policy.records import PolicyData
from dnsfilter.policy.snapshot import PolicySnapshot, build_snapshot
from dnsfilter.store.database import ChangeListener
from dnsfilter.store.policystore import PolicyStore

log = logging.getLogger(__name__)

T = TypeVar("T")

# A device seen again with nothing new is written at most this often.
DEVICE_REWRITE_INTERVAL = 60.0
# New devices recorded per minute, at most. A family adds a few at a time; a
# host sending from made-up addresses adds thousands. The rest are counted and
# still filtered with the new-devices profile; a real one keeps asking, so it
# is recorded in a later minute.
NEW_DEVICES_PER_MINUTE = 30
# How often devices nobody looked at and not seen for long are forgotten.
DEVICE_AGING_INTERVAL = 3600.0


class PolicyKeeper:
    """Builds snapshots from ``store`` for the family's ``zone``.

    ``deny`` holds names blocked for every profile (``blocking.deny``).
    """

    def __init__(
        self,
        store: PolicyStore,
        zone: ZoneInfo,
        deny: Iterable[str] = (),
        wall_clock: Callable[[], float] = time.time,
        poll_interval: float = 2.0,
    ) -> None:
        # How often SQLite is asked for the policy version (PostgreSQL announces changes).
        self.poll_interval = poll_interval
        self.store = store
        self.zone = zone
        self.deny = tuple(deny)
        self.wall_clock = wall_clock
        self._data: PolicyData | None = None
        self._listener: ChangeListener | None = None
        self._reported: set[str] = set()
        # key -> (ip, mac, name, when written): what the store already has.
        self._recorded: dict[str, tuple[str | None, str | None, str | None, float]] = {}
        # The minute (wall clock // 60) being counted, new devices recorded and not recorded in it.
        self._minute = 0
        self._created_this_minute = 0
        self._refused_this_minute = 0
        self.devices_not_recorded = 0  # since start, for the parent's diagnostics
        self._aged_at: float | None = None
        self.woken = asyncio.Event()
        # How the database answered the last read of the policy (its version is
        # asked every poll_interval), for the health check: no query of its own.
        self.read_at: float | None = None  # wall clock of the last read that worked
        self.read_error: str | None = None  # why the last read failed; None once one works
        self.snapshots_built = 0  # since start: on each change, each minute, each new index

    async def load(self, current_index: Callable[[], DomainIndex]) -> PolicySnapshot:
        """Read the whole policy now and build its snapshot on the index in
        use when the build is done (the lists may be swapped meanwhile)."""
        now = self._now()
        # With today's screen time (the family's calendar day), which budgets are judged by.
        self._data = data = await self._read(self.store.load_all, now, local_day(now, self.zone))
        index = current_index()
        # Off the loop: a big policy takes a second or more to build, and DNS answers meanwhile.
        snapshot = await asyncio.to_thread(self._build, data, index, now)
        if current_index() is not index:  # swapped during the build: build again on the lists in use
            snapshot = await asyncio.to_thread(self._build, data, current_index(), now)
        self.snapshots_built += 1
        return self._reported_problems(snapshot)

    async def _read(self, read: Callable[..., T], *args: object) -> T:
        """``read(*args)`` in a thread, its outcome noted (``read_at``, ``read_error``)."""
        try:
            value = await asyncio.to_thread(read, *args)
        except Exception as error:
            self.read_error = str(error) or type(error).__name__
            raise
        self.read_at, self.read_error = self.wall_clock(), None
        return value

    def rebuild(self, index: DomainIndex) -> PolicySnapshot:
        """The last policy read, on another index (the lists were recompiled)."""
        if self._data is None:
            raise RuntimeError("load() must run before rebuild()")
        self.snapshots_built += 1
        return self._reported_problems(self._build(self._data, index, self._now()))

    def _build(self, data: PolicyData, index: DomainIndex, now: datetime) -> PolicySnapshot:
        # Pure and touching nothing of the keeper's: load() runs it in a thread.
        return build_snapshot(data, index, self.zone, now, self.deny)

    def _reported_problems(self, snapshot: PolicySnapshot) -> PolicySnapshot:
        """``snapshot``, once each of its problems not reported before is in the log."""
        for problem in snapshot.problems:
            if problem not in self._reported:
                self._reported.add(problem)
                log.warning("%s", problem)
        return snapshot

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.wall_clock(), UTC)

    def seconds_until_due(self, snapshot: PolicySnapshot) -> float:
        """Time until ``snapshot`` goes out of date by itself: the next minute
        (expiries stored to the second, and the "each minute" promise) or the
        next scheduled change of any profile, whichever comes first."""
        now = self.wall_clock()
        due = (math.floor(now / 60) + 1) * 60.0
        for profile in snapshot.profiles.values():
            if profile.next_change is not None and profile.next_change < due:
                due = profile.next_change
        return max(0.0, due - now)

    async def wait_for_change(self, version: int, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the policy to differ from
        ``version`` or for ``woken`` to be set; True if either happened."""
        deadline = time.monotonic() + timeout
        while True:
            if self.woken.is_set():
                self.woken.clear()
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            await self._pause(min(left, self.poll_interval))
            if await self._read(self.store.policy_version) != version:
                return True

    async def _pause(self, seconds: float) -> None:
        """Sleep ``seconds``, or less when woken or (PostgreSQL) told of a change."""
        if self._listener is None and self.store.database.is_postgresql:
            self._listener = await asyncio.to_thread(self.store.database.listen_for_changes)
        waiters: list[asyncio.Future[object]] = [asyncio.ensure_future(self.woken.wait())]
        if self._listener is not None:
            waiters.append(asyncio.ensure_future(asyncio.to_thread(self._listener.wait, seconds)))
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    def forget_listener(self) -> None:
        """Drop the PostgreSQL listener (after a failure); the next wait makes a new one."""
        if self._listener is not None:
            try:
                self._listener.close()
            except Exception:  # noqa: BLE001 - the connection is already broken
                log.debug("closing a broken change listener failed", exc_info=True)
            self._listener = None

    def record_devices(self, devices: Iterable[ClientId]) -> bool:
        """Record devices seen (blocking: run in a thread). True when the
        policy changed (a new device, one whose address or name changed, or
        devices nobody looked at forgotten).

        At most ``NEW_DEVICES_PER_MINUTE`` new devices are recorded a minute
        (those with a MAC first); the rest are counted, and reported in one
        warning once the minute is over."""
        now = self.wall_clock()
        self._start_minute(now)
        changed = self._age_out(now)
        pending = [device for device in devices if not self._recorded_lately(device, now)]
        known = self.store.known_device_keys(device.key for device in pending) if pending else set()
        # Stable: a device the network names by MAC comes before a bare address.
        pending.sort(key=lambda device: device.key not in known and device.mac is None)
        for device in pending:
            if device.key not in known and self._created_this_minute >= NEW_DEVICES_PER_MINUTE:
                self._refused_this_minute += 1
                self.devices_not_recorded += 1
                continue
            seen = self.store.record_seen(
                device.key, ip=device.ip, mac=device.mac, name=device.name, now=datetime.fromtimestamp(now, UTC)
            )
            if seen.created:
                self._created_this_minute += 1
            changed = changed or seen.created or seen.changed
            if len(self._recorded) >= 4096:
                self._recorded.clear()
            self._recorded[device.key] = (device.ip, device.mac, device.name, now)
        return changed

    def _recorded_lately(self, device: ClientId, now: float) -> bool:
        known = self._recorded.get(device.key)
        return (
            known is not None
            and known[:3] == (device.ip, device.mac, device.name)
            and now - known[3] < DEVICE_REWRITE_INTERVAL
        )

    def _start_minute(self, now: float) -> None:
        """Count anew in a new minute; report the last one counted if devices went unrecorded."""
        minute = int(now // 60)
        if minute != self._minute:
            self._report_unrecorded()
            self._minute, self._created_this_minute = minute, 0

    def _report_unrecorded(self) -> None:
        if self._refused_this_minute:
            started = datetime.fromtimestamp(self._minute * 60, UTC).strftime("%Y-%m-%d %H:%M UTC")
            log.warning(
                "%d devices seen from new addresses in the minute from %s were not recorded "
                "(at most %d new devices are recorded a minute): a device may be sending from many addresses",
                self._refused_this_minute, started, NEW_DEVICES_PER_MINUTE,
            )  # fmt: skip
            self._refused_this_minute = 0

    def _age_out(self, now: float) -> bool:
        """Forget devices nobody looked at that are long unseen, or too many; at most once per interval."""
        if self._aged_at is not None and now - self._aged_at < DEVICE_AGING_INTERVAL:
            return False
        self._aged_at = now
        forgotten = self.store.age_out_devices(datetime.fromtimestamp(now, UTC))
        if forgotten:
            log.info("forgot %d new devices nobody has looked at, not seen for a while or too many", forgotten)
        return forgotten > 0

    def close(self) -> None:
        self._report_unrecorded()
        self.forget_listener()
