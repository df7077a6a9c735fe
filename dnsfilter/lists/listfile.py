"""Reading a whole list file as downloaded or bundled: unpacking, size and
sanity checks, decoding, then the format's parser."""

from __future__ import annotations

import gc
import gzip
import io
import zlib
from typing import Final

from dnsfilter.lists.entries import ListEntry, ParseReport
from dnsfilter.lists.formats import ListParser

# Unpacked lists are at most a few tens of MB; anything far larger is a gzip
# bomb or the wrong file, and must not exhaust a router's memory.
MAX_TEXT_BYTES: Final = 256 * 1024 * 1024

_GZIP_MAGIC: Final = b"\x1f\x8b"


def parse_text(
    data: bytes, fmt: str, subdomains: bool, max_bytes: int = MAX_TEXT_BYTES
) -> tuple[list[ListEntry], ParseReport]:
    """Every entry of a whole list file as downloaded or bundled, and the report.

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
            return [], report
    if len(data) > max_bytes:
        report.reject("too-large", 0, f"more than {max_bytes} bytes")
        return [], report
    nul = data.find(b"\x00")
    if nul >= 0:
        report.reject("binary", data.count(b"\n", 0, nul) + 1, repr(data[max(0, nul - 40) : nul + 40]))
        return [], report
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        # Keep going: one bad line should not cost the other 200,000 (counted as "not-text").
        text = data.decode("utf-8", "surrogateescape")
    lines = text.split("\n")
    if lines and not lines[-1]:
        lines.pop()  # the final line end does not start another line
    # Every entry is a new tracked object, so the cyclic collector would run
    # thousands of times over a growing heap while none of them can form a cycle.
    collecting = gc.isenabled()
    gc.disable()
    try:
        entries = list(parser.parse(lines))
    finally:
        if collecting:
            gc.enable()
    return entries, report
