"""The blocked-names benchmark's report: one row per server, ratios, ours' index figures."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from answer_check import CheckResult, format_checks
from index_timing import CompileTiming, RecompileRun
from results_table import (
    Load,
    Measurement,
    aligned,
    format_memory_ratio,
    format_ratios,
    problem_notes,
)

OURS = "ours"
COMPILE_TARGET_SECONDS = 20
START_TARGET_SECONDS = 1

COLUMNS = (
    ("server", "<"),
    ("start-up s", ">"),
    ("queries/s", ">"),
    ("lost", ">"),
    ("CPU µs/query", ">"),
    ("peak RSS MiB", ">"),
    ("server CPU %", ">"),
    ("dnsperf CPU %", ">"),
)


@dataclass(frozen=True, slots=True)
class ServerResult:
    """One server: how long it took to answer after exec, its max-load run, its checks."""

    name: str
    start_up_seconds: float
    row: Measurement | None
    checks: list[CheckResult]


@dataclass(frozen=True, slots=True)
class IndexFigures:
    """What only ours has: a compiled index, and the runs around recompiling it."""

    compile: CompileTiming
    first_start_seconds: float  # empty data dir: compile, then answer
    first_start_compile_seconds: float | None  # as the server logged it
    start_seconds: float  # with the compiled index
    baseline: Measurement  # fixed rate, no recompile
    recompile: RecompileRun
    recompile_window_seconds: int


def _number(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _cells(result: ServerResult) -> list[str]:
    row = result.row
    report = row.report if row else None
    return [
        result.name,
        _number(result.start_up_seconds, 2),
        _number(report.queries_per_second if report else None, 0),
        str(report.lost) if report else "-",
        _number(row.cpu_us_per_query if row else None, 1),
        _number(row.peak_rss_mib if row else None, 1),
        _number(row.server_cpu_percent if row else None, 0),
        _number(row.dnsperf_cpu_percent if row else None, 0),
    ]


def format_table(results: Sequence[ServerResult], load: Load) -> str:
    """The table, its "!" lines, then ours against each other server."""
    if not results:
        return "(nothing measured)"
    rows = [result.row for result in results if result.row is not None]
    lines = aligned(COLUMNS, [_cells(result) for result in results])
    lines += problem_notes(rows)
    others = [result.name for result in results if result.name != OURS]
    if OURS in {result.name for result in results} and others:
        lines.append("")
        for other in others:
            lines.append(format_ratios(rows, [load], OURS, other))
        for other in others:
            lines.append(format_memory_ratio(rows, load, OURS, other))
    return "\n".join(lines)


def _latency(row: Measurement) -> str:
    report = row.report
    if report is None:
        return row.problem or "no report"
    p99 = report.percentile_ms(99)
    slowest = max(report.latencies, default=None)
    return (
        f"{report.lost} lost of {report.sent:,}, p99 {_number(p99, 2)} ms, "
        f"slowest {_number(slowest * 1000 if slowest is not None else None, 2)} ms"
    )


def format_index_figures(figures: IndexFigures, marker_answer: str) -> str:
    compile_ = figures.compile
    recompile = figures.recompile
    report = recompile.row.report
    logged = (
        f" (its log: compile {figures.first_start_compile_seconds:.1f} s)"
        if figures.first_start_compile_seconds is not None
        else ""
    )
    lines = [
        "ours' compiled index",
        (
            f"  compile, compile_index in its own process:  {compile_.seconds:.2f} s "
            f"(target < {COMPILE_TARGET_SECONDS}), {compile_.entries:,} names, "
            f"peak RSS {compile_.peak_rss_mib:.0f} MiB"
        ),
        (
            f"  first start, empty data dir, exec to first answer:  "
            f"{figures.first_start_seconds:.2f} s{logged}"
        ),
        (
            f"  start with the compiled index, exec to first answer:  "
            f"{figures.start_seconds:.2f} s (target < {START_TARGET_SECONDS})"
        ),
        "  answers lost during recompile: "
        + (f"{report.lost} of {report.sent:,}" if report else "-"),
        f"    during the recompile:   {_latency(recompile.row)}",
        f"    same load, no recompile: {_latency(figures.baseline)}",
    ]
    lines += problem_notes([recompile.row, figures.baseline])
    window = figures.recompile_window_seconds
    compiled = recompile.compile
    if compiled is None:
        lines.append(
            '! no "blocklists compiled" line in the server log: the recompile '
            "did not finish (see ours-recompile.log)"
        )
        return "\n".join(lines)
    start = compiled.started - recompile.load_started
    end = compiled.finished - recompile.load_started
    blocked = recompile.marker is not None and recompile.marker.addresses == (
        marker_answer,
    )
    lines.append(
        f"    recompile (server log: {compiled.entries:,} names in {compiled.seconds:.1f} s) "
        f"ran from {start:+.1f} s to {end:+.1f} s of the {window} s load; "
        f"the name added to the list is blocked after it: {'yes' if blocked else 'NO'}"
    )
    if end < 0:
        lines.append("! the recompile ended before the load started")
    elif compiled.finished > recompile.load_ended:
        lines.append(
            f"! the recompile outlasted the load by "
            f"{compiled.finished - recompile.load_ended:.1f} s; "
            "use a longer --recompile-window"
        )
    return "\n".join(lines)


def format_check_lines(results: Sequence[ServerResult], description: str) -> str:
    lines = [f"answers checked ({description})"]
    for result in results:
        lines += format_checks(result.name, result.checks)
    return "\n".join(lines)
