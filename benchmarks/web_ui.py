"""The parents' web page of ours: page times on a big log, its memory, and
what using it costs DNS, in one run.

    .venv/bin/python benchmarks/web_ui.py [--duration 10] [--rounds 2]
        [--log-rows 5000000] [--keep-log PATH] [--names PATH] [--count 2000]
        [--list PATH] [--keep]

What is measured, in one run
    0. ours' data dir gets a week of query log as its database (querylog_
       generate.py, --log-rows rows, or a copy of --keep-log's file), the 20
       profiles and 200 devices that log names (through PolicyStore), and a
       password (dnsfilter passwd). The bundled lists are compiled by a first
       start, which is then stopped.
    1. Memory, web off: ours started with web.enabled false; VmRSS and VmHWM
       a few seconds after it answers DNS; stopped.
    2. Page times: ours started with --web 127.0.0.1:PORT on the same data
       dir; VmRSS once the page answers; signed in (POST /api/login); then
       each page's API request 5 times in a row on one kept-alive connection,
       wall time from request to last byte: the home page (GET /api/overview),
       the log page (/api/log?limit=50, with profile=, action=block and name=
       filters) and the charts (/api/stats/days?days=7 and 30, /api/stats/
       hours for today and for the log's last day). Then VmRSS: what the page
       added is that minus the web-off VmRSS (target: at most 15 MiB). VmHWM
       after signing in and after the timings is printed too: the password
       check (scrypt, N=2^14, r=8) holds 16 MiB while it runs, then frees it.
    3. DNS while the page is used: the same ours, warmed with --count cached
       names (fake upstream, TTL 3600), dnsperf at max over UDP for
       --duration s, once with nobody on the page and once while a loader
       process (web_loader.py) requests the log page and the charts back to
       back; alternating which goes first, --rounds times, best round each.
    Servers, dnsperf and the loader are pinned as in dns_cached.py.

How to read the output
    Pages: best and slowest of 5 in ms; "all under 1 s" judges the slowest.
    Memory: MiB; "adds" against 15 MiB. DNS: dns_cached.py's columns, then the
    with/without ratios. Lines starting with "!" flag something to distrust.

Raw dnsperf outputs, loader outputs, server logs and the report go to
benchmarks/results/web_ui/ (see benchmarks/README.md). Exit status 0
whatever the numbers; 1 when ours (or its page) failed to start; 2 when the
run could not be set up.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

from dnsfilter.service.accounts import SCRYPT_N, SCRYPT_R

from bench_options import add_duration, add_keep, add_log_options, add_rounds
from bench_servers import (
    HOST,
    OURS,
    REPO_ROOT,
    ManagedProcess,
    ProcessGroup,
    ServerStartError,
    free_port,
    pinned,
    python_for_helpers,
    start_fake_upstream,
    wait_until_answering,
)
from dnsperf_run import CLIENTS, OUTSTANDING, TIMEOUT_SECONDS
from process_usage import cpu_seconds, peak_rss_mib
from querylog_generate import LogShape
from results_table import Load, Measurement, format_table
from run_files import (
    RunFiles,
    SetupError,
    finish,
    prepare_files,
    read_names,
    require_files,
    require_ours,
    run_benchmark,
)
from server_measurement import Pinning, QuietWait, choose_pinning, measure, warm_up
from tool_install import ensure_installed, source_state, tool_version
from web_client import WebClient, WebError, wait_until_serving
from web_setup import (
    PASSWORD,
    RETENTION_DAYS,
    add_people,
    log_facts,
    prepare_log,
    set_password,
    write_config,
)

REQUIRED_PACKAGES = {"dnsperf": "dnsperf", "taskset": "util-linux"}
COMPILE_DEADLINE_SECONDS = 120.0  # the first start compiles the bundled lists
START_DEADLINE_SECONDS = 60.0  # on a database of a gigabyte or more
WEB_DEADLINE_SECONDS = 30.0  # DNS answering to the page answering
SETTLE_SECONDS = 3.0  # after start, before reading memory
REPEATS = 5
PAGE_TARGET_SECONDS = 1.0
MEMORY_TARGET_MIB = 15.0
# What checking a password holds while it runs (scrypt's 128 * r * N bytes).
SCRYPT_MIB = 128 * SCRYPT_R * SCRYPT_N // 2**20
FILTER_PROFILE = 7  # "Child 07": about a twentieth of the log
NO_MATCH = "zq-no-such-name"  # a typo: no row matches, the whole log is read
LOADER_LEAD_SECONDS = 1.0  # the loader starts this long before dnsperf
LOADER_SCRIPT = Path(__file__).resolve().parent / "web_loader.py"
UDP_MAX = Load("udp", None)
IDLE, LOADED = "page idle", "page in use"


@dataclass(frozen=True, slots=True)
class Settings:
    duration: int
    rounds: int
    names_source: Path
    name_count: int
    list_path: Path
    log_rows: int
    keep_log: Path | None
    keep: bool


@dataclass(frozen=True, slots=True)
class Page:
    title: str
    path: str


@dataclass(frozen=True, slots=True)
class PageTiming:
    page: Page
    seconds: list[float]  # of the requests answered 200
    answer: str  # what came back, in a few words
    problem: str | None


def parse_settings(argv: Sequence[str]) -> Settings:
    parser = argparse.ArgumentParser(
        description="The parents' web page: page times on a big log, memory, and "
        "DNS while it is used (see the module docstring).",
    )
    add_duration(parser, "per dnsperf run")
    add_rounds(parser, "dnsperf runs with and without the page in use")
    add_log_options(parser, "use a copy of this SQLite log if it exists, else generate it there and keep it")
    add_keep(parser)
    args = parser.parse_args(argv)
    return Settings(
        duration=args.duration,
        rounds=args.rounds,
        names_source=args.names,
        name_count=args.count,
        list_path=args.list,
        log_rows=args.log_rows,
        keep_log=args.keep_log,
        keep=args.keep,
    )


def pages(common_name: str, last_day: str) -> list[Page]:
    return [
        Page("home: overview", "/api/overview"),
        Page("log: newest 50", "/api/log?limit=50"),
        Page(f"log: profile {FILTER_PROFILE}", f"/api/log?limit=50&profile={FILTER_PROFILE}"),
        Page("log: action=block", "/api/log?limit=50&action=block"),
        Page("log: name text (common)", f"/api/log?limit=50&name={quote(common_name)}"),
        Page("log: name text (no match)", f"/api/log?limit=50&name={NO_MATCH}"),
        Page("charts: days=7", "/api/stats/days?days=7"),
        Page("charts: days=30", "/api/stats/days?days=30"),
        Page("charts: hours (today)", "/api/stats/hours"),
        Page(f"charts: hours ({last_day})", f"/api/stats/hours?day={last_day}"),
    ]


def loader_paths(last_day: str) -> list[str]:
    """The log page and the charts, as a parent clicking through them."""
    return [
        "/api/log?limit=50",
        "/api/log?limit=50&action=block",
        "/api/stats/days?days=7",
        "/api/stats/days?days=30",
        f"/api/stats/hours?day={last_day}",
    ]


def describe_run(settings: Settings, names: list[str], pinning: Pinning) -> str:
    return "\n".join(
        [
            "web_ui: ours' page for parents on a big log; its memory; DNS while it is used",
            (
                f"ours: time_zone UTC, lists.auto_update false, query log on "
                f"(retention_days {RETENTION_DAYS}, longer than the log), the log as its "
                f"database; web.enabled false / true (--web {HOST}:PORT)"
            ),
            (
                f"{len(names):,} cached names from {settings.names_source.name}; dnsperf "
                f"{tool_version(['dnsperf', '-h'])} -c {CLIENTS} -q {OUTSTANDING} "
                f"-t {TIMEOUT_SECONDS} over UDP, {settings.duration} s at max per run, best of "
                f"{settings.rounds} round{'s' if settings.rounds > 1 else ''} each"
            ),
            f"Python {platform.python_version()}, {os.cpu_count()} CPUs, {platform.node()}",
            source_state(REPO_ROOT, "dnsfilter"),
            pinning.describe(),
        ]
    )


def memory_mib(pid: int, field: str) -> float | None:
    """``VmRSS`` or ``VmHWM`` of ``pid`` in MiB (None once it has gone)."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except (FileNotFoundError, ProcessLookupError):
        return None
    for line in lines:
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return None


