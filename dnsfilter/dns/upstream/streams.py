"""DNS over TCP and over TLS (DoT): one persistent, pipelined connection per upstream.

Queries share the connection, each with its own ID, and replies are matched
by ID in whatever order they come (RFC 7766 6.2.1.1). The connection is
reopened when it drops and closed after it has been idle for a while, so an
upstream that hangs up idle clients costs one reconnect, not an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import struct
from collections.abc import Callable
from dataclasses import dataclass

from dnsfilter.dns import replies, wire
from dnsfilter.dns.upstream.transports import Answer, check_reply, new_id
from dnsfilter.errors import UpstreamError

_LENGTH = struct.Struct(">H")


class ConnectionLost(ConnectionError):
    """The connection closed before our answer came back."""


@dataclass(frozen=True, slots=True)
class _Pending:
    waiter: asyncio.Future[Answer]
    question: bytes


class StreamTransport:
    """Queries to one upstream over TCP, or TLS when ``ssl_context`` is given."""

    def __init__(
        self,
        host: str,
        port: int,
        udp_size: int,
        ssl_context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
        idle_timeout: float = 10.0,
        max_inflight: int = 100,
    ) -> None:
        self.host = host
        self.port = port
        self.udp_size = udp_size
        self.ssl_context = ssl_context
        self.server_hostname = server_hostname
        self.idle_timeout = idle_timeout
        self.max_inflight = max_inflight
        self.connections_opened = 0
        self._connection: StreamConnection | None = None
        self._connecting = asyncio.Lock()
        self._closed = False

    @property
    def in_flight(self) -> int:
        """Queries sent on the current connection and still waiting for their answer."""
        connection = self._connection
        return connection.in_flight if connection is not None else 0

    async def exchange(self, question: bytes, do: bool, cd: bool) -> Answer:
        def build(qid: int) -> bytes:
            return replies.build_upstream_query(qid, question, self.udp_size, do, cd)

        connection, fresh = await self._connect()
        try:
            return await connection.exchange(build, question)
        except ConnectionLost:
            if fresh:
                raise
        # A reused connection may have been closed by the upstream just as we
        # wrote to it (idle timeout on its side): that is worth one retry.
        connection, _ = await self._connect()
        return await connection.exchange(build, question)

    async def _connect(self) -> tuple[StreamConnection, bool]:
        """The open connection, or a new one; True when it was just opened."""
        connection = self._connection
        if connection is not None and connection.usable:
            return connection, False
        async with self._connecting:
            connection = self._connection
            if connection is not None and connection.usable:
                return connection, False
            if self._closed:
                raise UpstreamError("the upstream pool is closed")
            self._connection = None
            if connection is not None:
                await connection.aclose()
            reader, writer = await asyncio.open_connection(
                self.host,
                self.port,
                ssl=self.ssl_context,
                server_hostname=self.server_hostname if self.ssl_context is not None else None,
            )
            self.connections_opened += 1
            self._connection = StreamConnection(reader, writer, self.idle_timeout, self.max_inflight)
            return self._connection, True

    async def aclose(self) -> None:
        self._closed = True
        connection, self._connection = self._connection, None
        if connection is not None:
            await connection.aclose()


class StreamConnection:
    """One open connection: writes framed queries, a reader task delivers the answers."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        idle_timeout: float,
        max_inflight: int,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._idle_timeout = idle_timeout
        self._slots = asyncio.Semaphore(max_inflight)
        self._pending: dict[int, _Pending] = {}
        self._closed = False
        self._loop = asyncio.get_running_loop()
        self._idle: asyncio.TimerHandle | None = None
        self._reader_task = self._loop.create_task(self._read_answers())
        self._arm_idle()

    @property
    def usable(self) -> bool:
        return not self._closed and not self._writer.is_closing()

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    async def exchange(self, build: Callable[[int], bytes], question: bytes) -> Answer:
        """Send the query ``build(id)`` and wait for its answer (the caller bounds the wait)."""
        async with self._slots:
            if not self.usable:
                raise ConnectionLost("connection closed")
            qid = new_id()
            while qid in self._pending:
                qid = new_id()
            waiter: asyncio.Future[Answer] = self._loop.create_future()
            self._pending[qid] = _Pending(waiter, question)
            self._disarm_idle()
            try:
                packet = build(qid)
                # No drain: at most max_inflight small queries can be buffered.
                self._writer.write(_LENGTH.pack(len(packet)) + packet)
                return await waiter
            finally:
                del self._pending[qid]
                if waiter.done() and not waiter.cancelled():
                    waiter.exception()  # retrieved, even when we were cancelled meanwhile
                if not self._pending:
                    self._arm_idle()

    async def _read_answers(self) -> None:
        reason = "connection closed by the upstream"
        try:
            while True:
                (length,) = _LENGTH.unpack(await self._reader.readexactly(2))
                self._deliver(await self._reader.readexactly(length))
        except asyncio.IncompleteReadError:
            pass
        except OSError as error:
            reason = f"connection failed: {error}"
        finally:
            self._close(reason)

    def _deliver(self, data: bytes) -> None:
        if len(data) < 2:
            return
        pending = self._pending.get((data[0] << 8) | data[1])
        if pending is None or pending.waiter.done():
            return  # late answer to a query that gave up waiting
        try:
            answer = check_reply(data, (data[0] << 8) | data[1], pending.question)
        except wire.MalformedPacket as error:
            pending.waiter.set_exception(UpstreamError(f"malformed answer: {error}"))
            return
        if answer is None:
            # Nobody off-path can inject into a stream: this is a broken upstream.
            pending.waiter.set_exception(UpstreamError("the answer is for another question"))
        else:
            pending.waiter.set_result(answer)

    def _arm_idle(self) -> None:
        self._disarm_idle()
        if not self._closed:
            self._idle = self._loop.call_later(self._idle_timeout, self._close_if_idle)

    def _disarm_idle(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None

    def _close_if_idle(self) -> None:
        self._idle = None
        if not self._pending:
            self._close("idle")

    def _close(self, reason: str) -> None:
        if self._closed:
            return
        self._closed = True
        self._disarm_idle()
        for pending in self._pending.values():
            if not pending.waiter.done():
                pending.waiter.set_exception(ConnectionLost(reason))
        # The reader task sees end of file and finishes by itself.
        self._writer.close()

    async def aclose(self) -> None:
        self._close("closed")
        self._writer.transport.abort()
        self._reader_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader_task
