"""Inputs of the blocked-names benchmark: samples of the list, each server's copy of it.

The list (a million names) is read at run time and never copied into the
repository. Each server gets it in its own form, in the scratch directory:
ours a catalog folder (one ``block`` category whose one source is a copy of
the list file), unbound ``local-zone`` lines, dnsmasq ``address=`` lines.
Every sample is drawn with a fixed seed, so runs ask the same names.
"""

from __future__ import annotations

import gzip
import random
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from answer_check import NO_ADDRESS
from bench_servers import REPO_ROOT
from run_files import read_names
from tool_install import SBIN_PATH

DEFAULT_LIST = REPO_ROOT / ".." / "shared" / "data" / "bench" / "domains-1m.txt.gz"
SEED = 1
ALL_NAMES = 10_000_000  # read_names stops after this many; more than any list here
SUBDOMAIN_PREFIX = "www."
SOURCE_ID = "bench-blocked"
CATEGORY_ID = "benchmark"
# Appended to ours' copy of the list to make its compiled index out of date;
# blocked once the recompiled index is in use, passed upstream before.
RECOMPILE_MARKER = "recompile-marker.dns-blocked.example"
BLOCK_ADDRESS = "0.0.0.0"


@dataclass(frozen=True, slots=True)
class NameSamples:
    listed: list[str]  # every valid name of the list, in file order
    queries: list[str]  # the dnsperf load: listed names and subdomains of others
    check_listed: list[str]
    check_subdomains: list[str]
    check_allowed: list[str]  # allowed names no listed name covers
    unlisted: list[str] = field(default_factory=list)  # every such name, in file order


def covered(name: str, listed: set[str]) -> bool:
    """Is ``name`` or one of its parent domains in ``listed``?"""
    labels = name.split(".")
    return any(".".join(labels[i:]) in listed for i in range(len(labels)))


def sample_names(
    list_path: Path, allowed_path: Path, query_count: int, check_count: int
) -> NameSamples:
    """The list and the seeded samples drawn from it (and from the allowed names).

    Half the queries are listed names as they are, half are
    ``www.<listed name>``: both must be blocked, the second through the
    parent domain.
    """
    listed = read_names(list_path, ALL_NAMES)
    listed_set = set(listed)
    pick = random.Random(SEED)
    chosen = pick.sample(listed, min(query_count, len(listed)))
    half = len(chosen) // 2
    queries = chosen[:half] + [SUBDOMAIN_PREFIX + name for name in chosen[half:]]
    pick.shuffle(queries)
    allowed = [
        name
        for name in read_names(allowed_path, ALL_NAMES)
        if not covered(name, listed_set)
    ]
    checks = min(check_count, len(listed), len(allowed))
    return NameSamples(
        listed=listed,
        queries=queries,
        check_listed=pick.sample(listed, checks),
        check_subdomains=[SUBDOMAIN_PREFIX + n for n in pick.sample(listed, checks)],
        check_allowed=pick.sample(allowed, checks),
        unlisted=allowed,
    )


def write_lines(path: Path, lines: Iterable[str]) -> Path:
    with path.open("w") as out:
        out.writelines(f"{line}\n" for line in lines)
    return path


def write_queries(path: Path, names: Iterable[str]) -> Path:
    """A dnsperf query file: ``name A`` per line."""
    return write_lines(path, (f"{name} A" for name in names))


def write_dnsmasq_addresses(path: Path, names: Iterable[str]) -> Path:
    """``address=/name/0.0.0.0``: the name and every name under it get 0.0.0.0 for A."""
    return write_lines(path, (f"address=/{name}/{BLOCK_ADDRESS}" for name in names))


def write_unbound_zones(path: Path, names: Iterable[str], zone_type: str) -> Path:
    """``local-zone`` lines, for ``include:`` in unbound's server section."""
    lines = (f'local-zone: "{name}." {zone_type}' for name in names)
    return write_lines(path, ["server:", *lines])


