"""The compiled domain index: matching rules, the file format, real list data."""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from array import array
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from dnsfilter.errors import IndexFileError
from dnsfilter.lists import indexfile
from dnsfilter.lists.index import DomainIndex, IndexBuilder

TAGS = ("ads", "adult", "gambling", "social", "tiktok")
BENCH_DATA = Path(os.environ.get("DNSFILTER_BENCH_DATA", Path(__file__).parents[2] / ".." / "shared" / "data" / "bench"))


@dataclass(frozen=True)
class Entry:
    name: str
    tags: tuple[str, ...]
    subdomains: bool = True
    exception: bool = False


def mask(tag_names: Sequence[str], tags: Sequence[str]) -> int:
    return sum(1 << tag_names.index(tag) for tag in tags)


def build(path: Path, entries: Sequence[Entry], tag_names: Sequence[str] = TAGS,
          check_key: bytes | None = None) -> DomainIndex:
    builder = IndexBuilder(tag_names, check_key=check_key)
    for entry in entries:
        builder.add(
            entry.name, mask(tag_names, entry.tags), subdomains=entry.subdomains, exception=entry.exception
        )
    builder.write(path, {"sources": ["test"]})
    return DomainIndex.load(path)


def names_of(index: DomainIndex, tags: int) -> set[str]:
    return {name for bit, name in enumerate(index.tag_names) if tags >> bit & 1}


@pytest.fixture
def index_path(tmp_path: Path) -> Path:
    return tmp_path / "index.bin"


# (entries, name looked up, tags expected)
LOOKUPS = {
    "exact entry matches itself": ([Entry("ads.example.org", ("ads",), False)], "ads.example.org", {"ads"}),
    "exact entry skips subdomains": ([Entry("ads.example.org", ("ads",), False)], "x.ads.example.org", set()),
    "exact entry skips parent": ([Entry("ads.example.org", ("ads",), False)], "example.org", set()),
    "subdomain entry matches itself": ([Entry("example.org", ("ads",))], "example.org", {"ads"}),
    "subdomain entry matches child": ([Entry("example.org", ("ads",))], "www.example.org", {"ads"}),
    "subdomain entry matches deep child": ([Entry("example.org", ("ads",))], "a.b.c.example.org", {"ads"}),
    "subdomain entry skips parent": ([Entry("ads.example.org", ("ads",))], "example.org", set()),
    "subdomain entry skips top label": ([Entry("ads.example.org", ("ads",))], "org", set()),
    "label boundary respected": ([Entry("example.org", ("ads",))], "badexample.org", set()),
    "sibling not matched": ([Entry("a.example.org", ("ads",))], "b.example.org", set()),
    "other top level not matched": ([Entry("example.org", ("ads",))], "example.com", set()),
    "single label tree matches itself": ([Entry("zip", ("ads",))], "zip", {"ads"}),
    "single label tree matches child": ([Entry("zip", ("ads",))], "files.example.zip", {"ads"}),
    "single label is not a suffix match": ([Entry("zip", ("ads",))], "zip.example.org", set()),
    "single label exact matches itself": ([Entry("localhost", ("ads",), False)], "localhost", {"ads"}),
    "single label exact skips child": ([Entry("localhost", ("ads",), False)], "a.localhost", set()),
    "exception at the same level": (
        [Entry("example.org", ("ads",)), Entry("example.org", ("ads",), exception=True)],
        "www.example.org",
        set(),
    ),
    "exception below a block": (
        [Entry("example.org", ("ads",)), Entry("safe.example.org", ("ads",), exception=True)],
        "x.safe.example.org",
        set(),
    ),
    "exception below leaves siblings": (
        [Entry("example.org", ("ads",)), Entry("safe.example.org", ("ads",), exception=True)],
        "other.example.org",
        {"ads"},
    ),
    "exception below leaves parent": (
        [Entry("example.org", ("ads",)), Entry("safe.example.org", ("ads",), exception=True)],
        "example.org",
        {"ads"},
    ),
    "exception above beats block below": (
        [Entry("ads.example.org", ("ads",)), Entry("example.org", ("ads",), exception=True)],
        "ads.example.org",
        set(),
    ),
    "exception beats exact block": (
        [Entry("ads.example.org", ("ads",), False), Entry("example.org", ("ads",), exception=True)],
        "ads.example.org",
        set(),
    ),
    "exact exception only at its name": (
        [Entry("example.org", ("ads",)), Entry("example.org", ("ads",), False, exception=True)],
        "www.example.org",
        {"ads"},
    ),
    "exact exception at its name": (
        [Entry("example.org", ("ads",)), Entry("example.org", ("ads",), False, exception=True)],
        "example.org",
        set(),
    ),
    "exception at a single label": (
        [Entry("example.zip", ("ads",)), Entry("zip", ("ads",), exception=True)],
        "example.zip",
        set(),
    ),
    "exception removes only its tags": (
        [Entry("example.org", ("ads", "adult")), Entry("example.org", ("ads",), exception=True)],
        "example.org",
        {"adult"},
    ),
    "exception without a block": ([Entry("example.org", ("ads",), exception=True)], "example.org", set()),
    "same name from several lists": (
        [Entry("example.org", ("ads",)), Entry("example.org", ("adult",)), Entry("example.org", ("ads",))],
        "example.org",
        {"ads", "adult"},
    ),
    "exact and subdomain entries of one name": (
        [Entry("example.org", ("adult",), False), Entry("example.org", ("ads",))],
        "example.org",
        {"ads", "adult"},
    ),
    "exact part not inherited": (
        [Entry("example.org", ("adult",), False), Entry("example.org", ("ads",))],
        "www.example.org",
        {"ads"},
    ),
    "parent and child union": (
        [Entry("example.org", ("ads",)), Entry("video.example.org", ("social",)), Entry("org", ("gambling",))],
        "x.video.example.org",
        {"ads", "social", "gambling"},
    ),
    "child tags stay below the child": (
        [Entry("example.org", ("ads",)), Entry("video.example.org", ("social",))],
        "www.example.org",
        {"ads"},
    ),
    "name with trailing dot is another name": ([Entry("example.org", ("ads",))], "example.org.", set()),
}


