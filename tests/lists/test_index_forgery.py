"""The index's second hash cannot be forged, and an index of the old format is
recompiled rather than used.

In format 1 both halves of an entry were CRC-32s (of the name and of the
reversed name). CRC-32 is affine over GF(2): flipping a byte changes both
CRCs by a fixed vector, so a name with any chosen pair is one small linear
system. The operator of a blocked site could solve it for a subdomain of
their own that shares the pair of a published ``@@`` exception, and that
subdomain would be let through.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import pytest

from dnsfilter.errors import IndexFileError
from dnsfilter.lists import indexfile
from dnsfilter.lists.blocklists import Blocklists
from dnsfilter.lists.index import DomainIndex
from tests.lists.test_index import Entry, _rewrite_header, build
from tests.running import TEST_BLOCKLISTS

EXCEPTION = "allowed-exception.example.com"
ENTRIES = [
    Entry("example.com", ("ads",)),
    Entry(EXCEPTION, ("ads",), exception=True),
    Entry("attacker.example", ("ads",)),
]
# The collision from the report: a name under attacker.example with the
# format-1 pair of EXCEPTION.
REPORTED = "acaaccccaaccaaaaaccaaaccccccaacacacacacc.caccaaacaacccacccacaaaaaaaaaaaaaaaaaaaaa.attacker.example"


def old_pair(name: bytes) -> int:
    """Format 1's two hashes of a name, as one 64-bit number."""
    return zlib.crc32(name) | zlib.crc32(name[::-1]) << 32


def forge(target: bytes, template: bytes, flip: int = ord("a") ^ ord("c")) -> bytes:
    """``template`` with some of its "a" bytes turned into "c" so that its old
    pair equals ``target``'s: Gaussian elimination over GF(2), 64 equations.

    For names of one length the pair is affine in the bytes, so flipping
    byte i always changes it by the same ``delta_i``; find flips whose
    deltas XOR to the difference between the two pairs.
    """
    base = old_pair(template)
    positions = [at for at, byte in enumerate(template) if byte == ord("a")]
    basis: dict[int, tuple[int, int]] = {}  # leading bit -> (delta, flips making it)
    for number, at in enumerate(positions):
        flipped = bytearray(template)
        flipped[at] ^= flip
        delta, flips = old_pair(bytes(flipped)) ^ base, 1 << number
        while delta:
            known = basis.get(delta.bit_length())
            if known is None:
                basis[delta.bit_length()] = (delta, flips)
                break
            delta, flips = delta ^ known[0], flips ^ known[1]
    wanted, flips = old_pair(target) ^ base, 0
    while wanted:
        delta, making = basis[wanted.bit_length()]  # KeyError: no solution with this template
        wanted, flips = wanted ^ delta, flips ^ making
    forged = bytearray(template)
    for number, at in enumerate(positions):
        if flips >> number & 1:
            forged[at] ^= flip
    return bytes(forged)


FORGED = forge(EXCEPTION.encode(), b"a" * 40 + b"." + b"a" * 40 + b".attacker.example").decode()


@pytest.mark.parametrize("forged", [REPORTED, FORGED], ids=["reported name", "forged here"])
def test_a_forged_name_does_not_inherit_an_exception(tmp_path: Path, forged: str) -> None:
    # Under format 1 the forged name is the exception, as far as the index can tell.
    assert forged.endswith(".attacker.example") and forged != EXCEPTION
    assert old_pair(forged.encode()) == old_pair(EXCEPTION.encode())
    # It still shares the first, unkeyed half: the keyed half must tell them apart.
    assert zlib.crc32(forged.encode()) == zlib.crc32(EXCEPTION.encode())
    index = build(tmp_path / "index.bin", ENTRIES)
    try:
        assert index.tag_names_of(forged) == ("ads",)
        assert index.tag_names_of("www." + forged) == ("ads",)
        # The exception itself still un-blocks its name and subdomains.
        assert index.tags(EXCEPTION) == 0 and index.tags("www." + EXCEPTION) == 0
        assert index.tag_names_of("www.example.com") == ("ads",)
    finally:
        index.close()


def test_each_index_file_has_its_own_key(tmp_path: Path) -> None:
    keys = set()
    for name in ("first.bin", "second.bin"):
        build(tmp_path / name, ENTRIES).close()
        mapped = indexfile.MappedIndexFile(tmp_path / name)
        keys.add(mapped.payload["check_key"])
        mapped.close()
    assert len(keys) == 2


@pytest.mark.parametrize("key", [None, "00" * 8, "not hex"], ids=["missing", "too short", "not hex"])
def test_an_unreadable_key_is_refused(tmp_path: Path, key: str | None) -> None:
    build(tmp_path / "index.bin", ENTRIES).close()
    mapped = indexfile.MappedIndexFile(tmp_path / "index.bin")
    payload = dict(mapped.payload)
    del payload["check_key"]
    if key is not None:
        payload["check_key"] = key
    with pytest.raises(IndexFileError, match="key|table"):
        DomainIndex(mapped.arrays, payload)
    mapped.close()


def test_an_index_of_the_old_format_is_compiled_again(tmp_path: Path) -> None:
    # A file claiming format 1 that lists a name the test lists do not.
    build(tmp_path / "index.bin", [Entry("planted.example", ("ads",))]).close()
    _rewrite_header(tmp_path / "index.bin", version=1)
    with pytest.raises(IndexFileError, match="version 1"):
        DomainIndex.load(tmp_path / "index.bin")
    blocklists = Blocklists(tmp_path, TEST_BLOCKLISTS)
    index = blocklists.open_blocking()
    assert index.tags("planted.example") == 0
    assert index.tag_names_of("www.adult.example") == ("adult",)
    assert indexfile.HEADER.unpack_from((tmp_path / "index.bin").read_bytes())[1] == indexfile.VERSION
    index.close()
