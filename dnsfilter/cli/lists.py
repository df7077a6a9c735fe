"""``dnsfilter lists update|status``: download every list now, or show each list's state."""

from __future__ import annotations

import asyncio
import datetime
from pathlib import Path

from dnsfilter.config import Config
from dnsfilter.lists.blocklists import Blocklists
from dnsfilter.lists.catalog import BLOCKLISTS_DIR
from dnsfilter.lists.compiler import compile_index
from dnsfilter.lists.liststore import format_status
from dnsfilter.lists.updater import ListUpdater, UpdateOutcome
from dnsfilter.service.from_config import update_limits


def status_text(config: Config, catalog_dir: Path = BLOCKLISTS_DIR) -> str:
    blocklists = Blocklists(config.data_dir, catalog_dir)
    try:
        index = blocklists.open_existing()
    except FileNotFoundError:
        table = format_status(blocklists.catalog.sources, blocklists.store)
        return table + "\n\nThe lists have not been compiled yet: they will be when the filter starts."
    # Lists never downloaded were counted when the index was compiled.
    counts = index.metadata.get("sources")
    compiled = counts if isinstance(counts, dict) else None
    lines = [format_status(blocklists.catalog.sources, blocklists.store, compiled), ""]
    built = index.metadata.get("built_at")
    when = datetime.datetime.fromtimestamp(built).strftime("%Y-%m-%d %H:%M") if isinstance(built, float) else "?"
    state = "up to date" if blocklists.is_current() else "older than the lists on disk; it is rebuilt soon"
    lines.append(f"Compiled index: {len(index):,} names, built {when}, {state}.")
    return "\n".join(lines)


def update(config: Config, catalog_dir: Path = BLOCKLISTS_DIR) -> int:
    """Download every list now and recompile; the running filter picks the result up by itself."""
    config.data_dir.mkdir(parents=True, exist_ok=True)
    blocklists = Blocklists(config.data_dir, catalog_dir)
    updater = ListUpdater(blocklists.blocking_sources, blocklists.store, limits=update_limits(config))
    results = asyncio.run(updater.update_now())
    failed = 0
    for result in results:
        if result.outcome is UpdateOutcome.FAILED:
            failed += 1
            print(f"  {result.source_id}: not updated. {result.message}")
        else:
            print(f"  {result.source_id}: {result.outcome} ({result.entries:,} entries)")
    report = compile_index(blocklists.catalog_dir, blocklists.source_paths(), blocklists.index_path)
    print(f"Compiled {report.entries:,} names in {report.seconds:.1f} s; the running filter uses them within a minute.")
    if failed:
        print(f"{failed} list(s) could not be downloaded; their previous copies stay in use.")
    return 1 if failed == len(results) and results else 0