@pytest.mark.parametrize(("entries", "name", "expected"), LOOKUPS.values(), ids=LOOKUPS.keys())
def test_lookup(index_path: Path, entries: list[Entry], name: str, expected: set[str]) -> None:
    index = build(index_path, entries)
    try:
        assert names_of(index, index.tags(name)) == expected
        assert set(index.tag_names_of(name)) == expected
    finally:
        index.close()


def test_hundreds_of_tags(index_path: Path) -> None:
    tag_names = [f"tag{bit}" for bit in range(300)]
    index = build(
        index_path,
        [Entry("example.org", ("tag299", "tag0")), Entry("www.example.org", ("tag150",))],
        tag_names,
    )
    assert names_of(index, index.tags("www.example.org")) == {"tag0", "tag150", "tag299"}
    # Spelled out in bit order, and the same when asked again (from the memo).
    assert index.tag_names_of("www.example.org") == ("tag0", "tag150", "tag299")
    assert index.tag_names_of("x.www.example.org") == ("tag0", "tag150", "tag299")
    assert index.tag_names_of("example.org") == ("tag0", "tag299")
    assert index.tag_names_of("example.com") == ()
    assert index.tag_names == tuple(tag_names)
    index.close()


def test_many_tag_sets_widen_ids(index_path: Path) -> None:
    # More than 65536 distinct tag sets need 32-bit ids in the file.
    tag_names = [f"t{bit}" for bit in range(17)]
    builder = IndexBuilder(tag_names)
    for value in range(1, 70_001):
        builder.add(f"n{value}.example.org", value, subdomains=False)
    stats = builder.write(index_path, {})
    index = DomainIndex.load(index_path)
    assert stats.tag_sets == 70_000
    assert [index.tags(f"n{value}.example.org") for value in (1, 65_536, 70_000)] == [1, 65_536, 70_000]
    index.close()


