"""Cached-answer benchmark: our server next to dnsmasq, in one run, on this machine.

    .venv/bin/python benchmarks/dns_cached.py [--duration 10] [--rate 5000]
        [--names PATH] [--count 2000] [--only ours|dnsmasq] [--before PATH] [--keep]
        [--tcp-queries-per-conn N] [--misses]

What is measured
    A fake authoritative upstream (fake_upstream.py) answers A queries for N
    real names (the first 2000 of allowed-100k.txt.gz) with TTL 3600. Each
    server forwards to it; after one warm-up pass over every name, every answer
    comes from the server's cache, so the numbers are the cost of the hot path:
    receive, cache lookup, reply. One server at a time, over UDP then TCP,
    dnsperf runs twice:
      max      as fast as dnsperf can send with 8 clients and 200 queries in
               flight: the most this server answers per second on one core;
      N q/s    a fixed rate (--rate, 5000 by default) well below saturation:
               loss and p99 latency at an ordinary load, and the CPU cost of
               exactly the same work for both servers.
    dnsperf runs on one CPU and the server on the other (taskset).

    --misses measures the other end: no warm-up, every name of the list
    (99,557 by default) is asked once, in order, over UDP at --rate (2000 q/s
    by default), so every query is a cache miss that goes to the upstream and
    back. CPU µs/query is then the cost of a miss.

How to read the table
    queries/s      answers per second dnsperf received (at N q/s: ~N if no loss)
    lost           queries unanswered after 1 s
    p99 ms         99th percentile latency of answered queries, fixed rate only
                   (per-query output would slow dnsperf down at max)
    CPU µs/query   server CPU time (user+system, its children included) over
                   the run, divided by answered queries: what one answer costs,
                   whoever the bottleneck was
    peak RSS MiB   the server process's VmHWM after the run (high-water mark)
    server CPU %   server CPU time / run time: near 100 at max means the server
                   was the bottleneck
    dnsperf CPU %  the same for dnsperf: near 100 means the load generator may
                   have been the limit, so "max" understates the server
    Lines starting with "!" flag a run to distrust: a dnsperf failure, answers
    other than NOERROR, or other processes busy on the machine meanwhile.
    The ratio lines divide ours by dnsmasq: queries/s above 1 is better for
    ours, CPU µs/query below 1 is better for ours.

Raw dnsperf outputs, server logs and the table go to benchmarks/results/
(benchmarks/README.md explains TCP connection handling and other caveats).
Exit status 0 whatever the numbers; 1 when a server failed to start; 2 when
the benchmark could not be set up (missing tools or names).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench_options import add_before, add_duration, add_keep, positive
from bench_servers import (
    DNSMASQ,
    OURS,
    SERVERS,
    ManagedProcess,
    ProcessGroup,
    ServerSpec,
    ServerStartError,
    before_spec,
    free_port,
    pinned,
    start_fake_upstream,
    wait_until_answering,
)
from dnsperf_run import CLIENTS, OUTSTANDING, TIMEOUT_SECONDS
from results_table import Load, Measurement, format_ratios, format_table
from run_files import (
    DEFAULT_NAMES,
    RunFiles,
    SetupError,
    prepare_files,
    read_first_name,
    read_names,
    run_benchmark,
    save_report,
)
from server_measurement import (
    Pinning,
    QuietWait,
    choose_pinning,
    measure,
    misses_load,
    summarize,
    warm_up,
)
from tool_install import ensure_installed, tool_version

REQUIRED_PACKAGES = {
    "dnsperf": "dnsperf",
    "dnsmasq": "dnsmasq-base",
    "taskset": "util-linux",
}


@dataclass(frozen=True, slots=True)
class Settings:
    duration: int
    rate: int
    names_source: Path
    name_count: int
    servers: tuple[ServerSpec, ...]
    keep: bool
    tcp_queries_per_connection: int | None  # None: dnsperf keeps its connections
    misses: bool  # every query a new name, no warm-up


def parse_settings(argv: Sequence[str]) -> Settings:
    parser = argparse.ArgumentParser(
        description="Cached DNS answers: ours vs dnsmasq, side by side (see the module docstring).",
    )
    add_duration(parser, "per dnsperf run")
    parser.add_argument(
        "--rate",
        type=positive,
        help="queries/s of the fixed-load runs (default 5000; 2000 with --misses)",
    )
    parser.add_argument(
        "--names",
        type=Path,
        default=DEFAULT_NAMES,
        help="names list, text or .gz, one per line",
    )
    parser.add_argument(
        "--count", type=positive, help="how many names to use (default 2000; all with --misses)"
    )
    parser.add_argument(
        "--misses",
        action="store_true",
        help="every query a new name (no warm-up, UDP at a fixed rate): the cost of a cache miss",
    )
    parser.add_argument(
        "--only",
        choices=[spec.name for spec in SERVERS],
        help="benchmark one server only",
    )
    add_before(parser)
    add_keep(parser)
    parser.add_argument(
        "--tcp-queries-per-conn",
        type=positive,
        metavar="N",
        help="make dnsperf open a new TCP connection every N queries "
        "(default: keep them; see README before using it)",
    )
    args = parser.parse_args(argv)
    # dnsmasq first: it is the reference the ratios divide by.
    servers = tuple(spec for spec in (DNSMASQ, OURS) if args.only in (None, spec.name))
    if args.before is not None:
        servers = (*servers[:-1], before_spec(args.before), servers[-1])
    return Settings(
        duration=args.duration,
        rate=args.rate or (2000 if args.misses else 5000),
        names_source=args.names,
        name_count=args.count or (10**9 if args.misses else 2000),
        servers=servers,
        keep=args.keep,
        tcp_queries_per_connection=args.tcp_queries_per_conn,
        misses=args.misses,
    )


def describe_tcp(queries_per_connection: int | None) -> str:
    if queries_per_connection is None:
        return (
            f"TCP: {CLIENTS} long-lived connections, queries pipelined "
            "(dnsmasq closes one after 100 queries, losing those in flight)"
        )
    return (
        f"TCP: dnsperf reconnects every {queries_per_connection} queries "
        "(answers right after its own reconnects can wait up to ~100 ms in dnsperf)"
    )


def describe_run(settings: Settings, names: list[str], pinning: Pinning) -> str:
    what = (
        f"cache misses: {len(names)} distinct A names, each asked once"
        if settings.misses
        else f"{len(names)} cached A names"
    )
    return "\n".join(
        [
            f"dns_cached: {what} from {settings.names_source}",
            (
                f"dnsperf {tool_version(['dnsperf', '-h'])}, dnsmasq {tool_version(['dnsmasq', '--version'])}, "
                f"Python {platform.python_version()}, {os.cpu_count()} CPUs, {platform.node()}"
            ),
            (
                f"dnsperf -c {CLIENTS} -q {OUTSTANDING} -t {TIMEOUT_SECONDS}, "
                f"{settings.duration} s per run, fixed load {settings.rate} q/s"
            ),
            describe_tcp(settings.tcp_queries_per_connection),
            pinning.describe(),
        ]
    )


def benchmark_server(
    spec: ServerSpec,
    upstream_port: int,
    loads: Sequence[Load],
    settings: Settings,
    files: RunFiles,
    pinning: Pinning,
    quiet_wait: QuietWait,
) -> list[Measurement]:
    """Start ``spec``, warm its cache, run every load, stop it."""
    group = ProcessGroup()
    try:
        port = free_port()
        data_dir = files.scratch_dir / f"{spec.name}-data"
        data_dir.mkdir(exist_ok=True)
        command = pinned(
            spec.command(port, upstream_port, data_dir), pinning.server_cpu
        )
        print(f"{spec.name}: {' '.join(command)}", flush=True)
        server = group.start(spec.name, command, files.results_dir / f"{spec.name}.log")
        wait_until_answering(
            server, port, read_first_name(files), spec.start_deadline_seconds
        )
        if not settings.misses:
            warm_up(server, port, files, pinning)
        rows = []
        for load in loads:
            row = measure_load(server, port, load, settings, files, pinning, quiet_wait)
            print(summarize(row), flush=True)
            rows.append(row)
            if server.exit_code() is not None:
                print(
                    f"  {spec.name} exited (code {server.exit_code()}); skipping its other runs",
                    flush=True,
                )
                break
        return rows
    finally:
        group.close()


def measure_load(
    server: ManagedProcess,
    port: int,
    load: Load,
    settings: Settings,
    files: RunFiles,
    pinning: Pinning,
    quiet_wait: QuietWait,
) -> Measurement:
    """Measure ``load``, running dnsperf a second time if the first one failed.

    dnsperf 2.10 sometimes dies in TCP mode when the server closes connections
    under it ("failed to receive packet: Bad file descriptor").
    """

    def once() -> Measurement:
        quiet_wait.before_run()
        return measure(
            server,
            port,
            load,
            files,
            pinning,
            duration=settings.duration,
            tcp_queries_per_connection=settings.tcp_queries_per_connection,
        )

    row = once()
    if row.report is None and server.exit_code() is None:
        where = f"{load.transport.upper()} {load.label}"
        print(f"  {where}: {row.problem}; running it once more", flush=True)
        row = once()
    return row


def report(
    rows: list[Measurement],
    loads: Sequence[Load],
    header: str,
    notes: list[str],
    files: RunFiles,
) -> None:
    """Print the table, ratios and ``notes``; save them as table.txt."""
    table = format_table(rows) if rows else "(nothing measured)"
    ratios = [format_ratios(rows, loads, OURS.name, DNSMASQ.name)]
    if any(row.server == "before" for row in rows):
        ratios.append(format_ratios(rows, loads, OURS.name, "before"))
    save_report(files, "\n".join([header, "", table, "", *ratios, *notes]))


def run(settings: Settings) -> int:
    ensure_installed(REQUIRED_PACKAGES)
    names = read_names(settings.names_source, settings.name_count)
    pinning = choose_pinning()
    files = prepare_files(names, keep=settings.keep)
    header = describe_run(settings, names, pinning)
    print(header, flush=True)
    loads = [
        Load(transport, rate)
        for transport in ("udp", "tcp")
        for rate in (None, settings.rate)
    ]
    if settings.misses:
        loads = [misses_load(settings.duration, settings.rate, len(names))]
    rows: list[Measurement] = []
    unavailable: list[str] = []
    failed_to_start: ServerStartError | None = None
    quiet_wait = QuietWait()
    group = ProcessGroup()
    try:
        _, upstream_port = start_fake_upstream(
            group,
            files.names_file,
            files.results_dir / "fake-upstream.log",
            pinning.load_cpu,
        )
        print(
            f"fake upstream: 127.0.0.1:{upstream_port}, {len(names)} names, TTL 3600",
            flush=True,
        )
        for spec in settings.servers:
            missing = spec.missing_reason()
            if missing:
                unavailable.append(f"{spec.name}: not measured, {missing}")
                print(unavailable[-1], flush=True)
                continue
            try:
                rows += benchmark_server(
                    spec, upstream_port, loads, settings, files, pinning, quiet_wait
                )
            except ServerStartError as error:
                failed_to_start = error
                break
    except ServerStartError as error:
        failed_to_start = error
    finally:
        group.close()
        if not settings.keep:
            shutil.rmtree(files.scratch_dir, ignore_errors=True)
    failure = [str(failed_to_start)] if failed_to_start else []
    report(rows, loads, header, unavailable + failure, files)
    if failed_to_start:
        print(f"\n{failed_to_start}\n{failed_to_start.log_tail}", file=sys.stderr)
        return 1
    if len(unavailable) == len(settings.servers):
        raise SetupError("no server could be measured: " + "; ".join(unavailable))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    settings = parse_settings(sys.argv[1:] if argv is None else argv)
    return run_benchmark("dns_cached", lambda: run(settings))


if __name__ == "__main__":
    sys.exit(main())
