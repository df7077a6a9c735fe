"""Compiled domain index: build time, file size, memory, load time, lookups/s.

    .venv/bin/python benchmarks/index_lookup.py [--list PATH] [--allowed PATH]
        [--sample N] [--repeat N] [--keep DIR]

What is measured
    build     the list (one name per line, gzip or text) parsed and added to an
              IndexBuilder as subdomain entries ("parse + add"), then written
              ("write"): the work of a list update.
    size      the index file, and the RSS a fresh process gains by loading it
              and looking up every listed name (VmRSS from /proc/self/status,
              so every page of the index that a lookup reads is counted).
    load      DomainIndex.load of the written file (map, checks, checksum).
    lookups   DomainIndex.tags() over N listed names, N subdomains of listed
              names (a label prefixed), the real allowed names, and all three
              shuffled together; each name once per pass (cold: no result
              memo), best of --repeat passes, CPU time of this process.

Reference, measured in the same run: the list as a dict of str (DomainMap,
matching the name and each parent), which is what the index replaces.

Other processes on the machine slow both columns alike; the load average is
printed so noisy runs can be told apart. Nothing here fails on timing.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from dnsfilter.lists.index import DomainIndex, IndexBuilder
from dnsfilter.policy.domains import DomainMap

BENCH_DATA = REPO_ROOT / ".." / "shared" / "data" / "bench"
PREFIXES = ("www", "cdn", "api", "m", "static", "a1", "img", "login")


def read_lines(path: Path) -> list[str]:
    with gzip.open(path, "rt") if path.suffix == ".gz" else path.open() as lines:
        return [
            line.strip() for line in lines if line.strip() and not line.startswith("#")
        ]


def vm_rss() -> int:
    """Resident memory of this process in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def rss_probe(kind: str, index_path: Path, list_path: Path) -> None:
    """In a fresh process, the RSS added by the index after looking up every
    listed name, or by the dict reference including its str keys (built, so
    fully resident). Prints JSON for the parent."""
    if kind == "index":
        names = read_lines(list_path)
        before = vm_rss()
        index = DomainIndex.load(index_path)
        missed = sum(1 for name in names if not index.tags(name))
        added = vm_rss() - before
    else:
        before = vm_rss()
        names = read_lines(list_path)
        domains = DomainMap((name, 1) for name in names)
        missed = sum(1 for name in names if not domains.lookup(name))
        del names
        added = vm_rss() - before
    print(json.dumps({"added": added, "missed": missed}))


def run_probe(kind: str, index_path: Path, list_path: Path) -> dict[str, int]:
    command = [
        sys.executable,
        __file__,
        "--rss-probe",
        kind,
        str(index_path),
        str(list_path),
    ]
    result = subprocess.run(command, check=True, capture_output=True, text=True)
    probe: dict[str, int] = json.loads(result.stdout)
    return probe


def names_per_second(
    lookup: Callable[[str], object], names: Sequence[str], repeat: int
) -> tuple[float, int]:
    """Best rate over ``repeat`` passes (CPU time), and how many names matched."""
    best = 0.0
    matched = 0
    for _ in range(repeat):
        started = time.process_time()
        for name in names:
            lookup(name)
        elapsed = time.process_time() - started
        best = max(best, len(names) / elapsed if elapsed else float("inf"))
    matched = sum(1 for name in names if lookup(name))
    return best, matched


