"""Blocked names: ours next to unbound and dnsmasq, each blocking the same million names.

    .venv/bin/python benchmarks/dns_blocked.py [--list PATH] [--allowed PATH]
        [--duration 10] [--queries 100000] [--checks 1000] [--rate 2000]
        [--recompile-window 10] [--only ours|unbound|dnsmasq] [--no-index-lookup]
        [--before PATH] [--keep]

What is measured
    Each server is given the list (domains-1m.txt.gz by default) in its own
    form: ours as the one source of a catalog folder (--blocklists), unbound
    as local-zone "name." always_null, dnsmasq as address=/name/0.0.0.0; all
    three answer 0.0.0.0 for a listed name and every name under it, and
    forward other names to a fake upstream (fake_upstream.py). One server at
    a time (dnsmasq, unbound, ours), pinned to its own CPU:
      start-up   exec to the first answer over UDP (and then TCP);
      checks     1000 listed names, 1000 www.<listed name> and 1000 allowed
                 names (none under a listed name): 0.0.0.0 for the first two,
                 the fake upstream's address for the third;
      max        dnsperf over UDP with 8 clients and 200 queries in flight for
                 10 s, on 100,000 A queries: half listed names, half
                 www.<listed name>, drawn with a fixed seed.
    Ours also gets (the figures under the table):
      compile    compile_index alone, in a fresh interpreter (target < 20 s);
      first start on an empty data dir: compile, then answer;
      start with the compiled index (target < 1 s): the start-up column;
      recompile  a name is appended to ours' copy of the list, so the index
                 is out of date; ours starts on the old index, answers at
                 once and recompiles in a background process. dnsperf sends a
                 fixed rate (--rate) meanwhile: the answers lost and the
                 latency, next to the same load without a recompile. The
                 server log's "blocklists compiled" line dates the compile.
    Then benchmarks/index_lookup.py runs (lookups/s, bytes per name) and its
    output is printed after the table.

How to read the table
    start-up s     exec to first answer (ours: with its index compiled)
    queries/s      answers per second dnsperf received at max
    lost           queries unanswered after 1 s
    CPU µs/query   server CPU time over the run / answered queries
    peak RSS MiB   VmHWM of the server process after the run
    server CPU %   server CPU / run time: near 100 means the server was the limit
    dnsperf CPU %  the same for dnsperf: near 100 means dnsperf may have been
    Lines starting with "!" flag something to distrust. Ratio lines divide
    ours by the other server.

Raw dnsperf outputs, server logs and the table go to benchmarks/results/
dns_blocked/ (see benchmarks/README.md). Exit status 0 whatever the numbers;
1 when a server failed to start; 2 when the run could not be set up.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

from bench_options import add_allowed, add_before, add_duration, add_keep, add_list, positive
from bench_servers import (
    DNSMASQ,
    OURS,
    UNBOUND,
    ProcessGroup,
    ServerStartError,
    before_spec,
    reference_versions,
    start_fake_upstream,
    unbound_command,
)
from blocked_files import (
    BLOCK_ADDRESS,
    SEED,
    NameSamples,
    OursCatalog,
    sample_names,
    unbound_block_answer,
    unbound_zone_type,
    write_dnsmasq_addresses,
    write_ours_catalog,
    write_queries,
    write_unbound_zones,
)
from blocked_report import (
    IndexFigures,
    ServerResult,
    format_check_lines,
    format_index_figures,
    format_table,
)
from blocked_runs import (
    LIST_START_DEADLINE_SECONDS,
    MAX_LOAD,
    Bench,
    benchmark_other,
    benchmark_ours,
    expectations,
    with_arguments,
)
from dnsperf_run import CLIENTS, OUTSTANDING, TIMEOUT_SECONDS
from index_timing import run_index_lookup
from run_files import (
    RunFiles,
    SetupError,
    prepare_files,
    require_files,
    run_benchmark,
    save_report,
)
from server_measurement import Pinning, QuietWait, choose_pinning
from tool_install import REFERENCE_PACKAGES, ensure_installed

SERVER_NAMES = ("dnsmasq", "unbound", "ours")  # the order they run in


@dataclass(frozen=True, slots=True)
class Settings:
    list_path: Path
    allowed_path: Path
    duration: int
    query_count: int
    check_count: int
    rate: int
    recompile_seconds: int
    servers: tuple[str, ...]
    keep: bool
    index_lookup: bool
    before: Path | None  # another build of ours, run like dnsmasq and unbound


def parse_settings(argv: Sequence[str]) -> Settings:
    parser = argparse.ArgumentParser(
        description="Blocked names: ours vs unbound vs dnsmasq with the same list "
        "(see the module docstring).",
    )
    add_list(parser, "names to block, text or .gz")
    add_allowed(parser, "names for the pass-through check, text or .gz")
    add_duration(parser, "of the max run")
    parser.add_argument(
        "--queries", type=positive, default=100_000, help="dnsperf query lines (100000)"
    )
    parser.add_argument(
        "--checks", type=positive, default=1000, help="names per answer check (1000)"
    )
    parser.add_argument(
        "--rate",
        type=positive,
        default=2000,
        help="queries/s during ours' recompile and its reference run (2000)",
    )
    parser.add_argument(
        "--recompile-window",
        type=positive,
        default=10,
        help="seconds of those two runs (default 10)",
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=SERVER_NAMES,
        help="benchmark this server only (repeatable)",
    )
    parser.add_argument(
        "--no-index-lookup",
        action="store_true",
        help="do not run benchmarks/index_lookup.py afterwards",
    )
    add_before(parser)
    add_keep(parser)
    args = parser.parse_args(argv)
    only = set(args.only or SERVER_NAMES)
    servers = [name for name in SERVER_NAMES if name in only]
    if args.before is not None:  # just before ours, so both see the same machine
        servers.insert(servers.index("ours") if "ours" in servers else len(servers), "before")
    return Settings(
        list_path=args.list,
        allowed_path=args.allowed,
        duration=args.duration,
        query_count=args.queries,
        check_count=args.checks,
        rate=args.rate,
        recompile_seconds=args.recompile_window,
        servers=tuple(servers),
        keep=args.keep,
        index_lookup=not args.no_index_lookup,
        before=args.before,
    )


def describe_run(
    settings: Settings, samples: NameSamples, pinning: Pinning, zone_type: str
) -> str:
    return "\n".join(
        [
            (
                f"dns_blocked: {len(samples.listed):,} names from {settings.list_path.name}; "
                f"ours: the file as a catalog source (domains, subdomains); "
                f'unbound: local-zone "name." {zone_type}; dnsmasq: address=/name/{BLOCK_ADDRESS}'
            ),
            (
                f"load: {len(samples.queries):,} A queries, half listed names, half "
                f"www.<listed name> (seed {SEED}); dnsperf -c {CLIENTS} -q {OUTSTANDING} "
                f"-t {TIMEOUT_SECONDS} over UDP, {settings.duration} s at max"
            ),
            reference_versions(),
            pinning.describe(),
        ]
    )


def prepare(
    settings: Settings,
) -> tuple[NameSamples, RunFiles, OursCatalog, Path, Path, str]:
    """Samples, results and scratch directories, and every server's copy of the list."""
    require_files((settings.list_path, "--list"), (settings.allowed_path, "--allowed"))
    print(f"reading {settings.list_path} and {settings.allowed_path}", flush=True)
    samples = sample_names(
        settings.list_path,
        settings.allowed_path,
        settings.query_count,
        settings.check_count,
    )
    if not samples.check_allowed:
        raise SetupError(f"no name of {settings.allowed_path} is outside the list")
    # The fake upstream knows the allowed names checked.
    files = prepare_files(
        samples.check_allowed, keep=settings.keep, benchmark="dns_blocked"
    )
    scratch = files.scratch_dir
    try:
        queries = write_queries(scratch / "blocked-queries.txt", samples.queries)
        catalog = write_ours_catalog(
            scratch / "catalog", settings.list_path, len(samples.listed)
        )
        zone_type = unbound_zone_type()
        zones = write_unbound_zones(
            scratch / "local-zones.conf", samples.listed, zone_type
        )
        addresses = write_dnsmasq_addresses(
            scratch / "dnsmasq-blocked.conf", samples.listed
        )
    except BaseException:
        if not settings.keep:
            shutil.rmtree(scratch, ignore_errors=True)
        raise
    files = replace(files, queries_file=queries)
    return samples, files, catalog, zones, addresses, zone_type


