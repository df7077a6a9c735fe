"""What the query log costs ours, and how fast a large log reads.

    .venv/bin/python benchmarks/dns_querylog.py [--duration 10] [--rounds 2]
        [--sustain 60] [--names PATH] [--count 2000] [--list PATH]
        [--log-rows 5000000] [--keep-log PATH] [--keep]

What is measured, in one run
    1. Logging off next to on: ours twice, the same config but
       query_log.enabled false (A) and true (B), each with its SQLite database
       in its own data dir and the default flush settings, both on one index of
       the bundled lists (compiled once). Each is warmed with --count allowed
       names (the fake upstream answers them, TTL 3600) and checked; then
       dnsperf at max over UDP (8 clients, 200 in flight) for --duration s
       against A and B back to back, alternating which goes first, --rounds
       times; each side's best round is reported, with B/A.
    2. Sustained: A stopped, dnsperf -Q at B's best max rate for --sustain s.
       Around it (once the writer has written everything it had): the log's
       counters, B's write_bytes (/proc/PID/io) and the sizes of the database
       and its WAL. Then B is stopped with SIGTERM (the writer flushes) and the
       database read: queries logged, rows written, queries dropped, compared
       with the queries dnsperf saw answered; disk bytes per 1,000 queries.
    3. Reads: a week of log, --log-rows rows, written through the writer's own
       BatchBuilder and write_batch (querylog_generate.py says what it holds),
       or the file --keep-log names; once a new file is on disk (sync), a
       search page with each filter and a day's summary for the home, a
       profile and a device, best of 5 each (querylog_reads.py).
    Servers and dnsperf are pinned as in dns_cached.py.

How to read the output
    The table: queries/s, lost, CPU µs/query, peak RSS MiB, server CPU %,
    dnsperf CPU % as in dns_cached.py; "within 15%: yes" when B answers at
    least 85% of A's queries/s (the logging's cost). Sustained: "zero drops"
    and bytes per 1,000 queries against 200 KB. Reads: ms with "< 200 ms".
    Lines starting with "!" flag something to distrust.

Raw dnsperf outputs, server logs and the report go to benchmarks/results/
dns_querylog/ (see benchmarks/README.md). Exit status 0 whatever the numbers;
1 when a server failed to start; 2 when the run could not be set up.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench_options import add_duration, add_keep, add_log_options, add_rounds, positive
from bench_servers import (
    REPO_ROOT,
    ProcessGroup,
    ServerStartError,
    start_fake_upstream,
)
from blocked_files import ALL_NAMES, SEED
from blocked_runs import Bench
from dnsperf_run import CLIENTS, OUTSTANDING, TIMEOUT_SECONDS
from policy_report import format_report
from policy_runs import compile_once
from querylog_generate import LogShape, generate_log
from querylog_reads import choose, file_size, format_reads, time_reads
from querylog_runs import ServerRuns, cached_workload, make_sides, run_servers
from querylog_sustained import format_sustained
from run_files import (
    RunFiles,
    SetupError,
    finish,
    prepare_files,
    read_names,
    require_files,
    require_ours,
    run_benchmark,
)
from server_measurement import Pinning, QuietWait, choose_pinning
from tool_install import ensure_installed, source_state, tool_version

from dnsfilter.config import QueryLogSettings
from dnsfilter.store.database import open_database

REQUIRED_PACKAGES = {"dnsperf": "dnsperf", "taskset": "util-linux"}
# "logging costs under 15%" of the queries/s with logging off
ALLOWED_COST = 0.15
CHECKED_NAMES = 200
LOG_FILE = "querylog.db"


@dataclass(frozen=True, slots=True)
class Settings:
    duration: int
    rounds: int
    sustain: int
    names_source: Path
    name_count: int
    list_path: Path
    log_rows: int
    keep_log: Path | None
    keep: bool


def parse_settings(argv: Sequence[str]) -> Settings:
    parser = argparse.ArgumentParser(
        description="The query log: its cost to ours, sustained logging, and reads "
        "of a large log (see the module docstring).",
    )
    add_duration(parser, "per max run")
    add_rounds(parser, "max runs per side")
    parser.add_argument(
        "--sustain",
        type=positive,
        default=60,
        help="seconds of the sustained run (default 60)",
    )
    add_log_options(parser, "read this SQLite log if it exists, else generate it there and keep it")
    add_keep(parser)
    args = parser.parse_args(argv)
    return Settings(
        duration=args.duration,
        rounds=args.rounds,
        sustain=args.sustain,
        names_source=args.names,
        name_count=args.count,
        list_path=args.list,
        log_rows=args.log_rows,
        keep_log=args.keep_log,
        keep=args.keep,
    )


def describe_run(settings: Settings, names: list[str], pinning: Pinning) -> str:
    log = QueryLogSettings()
    return "\n".join(
        [
            (
                "dns_querylog: ours with the query log off (A) and on (B), then B "
                "sustained; reads of a large log"
            ),
            (
                f"A: query_log.enabled false; B: true, SQLite in its data dir, written every "
                f"{log.flush_seconds:g} s or {log.batch_size:,} queries, at most "
                f"{log.queue_size:,} waiting; both on the bundled lists, compiled once"
            ),
            (
                f"{len(names):,} cached names from {settings.names_source.name}; dnsperf "
                f"{tool_version(['dnsperf', '-h'])} -c {CLIENTS} -q {OUTSTANDING} "
                f"-t {TIMEOUT_SECONDS} over UDP, {settings.duration} s at max per run, best of "
                f"{settings.rounds} round{'s' if settings.rounds > 1 else ''}; "
                f"sustained {settings.sustain} s"
            ),
            f"Python {platform.python_version()}, {os.cpu_count()} CPUs, {platform.node()}",
            source_state(REPO_ROOT, "dnsfilter"),
            pinning.describe(),
        ]
    )


def run(settings: Settings) -> int:
    ensure_installed(REQUIRED_PACKAGES)
    require_ours()
    require_files((settings.names_source, "--names"), (settings.list_path, "--list"))
    if settings.keep_log is not None and not settings.keep_log.parent.is_dir():
        raise SetupError(
            f"--keep-log: the folder {settings.keep_log.parent} does not exist"
        )
    pinning = choose_pinning()
    names = read_names(settings.names_source, settings.name_count)
    files = prepare_files(names, keep=settings.keep, benchmark="dns_querylog")
    try:
        return measure_all(settings, names, files, pinning)
    finally:
        if not settings.keep:
            shutil.rmtree(files.scratch_dir, ignore_errors=True)


def measure_all(
    settings: Settings, names: list[str], files: RunFiles, pinning: Pinning
) -> int:
    header = describe_run(settings, names, pinning)
    print(header, flush=True)
    sections = [header]
    failure: ServerStartError | None = None
    group = ProcessGroup()
    try:
        _, upstream_port = start_fake_upstream(
            group,
            files.names_file,
            files.results_dir / "fake-upstream.log",
            pinning.load_cpu,
        )
        print(f"fake upstream: 127.0.0.1:{upstream_port}", flush=True)
        bench = Bench(
            duration=settings.duration,
            rate=0,  # no fixed-rate runs but the sustained one
            recompile_seconds=0,
            files=files,
            pinning=pinning,
            quiet_wait=QuietWait(),
            upstream_port=upstream_port,
            probe_name=names[0],
        )
        sides = make_sides(files.scratch_dir)
        sections.append(compile_once(sides.compile, (sides.off, sides.on), bench))
        workload = cached_workload(files.queries_file, len(names))
        servers = run_servers(
            sides,
            bench,
            workload,
            names[:CHECKED_NAMES],
            settings.rounds,
            settings.sustain,
        )
        sections += report_servers(servers, workload.slug, workload.title)
    except ServerStartError as error:
        failure = error
        print(f"{error}\n{error.log_tail}", file=sys.stderr, flush=True)
    finally:
        group.close()
    sections.append(read_large_log(settings, files))
    return finish(files, sections, failure)


def report_servers(servers: ServerRuns, slug: str, title: str) -> list[str]:
    off, on = servers.results
    sections = [format_report([(slug, title)], off, on, ALLOWED_COST)]
    if servers.sustained is not None:
        sections.append(format_sustained(servers.sustained))
    else:
        sections.append(f"! no sustained run: {servers.skipped}")
    return sections


def read_large_log(settings: Settings, files: RunFiles) -> str:
    """Generate the log (or take --keep-log's), then time the reads."""
    path = settings.keep_log or files.scratch_dir / LOG_FILE
    if path.exists():
        heading = [
            f"reads: the log {path} ({file_size(path) / 1e6:,.0f} MB with its WAL), reused"
        ]
        print(heading[0], flush=True)
    else:
        shape = LogShape(rows=settings.log_rows)
        print(f"reads: writing {shape.rows:,} rows to {path}", flush=True)
        allowed = read_names(settings.names_source, shape.allowed_names)
        listed = read_names(settings.list_path, ALL_NAMES)
        blocked = random.Random(SEED).sample(
            listed, min(shape.blocked_names, len(listed))
        )
        made = generate_log(
            path, shape, allowed, blocked, lambda line: print(line, flush=True)
        )
        heading = [
            (
                f"reads: a log of {made.rows:,} rows ({made.queries:,} queries) written to "
                f"{path} through BatchBuilder and write_batch, an hour per transaction, in "
                f"{made.seconds:.0f} s ({made.rows / made.seconds:,.0f} rows/s); "
                f"{file_size(path) / 1e6:,.0f} MB with its WAL"
            ),
            f"  {made.first_hour:%Y-%m-%d %H:%M} to {made.end:%Y-%m-%d %H:%M} UTC",
            *(
                f"  {line}"
                for line in shape.describe(
                    settings.names_source.name, settings.list_path.name
                )
            ),
        ]
        # The new file's pages are still being written back to disk; reads
        # timed meanwhile would measure the disk, not the queries.
        os.sync()
    database = open_database(f"sqlite:///{path}")
    try:
        chosen = choose(database)
        timings = time_reads(database, chosen) if chosen is not None else []
    finally:
        database.close()
    return format_reads(heading, chosen, timings)


def main(argv: Sequence[str] | None = None) -> int:
    settings = parse_settings(sys.argv[1:] if argv is None else argv)
    return run_benchmark("dns_querylog", lambda: run(settings))


if __name__ == "__main__":
    sys.exit(main())