class Ours:
    """Starting ours on the prepared data dir, each time on new ports."""

    def __init__(
        self, data_dir: Path, upstream_port: int, files: RunFiles, pinning: Pinning
    ) -> None:
        self.data_dir = data_dir
        self.upstream_port = upstream_port
        self.files = files
        self.pinning = pinning
        self.probe_name = files.names_file.read_text().split("\n", 1)[0]

    def start(
        self,
        group: ProcessGroup,
        name: str,
        config: Path,
        *,
        web_port: int | None = None,
        deadline: float = START_DEADLINE_SECONDS,
    ) -> tuple[ManagedProcess, int]:
        port = free_port()
        command = [*OURS.command(port, self.upstream_port, self.data_dir), "-c", str(config)]
        if web_port is not None:
            command += ["--web", f"{HOST}:{web_port}"]
        command = pinned(command, self.pinning.server_cpu)
        print(f"{name}: {' '.join(command)}", flush=True)
        started = time.monotonic()
        server = group.start(name, command, self.files.results_dir / f"{name}.log")
        wait_until_answering(server, port, self.probe_name, deadline)
        print(f"  answering DNS after {time.monotonic() - started:.1f} s", flush=True)
        return server, port


def time_pages(client: WebClient, chosen: Sequence[Page], server_pid: int) -> list[PageTiming]:
    """Each page ``REPEATS`` times; the server's peak RSS is printed after each
    page, so the page that raises it shows."""
    timings = []
    for page in chosen:
        seconds: list[float] = []
        problem = None
        answer = ""
        for _ in range(REPEATS):
            fetched = client.get(page.path)
            if fetched.status != 200:
                problem = f"status {fetched.status}: {fetched.body[:200]!r}"
                continue
            seconds.append(fetched.seconds)
            answer = describe_answer(fetched.json(), len(fetched.body))
        timing = PageTiming(page, seconds, answer, problem)
        peak = peak_rss_mib(server_pid)
        print(f"  {page.title}: {format_ms(timing)}; server peak RSS {peak or 0:.1f} MiB", flush=True)
        timings.append(timing)
    return timings


