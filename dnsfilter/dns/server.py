"""UDP and TCP listeners: bytes in, bytes out, no application logic.

Each protocol object hands packets to a ``Handler`` (the resolver) and sends
whatever comes back. Answers the handler has at once (blocked, cached,
errors) are sent inside the callback; a pending answer (cache miss) becomes
a tracked task. Nothing raised by a packet escapes into the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol, cast

from dnsfilter.dns import wire
from dnsfilter.dns.acl import ClientAcl
from dnsfilter.dns.listenadvice import listen_advice
from dnsfilter.errors import ListenError

log = logging.getLogger(__name__)

Pending = Coroutine[Any, Any, bytes | None]

MAX_PENDING_PER_TCP = 64  # RFC 7766 6.2.1.1: pipelining, but bounded per connection
_TCP_BUFFER_LIMIT = 64 * 1024


class Handler(Protocol):
    @property
    def acl(self) -> ClientAcl: ...

    def handle(self, data: bytes, client: str, tcp: bool) -> bytes | None | Pending: ...


@dataclass(frozen=True, slots=True)
class ListenerLimits:
    """What one client, and all of them together, may hold of the listeners."""

    idle_timeout: float = 10.0  # TCP: seconds allowed between messages
    max_connections: int = 256
    max_per_client: int = 16  # TCP connections from one address (a phone opens a few)
    message_timeout: float = 5.0  # to finish a message from its first byte: trickling bytes do not extend it
    busy_idle_timeout: float = 1.0  # the idle timeout once over half the connections are used
    max_pending_udp: int = 4096  # UDP cache misses awaiting upstream, all clients
    max_pending_udp_per_client: int = 1024  # one address's share: room for a router forwarding a home
    udp_size: int = 1232  # our EDNS buffer size, in the SERVFAIL sent when over a limit


@dataclass(slots=True)
class ListenerStats:
    udp_overloaded: int = 0  # answered SERVFAIL: too many misses pending
    tcp_refused_connections: int = 0  # over the connection caps
    tcp_refused_clients: int = 0  # not in allow_clients
    tcp_slow_messages: int = 0  # closed: a message not finished in time
    handler_errors: int = 0


class _Holdings:
    """How many connections or pending misses each client address holds, under the limits in force."""

    __slots__ = ("by_client", "total", "limits")

    def __init__(self, limits: ListenerLimits) -> None:
        self.by_client: dict[str, int] = {}
        self.total = 0
        self.limits = limits

    def take(self, client: str, each: int, total: int) -> bool:
        held = self.by_client.get(client, 0)
        if held >= each or self.total >= total:
            return False
        self.by_client[client] = held + 1
        self.total += 1
        return True

    def release(self, client: str) -> None:
        self.total -= 1
        held = self.by_client.pop(client) - 1
        if held:
            self.by_client[client] = held


def _not_connected(data: bytes, addr: Any) -> None:
    raise ConnectionError("the UDP socket is not open")


class _Tasks:
    """Tasks for pending answers: kept so they can be awaited on shutdown."""

    def __init__(self) -> None:
        self.running: set[asyncio.Task[None]] = set()

    def start(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self.running.add(task)
        task.add_done_callback(self.running.discard)

    async def wait(self, timeout: float) -> None:
        if self.running:
            await asyncio.wait(list(self.running), timeout=timeout)
        for task in list(self.running):
            task.cancel()


class UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, handler: Handler, tasks: _Tasks, pending: _Holdings, stats: ListenerStats) -> None:
        self._handle = handler.handle
        self._tasks = tasks
        self._pending = pending
        self._stats = stats
        self._transport: asyncio.DatagramTransport | None = None
        self._send: Callable[[bytes, Any], None] = _not_connected

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio's: no isinstance check.
        self._transport = cast(asyncio.DatagramTransport, transport)
        self._send = self._transport.sendto

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        try:
            outcome = self._handle(data, addr[0], False)
        except Exception:
            self._stats.handler_errors += 1
            log.exception("internal error answering a UDP query from %s", addr[0])
            return
        if isinstance(outcome, bytes):
            self._send(outcome, addr)
        elif outcome is not None:
            limits = self._pending.limits
            if self._pending.take(addr[0], limits.max_pending_udp_per_client, limits.max_pending_udp):
                self._tasks.start(self._send_later(outcome, addr))
            else:
                outcome.close()  # not started: nothing was asked upstream
                self._overloaded(data, addr)

    def _overloaded(self, data: bytes, addr: tuple[Any, ...]) -> None:
        # SERVFAIL, not silence: the client tries its next server at once.
        self._stats.udp_overloaded += 1
        try:
            query = wire.parse_query(data)
        except wire.MalformedPacket:
            return
        self._send(wire.build_reply(data[:2], query, self._pending.limits.udp_size, wire.SERVFAIL), addr)

    async def _send_later(self, pending: Pending, addr: tuple[Any, ...]) -> None:
        try:
            reply = await pending
        except Exception:
            self._stats.handler_errors += 1
            log.exception("internal error answering a UDP query from %s", addr[0])
            return
        finally:
            self._pending.release(addr[0])
        if reply is not None and self._transport is not None and not self._transport.is_closing():
            self._transport.sendto(reply, addr)

    def error_received(self, exc: Exception) -> None:
        # ICMP errors for earlier replies (client went away): nothing to do.
        log.debug("UDP error: %s", exc)


class TcpProtocol(asyncio.Protocol):
    """RFC 7766: 2-byte length framing, pipelined queries answered as ready.
    One timer: the idle timeout between messages, a message's deadline within one."""

    def __init__(self, server: TcpServer) -> None:
        self._server = server
        self._transport: asyncio.Transport | None = None
        self._client = ""
        self._buffer = bytearray()
        self._pending: set[asyncio.Task[None]] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._paused = False
        self._write_paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        self._client = peer[0] if peer else ""
        if not self._server.admit(self, self._client):
            self._transport.abort()
            return
        self._transport.set_write_buffer_limits(high=_TCP_BUFFER_LIMIT)
        self._arm_idle()

    def connection_lost(self, exc: Exception | None) -> None:
        self._server.release(self, self._client)
        if self._timer is not None:
            self._timer.cancel()
        for task in self._pending:
            task.cancel()

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        starts_message = not buffer
        buffer += data
        while len(buffer) >= 2:
            length = (buffer[0] << 8) | buffer[1]
            if len(buffer) < 2 + length:
                break
            message = bytes(buffer[2 : 2 + length])
            del buffer[: 2 + length]
            starts_message = True
            self._answer(message)
        if len(buffer) > _TCP_BUFFER_LIMIT + 2:
            self._close()
            return
        if not buffer:
            self._arm_idle()
        elif starts_message:
            self._arm(self._server.per_client.limits.message_timeout)
        self._update_reading()

    def _answer(self, message: bytes) -> None:
        try:
            outcome = self._server.handler.handle(message, self._client, True)
        except Exception:
            self._server.stats.handler_errors += 1
            log.exception("internal error answering a TCP query from %s", self._client)
            return
        if outcome is None:
            return
        if isinstance(outcome, bytes):
            self._write(outcome)
            return
        task = asyncio.get_running_loop().create_task(self._answer_later(outcome))
        self._pending.add(task)
        self._server.tasks.running.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._pending.discard(task)
        self._server.tasks.running.discard(task)
        self._update_reading()
        if self._pending or self._transport is None or self._transport.is_closing():
            return
        if not self._buffer:
            self._arm_idle()
        elif self._timer is None:  # its deadline passed while we were answering
            self._arm(self._server.per_client.limits.message_timeout)

    async def _answer_later(self, pending: Pending) -> None:
        try:
            reply = await pending
        except Exception:
            self._server.stats.handler_errors += 1
            log.exception("internal error answering a TCP query from %s", self._client)
            return
        if reply is not None:
            self._write(reply)

    def _write(self, reply: bytes) -> None:
        transport = self._transport
        if transport is not None and not transport.is_closing():
            transport.write(len(reply).to_bytes(2, "big") + reply)

    def pause_writing(self) -> None:
        self._write_paused = True
        self._update_reading()

    def resume_writing(self) -> None:
        self._write_paused = False
        self._update_reading()

    def _update_reading(self) -> None:
        """Stop reading while the client has too many queries open or is not reading."""
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        should_pause = self._write_paused or len(self._pending) >= MAX_PENDING_PER_TCP
        if should_pause and not self._paused:
            transport.pause_reading()
            self._paused = True
        elif not should_pause and self._paused:
            transport.resume_reading()
            self._paused = False

    def _arm_idle(self) -> None:
        self._arm(self._server.idle_timeout())

    def _arm(self, timeout: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_later(timeout, self._expired)

    def _expired(self) -> None:
        # RFC 7766 6.2.3: close idle connections, but not with answers owed
        # (the last answer re-arms the timer).
        self._timer = None
        if self._pending:
            return
        if self._buffer:
            self._server.stats.tcp_slow_messages += 1
        self._close()

    def hurry(self, latest: float) -> None:
        """The server got busy: if quiet, close by ``latest`` (loop time)."""
        timer = self._timer
        if timer is not None and not self._buffer and timer.when() > latest:
            self._arm_idle()

    def _close(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.close()

    def shutdown(self) -> None:
        self._close()


class TcpServer:
    """Accepts connections: refuses clients outside the ACL at once, enforces
    the connection caps (all clients, and each address), tracks them."""

    def __init__(self, handler: Handler, limits: ListenerLimits, tasks: _Tasks, stats: ListenerStats) -> None:
        self.handler = handler
        self.tasks = tasks
        self.stats = stats
        self.connections: set[TcpProtocol] = set()
        self.per_client = _Holdings(limits)

    def admit(self, connection: TcpProtocol, client: str) -> bool:
        if not self.handler.acl.allows(client):
            self.stats.tcp_refused_clients += 1
            return False
        limits = self.per_client.limits
        if not self.per_client.take(client, limits.max_per_client, limits.max_connections):
            self.stats.tcp_refused_connections += 1
            return False
        self.connections.add(connection)
        if len(self.connections) * 2 in (limits.max_connections + 1, limits.max_connections + 2):
            # Just past half full: quiet connections given the long timeout go sooner.
            latest = asyncio.get_running_loop().time() + self.idle_timeout()
            for other in self.connections:
                other.hurry(latest)
        return True

    def release(self, connection: TcpProtocol, client: str) -> None:
        if connection in self.connections:  # else refused at accept: never counted
            self.connections.discard(connection)
            self.per_client.release(client)

    def idle_timeout(self) -> float:
        limits = self.per_client.limits
        if len(self.connections) * 2 > limits.max_connections:
            return min(limits.idle_timeout, limits.busy_idle_timeout)
        return limits.idle_timeout


class DnsListeners:
    """UDP+TCP sockets on a set of addresses, all feeding one Handler."""

    def __init__(self, handler: Handler, limits: ListenerLimits) -> None:
        self.stats = ListenerStats()
        self._tasks = _Tasks()
        self._tcp = TcpServer(handler, limits, self._tasks, self.stats)
        self._pending_udp = _Holdings(limits)
        self._handler = handler
        self._sockets: dict[tuple[str, int], tuple[asyncio.DatagramTransport, asyncio.Server]] = {}

    @property
    def bound(self) -> list[tuple[str, int]]:
        """The (host, port) pairs listened on, ports resolved."""
        return list(self._sockets)

    def set_limits(self, limits: ListenerLimits) -> None:
        """New limits apply to new connections, the next timer and the next UDP miss."""
        self._tcp.per_client.limits = limits
        self._pending_udp.limits = limits

    async def listen(self, host: str, port: int) -> tuple[str, int]:
        """Open UDP and TCP on host:port (port 0: the same free port for both)."""
        loop = asyncio.get_running_loop()
        attempts = 20 if port == 0 else 1
        for attempt in range(attempts):
            try:
                udp, _ = await loop.create_datagram_endpoint(
                    lambda: UdpProtocol(self._handler, self._tasks, self._pending_udp, self.stats),
                    local_addr=(host, port),
                )
            except OSError as error:
                raise ListenError(listen_advice(host, port, "UDP", error)) from error
            bound_port = udp.get_extra_info("sockname")[1]
            try:
                server = await loop.create_server(
                    lambda: TcpProtocol(self._tcp), host=host, port=bound_port, reuse_address=True
                )
            except OSError as error:
                udp.close()
                if port == 0 and attempt + 1 < attempts:
                    continue  # the free UDP port was taken for TCP: try another
                raise ListenError(listen_advice(host, bound_port, "TCP", error)) from error
            for sock in server.sockets:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._sockets[(host, bound_port)] = (udp, server)
            log.info("answering DNS on %s port %d (UDP and TCP)", host, bound_port)
            return host, bound_port
        raise ListenError(f"could not find a free port on {host} for both UDP and TCP")

    async def unlisten(self, host: str, port: int) -> None:
        """Stop answering on one address; other addresses are untouched."""
        udp, server = self._sockets.pop((host, port))
        server.close()
        udp.close()
        await server.wait_closed()
        log.info("no longer answering DNS on %s port %d", host, port)

    async def close(self, grace: float = 2.0) -> None:
        """Stop accepting, let answers in flight finish (bounded), close all."""
        for _udp, server in self._sockets.values():
            server.close()
        await self._tasks.wait(grace)
        for connection in list(self._tcp.connections):
            connection.shutdown()
        for udp, server in self._sockets.values():
            udp.close()
            await server.wait_closed()
        self._sockets.clear()
