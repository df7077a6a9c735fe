"""Reading a whole list file as downloaded or bundled: unpacking, size and
sanity checks, decoding, then the format's parser."""

from __future__ import annotations

import gc
import gzip
import io
import zlib
from collections.abc import Iterator
from typing import Final

from dnsfilter.lists.entries import ListEntry, ParseReport
from dnsfilter.lists.formats import ListParser

# Unpacked lists are at most a few tens of MB; anything far larger is a gzip
# bomb or the wrong file, and must not exhaust a router's memory.
MAX_TEXT_BYTES: Final = 256 * 1024 * 1024

_GZIP_MAGIC: Final = b"\x1f\x8b"
# Text decoded and split at once: some 20,000 lines of a typical list.
CHUNK_BYTES: Final = 512 * 1024


def parse_text(
    data: bytes, fmt: str, subdomains: bool, max_bytes: int = MAX_TEXT_BYTES
) -> tuple[list[ListEntry], ParseReport]:
    """Every entry of a whole list file as downloaded or bundled, in a list, and the
    report (see ``read_entries``)."""
    entries, report = read_entries(data, fmt, subdomains, max_bytes)
    # Every entry is a new tracked object, so the cyclic collector would run
    # thousands of times over a growing heap while none of them can form a cycle.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return list(entries), report
    finally:
        if collecting:
            gc.enable()


def read_entries(
    data: bytes, fmt: str, subdomains: bool, max_bytes: int = MAX_TEXT_BYTES
) -> tuple[Iterator[ListEntry], ParseReport]:
    """The entries of a whole list file as downloaded or bundled, made as they are
    read, and the report, complete once they are all read.

    The text is decoded and split a chunk at a time, so a list of a million
    lines never holds all its lines, or all its entries, at once: the list
    compile of a small box stays within its memory.

    ``data`` may be gzip (recognised by its first bytes). A file with NUL bytes
    is not a text list and yields nothing (reason ``binary``); check
    ``report.looks_like_html`` and the rejected counts before trusting the rest.
    ValueError for an unknown format. Unpacked text over ``max_bytes`` yields nothing (``too-large``).
    """
    parser = ListParser(fmt, subdomains)
    report = parser.report
    if data.startswith(_GZIP_MAGIC):
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(data)) as unpacked:
                data = unpacked.read(max_bytes + 1)
        except (OSError, EOFError, zlib.error) as error:
            report.reject("bad-gzip", 0, str(error))
            return iter(()), report
    if len(data) > max_bytes:
        report.reject("too-large", 0, f"more than {max_bytes} bytes")
        return iter(()), report
    nul = data.find(b"\x00")
    if nul >= 0:
        report.reject("binary", data.count(b"\n", 0, nul) + 1, repr(data[max(0, nul - 40) : nul + 40]))
        return iter(()), report
    return parser.parse(_lines(data)), report


def _lines(data: bytes, chunk_bytes: int = CHUNK_BYTES) -> Iterator[str]:
    """The lines of ``data``, without their line ends, decoded ``chunk_bytes`` at a
    time (cut at a line end). The last line end does not start another line."""
    start, size = 0, len(data)
    while start < size:
        end = data.rfind(b"\n", start, start + chunk_bytes) if start + chunk_bytes < size else -1
        if end < 0 and start + chunk_bytes < size:
            end = data.find(b"\n", start + chunk_bytes)  # a line longer than a chunk
        last = end < 0
        lines = _decoded(data[start:] if last else data[start:end]).split("\n")
        if last and not lines[-1]:
            lines.pop()
        yield from lines
        if last:
            return
        start = end + 1


def _decoded(chunk: bytes) -> str:
    try:
        return chunk.decode("utf-8")
    except UnicodeDecodeError:
        # Keep going: one bad line should not cost the other 200,000 (counted as "not-text").
        return chunk.decode("utf-8", "surrogateescape")
