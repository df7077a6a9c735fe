"""``dnsfilter lists status`` and ``dnsfilter lists update`` on real files: the
test catalog copied with its list addresses pointing nowhere (names under
``.invalid``, a closed port on 127.0.0.1), as on a box that is offline."""

from __future__ import annotations

import dataclasses
import datetime
import logging
import shutil
import socket
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from dnsfilter.cli.lists import format_status, status_text, update
from dnsfilter.config import DEFAULT_CONFIG, Config
from dnsfilter.lists.blocklists import Blocklists
from dnsfilter.lists.catalog import load_catalog
from dnsfilter.lists.compiler import INDEX_FILE
from dnsfilter.lists.index import DomainIndex
from dnsfilter.lists.liststore import ListStore

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "blocklists"
SAIGON = ZoneInfo("Asia/Ho_Chi_Minh")
# 13:15 UTC is 20:15 in Saigon: a time shown in the machine's UTC would read 13:15.
AT = datetime.datetime(2026, 12, 7, 13, 15, tzinfo=datetime.UTC).timestamp()
NO_NAME = "(the name lookup failed). Check that this box is connected to the internet and its DNS settings work."


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture
def catalog(tmp_path: Path) -> Path:
    """The test catalog with two lists on servers whose names do not resolve and one on a closed port."""
    folder = tmp_path / "blocklists"
    shutil.copytree(FIXTURE, folder)
    text = (folder / "catalog.yaml").read_text()
    for old, new in [
        ("https://example.org/lists/adult.txt", "https://lists.invalid/adult.txt"),
        ("https://example.org/lists/malware.txt", "https://mirror.invalid/malware.txt"),
        ("https://example.org/lists/games.txt", f"https://127.0.0.1:{closed_port()}/games.txt"),
    ]:
        assert old in text
        text = text.replace(old, new)
    (folder / "catalog.yaml").write_text(text)
    return folder


@pytest.fixture
def config(tmp_path: Path) -> Config:
    (tmp_path / "data").mkdir()
    return dataclasses.replace(DEFAULT_CONFIG, data_dir=tmp_path / "data", time_zone="Asia/Ho_Chi_Minh")


def test_lists_that_fail_alike_are_one_problem(
    config: Config, catalog: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="dnsfilter"):
        assert update(config, catalog) == 1  # nothing could be downloaded
    printed = capsys.readouterr().out
    lines = printed.splitlines()
    assert lines[0] == (
        "  2 lists not updated (test-adult and test-malware): "
        f"Could not find the list server lists.invalid and mirror.invalid {NO_NAME}"
    )
    assert lines[1].startswith("  test-games: not updated. Could not connect to the list server 127.0.0.1 (")
    assert lines[-1] == "3 list(s) could not be downloaded; their previous copies stay in use."
    assert not caplog.records  # said once, on standard output, not again in log lines

    out = status_text(config, catalog)
    assert out.count("the name lookup failed") == 1
    rows = out.splitlines()
    games = rows.index(next(row for row in rows if row.startswith("test-games ")))
    assert rows[games + 1].startswith("    last error (") and "Could not connect to the list server" in rows[games + 1]
    assert not any(row.startswith("    last error") for row in rows[games + 2 :] + rows[:games])
    store = ListStore(config.data_dir, catalog)
    tried = [store.status(source_id).last_attempt or 0.0 for source_id in ("test-adult", "test-malware")]
    at = datetime.datetime.fromtimestamp(max(tried), SAIGON)  # the later of the two
    tried_text = f"last tried {at:%Y-%m-%d %H:%M} (Asia/Ho_Chi_Minh)"
    group = rows.index(f"2 lists could not be updated (test-adult and test-malware), {tried_text}:")
    assert rows[group + 1] == f"    Could not find the list server lists.invalid and mirror.invalid {NO_NAME}"


def test_every_time_is_in_the_familys_zone(config: Config, catalog: Path) -> None:
    store = ListStore(config.data_dir, catalog, clock=lambda: AT)
    store.save_download("test-adult", b"adult.example\n", entries=1, rejected={}, etag=None, last_modified=None)
    store.record_failure("test-games", "The list server answered 500 (Internal Server Error).")
    sources = load_catalog(catalog).sources
    table = format_status(sources, store, SAIGON).splitlines()
    assert table[0].split("  ")[0] == "List" and "Last updated (Asia/Ho_Chi_Minh)" in table[0]
    assert "2026-12-07 20:15" in next(row for row in table if row.startswith("test-adult "))
    assert "    last error (2026-12-07 20:15): The list server answered 500 (Internal Server Error)." in table

    out = status_text(config, catalog)
    assert "The lists have not been compiled yet" in out
    Blocklists(config.data_dir, catalog).open_blocking()  # compiled as at the filter's first start
    built = DomainIndex.load(config.data_dir / INDEX_FILE).metadata["built_at"]
    assert isinstance(built, float)
    at = datetime.datetime.fromtimestamp(built, SAIGON)
    assert f"names, built {at:%Y-%m-%d %H:%M} (Asia/Ho_Chi_Minh), " in status_text(config, catalog)


def test_the_table_for_parents(config: Config, catalog: Path) -> None:
    store = ListStore(config.data_dir, catalog, clock=lambda: AT)
    store.save_download(
        "test-adult", b"adult.example\nporn.example\n", entries=2, rejected={"ip-address": 2, "whitespace": 1},
        etag=None, last_modified=None,
    )  # fmt: skip
    table = format_status(load_catalog(catalog).sources, store, datetime.UTC)
    lines = table.splitlines()
    assert lines[0].startswith("List") and lines[0].endswith("Last updated (UTC)  Copy in use")
    adult = next(line for line in lines if line.startswith("test-adult "))
    assert "3 (2 ip address, 1 whitespace)" in adult and "2026-12-07 13:15" in adult and "downloaded" in adult
    games = next(line for line in lines if line.startswith("test-games "))
    assert "about 2" in games and "never" in games and "bundled copy" in games
    assert "keeps using its previous good copy" not in table  # nothing failed
    store.status_path.write_bytes(b"{not json")
    assert "The list status file " in format_status(load_catalog(catalog).sources, store, datetime.UTC)
