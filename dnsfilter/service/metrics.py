"""The running filter's counters as Prometheus metrics, read when scraped.

The query path only adds one to plain integers (the resolver's counts, the
cache's hits, each upstream's answers and answer-time buckets, the log
queue's drops): no metric object, lock or allocation there. ``collect``
reads them when Prometheus asks, on the event loop between two answers, so
every number of one scrape is from the same moment. The lists' states need
files: ``refresh`` reads them in a thread, at most once a minute. The
database is never asked: its state is what the policy keeper and the log
writer last saw.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Final

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, InfoMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from dnsfilter import __version__
from dnsfilter.dns import counts
from dnsfilter.dns.upstream.pool import LATENCY_BOUNDS_MS, UpstreamPool
from dnsfilter.lists.catalog import Source
from dnsfilter.lists.liststore import SourceStatus, source_statuses
from dnsfilter.service.accounts import Accounts
from dnsfilter.service.app import Service
from dnsfilter.service.health import LoopWatch, check_health

log = logging.getLogger(__name__)

LIST_REFRESH: Final = 60.0  # seconds the lists' states read from their files are shown before a new read
_LE: Final = [str(bound / 1000) for bound in LATENCY_BOUNDS_MS] + ["+Inf"]  # seconds, as Prometheus writes them


def by_label(name: str, documentation: str, label: str, values: Mapping[str, float]) -> CounterMetricFamily:
    """A counter with one label, one sample per value of it."""
    family = CounterMetricFamily(name, documentation, labels=[label])
    for label_value, value in values.items():
        family.add_metric([label_value], value)
    return family


def counter(name: str, documentation: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, documentation, value=value)


def gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


@dataclass(frozen=True, slots=True)
class ListsRead:
    """The lists' states as last read from their files."""

    statuses: tuple[tuple[Source, SourceStatus], ...]
    current: bool  # the index in use was built from the list files there now
    at: float  # monotonic clock


