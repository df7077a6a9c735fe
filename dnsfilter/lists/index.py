"""The compiled domain index: every list and service merged into one file.

A name maps to a tag-set id; a tag set holds four masks of tags (one bit per
category or service): added for this exact name, added for it and every
subdomain, and the same two removed by exceptions (adblock ``@@``). Looking
up ``www.ads.example.org`` unions the name's own masks with the subdomain
masks of ``ads.example.org``, ``example.org`` and ``org``, then takes the
removals away, so an exception beats a block at any level, as in AdGuard.

Names are not stored, only two 32-bit hashes: a CRC-32 of the name (its
top bits pick a bucket, the rest is compared first) and a keyed BLAKE2s of
it, computed only when the CRC matches. The second is keyed (a random key
per file) because CRC-32 is affine: anyone can solve for a name with chosen
CRCs in milliseconds, and a blocked site could then mint a subdomain that
takes the tags of a published ``@@`` exception. Two names colliding on both
halves by chance is possible but rare (64 bits). Entries sit in buckets (1
to 2 per bucket) laid out by indexfile.py and memory-mapped, so loading is a
map and a checksum, and memory is 12 to 14 bytes per name.

Names must be normalised already: lower case, punycode, no trailing dot.
"""

from __future__ import annotations

import os
import time
import zlib
from array import array
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path
from types import MappingProxyType
from typing import Any

from dnsfilter.errors import IndexFileError
from dnsfilter.lists.indexfile import CHECK_KEY_BYTES, IndexArrays, MappedIndexFile, keyed_check, write_index_file
from dnsfilter.policy.tags import names_of

# A tag set: (exact add, subdomains add, exact remove, subdomains remove).
TagSet = tuple[int, int, int, int]
_EXACT_ADD, _TREE_ADD, _EXACT_REMOVE, _TREE_REMOVE = range(4)

# Buckets are a power of two in number and hold 1 to 2 entries on average.
# A miss reads the bucket bounds and every hash in it. Measured on 1M names:
# 1.9 per bucket is 12.1 bytes per name; 0.95 per bucket was ~6% faster but
# 14.2 bytes per name, too close to the 16-byte budget.
_MAX_SORT_BITS = 22


def _encode(name: str) -> bytes:
    try:
        return name.encode()
    except UnicodeEncodeError:
        # Lone surrogates from odd wire bytes: keep them rather than fail.
        return name.encode("utf-8", "surrogatepass")


@dataclass(frozen=True, slots=True)
class IndexStats:
    """What ``IndexBuilder.write`` produced: distinct names, buckets, distinct
    tag sets, file size and the seconds the write took."""

    entries: int
    slots: int
    tag_sets: int
    bytes: int
    seconds: float