def describe_answer(data: object, size: int) -> str:
    """A few words on what a page's JSON held: rows, days, queries."""
    words = []
    if isinstance(data, dict):
        if isinstance(data.get("rows"), list):
            words.append(f"{len(data['rows'])} rows" + (", more" if data.get("more") else ""))
        if isinstance(data.get("totals"), dict):
            words.append(f"today {data['totals'].get('queries', 0):,} queries")
            words.append(f"{len(data.get('profiles', []))} people")
        for key in ("days", "hours"):
            if isinstance(data.get(key), list):
                total = sum(item.get("queries", 0) for item in data[key])
                words.append(f"{len(data[key])} {key}, {total:,} queries")
    words.append(f"{size / 1000:,.1f} kB")
    return ", ".join(words)


def format_ms(timing: PageTiming) -> str:
    if not timing.seconds:
        return f"failed ({timing.problem})"
    return (
        f"best {min(timing.seconds) * 1000:,.1f} ms, slowest "
        f"{max(timing.seconds) * 1000:,.1f} ms ({timing.answer})"
    )


def format_pages(timings: Sequence[PageTiming]) -> str:
    rows = []
    for timing in timings:
        low = f"{min(timing.seconds) * 1000:,.1f}" if timing.seconds else "-"
        high = f"{max(timing.seconds) * 1000:,.1f}" if timing.seconds else "-"
        rows.append((timing.page.title, low, high, timing.answer, timing.page.path))
    widths = [max(len(row[i]) for row in [("page", "best ms", "slowest ms", "answer", "request"), *rows]) for i in range(5)]
    lines = []
    for number, row in enumerate([("page", "best ms", "slowest ms", "answer", "request"), *rows]):
        lines.append(
            "  ".join(
                [row[0].ljust(widths[0]), row[1].rjust(widths[1]), row[2].rjust(widths[2]),
                 row[3].ljust(widths[3]), row[4]]
            ).rstrip()
        )
        if number == 0:
            lines.append("-" * len(lines[0]))
    slowest = [max(t.seconds) for t in timings if t.seconds]
    all_under = len(slowest) == len(timings) and max(slowest, default=0) < PAGE_TARGET_SECONDS
    lines.append(
        f"all under {PAGE_TARGET_SECONDS:g} s (every one of the {REPEATS} requests of every "
        f"page): {'yes' if all_under else 'no'}"
    )
    lines += [f"! {t.page.title}: {t.problem}" for t in timings if t.problem]
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class Memory:
    off_rss: float | None
    off_hwm: float | None
    on_rss: float | None  # once the page answers, before signing in
    on_hwm_after_login: float | None  # the password check (scrypt) takes 16 MiB while it runs
    on_rss_after_pages: float | None
    on_hwm_after_pages: float | None
    on_hwm_after_dns: float | None = None

    def format(self) -> str:
        def mib(value: float | None) -> str:
            return "-" if value is None else f"{value:,.1f} MiB"

        lines = [
            "memory of ours (/proc/PID/status):",
            f"  web off, {SETTLE_SECONDS:g} s after start: VmRSS {mib(self.off_rss)}, VmHWM {mib(self.off_hwm)}",
            f"  web on, once the page answers: VmRSS {mib(self.on_rss)}",
            f"  web on, after signing in (scrypt, {SCRYPT_MIB} MiB while a password is checked): "
            f"VmHWM {mib(self.on_hwm_after_login)}",
            f"  web on, after the page timings: VmRSS {mib(self.on_rss_after_pages)}, VmHWM {mib(self.on_hwm_after_pages)}",
        ]
        if self.on_hwm_after_dns is not None:
            lines.append(
                f"  web on, after the DNS runs (page in use during some): VmHWM {mib(self.on_hwm_after_dns)}"
            )
        if self.off_rss is not None and self.on_rss_after_pages is not None:
            added = self.on_rss_after_pages - self.off_rss
            lines.append(
                f"the page adds {added:,.1f} MiB (resident after the timings - web off after start; "
                f"target at most {MEMORY_TARGET_MIB:g} MiB): "
                f"{'yes' if added <= MEMORY_TARGET_MIB else 'no'}"
            )
        if self.off_rss is not None and self.on_hwm_after_pages is not None:
            lines.append(
                f"  at its peak, the sign-in's password check included: {self.on_hwm_after_pages - self.off_rss:,.1f} MiB"
            )
            if self.on_hwm_after_dns is not None:
                lines.append(
                    f"  counting the DNS runs too: {self.on_hwm_after_dns - self.off_rss:,.1f} MiB"
                )
        return "\n".join(lines)


