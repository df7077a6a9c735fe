"""The compiled index file: a fixed header, a JSON section, then flat arrays.

Layout (little-endian; every section starts on an 8-byte boundary so the
arrays can be cast in place from the memory map, never copied):

    header   HEADER: magic, version, sizes, CRC-32 of the body and of the header
    json     UTF-8: tag names, tag-set table, single-label names, hash key, metadata
    starts   uint32 x (2**bucket_bits + 1): bucket b is entries starts[b]..starts[b+1]
    his      uint32 x entries: CRC-32 of the name; its top bits are the bucket
    los      uint32 x entries: BLAKE2s of the name keyed with the file's hash key
    ids      uint16 or uint32 x entries: tag-set id

Entries are sorted by (his, los). Every offset follows from the sizes in the
header, so a file is checked by recomputing its layout, not by trusting
stored offsets.
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
import struct
import sys
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal

from dnsfilter.errors import IndexFileError

MAGIC = b"DNSFIDX\x00"
# 2: ``los`` became a keyed hash (in 1 it was a CRC-32 of the reversed name,
# which can be forged). Any other version is refused, so it gets recompiled.
VERSION = 2
# magic, version, id width, bucket bits, json length, entries, file size, body CRC, header CRC
HEADER = struct.Struct("<8sIIIIQQII")
_HEADER_CHECKED = HEADER.size - 4  # the header CRC covers every field before it
_REBUILD = "delete it and let dnsfilter compile the lists again"
CHECK_KEY_BYTES = 16  # the hash key, random per file, kept in the JSON section

# memoryview.cast uses the machine's byte order; the file is little-endian.
if sys.byteorder != "little":  # pragma: no cover - every supported board is little-endian
    raise ImportError("the list index file format needs a little-endian machine")


def keyed_check(key: bytes) -> Callable[[bytes], int]:
    """What ``los`` holds for a name: 32 bits of BLAKE2s keyed with the file's
    hash key (the fastest keyed hash in hashlib for short names)."""
    keyed = hashlib.blake2s(key=key, digest_size=4)
    from_bytes = int.from_bytes

    def check(name: bytes) -> int:
        # Copying a keyed state is ~40% cheaper than keying a new one.
        state = keyed.copy()
        state.update(name)
        return from_bytes(state.digest(), "little")

    return check


def _align(offset: int) -> int:
    return (offset + 7) & ~7


@dataclass(frozen=True, slots=True)
class Layout:
    """Where each section of a file with these sizes starts, and its total size."""

    json: int
    starts: int
    his: int
    los: int
    ids: int
    size: int

    @classmethod
    def of(cls, *, entries: int, bucket_bits: int, id_width: int, json_length: int) -> Layout:
        json_at = HEADER.size
        starts = _align(json_at + json_length)
        his = _align(starts + 4 * ((1 << bucket_bits) + 1))
        los = _align(his + 4 * entries)
        ids = _align(los + 4 * entries)
        return cls(json_at, starts, his, los, ids, _align(ids + id_width * entries))


@dataclass(frozen=True, slots=True)
class IndexArrays:
    """The arrays of an index, as written or as mapped (any buffer of that type)."""

    starts: memoryview[int]  # "I"
    his: memoryview[int]  # "I"
    los: memoryview[int]  # "I"
    ids: memoryview[int]  # "H" or "I"
    bucket_bits: int


@contextmanager
def _atomic_file(path: Path) -> Iterator[BinaryIO]:
    """Write ``path.tmp`` then rename it over ``path``; on failure the old file stays."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_index_file(path: Path, arrays: IndexArrays, payload: dict[str, Any]) -> int:
    """Write the index atomically and return its size in bytes.

    Raises IndexFileError when the file cannot be written (disk full, no
    permission); TypeError/ValueError when ``payload`` is not JSON-able.
    """
    entries = len(arrays.his)
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=True).encode("ascii")
    layout = Layout.of(
        entries=entries, bucket_bits=arrays.bucket_bits, id_width=arrays.ids.itemsize, json_length=len(text)
    )
    sections = (
        (layout.json, text),
        (layout.starts, arrays.starts),
        (layout.his, arrays.his),
        (layout.los, arrays.los),
        (layout.ids, arrays.ids),
    )
    try:
        with _atomic_file(path) as out:
            out.write(bytes(HEADER.size))  # filled in once the body CRC is known
            body_crc = 0
            position = HEADER.size
            for offset, data in (*sections, (layout.size, b"")):
                padding = bytes(offset - position)
                body_crc = zlib.crc32(data, zlib.crc32(padding, body_crc))
                out.write(padding)
                out.write(data)
                position = offset + memoryview(data).nbytes
            fields = HEADER.pack(
                MAGIC, VERSION, arrays.ids.itemsize, arrays.bucket_bits, len(text), entries, layout.size, body_crc, 0
            )
            header = fields[:_HEADER_CHECKED] + struct.pack("<I", zlib.crc32(fields[:_HEADER_CHECKED]))
            out.seek(0)
            out.write(header)
    except OSError as exc:
        raise IndexFileError(f"{path}: could not write the list index: {exc.strerror or exc}") from exc
    return layout.size


