"""One server at a time under the blocked-names benchmark: start it, check it, load it.

Every process started here is stopped before its function returns, whatever
happens. Ours gets more runs than the others: see ``benchmark_ours``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from answer_check import (
    UPSTREAM,
    CheckResult,
    Expectation,
    check_answers,
    format_checks,
)
from bench_servers import (
    ManagedProcess,
    ProcessGroup,
    ServerSpec,
    free_port,
    pinned,
    wait_until_answering,
)
from blocked_files import (
    RECOMPILE_MARKER,
    NameSamples,
    OursCatalog,
    add_recompile_marker,
)
from blocked_report import IndexFigures, ServerResult
from index_timing import logged_compiles, measure_recompile, time_compile
from results_table import Load, Measurement
from run_files import RunFiles
from server_measurement import Pinning, QuietWait, measure, summarize

MAX_LOAD = Load("udp", None)
LIST_START_DEADLINE_SECONDS = 240.0  # unbound reads a million local zones
START_POLL_SECONDS = 0.01  # resolution of the start-up times
CHECK_DEADLINE_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class Bench:
    """What every server's part of the run shares."""

    duration: int  # of the max run
    rate: int  # of the fixed-load runs around a recompile
    recompile_seconds: int  # their duration
    files: RunFiles  # queries_file: the blocked-names load
    pinning: Pinning
    quiet_wait: QuietWait
    upstream_port: int
    probe_name: str  # a listed name: answered without the upstream


def with_arguments(
    spec: ServerSpec, arguments: Sequence[str], deadline: float
) -> ServerSpec:
    """``spec`` with ``arguments`` added to its command line."""

    def command(port: int, upstream_port: int, data_dir: Path) -> list[str]:
        return [*spec.command(port, upstream_port, data_dir), *arguments]

    return replace(spec, command=command, start_deadline_seconds=deadline)


def start_timed(
    group: ProcessGroup, spec: ServerSpec, name: str, bench: Bench
) -> tuple[ManagedProcess, int, float]:
    """Start ``spec`` as ``name`` on a new port: (process, port, exec to first answer in s).

    Waits for a quiet machine first: a busy CPU stretches start-up times too.
    """
    bench.quiet_wait.before_run()
    port = free_port()
    data_dir = bench.files.scratch_dir / f"{spec.name}-data"
    data_dir.mkdir(exist_ok=True)
    command = pinned(
        spec.command(port, bench.upstream_port, data_dir), bench.pinning.server_cpu
    )
    print(f"{name}: {' '.join(command)}", flush=True)
    started = time.monotonic()
    process = group.start(name, command, bench.files.results_dir / f"{name}.log")
    wait_until_answering(
        process,
        port,
        bench.probe_name,
        spec.start_deadline_seconds,
        poll_seconds=START_POLL_SECONDS,
    )
    seconds = time.monotonic() - started
    print(f"  answering after {seconds:.2f} s", flush=True)
    return process, port, seconds


def expectations(samples: NameSamples, block_answer: str) -> list[Expectation]:
    return [
        Expectation("listed", block_answer, samples.check_listed),
        Expectation("subdomains", block_answer, samples.check_subdomains),
        Expectation("allowed", UPSTREAM, samples.check_allowed),
    ]


def check_and_load(
    server: ManagedProcess, port: int, bench: Bench, checks: list[Expectation]
) -> tuple[list[CheckResult], Measurement]:
    """The answer checks, then the max run."""
    results = check_answers(port, checks, CHECK_DEADLINE_SECONDS)
    print("\n".join(format_checks("checks:", results)), flush=True)
    bench.quiet_wait.before_run()
    row = measure(
        server,
        port,
        MAX_LOAD,
        bench.files,
        bench.pinning,
        duration=bench.duration,
        tcp_queries_per_connection=None,
    )
    print(summarize(row), flush=True)
    return results, row


def benchmark_other(
    spec: ServerSpec, bench: Bench, checks: list[Expectation]
) -> ServerResult:
    group = ProcessGroup()
    try:
        server, port, start_up = start_timed(group, spec, spec.name, bench)
        results, row = check_and_load(server, port, bench, checks)
        return ServerResult(spec.name, start_up, row, results)
    finally:
        group.close()


def benchmark_ours(
    spec: ServerSpec,
    bench: Bench,
    catalog: OursCatalog,
    checks: list[Expectation],
) -> tuple[ServerResult, IndexFigures]:
    """Compile alone; first start; restart on the compiled index and load it;
    then restart on an out-of-date index and load it while it recompiles."""
    files = bench.files
    bench.quiet_wait.before_run()
    print("ours: compile_index in its own process", flush=True)
    compiled = time_compile(
        catalog,
        files.scratch_dir / "compile-alone.bin",
        bench.pinning.server_cpu,
        files.results_dir / "ours-compile.log",
    )
    print(
        f"  {compiled.seconds:.2f} s, {compiled.entries:,} names, "
        f"peak RSS {compiled.peak_rss_mib:.0f} MiB",
        flush=True,
    )
    fixed = Load("udp", bench.rate)
    group = ProcessGroup()
    try:
        first, _, first_start = start_timed(group, spec, "ours-first-start", bench)
        group.stop(first)
        first_compile = logged_compiles(first.log_path)

        server, port, start_up = start_timed(group, spec, "ours", bench)
        results, row = check_and_load(server, port, bench, checks)
        bench.quiet_wait.before_run()
        baseline = measure(
            server,
            port,
            fixed,
            files,
            bench.pinning,
            duration=bench.recompile_seconds,
            tcp_queries_per_connection=None,
        )
        print(summarize(baseline), flush=True)
        group.stop(server)

        add_recompile_marker(catalog)
        print(f"ours: {RECOMPILE_MARKER} appended to the list", flush=True)
        stale, port, _ = start_timed(group, spec, "ours-recompile", bench)
        recompile = measure_recompile(
            stale,
            port,
            fixed,
            files,
            bench.pinning,
            bench.recompile_seconds,
            RECOMPILE_MARKER,
        )
        print(summarize(recompile.row) + " (during the recompile)", flush=True)
    finally:
        group.close()
    figures = IndexFigures(
        compile=compiled,
        first_start_seconds=first_start,
        first_start_compile_seconds=first_compile[0].seconds if first_compile else None,
        start_seconds=start_up,
        baseline=baseline,
        recompile=recompile,
        recompile_window_seconds=bench.recompile_seconds,
    )
    return ServerResult("ours", start_up, row, results), figures