@dataclass(slots=True)
class DnsRuns:
    rows: dict[str, list[Measurement]]
    loader: list[dict[str, Any]]  # web_loader.py's report per loaded run


def run_loaded(
    group: ProcessGroup,
    server: ManagedProcess,
    port: int,
    web_port: int,
    cookie: str,
    paths: Sequence[str],
    settings: Settings,
    files: RunFiles,
    pinning: Pinning,
    number: int,
) -> tuple[Measurement, dict[str, Any]]:
    """One dnsperf run while the loader requests ``paths`` back to back."""
    seconds = LOADER_LEAD_SECONDS + settings.duration + 1
    command = pinned(
        [python_for_helpers(), str(LOADER_SCRIPT), "--port", str(web_port),
         "--seconds", f"{seconds:g}", *paths],
        pinning.load_cpu,
    )
    output = files.results_dir / f"loader-{number}.txt"
    os.environ["WEB_LOADER_COOKIE"] = cookie  # inherited by the loader only if set before
    loader = group.start(f"web loader {number}", command, output)
    try:
        time.sleep(LOADER_LEAD_SECONDS)
        row = measure(
            server, port, UDP_MAX, files, pinning, duration=settings.duration,
            tcp_queries_per_connection=None, output_name=f"ours-loaded-{number}",
        )
        try:
            loader_cpu = cpu_seconds(loader.pid)
        except ProcessLookupError:
            loader_cpu = None
        loader.popen.wait(timeout=seconds + 60)
    finally:
        group.stop(loader)
        os.environ.pop("WEB_LOADER_COOKIE", None)
    report: dict[str, Any] = {"problem": None}
    try:
        report = json.loads(output.read_text().strip().splitlines()[-1])
    except (OSError, ValueError, IndexError):
        report = {"problem": f"no report from the loader (see {output})"}
    report["cpu_seconds"] = loader_cpu
    return replace(row, server=LOADED), report


