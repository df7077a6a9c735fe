"""UDP and TCP listeners: bytes in, bytes out, no application logic.

Each protocol object hands packets to a ``Handler`` (the resolver) and sends
whatever comes back. Answers the handler has at once (blocked, cached,
errors) are sent inside the callback; a pending answer (cache miss) becomes
a tracked task. Nothing raised by a packet escapes into the event loop.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol, cast

from dnsfilter.errors import ListenError

log = logging.getLogger(__name__)

Pending = Coroutine[Any, Any, bytes | None]

MAX_PENDING_UDP = 4096  # cache misses awaiting upstream across all UDP clients
MAX_PENDING_PER_TCP = 64  # RFC 7766 6.2.1.1: pipelining, but bounded per connection
_TCP_BUFFER_LIMIT = 64 * 1024


class Handler(Protocol):
    def handle(self, data: bytes, client: str, tcp: bool) -> bytes | None | Pending: ...


@dataclass(frozen=True, slots=True)
class TcpLimits:
    idle_timeout: float = 10.0
    max_connections: int = 256


@dataclass(slots=True)
class ListenerStats:
    udp_dropped_overload: int = 0
    tcp_refused_connections: int = 0
    handler_errors: int = 0


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
    def __init__(self, handler: Handler, tasks: _Tasks, stats: ListenerStats) -> None:
        self._handle = handler.handle
        self._tasks = tasks
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
        elif outcome is None:
            return
        elif len(self._tasks.running) >= MAX_PENDING_UDP:
            outcome.close()
            self._stats.udp_dropped_overload += 1
        else:
            self._tasks.start(self._send_later(outcome, addr))

    async def _send_later(self, pending: Pending, addr: tuple[Any, ...]) -> None:
        try:
            reply = await pending
        except Exception:
            self._stats.handler_errors += 1
            log.exception("internal error answering a UDP query from %s", addr[0])
            return
        if reply is not None and self._transport is not None and not self._transport.is_closing():
            self._transport.sendto(reply, addr)

    def error_received(self, exc: Exception) -> None:
        # ICMP errors for earlier replies (client went away): nothing to do.
        log.debug("UDP error: %s", exc)


class TcpProtocol(asyncio.Protocol):
    """RFC 7766: 2-byte length framing, pipelined queries answered as ready."""

    def __init__(self, server: TcpServer) -> None:
        self._server = server
        self._transport: asyncio.Transport | None = None
        self._client = ""
        self._buffer = bytearray()
        self._pending: set[asyncio.Task[None]] = set()
        self._idle: asyncio.TimerHandle | None = None
        self._paused = False
        self._write_paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        if not self._server.admit(self):
            self._transport.abort()
            return
        peer = transport.get_extra_info("peername")
        self._client = peer[0] if peer else ""
        self._transport.set_write_buffer_limits(high=_TCP_BUFFER_LIMIT)
        self._arm_idle()

    def connection_lost(self, exc: Exception | None) -> None:
        self._server.release(self)
        if self._idle is not None:
            self._idle.cancel()
        for task in self._pending:
            task.cancel()

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        buffer = self._buffer
        while len(buffer) >= 2:
            length = (buffer[0] << 8) | buffer[1]
            if len(buffer) < 2 + length:
                break
            message = bytes(buffer[2 : 2 + length])
            del buffer[: 2 + length]
            self._answer(message)
        if len(buffer) > _TCP_BUFFER_LIMIT + 2:
            self._close()
            return
        self._arm_idle()
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
        self._arm_idle()

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
        if self._idle is not None:
            self._idle.cancel()
        loop = asyncio.get_running_loop()
        self._idle = loop.call_later(self._server.limits.idle_timeout, self._idle_expired)

    def _idle_expired(self) -> None:
        # RFC 7766 6.2.3: close idle connections, but not with answers owed.
        if self._pending:
            self._arm_idle()
        else:
            self._close()

    def _close(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.close()

    def shutdown(self) -> None:
        self._close()


class TcpServer:
    """Accepts connections, enforces the connection cap, tracks them."""

    def __init__(self, handler: Handler, limits: TcpLimits, tasks: _Tasks, stats: ListenerStats) -> None:
        self.handler = handler
        self.limits = limits
        self.tasks = tasks
        self.stats = stats
        self.connections: set[TcpProtocol] = set()

    def admit(self, connection: TcpProtocol) -> bool:
        if len(self.connections) >= self.limits.max_connections:
            self.stats.tcp_refused_connections += 1
            return False
        self.connections.add(connection)
        return True

    def release(self, connection: TcpProtocol) -> None:
        self.connections.discard(connection)


class DnsListeners:
    """UDP+TCP sockets on a set of addresses, all feeding one Handler."""

    def __init__(self, handler: Handler, limits: TcpLimits) -> None:
        self.stats = ListenerStats()
        self._tasks = _Tasks()
        self._tcp = TcpServer(handler, limits, self._tasks, self.stats)
        self._handler = handler
        self._sockets: dict[tuple[str, int], tuple[asyncio.DatagramTransport, asyncio.Server]] = {}

    @property
    def bound(self) -> list[tuple[str, int]]:
        """The (host, port) pairs listened on, ports resolved."""
        return list(self._sockets)

    def set_limits(self, limits: TcpLimits) -> None:
        """New TCP limits apply to new connections and the next idle check."""
        self._tcp.limits = limits

    async def listen(self, host: str, port: int) -> tuple[str, int]:
        """Open UDP and TCP on host:port (port 0: the same free port for both)."""
        loop = asyncio.get_running_loop()
        attempts = 20 if port == 0 else 1
        for attempt in range(attempts):
            try:
                udp, _ = await loop.create_datagram_endpoint(
                    lambda: UdpProtocol(self._handler, self._tasks, self.stats),
                    local_addr=(host, port),
                )
            except OSError as error:
                raise ListenError(_listen_advice(host, port, "UDP", error)) from error
            bound_port = udp.get_extra_info("sockname")[1]
            try:
                server = await loop.create_server(
                    lambda: TcpProtocol(self._tcp), host=host, port=bound_port, reuse_address=True
                )
            except OSError as error:
                udp.close()
                if port == 0 and attempt + 1 < attempts:
                    continue  # the free UDP port was taken for TCP: try another
                raise ListenError(_listen_advice(host, bound_port, "TCP", error)) from error
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


# The default DNS port for a try without root (dns.listen); 5353 is avahi's mDNS port.
TRY_PORT = 5300
MDNS_PORT = 5353


def _listen_advice(host: str, port: int, transport: str, error: OSError) -> str:
    # uvloop wraps the bind's own error in one that has no errno.
    if error.errno is None and isinstance(error.__cause__, OSError):
        error = error.__cause__
    text = f"cannot answer DNS on {host} port {port} ({transport}): {error.strerror or error}."
    if error.errno == errno.EADDRINUSE:
        if port == MDNS_PORT:
            text += " Port 5353 is multicast DNS, which avahi-daemon holds on Raspberry Pi OS and Ubuntu."
        else:
            text += " Another program uses this port: if it is a DNS server (dnsmasq, systemd-resolved, Pi-hole), stop it."
        free = _free_port(host)
        if free is not None:
            text += f" Port {free} is free here: run with --listen {_address(host, free)} or set it in dns.listen."
        return text
    if port < 1024:
        text += (
            " Ports below 1024 need root or the CAP_NET_BIND_SERVICE capability"
            f" (the systemd unit grants it); or use a port such as {TRY_PORT} to try it out."
        )
    return text


def _free_port(host: str) -> int | None:
    """A port near TRY_PORT where both UDP and TCP can listen on ``host`` now, to suggest."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for port in range(TRY_PORT, TRY_PORT + 20):
        try:
            with socket.socket(family, socket.SOCK_DGRAM) as udp, socket.socket(family, socket.SOCK_STREAM) as tcp:
                udp.bind((host, port))
                tcp.bind((host, port))
        except OSError:
            continue
        return port
    return None


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
