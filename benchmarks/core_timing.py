"""The pure core's two busiest loops, each next to a floor measured in the same run.

    .venv/bin/python benchmarks/core_timing.py [--list PATH] [--rounds 5]

- list parsing: the biggest list of the shared data (or --list), parsed as
  the compiler does (``parse_text``), per line; the floor is splitting the
  same text into stripped, lower-cased lines, which any parser must do.
- deciding: ``PolicySnapshot.decide`` for 2,000 names over a family of 20
  profiles and 200 devices, once (nothing memoised) and repeated; the floor
  is a dict lookup per name.

Figures are CPU time per item, best of --rounds. Nothing here fails on
timing; it prints numbers.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from dnsfilter.lists.index import DomainIndex, IndexBuilder  # noqa: E402
from dnsfilter.lists.listfile import parse_text  # noqa: E402
from dnsfilter.policy.identity import ClientId  # noqa: E402
from dnsfilter.policy.records import DeviceData, PolicyData, ProfileData, RuleData  # noqa: E402
from dnsfilter.policy.snapshot import build_snapshot  # noqa: E402

DATA = REPO.parent / "shared" / "data"
TAGS = ("adult", "games", "social", "service:tiktok")
CREATED = datetime(2026, 1, 1, tzinfo=UTC)


def best(rounds: int, work: object) -> float:
    timings = []
    for _ in range(rounds):
        started = time.process_time()
        work()  # type: ignore[operator]
        timings.append(time.process_time() - started)
    return min(timings)


def biggest_list() -> tuple[Path, str]:
    with (DATA / "manifest.tsv").open(encoding="utf-8", newline="") as file:
        rows = [row for row in csv.DictReader(file, delimiter="\t") if row["path"].startswith("lists/")]
    row = max(rows, key=lambda row: int(row["entries"]))
    return DATA / row["path"], row["format"]


def list_parsing(path: Path, fmt: str, rounds: int) -> None:
    data = path.read_bytes()
    text = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
    lines = text.count(b"\n")
    ours = best(rounds, lambda: parse_text(data, fmt, True))
    floor = best(rounds, lambda: [line.strip().lower() for line in text.decode("utf-8", "replace").split("\n")])
    print(f"list parsing: {path.name}, {lines:,} lines, format {fmt}")
    print(f"  parse_text          {ours / lines * 1e6:6.2f} us/line")
    print(f"  floor: split+lower  {floor / lines * 1e6:6.2f} us/line   ratio {ours / floor:.1f}x")


def deciding(rounds: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        builder = IndexBuilder(TAGS)
        builder.add("games.example", 1 << 1, subdomains=True)
        builder.add("adult.example", 1 << 0, subdomains=True)
        builder.write(Path(folder) / "index.bin", {"sources": ["bench"]})
        index = DomainIndex.load(Path(folder) / "index.bin")
        school_night = RuleData(10, 1, "sun-thu", "20:30", "07:00", "block_tags", ("games", "social"), (), True)
        profiles = tuple(
            ProfileData(
                id=i, name=f"profile {i}", safe_search="on", bypass_protection=True, block_mode="null_ip",
                is_default=i == 1, created_at=CREATED, blocked_tags=frozenset({"adult", "service:tiktok"}),
                allowed_names=frozenset({f"school{i}.example"}), denied_names=frozenset({f"bad{i}.example"}),
                rules=(school_night,),
            )
            for i in range(1, 21)
        )
        devices = tuple(
            DeviceData(d, f"mac:00:00:00:00:{d // 256:02x}:{d % 256:02x}", None, None, None, None, 1 + d % 20,
                       False, CREATED, CREATED)
            for d in range(200)
        )
        data = PolicyData(version=1, profiles=profiles, devices=devices)
        names = [f"host{n}.games.example" if n % 3 else f"www{n}.example.org" for n in range(2000)]
        clients = [ClientId(device.key, "192.168.1.2", None, None, "ip-only") for device in devices]

        def fresh_decisions() -> None:
            snap = build_snapshot(data, index, ZoneInfo("Europe/Berlin"), datetime(2026, 3, 11, 12, tzinfo=UTC))
            for n, name in enumerate(names):
                snap.decide(name, 1, snap.profile_for(clients[n % 200]))

        snap = build_snapshot(data, index, ZoneInfo("Europe/Berlin"), datetime(2026, 3, 11, 12, tzinfo=UTC))

        def repeated_decisions() -> None:
            for n, name in enumerate(names):
                snap.decide(name, 1, snap.profile_for(clients[n % 200]))

        table = {name: n for n, name in enumerate(names)}
        uncached = best(rounds, fresh_decisions) / len(names)
        repeated_decisions()
        cached = best(rounds, repeated_decisions) / len(names)
        floor = best(rounds, lambda: [table.get(name) for name in names]) / len(names)
        index.close()
    print("deciding: 2,000 names, 20 profiles, 200 devices")
    print(f"  decide, first time  {uncached * 1e6:6.2f} us/name (the snapshot built each round included)")
    print(f"  decide, repeated    {cached * 1e6:6.2f} us/name")
    print(f"  floor: dict lookup  {floor * 1e6:6.2f} us/name   ratio {cached / floor:.1f}x")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", type=Path, help="a list file (default: the biggest list in ../shared/data)")
    parser.add_argument("--format", default="domains", help="its format, with --list (default: domains)")
    parser.add_argument("--rounds", type=int, default=5, help="repeat each timing this often, keep the best")
    args = parser.parse_args()
    if args.list is not None:
        list_parsing(args.list, args.format, args.rounds)
    elif (DATA / "manifest.tsv").exists():
        list_parsing(*biggest_list(), args.rounds)
    else:
        print(f"list parsing skipped: no list data in {DATA} (give --list PATH)")
    deciding(args.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
