"""The query-log benchmark's servers: logging off (A) next to logging on (B), then B sustained.

Both sides are ours with the same config but ``query_log.enabled``, each with
its SQLite database in its own data dir, started on one compiled index
(``policy_runs.compile_once``), warmed with the cached names and checked;
then they are measured at max in alternating rounds (``policy_runs``), A is
stopped, and B runs the sustained load (``querylog_sustained``). Every
process started here is stopped before ``run_servers`` returns.
"""

from __future__ import annotations

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
from bench_servers import OURS, ProcessGroup, ServerSpec
from blocked_runs import Bench, with_arguments
from policy_files import Workload
from policy_report import SideResult
from policy_runs import RunningSide, Side, measure_rounds, side_result, start_side
from querylog_sustained import Sustained, sustain

from dnsfilter.config import DATABASE_FILE

COMPILE_DEADLINE_SECONDS = 120.0  # the first start compiles the bundled lists
CHECK_DEADLINE_SECONDS = 60.0
CACHED_SLUG = "cached"


@dataclass(frozen=True, slots=True)
class Sides:
    compile: ServerSpec  # ours on an empty data dir: compiles the index both sides use
    off: Side  # A: query_log.enabled false
    on: Side  # B: query_log.enabled true


@dataclass(frozen=True, slots=True)
class ServerRuns:
    results: list[SideResult]  # A, B
    sustained: Sustained | None
    skipped: str | None  # why there is no sustained run


def write_config(path: Path, *, logging: bool) -> Path:
    """Ours' config: the database in its data dir (the default), the bundled
    lists as compiled (no downloads), the query log on or off with its default
    flush settings."""
    lines = [
        "time_zone: UTC",
        "lists:",
        "  auto_update: false",
        "query_log:",
        f"  enabled: {'true' if logging else 'false'}",
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def make_sides(scratch: Path) -> Sides:
    """Configs and specs of A and B (their data dirs made, for the index link)."""

    def ours(name: str, config: Path, deadline: float) -> ServerSpec:
        return replace(with_arguments(OURS, ["-c", str(config)], deadline), name=name)

    specs = {}
    for key, logging in (("A", False), ("B", True)):
        (scratch / f"{key}-data").mkdir(exist_ok=True)
        config = write_config(scratch / f"{key}-config.yaml", logging=logging)
        specs[key] = ours(key, config, OURS.start_deadline_seconds)
    return Sides(
        compile=replace(
            specs["A"], name="compile", start_deadline_seconds=COMPILE_DEADLINE_SECONDS
        ),
        off=Side("A", "logging off", specs["A"]),
        on=Side("B", "logging on", specs["B"]),
    )


def database_file(bench: Bench, side: Side) -> Path:
    """The side's SQLite file (``start_timed`` gives each spec ``<name>-data``)."""
    return bench.files.scratch_dir / f"{side.spec.name}-data" / DATABASE_FILE


def cached_workload(queries_file: Path, count: int) -> Workload:
    return Workload(
        CACHED_SLUG, f"cached answers, {count:,} names, UDP max", queries_file, ()
    )


def run_servers(
    sides: Sides,
    bench: Bench,
    workload: Workload,
    checked: Sequence[str],
    rounds: int,
    sustain_seconds: int,
) -> ServerRuns:
    """A and B at max in ``rounds`` rounds; then A stopped and B sustained at its
    best max rate for ``sustain_seconds``."""
    group = ProcessGroup()
    try:
        running = [start_side(group, side, bench) for side in (sides.off, sides.on)]
        checks = {run.side.key: _check(run, checked) for run in running}
        measure_rounds(running, [workload], bench, rounds)
        off, on = running
        group.stop(off.server)  # alone on its CPU for the sustained run
        speeds = [
            row.report.queries_per_second
            for row in on.rows.get(workload.slug, [])
            if row.report
        ]
        sustained: Sustained | None = None
        skipped: str | None = None
        if not speeds:
            skipped = "B has no max figure to sustain"
        elif on.server.exit_code() is not None:
            skipped = f"B exited (code {on.server.exit_code()})"
        else:
            sustained = sustain(
                on.server,
                on.port,
                group,
                bench,
                rate=round(max(speeds)),
                seconds=sustain_seconds,
                database_file=database_file(bench, on.side),
            )
        group.stop(on.server)
        results = [side_result(run, checks[run.side.key]) for run in running]
        return ServerRuns(results, sustained, skipped)
    finally:
        group.close()


def _check(run: RunningSide, names: Sequence[str]) -> dict[str, list[CheckResult]]:
    """Every checked name answered with the fake upstream's address (from the cache)."""
    results = check_answers(
        run.port, [Expectation("cached", UPSTREAM, names)], CHECK_DEADLINE_SECONDS
    )
    print("\n".join(format_checks(run.side.key, results)), flush=True)
    return {"checked": results}
