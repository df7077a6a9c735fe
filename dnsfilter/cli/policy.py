"""``dnsfilter policy export|import``: the whole family policy as one YAML file."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

from dnsfilter.config import Config
from dnsfilter.errors import DnsFilterError
from dnsfilter.lists.catalog import BLOCKLISTS_DIR, load_catalog
from dnsfilter.store import PolicyStore, open_database, policyfile


def export(config: Config, output: Path | None) -> None:
    """Write the policy to ``output`` (None: standard output)."""
    database = open_database(config.database_url, data_dir=config.data_dir)
    try:
        exported = policyfile.export_policy(PolicyStore(database), datetime.now(UTC))
    finally:
        database.close()
    if output is None:
        sys.stdout.write(exported)
    else:
        policyfile.write_policy_file(output, exported)


def import_file(config: Config, file: Path, catalog_dir: Path = BLOCKLISTS_DIR) -> str:
    """Replace the whole policy with ``file`` if all of it is valid; the summary of what was imported."""
    text = policyfile.read_policy_file(file)
    if config.database.url is None:
        # Restoring onto a new machine: the SQLite file goes in a data dir that may not exist yet.
        try:
            config.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise DnsFilterError(f"cannot create the data directory {config.data_dir}: {error.strerror}") from error
    catalog = load_catalog(catalog_dir)
    database = open_database(config.database_url, data_dir=config.data_dir)
    try:
        return policyfile.import_policy(
            PolicyStore(database), text, known_tags=catalog.tags, now=datetime.now(UTC), source=str(file)
        )
    finally:
        database.close()
