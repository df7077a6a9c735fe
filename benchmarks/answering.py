"""A UDP and TCP listener that answers each query with a function of its bytes.

The benchmarks' own stand-in servers (the fast upstream of attacks.py, the
"python floor" of working_sets.py) differ only in that function.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable
from typing import cast

LENGTH = struct.Struct(">H")  # RFC 7766 length prefix on TCP

# The reply to a query's bytes, or None to send nothing.
Answer = Callable[[bytes], "bytes | None"]


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, answer: Answer) -> None:
        self.answer = answer

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's UDP transport has sendto without being a DatagramTransport subclass.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        reply = self.answer(data)
        if reply is not None:
            self.transport.sendto(reply, addr)


async def serve_answers(answer: Answer, host: str, port: int) -> tuple[asyncio.DatagramTransport, asyncio.Server]:
    """Answer on UDP and TCP at ``host``:``port`` until both returned objects are closed."""

    async def stream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                (length,) = LENGTH.unpack(await reader.readexactly(2))
                reply = answer(await reader.readexactly(length))
                if reply is not None:
                    writer.write(LENGTH.pack(len(reply)) + reply)
                    await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(lambda: _Udp(answer), local_addr=(host, port))
    server = await asyncio.start_server(stream, host, port)
    return cast(asyncio.DatagramTransport, transport), server
