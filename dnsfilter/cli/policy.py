"""``dnsfilter policy export|import``: the whole family policy as one YAML file."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

from dnsfilter.config import Config
from dnsfilter.lists.catalog import BLOCKLISTS_DIR, load_catalog
from dnsfilter.store import PolicyStore, open_database, policyfile


def export(config: Config, output: Path | None) -> None:
    """Write the policy to ``output`` (None: standard output)."""
    database = open_database(config.database_url, data_dir=config.data_dir, create=False)
    try:
        store = PolicyStore(database)
        exported = policyfile.export_policy(store, datetime.now(UTC), policyfile.family_zone(store, config.zone))
    finally:
        database.close()
    if output is None:
        sys.stdout.write(exported)
    else:
        policyfile.write_policy_file(output, exported)


def import_text(config: Config, text: str, file: Path, catalog_dir: Path = BLOCKLISTS_DIR) -> str:
    """Replace the whole policy with ``text`` (read from ``file``) if all of it is valid;
    the summary of what was imported."""
    catalog = load_catalog(catalog_dir)
    # Restoring onto a new machine: the filter runs once first, so the import goes where it reads.
    database = open_database(config.database_url, data_dir=config.data_dir, create=False)
    try:
        store = PolicyStore(database)
        # Times without an offset are read in the zone the running filter uses.
        zone = policyfile.family_zone(store, config.zone)
        summary = policyfile.import_policy(
            store, text, known_tags=catalog.tags, now=datetime.now(UTC), source=str(file), zone=zone
        )
        return str(summary)
    finally:
        database.close()
