"""The working-sets benchmark's sets and servers, and one measured row.

A row is one server on one working set: a fresh process (ours also on a
fresh data dir, on the index compiled once), warmed when the set asks for
it, left to settle, measured by dnsperf with its CPU counted until it is
idle again, checked, stopped. Every process started here is stopped before
``measure_row`` returns, whatever happens.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

from answer_check import FAILURE_EXAMPLES, CheckResult, Expectation, check_answers, format_checks
from bench_servers import DNSMASQ, FLOOR, OURS, UNBOUND, ProcessGroup, ServerSpec, ServerStartError
from bench_servers import dnsmasq_command, unbound_command
from blocked_files import SEED, SUBDOMAIN_PREFIX, OursCatalog, write_lines, write_queries
from blocked_runs import LIST_START_DEADLINE_SECONDS, Bench, start_timed, with_arguments
from index_timing import logged_compiles, time_compile
from policy_files import answered_plainly
from process_usage import wait_until_idle
from results_table import Load, Measurement, aligned, number_cell, problem_notes, ratio_cell
from server_measurement import IDLE_WINDOW_SECONDS, measure, misses_load, summarize, warm_up

from dnsfilter.config.settings import CacheSettings
from dnsfilter.store.database import open_database
from dnsfilter.store.querylog.queries import counters

CACHE_ENTRIES = 100_000  # every server's cache
# unbound sizes its caches in bytes: an A answer takes a few hundred bytes in
# each, so these hold well over 100,000 entries (memory is taken as used).
UNBOUND_MSG_CACHE = "64m"
UNBOUND_RRSET_CACHE = "128m"
BLOCKED_COUNT = 100_000
CACHED_COUNT = 50_000
SMALL_COUNT = 1_000  # listed names, and as many allowed ones, in "2k"
SET_KEYS = ("exact", "www", "cached", "2k", "misses")
CHECK_DEADLINE_SECONDS = 60.0
SUSTAINED_SHARE = 0.98  # answered q/s below this share of the rate: the server fell behind


@dataclass(frozen=True, slots=True)
class WorkingSet:
    key: str  # --sets, file names
    title: str  # the table's row
    queries_file: Path  # the whole set, one "name A" a line, in shuffled order
    size: int  # distinct names
    load: Load
    warm: bool  # every name asked once before the measured run
    loops: bool  # dnsperf goes through the file more than once (not misses)


@dataclass(frozen=True, slots=True)
class Server:
    key: str  # --only, file names
    title: str  # the table's column
    spec: ServerSpec
    ours_like: bool  # a fresh data dir per row, on the index compiled once


@dataclass(frozen=True, slots=True)
class Row:
    server: str  # Server.key
    working_set: str  # WorkingSet.key
    round_number: int
    measurement: Measurement
    checks: list[CheckResult]
    recompiled: bool  # ours logged a compile: the index was not used as linked
    logged: tuple[int, int] | None = None  # ours with its log on: answers (written, dropped)


def _thousands(count: int) -> str:
    return f"{count // 1000}k" if count % 1000 == 0 else f"{count:,}"


def _plain_sample(
    pick: random.Random, names: Sequence[str], count: int, prefix: str = ""
) -> list[str]:
    """``count`` distinct ``prefix + name`` drawn from ``names``, in random order,
    leaving out the few that ours rewrites (safe search) or answers itself (bypass)."""
    drawn = pick.sample(names, min(len(names), count + count // 20 + 10))
    return [prefix + n for n in drawn if answered_plainly(prefix + n)][:count]


def draw_sets(
    listed: Sequence[str],
    allowed: Sequence[str],
    keys: Sequence[str],
    scratch: Path,
    rate: int,
    misses_rate: int,
    duration: int,
) -> list[WorkingSet]:
    """The working sets in ``keys``, drawn with a fixed seed; ``allowed`` holds
    names no listed name covers, answered plainly, in file order."""
    pick = random.Random(SEED)
    fixed = Load("udp", rate)
    exact = _plain_sample(pick, listed, BLOCKED_COUNT)
    www = _plain_sample(pick, listed, BLOCKED_COUNT, SUBDOMAIN_PREFIX)
    cached = pick.sample(allowed, min(CACHED_COUNT, len(allowed)))
    small = _plain_sample(pick, listed, SMALL_COUNT) + pick.sample(
        allowed, min(SMALL_COUNT, len(allowed))
    )
    pick.shuffle(small)
    chosen = {
        "exact": (f"blocked exact {_thousands(len(exact))}", exact, False),
        "www": (f"blocked www {_thousands(len(www))}", www, False),
        "cached": (f"cached {_thousands(len(cached))}", cached, True),
        "2k": (_thousands(len(small)), small, True),
        "misses": ("misses", list(allowed), False),
    }
    sets = []
    for key in keys:
        title, names, warm = chosen[key]
        queries = write_queries(scratch / f"set-{key}.txt", names)
        if key == "misses":  # the file in order, each name once, as dns_cached --misses
            load = misses_load(duration, misses_rate, len(names))
            sets.append(WorkingSet(key, title, queries, len(names), load, warm, False))
        else:
            sets.append(WorkingSet(key, title, queries, len(names), fixed, warm, True))
    return sets


def cache_size() -> int:
    """ours' cache.size: its default, raised to CACHE_ENTRIES when smaller."""
    return max(CacheSettings().size, CACHE_ENTRIES)