class FilterCollector(Collector):
    """Every metric of one running filter. ``accounts`` gives the web page's sign-in
    checker once the database is open (None before)."""

    def __init__(self, service: Service, watch: LoopWatch, accounts: Callable[[], Accounts | None]) -> None:
        self.service = service
        self.watch = watch
        self.accounts = accounts
        self._lists: ListsRead | None = None
        self._reading = asyncio.Lock()

    async def refresh(self) -> None:
        """Read the lists' states again (in a thread) when the last read is over a minute old."""
        async with self._reading:
            lists = self._lists
            if lists is not None and time.monotonic() - lists.at < LIST_REFRESH:
                return
            try:
                self._lists = await asyncio.to_thread(self._read_lists)
            except Exception as error:  # noqa: BLE001 - the other metrics are still worth a scrape
                log.warning("the metrics show the lists as read before: their states cannot be read now (%s)", error)
                if lists is not None:  # tried again in a minute, not at every scrape
                    self._lists = dataclasses.replace(lists, at=time.monotonic())

    def _read_lists(self) -> ListsRead:
        blocklists = self.service.blocklists
        compiled = blocklists.index.metadata.get("sources")
        statuses = source_statuses(
            blocklists.catalog.sources, blocklists.store, compiled if isinstance(compiled, Mapping) else None
        )
        return ListsRead(tuple(statuses), blocklists.is_current(), time.monotonic())

    def collect(self) -> Iterator[Metric]:
        yield InfoMetricFamily("dnsfilter_build", "The version of dnsfilter running", value={"version": __version__})
        yield from self._queries()
        yield from self._upstreams()
        yield from self._query_log()
        yield from self._lists_metrics()
        yield from self._policy()
        yield from self._running()

    def _queries(self) -> Iterator[Metric]:
        resolver = self.service.resolver
        stats, cache = resolver.stats, resolver.cache
        yield by_label("dnsfilter_queries", "Queries received, by transport", "transport", counts.by_transport(stats))
        yield by_label(
            "dnsfilter_query_decisions",
            "Queries by what was decided: allowed, blocked, safe_search (rewritten to the engine's filtered "
            "host), bypass (answered by bypass protection), refused (not in dns.allow_clients), malformed, "
            "unsupported; an allowed query waiting for an upstream is counted once answered",
            "decision", counts.decisions(stats, cache),
        )  # fmt: skip
        yield by_label(
            "dnsfilter_query_types", "Queries by record type (types without a name as other)", "type",
            counts.by_type(stats),
        )  # fmt: skip
        yield counter("dnsfilter_cache_hits", "Answers served from the cache", cache.hits)
        yield counter("dnsfilter_cache_misses", "Queries the cache had no fresh answer for", cache.misses)
        yield counter(
            "dnsfilter_cache_stale_answers", "Expired answers served while no upstream answered (RFC 8767)",
            cache.stale_served,
        )  # fmt: skip
        yield gauge("dnsfilter_cache_entries", "Answers in the cache", len(cache))
        yield gauge("dnsfilter_cache_capacity", "Answers the cache may hold (cache.size)", cache.limits.size)
        yield counter(
            "dnsfilter_upstream_questions", "Questions asked upstream (clients asking the same at once share one)",
            stats.forwarded,
        )  # fmt: skip
        yield counter(
            "dnsfilter_upstream_unanswered", "Queries no upstream answered (answered stale or SERVFAIL)",
            stats.upstream_failures,
        )  # fmt: skip
        listeners = self.service.listeners.stats
        yield by_label(
            "dnsfilter_listener_events", "Queries and connections the listeners turned away or could not answer",
            "event",
            {
                "udp_overloaded": listeners.udp_overloaded,
                "tcp_refused_connection": listeners.tcp_refused_connections,
                "tcp_refused_client": listeners.tcp_refused_clients,
                "tcp_slow_message": listeners.tcp_slow_messages,
                "internal_error": listeners.handler_errors,
            },
        )  # fmt: skip

    def _upstreams(self) -> Iterator[Metric]:
        labels = ["upstream", "pool"]
        up = GaugeMetricFamily(
            "dnsfilter_upstream_up", "1 while the upstream answers, 0 while it is skipped as down", labels=labels
        )
        answers = CounterMetricFamily("dnsfilter_upstream_answers", "Answers from the upstream", labels=labels)
        failures = CounterMetricFamily(
            "dnsfilter_upstream_failures", "Questions the upstream did not answer in time or usably", labels=labels
        )
        in_a_row = GaugeMetricFamily(
            "dnsfilter_upstream_consecutive_failures", "Failures since its last answer", labels=labels
        )
        latency = HistogramMetricFamily(
            "dnsfilter_upstream_latency_seconds", "Time the upstream took to answer", labels=labels
        )
        resolver = self.service.resolver
        for pool_name, pool in (("public", resolver.upstreams), ("router", resolver.local_upstreams)):
            if not isinstance(pool, UpstreamPool):
                continue
            for status in pool.status():
                names = [status.address, pool_name]
                up.add_metric(names, 1 if status.healthy else 0)
                answers.add_metric(names, status.answers)
                failures.add_metric(names, status.failures)
                in_a_row.add_metric(names, status.consecutive_failures)
                cumulative, buckets = 0, []
                for le, count in zip(_LE, status.latency_buckets, strict=True):
                    cumulative += count
                    buckets.append((le, float(cumulative)))
                latency.add_metric(names, buckets, status.latency_sum_ms / 1000)
        yield from (up, answers, failures, in_a_row, latency)

    def _query_log(self) -> Iterator[Metric]:
        buffer, writer = self.service.query_logging.buffer, self.service.query_logging.writer
        if buffer is None:
            return
        yield gauge("dnsfilter_querylog_queue_entries", "Answered queries waiting to be written", len(buffer))
        yield gauge("dnsfilter_querylog_queue_bytes", "Memory they take (an estimate)", buffer.waiting_bytes)
        yield gauge("dnsfilter_querylog_queue_limit_entries", "Queries that may wait (queue_size)", buffer.limit)
        yield gauge("dnsfilter_querylog_queue_limit_bytes", "Memory they may take (queue_bytes)", buffer.limit_bytes)
        yield counter("dnsfilter_querylog_dropped", "Queries dropped from the log: the queue was full", buffer.dropped)
        if writer is not None:
            yield counter("dnsfilter_querylog_written", "Queries written to the database", writer.written)
            yield counter("dnsfilter_querylog_write_failures", "Writes that failed", writer.failures)
            yield gauge("dnsfilter_querylog_writing", "1 while the last write worked", 0 if writer.last_error else 1)

    def _lists_metrics(self) -> Iterator[Metric]:
        index = self.service.blocklists.index
        yield gauge("dnsfilter_blocklist_names", "Names in the compiled blocklist index in use", len(index))
        built = index.metadata.get("built_at")
        if isinstance(built, int | float):
            yield gauge("dnsfilter_blocklist_built_timestamp_seconds", "When the index in use was compiled", built)
        lists = self._lists
        if lists is None:
            return
        yield gauge(
            "dnsfilter_blocklist_current", "1 when the index in use was compiled from the lists there now",
            int(lists.current),
        )  # fmt: skip
        labels = ["list", "category"]
        entries = GaugeMetricFamily("dnsfilter_list_entries", "Names in each list's copy in use", labels=labels)
        updated = GaugeMetricFamily(
            "dnsfilter_list_updated_timestamp_seconds", "When each list was last downloaded (or found unchanged)",
            labels=labels,
        )  # fmt: skip
        failing = GaugeMetricFamily(
            "dnsfilter_list_update_failing", "1 while each list's last update failed", labels=labels
        )
        for source, status in lists.statuses:
            names = [source.id, source.category]
            entries.add_metric(names, status.entries)
            if status.last_success is not None:
                updated.add_metric(names, status.last_success)
            failing.add_metric(names, 0 if status.last_error is None else 1)
        yield from (entries, updated, failing)

    def _policy(self) -> Iterator[Metric]:
        service = self.service
        version = service.resolver.policy.version
        yield gauge("dnsfilter_policy_version", "Version of the family's rules DNS answers by", version)
        keeper = service.keeper if service.store is not None else None
        reading = keeper is not None and keeper.read_error is None
        yield gauge("dnsfilter_database_up", "1 while the last read of the family's rules worked", int(reading))
        if keeper is None:
            return
        if keeper.read_at is not None:
            yield gauge(
                "dnsfilter_database_last_read_timestamp_seconds", "When a read of the rules last worked", keeper.read_at
            )
        yield counter(
            "dnsfilter_policy_rebuilds", "Times the rules DNS answers by were built (changes, each minute, new lists)",
            keeper.snapshots_built,
        )  # fmt: skip
        yield counter(
            "dnsfilter_devices_not_recorded", "New devices not recorded: too many new ones in a minute",
            keeper.devices_not_recorded,
        )  # fmt: skip

    def _running(self) -> Iterator[Metric]:
        accounts = self.accounts()
        failed = {"wrong_password": 0, "throttled": 0}
        if accounts is not None:
            failed = {"wrong_password": accounts.failed_sign_ins, "throttled": accounts.throttled_sign_ins}
        yield by_label("dnsfilter_web_sign_ins_failed", "Sign-ins to the web page refused", "reason", failed)
        yield gauge(
            "dnsfilter_event_loop_lag_seconds", "Longest a timer of the filter waited past its time lately",
            self.watch.worst_lag(),
        )  # fmt: skip
        health = GaugeMetricFamily(
            "dnsfilter_health_ok", "1 while each part is well (as /healthz says)", labels=["check"]
        )
        for check in check_health(self.service, self.watch).checks:
            health.add_metric([check.name], int(check.ok))
        yield health