class MappedIndexFile:
    """An index file mapped read-only, checked, with its arrays cast in place."""

    __slots__ = ("_map", "_views", "arrays", "payload", "size")

    def __init__(self, path: Path) -> None:
        try:
            with open(path, "rb") as source:
                size = os.fstat(source.fileno()).st_size
                if size < HEADER.size:
                    raise IndexFileError(f"{path}: the list index is truncated ({size} bytes); {_REBUILD}")
                self._map = mmap.mmap(source.fileno(), 0, access=mmap.ACCESS_READ)
        except FileNotFoundError as exc:
            raise IndexFileError(f"{path}: the list index does not exist yet; compile the lists first") from exc
        except OSError as exc:
            raise IndexFileError(f"{path}: could not read the list index: {exc.strerror or exc}") from exc
        self.size = size
        self._views: list[memoryview[int]] = []
        try:
            self.arrays, self.payload = self._check(path)
        except BaseException:
            self.close()
            raise

    def _check(self, path: Path) -> tuple[IndexArrays, dict[str, Any]]:
        whole = self._view(memoryview(self._map))
        magic, version, id_width, bucket_bits, json_length, entries, recorded, body_crc, header_crc = (
            HEADER.unpack_from(whole)
        )
        if magic != MAGIC:
            raise IndexFileError(f"{path}: not a dnsfilter list index (wrong magic); {_REBUILD}")
        if zlib.crc32(whole[:_HEADER_CHECKED]) != header_crc:
            raise IndexFileError(f"{path}: the list index header is damaged; {_REBUILD}")
        if version != VERSION:
            raise IndexFileError(f"{path}: the list index has format version {version}, not {VERSION}; {_REBUILD}")
        if id_width not in (2, 4) or bucket_bits > 32:
            raise IndexFileError(f"{path}: the list index header is inconsistent; {_REBUILD}")
        layout = Layout.of(entries=entries, bucket_bits=bucket_bits, id_width=id_width, json_length=json_length)
        if recorded != layout.size or self.size != layout.size:
            raise IndexFileError(
                f"{path}: the list index is truncated or padded ({self.size} bytes, expected {layout.size}); {_REBUILD}"
            )
        # One pass over the body catches a damaged sector before it can send a
        # lookup out of bounds; zlib's CRC runs at gigabytes per second.
        if zlib.crc32(whole[HEADER.size :]) != body_crc:
            raise IndexFileError(f"{path}: the list index is damaged (checksum mismatch); {_REBUILD}")
        try:
            payload = json.loads(bytes(whole[layout.json : layout.json + json_length]))
        except ValueError as exc:
            raise IndexFileError(f"{path}: the list index has an unreadable table ({exc}); {_REBUILD}") from exc
        if not isinstance(payload, dict):
            raise IndexFileError(f"{path}: the list index has an unreadable table; {_REBUILD}")
        arrays = IndexArrays(
            starts=self._cast(whole, layout.starts, (1 << bucket_bits) + 1, "I"),
            his=self._cast(whole, layout.his, entries, "I"),
            los=self._cast(whole, layout.los, entries, "I"),
            ids=self._cast(whole, layout.ids, entries, "H" if id_width == 2 else "I"),
            bucket_bits=bucket_bits,
        )
        if arrays.starts[0] != 0 or arrays.starts[-1] != entries:
            raise IndexFileError(f"{path}: the list index buckets are inconsistent; {_REBUILD}")
        return arrays, payload

    def _view(self, view: memoryview[int]) -> memoryview[int]:
        self._views.append(view)
        return view

    def _cast(self, whole: memoryview[int], offset: int, count: int, code: Literal["H", "I"]) -> memoryview[int]:
        width = struct.calcsize(code)
        return self._view(whole[offset : offset + count * width].cast(code))

    def close(self) -> None:
        """Unmap the file; the arrays must no longer be used."""
        # The map refuses to close while any view of it is alive.
        for view in reversed(self._views):
            view.release()
        self._views.clear()
        self._map.close()
