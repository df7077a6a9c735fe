"""dns_policy.py's report: per workload, side A next to side B, their ratio and the verdict."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from answer_check import CheckResult, format_checks
from results_table import BUSY_MACHINE_PERCENT, Measurement, aligned, problem_notes

# "stay within 10% of the figures ... policy on vs. a single default profile"
ALLOWED_SLOWDOWN = 0.10
DNSPERF_LIMIT_PERCENT = 95.0  # dnsperf this busy may have set the pace

COLUMNS = (
    ("", "<"),
    ("queries/s", ">"),
    ("lost", ">"),
    ("CPU µs/query", ">"),
    ("peak RSS MiB", ">"),
    ("server CPU %", ">"),
    ("dnsperf CPU %", ">"),
)


@dataclass(frozen=True, slots=True)
class SideResult:
    """One side (A or B): its start, its answer checks and a row per workload."""

    key: str  # "A" or "B"
    title: str
    start_up_seconds: float | None
    checks: dict[str, list[CheckResult]]  # who asked -> results
    rows: dict[str, Measurement]  # workload slug -> its best round
    rounds: dict[str, list[float | None]]  # workload slug -> queries/s per round
    recompiled: bool  # the server compiled its lists during the runs
    idle_cpu_percent: float  # the most it used while the other side was measured


def _number(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def _queries_per_second(row: Measurement | None) -> float | None:
    return row.report.queries_per_second if row and row.report else None


def _cells(label: str, row: Measurement | None) -> list[str]:
    report = row.report if row else None
    return [
        label,
        _number(report.queries_per_second if report else None, 0),
        str(report.lost) if report else "-",
        _number(row.cpu_us_per_query if row else None, 1),
        _number(row.peak_rss_mib if row else None, 1),
        _number(row.server_cpu_percent if row else None, 0),
        _number(row.dnsperf_cpu_percent if row else None, 0),
    ]


def verdict(
    a: Measurement | None, b: Measurement | None, allowed: float = ALLOWED_SLOWDOWN
) -> str:
    """``within 10%: yes/no`` (or the ``allowed`` slowdown), judged on queries/s,
    with both ratios."""
    speed = _ratio(_queries_per_second(b), _queries_per_second(a))
    cost = _ratio(b.cpu_us_per_query if b else None, a.cpu_us_per_query if a else None)
    within = f"within {allowed:.0%}"
    if speed is None:
        return f"{within}: n/a (a run has no figures; see the lines above)"
    answer = "yes" if speed >= 1 - allowed else "NO"
    line = (
        f"{within}: {answer} (queries/s B/A {speed:.2f}, "
        f"CPU µs/query B/A {_number(cost, 2)})"
    )
    busy = [
        row.server
        for row in (a, b)
        if row
        and row.dnsperf_cpu_percent is not None
        and row.dnsperf_cpu_percent >= DNSPERF_LIMIT_PERCENT
    ]
    if busy:
        line += (
            f"; dnsperf was near a full core for {' and '.join(busy)}, "
            "so trust CPU µs/query more"
        )
    if any(
        row
        and row.other_cpu_percent is not None
        and row.other_cpu_percent > BUSY_MACHINE_PERCENT
        for row in (a, b)
    ):
        line += "; other processes were busy meanwhile: rerun on a quiet machine"
    return line


def format_workload(
    title: str,
    a: SideResult,
    b: SideResult,
    slug: str,
    allowed: float = ALLOWED_SLOWDOWN,
) -> str:
    """A and B's best rounds of workload ``slug``, their ratio and the verdict
    (B at most ``allowed`` slower than A)."""
    row_a, row_b = a.rows.get(slug), b.rows.get(slug)
    cpu = _ratio(
        row_b.cpu_us_per_query if row_b else None,
        row_a.cpu_us_per_query if row_a else None,
    )
    rss = _ratio(
        row_b.peak_rss_mib if row_b else None, row_a.peak_rss_mib if row_a else None
    )
    speed = _ratio(_queries_per_second(row_b), _queries_per_second(row_a))
    body = [
        _cells(f"A {a.title}", row_a),
        _cells(f"B {b.title}", row_b),
        ["B/A", _number(speed, 2), "-", _number(cpu, 2), _number(rss, 2), "-", "-"],
    ]
    lines = [title, *aligned(COLUMNS, body)]
    lines += problem_notes([row for row in (row_a, row_b) if row is not None])
    lines.append(verdict(row_a, row_b, allowed))
    if max(len(side.rounds.get(slug, [])) for side in (a, b)) > 1:
        lines.append(
            "queries/s of every round: "
            + "; ".join(
                f"{side.key} "
                + " ".join(_number(speed, 0) for speed in side.rounds.get(slug, []))
                for side in (a, b)
            )
        )
    return "\n".join(lines)


def format_report(
    workloads: Sequence[tuple[str, str]],
    a: SideResult,
    b: SideResult,
    allowed: float = ALLOWED_SLOWDOWN,
) -> str:
    """A table per (slug, title) workload (verdict: B at most ``allowed``
    slower), then start-up times and the checks."""
    sections = [
        format_workload(title, a, b, slug, allowed) for slug, title in workloads
    ]
    starts = "start-up, exec to first answer on the compiled index: " + ", ".join(
        f"{side.key} {_number(side.start_up_seconds, 2)} s" for side in (a, b)
    )
    idle = "while the other side was measured, at most " + ", ".join(
        f"{side.key} {side.idle_cpu_percent:.1f}%" for side in (a, b)
    )
    lines = [starts, idle + " of a CPU (idle, on the same CPU)"]
    for side in (a, b):
        if side.recompiled:
            lines.append(
                f"! {side.key} compiled its lists during the runs (see its log): "
                "its figures include a compile"
            )
    sections.append("\n".join(lines))
    checks = ["answers checked before the runs"]
    for side in (a, b):
        for who, results in side.checks.items():
            checks += format_checks(f"{side.key} {who}", results)
    sections.append("\n".join(checks))
    return "\n\n".join(sections)
