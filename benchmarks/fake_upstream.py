"""A fake authoritative upstream for benchmarks, run as its own process.

It answers, over UDP and TCP on one port of 127.0.0.1:

- A for every name in the ``--names`` file (one per line), with a fixed
  address derived from the name and TTL ``--ttl`` (3600 by default), so a
  resolver that caches it never has to ask again during a benchmark;
- any other type for those names with NOERROR, no answer, and an SOA in the
  authority section (NODATA);
- any other name with NXDOMAIN and an SOA.

When both sockets are bound it prints ``READY <port>`` on stdout, so the
parent knows the port when it asked for port 0. SIGTERM or SIGINT stop it.

    python benchmarks/fake_upstream.py --names names.txt [--port 0]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import signal
import socket
import struct
import sys
from pathlib import Path
from typing import cast

from dnslib import QTYPE, RCODE, RR, SOA, A, DNSLabel, DNSRecord

SOA_TTL = 300
_LENGTH_PREFIX = struct.Struct(">H")


class Zone:
    """The names we are authoritative for and how to answer a query."""

    def __init__(self, names: set[str], ttl: int) -> None:
        self.names = names
        self.ttl = ttl

    def answer(self, wire: bytes) -> bytes | None:
        """The reply to ``wire``, or None when it is not a DNS query we can read."""
        try:
            request = DNSRecord.parse(wire)
        except Exception:  # noqa: BLE001 - dnslib raises many unrelated types on bad input
            return None
        reply = request.reply(ra=0, aa=1)
        if not request.questions:
            reply.header.rcode = RCODE.FORMERR
            return bytes(reply.pack())
        question = request.q
        name = str(question.qname).rstrip(".").lower()
        if name not in self.names:
            reply.header.rcode = RCODE.NXDOMAIN
            reply.add_auth(self._soa(name))
        elif question.qtype == QTYPE.A:
            reply.add_answer(
                RR(question.qname, QTYPE.A, ttl=self.ttl, rdata=A(address_for(name)))
            )
        else:
            reply.add_auth(self._soa(name))
        return bytes(reply.pack())

    def _soa(self, name: str) -> RR:
        zone = DNSLabel(name.split(".", 1)[-1] or name)
        rdata = SOA(
            mname=DNSLabel("ns.invalid"),
            rname=DNSLabel("hostmaster.invalid"),
            times=(1, 3600, 600, 86400, SOA_TTL),
        )
        return RR(zone, QTYPE.SOA, ttl=SOA_TTL, rdata=rdata)


def address_for(name: str) -> str:
    """A stable address in 198.18.0.0/15 (RFC 2544, benchmarking) for ``name``."""
    digest = hashlib.blake2s(name.encode(), digest_size=3).digest()
    return f"198.{18 + (digest[0] & 1)}.{digest[1]}.{digest[2]}"


class UdpResponder(asyncio.DatagramProtocol):
    """Answers each datagram with one datagram."""

    def __init__(self, zone: Zone) -> None:
        self.zone = zone
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        reply = self.zone.answer(data)
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply, addr)


async def serve_tcp_client(
    zone: Zone, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """Answer length-prefixed queries on one connection until the client closes it."""
    try:
        while True:
            prefix = await asyncio.wait_for(reader.readexactly(2), timeout=30)
            (length,) = _LENGTH_PREFIX.unpack(prefix)
            query = await asyncio.wait_for(reader.readexactly(length), timeout=10)
            reply = zone.answer(query)
            if reply is None:
                break
            writer.write(_LENGTH_PREFIX.pack(len(reply)) + reply)
            await writer.drain()
    except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


def bind_udp_and_tcp(
    host: str, port: int, attempts: int = 20
) -> tuple[socket.socket, socket.socket]:
    """A UDP and a TCP socket bound to the same port (any free one when ``port`` is 0)."""
    for _ in range(attempts):
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind((host, port))
        bound_port = udp.getsockname()[1]
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            tcp.bind((host, bound_port))
        except OSError:
            udp.close()
            tcp.close()
            if port:
                raise
            continue
        tcp.listen(128)
        return udp, tcp
    raise OSError(
        f"no port free for both UDP and TCP on {host} after {attempts} attempts"
    )


async def serve(zone: Zone, host: str, port: int) -> None:
    udp_sock, tcp_sock = bind_udp_and_tcp(host, port)
    loop = asyncio.get_running_loop()
    udp_transport, _ = await loop.create_datagram_endpoint(
        lambda: UdpResponder(zone), sock=udp_sock
    )
    tcp_server = await asyncio.start_server(
        lambda r, w: serve_tcp_client(zone, r, w), sock=tcp_sock
    )
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    print(f"READY {udp_sock.getsockname()[1]}", flush=True)
    try:
        await stop.wait()
    finally:
        udp_transport.close()
        tcp_server.close()
        await tcp_server.wait_closed()


def read_names(path: Path) -> set[str]:
    lines = path.read_text(encoding="ascii").splitlines()
    return {line.strip().rstrip(".").lower() for line in lines if line.strip()}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--names", type=Path, required=True, help="file with one name per line"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--port", type=int, default=0, help="0 picks a free port (printed on READY)"
    )
    parser.add_argument("--ttl", type=int, default=3600)
    args = parser.parse_args()
    zone = Zone(read_names(args.names), args.ttl)
    asyncio.run(serve(zone, args.host, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