def test_empty_index() -> None:
    index = DomainIndex.empty()
    assert len(index) == 0
    assert index.tags("example.org") == 0
    assert index.tags("org") == 0
    assert index.tag_names == ()
    index.close()


def test_built_empty_index(index_path: Path) -> None:
    index = build(index_path, [])
    assert len(index) == 0
    assert index.tags("www.example.org") == 0
    index.close()


def test_round_trip(index_path: Path) -> None:
    builder = IndexBuilder(TAGS)
    builder.add("example.org", 0b01, subdomains=True)
    builder.add("example.org", 0b10, subdomains=False)
    builder.add("ads.example.net", 0b100, subdomains=True)
    builder.add("local", 0b1000, subdomains=False)
    builder.add("nothing.example.org", 0, subdomains=True)  # no tags: not an entry
    metadata = {"sources": [{"url": "https://lists.example/ads.txt", "entries": 3}], "built_at": 1700000000.5}
    stats = builder.write(index_path, metadata)
    index = DomainIndex.load(index_path)
    assert (len(index), stats.entries, stats.tag_sets) == (3, 3, 3)
    assert stats.bytes == index_path.stat().st_size
    assert stats.slots >= 1 and stats.seconds >= 0
    assert index.metadata == metadata
    assert index.tag_names == TAGS
    assert [index.tags(name) for name in ("example.org", "a.example.org", "x.ads.example.net", "local")] == [
        0b11,
        0b01,
        0b100,
        0b1000,
    ]
    assert not index_path.with_name("index.bin.tmp").exists()
    index.close()
    assert index.tags("example.org") == 0  # closed: lists nothing


def test_same_entries_same_bytes(tmp_path: Path) -> None:
    entries = [
        Entry("example.org", ("ads",)),
        Entry("example.org", ("adult",), False),
        Entry("safe.example.org", ("ads",), exception=True),
        Entry("zip", ("gambling",)),
        *(Entry(f"host{number}.example.net", (TAGS[number % 5],)) for number in range(300)),
    ]
    build(tmp_path / "forward.bin", entries, check_key=b"k" * 16).close()
    build(tmp_path / "backward.bin", entries[::-1], check_key=b"k" * 16).close()
    assert (tmp_path / "forward.bin").read_bytes() == (tmp_path / "backward.bin").read_bytes()


def test_write_twice_refused(index_path: Path) -> None:
    builder = IndexBuilder(TAGS)
    builder.write(index_path, {})
    with pytest.raises(RuntimeError):
        builder.write(index_path, {})


@pytest.mark.parametrize("tags", [1 << len(TAGS), -1], ids=["unknown bit", "negative"])
def test_add_rejects_bad_masks(tags: int) -> None:
    with pytest.raises(ValueError):
        IndexBuilder(TAGS).add("example.org", tags, subdomains=True)


ODD_NAMES = {
    "empty": "",
    "dot": ".",
    "dots": "...",
    "empty label": "a..example.org",
    "leading dot": ".example.org",
    "escaped byte": "\\000.example.org",
    "escaped dot": "a\\.b.example.org",
    "nul": "a\x00b.example.org",
    "latin-1": "caf\xe9.example.org",
    "lone surrogate": "\udcff.example.org",
    "space": " .org",
    "long": "a" * 63 + ".b" * 100 + ".example.org",
}


@pytest.mark.parametrize("name", ODD_NAMES.values(), ids=ODD_NAMES.keys())
def test_odd_names(index_path: Path, name: str) -> None:
    index = build(index_path, [Entry("example.org", ("ads",)), Entry(name, ("adult",))])
    try:
        assert "adult" in names_of(index, index.tags(name))
        assert index.tags("www.example.org") == 1
        assert isinstance(DomainIndex.empty().tags(name), int)
    finally:
        index.close()


