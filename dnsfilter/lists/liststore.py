"""The downloaded blocklists on disk, and what is known about each one.

``data_dir/lists/`` holds, per source, the last good download (gzip) and
``status.json`` with what the last attempts found. The copy to compile from
is that download, or the snapshot bundled in ``blocklists/`` until a
download has succeeded. Every write is atomic (temporary file, fsync,
rename), so a power cut - common on a Raspberry Pi - leaves either the old
file or the new one, never half of one.

The methods do blocking file I/O: inside the event loop, call the ones that
write a list through ``asyncio.to_thread``. ``group_failures`` makes one
problem of lists that failed alike, for ``lists status`` and the service log.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import logging
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime, tzinfo
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

from dnsfilter.lists.catalog import Source

log = logging.getLogger(__name__)

STATUS_FILE = "status.json"
# What a failed update says last: which copy stays in use.
KEPT_BUNDLED = "The list that came with dnsfilter stays in use."
KEPT_PREVIOUS = "The previous copy stays in use."
_STATUS_VERSION = 1
_STALE_TEMP_AGE = 3600.0  # seconds; younger temp files may belong to a write in progress
_SAFE_ID = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*")


@dataclass(frozen=True, slots=True)
class SourceStatus:
    """What is known about one source's list. Times are Unix seconds."""

    source_id: str
    entries: int = 0  # in the copy in use; 0 while not counted (bundled copy, rebuilt status)
    rejected: tuple[tuple[str, int], ...] = ()  # (reason, lines), most frequent first
    last_success: float | None = None  # last download that was stored or found unchanged
    last_attempt: float | None = None
    last_error: str | None = None  # plain words for parents; cleared by a success
    etag: str | None = None
    last_modified: str | None = None
    size: int = 0  # bytes of the list in use, uncompressed
    sha256: str | None = None  # of the list in use, uncompressed
    bundled: bool = True  # the bundled snapshot is the copy in use

    @property
    def rejected_lines(self) -> int:
        return sum(count for _, count in self.rejected)


def sorted_reasons(rejected: Mapping[str, int]) -> tuple[tuple[str, int], ...]:
    """Reasons with their line counts, most frequent first (ties by name)."""
    return tuple(sorted(((str(r), int(n)) for r, n in rejected.items() if n > 0), key=lambda rn: (-rn[1], rn[0])))