def run(settings: Settings) -> int:
    ensure_installed(REFERENCE_PACKAGES)
    pinning = choose_pinning()
    samples, files, catalog, zones, addresses, zone_type = prepare(settings)
    try:
        return measure_all(
            settings, pinning, samples, files, catalog, zones, addresses, zone_type
        )
    finally:
        if not settings.keep:
            shutil.rmtree(files.scratch_dir, ignore_errors=True)


def measure_all(
    settings: Settings,
    pinning: Pinning,
    samples: NameSamples,
    files: RunFiles,
    catalog: OursCatalog,
    zones: Path,
    addresses: Path,
    zone_type: str,
) -> int:
    header = describe_run(settings, samples, pinning, zone_type)
    print(header, flush=True)
    unbound_answer = unbound_block_answer(zone_type)
    specs = {
        "dnsmasq": with_arguments(
            DNSMASQ, [f"--conf-file={addresses}"], LIST_START_DEADLINE_SECONDS
        ),
        "unbound": replace(
            UNBOUND,
            command=partial(unbound_command, include=zones),
            start_deadline_seconds=LIST_START_DEADLINE_SECONDS,
        ),
        "ours": with_arguments(
            OURS,
            ["-c", str(catalog.config_file), "--blocklists", str(catalog.directory)],
            LIST_START_DEADLINE_SECONDS,
        ),
    }
    if settings.before is not None:
        specs["before"] = with_arguments(
            before_spec(settings.before),
            ["-c", str(catalog.config_file), "--blocklists", str(catalog.directory)],
            LIST_START_DEADLINE_SECONDS,
        )
    results: list[ServerResult] = []
    figures: IndexFigures | None = None
    notes: list[str] = []
    failures: list[ServerStartError] = []
    quiet_wait = QuietWait()
    group = ProcessGroup()
    try:
        _, upstream_port = start_fake_upstream(
            group,
            files.names_file,
            files.results_dir / "fake-upstream.log",
            pinning.load_cpu,
        )
        print(f"fake upstream: 127.0.0.1:{upstream_port}", flush=True)
        bench = Bench(
            duration=settings.duration,
            rate=settings.rate,
            recompile_seconds=settings.recompile_seconds,
            files=files,
            pinning=pinning,
            quiet_wait=quiet_wait,
            upstream_port=upstream_port,
            probe_name=samples.check_listed[0],  # answered without the upstream
        )
        for name in settings.servers:
            spec = specs[name]
            missing = spec.missing_reason()
            if missing:
                notes.append(f"{name}: not measured, {missing}")
                print(notes[-1], flush=True)
                continue
            checks = expectations(
                samples, unbound_answer if name == "unbound" else BLOCK_ADDRESS
            )
            try:
                if name == "ours":
                    result, figures = benchmark_ours(spec, bench, catalog, checks)
                else:
                    result = benchmark_other(spec, bench, checks)
                results.append(result)
            except ServerStartError as error:
                failures.append(error)
                notes.append(f"! {error}")
                print(f"{error}\n{error.log_tail}", file=sys.stderr, flush=True)
    except ServerStartError as error:  # the fake upstream: nothing can be measured
        failures.append(error)
        notes.append(f"! {error}")
        print(f"{error}\n{error.log_tail}", file=sys.stderr, flush=True)
    finally:
        group.close()
    lookup = None
    if settings.index_lookup and "ours" in settings.servers:
        quiet_wait.before_run()
        lookup = run_index_lookup(
            settings.list_path,
            settings.allowed_path,
            pinning.server_cpu,
            files.results_dir / "index_lookup.txt",
        )
    sections = [header, format_table(results, MAX_LOAD)]
    if figures is not None:
        sections.append(format_index_figures(figures, BLOCK_ADDRESS))
    description = (
        f"{settings.check_count:,} names each: listed and www.<listed> -> "
        f"{BLOCK_ADDRESS}"
        + (f" (unbound: {unbound_answer})" if unbound_answer != BLOCK_ADDRESS else "")
        + ", allowed -> the fake upstream"
    )
    sections.append(format_check_lines(results, description))
    if notes:
        sections.append("\n".join(notes))
    if lookup is not None:
        sections.append(lookup)
    save_report(files, "\n\n".join(sections))
    if failures:
        return 1
    if not results:
        raise SetupError("no server could be measured: " + "; ".join(notes))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    settings = parse_settings(sys.argv[1:] if argv is None else argv)
    return run_benchmark("dns_blocked", lambda: run(settings))


if __name__ == "__main__":
    sys.exit(main())
