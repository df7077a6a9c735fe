"""Every working set in one run: ours (query log on and off) next to unbound and dnsmasq.

    .venv/bin/python benchmarks/working_sets.py [--list PATH] [--allowed PATH]
        [--sets exact,www,cached,2k,misses] [--only ours,ours-log-off,unbound,dnsmasq,floor]
        [--duration 10] [--rate 20000] [--misses-rate 2000] [--rounds 1]
        [--checks 100] [--before PATH] [--keep]

What is measured
    Every server blocks the same list (domains-1m.txt.gz by default), keeps
    a cache of 100,000 entries and forwards other names to a fake upstream
    (fake_upstream.py, TTL 3600). Working sets: 100,000 listed names; 100,000
    www.<listed name>; 50,000 allowed names, warmed; 1,000 listed and 1,000
    allowed names, warmed; misses, a new allowed name every query. Each set
    is one query file, the whole set shuffled, which dnsperf loops over; all
    but misses at one fixed rate (--rate), the same offered load for every
    server; misses at --misses-rate. One fresh server per set and round,
    pinned to its own CPU, one at a time. "python floor" (floor_server.py)
    is not a DNS server: it sends each query back as an empty answer, the
    least any server in Python on uvloop does per query, so its column is
    the part of ours' figures no work of ours can remove.

How to read the output
    CPU µs/query: the server's CPU from dnsperf's start until it is idle
    again (ours writes its query log after answering) over answered
    queries; ours/X below 1: ours is cheaper; log cost: ours over ours log
    off, minus 1; ours tail s: how long ours kept working after dnsperf.
    Then peak RSS per set (a fresh process each) and per server, ours'
    compile_index alone, the answer checks, and "!" lines to distrust a row.

Results go to benchmarks/results/working_sets/ (see benchmarks/README.md).
Exit status 0 whatever the numbers; 1 when a server failed to start; 2 when
the run could not be set up.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from answer_check import Expectation
from bench_options import add_allowed, add_before, add_duration, add_keep, add_list, comma_list, positive
from bench_servers import (
    REPO_ROOT,
    ProcessGroup,
    ServerStartError,
    before_spec,
    reference_versions,
    start_fake_upstream,
)
from blocked_files import (
    BLOCK_ADDRESS,
    SEED,
    OursCatalog,
    sample_names,
    unbound_block_answer,
    unbound_zone_type,
    write_dnsmasq_addresses,
    write_ours_catalog,
    write_unbound_zones,
)
from blocked_runs import Bench, expectations
from dnsperf_run import CLIENTS, OUTSTANDING, TIMEOUT_SECONDS
from policy_files import answered_plainly
from policy_runs import Side, compile_once
from run_files import RunFiles, SetupError, finish, prepare_files, require_files
from run_files import run_benchmark
from server_measurement import IDLE_WINDOW_SECONDS, Pinning, QuietWait, choose_pinning
from tool_install import REFERENCE_PACKAGES, ensure_installed, source_state
from working_set_runs import (
    CACHE_ENTRIES,
    SET_KEYS,
    UNBOUND_MSG_CACHE,
    UNBOUND_RRSET_CACHE,
    Row,
    Server,
    WorkingSet,
    cache_size,
    check_lines,
    compile_alone,
    cpu_table,
    draw_sets,
    log_lines,
    make_servers,
    measure_row,
    row_name,
    row_notes,
    rss_table,
    write_ours_config,
    write_unbound_include,
)

SERVER_KEYS = ("dnsmasq", "unbound", "floor", "before", "ours", "ours-log-off")  # the order they run in
COLUMN_KEYS = ("ours", "ours-log-off", "before", "unbound", "dnsmasq", "floor")
ONLY_KEYS = tuple(key for key in COLUMN_KEYS if key != "before")  # before comes with --before


@dataclass(frozen=True, slots=True)
class Settings:
    list_path: Path
    allowed_path: Path
    sets: tuple[str, ...]  # in SET_KEYS order
    servers: tuple[str, ...]  # in SERVER_KEYS order
    duration: int
    rate: int
    misses_rate: int
    rounds: int
    check_count: int
    keep: bool
    before: Path | None


def parse_settings(argv: Sequence[str]) -> Settings:
    parser = argparse.ArgumentParser(
        description="Every working set: ours (log on and off) vs unbound vs dnsmasq "
        "(see the module docstring).",
    )
    add_list(parser, "names to block, text or .gz")
    add_allowed(parser, "allowed names (cached, 2k, misses, checks), text or .gz")
    parser.add_argument(
        "--sets", type=comma_list(SET_KEYS), default=list(SET_KEYS),
        help=f"working sets, comma-separated (default {','.join(SET_KEYS)})",
    )
    parser.add_argument(
        "--only", type=comma_list(ONLY_KEYS), action="append",
        help=f"servers, comma-separated or repeated (default {','.join(ONLY_KEYS)})",
    )
    add_duration(parser, "per dnsperf run")
    parser.add_argument(
        "--rate", type=positive, default=20_000,
        help="queries/s of every set but misses (default 20000)",
    )
    parser.add_argument(
        "--misses-rate", type=positive, default=2000,
        help="queries/s of the misses set (default 2000)",
    )
    parser.add_argument(
        "--rounds", type=positive, default=1,
        help="runs of every set per server, servers interleaved; medians reported (default 1)",
    )
    parser.add_argument(
        "--checks", type=positive, default=100,
        help="names per answer check, after every run (default 100)",
    )
    add_before(parser)
    add_keep(parser)
    args = parser.parse_args(argv)
    only = {key for keys in args.only or [ONLY_KEYS] for key in keys}
    if args.before is not None:
        only.add("before")
    return Settings(
        list_path=args.list,
        allowed_path=args.allowed,
        sets=tuple(key for key in SET_KEYS if key in args.sets),
        servers=tuple(key for key in SERVER_KEYS if key in only),
        duration=args.duration,
        rate=args.rate,
        misses_rate=args.misses_rate,
        rounds=args.rounds,
        check_count=args.checks,
        keep=args.keep,
        before=args.before,
    )


@dataclass(frozen=True, slots=True)
class Prepared:
    listed_count: int
    sets: list[WorkingSet]
    servers: dict[str, Server]  # every server known, by key
    checks: dict[str, list[Expectation]]  # by server key
    zone_type: str  # unbound's local-zone type
    files: RunFiles  # names_file: the allowed names, which the fake upstream answers
    catalog: OursCatalog
    probe_name: str  # a listed name: answered without the upstream


def prepare(settings: Settings) -> Prepared:
    """Samples, working sets, every server's copy of the list, ours' configs."""
    require_files((settings.list_path, "--list"), (settings.allowed_path, "--allowed"))
    print(f"reading {settings.list_path} and {settings.allowed_path}", flush=True)
    samples = sample_names(settings.list_path, settings.allowed_path, 0, settings.check_count)
    # Names ours rewrites (safe search) or answers itself (bypass) would not
    # get the same answer from every server.
    allowed = [name for name in samples.unlisted if answered_plainly(name)]
    samples = replace(
        samples,
        check_listed=[n for n in samples.check_listed if answered_plainly(n)],
        check_subdomains=[n for n in samples.check_subdomains if answered_plainly(n)],
        check_allowed=[n for n in samples.check_allowed if answered_plainly(n)],
    )
    if not allowed or not samples.check_listed:
        raise SetupError(f"no usable names in {settings.list_path} or {settings.allowed_path}")
    files = prepare_files(allowed, keep=settings.keep, benchmark="working_sets")
    scratch = files.scratch_dir
    try:
        sets = draw_sets(
            samples.listed, allowed, settings.sets, scratch,
            settings.rate, settings.misses_rate, settings.duration,
        )
        catalog = write_ours_catalog(scratch / "catalog", settings.list_path, len(samples.listed))
        configs = (
            write_ours_config(scratch / "ours-config.yaml", logging=True),
            write_ours_config(scratch / "ours-log-off-config.yaml", logging=False),
        )
        zone_type = unbound_zone_type()
        zones = write_unbound_zones(scratch / "local-zones.conf", samples.listed, zone_type)
        include = write_unbound_include(scratch / "unbound-extra.conf", zones)
        addresses = write_dnsmasq_addresses(scratch / "dnsmasq-blocked.conf", samples.listed)
    except BaseException:
        if not settings.keep:
            shutil.rmtree(scratch, ignore_errors=True)
        raise
    before = before_spec(settings.before) if settings.before is not None else None
    servers = make_servers(catalog, configs, include, addresses, before)
    checks = {
        key: expectations(
            samples, unbound_block_answer(zone_type) if key == "unbound" else BLOCK_ADDRESS
        )
        for key in servers
    }
    checks["floor"] = []  # it answers every query with no record
    return Prepared(
        len(samples.listed), sets, servers, checks, zone_type, files, catalog,
        samples.check_listed[0],
    )


def describe_run(settings: Settings, prepared: Prepared, pinning: Pinning) -> str:
    sets = ", ".join(
        f"{ws.title} ({ws.size:,} names{', warmed' if ws.warm else ''})" for ws in prepared.sets
    )
    passes = ", ".join(
        f"{ws.title} {settings.rate * settings.duration / ws.size:.1f}"
        for ws in prepared.sets
        if ws.loops
    )
    rounds = f" and round, median of {settings.rounds}" if settings.rounds > 1 else ""
    return "\n".join(
        [
            (
                f"working_sets: {prepared.listed_count:,} names of {settings.list_path.name} "
                "blocked by every server: ours as a catalog source (domains, subdomains), "
                f'unbound local-zone "name." {prepared.zone_type}, '
                f"dnsmasq address=/name/{BLOCK_ADDRESS}"
            ),
            (
                f"caches: {CACHE_ENTRIES:,} entries: ours cache.size {cache_size()}, "
                f"dnsmasq --cache-size={CACHE_ENTRIES}, unbound msg-cache-size "
                f"{UNBOUND_MSG_CACHE} and rrset-cache-size {UNBOUND_RRSET_CACHE}; "
                "fake upstream TTL 3600"
            ),
            (
                "ours: its default config but lists.auto_update false, that cache size, "
                "the web page on 127.0.0.1:0 (a free port); ours log off: the same with "
                "query_log.enabled false" + ("; before: ours' config" if settings.before else "")
            ),
            f"sets (seed {SEED}; each a query file of the whole set, shuffled): {sets}",
            (
                f"load: dnsperf -c {CLIENTS} -q {OUTSTANDING} -t {TIMEOUT_SECONDS} over UDP, "
                f"{settings.duration} s at a fixed {settings.rate:,} q/s (times through the "
                f"set: {passes or '-'}); misses at {settings.misses_rate:,} q/s, each name once"
            ),
            (
                "CPU µs/query: server CPU from dnsperf's start until idle again (< 2% of a "
                f"CPU over {IDLE_WINDOW_SECONDS} s, polled every 0.25 s, at most 60 s after "
                f"dnsperf) / answered queries; a fresh server process per set{rounds}"
            ),
            reference_versions(),
            source_state(REPO_ROOT, "dnsfilter"),
            pinning.describe(),
        ]
    )


def run(settings: Settings) -> int:
    ensure_installed(REFERENCE_PACKAGES)
    pinning = choose_pinning()
    prepared = prepare(settings)
    try:
        return measure_all(settings, prepared, pinning)
    finally:
        if not settings.keep:
            shutil.rmtree(prepared.files.scratch_dir, ignore_errors=True)


def compile_for(
    build: Sequence[Server], settings: Settings, sets: Sequence[WorkingSet], bench: Bench
) -> str:
    """A first start of ``build[0]`` compiles the index; each row of ``build``
    (one build of ours, its configs) gets its own data dir with that index."""
    names = [
        row_name(server, ws, round_number, settings.rounds)
        for round_number in range(1, settings.rounds + 1)
        for ws in sets
        for server in build
    ]
    for name in names:
        (bench.files.scratch_dir / f"{name}-data").mkdir()
    spec = replace(build[0].spec, name=f"{build[0].key}-compile")
    sides = [Side(name, name, spec) for name in names]
    line = compile_once(spec, sides, bench, f"its {len(names)} runs start")
    print(f"  {line}", flush=True)
    return f"{build[0].title} {line}"


def measure_all(settings: Settings, prepared: Prepared, pinning: Pinning) -> int:
    header = describe_run(settings, prepared, pinning)
    print(header, flush=True)
    files = prepared.files
    servers: list[Server] = []
    notes: list[str] = []
    for key in settings.servers:
        missing = prepared.servers[key].spec.missing_reason()
        if missing:
            notes.append(f"{key}: not measured, {missing}")
            print(notes[-1], flush=True)
        else:
            servers.append(prepared.servers[key])
    if not servers:
        raise SetupError("no server could be measured: " + "; ".join(notes))
    rows: list[Row] = []
    figures: list[str] = []
    failures: dict[str, str] = {}  # server key (or "setup") -> why it stopped
    group = ProcessGroup()
    try:
        _, upstream_port = start_fake_upstream(
            group, files.names_file, files.results_dir / "fake-upstream.log", pinning.load_cpu
        )
        print(f"fake upstream: 127.0.0.1:{upstream_port}", flush=True)
        bench = Bench(
            duration=settings.duration,
            rate=settings.rate,
            recompile_seconds=0,  # no recompile here
            files=files,
            pinning=pinning,
            quiet_wait=QuietWait(),
            upstream_port=upstream_port,
            probe_name=prepared.probe_name,
        )
        ours_build = [s for s in servers if s.key in ("ours", "ours-log-off")]
        if ours_build:
            figures.append(compile_alone(prepared.catalog, bench))
        for build in (ours_build, [s for s in servers if s.key == "before"]):
            try:
                if build:
                    figures.append(compile_for(build, settings, prepared.sets, bench))
            except ServerStartError as error:
                _failed(failures, [s.key for s in build], error)
        for round_number in range(1, settings.rounds + 1):
            order = servers if round_number % 2 else servers[::-1]
            for ws in prepared.sets:
                for server in (s for s in order if s.key not in failures):
                    name = row_name(server, ws, round_number, settings.rounds)
                    checks = prepared.checks[server.key]
                    try:
                        rows.append(measure_row(server, ws, round_number, name, bench, checks))
                    except ServerStartError as error:
                        _failed(failures, [server.key], error)
    except ServerStartError as error:  # the fake upstream: nothing can be measured
        _failed(failures, ["setup"], error)
    finally:
        group.close()
    columns = [prepared.servers[key] for key in COLUMN_KEYS if key in settings.servers]
    unbound_answer = unbound_block_answer(prepared.zone_type)
    checked = (
        f"{settings.check_count:,} names each: listed and www.<listed> -> {BLOCK_ADDRESS}"
        + (f" (unbound: {unbound_answer})" if unbound_answer != BLOCK_ADDRESS else "")
        + ", allowed -> the fake upstream"
    )
    sections = [
        header,
        "\n".join(cpu_table(prepared.sets, columns, rows)),
        "\n".join(rss_table(prepared.sets, columns, rows)),
        "\n".join(figures) or "(ours not measured: no compile figures)",
        "\n".join(log_lines(rows)) or "(no run with the query log on)",
        "\n".join(check_lines(columns, rows, checked)),
    ]
    problems = notes + row_notes(prepared.sets, rows)
    if problems:
        sections.append("\n".join(problems))
    failure = "; ".join(f"{key}: {why}" for key, why in failures.items()) or None
    return finish(files, sections, failure)


def _failed(failures: dict[str, str], keys: Sequence[str], error: ServerStartError) -> None:
    print(f"{error}\n{error.log_tail}", file=sys.stderr, flush=True)
    for key in keys:
        failures[key] = str(error)


def main(argv: Sequence[str] | None = None) -> int:
    settings = parse_settings(sys.argv[1:] if argv is None else argv)
    return run_benchmark("working_sets", lambda: run(settings))


if __name__ == "__main__":
    sys.exit(main())
