"""The compiled blocklist index in use, and keeping it current.

``Blocklists`` owns the catalog, the store of downloaded lists and the index
file in the data directory. At start it maps the compiled index (fast); it
compiles first only when there is none, so a new box never answers
unfiltered. It recompiles in the background when lists or the catalog
change, and notices an index written by another process
(``dnsfilter lists update``) by its file identity.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from dnsfilter.errors import IndexFileError
from dnsfilter.lists.catalog import BLOCKLISTS_DIR, Catalog, Source, load_catalog
from dnsfilter.lists.compiler import (
    INDEX_FILE,
    NOT_BLOCKING_KINDS,
    CompileReport,
    compile_in_background,
    compile_index,
    fingerprint,
    index_fingerprint,
)
from dnsfilter.lists.index import DomainIndex
from dnsfilter.lists.liststore import ListStore

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _FileIdentity:
    inode: int
    size: int
    mtime_ns: int


def _identity(path: Path) -> _FileIdentity | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return _FileIdentity(stat.st_ino, stat.st_size, stat.st_mtime_ns)


class Blocklists:
    def __init__(self, data_dir: Path, catalog_dir: Path = BLOCKLISTS_DIR) -> None:
        self.catalog_dir = catalog_dir
        self.catalog: Catalog = load_catalog(catalog_dir)
        self.store = ListStore(data_dir, catalog_dir)
        self.index_path = data_dir / INDEX_FILE
        self.index = DomainIndex.empty()
        self._identity: _FileIdentity | None = None

    @property
    def blocking_sources(self) -> tuple[Source, ...]:
        kinds = {category.id: category.kind for category in self.catalog.categories}
        return tuple(s for s in self.catalog.sources if kinds[s.category] not in NOT_BLOCKING_KINDS)

    def source_paths(self) -> dict[str, Path]:
        return {source.id: self.store.path_for(source) for source in self.blocking_sources}

    def is_current(self) -> bool:
        """Was the index in use built from today's catalog and list files?"""
        wanted = fingerprint(self.catalog_dir, self.source_paths())
        return index_fingerprint(self.index.metadata) == wanted

    async def open(self) -> DomainIndex:
        """The index to start with; compiled first only if there is none."""
        if not self._load():
            log.info("compiling the blocklists for the first time; this takes a few seconds")
            await self.recompile()
        return self.index

    def open_existing(self) -> DomainIndex:
        """The compiled index as it is; FileNotFoundError if there is none yet."""
        if not self._load():
            raise FileNotFoundError(self.index_path)
        return self.index

    def open_blocking(self) -> DomainIndex:
        """``open`` for command-line tools: compiles in this process if needed."""
        if not self._load():
            self._record(compile_index(self.catalog_dir, self.source_paths(), self.index_path))
            self._load()
        return self.index

    async def recompile(self) -> DomainIndex:
        """Compile in a separate process, then map the new index."""
        report = await compile_in_background(self.catalog_dir, self.source_paths(), self.index_path)
        self._record(report)
        self._load()
        return self.index

    def reload_if_changed(self) -> bool:
        """Map the index file again if another process replaced it."""
        identity = _identity(self.index_path)
        if identity is None or identity == self._identity:
            return False
        return self._load()

    def _load(self) -> bool:
        identity = _identity(self.index_path)
        if identity is None:
            return False
        try:
            index = DomainIndex.load(self.index_path)
        except IndexFileError as error:
            log.warning("the compiled blocklists cannot be used (%s); they will be compiled again", error)
            return False
        # The previous index is not closed here: a policy built on it may
        # still be in use until its owner swaps it out (see Service).
        self.index = index
        self._identity = identity
        return True

    @staticmethod
    def _record(report: CompileReport) -> None:
        log.info("blocklists compiled: %d names in %.1f s", report.entries, report.seconds)