class IndexBuilder:
    """Collects (name, tags) entries and writes them as one index file.

    Memory is about 12 bytes per added entry, 30 at the peak of ``write``
    (3M entries: 86 MB), not a Python object per name. ``write`` consumes
    the entries: it may be called once. ``check_key`` keys the second hash;
    leave it out (a fresh random key) except to reproduce a file.
    """

    def __init__(self, tag_names: Sequence[str], *, check_key: bytes | None = None) -> None:
        self._tag_names = tuple(tag_names)
        if len(set(self._tag_names)) != len(self._tag_names):
            raise ValueError("tag names must be distinct")
        self._check_key = os.urandom(CHECK_KEY_BYTES) if check_key is None else check_key
        if len(self._check_key) != CHECK_KEY_BYTES:
            raise ValueError(f"check_key must be {CHECK_KEY_BYTES} bytes")
        self._check = keyed_check(self._check_key)
        self._his = array("I")
        self._los = array("I")
        self._ids = array("I")
        self._tag_sets: list[TagSet] = []
        self._tag_set_ids: dict[TagSet, int] = {}
        # One single-entry tag set per (kind, mask), looked up on every add.
        self._single_kind: tuple[dict[int, int], ...] = ({}, {}, {}, {})
        self._unions: dict[tuple[int, int], int] = {}
        # Single labels ("com", "localhost") are few; they live in the JSON
        # table so that the lookup skips the top level for most names.
        self._single_labels: dict[str, int] = {}
        self._written = False

    def add(self, name: str, tags: int, *, subdomains: bool, exception: bool = False) -> None:
        """List ``name`` (and its subdomains if ``subdomains``) with ``tags``;
        with ``exception``, remove those tags there instead, whatever else says."""
        if tags >> len(self._tag_names) or tags < 0:
            raise ValueError(f"tags {tags:#x} has bits beyond the {len(self._tag_names)} tag names")
        if not tags:
            return
        kind = (_EXACT_REMOVE if exception else _EXACT_ADD) + (1 if subdomains else 0)
        tag_set = self._single_kind[kind].get(tags)
        if tag_set is None:
            masks = [0, 0, 0, 0]
            masks[kind] = tags
            tag_set = self._single_kind[kind][tags] = self._intern((masks[0], masks[1], masks[2], masks[3]))
        forward = _encode(name)
        if b"." not in forward:
            known = self._single_labels.get(name)
            self._single_labels[name] = tag_set if known is None else self._union(known, tag_set)
            return
        self._his.append(zlib.crc32(forward))
        self._los.append(self._check(forward))
        self._ids.append(tag_set)

    def write(self, path: Path, metadata: Mapping[str, Any]) -> IndexStats:
        """Write the index to ``path`` atomically (``path.tmp``, then a rename).

        Raises IndexFileError if the file cannot be written; the old file, if
        any, is left as it was.
        """
        if self._written:
            raise RuntimeError("IndexBuilder.write() consumes the entries and was already called")
        self._written = True
        started = time.perf_counter()
        his, los, ids, sort_bits, fine_starts = self._sorted_unique()
        bucket_bits = _bucket_bits(len(his), sort_bits)
        starts = fine_starts[:: 1 << (sort_bits - bucket_bits)]
        del fine_starts
        tag_sets, ids = self._used_tag_sets(ids)
        payload = {
            "tag_names": list(self._tag_names),
            "tag_sets": [[format(mask, "x") for mask in tag_set] for tag_set in tag_sets],
            "single_labels": sorted(self._single_labels.items()),
            "check_key": self._check_key.hex(),
            "metadata": dict(metadata),
        }
        arrays = IndexArrays(memoryview(starts), memoryview(his), memoryview(los), memoryview(ids), bucket_bits)
        size = write_index_file(path, arrays, payload)
        return IndexStats(
            entries=len(his) + len(self._single_labels),
            slots=len(starts) - 1,
            tag_sets=len(tag_sets),
            bytes=size,
            seconds=time.perf_counter() - started,
        )

    def _intern(self, tag_set: TagSet) -> int:
        known = self._tag_set_ids.get(tag_set)
        if known is None:
            known = self._tag_set_ids[tag_set] = len(self._tag_sets)
            self._tag_sets.append(tag_set)
        return known

    def _union(self, first: int, second: int) -> int:
        if first == second:
            return first
        pair = (first, second) if first < second else (second, first)
        known = self._unions.get(pair)
        if known is None:
            a, b = self._tag_sets[first], self._tag_sets[second]
            known = self._unions[pair] = self._intern((a[0] | b[0], a[1] | b[1], a[2] | b[2], a[3] | b[3]))
        return known

    def _sorted_unique(self) -> tuple[array[int], array[int], array[int], int, array[int]]:
        """Sort entries by (his, los), merging the tag sets of equal names.

        A counting sort on the top bits of ``his`` (1 to 2 entries per
        bucket), then a sort inside each bucket: flat arrays only, no list of
        a million Python ints. Returns the arrays, the bits sorted on, and the
        start of each of those buckets.
        """
        his, los, ids = self._his, self._los, self._ids
        self._his, self._los, self._ids = array("I"), array("I"), array("I")
        # As fine as the final buckets can be (merging only removes entries),
        # and the bucket arrays stay small next to the entry arrays.
        sort_bits = _bucket_bits(len(his), _MAX_SORT_BITS)
        shift = 32 - sort_bits
        counts = array("I", bytes(4 * ((1 << sort_bits) + 1)))
        for key in his:
            counts[(key >> shift) + 1] += 1
        starts = array("I", accumulate(counts))
        del counts
        # Where each entry goes; then one array at a time is moved there and
        # its unsorted copy freed, so at most one sorted copy is made at once
        # (the compile's peak memory on a small box).
        next_free = array("I", starts)
        places = array("I", bytes(4 * len(his)))
        for entry, key in enumerate(his):
            bucket = key >> shift
            places[entry] = next_free[bucket]
            next_free[bucket] += 1
        del next_free
        sorted_his, sorted_los, sorted_ids = (_placed(values, places) for values in (his, los, ids))
        del his, los, ids, places
        self._merge_buckets(sorted_his, sorted_los, sorted_ids, starts)
        return sorted_his, sorted_los, sorted_ids, sort_bits, starts

    def _merge_buckets(self, his: array[int], los: array[int], ids: array[int], starts: array[int]) -> None:
        """Sort each bucket and merge equal names, compacting the arrays in place."""
        write = 0
        for bucket in range(len(starts) - 1):
            begin, end = starts[bucket], starts[bucket + 1]
            starts[bucket] = write  # only buckets already read are overwritten
            if end - begin == 1:
                his[write], los[write], ids[write] = his[begin], los[begin], ids[begin]
                write += 1
            elif end > begin:
                merged: dict[tuple[int, int], int] = {}
                for at in range(begin, end):
                    name = (his[at], los[at])
                    known = merged.get(name)
                    merged[name] = ids[at] if known is None else self._union(known, ids[at])
                for (key, check), tag_set in sorted(merged.items()):
                    his[write], los[write], ids[write] = key, check, tag_set
                    write += 1
        starts[-1] = write
        del his[write:], los[write:], ids[write:]

    def _used_tag_sets(self, ids: array[int]) -> tuple[list[TagSet], array[int]]:
        """Drop tag sets only used before merging, number the rest in order of
        their masks, narrow the ids.

        Numbering by value, not by first use, makes the file depend only on
        the entries and the key, not on the order the lists were read: the
        same lists and key give the same bytes.
        """
        tag_sets = self._tag_sets
        used = sorted(set(ids).union(self._single_labels.values()), key=tag_sets.__getitem__)
        renumber = dict(zip(used, range(len(used))))
        narrow = array("H" if len(used) <= 1 << 16 else "I", map(renumber.__getitem__, ids))
        self._single_labels = {name: renumber[old] for name, old in self._single_labels.items()}
        return [tag_sets[old] for old in used], narrow


