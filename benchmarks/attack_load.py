"""The load of attacks.py: forked processes (a fast upstream, a UDP flood, a latency probe) and TCP clients.

Each load process runs its own event loop (uvloop when installed), sends on a
fixed schedule that never waits for answers, and sends its counts back to
the parent over a pipe once done. The TCP clients (one query per new
connection, and slowloris connections that never finish a message) run in
the parent's loop.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import random
import signal
import socket
import string
import struct
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from answering import LENGTH, serve_answers
from bench_servers import HOST, free_port
from dns_probe import RCODE_NAMES, build_query, read_reply

ALLOWED_SOURCE = "127.0.0.1"  # the attacking device
VICTIM_SOURCE = "127.0.0.4"  # another device of the home, asking while it attacks
ANSWER_TIMEOUT = 2.0  # seconds a client waits for one answer
GRACE_SECONDS = 5.0  # after the load: answers still on their way (upstream.timeout is 2 s)
FLOOD_SOCKETS = 8  # the flood's source ports: 16-bit IDs stay unique per socket
FAKE_ANSWER = bytes([192, 0, 2, 1])  # TEST-NET-1


def use_uvloop() -> str:
    """In a load process: the parent's SIGTERM and Ctrl-C handling undone; uvloop if installed."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the parent, which ends us
    try:
        import uvloop
    except ImportError:
        return "asyncio"
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return "uvloop"


def new_names(base: list[str], count: int) -> list[str]:
    """``count`` distinct names: ``base`` first, then random labels in front of its names."""
    if count <= len(base):
        return base[:count]
    rng = random.Random(53)
    letters = string.ascii_lowercase + string.digits
    extra = [
        "".join(rng.choices(letters, k=10)) + "." + base[i % len(base)]
        for i in range(count - len(base))
    ]
    return base + extra


def fast_upstream_main(conn: Connection) -> None:
    """A UDP and TCP upstream answering every A with 192.0.2.1 (TTL 3600), others NODATA; sends its port."""
    use_uvloop()

    def answer(query: bytes) -> bytes | None:
        end = 12
        while end < len(query) and query[end]:
            end += query[end] + 1
        end += 5  # root label, type, class
        if len(query) < 17 or end > len(query):
            return None
        is_a = query[end - 4 : end - 2] == b"\x00\x01"
        header = (
            query[:2]
            + bytes([0x80 | (query[2] & 0x01), 0x80])
            + b"\x00\x01"
            + (b"\x00\x01" if is_a else b"\x00\x00")
            + b"\x00\x00\x00\x00"
        )
        record = b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x0e\x10\x00\x04" + FAKE_ANSWER if is_a else b""
        return header + query[12:end] + record

    async def serve() -> None:
        port = free_port()
        await serve_answers(answer, HOST, port)
        conn.send(port)
        await asyncio.Event().wait()  # until terminated

    asyncio.run(serve())


def flood_main(
    conn: Connection, port: int, names: list[str], rate: int, start_at: float, seconds: int
) -> None:
    """Send ``rate`` new-name A queries a second over UDP for ``seconds``; sends back the counts."""
    loop_kind = use_uvloop()
    result = asyncio.run(_flood(port, names, rate, start_at, seconds))
    result["loop"] = loop_kind
    conn.send(result)