def build(list_path: Path, index_path: Path) -> tuple[float, float, int]:
    """Parse and add, then write. Returns both times and the number of names."""
    started = time.perf_counter()
    builder = IndexBuilder(("listed",))
    count = 0
    with (
        gzip.open(list_path, "rt")
        if list_path.suffix == ".gz"
        else list_path.open() as lines
    ):
        for line in lines:
            name = line.strip()
            if name and not name.startswith("#"):
                builder.add(name, 1, subdomains=True)
                count += 1
    parsed = time.perf_counter()
    builder.write(index_path, {"sources": [str(list_path)]})
    return parsed - started, time.perf_counter() - parsed, count


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--list",
        type=Path,
        default=BENCH_DATA / "domains-1m.txt.gz",
        help="names to list",
    )
    parser.add_argument(
        "--allowed",
        type=Path,
        default=BENCH_DATA / "allowed-100k.txt.gz",
        help="names no list has",
    )
    parser.add_argument(
        "--sample", type=int, default=100_000, help="names per kind (default 100000)"
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="passes per kind, best kept (default 3)"
    )
    parser.add_argument("--keep", type=Path, help="write the index here and keep it")
    parser.add_argument("--rss-probe", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rss_probe:
        rss_probe(args.rss_probe[0], Path(args.rss_probe[1]), Path(args.rss_probe[2]))
        return 0
    for path in (args.list, args.allowed):
        if not path.exists():
            print(f"not found: {path}", file=sys.stderr)
            return 2

    with tempfile.TemporaryDirectory() as scratch:
        index_path = args.keep or Path(scratch) / "index.bin"
        parse_s, write_s, count = build(args.list, index_path)
        size = index_path.stat().st_size

        loads = []
        for _ in range(20):
            started = time.perf_counter()
            DomainIndex.load(index_path).close()
            loads.append(time.perf_counter() - started)

        index_rss = run_probe("index", index_path, args.list)
        dict_rss = run_probe("dict", index_path, args.list)

        listed = read_lines(args.list)
        allowed = read_lines(args.allowed)
        pick = random.Random(1)
        blocked = pick.sample(listed, min(args.sample, len(listed)))
        children = [
            f"{pick.choice(PREFIXES)}.{name}"
            for name in pick.sample(listed, min(args.sample, len(listed)))
        ]
        allowed = pick.sample(allowed, min(args.sample, len(allowed)))
        mix = blocked + children + allowed
        pick.shuffle(mix)
        kinds = {
            "listed": blocked,
            "subdomain": children,
            "allowed": allowed,
            "mix (shuffled)": mix,
        }

        index = DomainIndex.load(index_path)
        reference = DomainMap((name, 1) for name in listed)
        del listed
        rates = {
            kind: names_per_second(index.tags, names, args.repeat)
            for kind, names in kinds.items()
        }
        reference_rates = {
            kind: names_per_second(reference.lookup, names, args.repeat)
            for kind, names in kinds.items()
        }
        index.close()

    load1, _, _ = os.getloadavg()
    print(
        f"index_lookup: {count:,} names from {args.list.name}; Python {sys.version.split()[0]}; "
        f"{os.cpu_count()} CPUs, load average {load1:.2f}"
        + (" (others running: numbers are noisy)" if load1 > 0.5 else "")
    )
    print()
    print(f"{'build':<28}{'seconds':>10}")
    print(f"{'  parse + add':<28}{parse_s:>10.2f}")
    print(f"{'  write':<28}{write_s:>10.2f}")
    print(f"{'  total (target < 20)':<28}{parse_s + write_s:>10.2f}")
    print()
    print(f"{'memory':<28}{'bytes':>14}{'per name':>10}")
    print(f"{'  index file':<28}{size:>14,}{size / count:>10.2f}")
    added = index_rss["added"]
    print(f"{'  index RSS (target <= 16)':<28}{added:>14,}{added / count:>10.2f}")
    print(
        f"{'  dict of str (reference)':<28}{dict_rss['added']:>14,}{dict_rss['added'] / count:>10.2f}"
    )
    if index_rss["missed"] or dict_rss["missed"]:
        print(
            f"  MISSED listed names: index {index_rss['missed']}, dict {dict_rss['missed']}"
        )
    print()
    print(
        f"{'load':<28}{min(loads) * 1000:>10.2f} ms best, {statistics.median(loads) * 1000:.2f} ms median of 20"
    )
    print()
    print(f"lookups, CPU time, best of {args.repeat}")
    print(
        f"{'  kind':<20}{'names':>9}{'matched':>9}{'names/s':>11}{'us/name':>9}{'dict names/s':>14}"
    )
    for kind, names in kinds.items():
        rate, matched = rates[kind]
        reference_rate, _ = reference_rates[kind]
        print(
            f"  {kind:<18}{len(names):>9,}{matched / len(names):>9.1%}{rate:>11,.0f}"
            f"{1e6 / rate:>9.2f}{reference_rate:>14,.0f}"
        )
    print("  target: >= 500,000 names/s for the mix")
    return 0


if __name__ == "__main__":
    sys.exit(main())
