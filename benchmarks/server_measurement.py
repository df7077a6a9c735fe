"""One server under dnsperf: warm its cache, then measure one load at a time.

Around each dnsperf run it reads the server's CPU time (children included),
its peak RSS, and the CPU used by unrelated processes, so a busy machine can
be told apart from a slow server.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass

from bench_servers import ManagedProcess
from dnsperf_run import dnsperf_command, run_dnsperf, time_limit
from process_usage import (
    IdleWait,
    cpu_seconds,
    foreign_cpu_seconds,
    peak_rss_mib,
    wait_for_children_to_exit,
    wait_until_idle,
)
from results_table import BUSY_MACHINE_PERCENT, Load, Measurement
from run_files import RunFiles, SetupError

CHILD_REAP_SECONDS = 5.0
QUIET_WAIT_SECONDS = 30.0  # longest wait for other processes to calm down
QUIET_SAMPLE_SECONDS = 1.0
# A quiet window (under 2% of a CPU) that says a server is idle again. Longer
# than ours' query-log flush interval (2 s by default): a shorter window can
# fall between two flushes and stop counting before the last batch is written.
IDLE_WINDOW_SECONDS = 2.5


@dataclass(frozen=True, slots=True)
class Pinning:
    """Which CPU dnsperf (and the helpers) and the server under test run on."""

    load_cpu: int | None
    server_cpu: int | None

    def describe(self) -> str:
        if self.server_cpu is None:
            return "pinning: none (one CPU), dnsperf and the server share it"
        return (
            f"pinning: dnsperf, fake upstream and this script on CPU {self.load_cpu}, "
            f"server under test on CPU {self.server_cpu} (taskset -c)"
        )


def choose_pinning() -> Pinning:
    """The CPUs to use, and this script (with what it starts unpinned) moved
    to the load CPU, off the server's."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return Pinning(None, None)
    os.sched_setaffinity(0, {cpus[0]})
    return Pinning(load_cpu=cpus[0], server_cpu=cpus[1])


def warm_up(
    server: ManagedProcess,
    port: int,
    files: RunFiles,
    pinning: Pinning,
    *,
    dnsperf_options: Sequence[str] = (),
) -> None:
    """Ask every name once over UDP so each answer is cached; say what came back.

    ``dnsperf_options`` are added to dnsperf's command line (see ``measure``).
    """
    for attempt in (1, 2):
        command = dnsperf_command(
            port,
            "udp",
            files.queries_file,
            duration=None,
            passes=1,
            clients=1,
            outstanding=20,
            cpu=pinning.load_cpu,
            extra=dnsperf_options,
        )
        output_path = files.results_dir / f"{server.name}-warmup-{attempt}.txt"
        run = run_dnsperf(command, output_path, None, time_limit(60))
        if run.report is None:
            print(f"  warm-up: {run.error}", flush=True)
            return
        codes = (
            ", ".join(
                f"{code} {count}" for code, count in run.report.response_codes.items()
            )
            or "no answers"
        )
        print(
            f"  warm-up: {run.report.sent} queries, {run.report.lost} lost ({codes})",
            flush=True,
        )
        if run.report.lost == 0:
            return


