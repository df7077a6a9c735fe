"""The least a DNS server written in Python on uvloop does per query, as a process of its own.

    python benchmarks/floor_server.py --port PORT

Each query read on UDP (or TCP, for the benchmarks' readiness probe) is sent
back as an empty answer: the same bytes with QR and RA set, the question and
the counts as asked, no record. It parses nothing, decides nothing and keeps
nothing: one callback, one bytes operation and one send per query, which is
what any server on this event loop pays before doing its own work.
working_sets.py runs it beside ours and the C servers as "python floor".
"""

from __future__ import annotations

import argparse
import asyncio
import signal

from answering import serve_answers

_QR = 0x80  # in the first flags byte
_RA = 0x80  # in the second, where AD and CD are kept and the RCODE is 0
_AD_CD = 0x30


def empty_answer(query: bytes) -> bytes | None:
    """The query turned into an answer with no record; None if it has no header."""
    if len(query) < 12:
        return None
    return b"".join((query[:2], bytes((query[2] | _QR, (query[3] & _AD_CD) | _RA)), query[4:]))


async def serve(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    transport, server = await serve_answers(empty_answer, host, port)
    print(f"READY {port}", flush=True)
    await stop.wait()
    transport.close()
    server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args()
    import uvloop  # the event loop ours runs on

    uvloop.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