def write_ours_config(path: Path, *, logging: bool) -> Path:
    """Ours' default config but: no list downloads, the cache sized like the
    others', the web page on a free port (two runs never clash on 8080) and
    the query log on or off."""
    lines = [
        "lists:",
        "  auto_update: false",
        "cache:",
        f"  size: {cache_size()}",
        "web:",
        '  listen: "127.0.0.1:0"',
        "query_log:",
        f"  enabled: {'true' if logging else 'false'}",
    ]
    return write_lines(path, lines)


def write_unbound_include(path: Path, zones: Path) -> Path:
    """unbound's extra server settings: the cache sizes, then the local zones."""
    return write_lines(
        path,
        [
            "server:",
            f"  msg-cache-size: {UNBOUND_MSG_CACHE}",
            f"  rrset-cache-size: {UNBOUND_RRSET_CACHE}",
            f'  include: "{zones}"',
        ],
    )


def make_servers(
    catalog: OursCatalog,
    configs: tuple[Path, Path],
    unbound_include: Path,
    dnsmasq_conf: Path,
    before: ServerSpec | None,
) -> dict[str, Server]:
    """Every server this benchmark knows, by key; ``configs``: ours' log on, log off."""

    def ours(spec: ServerSpec, config: Path) -> ServerSpec:
        arguments = ["-c", str(config), "--blocklists", str(catalog.directory)]
        return with_arguments(spec, arguments, LIST_START_DEADLINE_SECONDS)

    dnsmasq = replace(DNSMASQ, command=partial(dnsmasq_command, cache_size=CACHE_ENTRIES))
    servers = [
        Server("ours", "ours", ours(OURS, configs[0]), True),
        Server("ours-log-off", "ours log off", ours(OURS, configs[1]), True),
        Server(
            "unbound",
            "unbound",
            replace(
                UNBOUND,
                command=partial(unbound_command, include=unbound_include),
                start_deadline_seconds=LIST_START_DEADLINE_SECONDS,
            ),
            False,
        ),
        Server(
            "dnsmasq",
            "dnsmasq",
            with_arguments(dnsmasq, [f"--conf-file={dnsmasq_conf}"], LIST_START_DEADLINE_SECONDS),
            False,
        ),
    ]
    servers.append(Server("floor", "python floor", FLOOR, False))
    if before is not None:
        servers.append(Server("before", "before", ours(before, configs[0]), True))
    return {server.key: server for server in servers}


def compile_alone(catalog: OursCatalog, bench: Bench) -> str:
    """compile_index in a fresh interpreter, as dns_blocked.py times it."""
    bench.quiet_wait.before_run()
    print("ours: compile_index in its own process", flush=True)
    try:
        compiled = time_compile(
            catalog,
            bench.files.scratch_dir / "compile-alone.bin",
            bench.pinning.server_cpu,
            bench.files.results_dir / "ours-compile.log",
        )
    except ServerStartError as error:
        return f"! {error}"
    line = (
        f"ours' compile_index alone, in a fresh interpreter: {compiled.seconds:.2f} s, "
        f"{compiled.entries:,} names, peak RSS {compiled.peak_rss_mib:.0f} MiB"
    )
    print(f"  {line}", flush=True)
    return line


