"""``dnsfilter lists update|status``: download every list now, or show each list's state."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterable, Mapping
from datetime import tzinfo
from pathlib import Path
from typing import Any

from dnsfilter.config import Config
from dnsfilter.lists.blocklists import Blocklists
from dnsfilter.lists.catalog import BLOCKLISTS_DIR, Source
from dnsfilter.lists.compiler import compile_index
from dnsfilter.lists.liststore import (
    ListStore,
    describe_reasons,
    group_failures,
    source_statuses,
    time_text,
    zone_name,
)
from dnsfilter.lists.updater import UpdateOutcome, update_sources
from dnsfilter.service.from_config import update_limits


def status_text(config: Config, catalog_dir: Path = BLOCKLISTS_DIR) -> str:
    blocklists = Blocklists(config.data_dir, catalog_dir)
    try:
        index = blocklists.open_existing()
    except FileNotFoundError:
        table = format_status(blocklists.catalog.sources, blocklists.store, config.zone)
        return table + "\n\nThe lists have not been compiled yet: they will be when the filter starts."
    # Lists never downloaded were counted when the index was compiled.
    counts = index.metadata.get("sources")
    compiled = counts if isinstance(counts, dict) else None
    lines = [format_status(blocklists.catalog.sources, blocklists.store, config.zone, compiled), ""]
    built = index.metadata.get("built_at")
    when = time_text(built, config.zone) if isinstance(built, float) else "?"
    state = "up to date" if blocklists.is_current() else "older than the lists on disk; it is rebuilt soon"
    lines.append(f"Compiled index: {len(index):,} names, built {when}, {state}.")
    return "\n".join(lines)


def update(config: Config, catalog_dir: Path = BLOCKLISTS_DIR) -> int:
    """Download every list now and recompile; the running filter picks the result up by itself."""
    blocklists = Blocklists(config.data_dir, catalog_dir)
    sources = blocklists.blocking_sources
    # Not ListUpdater.update_now: its log lines would repeat on stderr what is printed here.
    results = asyncio.run(update_sources(sources, blocklists.store, **dataclasses.asdict(update_limits(config))))
    urls = {source.id: source.url for source in sources}
    failures = [(r.source_id, urls[r.source_id], r.message) for r in results if r.outcome is UpdateOutcome.FAILED]
    failed = len(failures)
    for result in results:
        if result.outcome is not UpdateOutcome.FAILED:
            print(f"  {result.source_id}: {result.outcome} ({result.entries:,} entries)")
    for group in group_failures(failures):
        if len(group.source_ids) == 1:
            print(f"  {group.source_ids[0]}: not updated. {group.message}")
        else:
            print(f"  {len(group.source_ids)} lists not updated ({group.ids_text()}): {group.message}")
    report = compile_index(blocklists.catalog_dir, blocklists.source_paths(), blocklists.index_path)
    print(f"Compiled {report.entries:,} names in {report.seconds:.1f} s; the running filter uses them within a minute.")
    if failed:
        print(f"{failed} list(s) could not be downloaded; their previous copies stay in use.")
    return 1 if failed == len(results) and results else 0


def format_status(
    catalog_sources: Iterable[Source], store: ListStore, zone: tzinfo, compiled: Mapping[str, Any] | None = None
) -> str:
    """The ``dnsfilter lists status`` table: one row per source, times in the family's ``zone``.

    A problem only one list has is shown under its row; one that several
    lists share (offline, all of them) once, after the table. ``compiled`` is
    the index's per-source counts (entries, rejected by reason), used for
    lists never downloaded: the bundled copies.
    """
    header = ("List", "Category", "Entries", "Rejected lines", f"Last updated ({zone_name(zone)})", "Copy in use")
    rows: list[tuple[str, ...]] = []
    failed: list[tuple[str, str, str]] = []
    tried: dict[str, float] = {}
    bundled_any = False
    for source, status in source_statuses(catalog_sources, store, compiled):
        if status.entries:
            entries = f"{status.entries:,}"
        elif status.bundled and source.expected_entries:
            entries = f"about {source.expected_entries:,}"
        else:
            entries = "not counted yet"
        rejected = ""  # unknown until the list has been counted
        if status.entries:
            rejected = f"{status.rejected_lines:,}{describe_reasons(status.rejected, ' (')}"
            rejected += ")" if status.rejected else ""
        last = time_text(status.last_success, zone, named=False) if status.last_success is not None else "never"
        bundled_any = bundled_any or status.bundled
        copy = "bundled copy" if status.bundled else "downloaded"
        rows.append((source.id, source.category, entries, rejected, last, copy))
        if status.last_error:
            failed.append((source.id, source.url, status.last_error))
            if status.last_attempt is not None:
                tried[source.id] = status.last_attempt
    if not rows:
        return "No blocklists are configured in the catalog."
    groups = group_failures(failed)
    alone = {group.source_ids[0]: group.message for group in groups if len(group.source_ids) == 1}
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]

    def line(cells: tuple[str, ...]) -> str:
        # Entries line up on the right.
        padded = (c.rjust(w) if i == 2 else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True)))
        return "  ".join(padded).rstrip()

    out = [line(header)]
    for row in rows:
        out.append(line(row))
        if row[0] in alone:
            when = f" ({time_text(tried[row[0]], zone, named=False)})" if row[0] in tried else ""
            out.append(f"    last error{when}: {alone[row[0]]}")
    for group in groups:
        if len(group.source_ids) > 1:
            times = [tried[source_id] for source_id in group.source_ids if source_id in tried]
            when = f", last tried {time_text(max(times), zone)}" if times else ""
            out += ["", f"{len(group.source_ids)} lists could not be updated ({group.ids_text()}){when}:"]
            out.append(f"    {group.message}")
    if bundled_any:
        out += ["", "bundled copy: the list that came with dnsfilter, used until a download succeeds."]
    if failed:
        out += ["A list that could not be updated keeps using its previous good copy."]
    if store.notice:
        out += ["", store.notice]
    return "\n".join(out)