def _placed(values: array[int], places: array[int]) -> array[int]:
    """``values`` moved to their ``places``; ``values`` is emptied on the way."""
    moved = array("I", bytes(4 * len(values)))
    for value, place in zip(values, places):
        moved[place] = value
    del values[:]
    return moved


def _bucket_bits(entries: int, most: int) -> int:
    """Bits of bucket number for 1 to 2 entries per bucket, at most ``most``."""
    return min(max(entries.bit_length() - 1, 0), most)


class DomainIndex:
    """A loaded index: ``tags(name)`` is the mask of tags listing ``name``.

    ``tags`` is a closure over the mapped arrays rather than a method: the
    hot path then reads its tables from cells, not from attributes (measured
    4% faster). Call ``close`` only once nothing looks names up.
    """

    __slots__ = ("_entries", "_file", "_named", "metadata", "tag_names", "tags")

    tags: Callable[[str], int]
    tag_names: tuple[str, ...]
    metadata: Mapping[str, Any]

    def __init__(
        self,
        arrays: IndexArrays,
        payload: Mapping[str, Any],
        mapped: MappedIndexFile | None = None,
    ) -> None:
        tag_names, tag_sets, single_labels, check_key = _tables(payload)
        self.tag_names = tag_names
        self.metadata = MappingProxyType(dict(payload.get("metadata", {})))
        self._entries = len(arrays.his) + len(single_labels)
        self._file = mapped
        self.tags = _lookup(arrays, tag_sets, single_labels, keyed_check(check_key))
        self._named: dict[int, tuple[str, ...]] = {0: ()}

    def tag_names_of(self, name: str) -> tuple[str, ...]:
        """The names of the tags listing ``name`` (see ``tags``), in bit order.

        The query log asks this for thousands of names a second, and they
        share a handful of masks: each mask is spelled out once.
        """
        mask = self.tags(name)
        named = self._named.get(mask)
        if named is None:
            named = self._named[mask] = tuple(names_of(self.tag_names, mask))
        return named

    @classmethod
    def load(cls, path: Path) -> DomainIndex:
        """Map the index at ``path``; IndexFileError if missing or damaged."""
        mapped = MappedIndexFile(path)
        try:
            return cls(mapped.arrays, mapped.payload, mapped)
        except IndexFileError as exc:
            mapped.close()
            raise IndexFileError(
                f"{path}: the list index is damaged ({exc}); delete it and let dnsfilter compile the lists again"
            ) from exc

    @classmethod
    def empty(cls) -> DomainIndex:
        """An index listing nothing (before the lists are first compiled)."""
        nothing = memoryview(array("I"))
        arrays = IndexArrays(memoryview(array("I", [0, 0])), nothing, nothing, memoryview(array("H")), 0)
        payload = {"tag_names": [], "tag_sets": [], "single_labels": [], "check_key": "00" * CHECK_KEY_BYTES}
        return cls(arrays, {**payload, "metadata": {}})

    def __len__(self) -> int:
        return self._entries

    def close(self) -> None:
        """Unmap the file; afterwards the index lists nothing."""
        self.tags = _not_listed
        if self._file is not None:
            self._file.close()
            self._file = None