def measure(
    server: ManagedProcess,
    port: int,
    load: Load,
    files: RunFiles,
    pinning: Pinning,
    *,
    duration: int,
    tcp_queries_per_connection: int | None,
    dnsperf_options: Sequence[str] = (),
    output_name: str | None = None,
    per_query_lines: bool | None = None,
    until_idle: bool = False,
) -> Measurement:
    """One dnsperf run against ``server`` with its CPU and memory around it.

    ``dnsperf_options`` are added to dnsperf's command line (another source
    address, an EDNS option); its output goes to ``<output_name>.txt`` in the
    results directory, by default ``<server>-<load>.txt``. dnsperf prints a
    line per query (for p99) at a fixed rate unless ``per_query_lines`` is
    False: a long run would print millions. With ``until_idle`` the CPU
    counted runs on after dnsperf until the server is idle again
    (``process_usage.wait_until_idle``): work it deferred past its answers.
    """
    if per_query_lines is None:
        per_query_lines = load.rate is not None
    command = dnsperf_command(
        port,
        load.transport,
        files.queries_file,
        duration=duration,
        rate=load.rate,
        per_query_lines=per_query_lines,
        queries_per_connection=tcp_queries_per_connection,
        cpu=pinning.load_cpu,
        extra=dnsperf_options,
    )
    name = output_name or f"{server.name}-{load.slug}"
    output_path = files.results_dir / f"{name}.txt"
    try:
        started = time.monotonic()
        foreign_before = foreign_cpu_seconds(os.getpid())
        cpu_before = cpu_seconds(server.pid)
        run = run_dnsperf(command, output_path, duration, time_limit(duration))
        # dnsmasq forks a child per TCP connection: its CPU counts once reaped.
        wait_for_children_to_exit(server.pid, CHILD_REAP_SECONDS)
        cpu_in_run = cpu_seconds(server.pid) - cpu_before
        tail: IdleWait | None = (
            wait_until_idle(server.pid, window_seconds=IDLE_WINDOW_SECONDS)
            if until_idle
            else None
        )
        cpu_used = cpu_seconds(server.pid) - cpu_before
        foreign_used = foreign_cpu_seconds(os.getpid()) - foreign_before
        elapsed = time.monotonic() - started
    except ProcessLookupError:
        problem = f"server exited (code {server.exit_code()})"
        return Measurement(
            server.name, load, None, None, None, None, None, None, problem
        )
    report = run.report
    completed = report.completed if report else 0
    run_seconds = report.run_seconds if report else 0.0
    notes = [run.error] if run.error else []
    if tail is not None and not tail.idle:
        notes.append(f"still busy {tail.seconds:.0f} s after dnsperf ended; CPU counted until then")
    return Measurement(
        server=server.name,
        load=load,
        report=report,
        cpu_us_per_query=cpu_used / completed * 1e6 if completed else None,
        peak_rss_mib=peak_rss_mib(server.pid),
        server_cpu_percent=100 * cpu_in_run / run_seconds if run_seconds else None,
        dnsperf_cpu_percent=run.cpu_percent,
        other_cpu_percent=100 * foreign_used / elapsed,
        problem="; ".join(notes) or None,
        tail_seconds=tail.seconds if tail is not None else None,
    )


def misses_load(duration: int, rate: int, name_count: int) -> Load:
    """UDP at ``rate``, each name of a ``name_count``-line query file asked once:
    dnsperf reads the file in order and must stop before it loops, or some
    queries would be cache hits."""
    if duration * rate > name_count:
        raise SetupError(
            f"{duration} s at {rate} q/s asks {duration * rate} names, "
            f"more than the {name_count} in the list: some would be cache hits"
        )
    return Load("udp", rate)


def summarize(row: Measurement) -> str:
    if row.report is None:
        return f"  {row.load.transport.upper()} {row.load.label}: {row.problem}"
    p99 = row.report.percentile_ms(99)
    return (
        f"  {row.load.transport.upper()} {row.load.label}: {row.report.queries_per_second:,.0f} q/s, "
        f"lost {row.report.lost}" + (f", p99 {p99:.2f} ms" if p99 is not None else "")
    )


class QuietWait:
    """Before each run, wait (bounded) until other processes use little CPU.

    On a shared two-core machine a test suite running next to the benchmark
    takes a core from dnsperf or the server; starting a run after it finishes
    gives numbers worth comparing. Once a wait times out the machine is taken
    as busy for good and later runs start at once, so a run never takes more
    than one extra QUIET_WAIT_SECONDS.
    """

    def __init__(self) -> None:
        self.enabled = True

    def before_run(self) -> None:
        if not self.enabled:
            return
        deadline = time.monotonic() + QUIET_WAIT_SECONDS
        said_so = False
        while (
            busy := _foreign_cpu_percent(QUIET_SAMPLE_SECONDS)
        ) > BUSY_MACHINE_PERCENT:
            if time.monotonic() >= deadline:
                print(
                    f"  still {busy:.0f}%; later runs start without waiting",
                    flush=True,
                )
                self.enabled = False
                return
            if not said_so:
                print(
                    f"  other processes use {busy:.0f}% of a CPU; waiting up to "
                    f"{QUIET_WAIT_SECONDS:.0f} s for them to finish",
                    flush=True,
                )
                said_so = True


def _foreign_cpu_percent(seconds: float) -> float:
    before = foreign_cpu_seconds(os.getpid())
    time.sleep(seconds)
    return 100 * (foreign_cpu_seconds(os.getpid()) - before) / seconds
