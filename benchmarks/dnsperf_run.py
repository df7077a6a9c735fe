"""Run dnsperf once against 127.0.0.1, keep its raw output, and measure its own CPU."""

from __future__ import annotations

import resource
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench_servers import HOST, pinned
from dnsperf_report import DnsperfOutputError, DnsperfReport, parse_dnsperf
from process_usage import cpu_seconds

CLIENTS = 8  # sockets (UDP) or connections (TCP) dnsperf spreads queries over
OUTSTANDING = 200  # queries in flight at most
TIMEOUT_SECONDS = 1  # a query unanswered this long counts as lost
SLACK_SECONDS = 30  # beyond -l and the timeout before we give up on dnsperf


@dataclass(frozen=True, slots=True)
class DnsperfRun:
    """One dnsperf invocation: its parsed report (None if it failed) and its CPU use."""

    command: list[str]
    output_path: Path
    report: DnsperfReport | None
    cpu_percent: float | None  # of one core, while it was sending (see run_dnsperf)
    error: str | None


def dnsperf_command(
    port: int,
    transport: str,
    queries_file: Path,
    *,
    duration: int | None,
    rate: int | None = None,
    per_query_lines: bool = False,
    clients: int = CLIENTS,
    outstanding: int = OUTSTANDING,
    passes: int | None = None,
    queries_per_connection: int | None = None,
    cpu: int | None = None,
    extra: Sequence[str] = (),
) -> list[str]:
    """The dnsperf argv; ``duration`` None with ``passes`` set reads the file that many times.

    ``extra`` options go last: ``-a 127.0.0.9`` to send from another local
    address, ``-E 65001:<hex>`` to add an EDNS option to every query.
    """
    command = [
        "dnsperf",
        "-s",
        HOST,
        "-p",
        str(port),
        "-m",
        transport,
        "-d",
        str(queries_file),
    ]
    command += ["-c", str(clients), "-q", str(outstanding), "-t", str(TIMEOUT_SECONDS)]
    if duration is not None:
        command += ["-l", str(duration)]
    if passes is not None:
        command += ["-n", str(passes)]
    if rate is not None:
        command += ["-Q", str(rate)]
    if per_query_lines:
        command.append("-v")
    if transport == "tcp" and queries_per_connection is not None:
        command += ["-O", f"num-queries-per-conn={queries_per_connection}"]
    command += extra
    return pinned(command, cpu)


def run_dnsperf(
    command: list[str],
    output_path: Path,
    duration: int | None,
    time_limit_seconds: float,
) -> DnsperfRun:
    """Run ``command`` with stdout and stderr into ``output_path``; never raises.

    dnsperf's CPU is sampled from /proc when its ``duration`` (-l) is over:
    after that it only waits for late answers, busy-polling, which would
    inflate a figure taken at exit. Runs that end sooner use their rusage.
    """
    usage_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    error: str | None = None
    window: tuple[float, float] | None = None  # (CPU seconds, wall seconds)
    with output_path.open("wb") as output:
        try:
            popen = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=output, stderr=output
            )
        except OSError as start_error:
            return DnsperfRun(
                command, output_path, None, None, f"cannot start: {start_error}"
            )
        try:
            if duration is not None:
                window = _cpu_after(popen, duration, started)
            remaining = time_limit_seconds - (time.monotonic() - started)
            code = popen.wait(timeout=max(0.0, remaining))
            if code != 0:
                error = f"dnsperf exited with code {code}"
        except subprocess.TimeoutExpired:
            error = f"dnsperf still running after {time_limit_seconds:.0f} s; killed"
        finally:
            if popen.poll() is None:  # timed out or interrupted: never leave it behind
                popen.kill()
                popen.wait()
    if window is None:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (usage.ru_utime - usage_before.ru_utime) + (
            usage.ru_stime - usage_before.ru_stime
        )
        window = (cpu, time.monotonic() - started)
    cpu_percent = 100 * window[0] / window[1] if window[1] > 0 else None
    report: DnsperfReport | None = None
    try:
        report = parse_dnsperf(output_path.read_text(errors="replace"))
    except DnsperfOutputError as parse_error:
        error = error or str(parse_error)
    return DnsperfRun(command, output_path, report, cpu_percent, error)


def _cpu_after(
    popen: subprocess.Popen[bytes], seconds: float, started: float
) -> tuple[float, float] | None:
    """(CPU seconds, wall seconds) of ``popen`` ``seconds`` after ``started``.

    None when it ended before then (its rusage covers the whole run).
    """
    try:
        popen.wait(timeout=max(0.0, seconds - (time.monotonic() - started)))
        return None
    except subprocess.TimeoutExpired:
        pass
    try:
        return cpu_seconds(popen.pid), time.monotonic() - started
    except ProcessLookupError:
        return None


def time_limit(duration: int | None) -> float:
    """How long to let dnsperf run before killing it."""
    return (duration or 0) + TIMEOUT_SECONDS + SLACK_SECONDS