def _not_listed(name: str) -> int:
    return 0


def _tables(payload: Mapping[str, Any]) -> tuple[tuple[str, ...], list[TagSet], dict[bytes, int], bytes]:
    """Check and decode the JSON part; IndexFileError if it is not ours."""
    try:
        tag_names = tuple(payload["tag_names"])
        tag_sets: list[TagSet] = []
        for masks in payload["tag_sets"]:
            first, second, third, fourth = (int(mask, 16) for mask in masks)
            tag_sets.append((first, second, third, fourth))
        single_labels = {_encode(label): int(tag_set) for label, tag_set in payload["single_labels"]}
        check_key = bytes.fromhex(payload["check_key"])
        if not isinstance(payload["metadata"], dict):
            raise TypeError("metadata is not an object")
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise IndexFileError(f"the tag table is not readable ({exc})") from exc
    if not all(isinstance(tag, str) for tag in tag_names):
        raise IndexFileError("the tag names are not readable")
    limit = 1 << len(tag_names)
    if any(mask >= limit or mask < 0 for tag_set in tag_sets for mask in tag_set):
        raise IndexFileError("a tag set names more tags than the index has")
    if any(not 0 <= tag_set < len(tag_sets) for tag_set in single_labels.values()):
        raise IndexFileError("a single-label name has no tag set")
    if len(check_key) != CHECK_KEY_BYTES:
        raise IndexFileError("the hash key is not readable")
    return tag_names, tag_sets, single_labels, check_key


def _lookup(
    arrays: IndexArrays, tag_sets: list[TagSet], single_labels: dict[bytes, int], check: Callable[[bytes], int]
) -> Callable[[str], int]:
    """The ``tags`` function over these arrays."""
    starts, his, los, ids = arrays.starts, arrays.his, arrays.los, arrays.ids
    shift = 32 - arrays.bucket_bits
    # What a tag set adds and removes when it is listed for the name itself,
    # and when it is listed for a parent (subdomain entries only).
    self_add = [exact | tree for exact, tree, _, _ in tag_sets]
    self_remove = [exact | tree for _, _, exact, tree in tag_sets]
    tree_add = [tree for _, tree, _, _ in tag_sets]
    tree_remove = [tree for _, _, _, tree in tag_sets]
    crc32 = zlib.crc32

    def tags(name: str) -> int:
        """The tags listing ``name`` or a parent of it; 0 when not listed."""
        try:
            forward = name.encode()
        except UnicodeEncodeError:
            forward = name.encode("utf-8", "surrogatepass")
        dots = forward.count(b".")
        if not dots:
            found = single_labels.get(forward)
            return 0 if found is None else self_add[found] & ~self_remove[found]
        added = removed = 0
        if single_labels:
            found = single_labels.get(forward.rpartition(b".")[2])
            if found is not None:
                added, removed = tree_add[found], tree_remove[found]
        # The name itself, then each parent but the top label (done above).
        # The two probes are written out, not shared: a call costs as much as
        # a probe. The keyed check is computed only when the CRC matches, as
        # most probes are misses.
        key = crc32(forward)
        bucket = key >> shift
        at, stop = starts[bucket], starts[bucket + 1]
        while at < stop:
            if his[at] == key and los[at] == check(forward):
                found = ids[at]
                added |= self_add[found]
                removed |= self_remove[found]
                break
            at += 1
        parent = forward
        while dots > 1:
            dots -= 1
            parent = parent.partition(b".")[2]
            key = crc32(parent)
            bucket = key >> shift
            at, stop = starts[bucket], starts[bucket + 1]
            while at < stop:
                if his[at] == key and los[at] == check(parent):
                    found = ids[at]
                    added |= tree_add[found]
                    removed |= tree_remove[found]
                    break
                at += 1
        return added & ~removed

    return tags
