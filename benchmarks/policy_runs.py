"""The policy benchmark's runs: one compile, then sides A and B measured in turn.

Both sides are started (each pinned to the server CPU), warmed and checked;
then each workload runs against A and B back to back, in the order A B, B A,
A B, ... so a slow drift of the machine favours neither, and the whole list
again for each further round. A side's figure for a workload is its best
round (the most queries/s): on a machine shared with test suites, the run
least disturbed by them. The side not being measured is idle; its CPU over
the other's run is reported, to show it took nothing worth counting. Every
process started here is stopped before ``run_sides`` returns, whatever happens.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from answer_check import CheckResult, Expectation, check_answers, format_checks
from bench_servers import ManagedProcess, ProcessGroup, ServerSpec
from blocked_runs import MAX_LOAD, Bench, start_timed
from index_timing import logged_compiles
from policy_family import MeasuredDevices
from policy_files import Workload, mac_option
from policy_report import SideResult
from process_usage import cpu_seconds
from results_table import Measurement
from server_measurement import measure, summarize, warm_up

from dnsfilter.lists.compiler import INDEX_FILE

CHECK_DEADLINE_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class Side:
    key: str  # "A" or "B": names its data dir, log and outputs
    title: str
    spec: ServerSpec


@dataclass(slots=True)
class RunningSide:
    """A side whose server is up, with its rows so far."""

    side: Side
    server: ManagedProcess
    port: int
    start_up_seconds: float
    rows: dict[str, list[Measurement]]  # workload slug -> one per round
    idle_percent: float = 0.0  # the most CPU it used during the other side's runs


def compile_once(
    spec: ServerSpec, sides: Sequence[Side], bench: Bench, who: str = "both sides start"
) -> str:
    """Start ours on an empty data dir, which compiles before it answers, then
    hard-link its index into each side's data dir: one compile, one file.
    ``who`` starts on it, in the line returned."""
    group = ProcessGroup()
    try:
        server, _, seconds = start_timed(group, spec, spec.name, bench)
        group.stop(server)
    finally:
        group.close()
    scratch = bench.files.scratch_dir
    index = scratch / f"{spec.name}-data" / INDEX_FILE
    for side in sides:
        target = scratch / f"{side.key}-data" / INDEX_FILE
        try:
            os.link(index, target)
        except OSError:  # another file system: a copy is the same index
            shutil.copyfile(index, target)
    logged = logged_compiles(server.log_path)
    compiled = (
        f"; its log: {logged[0].entries:,} names in {logged[0].seconds:.1f} s"
        if logged
        else ""
    )
    return (
        f"index: compiled once by a first start of ours ({seconds:.1f} s to the "
        f"first answer{compiled}); {who} on that {INDEX_FILE} (hard link)"
    )


def run_sides(
    sides: Sequence[Side],
    workloads: Sequence[Workload],
    bench: Bench,
    measured: MeasuredDevices,
    expectations: Callable[[Side], list[Expectation]],
    rounds: int,
) -> list[SideResult]:
    group = ProcessGroup()
    try:
        # Every cached name once, as the measured device: the cache is shared by
        # all devices, so the router's runs find it warm too.
        device = ("-a", measured.ip)
        running = [start_side(group, side, bench, device) for side in sides]
        checks = {run.side.key: _check(run, measured, expectations) for run in running}
        measure_rounds(running, workloads, bench, rounds)
        results = []
        for run in running:
            group.stop(run.server)
            results.append(side_result(run, checks[run.side.key]))
        return results
    finally:
        group.close()


def start_side(
    group: ProcessGroup,
    side: Side,
    bench: Bench,
    warm_up_options: Sequence[str] = (),
) -> RunningSide:
    """Start ``side`` (timed) and ask every cached name once, with dnsperf's
    ``warm_up_options`` (who asks)."""
    server, port, seconds = start_timed(group, side.spec, side.key, bench)
    warm_up(server, port, bench.files, bench.pinning, dnsperf_options=warm_up_options)
    return RunningSide(side, server, port, seconds, {})


def measure_rounds(
    running: Sequence[RunningSide],
    workloads: Sequence[Workload],
    bench: Bench,
    rounds: int,
) -> None:
    """Every workload against every side back to back, alternating which goes
    first, ``rounds`` times; the rows go to each side's ``rows``."""
    for round_number in range(rounds):
        for number, workload in enumerate(workloads):
            turn = round_number * len(workloads) + number
            order = running if turn % 2 == 0 else running[::-1]
            for run in order:
                others = [other for other in running if other is not run]
                _measure(run, others, workload, bench, round_number + 1)


def side_result(run: RunningSide, checks: dict[str, list[CheckResult]]) -> SideResult:
    """``run``'s figures: its best round per workload, once its server has stopped
    (so its log is complete)."""
    return SideResult(
        key=run.side.key,
        title=run.side.title,
        start_up_seconds=run.start_up_seconds,
        checks=checks,
        rows={slug: _best(rows) for slug, rows in run.rows.items()},
        rounds={slug: _speeds(rows) for slug, rows in run.rows.items()},
        recompiled=bool(logged_compiles(run.server.log_path)),
        idle_cpu_percent=run.idle_percent,
    )


def _check(
    run: RunningSide,
    measured: MeasuredDevices,
    expectations: Callable[[Side], list[Expectation]],
) -> dict[str, list[CheckResult]]:
    """The answer checks as the measured device, by address and through the router."""
    askers = (
        ("device", measured.ip, None),
        ("router", None, mac_option(measured.mac)),
    )
    checks = {}
    for who, source, options in askers:
        results = check_answers(
            run.port,
            expectations(run.side),
            CHECK_DEADLINE_SECONDS,
            source=source,
            edns_options=options,
        )
        print("\n".join(format_checks(f"{run.side.key} {who}", results)), flush=True)
        checks[who] = results
    return checks


def _speeds(rows: Sequence[Measurement]) -> list[float | None]:
    return [row.report.queries_per_second if row.report else None for row in rows]


def _best(rows: Sequence[Measurement]) -> Measurement:
    """The round with the most queries/s (a failed round only if all failed)."""
    return max(
        rows, key=lambda row: row.report.queries_per_second if row.report else -1
    )


def _measure(
    run: RunningSide,
    others: Sequence[RunningSide],
    workload: Workload,
    bench: Bench,
    round_number: int,
) -> None:
    bench.quiet_wait.before_run()
    idle_before = [cpu_seconds(other.server.pid) for other in others]
    started = time.monotonic()
    row = measure(
        run.server,
        run.port,
        MAX_LOAD,
        replace(bench.files, queries_file=workload.queries_file),
        bench.pinning,
        duration=bench.duration,
        tcp_queries_per_connection=None,
        dnsperf_options=workload.dnsperf_options,
        output_name=f"{run.side.key}-{workload.slug}-{round_number}",
    )
    elapsed = time.monotonic() - started
    for other, before in zip(others, idle_before, strict=True):
        try:
            percent = 100 * (cpu_seconds(other.server.pid) - before) / elapsed
        except ProcessLookupError:  # it exited: its own run will say so
            continue
        other.idle_percent = max(other.idle_percent, percent)
    print(
        f"{summarize(row)}, {run.side.key} round {round_number} ({workload.title})",
        flush=True,
    )
    run.rows.setdefault(workload.slug, []).append(row)
