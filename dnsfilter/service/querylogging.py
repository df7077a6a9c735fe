"""The running filter's query log: the buffer the resolver fills, the task
that writes it to the database, and the pruning that keeps it to its age.

``Service`` makes one ``QueryLogging``, hands its buffer to the resolver,
starts it with the service's other tasks and finishes it at stop, once the
last answers are in.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from dnsfilter.config import Config
from dnsfilter.dns.logbuffer import LogBuffer
from dnsfilter.errors import StoreError
from dnsfilter.lists.blocklists import Blocklists
from dnsfilter.service.background import Background
from dnsfilter.service.logbatches import BatchBuilder
from dnsfilter.service.logwriter import LogWriter
from dnsfilter.service.timings import Timings
from dnsfilter.store.database import Database
from dnsfilter.store.querylog.retention import prune

log = logging.getLogger(__name__)


class QueryLogging:
    """The query log of one service; ``buffer`` is None when the config turns logging off.

    ``database`` gives the open database at the moment of each write or
    pruning, or None while it cannot be reached (a PostgreSQL database may
    answer only after the start). A name's tags come from the list index in
    use at the time of the write.
    """

    def __init__(
        self,
        config: Config,
        blocklists: Blocklists,
        database: Callable[[], Database | None],
        timings: Timings = Timings(),
    ) -> None:
        self.timings = timings
        # Replaced on reload: the pruning follows the new ages and zone; the
        # buffer and the writer keep what they were started with.
        self.config = config
        settings = config.query_log
        self.buffer = LogBuffer(settings.queue_size, settings.queue_bytes) if settings.enabled else None
        self.writer: LogWriter | None = None
        self._blocklists = blocklists
        self._database = database
        self._writing: asyncio.Task[None] | None = None

    def use(self, config: Config) -> None:
        """A reloaded config: pruning follows its ages and zone, screen time its zone."""
        zone_changed = config.zone != self.config.zone
        self.config = config
        if zone_changed and self.writer is not None:
            self.writer.builder = BatchBuilder(config.instance_name, config.zone, self._tags_of)

    def start(self, background: Background) -> None:
        """Start writing, and pruning as one of ``background``'s tasks."""
        if self.buffer is None:
            return
        settings = self.config.query_log
        builder = BatchBuilder(self.config.instance_name, self.config.zone, self._tags_of)
        self.writer = LogWriter(
            self._database, self.buffer, builder, flush_seconds=settings.flush_seconds, batch_size=settings.batch_size,
            first_backoff=self.timings.log_first_backoff, max_backoff=self.timings.log_max_backoff,
        )
        # Not a background task: at stop it finishes its write and then writes the rest.
        self._writing = asyncio.get_running_loop().create_task(self.writer.run(), name="write query log")
        # The service's background tasks are stopped first at stop, the pruning with them.
        background.start(self._prune(), "prune query log")

    async def finish(self) -> None:
        """Stop the writer after its write under way and write what is left.

        Called once no answer can be added any more: the listeners closed and
        the answers in flight drained.
        """
        if self.writer is not None and self._writing is not None:
            await self.writer.finish(self._writing)

    def _tags_of(self, name: str) -> tuple[str, ...]:
        # Read at each call: a recompiled index brings its own tags.
        return self._blocklists.index.tag_names_of(name)

    async def _prune(self) -> None:
        """Keep the query log to its configured age (a first pass soon after start)."""
        await asyncio.sleep(self.timings.log_first_prune)
        while True:
            database = self._database()
            if database is not None:
                settings = self.config.query_log
                try:
                    removed = await prune(
                        database, datetime.now(UTC), self.config.zone, settings.retention_days, settings.aggregate_days,
                        pause=self.timings.log_prune_step_pause,
                    )
                    if removed:
                        log.info("query log: %d old entries removed", removed)
                except StoreError as error:
                    log.warning("could not remove old query log entries (%s); trying again later", error)
            await asyncio.sleep(self.timings.log_prune)
