"""Shared test doubles: a programmable fake upstream DNS server and a DNS client.

``FakeUpstream`` answers on 127.0.0.1, UDP and TCP on the same port, from
records given as dnslib RRs or zone-file text, and can be told to misbehave
(globally or for one name) in the ways a real upstream or an attacker does.
It counts what it receives so tests can wait for a query instead of sleeping.

``DnsClient`` sends queries (or any bytes) over UDP or TCP with a timeout and
returns the raw reply; it builds queries with dnslib.

dnslib is used freely here: tests are not the hot path.
"""

from __future__ import annotations

import asyncio
import collections
import os
import random
import socket
import ssl
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from dnslib import EDNS0, QTYPE, RCODE, RR, SOA, DNSLabel, DNSQuestion, DNSRecord

from dnsfilter.dns.replies import question_end

_LENGTH = struct.Struct(">H")
Address = tuple[str, int]


@dataclass(frozen=True, slots=True)
class Behaviour:
    """How the fake treats a query. Flags combine; ``only`` limits them to one transport.

    - ``delay``: seconds to wait before answering.
    - ``drop``: never answer.
    - ``truncate``: over UDP, TC=1 with no records (TCP still gets the full answer).
    - ``wrong_id`` / ``wrong_question``: the answer carries another ID / question name.
    - ``garbage``: the query ID, QR set, then random bytes.
    - ``pointer_loop``: one answer record whose owner name is a compression
      pointer to itself.
    - ``servfail`` / ``refused``: that RCODE, no records.
    - ``spoof_then_real``: first a copy with a wrong ID, then the real answer.
    """

    delay: float = 0.0
    drop: bool = False
    truncate: bool = False
    wrong_id: bool = False
    wrong_question: bool = False
    garbage: bool = False
    pointer_loop: bool = False
    servfail: bool = False
    refused: bool = False
    spoof_then_real: bool = False
    only: str | None = None  # "udp" or "tcp": the flags apply to that transport only


NORMAL = Behaviour()


def normal_name(name: object) -> str:
    """Lower case, no trailing dot: the key used for records and behaviours."""
    return str(name).rstrip(".").lower()


def parse_address(address: Address | str) -> Address:
    """("127.0.0.1", 53) from either a tuple or "127.0.0.1:53" / "[::1]:53"."""
    if isinstance(address, tuple):
        return address
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


