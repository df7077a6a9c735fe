"""Is a downloaded list really a list of about the usual size?

The checks ``update_sources`` runs on a body before it replaces the stored
copy, and the plain messages a parent reads when one fails.
"""

from __future__ import annotations

import collections
import hashlib
import zlib

from dnsfilter.errors import DnsFilterError
from dnsfilter.lists.catalog import Source
from dnsfilter.lists.entries import ParseReport
from dnsfilter.lists.listfile import read_entries
from dnsfilter.lists.liststore import describe_reasons

MiB = 1024 * 1024
SMALL_LIST = 100  # entries; see entry_count_problem
GZIP_MAGIC = b"\x1f\x8b"

CAPTIVE_PORTAL = (
    "The download returned a web page instead of a list — is this box behind a login page? "
    "Check that this box can open web sites without signing in first."
)


class ListRefused(DnsFilterError):
    """A download that must not replace the copy in use; the message is for parents."""


def examine(body: bytes, source: Source, max_bytes: int) -> tuple[bytes, ParseReport, str]:
    """The uncompressed list, its parse report and SHA-256, or ListRefused. Slow: run it in a thread."""
    text = gunzip(body, max_bytes) if body.startswith(GZIP_MAGIC) else body
    if not text.strip():
        raise ListRefused(
            "The download was empty. The list server may be having trouble; the next update will try again."
        )
    # Only the counts are needed here; the entries are read again when the index is compiled.
    entries, report = read_entries(text, source.format, source.subdomains)
    collections.deque(entries, maxlen=0)  # read to the end, keeping none
    if report.looks_like_html:
        raise ListRefused(CAPTIVE_PORTAL)
    if report.rejected.get("binary") or report.rejected.get("bad-gzip"):
        raise ListRefused(
            "The download is not a text list (it looks like a program or a damaged file). "
            "The list may have moved; updating dnsfilter brings a newer catalog."
        )
    if report.entries == 0:
        raise ListRefused(
            f"The download has {report.lines:,} lines but no usable entries"
            f"{describe_reasons(report.rejected, ' (rejected: ')}{')' if report.rejected else ''}. "
            "The list may have changed format; updating dnsfilter brings a newer catalog."
        )
    return text, report, hashlib.sha256(text).hexdigest()


def gunzip(data: bytes, max_bytes: int) -> bytes:
    """Unpack a .gz list (all members), refusing more than ``max_bytes`` of output."""
    parts: list[bytes] = []
    total = 0
    try:
        while data.startswith(GZIP_MAGIC):
            unpacker = zlib.decompressobj(wbits=31)
            part = unpacker.decompress(data, max_bytes + 1 - total)
            total += len(part)
            if total > max_bytes:  # a few compressed megabytes can unpack to gigabytes
                raise ListRefused(too_big_message(max_bytes))
            if not unpacker.eof:
                raise ListRefused(truncated_message(None, None))
            parts.append(part)
            data = unpacker.unused_data
    except zlib.error as exc:
        raise ListRefused("The download is a damaged compressed file. The next update will try again.") from exc
    return b"".join(parts)


def entry_count_problem(entries: int, baseline: int, of_what: str, max_shrink: float, max_growth: float) -> str | None:
    """Why ``entries`` is implausible next to ``baseline``, or None. A baseline of 0 checks nothing.

    Lists under SMALL_LIST entries change by large ratios in normal curation
    (4 names becoming 1, or 40), so they are only refused when they grow past
    ``max_growth`` times SMALL_LIST.
    """
    if baseline <= 0:
        return None
    if baseline >= SMALL_LIST and entries < baseline * (1 - max_shrink):
        return (
            f"The new list has only {entries:,} entries, far fewer than the {baseline:,} {of_what}, "
            "so it was not used in case it is broken. If this keeps happening the list may really have shrunk: "
            "raise lists.max_shrink in the configuration to accept it."
        )
    if entries > max(baseline, SMALL_LIST) * max_growth:
        return (
            f"The new list has {entries:,} entries, more than {max_growth:g} times the {baseline:,} {of_what}, "
            "so it was not used in case it is the wrong file. If this keeps happening, updating dnsfilter "
            "brings a newer catalog."
        )
    return None


def too_big_message(max_bytes: int) -> str:
    return (
        f"The list is larger than the {_size(max_bytes)} limit, so the download was stopped. "
        "This is unusual for a blocklist; updating dnsfilter brings a newer catalog."
    )


def _size(count: int) -> str:
    return f"{count / MiB:.0f} MB" if count >= MiB else f"{count / 1024:.0f} KB"


def truncated_message(got: int | None, declared: int | None) -> str:
    detail = f" (got {got:,} of {declared:,} bytes)" if got is not None and declared is not None else ""
    return (
        f"The download was cut off before the end{detail}. "
        "The connection may be unstable; the next update will try again."
    )