def row_name(server: Server, working_set: WorkingSet, round_number: int, rounds: int) -> str:
    """Names the row's process, log, dnsperf outputs and (ours) data dir."""
    name = f"{server.key}-{working_set.key}"
    return f"{name}-{round_number}" if rounds > 1 else name


def measure_row(
    server: Server,
    working_set: WorkingSet,
    round_number: int,
    name: str,
    bench: Bench,
    checks: Sequence[Expectation],
) -> Row:
    """Start, warm, settle, measure until idle, check, stop; ServerStartError
    when it does not come up."""
    spec = replace(server.spec, name=name) if server.ours_like else server.spec
    files = replace(bench.files, queries_file=working_set.queries_file)
    group = ProcessGroup()
    try:
        process, port, _ = start_timed(group, spec, name, bench)
        if working_set.warm:
            warm_up(process, port, files, bench.pinning)
        bench.quiet_wait.before_run()
        # Start-up and warm-up work (ours' log writer, say) is not this run's.
        settled = wait_until_idle(process.pid, window_seconds=IDLE_WINDOW_SECONDS)
        if not settled.idle:
            print(f"  still busy {settled.seconds:.0f} s before the run", flush=True)
        row = measure(
            process,
            port,
            working_set.load,
            files,
            bench.pinning,
            duration=bench.duration,
            tcp_queries_per_connection=None,
            per_query_lines=False,
            until_idle=True,
        )
        tail = "-" if row.tail_seconds is None else f"{row.tail_seconds:.2f} s"
        cpu = "-" if row.cpu_us_per_query is None else f"{row.cpu_us_per_query:.1f}"
        print(f"{summarize(row)}, {cpu} CPU µs/query, busy tail {tail}", flush=True)
        exited = process.exit_code() is not None
        results = [] if exited else check_answers(port, checks, CHECK_DEADLINE_SECONDS)
        group.stop(process)  # ours writes the rest of its log as it stops
        recompiled = server.ours_like and bool(logged_compiles(process.log_path))
        logged = log_counts(bench.files.scratch_dir / f"{name}-data") if server.ours_like else None
        return Row(server.key, working_set.key, round_number, row, results, recompiled, logged)
    finally:
        group.close()


def log_counts(data_dir: Path) -> tuple[int, int] | None:
    """Answers ours' query log wrote and dropped (its writer fell behind), from
    its database; None when it logged nothing (log off)."""
    path = data_dir / "dnsfilter.db"
    if not path.exists():
        return None
    database = open_database(f"sqlite:///{path}", create=False)
    try:
        found = counters(database)
    finally:
        database.close()
    if not found:
        return None
    return sum(written for _, written, _, _ in found), sum(dropped for _, _, dropped, _ in found)


def log_lines(rows: Sequence[Row]) -> list[str]:
    """What each run with the query log on wrote and dropped."""
    lines = []
    for row in rows:
        if row.logged is not None:
            written, dropped = row.logged
            share = dropped / (written + dropped) if written + dropped else 0.0
            lines.append(
                f"  {row.measurement.server:24} wrote {written:,} answers, dropped {dropped:,} ({share:.0%})"
            )
    return ["query log (read from each run's database after it stopped)", *lines] if lines else []


def _median(values: Sequence[float | None]) -> float | None:
    present = [value for value in values if value is not None]
    return statistics.median(present) if present else None


def figure(rows: Sequence[Row], server: str, ws: str, field: str) -> float | None:
    """The median over rounds of one Measurement field of ``server`` on ``ws``."""
    return _median(
        [
            getattr(row.measurement, field)
            for row in rows
            if row.server == server and row.working_set == ws
        ]
    )


