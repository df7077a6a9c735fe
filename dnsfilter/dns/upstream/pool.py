"""The upstream pool: ask the configured resolvers in order, with failover and health.

``UpstreamPool.resolve`` sends one question to the first usable upstream and
returns its checked answer bytes. A timeout, a network error or an unusable
reply is a failure and the next upstream is asked; SERVFAIL and REFUSED are
answers, but another upstream may do better, so it is asked too and the last
such answer is returned only when none does.

An upstream that fails ``failures_to_down`` times in a row is marked down
and skipped for a backoff (5 s, doubling to 60 s). When the backoff has
passed, one query asks it again in its configured place (the probe); success
brings it back. When every upstream is down they are all asked anyway, so
we never fail without trying, and ``all_down`` says so: the resolver then
answers from its stale cache at once. One resolve() takes at most
``attempts`` timeouts and never more than ``max_wait`` seconds in all (1.8 s,
RFC 8767's client response timer), shared between the upstreams it may ask,
so a client behind us gets SERVFAIL in time however many upstreams there are.

A local error (this machine out of file descriptors, buffers or ports) says
nothing about the upstream: no upstream's health changes, the next upstream
is tried (an address family this machine cannot reach concerns one upstream
only) and, when none answers, the question fails with ``LocalProblem``.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import math
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import aiohttp

from dnsfilter.dns import wire
from dnsfilter.dns.upstream.localerrors import LOCAL_ERRORS, LocalProblem, local_problem
from dnsfilter.dns.upstream.servers import UpstreamServer
from dnsfilter.dns.upstream.streams import StreamTransport
from dnsfilter.dns.upstream.transports import HttpsTransport, Transport, client_ssl_context
from dnsfilter.dns.upstream.udp import UdpTransport
from dnsfilter.errors import UpstreamError

log = logging.getLogger(__name__)

# Answers worth returning; any other RCODE (FORMERR, NOTIMP, ...) means this
# upstream cannot serve the query and counts as a failure.
_ANSWERS = frozenset({wire.NOERROR, wire.NXDOMAIN, wire.SERVFAIL, wire.REFUSED})
_TRY_ANOTHER = frozenset({wire.SERVFAIL, wire.REFUSED})
_FAILURES = (UpstreamError, OSError, aiohttp.ClientError)
# Seconds between two log lines for the same local error: once per episode, not per query.
_LOCAL_LOG_EVERY = 600.0
# Upper bounds (milliseconds) of the answer-time buckets counted per upstream, for metrics;
# the last bucket counts the answers slower than all of them.
LATENCY_BOUNDS_MS = (1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0)


@dataclass(frozen=True, slots=True)
class UpstreamStatus:
    """How one upstream is doing, for the web UI, metrics and logs."""

    address: str
    healthy: bool
    consecutive_failures: int
    last_error: str | None
    last_rtt_ms: float | None
    answers: int = 0  # since the pool was made (at start and at each reload)
    failures: int = 0
    # Answers by time taken: one count per bound of LATENCY_BOUNDS_MS, then the slower ones.
    latency_buckets: tuple[int, ...] = ()
    latency_sum_ms: float = 0.0


@dataclass(frozen=True, slots=True)
class Backoff:
    """When a failing upstream is skipped, and for how long."""

    failures_to_down: int = 3
    initial: float = 5.0
    maximum: float = 60.0


@dataclass(slots=True)
class _Health:
    """Mutable per-upstream state; ``down_until`` is None while it is up."""

    failures: int = 0
    down_until: float | None = None
    backoff: float = 0.0
    last_error: str | None = None
    last_rtt_ms: float | None = None
    answers: int = 0
    failures_total: int = 0
    latency: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BOUNDS_MS) + 1))
    latency_sum_ms: float = 0.0


class _Server:
    def __init__(self, config: UpstreamServer, transport: Transport) -> None:
        self.config = config
        self.name = str(config)
        self.transport = transport
        self.health = _Health()


class UpstreamPool:
    """Resolves questions through the configured upstreams, in order, with failover."""

    def __init__(
        self,
        servers: Sequence[UpstreamServer],
        timeout: float,
        udp_size: int = 1232,
        ssl_context: ssl.SSLContext | None = None,
        *,
        backoff: Backoff = Backoff(),
        attempts: float = 2.0,
        max_wait: float = 1.8,
        idle_timeout: float = 10.0,
        max_inflight: int = 100,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``clock`` drives the backoff only (tests inject one); deadlines use the loop's time."""
        self.timeout = timeout
        self.udp_size = udp_size
        self.backoff = backoff
        self.attempts = attempts
        self.max_wait = max_wait
        self._clock = clock
        self._idle_timeout = idle_timeout
        self._max_inflight = max_inflight
        self._session: aiohttp.ClientSession | None = None
        self._closed = False
        # Loading the system trust store reads files: done once, here, and only
        # when an encrypted upstream needs it.
        needs_tls = any(server.protocol in ("tls", "https") for server in servers)
        self._ssl_context = client_ssl_context(ssl_context) if needs_tls else None
        self._servers = [_Server(server, self._transport(server)) for server in servers]
        self._outage = False  # every upstream down: logged once until one answers again
        self._local_logged: dict[int, float] = {}  # errno -> when it was last logged (self._clock)

    def _transport(self, config: UpstreamServer) -> Transport:
        def stream(ssl_context: ssl.SSLContext | None) -> StreamTransport:
            return StreamTransport(
                config.host,
                config.port,
                self.udp_size,
                ssl_context,
                config.tls_name or config.host,
                self._idle_timeout,
                self._max_inflight,
            )

        if config.protocol == "udp":
            return UdpTransport(config.host, config.port, self.udp_size, stream(None))
        if config.protocol == "tcp":
            return stream(None)
        if config.protocol == "tls":
            return stream(self._ssl_context)
        if config.protocol == "https":
            return HttpsTransport(config.host, config.port, config.path, config.tls_name, self.udp_size, self._http)
        raise ValueError(f"unknown upstream protocol {config.protocol!r} in {config}")

    def _http(self) -> aiohttp.ClientSession:
        """The pool's one HTTP session, made on first use (it needs the running loop)."""
        if self._closed:
            raise UpstreamError("the upstream pool is closed")
        if self._session is None:
            connector = aiohttp.TCPConnector(ssl=self._ssl_context or True, keepalive_timeout=self._idle_timeout)
            self._session = aiohttp.ClientSession(
                connector=connector,
                cookie_jar=aiohttp.DummyCookieJar(),
                timeout=aiohttp.ClientTimeout(total=self.timeout),
            )
        return self._session

    async def resolve(self, question: bytes, do: bool = False, cd: bool = False) -> bytes:
        """The upstream's answer to ``question`` (wire name, type, class), checked.

        Raises UpstreamError when no upstream gave a usable answer in time.
        """
        return (await self.exchange(question, do, cd))[0]

    async def exchange(self, question: bytes, do: bool = False, cd: bool = False) -> tuple[bytes, str]:
        """Like ``resolve``, with the name of the upstream that answered (for the query log)."""
        if self._closed:
            raise UpstreamError("the upstream pool is closed")
        loop = asyncio.get_running_loop()
        budget = min(self.timeout * self.attempts, self.max_wait)
        deadline = loop.time() + budget
        fallback: tuple[bytes, str] | None = None
        local: LocalProblem | None = None
        problems: list[str] = []
        candidates = self._candidates()
        # The budget is shared by the upstreams it has room for, so a silent
        # first one leaves time to ask the next.
        share = min(self.timeout, budget / max(1, min(len(candidates), math.ceil(self.attempts))))
        for server in candidates:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            down_until = server.health.down_until
            self._claim_probe(server)
            started = loop.time()
            try:
                async with asyncio.timeout(min(share, remaining)):
                    answer = await server.transport.exchange(question, do, cd)
                if answer.rcode not in _ANSWERS:
                    raise UpstreamError(f"answered with RCODE {answer.rcode}")
            except TimeoutError:
                self._failed(server, "timed out", problems)
                continue
            except _FAILURES as error:
                local_error = local_problem(error)
                if local_error is not None:
                    server.health.down_until = down_until  # a probe that never left: still due
                    local = self._local(server, local_error)
                    local.__cause__ = error
                    continue
                self._failed(server, str(error) or type(error).__name__, problems)
                continue
            self._succeeded(server, (loop.time() - started) * 1000.0)
            if answer.rcode in _TRY_ANOTHER:
                fallback = (answer.data, server.name)
                continue
            return answer.data, server.name
        if fallback is not None:
            return fallback
        if local is not None:
            if not problems:  # only this machine failed: the resolver answers SERVFAIL
                raise local
            problems.append(str(local))
        if not self._servers:
            raise UpstreamError("no upstream DNS servers are configured; add one under upstream.servers")
        raise UpstreamError(
            "no upstream DNS server answered ("
            + "; ".join(problems or ["out of time"])
            + "); check this machine's network connection and the upstream servers in the configuration"
        )

    def all_down(self) -> bool:
        """Is every upstream marked down (so waiting for them is pointless)?"""
        return bool(self._servers) and all(server.health.down_until is not None for server in self._servers)

    def _local(self, server: _Server, error: OSError) -> LocalProblem:
        """The upstream's health stays as it was; each kind of error is logged
        once per ``_LOCAL_LOG_EVERY`` seconds, not once per query."""
        code = error.errno or 0
        message = f"this machine could not ask {server.name}: {error.strerror or error}; {LOCAL_ERRORS[code]}"
        now = self._clock()
        logged = self._local_logged.get(code)
        if logged is None or now - logged >= _LOCAL_LOG_EVERY:
            self._local_logged[code] = now
            log.error("%s (a local problem, not the upstream's; answering SERVFAIL meanwhile)", message)
        return LocalProblem(message)

    def _candidates(self) -> list[_Server]:
        """Upstreams to ask, in order: those up and those whose backoff has passed; else all."""
        now = self._clock()
        usable = [
            server
            for server in self._servers
            if server.health.down_until is None or now >= server.health.down_until
        ]
        return usable or list(self._servers)

    def _claim_probe(self, server: _Server) -> None:
        """About to ask a down upstream whose backoff has passed: this query is the probe."""
        health = server.health
        now = self._clock()
        if health.down_until is not None and now >= health.down_until:
            # Other queries skip it until this probe has had its chance.
            health.down_until = now + health.backoff

    def _failed(self, server: _Server, error: str, problems: list[str]) -> None:
        health = server.health
        health.failures += 1
        health.failures_total += 1
        health.last_error = error
        problems.append(f"{server.name}: {error}")
        now = self._clock()
        if health.down_until is not None:
            health.backoff = min(health.backoff * 2, self.backoff.maximum)
            health.down_until = now + health.backoff
        elif health.failures >= self.backoff.failures_to_down:
            health.backoff = self.backoff.initial
            health.down_until = now + health.backoff
            log.warning("upstream %s is down after %d failures: %s", server.name, health.failures, error)
            if not self._outage and self.all_down():
                self._outage = True
                log.warning(
                    "every upstream is down (%s); answering from the cache where it can",
                    "; ".join(f"{each.name}: {each.health.last_error}" for each in self._servers),
                )

    def _succeeded(self, server: _Server, rtt_ms: float) -> None:
        health = server.health
        if health.down_until is not None:
            log.info("upstream %s is answering again", server.name)
        if self._outage:
            self._outage = False
            log.warning("upstream %s answers again: the outage is over, answers come fresh again", server.name)
        health.failures = 0
        health.down_until = None
        health.backoff = 0.0
        health.last_rtt_ms = rtt_ms
        health.answers += 1
        health.latency[bisect.bisect_left(LATENCY_BOUNDS_MS, rtt_ms)] += 1
        health.latency_sum_ms += rtt_ms

    def status(self) -> list[UpstreamStatus]:
        return [
            UpstreamStatus(
                address=server.name,
                healthy=server.health.down_until is None,
                consecutive_failures=server.health.failures,
                last_error=server.health.last_error,
                last_rtt_ms=server.health.last_rtt_ms,
                answers=server.health.answers,
                failures=server.health.failures_total,
                latency_buckets=tuple(server.health.latency),
                latency_sum_ms=server.health.latency_sum_ms,
            )
            for server in self._servers
        ]

    async def aclose(self) -> None:
        """Close every connection and the HTTP session; nothing is left running."""
        self._closed = True
        await asyncio.gather(*(server.transport.aclose() for server in self._servers))
        session, self._session = self._session, None
        if session is not None:
            await session.close()
