"""Compiling every blocklist and service definition into one index file.

Parsing a few million list lines takes seconds of CPU, so it runs in a
separate process (``compile_in_background``): the DNS loop keeps answering,
and the memory the parse needed goes back to the system when it ends. The
new file replaces the old one atomically; the running filter then maps it.
"""

from __future__ import annotations

import asyncio
import ctypes
import hashlib
import multiprocessing
import time
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dnsfilter.lists.catalog import Catalog, load_catalog
from dnsfilter.lists.formats import ListParser
from dnsfilter.lists.index import IndexBuilder
from dnsfilter.lists.listfile import read_entries
from dnsfilter.policy.tags import service_tag

INDEX_FILE = "index.bin"
# glibc's mallopt parameter, and the size from which blocks get mappings of their own.
_M_MMAP_THRESHOLD = -3
_OWN_MAPPING_BYTES = 128 * 1024
NOT_BLOCKING_KINDS = frozenset({"allow"})  # allowlist data must never block


@dataclass(frozen=True, slots=True)
class CompileReport:
    path: Path
    entries: int
    seconds: float
    fingerprint: str


def tag_names(catalog: Catalog) -> list[str]:
    """Bit order of the index: every category, then every service."""
    return [category.id for category in catalog.categories] + [service_tag(s.id) for s in catalog.services]


def fingerprint(catalog_dir: Path, source_paths: Mapping[str, Path]) -> str:
    """Changes whenever the catalog or any list file in use changes."""
    digest = hashlib.sha256()
    for path in sorted(catalog_dir.glob("*.yaml")) + sorted((catalog_dir / "services").glob("*.yaml")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    for source_id, path in sorted(source_paths.items()):
        stat = path.stat()
        digest.update(f"{source_id}\0{path}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
    return digest.hexdigest()


def compile_index(catalog_dir: Path, source_paths: Mapping[str, Path], out: Path) -> CompileReport:
    """Parse every source and service and write the index to ``out``."""
    started = time.monotonic()
    _give_back_large_blocks()
    catalog = load_catalog(catalog_dir)
    names = tag_names(catalog)
    bit = {name: 1 << position for position, name in enumerate(names)}
    kinds = {category.id: category.kind for category in catalog.categories}
    builder = IndexBuilder(names)
    sources: dict[str, dict[str, Any]] = {}
    for source in catalog.sources:
        if kinds[source.category] in NOT_BLOCKING_KINDS:
            continue
        path = source_paths.get(source.id)
        if path is None:
            continue
        # Entries go to the builder as they are read: a list is never all in memory.
        entries, report = read_entries(path.read_bytes(), source.format, source.subdomains)
        tags = bit[source.category]
        for entry in entries:
            builder.add(entry.name, tags, subdomains=entry.subdomains, exception=entry.exception)
        sources[source.id] = {"path": str(path), "entries": report.entries, "rejected": dict(report.rejected)}
    for service in catalog.services:
        # A service's names belong to its category too: blocking "social"
        # blocks TikTok without naming it.
        tags = bit[service_tag(service.id)] | bit.get(service.category, 0)
        parser = ListParser("adblock", True)
        for entry in parser.parse(service.rules):
            builder.add(entry.name, tags, subdomains=entry.subdomains, exception=entry.exception)
    version = fingerprint(catalog_dir, source_paths)
    stats = builder.write(out, {"fingerprint": version, "built_at": time.time(), "sources": sources})
    return CompileReport(out, stats.entries, time.monotonic() - started, version)


def _give_back_large_blocks() -> None:
    """Let the compile's big arrays live in mappings of their own, returned to the
    system when freed.

    glibc raises its mapping threshold after the first big block is freed,
    and later blocks then come from the heap, which keeps freed space: the
    sort's copies would then add up instead of replacing each other (a peak a
    quarter higher for a million names). Elsewhere (no glibc) nothing changes.
    """
    try:
        ctypes.CDLL(None).mallopt(_M_MMAP_THRESHOLD, _OWN_MAPPING_BYTES)
    except (OSError, AttributeError):
        pass


async def compile_in_background(catalog_dir: Path, source_paths: Mapping[str, Path], out: Path) -> CompileReport:
    """``compile_index`` in a fresh process, awaited without blocking the loop."""
    # spawn, not fork: forking a process that runs an event loop and threads
    # copies their state half-way through.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(pool, compile_index, catalog_dir, dict(source_paths), out)


def index_fingerprint(metadata: Mapping[str, Any]) -> str | None:
    value = metadata.get("fingerprint")
    return value if isinstance(value, str) else None