def _header(path: Path) -> list[int | bytes]:
    return list(indexfile.HEADER.unpack_from(path.read_bytes()))


def _rewrite_header(path: Path, **changes: int) -> None:
    """Change header fields, keeping the header checksum valid."""
    data = bytearray(path.read_bytes())
    fields = _header(path)
    names = ["magic", "version", "id_width", "bucket_bits", "json_length", "entries", "size", "body_crc", "crc"]
    for key, value in changes.items():
        fields[names.index(key)] = value
    packed = indexfile.HEADER.pack(*fields)
    data[: indexfile.HEADER.size] = packed[:-4] + struct.pack("<I", zlib.crc32(packed[:-4]))
    path.write_bytes(bytes(data))


def _flip(offset: int) -> Callable[[Path], None]:
    def damage(path: Path) -> None:
        data = bytearray(path.read_bytes())
        data[offset if offset >= 0 else len(data) + offset] ^= 0x40
        path.write_bytes(bytes(data))

    return damage


DAMAGE: dict[str, tuple[Callable[[Path], object], str]] = {
    "missing": (lambda path: path.unlink(), "does not exist"),
    "empty": (lambda path: path.write_bytes(b""), "truncated"),
    "shorter than a header": (lambda path: path.write_bytes(path.read_bytes()[:20]), "truncated"),
    "truncated": (lambda path: path.write_bytes(path.read_bytes()[:-100]), "truncated"),
    "padded": (lambda path: path.write_bytes(path.read_bytes() + bytes(8)), "truncated or padded"),
    "wrong magic": (lambda path: path.write_bytes(b"NOTANIDX" + path.read_bytes()[8:]), "wrong magic"),
    "text file": (lambda path: path.write_text("example.org\n" * 100), "wrong magic"),
    "header byte flipped": (_flip(20), "header is damaged"),
    "body byte flipped": (_flip(-3), "damaged"),
    "json byte flipped": (_flip(indexfile.HEADER.size + 2), "damaged"),
    "newer version": (lambda path: _rewrite_header(path, version=99), "version 99"),
    "bad id width": (lambda path: _rewrite_header(path, id_width=3), "inconsistent"),
    "entries disagree with size": (lambda path: _rewrite_header(path, entries=5), "truncated"),
}


@pytest.mark.parametrize(("damage", "message"), DAMAGE.values(), ids=DAMAGE.keys())
def test_damaged_file_raises(index_path: Path, damage: Callable[[Path], object], message: str) -> None:
    names = [f"host{number}.example.org" for number in range(500)]
    build(index_path, [Entry(name, ("ads",)) for name in names]).close()
    damage(index_path)
    with pytest.raises(IndexFileError) as caught:
        DomainIndex.load(index_path)
    text = str(caught.value)
    assert message in text
    assert str(index_path) in text
    assert "\n" not in text and "Traceback" not in text


BAD_TABLES = {
    "no tag names": {"tag_sets": [], "single_labels": [], "metadata": {}},
    "tag name not text": {"tag_names": [1], "tag_sets": [], "single_labels": [], "metadata": {}},
    "mask not hex": {"tag_names": ["ads"], "tag_sets": [["x", "0", "0", "0"]], "single_labels": [], "metadata": {}},
    "mask too wide": {"tag_names": ["ads"], "tag_sets": [["4", "0", "0", "0"]], "single_labels": [], "metadata": {}},
    "three masks": {"tag_names": ["ads"], "tag_sets": [["1", "0", "0"]], "single_labels": [], "metadata": {}},
    "label without tag set": {"tag_names": [], "tag_sets": [], "single_labels": [["zip", 0]], "metadata": {}},
    "metadata not an object": {"tag_names": [], "tag_sets": [], "single_labels": [], "metadata": []},
}