class FakeUpstream:
    """An in-process DNS server on 127.0.0.1, UDP and TCP on one port number.

    Use ``async with FakeUpstream() as fake`` or ``await fake.start()`` /
    ``await fake.close()``. Program it with ``add()``, ``add_nxdomain()`` and
    ``behave()``; read ``query_counts``, ``transport_counts``, ``last_queries``.
    ``start_tls()`` adds a DNS-over-TLS listener with the same answers, and
    ``respond()`` answers raw bytes for any other front end (a DoH test server).
    """

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = 0
        self.records: dict[tuple[str, int], list[RR]] = {}
        self.nxdomain: set[str] = set()
        self.behaviour: Behaviour = NORMAL
        self.name_behaviour: dict[str, Behaviour] = {}
        self.query_counts: collections.Counter[tuple[str, int]] = collections.Counter()
        self.transport_counts: collections.Counter[str] = collections.Counter()
        self.last_queries: collections.deque[bytes] = collections.deque(maxlen=32)
        self.last_udp_peer: Address | None = None
        self.tcp_connections_accepted = 0
        self.tls_port = 0
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None
        self._tls: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._changed = asyncio.Event()

    # --- programming it ---------------------------------------------------------

    def add(self, *records: RR | str) -> None:
        """Add answers, as dnslib RRs or zone text ("example.org. 300 IN A 192.0.2.1")."""
        for item in records:
            rrs = RR.fromZone(item) if isinstance(item, str) else [item]
            for rr in rrs:
                self.records.setdefault((normal_name(rr.rname), rr.rtype), []).append(rr)

    def add_nxdomain(self, *names: str) -> None:
        self.nxdomain.update(normal_name(name) for name in names)

    def behave(self, name: str | None = None, **flags: Any) -> None:
        """Set the behaviour for ``name`` (or for every name when None); no flags resets it."""
        behaviour = Behaviour(**flags)
        if name is None:
            self.behaviour = behaviour
        elif behaviour == NORMAL:
            self.name_behaviour.pop(normal_name(name), None)
        else:
            self.name_behaviour[normal_name(name)] = behaviour

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def total_queries(self) -> int:
        return sum(self.transport_counts.values())

    @property
    def open_tcp_connections(self) -> int:
        """TCP and TLS connections open right now."""
        return len(self._writers)

    async def wait_for_queries(self, count: int, timeout: float = 5.0) -> None:
        """Return once at least ``count`` queries (all transports) have arrived."""
        await self.wait_for(lambda: self.total_queries >= count, timeout)

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        """Return once ``predicate()`` holds; checked whenever a query arrives or a connection closes."""
        async with asyncio.timeout(timeout):
            while not predicate():
                await self._changed.wait()

    def _notify(self) -> None:
        # A fresh Event per change wakes every waiter once, with no lock to take.
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    # --- running ------------------------------------------------------------------

    async def start(self) -> FakeUpstream:
        loop = asyncio.get_running_loop()
        udp_sock, tcp_sock = _bind_udp_and_tcp(self.host)
        self.port = udp_sock.getsockname()[1]
        self._udp, _ = await loop.create_datagram_endpoint(lambda: _UdpProtocol(self), sock=udp_sock)
        self._tcp = await asyncio.start_server(self._serve_tcp, sock=tcp_sock)
        return self

    async def start_tls(self, ssl_context: ssl.SSLContext) -> int:
        """Also serve DNS over TLS on 127.0.0.1 (its own port, returned and kept in ``tls_port``)."""

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await self._serve_tcp(reader, writer, "tls")

        self._tls = await asyncio.start_server(serve, self.host, 0, ssl=ssl_context)
        self.tls_port = self._tls.sockets[0].getsockname()[1]
        return self.tls_port

    async def close(self) -> None:
        if self._udp is not None:
            self._udp.close()
        for server in (self._tcp, self._tls):
            if server is not None:
                server.close()
        for writer in list(self._writers):
            writer.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for server in (self._tcp, self._tls):
            if server is not None:
                await asyncio.wait_for(server.wait_closed(), 5)
        self._udp = self._tcp = self._tls = None

    async def drop_tcp_connections(self) -> None:
        """Close every open TCP connection from the server side (clients must reconnect)."""
        for writer in list(self._writers):
            writer.close()
        for writer in list(self._writers):
            try:
                await asyncio.wait_for(writer.wait_closed(), 5)
            except (ConnectionError, asyncio.TimeoutError):
                pass

    async def __aenter__(self) -> FakeUpstream:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def _spawn(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve_tcp(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, transport: str = "tcp"
    ) -> None:
        self.tcp_connections_accepted += 1
        self._writers.add(writer)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            while True:
                (length,) = _LENGTH.unpack(await reader.readexactly(2))
                data = await reader.readexactly(length)
                # Each query in its own task: pipelined answers may come back out of order.
                self._spawn(self._answer_tcp(data, writer, transport))
        except (asyncio.IncompleteReadError, OSError, asyncio.CancelledError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()
            if task is not None:
                self._tasks.discard(task)
            self._notify()

    async def _answer_tcp(self, data: bytes, writer: asyncio.StreamWriter, transport: str) -> None:
        for packet in await self.respond(data, transport):
            if writer.is_closing():
                return
            writer.write(_LENGTH.pack(len(packet)) + packet)

    async def _answer_udp(self, data: bytes, peer: Address) -> None:
        self.last_udp_peer = peer
        for packet in await self.respond(data, "udp"):
            if self._udp is not None:
                self._udp.sendto(packet, peer)

    # --- answering ----------------------------------------------------------------

    async def respond(self, data: bytes, transport: str) -> list[bytes]:
        """The packets to send back for one query (none to stay silent).

        ``transport`` is counted in ``transport_counts``; "udp" is the one that truncates.
        """
        self.last_queries.append(data)
        try:
            request = DNSRecord.parse(data)
            if len(request.questions) != 1:
                raise ValueError("not one question")
            name, qtype = normal_name(request.q.qname), request.q.qtype
        except Exception:  # dnslib raises several types on bad input
            request, name, qtype = None, "<malformed>", 0
        self.query_counts[(name, qtype)] += 1
        self.transport_counts[transport] += 1
        self._notify()
        if request is None:
            return [data[:2] + b"\x80\x01" + bytes(8)] if len(data) >= 12 else []
        behaviour = self.name_behaviour.get(name, self.behaviour)
        if behaviour.only not in (None, transport):
            behaviour = NORMAL
        if behaviour.delay:
            await asyncio.sleep(behaviour.delay)
        if behaviour.drop:
            return []
        reply = self._reply(request, name, qtype, behaviour)
        if behaviour.truncate and transport == "udp":
            reply.rr, reply.auth = [], []
            reply.ar = [rr for rr in reply.ar if rr.rtype == QTYPE.OPT]
            reply.header.tc = 1
        packet = bytes(reply.pack())
        qid = request.header.id
        if behaviour.garbage:
            return [struct.pack(">HHH", qid, 0x8180, 1) + os.urandom(random.randint(4, 80))]
        if behaviour.pointer_loop:
            return [_pointer_loop(packet)]
        if behaviour.wrong_id:
            return [_with_id(packet, qid ^ 0x5A5A)]
        if behaviour.spoof_then_real:
            return [_with_id(packet, qid ^ 0x5A5A), packet]
        return [packet]

    def _reply(self, request: DNSRecord, name: str, qtype: int, behaviour: Behaviour) -> DNSRecord:
        reply = request.reply()  # QR, AA, RA set; ID and question copied (case kept)
        if behaviour.wrong_question:
            question = request.q
            reply.questions[0] = DNSQuestion(DNSLabel("wrong." + name), question.qtype, question.qclass)
        edns = [rr for rr in request.ar if rr.rtype == QTYPE.OPT]
        if edns:
            reply.add_ar(EDNS0(udp_len=1232, flags="do" if edns[0].edns_do else ""))
        if behaviour.servfail or behaviour.refused:
            reply.header.rcode = RCODE.SERVFAIL if behaviour.servfail else RCODE.REFUSED
            return reply
        # Follow CNAMEs we hold, as a recursive resolver would.
        seen: set[str] = set()
        while name not in seen:
            seen.add(name)
            direct = self.records.get((name, qtype), [])
            if direct:
                for rr in direct:
                    reply.add_answer(rr)
                return reply
            cname = self.records.get((name, QTYPE.CNAME), [])
            if not cname or qtype == QTYPE.CNAME:
                break
            reply.add_answer(cname[0])
            name = normal_name(cname[0].rdata.label)
        if name in self.nxdomain:
            reply.header.rcode = RCODE.NXDOMAIN
        if not reply.rr:
            reply.add_auth(_soa_for(name))
        return reply


def _soa_for(name: str) -> RR:
    zone = DNSLabel(name.split(".", 1)[-1] or name)
    rdata = SOA("ns.example.org.", "hostmaster.example.org.", (1, 3600, 600, 86400, 300))
    return RR(zone, QTYPE.SOA, ttl=300, rdata=rdata)


def _with_id(packet: bytes, qid: int) -> bytes:
    return struct.pack(">H", qid) + packet[2:]


def _pointer_loop(packet: bytes) -> bytes:
    """Header + question + one A record whose owner name points at itself."""
    flags = struct.unpack_from(">H", packet, 2)[0] & ~0x000F
    owner = question_end(packet)
    header = packet[:2] + struct.pack(">HHHHH", flags, 1, 1, 0, 0)
    record = struct.pack(">HHHIH", 0xC000 | owner, QTYPE.A, 1, 300, 4) + bytes((192, 0, 2, 1))
    return header + packet[12:owner] + record


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, fake: FakeUpstream) -> None:
        self.fake = fake

    def datagram_received(self, data: bytes, addr: Address) -> None:
        self.fake._spawn(self.fake._answer_udp(data, addr))


def can_bind(host: str) -> bool:
    """Whether this machine lets a UDP socket bind ``host`` (::1, 127.0.0.2...): tests that need it skip otherwise."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.bind((host, 0))
        return True
    except OSError:
        return False


def _bind_udp_and_tcp(host: str, attempts: int = 20) -> tuple[socket.socket, socket.socket]:
    """A UDP and a TCP socket bound to the same free port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(attempts):
        udp = socket.socket(family, socket.SOCK_DGRAM)
        udp.bind((host, 0))
        tcp = socket.socket(family, socket.SOCK_STREAM)
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            tcp.bind((host, udp.getsockname()[1]))
        except OSError:
            udp.close()
            tcp.close()
            continue
        tcp.listen(128)
        udp.setblocking(False)
        tcp.setblocking(False)
        return udp, tcp
    raise OSError(f"no port free for both UDP and TCP on {host}")


# --- the client side -------------------------------------------------------------


def make_query(
    name: str,
    qtype: str | int = "A",
    *,
    qid: int | None = None,
    edns: bool = False,
    do: bool = False,
    udp_size: int = 1232,
    mixed_case: bool = False,
) -> bytes:
    """A query packet. ``do`` implies EDNS; ``mixed_case`` applies 0x20 randomisation."""
    if mixed_case:
        name = "".join(c.upper() if random.getrandbits(1) else c.lower() for c in name)
    qtype_number = qtype if isinstance(qtype, int) else getattr(QTYPE, qtype)
    record = DNSRecord.question(name, QTYPE.get(qtype_number))
    record.header.id = random.getrandbits(16) if qid is None else qid
    if edns or do:
        record.add_ar(EDNS0(udp_len=udp_size, flags="do" if do else ""))
    return bytes(record.pack())


def raw_query(labels: Iterable[bytes], qtype: int = 1) -> bytes:
    """A query for a name given as raw labels: any bytes, as a device may send them."""
    qname = b"".join(bytes([len(label)]) + label for label in labels) + b"\x00"
    return struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0) + qname + struct.pack(">HH", qtype, 1)