class ListStore:
    """Last good copies and status records under ``data_dir/lists/``.

    ``blocklists_dir`` is the folder holding ``catalog.yaml``; a source's
    ``snapshot`` is relative to it. The status file is re-read on every call,
    so a ``dnsfilter lists update`` run from the command line is seen by the
    running service.
    """

    def __init__(self, data_dir: Path, blocklists_dir: Path, *, clock: Callable[[], float] = time.time) -> None:
        self.directory = Path(data_dir) / "lists"
        self.blocklists_dir = Path(blocklists_dir)
        self.clock = clock
        # Set when status.json could not be read; shown by ``lists status``.
        self.notice: str | None = None
        # Downloads finish in worker threads: status read-modify-write must not interleave.
        self._lock = threading.Lock()

    @property
    def status_path(self) -> Path:
        return self.directory / STATUS_FILE

    def download_path(self, source_id: str) -> Path:
        """Where the last good download of ``source_id`` is kept (it may not exist)."""
        name = source_id
        if not _SAFE_ID.fullmatch(source_id):
            # Ids come from the catalog; never let one reach outside the folder,
            # and keep two ids that sanitise alike apart.
            digest = hashlib.sha256(source_id.encode()).hexdigest()[:10]
            name = re.sub(r"[^A-Za-z0-9_.-]", "_", source_id).lstrip(".") + "-" + digest
        return self.directory / f"{name}.txt.gz"

    def bundle_path(self, source: Source) -> Path:
        return self.blocklists_dir / source.snapshot

    def path_for(self, source: Source) -> Path:
        """The gzip copy to compile from: the last good download, else the bundled snapshot."""
        downloaded = self.download_path(source.id)
        return downloaded if downloaded.is_file() else self.bundle_path(source)

    def status(self, source_id: str) -> SourceStatus:
        with self._lock:
            record = self._read_records().get(source_id, SourceStatus(source_id))
        return self._with_copy_in_use(record)

    def all_status(self) -> dict[str, SourceStatus]:
        """Every source that has a record, by id (sources never tried have none)."""
        with self._lock:
            records = self._read_records()
        return {source_id: self._with_copy_in_use(record) for source_id, record in records.items()}

    def save_download(
        self,
        source_id: str,
        text: bytes,
        *,
        entries: int,
        rejected: Mapping[str, int],
        etag: str | None,
        last_modified: str | None,
        sha256: str | None = None,
    ) -> SourceStatus:
        """Store ``text`` (uncompressed) as the new good copy and record its success.

        ``sha256`` is the text's hex digest when the caller already has it.
        """
        self.directory.mkdir(parents=True, exist_ok=True)
        self._remove_stale_temp_files()

        def write_gzip(file: IO[bytes]) -> None:
            # mtime=0: the same list always compresses to the same bytes.
            with gzip.GzipFile(fileobj=file, mode="wb", compresslevel=6, mtime=0) as packed:
                packed.write(text)

        write_atomically(self.download_path(source_id), write_gzip)
        now = self.clock()
        return self._update(
            source_id,
            lambda old: replace(
                old,
                entries=entries,
                rejected=sorted_reasons(rejected),
                last_success=now,
                last_attempt=now,
                last_error=None,
                etag=etag,
                last_modified=last_modified,
                size=len(text),
                sha256=sha256 or hashlib.sha256(text).hexdigest(),
                bundled=False,
            ),
        )

    def record_unchanged(self, source_id: str, *, etag: str | None, last_modified: str | None) -> SourceStatus:
        """The server says (or the bytes show) the copy in use is current."""
        now = self.clock()
        return self._update(
            source_id,
            lambda old: replace(
                old,
                last_success=now,
                last_attempt=now,
                last_error=None,
                etag=etag or old.etag,
                last_modified=last_modified or old.last_modified,
            ),
        )

    def record_failure(self, source_id: str, message: str) -> SourceStatus:
        """Keep the copy in use and everything known about it; note what went wrong."""
        now = self.clock()
        return self._update(source_id, lambda old: replace(old, last_attempt=now, last_error=message))

    def _update(self, source_id: str, change: Callable[[SourceStatus], SourceStatus]) -> SourceStatus:
        with self._lock:
            records = self._read_records()
            old = self._with_copy_in_use(records.get(source_id, SourceStatus(source_id)))
            records[source_id] = new = change(old)
            self._write_records(records)
        return new

    def _with_copy_in_use(self, record: SourceStatus) -> SourceStatus:
        # The file decides, not the record: a deleted download means the bundle is in use.
        bundled = not self.download_path(record.source_id).is_file()
        return record if record.bundled == bundled else replace(record, bundled=bundled)

    def _read_records(self) -> dict[str, SourceStatus]:
        path = self.status_path
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            self.notice = f"Could not read {path} ({exc.strerror}); check the permissions of the data folder."
            log.warning("%s", self.notice)
            return {}
        try:
            return _records_from_json(json.loads(raw))
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            self._rebuild(path, exc)
            return {}

    def _rebuild(self, path: Path, problem: Exception) -> None:
        """Set a damaged status file aside and start an empty one.

        Only bookkeeping is lost: the downloaded lists stay in use, and the
        next update fills the records in again.
        """
        kept = path.with_name(path.name + ".damaged")
        self.notice = (
            f"The list status file {path} was damaged and has been rebuilt (the damaged one is kept as "
            f"{kept.name}). The lists themselves are fine; the next update fills in the details again."
        )
        log.warning("%s Problem: %s", self.notice, problem)
        try:
            os.replace(path, kept)
            self._write_records({})
        except OSError as exc:
            log.warning("Could not rebuild %s: %s", path, exc)

    def _write_records(self, records: Mapping[str, SourceStatus]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        document = {"version": _STATUS_VERSION, "sources": {sid: _record_to_json(r) for sid, r in records.items()}}
        data = json.dumps(document, indent=1, sort_keys=True).encode() + b"\n"
        write_atomically(self.status_path, lambda file: file.write(data))

    def _remove_stale_temp_files(self) -> None:
        # Left behind by a power cut mid-write; each can be as big as a list.
        cutoff = time.time() - _STALE_TEMP_AGE
        for temp in self.directory.glob(".*.tmp"):
            with contextlib.suppress(OSError):
                if temp.stat().st_mtime < cutoff:
                    temp.unlink()


def describe_reasons(rejected: Mapping[str, int] | Iterable[tuple[str, int]], lead: str, top: int = 3) -> str:
    """``lead`` and the most frequent reasons in words ("12 invalid name, 3 ip address"), or ""."""
    pairs = rejected.items() if isinstance(rejected, Mapping) else rejected
    ranked = sorted_reasons(dict(pairs))
    if not ranked:
        return ""
    shown = ", ".join(f"{count:,} {reason.replace('-', ' ').replace('_', ' ')}" for reason, count in ranked[:top])
    return lead + shown + (", ..." if len(ranked) > top else "")


def source_statuses(
    catalog_sources: Iterable[Source], store: ListStore, compiled: Mapping[str, Any] | None = None
) -> list[tuple[Source, SourceStatus]]:
    """Each source with what is known of its list; ``compiled`` is the index's
    per-source counts (entries, rejected by reason), used for lists never
    downloaded: the bundled copies."""
    known = store.all_status()
    found = []
    for source in catalog_sources:
        status = known.get(source.id) or store.status(source.id)
        counted = (compiled or {}).get(source.id)
        if not status.entries and isinstance(counted, Mapping) and isinstance(counted.get("entries"), int):
            rejected_counts = counted.get("rejected")
            status = replace(
                status,
                entries=counted["entries"],
                rejected=sorted_reasons(rejected_counts if isinstance(rejected_counts, Mapping) else {}),
            )
        found.append((source, status))
    return found


@dataclass(frozen=True, slots=True)
class FailureGroup:
    """Lists whose updates failed the same way: one problem to tell a parent about."""

    source_ids: tuple[str, ...]
    # One list: its own message. Several: the problem they share, naming every
    # list server involved, without the sentence about the copy kept in use.
    message: str

    def ids_text(self, named: int = 5) -> str:
        """A few of the lists' ids: "ut1-adult, hagezi-nsfw and 80 more"."""
        more = len(self.source_ids) - named
        if more <= 1:
            return _and(self.source_ids)
        return ", ".join(self.source_ids[:named]) + f" and {more} more"


def group_failures(failures: Iterable[tuple[str, str, str]]) -> list[FailureGroup]:
    """(source id, url, message) of each failed list, as groups in the order first seen.

    Messages that differ only by the list's own server (and by which copy stays
    in use) are one problem: offline, every list fails its name lookup.
    """
    grouped: dict[str, list[tuple[str, str, str]]] = {}
    for source_id, url, message in failures:
        host = urlsplit(url).hostname or ""
        problem = message.removesuffix(f" {KEPT_BUNDLED}").removesuffix(f" {KEPT_PREVIOUS}")
        grouped.setdefault(problem.replace(host, "\0") if host else problem, []).append((source_id, host, message))
    groups = []
    for problem, members in grouped.items():
        if len(members) == 1:
            groups.append(FailureGroup((members[0][0],), members[0][2]))
        else:
            hosts = _and(tuple(dict.fromkeys(host for _, host, _ in members)))
            groups.append(FailureGroup(tuple(source_id for source_id, _, _ in members), problem.replace("\0", hosts)))
    return groups


def _and(words: Sequence[str]) -> str:
    return " and ".join(words) if len(words) < 3 else ", ".join(words[:-1]) + " and " + words[-1]


def time_text(timestamp: float, zone: tzinfo, *, named: bool = True) -> str:
    """A stored time as a parent reads it, in the family's ``zone``: "2026-12-07 20:15 (Asia/Ho_Chi_Minh)"."""
    text = f"{datetime.fromtimestamp(timestamp, zone):%Y-%m-%d %H:%M}"
    return f"{text} ({zone_name(zone)})" if named else text


def zone_name(zone: tzinfo) -> str:
    """"Asia/Ho_Chi_Minh"; "UTC" for ``datetime.UTC``."""
    return getattr(zone, "key", None) or str(zone)


def write_atomically(path: Path, write: Callable[[IO[bytes]], object]) -> None:
    """Replace ``path`` with what ``write`` writes: all of it or, after a crash, none of it."""
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp_name)
        raise
    # The rename itself must reach the disk too, or a power cut can undo it.
    with contextlib.suppress(OSError):
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _record_to_json(record: SourceStatus) -> dict[str, Any]:
    fields = asdict(record)
    del fields["source_id"]
    fields["rejected"] = dict(record.rejected)
    return fields