def cpu_table(
    sets: Sequence[WorkingSet], servers: Sequence[Server], rows: Sequence[Row]
) -> list[str]:
    """CPU µs/query per set and server, ours against each other, the log's cost
    and how long ours kept working after dnsperf."""
    keys = [server.key for server in servers]
    others = [key for key in ("unbound", "dnsmasq", "before") if "ours" in keys and key in keys]
    columns = [("working set", "<"), *((server.title, ">") for server in servers)]
    columns += [(f"ours/{key}", ">") for key in others]
    log_cost = "ours" in keys and "ours-log-off" in keys
    columns += [("log cost", ">")] if log_cost else []
    columns += [("ours tail s", ">")] if "ours" in keys else []
    body = []
    for ws in sets:
        cpu = {key: figure(rows, key, ws.key, "cpu_us_per_query") for key in keys}
        cells = [ws.title, *(number_cell(cpu[key], 1) for key in keys)]
        cells += [ratio_cell(cpu["ours"], cpu[key]) for key in others]
        if log_cost:
            on, off = cpu["ours"], cpu["ours-log-off"]
            cells.append(f"{(on / off - 1) * 100:+.0f}%" if on is not None and off else "n/a")
        if "ours" in keys:
            cells.append(number_cell(figure(rows, "ours", ws.key, "tail_seconds"), 2))
        body.append(cells)
    return ["CPU µs/query", *aligned(columns, body)]


def rss_table(
    sets: Sequence[WorkingSet], servers: Sequence[Server], rows: Sequence[Row]
) -> list[str]:
    """Peak RSS per set and server (each row its own process), then each server's highest."""
    columns = [("working set", "<"), *((server.title, ">") for server in servers)]
    body = [
        [ws.title, *(number_cell(figure(rows, s.key, ws.key, "peak_rss_mib"), 1) for s in servers)]
        for ws in sets
    ]
    highest = [
        max((r.measurement.peak_rss_mib or 0.0 for r in rows if r.server == s.key), default=None)
        for s in servers
    ]
    body.append(["highest", *(number_cell(value or None, 1) for value in highest)])
    title = "peak RSS MiB (VmHWM after each set's run, a fresh process each)"
    return [title, *aligned(columns, body)]


def check_lines(servers: Sequence[Server], rows: Sequence[Row], description: str) -> list[str]:
    """The answer checks of every row, added up per server ("!" lines for failures)."""
    lines = [f"answers checked after every run ({description})"]
    for server in servers:
        merged: dict[str, CheckResult] = {}
        for row in (row for row in rows if row.server == server.key):
            for result in row.checks:
                seen = merged.get(result.label)
                merged[result.label] = result if seen is None else replace(
                    seen,
                    asked=seen.asked + result.asked,
                    passed=seen.passed + result.passed,
                    planned=seen.planned + result.planned,
                    failures=(seen.failures + result.failures)[:FAILURE_EXAMPLES],
                )
        if merged:
            lines += format_checks(server.title, list(merged.values()))
    return lines


def row_notes(sets: Sequence[WorkingSet], rows: Sequence[Row]) -> list[str]:
    """"!" lines: problem_notes' (failed dnsperf, other answers than NOERROR, a
    busy machine), then lost queries, a rate not kept up, a set not gone
    through, and ours compiling during a row."""
    notes = problem_notes([row.measurement for row in rows])
    by_key = {ws.key: ws for ws in sets}
    for row in rows:
        where = row.measurement.server
        report, ws = row.measurement.report, by_key[row.working_set]
        if report is not None and report.lost:
            notes.append(f"! {where}: {report.lost:,} of {report.sent:,} queries lost")
        rate = ws.load.rate or 0
        if report is not None and report.queries_per_second < SUSTAINED_SHARE * rate:
            notes.append(
                f"! {where}: {report.queries_per_second:,.0f} q/s answered of {rate:,} asked: "
                "it fell behind, so its CPU µs/query is at its own maximum"
            )
        if report is not None and ws.loops and report.sent < ws.size:
            notes.append(
                f"! {where}: {report.sent:,} queries for {ws.size:,} names: "
                "part of the set was never asked (raise --rate or --duration)"
            )
        if row.recompiled:
            notes.append(f"! {where}: ours compiled its index during the row (see its log)")
    return notes
