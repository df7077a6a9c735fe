"""A big list is compiled a chunk of lines at a time: the compile's memory is the
index's, not the list's lines and entries all at once, and chunking changes
nothing in what is read (line numbers, odd bytes, long lines, the last line)."""

from __future__ import annotations

import random
import tracemalloc
from pathlib import Path

import pytest

from dnsfilter.lists import listfile
from dnsfilter.lists.compiler import compile_index
from dnsfilter.lists.index import DomainIndex
from dnsfilter.lists.listfile import parse_text, read_entries

NAMES = 100_000


def whole_split(data: bytes) -> list[str]:
    """The lines as reading the whole text at once gives them."""
    lines = data.decode("utf-8", "surrogateescape").split("\n")
    if lines and not lines[-1]:
        lines.pop()
    return lines


@pytest.mark.parametrize("chunk_bytes", [1, 7, 64, 1000])
@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\n",
        b"\n\n",
        b"a.example",
        b"a.example\n",
        b"a.example\nb.example\n\n",
        b"a.example\r\nb.example\r\n",
        b"x" * 3000 + b".example\nshort.example\n",  # a line longer than any chunk
        b"caf\xc3\xa9.example\nbad\xff.example\nok.example\n",  # a two-byte letter, an undecodable byte
    ],
)
def test_lines_read_in_chunks_are_the_lines_of_the_whole_text(data: bytes, chunk_bytes: int) -> None:
    assert list(listfile._lines(data, chunk_bytes)) == whole_split(data)


def test_random_texts_split_alike_at_any_chunk_size() -> None:
    chooser = random.Random(20261207)
    for _ in range(200):
        data = bytes(chooser.choice(b"ab.\n\r\xc3\xa9") for _ in range(chooser.randrange(0, 300)))
        assert list(listfile._lines(data, chooser.randrange(1, 50))) == whole_split(data)


def test_line_numbers_run_on_across_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(listfile, "CHUNK_BYTES", 64)
    data = "".join(f"n{number}.example\n" if number % 7 else "# a comment\n" for number in range(1, 501)).encode()
    entries, report = read_entries(data, "domains", True)
    read = [(entry.name, entry.line) for entry in entries]
    assert read == [(f"n{number}.example", number) for number in range(1, 501) if number % 7]
    assert (report.lines, report.entries) == (500, len(read))
    assert read == [(entry.name, entry.line) for entry in parse_text(data, "domains", True)[0]]


def test_a_report_is_complete_once_the_entries_are_read() -> None:
    entries, report = read_entries(b"a.example\nnot a name!\nb.example\n", "domains", True)
    assert [entry.name for entry in entries] == ["a.example", "b.example"]
    assert (report.lines, report.entries, report.rejected_total) == (3, 2, 1)


def test_a_big_list_compiles_without_holding_its_entries(tmp_path: Path) -> None:
    """100,000 names: the old way (every line and entry object at once) traced
    some 250 bytes a name; the index itself needs 12 to 30."""
    catalog = tmp_path / "catalog"
    (catalog / "lists").mkdir(parents=True)
    (catalog / "catalog.yaml").write_text(
        "providers:\n"
        "  - {id: bench, name: Bench, homepage: https://example.org/, license: CC0-1.0,\n"
        "     license_file: lists/LICENSE, attribution: Bench}\n"
        "categories:\n"
        "  - id: adult\n"
        "    kind: block\n"
        "    title: {en: Adult, vi: Người lớn}\n"
        "    description: {en: Adult sites., vi: Trang người lớn.}\n"
        "    sources:\n"
        "      - {id: big, provider: bench, format: domains, match: subdomains,\n"
        "         url: https://example.org/big.txt, snapshot: lists/big.txt, expected_entries: 100000}\n"
    )
    (catalog / "lists" / "LICENSE").write_text("CC0\n")
    listed = [f"site{number}-{number * 7919 % 100003}.example" for number in range(NAMES)]
    big = catalog / "lists" / "big.txt"
    big.write_text("\n".join(listed) + "\n")
    tracemalloc.start()
    try:
        report = compile_index(catalog, {"big": big}, tmp_path / "index.bin")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.entries == NAMES
    assert peak < big.stat().st_size + 60 * NAMES, f"traced peak {peak / NAMES:.0f} bytes a name"
    index = DomainIndex.load(tmp_path / "index.bin")
    try:
        assert index.tag_names_of(listed[0]) == ("adult",)
        assert index.tag_names_of("www." + listed[-1]) == ("adult",)
        assert index.tag_names_of("other.example") == ()
    finally:
        index.close()