_OPTIONAL_NUMBERS = ("last_success", "last_attempt")
_OPTIONAL_TEXTS = ("last_error", "etag", "last_modified", "sha256")


def _records_from_json(document: Any) -> dict[str, SourceStatus]:
    """Records from the parsed status file; any odd shape raises ValueError."""
    if not isinstance(document, dict) or document.get("version") != _STATUS_VERSION:
        raise ValueError("not a version 1 status document")
    sources = document["sources"]
    if not isinstance(sources, dict):
        raise ValueError("'sources' is not a mapping")
    return {str(source_id): _record_from_json(str(source_id), fields) for source_id, fields in sources.items()}


def _record_from_json(source_id: str, fields: Any) -> SourceStatus:
    if not isinstance(fields, dict):
        raise ValueError(f"record for {source_id!r} is not a mapping")
    for name in _OPTIONAL_NUMBERS:
        if fields.get(name) is not None and not isinstance(fields[name], (int, float)):
            raise ValueError(f"{source_id}.{name} is not a number")
    for name in _OPTIONAL_TEXTS:
        if fields.get(name) is not None and not isinstance(fields[name], str):
            raise ValueError(f"{source_id}.{name} is not text")
    rejected = fields.get("rejected", {})
    if not isinstance(rejected, dict) or not all(isinstance(n, int) for n in rejected.values()):
        raise ValueError(f"{source_id}.rejected is not a mapping of counts")
    entries, size = fields.get("entries", 0), fields.get("size", 0)
    if not isinstance(entries, int) or not isinstance(size, int):
        raise ValueError(f"{source_id}.entries or .size is not a whole number")
    return SourceStatus(
        source_id=source_id,
        entries=entries,
        rejected=sorted_reasons(rejected),
        last_success=fields.get("last_success"),
        last_attempt=fields.get("last_attempt"),
        last_error=fields.get("last_error"),
        etag=fields.get("etag"),
        last_modified=fields.get("last_modified"),
        size=size,
        sha256=fields.get("sha256"),
        bundled=bool(fields.get("bundled", True)),
    )