async def _flood(
    port: int, names: list[str], rate: int, start_at: float, seconds: int
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    sockets: list[socket.socket] = []
    outstanding: list[set[int]] = [set() for _ in range(FLOOD_SOCKETS)]
    rcodes: Counter[str] = Counter()
    errors: Counter[str] = Counter()

    def drain(index: int) -> None:
        sock = sockets[index]
        while True:
            try:
                wire = sock.recv(4096)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as error:  # ICMP port unreachable: the filter is gone
                errors[type(error).__name__] += 1
                return
            if len(wire) >= 4:
                query_id, flags = struct.unpack_from(">HH", wire)
                if query_id in outstanding[index]:
                    outstanding[index].discard(query_id)
                    rcodes[RCODE_NAMES.get(flags & 0xF, f"RCODE{flags & 0xF}")] += 1

    for index in range(FLOOD_SOCKETS):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setblocking(False)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        sock.bind((ALLOWED_SOURCE, 0))
        sock.connect((HOST, port))
        sockets.append(sock)
        loop.add_reader(sock.fileno(), drain, index)
    await asyncio.sleep(max(0.0, start_at - time.monotonic()))
    sent = 0
    total = rate * seconds
    start = time.monotonic()
    while sent < total:
        due = min(total, int(rate * (time.monotonic() - start)) + 1)
        while sent < due:
            index = sent % FLOOD_SOCKETS
            query_id = (sent // FLOOD_SOCKETS) & 0xFFFF
            try:
                sockets[index].send(build_query(names[sent % len(names)], query_id))
                outstanding[index].add(query_id)
            except OSError as error:
                errors[f"send {type(error).__name__}"] += 1
            sent += 1
        await asyncio.sleep(0.001)
    send_seconds = time.monotonic() - start
    await asyncio.sleep(GRACE_SECONDS)
    return {
        "sent": sent,
        "send_seconds": send_seconds,
        "rcodes": dict(rcodes),
        "answered": sum(rcodes.values()),
        "errors": dict(errors),
    }


def probe_main(
    conn: Connection, port: int, name: str, rate: int, start_at: float, seconds: float
) -> None:
    """Ask ``name`` over UDP from VICTIM_SOURCE ``rate`` times a second on a fixed schedule;
    sends back the latencies."""
    use_uvloop()
    conn.send(asyncio.run(_probe(port, name, rate, start_at, seconds)))


async def _probe(
    port: int, name: str, rate: int, start_at: float, seconds: float
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    sent_at: dict[int, float] = {}
    latencies: list[float] = []
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setblocking(False)
    sock.bind((VICTIM_SOURCE, 0))
    sock.connect((HOST, port))

    def drain() -> None:
        while True:
            try:
                wire = sock.recv(4096)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            now = time.monotonic()
            if len(wire) >= 2:
                started = sent_at.pop(LENGTH.unpack_from(wire)[0], None)
                if started is not None:
                    latencies.append(now - started)

    loop.add_reader(sock.fileno(), drain)
    total = int(rate * seconds)
    for index in range(total):
        await asyncio.sleep(max(0.0, start_at + index / rate - time.monotonic()))
        sent_at[index & 0xFFFF] = time.monotonic()
        try:
            sock.send(build_query(name, index & 0xFFFF))
        except OSError:
            pass
    await asyncio.sleep(GRACE_SECONDS)
    return {"sent": total, "latencies": latencies}


def start_child(target: Callable[..., None], *args: Any) -> tuple[BaseProcess, Connection]:
    ours, theirs = multiprocessing.get_context("fork").Pipe()
    child = multiprocessing.get_context("fork").Process(
        target=target, args=(theirs, *args), daemon=True
    )
    child.start()
    return child, ours


def start_flood(
    port: int, names: list[str], rate: int, seconds: int, start_at: float
) -> tuple[BaseProcess, Connection]:
    """A flood process: ``rate`` new names a second (drawn from ``names``) for ``seconds``."""
    return start_child(flood_main, port, new_names(names, rate * seconds), rate, start_at, seconds)


def receive(child: BaseProcess, conn: Connection, timeout: float) -> Any:
    """The child's one message (None if it sent nothing in time); the child is ended either way."""
    result = conn.recv() if conn.poll(timeout) else None
    child.join(2)
    if child.is_alive():
        child.terminate()
        child.join(2)
    return result


# --- TCP clients, in this process ---------------------------------------------------


async def ask_tcp(source: str, port: int, name: str) -> tuple[str, bytes | None]:
    """One query on a new connection: ("answered"|"REFUSED"|"reset"|"timed out"|..., addresses)."""
    query_id = random.randrange(1 << 16)
    query = build_query(name, query_id)
    writer = None
    try:
        async with asyncio.timeout(ANSWER_TIMEOUT):
            reader, writer = await asyncio.open_connection(HOST, port, local_addr=(source, 0))
            writer.write(LENGTH.pack(len(query)) + query)
            (length,) = LENGTH.unpack(await reader.readexactly(2))
            wire = await reader.readexactly(length)
    except TimeoutError:
        return "timed out", None
    except ConnectionRefusedError:
        return "connection refused", None
    except (OSError, asyncio.IncompleteReadError):
        return "reset or closed", None
    finally:
        if writer is not None:
            writer.close()
    reply = read_reply(wire, query_id)
    if reply is None:
        return "bad reply", None
    if reply.rcode == "REFUSED":
        return "REFUSED", None
    return "answered", ",".join(reply.addresses).encode() or reply.rcode.encode()


async def ask_on_schedule(
    source: str, port: int, names: Callable[[int], str], count: int, interval: float
) -> Counter[str]:
    """``count`` TCP queries, one every ``interval`` seconds (not waiting for the previous)."""
    start = time.monotonic()
    tasks = []
    for index in range(count):
        await asyncio.sleep(max(0.0, start + index * interval - time.monotonic()))
        tasks.append(asyncio.ensure_future(ask_tcp(source, port, names(index))))
    outcomes: Counter[str] = Counter()
    for outcome, detail in await asyncio.gather(*tasks):
        outcomes[outcome] += 1
        if detail is not None:
            outcomes[f"answer {detail.decode()}"] += 1
    return outcomes


@dataclass
class SlowStats:
    connected: int = 0
    connect_failed: int = 0
    closed: int = 0  # by the filter, before the end
    answered: int = 0  # the filter sent something (a FORMERR, say) instead of closing
    open_at_end: int = 0
    close_after: list[float] = field(default_factory=list)  # seconds from connecting, of each close


async def slow_client(source: str, port: int, drip: int, stop_at: float, stats: SlowStats) -> None:
    """Connect, then one byte of a never-finished 512-byte message every ``drip`` seconds."""
    message = LENGTH.pack(512) + build_query("www.example.com", random.randrange(1 << 16)).ljust(
        512, b"\0"
    )
    try:
        async with asyncio.timeout(5):
            reader, writer = await asyncio.open_connection(HOST, port, local_addr=(source, 0))
    except (OSError, TimeoutError):
        stats.connect_failed += 1
        return
    stats.connected += 1
    connected_at = time.monotonic()
    closed = asyncio.ensure_future(reader.read(1))
    pause = random.uniform(0, drip)  # the attackers' bytes spread over each drip period
    try:
        for byte in range(len(message)):
            done, _ = await asyncio.wait(
                {closed}, timeout=max(0.0, min(pause, stop_at - time.monotonic()))
            )
            pause = drip
            if done:
                if closed.exception() is None and closed.result():
                    stats.answered += 1
                else:
                    stats.closed += 1
                    stats.close_after.append(time.monotonic() - connected_at)
                return
            if time.monotonic() >= stop_at:
                stats.open_at_end += 1
                return
            writer.write(message[byte : byte + 1])
    finally:
        closed.cancel()
        writer.close()


async def sample_open_files(pid: int, stop: asyncio.Event) -> int:
    """The most descriptors ``pid`` had open, sampled every 0.2 s until ``stop``."""
    peak = 0
    while not stop.is_set():
        try:
            peak = max(peak, len(os.listdir(f"/proc/{pid}/fd")))
        except OSError:
            break
        await asyncio.sleep(0.2)
    return peak