@pytest.mark.parametrize("payload", BAD_TABLES.values(), ids=BAD_TABLES.keys())
def test_bad_table_raises(payload: dict[str, object]) -> None:
    empty = memoryview(array("I"))
    arrays = indexfile.IndexArrays(memoryview(array("I", [0, 0])), empty, empty, memoryview(array("H")), 0)
    with pytest.raises(IndexFileError):
        DomainIndex(arrays, {"check_key": "00" * 16, **payload})


def test_failed_write_keeps_old_file(index_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    build(index_path, [Entry("example.org", ("ads",))]).close()
    before = index_path.read_bytes()

    builder = IndexBuilder(TAGS)
    builder.add("example.net", 1, subdomains=True)
    with pytest.raises(TypeError):
        builder.write(index_path, {"not json": object()})

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    builder = IndexBuilder(TAGS)
    builder.add("example.net", 1, subdomains=True)
    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(IndexFileError, match="No space left on device"):
        builder.write(index_path, {})

    assert index_path.read_bytes() == before
    assert not index_path.with_name("index.bin.tmp").exists()
    index = DomainIndex.load(index_path)
    assert index.tags("www.example.org") == 1 and index.tags("example.net") == 0
    index.close()


def test_write_to_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(IndexFileError, match="could not write"):
        IndexBuilder(TAGS).write(tmp_path / "no" / "such" / "index.bin", {})


def _read_names(name: str) -> list[str]:
    path = BENCH_DATA / name
    if not path.exists():
        pytest.skip(f"real list data not found: {path} (set DNSFILTER_BENCH_DATA)")
    with gzip.open(path, "rt", encoding="ascii") as lines:
        return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


@pytest.fixture(scope="module")
def blocked_names() -> list[str]:
    return _read_names("domains-1m.txt.gz")


@pytest.fixture(scope="module")
def real_index(blocked_names: list[str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[DomainIndex]:
    """The 1M real names as subdomain entries, and every 10th also exactly."""
    builder = IndexBuilder(("listed", "exact"))
    for name in blocked_names:
        builder.add(name, 1, subdomains=True)
    for name in blocked_names[::10]:
        builder.add(name, 2, subdomains=False)
    path = tmp_path_factory.mktemp("index") / "index.bin"
    builder.write(path, {})
    index = DomainIndex.load(path)
    yield index
    index.close()


def _parents(name: str) -> Iterator[str]:
    while "." in name:
        name = name.split(".", 1)[1]
        yield name


@pytest.fixture(scope="module")
def listed(blocked_names: list[str]) -> set[str]:
    return set(blocked_names)


def test_real_lists(real_index: DomainIndex, blocked_names: list[str], listed: set[str]) -> None:
    tags = real_index.tags
    assert len(real_index) == len(listed)
    assert [name for name in blocked_names if not tags(name) & 1] == []
    exact = set(blocked_names[::10])
    assert [name for name in blocked_names if tags(name) & 2 != (2 if name in exact else 0)] == []
    # Subdomains match the subdomain entry; the exact bit only if listed themselves.
    for prefix in ("www.", "a.b."):
        children = [prefix + name for name in blocked_names[::5]]
        assert [child for child in children if tags(child) != (3 if child in exact else 1)] == []
    # A parent matches only if it (or one of its own parents) is listed.
    wrong = [
        parent
        for name in blocked_names[::3]
        for parent in _parents(name)
        if bool(tags(parent)) != any(up in listed for up in (parent, *_parents(parent)))
    ]
    assert wrong == []


def test_real_allowed_names_not_matched(real_index: DomainIndex, listed: set[str]) -> None:
    allowed = _read_names("allowed-100k.txt.gz")
    assert len(allowed) > 90_000
    tags = real_index.tags
    assert [name for name in allowed if tags(name)] == []
    children = ["www." + name for name in allowed]
    assert [child for child in children if bool(tags(child)) != (child in listed)] == []