def run_dns(
    group: ProcessGroup,
    server: ManagedProcess,
    port: int,
    web_port: int,
    cookie: str,
    paths: Sequence[str],
    settings: Settings,
    files: RunFiles,
    pinning: Pinning,
) -> DnsRuns:
    quiet_wait = QuietWait()
    warm_up(server, port, files, pinning)
    runs = DnsRuns({IDLE: [], LOADED: []}, [])
    for number in range(1, settings.rounds + 1):
        order = (IDLE, LOADED) if number % 2 else (LOADED, IDLE)
        for kind in order:
            quiet_wait.before_run()
            if kind == IDLE:
                row = replace(
                    measure(
                        server, port, UDP_MAX, files, pinning, duration=settings.duration,
                        tcp_queries_per_connection=None, output_name=f"ours-idle-{number}",
                    ),
                    server=IDLE,
                )
            else:
                row, report = run_loaded(
                    group, server, port, web_port, cookie, paths, settings, files, pinning, number
                )
                runs.loader.append(report)
            runs.rows[kind].append(row)
            qps = f"{row.report.queries_per_second:,.0f} q/s" if row.report else row.problem
            cpu = f", {row.cpu_us_per_query:.1f} µs/query" if row.cpu_us_per_query else ""
            print(f"  round {number}, {kind}: {qps}{cpu}", flush=True)
            if server.exit_code() is not None:
                raise ServerStartError(
                    f"ours exited during the DNS runs (code {server.exit_code()})",
                    server.log_tail(),
                )
    return runs


def best(rows: Sequence[Measurement]) -> Measurement | None:
    measured = [row for row in rows if row.report is not None]
    return max(measured, key=lambda row: row.report.queries_per_second) if measured else None  # type: ignore[union-attr]


def format_dns(runs: DnsRuns, paths: Sequence[str]) -> str:
    idle, loaded = best(runs.rows[IDLE]), best(runs.rows[LOADED])
    chosen = [row for row in (idle, loaded) if row is not None]
    lines = [
        (
            "DNS, cached answers at max over UDP, with nobody on the page and while the "
            "loader uses it (best round of each):"
        ),
        format_table(chosen) if chosen else "(nothing measured)",
    ]
    if idle is not None and loaded is not None and idle.report and loaded.report:
        qps = loaded.report.queries_per_second / idle.report.queries_per_second
        lines.append(
            f"page in use / page idle: queries/s {qps:.2f}"
            + (
                f", CPU µs/query {loaded.cpu_us_per_query / idle.cpu_us_per_query:.2f}"
                if loaded.cpu_us_per_query and idle.cpu_us_per_query
                else ""
            )
            + " (the loaded run's CPU includes serving the pages)"
        )
    every = ", ".join(
        f"{kind} " + " / ".join(
            f"{row.report.queries_per_second:,.0f}" if row.report else "-" for row in rows
        )
        for kind, rows in runs.rows.items()
    )
    lines.append(f"queries/s of every round: {every}")
    lines.append("the page during the loaded runs (requests back to back, one at a time):")
    for number, report in enumerate(runs.loader, 1):
        if report.get("problem"):
            lines.append(f"! loaded run {number}: {report['problem']}")
            continue
        times = report.get("times_ms", {})
        failed = report.get("failed", {})
        cpu = report.get("cpu_seconds")
        lines.append(
            f"  run {number}: {sum(len(v) for v in times.values())} requests in "
            f"{report.get('seconds', 0):.1f} s"
            + (f"; the loader's own CPU {cpu:.1f} s" if isinstance(cpu, float) else "")
        )
        for path in paths:
            done = times.get(path, [])
            if done:
                lines.append(
                    f"    {path}: {len(done)}, median {statistics.median(done):,.1f} ms, "
                    f"slowest {max(done):,.1f} ms"
                )
            if failed.get(path):
                lines.append(f"! {path}: {failed[path]} failed, e.g. {report['failures'][path][0]}")
    return "\n".join(lines)


