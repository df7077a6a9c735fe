"""Assembling and running the filter: config in, listening service out.

``from_config.py`` turns config sections into the pieces of the data path;
``Service`` owns them, starts and stops them, keeps the family policy going,
runs the query log (``querylogging.py``), and applies a reloaded config
without dropping queries. ``lifecycle.run`` runs it until it is stopped.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from pathlib import Path

from dnsfilter.config import Config, ListenAddress
from dnsfilter.config.values import parse_time_zone
from dnsfilter.dns.acl import ClientAcl
from dnsfilter.dns.cache import AnswerCache
from dnsfilter.dns.localzones import LocalZones
from dnsfilter.dns.resolver import Resolver
from dnsfilter.dns.server import DnsListeners
from dnsfilter.errors import DnsFilterError, StoreError
from dnsfilter.lists.blocklists import Blocklists
from dnsfilter.lists.catalog import BLOCKLISTS_DIR
from dnsfilter.lists.index import DomainIndex
from dnsfilter.lists.updater import ListUpdater, UpdateOutcome
from dnsfilter.policy.records import TIME_ZONE
from dnsfilter.policy.snapshot import (
    PolicySnapshot,
    configured_snapshot,
    empty_snapshot,
)
from dnsfilter.policy.tags import TagIndex
from dnsfilter.service.background import Background
from dnsfilter.service.defaultprofile import default_profile_tags, set_up_default_profile
from dnsfilter.service.discovery import read_client_sources
from dnsfilter.service.from_config import (
    answer_settings,
    build_upstreams,
    cache_limits,
    client_source_paths,
    tcp_limits,
    update_limits,
)
from dnsfilter.service.keeper import PolicyKeeper
from dnsfilter.service.querylogging import QueryLogging
from dnsfilter.service.timings import Timings, retried
from dnsfilter.store import PolicyStore, open_database
from dnsfilter.store.database import Database

log = logging.getLogger(__name__)

SHUTDOWN_GRACE = 2.0  # seconds for answers in flight to finish at stop
# A replaced index stays mapped this long: answers awaiting an upstream still
# check their CNAME chains with the policy they were decided by.
INDEX_RETIRE_DELAY = 65.0
DEVICES_WAITING = 4096  # devices seen kept while the database cannot be written, at most


class Service:
    """The running filter: listeners, resolver, upstream pools, blocklists,
    and the family policy kept current from the database."""

    def __init__(
        self,
        config: Config,
        blocklists_dir: Path = BLOCKLISTS_DIR,
        config_source: str = "config",
        timings: Timings = Timings(),
    ) -> None:
        self.config = config
        self.timings = timings
        self.blocklists = Blocklists(config.data_dir, blocklists_dir)
        self._config_source = config_source
        self._blocked = default_profile_tags(config.blocking, self.blocklists.catalog, config_source)
        self._upstreams = build_upstreams(config)
        self.query_logging = QueryLogging(config, self.blocklists, self._database, timings)
        self.resolver = Resolver(
            policy=empty_snapshot(),
            cache=AnswerCache(cache_limits(config)),
            upstreams=self._upstreams.public,
            local_zones=LocalZones(config.local.domain),
            local_upstreams=self._upstreams.local,
            acl=ClientAcl(config.dns.allow_clients),
            settings=answer_settings(config),
            forwarders=config.trusted_forwarders,
            query_log=self.query_logging.buffer,
        )
        self.listeners = DnsListeners(self.resolver, tcp_limits(config))
        self._background = Background()
        self._updater = ListUpdater(
            self.blocklists.blocking_sources, self.blocklists.store, limits=update_limits(config), zone=config.zone
        )
        self.store: PolicyStore | None = None
        self.lists_updating = False
        self._family_time_zone: object = None  # the web page's choice, read with the policy
        self._file_config = config  # as the file (and command line) says, before the family's choices
        self._keeper: PolicyKeeper | None = None
        # One policy read at a time, so an older read never replaces a newer one.
        self._policy_reading = asyncio.Lock()
        # Which socket serves each configured address (port 0 resolved).
        self._bound: dict[ListenAddress, tuple[str, int]] = {}

    @property
    def bound(self) -> list[tuple[str, int]]:
        """Addresses actually listened on, in config order."""
        return list(self._bound.values())

    @property
    def keeper(self) -> PolicyKeeper:
        if self._keeper is None:
            raise RuntimeError("the service has not started")
        return self._keeper

    def _use_policy(self, snapshot: PolicySnapshot) -> None:
        """Swap in ``snapshot``; an index no snapshot uses any more is unmapped later."""
        old = self.resolver.policy.index
        self.resolver.policy = snapshot
        if old is not snapshot.index:
            asyncio.get_running_loop().call_later(INDEX_RETIRE_DELAY, self._retire, old)

    def _retire(self, index: TagIndex) -> None:
        # The snapshots this service builds are on its blocklists' indexes.
        if isinstance(index, DomainIndex) and index is not self.blocklists.index and index is not self.resolver.policy.index:
            index.close()

    def _current_index(self) -> DomainIndex:
        return self.blocklists.index

    async def start(self) -> None:
        self.config.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            await self.blocklists.open()
            await self._open_policy()
            self.resolver.clients = await read_client_sources(client_source_paths(self.config))
            self._bound = await self._open(self.config.dns.listen)
        except DnsFilterError:
            await self._close_policy()
            await self.listeners.close(0)
            await self._upstreams.aclose()
            raise
        if not self.blocklists.is_current():
            self._background.start(self._recompile(), "recompile blocklists")
        self._background.start(self._watch_index(), "watch index")
        self.query_logging.start(self._background)
        if self._keeper is None:
            self._background.start(self._connect_policy_later(), "reach the policy database")
        else:
            self._start_policy_tasks()
        self._background.start(self._refresh_clients(), "refresh devices")
        if self.config.lists.auto_update:
            interval = self.config.lists.update_interval_hours * 3600
            self._background.start(self._updater.run_forever(interval, self._recompile), "update lists")

    async def _open_policy(self) -> None:
        """Open the database, set up a new one's default profile, read the policy.

        A shared PostgreSQL database that cannot be reached does not keep the
        home offline: until it answers, every device gets the default profile
        the configuration describes. A local SQLite file that cannot be opened
        is a setup mistake and stops the start with its explanation.
        """
        try:
            await self._connect_policy()
        except StoreError as error:
            if self.config.database_url.startswith("sqlite"):
                raise
            log.error(
                "%s Until it can be reached, every device gets the default profile from the "
                "configuration; trying again every %d seconds.", error, self.timings.store_retry,
            )
            self._use_policy(self._configured_default())

    async def _connect_policy(self) -> None:
        database = await asyncio.to_thread(
            open_database, self.config.database_url, data_dir=self.config.data_dir, waits=self.timings.database
        )
        try:
            store = PolicyStore(database)
            self._family_time_zone = await asyncio.to_thread(store.get_setting, TIME_ZONE)
            self.config = self._with_family_time_zone(self.config)
            self.query_logging.use(self.config)
            await asyncio.to_thread(set_up_default_profile, store, self._blocked, self.config.blocking)
            keeper = PolicyKeeper(
                store, self.config.zone, self.config.blocking.deny, poll_interval=self.timings.policy_poll
            )
            snapshot = await keeper.load(self._current_index)
        except BaseException:
            await asyncio.to_thread(database.close)
            raise
        self.store, self._keeper = store, keeper
        self._use_policy(snapshot)

    async def _connect_policy_later(self) -> None:
        while True:
            await asyncio.sleep(self.timings.store_retry)
            try:
                await self._connect_policy()
            except StoreError as error:
                log.debug("the policy database is still out of reach: %s", error)
                continue
            log.info("the policy database answers again; the family's own rules apply")
            self._start_policy_tasks()
            return

    def _database(self) -> Database | None:
        """The policy database once open: None until then (PostgreSQL may answer only after the start)."""
        return None if self.store is None else self.store.database

    def _start_policy_tasks(self) -> None:
        self._background.start(self._keep_policy_current(), "keep policy current")
        self._background.start(self._record_devices(), "record devices")

    def _configured_default(self) -> PolicySnapshot:
        """The configuration's default profile for every device (no database)."""
        blocking = self.config.blocking
        return configured_snapshot(
            self.blocklists.index, self._blocked, blocking.mode, blocking.deny, str(blocking.safe_search)
        )

    def _snapshot_on(self, index: DomainIndex) -> PolicySnapshot:
        """The policy in force, rebuilt on ``index``."""
        if self._keeper is None:
            return self._configured_default()
        return self._keeper.rebuild(index)

    async def _close_policy(self) -> None:
        if self._keeper is not None:
            await asyncio.to_thread(self._keeper.close)
        if self.store is not None:
            await asyncio.to_thread(self.store.database.close)

    async def _recompile(self) -> None:
        await self.blocklists.recompile()
        self._use_policy(self._snapshot_on(self.blocklists.index))

    async def _watch_index(self) -> None:
        """Pick up an index compiled by another process (dnsfilter lists update)."""
        while True:
            await asyncio.sleep(self.timings.index_check)
            if self.blocklists.reload_if_changed():
                log.info("using the newly compiled blocklists")
                self._use_policy(self._snapshot_on(self.blocklists.index))

    async def _keep_policy_current(self) -> None:
        """Rebuild the snapshot on every change, each minute and at each scheduled change. When the
        database cannot be read, DNS keeps the last one; the first read that works is in force at once."""
        keeper = self.keeper
        while True:
            snapshot = self.resolver.policy
            try:
                await keeper.wait_for_change(snapshot.version, keeper.seconds_until_due(snapshot))
                await self._read_policy()
            except StoreError as error:
                keeper.forget_listener()
                log.error("cannot read the family policy (%s); DNS keeps its rules and tries again shortly", error)
                await retried(self._read_policy, self.timings.policy_first_backoff, self.timings.policy_max_backoff)
                log.info("the family policy can be read again")

    async def _record_devices(self) -> None:
        """Write the devices seen; a new one is in the policy on the next rebuild. While the
        database cannot be written they wait here (reported once, at the start and the end)."""
        keeper, failing = self.keeper, False
        waiting = self.resolver.take_seen()
        while True:
            await asyncio.sleep(self.timings.device_record)
            seen = self.resolver.take_seen()
            waiting.update(seen if len(waiting) < DEVICES_WAITING else ())  # a flood: newer ones not kept
            if not waiting:
                continue
            try:
                if await asyncio.to_thread(keeper.record_devices, list(waiting.values())):
                    keeper.woken.set()
            except StoreError as error:
                if not failing:
                    log.warning("cannot record the devices seen (%s); they wait until the database works again", error)
                failing = True
                continue
            if failing:
                log.info("the devices seen can be recorded again")
            waiting.clear()
            failing = False

    async def _refresh_clients(self) -> None:
        """Re-read ARP and DHCP leases, so devices are known by MAC and name."""
        while True:
            await asyncio.sleep(self.config.devices.refresh_seconds)
            self.resolver.clients = await read_client_sources(client_source_paths(self.config))

    async def _open(self, addresses: tuple[ListenAddress, ...]) -> dict[ListenAddress, tuple[str, int]]:
        """Sockets for ``addresses``, reusing those already open for them."""
        bound: dict[ListenAddress, tuple[str, int]] = {}
        opened: list[tuple[str, int]] = []
        try:
            for address in addresses:
                current = self._bound.get(address)
                if current is None and (address.host, address.port) in self._bound.values():
                    current = (address.host, address.port)
                if current is None:
                    current = await self.listeners.listen(address.host, address.port)
                    opened.append(current)
                bound[address] = current
        except DnsFilterError:
            for host, port in opened:
                await self.listeners.unlisten(host, port)
            raise
        return bound

    async def reload(self, config: Config) -> None:
        """Apply a new config; on any error the running one stays in force.

        The database is the one opened at start: moving the policy to another
        database takes a restart.
        """
        self._file_config = config
        blocked = default_profile_tags(config.blocking, self.blocklists.catalog, self._config_source)
        upstreams = build_upstreams(config)
        try:
            bound = await self._open(config.dns.listen)
        except DnsFilterError:
            await upstreams.aclose()
            raise
        resolver = self.resolver
        old_upstreams = self._upstreams
        # Plain attribute swaps between awaits: no query sees a half-applied config.
        config = self._with_family_time_zone(config)
        self.config = config
        self.query_logging.use(config)
        self._blocked = blocked
        if cache_limits(config) != resolver.cache.limits:
            resolver.cache = AnswerCache(cache_limits(config))
        if self._keeper is not None:
            self._keeper.zone = config.zone
            self._keeper.deny = config.blocking.deny
        self._use_policy(self._snapshot_on(self.blocklists.index))
        resolver.upstreams = upstreams.public
        resolver.local_upstreams = upstreams.local
        resolver.local_zones = LocalZones(config.local.domain)
        resolver.acl = ClientAcl(config.dns.allow_clients)
        resolver.settings = answer_settings(config)
        resolver.forwarders = config.trusted_forwarders
        self.listeners.set_limits(tcp_limits(config))
        self._updater.limits = update_limits(config)
        self._updater.zone = config.zone
        self._upstreams = upstreams
        for host, port in set(self._bound.values()) - set(bound.values()):
            await self.listeners.unlisten(host, port)
        self._bound = bound
        await resolver.drain(SHUTDOWN_GRACE)
        await old_upstreams.aclose()
        log.info("configuration reloaded")

    def _with_family_time_zone(self, config: Config) -> Config:
        """``config`` with the time zone chosen on the web page, which wins over the file's."""
        zone = self._family_time_zone
        if isinstance(zone, str) and zone != config.time_zone:
            try:
                return dataclasses.replace(config, time_zone=parse_time_zone(zone))
            except ValueError as error:
                log.warning("the time zone saved from the web page cannot be used (%s); keeping %s", error, config.zone.key)
        return config

    async def use_time_zone(self, zone: str | None) -> None:
        """The family's time zone from the web page (None: back to the configuration's); saved
        in the database, applied at once like a reloaded config."""
        store = self.store
        if store is None:
            raise StoreError("the database cannot be reached")
        if zone is None:
            await asyncio.to_thread(store.delete_setting, TIME_ZONE)
        else:
            await asyncio.to_thread(store.set_setting, TIME_ZONE, zone)
        self._family_time_zone = zone
        await self.reload(self._file_config)

    async def _read_policy(self) -> None:
        async with self._policy_reading:
            self._use_policy(await self.keeper.load(self._current_index))

    async def apply_policy_now(self) -> None:
        """Someone changed the policy here (the web page): DNS answers by it when this returns,
        so the page's next view and the child's next question both see the change."""
        if self._keeper is None:
            return
        try:
            await self._read_policy()
        except StoreError as error:
            # The change is saved; the keeper's own loop reports the outage and retries.
            log.debug("applying a policy change at once failed: %s", error)
        # The keeper's wait is now for a snapshot already replaced: it works out its next due time again.
        self._keeper.woken.set()

    async def update_lists(self) -> None:
        """Download every list now and recompile when one changed (the web page's "update now")."""
        if self.lists_updating:
            return
        self.lists_updating = True
        try:
            results = await self._updater.update_now()
            if any(result.outcome is UpdateOutcome.UPDATED for result in results) or not self.blocklists.is_current():
                await self._recompile()
        finally:
            self.lists_updating = False

    async def stop(self) -> None:
        await self._background.stop()
        await self.listeners.close(SHUTDOWN_GRACE)
        await self.resolver.drain(SHUTDOWN_GRACE)
        await self._upstreams.aclose()
        await self.query_logging.finish()
        seen = self.resolver.take_seen()
        if seen and self._keeper is not None:
            try:
                await asyncio.to_thread(self._keeper.record_devices, seen.values())
            except StoreError as error:
                log.warning("the devices seen last could not be recorded: %s", error)
        await self._close_policy()
