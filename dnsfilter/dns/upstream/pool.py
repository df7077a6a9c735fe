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
we never fail without trying. One resolve() takes at most ``attempts``
timeouts in all, so a client behind us is never left hanging.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import aiohttp

from dnsfilter.dns import wire
from dnsfilter.dns.upstream.servers import UpstreamServer
from dnsfilter.dns.upstream.streams import StreamTransport
from dnsfilter.dns.upstream.transports import (
    HttpsTransport,
    Transport,
    UdpTransport,
    client_ssl_context,
)
from dnsfilter.errors import UpstreamError

log = logging.getLogger(__name__)

# Answers worth returning; any other RCODE (FORMERR, NOTIMP, ...) means this
# upstream cannot serve the query and counts as a failure.
_ANSWERS = frozenset({wire.NOERROR, wire.NXDOMAIN, wire.SERVFAIL, wire.REFUSED})
_TRY_ANOTHER = frozenset({wire.SERVFAIL, wire.REFUSED})
_FAILURES = (UpstreamError, OSError, aiohttp.ClientError)


@dataclass(frozen=True, slots=True)
class UpstreamStatus:
    """How one upstream is doing, for the web UI, metrics and logs."""

    address: str
    healthy: bool
    consecutive_failures: int
    last_error: str | None
    last_rtt_ms: float | None


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
        idle_timeout: float = 10.0,
        max_inflight: int = 100,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``clock`` drives the backoff only (tests inject one); deadlines use the loop's time."""
        self.timeout = timeout
        self.udp_size = udp_size
        self.backoff = backoff
        self.attempts = attempts
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
        deadline = loop.time() + self.timeout * self.attempts
        fallback: tuple[bytes, str] | None = None
        problems: list[str] = []
        for server in self._candidates():
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            self._claim_probe(server)
            started = loop.time()
            try:
                async with asyncio.timeout(min(self.timeout, remaining)):
                    answer = await server.transport.exchange(question, do, cd)
                if answer.rcode not in _ANSWERS:
                    raise UpstreamError(f"answered with RCODE {answer.rcode}")
            except TimeoutError:
                self._failed(server, "timed out", problems)
                continue
            except _FAILURES as error:
                self._failed(server, str(error) or type(error).__name__, problems)
                continue
            self._succeeded(server, (loop.time() - started) * 1000.0)
            if answer.rcode in _TRY_ANOTHER:
                fallback = (answer.data, server.name)
                continue
            return answer.data, server.name
        if fallback is not None:
            return fallback
        if not self._servers:
            raise UpstreamError("no upstream DNS servers are configured; add one under upstream.servers")
        raise UpstreamError(
            "no upstream DNS server answered ("
            + "; ".join(problems or ["out of time"])
            + "); check this machine's network connection and the upstream servers in the configuration"
        )

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

    def _succeeded(self, server: _Server, rtt_ms: float) -> None:
        health = server.health
        if health.down_until is not None:
            log.info("upstream %s is answering again", server.name)
        health.failures = 0
        health.down_until = None
        health.backoff = 0.0
        health.last_rtt_ms = rtt_ms

    def status(self) -> list[UpstreamStatus]:
        return [
            UpstreamStatus(
                address=server.name,
                healthy=server.health.down_until is None,
                consecutive_failures=server.health.failures,
                last_error=server.health.last_error,
                last_rtt_ms=server.health.last_rtt_ms,
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