def run(settings: Settings) -> int:
    ensure_installed(REQUIRED_PACKAGES)
    require_ours()
    require_files((settings.names_source, "--names"), (settings.list_path, "--list"))
    if settings.keep_log is not None and not settings.keep_log.parent.is_dir():
        raise SetupError(f"--keep-log: the folder {settings.keep_log.parent} does not exist")
    pinning = choose_pinning()
    names = read_names(settings.names_source, settings.name_count)
    files = prepare_files(names, keep=settings.keep, benchmark="web_ui")
    try:
        return measure_all(settings, names, files, pinning)
    finally:
        if not settings.keep:
            shutil.rmtree(files.scratch_dir, ignore_errors=True)


def measure_all(settings: Settings, names: list[str], files: RunFiles, pinning: Pinning) -> int:
    header = describe_run(settings, names, pinning)
    print(header, flush=True)
    sections = [header]
    data_dir = files.scratch_dir / "ours-data"
    data_dir.mkdir(exist_ok=True)
    log_lines = prepare_log(
        data_dir, settings.log_rows, settings.keep_log, settings.names_source,
        settings.list_path, lambda line: print(line, flush=True),
    )
    profiles, devices = add_people(data_dir, LogShape(rows=settings.log_rows))
    set_password(data_dir)
    newest_row, last_day = log_facts(data_dir)
    log_lines.append(
        f"  people: {profiles} profiles (the default and Child 02 to Child {profiles:02d}), "
        f"{devices} devices in the profiles the log gives them; newest row id {newest_row:,}, "
        f"last day {last_day}"
    )
    sections.append("\n".join(log_lines))
    print(sections[-1], flush=True)
    off_config = write_config(files.scratch_dir / "web-off.yaml", web=False)
    on_config = write_config(files.scratch_dir / "web-on.yaml", web=True)
    failure: str | None = None
    memory: Memory | None = None
    timings: list[PageTiming] = []
    dns: DnsRuns | None = None
    paths = loader_paths(last_day)
    group = ProcessGroup()
    try:
        _, upstream_port = start_fake_upstream(
            group, files.names_file, files.results_dir / "fake-upstream.log", pinning.load_cpu
        )
        print(f"fake upstream: {HOST}:{upstream_port}", flush=True)
        ours = Ours(data_dir, upstream_port, files, pinning)
        first, _ = ours.start(group, "ours-compile", off_config, deadline=COMPILE_DEADLINE_SECONDS)
        group.stop(first)
        off, _ = ours.start(group, "ours-web-off", off_config)
        time.sleep(SETTLE_SECONDS)
        off_rss, off_hwm = memory_mib(off.pid, "VmRSS"), peak_rss_mib(off.pid)
        group.stop(off)
        web_port = free_port()
        server, port = ours.start(group, "ours-web-on", on_config, web_port=web_port)
        client = WebClient(web_port)
        try:
            waited = wait_until_serving(client, WEB_DEADLINE_SECONDS)
            print(f"  page answering {waited:.1f} s after DNS", flush=True)
            time.sleep(SETTLE_SECONDS)
            on_rss = memory_mib(server.pid, "VmRSS")
            client.login(PASSWORD)
            after_login = peak_rss_mib(server.pid)
        except WebError as error:
            raise ServerStartError(str(error), server.log_tail()) from error
        print("page timings:", flush=True)
        timings = time_pages(client, pages(names[0], last_day), server.pid)
        client.close()
        memory = Memory(
            off_rss, off_hwm, on_rss, after_login, memory_mib(server.pid, "VmRSS"), peak_rss_mib(server.pid)
        )
        assert client.cookie is not None
        print("DNS with the page idle and in use:", flush=True)
        dns = run_dns(group, server, port, web_port, client.cookie, paths, settings, files, pinning)
        memory = replace(memory, on_hwm_after_dns=peak_rss_mib(server.pid))
    except ServerStartError as error:
        failure = str(error)
        print(f"{error}\n{error.log_tail}", file=sys.stderr, flush=True)
    finally:
        group.close()
    if timings:
        sections.append(
            f"page times, {REPEATS} requests each on one kept-alive connection, wall time "
            "from request to last byte:\n" + format_pages(timings)
        )
    if memory is not None:
        sections.append(memory.format())
    if dns is not None:
        sections.append(format_dns(dns, paths))
    return finish(files, sections, failure)


def main(argv: Sequence[str] | None = None) -> int:
    settings = parse_settings(sys.argv[1:] if argv is None else argv)
    return run_benchmark("web_ui", lambda: run(settings))


if __name__ == "__main__":
    sys.exit(main())