def zone_reply(*records: str, name: str = "answer.example", qtype: str = "A", rcode: int = RCODE.NOERROR) -> bytes:
    """A reply to ``name`` carrying ``records`` given as zone text."""
    message = DNSRecord.question(name, qtype).reply()
    message.header.rcode = rcode
    for record in records:
        message.add_answer(*RR.fromZone(record))
    return bytes(message.pack())


def question_of(name: str, qtype: str | int = "A") -> bytes:
    """The wire question section alone (name, type, class IN) for ``name``."""
    packet = make_query(name, qtype, qid=0)
    return packet[12:]


def frame(packet: bytes) -> bytes:
    return _LENGTH.pack(len(packet)) + packet


class DnsClient:
    """Send DNS messages to a server over UDP or TCP and return raw replies."""

    def __init__(self, timeout: float = 2.0) -> None:
        self.timeout = timeout

    make_query = staticmethod(make_query)

    async def udp(self, packet: bytes, address: Address | str, timeout: float | None = None) -> bytes:
        """Send one datagram from a fresh socket; the first datagram back is returned."""
        host, port = parse_address(address)
        loop = asyncio.get_running_loop()
        replies: asyncio.Queue[bytes] = asyncio.Queue()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Collector(replies), remote_addr=(host, port)
        )
        try:
            transport.sendto(packet)
            return await asyncio.wait_for(replies.get(), timeout or self.timeout)
        finally:
            transport.close()

    async def udp_or_none(self, packet: bytes, address: Address | str, timeout: float = 0.3) -> bytes | None:
        """Like ``udp`` but None when nothing comes back (for packets that should be dropped)."""
        try:
            return await self.udp(packet, address, timeout)
        except asyncio.TimeoutError:
            return None

    async def tcp(self, packet: bytes, address: Address | str, timeout: float | None = None) -> bytes:
        """One query on a new TCP connection, 2-byte length framing."""
        replies = await self.tcp_pipeline([packet], address, timeout)
        return replies[0]

    async def tcp_pipeline(
        self, packets: Iterable[bytes], address: Address | str, timeout: float | None = None
    ) -> list[bytes]:
        """Send all ``packets`` on one connection at once; replies in the order they arrive."""
        host, port = parse_address(address)
        packets = list(packets)
        wait = timeout or self.timeout
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), wait)
        try:
            writer.write(b"".join(frame(p) for p in packets))
            await asyncio.wait_for(writer.drain(), wait)
            replies = []
            for _ in packets:
                (length,) = _LENGTH.unpack(await asyncio.wait_for(reader.readexactly(2), wait))
                replies.append(await asyncio.wait_for(reader.readexactly(length), wait))
            return replies
        finally:
            writer.close()
            try:
                await asyncio.wait_for(writer.wait_closed(), wait)
            except (ConnectionError, asyncio.TimeoutError):
                pass

    async def query(
        self, name: str, qtype: str = "A", address: Address | str = "", transport: str = "udp", **options: Any
    ) -> DNSRecord:
        """Build, send and parse: the convenient form for tests that want records."""
        packet = make_query(name, qtype, **options)
        send = self.udp if transport == "udp" else self.tcp
        return DNSRecord.parse(await send(packet, address))


class _Collector(asyncio.DatagramProtocol):
    def __init__(self, replies: asyncio.Queue[bytes]) -> None:
        self.replies = replies

    def datagram_received(self, data: bytes, addr: Address) -> None:
        self.replies.put_nowait(data)
