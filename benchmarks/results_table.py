"""The rows a benchmark measured, and the table and ratio lines printed from them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dnsperf_report import DnsperfReport

P99 = 99.0
# Other processes using more than this share of one CPU during a run are worth
# a warning: on a two-core machine they take time from dnsperf or the server.
BUSY_MACHINE_PERCENT = 10.0


@dataclass(frozen=True, slots=True)
class Load:
    """How dnsperf drives a server: transport and rate (None = as fast as it can)."""

    transport: str  # "udp" or "tcp"
    rate: int | None

    @property
    def label(self) -> str:
        return "max" if self.rate is None else f"{self.rate} q/s"

    @property
    def slug(self) -> str:
        return f"{self.transport}-{'max' if self.rate is None else f'{self.rate}qps'}"


@dataclass(frozen=True, slots=True)
class Measurement:
    """One server under one load. Fields are None when they could not be measured."""

    server: str
    load: Load
    report: DnsperfReport | None
    cpu_us_per_query: float | None
    peak_rss_mib: float | None
    server_cpu_percent: float | None
    dnsperf_cpu_percent: float | None
    other_cpu_percent: float | None  # everything else on the machine meanwhile
    problem: str | None = None
    # measure(until_idle=True): seconds the server kept working after dnsperf
    # ended; its CPU then is in cpu_us_per_query.
    tail_seconds: float | None = None


COLUMNS = (
    ("server", "<"),
    ("transport", "<"),
    ("load", "<"),
    ("queries/s", ">"),
    ("lost", ">"),
    ("p99 ms", ">"),
    ("CPU µs/query", ">"),
    ("peak RSS MiB", ">"),
    ("server CPU %", ">"),
    ("dnsperf CPU %", ">"),
)


def number_cell(value: float | None, digits: int) -> str:
    """``value`` with thousands separators and ``digits`` decimals; "-" when missing."""
    return "-" if value is None else f"{value:,.{digits}f}"


def _cells(row: Measurement) -> list[str]:
    report = row.report
    return [
        row.server,
        row.load.transport.upper(),
        row.load.label,
        number_cell(report.queries_per_second if report else None, 0),
        str(report.lost) if report else "-",
        number_cell(report.percentile_ms(P99) if report else None, 2),
        number_cell(row.cpu_us_per_query, 1),
        number_cell(row.peak_rss_mib, 1),
        number_cell(row.server_cpu_percent, 0),
        number_cell(row.dnsperf_cpu_percent, 0),
    ]


def format_table(rows: Sequence[Measurement]) -> str:
    """An aligned text table, one line per measurement, then any problems."""
    lines = aligned(COLUMNS, [_cells(row) for row in rows])
    lines.extend(problem_notes(rows))
    return "\n".join(lines)


def aligned(
    columns: Sequence[tuple[str, str]], body: Sequence[Sequence[str]]
) -> list[str]:
    """Title line, a rule, then ``body``; ``columns`` are (title, "<" or ">")."""
    widths = [
        max(len(title), *(len(cells[i]) for cells in body))
        for i, (title, _) in enumerate(columns)
    ]
    lines = []
    for cells in [[title for title, _ in columns], *body]:
        parts = [
            cell.ljust(width) if align == "<" else cell.rjust(width)
            for cell, width, (_, align) in zip(cells, widths, columns)
        ]
        lines.append("  ".join(parts).rstrip())
    lines.insert(1, "-" * len(lines[0]))
    return lines


def problem_notes(rows: Sequence[Measurement]) -> list[str]:
    """Lines starting with "!": failed or disturbed runs, answers other than NOERROR."""
    notes = []
    for row in rows:
        where = f"{row.server} {row.load.transport.upper()} {row.load.label}"
        if row.problem:
            notes.append(f"! {where}: {row.problem}")
        if (
            row.other_cpu_percent is not None
            and row.other_cpu_percent > BUSY_MACHINE_PERCENT
        ):
            notes.append(
                f"! {where}: other processes used {row.other_cpu_percent:.0f}% of a CPU "
                "meanwhile; its numbers are likely low"
            )
        if row.report and row.report.non_noerror():
            codes = ", ".join(
                f"{code} {count}" for code, count in row.report.non_noerror().items()
            )
            notes.append(f"! {where}: answers other than NOERROR: {codes}")
    return notes


def _find(rows: Sequence[Measurement], server: str, load: Load) -> Measurement | None:
    return next(
        (row for row in rows if row.server == server and row.load == load), None
    )


def ratio_cell(numerator: float | None, denominator: float | None) -> str:
    """``numerator / denominator`` to two decimals; "n/a" when either is missing."""
    if numerator is None or not denominator:
        return "n/a"
    return f"{numerator / denominator:.2f}"


def format_ratios(
    rows: Sequence[Measurement], loads: Sequence[Load], ours: str, reference: str
) -> str:
    """``ours/reference`` lines: queries/s at max load, CPU µs/query at every load."""
    measured = {row.server for row in rows}
    if ours not in measured or reference not in measured:
        return f"{ours}/{reference} ratios: need both servers measured"
    lines = []
    for load in loads:
        if load.rate is None:
            mine, theirs = _find(rows, ours, load), _find(rows, reference, load)
            lines.append(
                f"{ours}/{reference} queries/s ({load.transport.upper()} {load.label}): "
                + ratio_cell(
                    mine.report.queries_per_second if mine and mine.report else None,
                    theirs.report.queries_per_second
                    if theirs and theirs.report
                    else None,
                )
            )
    for load in loads:
        mine, theirs = _find(rows, ours, load), _find(rows, reference, load)
        lines.append(
            f"{ours}/{reference} CPU µs/query ({load.transport.upper()} {load.label}): "
            + ratio_cell(
                mine.cpu_us_per_query if mine else None,
                theirs.cpu_us_per_query if theirs else None,
            )
        )
    return "\n".join(lines)


def format_memory_ratio(
    rows: Sequence[Measurement], load: Load, ours: str, reference: str
) -> str:
    """``ours RSS / reference RSS`` after ``load`` (below 1: ours used less memory)."""
    mine, theirs = _find(rows, ours, load), _find(rows, reference, load)
    return f"{ours} RSS / {reference} RSS: " + ratio_cell(
        mine.peak_rss_mib if mine else None, theirs.peak_rss_mib if theirs else None
    )