def unbound_zone_type() -> str:
    """``always_null`` (0.0.0.0, like ours) when this unbound knows it, else ``static``."""
    checker = shutil.which("unbound-checkconf") or shutil.which(
        "unbound-checkconf", path=SBIN_PATH
    )
    if checker is None:
        return "static"
    with tempfile.NamedTemporaryFile("w", suffix=".conf") as config:
        config.write('server:\n  local-zone: "example.org." always_null\n')
        config.flush()
        try:
            result = subprocess.run(
                [checker, config.name], capture_output=True, timeout=30, check=False
            )
        except (OSError, subprocess.SubprocessError):
            return "static"
    return "always_null" if result.returncode == 0 else "static"


def unbound_block_answer(zone_type: str) -> str:
    """What unbound answers a listed name with, given ``unbound_zone_type()``."""
    return BLOCK_ADDRESS if zone_type == "always_null" else NO_ADDRESS


@dataclass(frozen=True, slots=True)
class OursCatalog:
    directory: Path  # for --blocklists
    list_file: Path  # the one source's snapshot, inside ``directory``
    config_file: Path  # for -c: no list downloads during the run


_CATALOG = """\
# The blocked-names benchmark's catalog: one category, one source.
providers:
  - id: bench
    name: Benchmark list
    homepage: https://example.org/
    license: CC0-1.0
    license_file: LICENSE.txt
    attribution: "Benchmark data, read at run time"
categories:
  - id: {category}
    kind: block
    title: {{en: "Benchmark list", vi: "Danh sách đo"}}
    description: {{en: "The names the benchmark blocks.", vi: "Các tên bị chặn khi đo."}}
    sources:
      - id: {source}
        provider: bench
        format: domains
        match: subdomains
        url: https://example.org/blocked.txt
        snapshot: lists/{snapshot}
        expected_entries: {entries}
"""

# More categories (``more_categories``), each with a small list of its own.
_MORE_CATEGORY = """\
  - id: {category}
    kind: optional
    title: {{en: "Benchmark {category}", vi: "Danh sách đo {category}"}}
    description: {{en: "Names only the benchmark lists.", vi: "Các tên chỉ dùng khi đo."}}
    sources:
      - id: bench-{category}
        provider: bench
        format: domains
        match: subdomains
        url: https://example.org/{category}.txt
        snapshot: lists/{category}.txt
        expected_entries: {entries}
"""


def write_ours_catalog(
    directory: Path,
    list_path: Path,
    expected_entries: int,
    more_categories: Mapping[str, Sequence[str]] | None = None,
) -> OursCatalog:
    """A catalog folder whose one category blocks ``list_path`` (copied in) and its subdomains.

    A copy rather than a link: the benchmark later appends a name to it.
    ``more_categories`` (id -> names) adds categories of kind ``optional``
    (not blocked unless asked for), each with its names as its one source.
    """
    snapshot = "blocked" + "".join(list_path.suffixes)
    (directory / "lists").mkdir(parents=True)
    list_file = directory / "lists" / snapshot
    shutil.copyfile(list_path, list_file)
    (directory / "LICENSE.txt").write_text("Benchmark data; not redistributed.\n")
    catalog = _CATALOG.format(
        category=CATEGORY_ID,
        source=SOURCE_ID,
        snapshot=snapshot,
        entries=expected_entries,
    )
    for category, names in (more_categories or {}).items():
        write_lines(directory / "lists" / f"{category}.txt", names)
        catalog += _MORE_CATEGORY.format(category=category, entries=len(names))
    (directory / "catalog.yaml").write_text(catalog)
    config_file = directory.parent / "ours-config.yaml"
    config_file.write_text("lists:\n  auto_update: false\n")
    return OursCatalog(directory, list_file, config_file)


def add_recompile_marker(catalog: OursCatalog) -> None:
    """Append RECOMPILE_MARKER to the list: its size and time change, so does its fingerprint."""
    line = f"{RECOMPILE_MARKER}\n".encode()
    is_gzip = catalog.list_file.suffix == ".gz"
    with catalog.list_file.open("ab") as out:
        # Concatenated gzip members read as one stream.
        out.write(gzip.compress(line) if is_gzip else line)
