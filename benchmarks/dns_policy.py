"""Does the family policy slow the hot path? Ours with a single default profile
next to ours with 20 profiles and 200 devices, on the same million-name index.

    .venv/bin/python benchmarks/dns_policy.py [--list PATH] [--allowed PATH]
        [--duration 10] [--queries 100000] [--small 8000] [--cached 2000]
        [--checks 200] [--rounds 2] [--keep]

What is measured
    The list (domains-1m.txt.gz by default) is one category of a catalog, as
    in dns_blocked.py, with four small categories of made-up names next to it
    (the other tags profiles block). It is compiled once, by a first start of
    ours; both sides then start on that same index file (hard-linked):
      A  single default profile: a fresh database whose default profile
         blocks the benchmark category (blocking.categories);
      B  policy on: before ours starts, 20 profiles and 200 devices are written
         through PolicyStore (policy_family.py: tags, allow and deny lists,
         rules in force and not, a bedtime on other profiles, overrides), and
         127.0.0.1 is a trusted forwarder (the router).
    Both sides run on the server CPU (dnsperf on the other): each is started,
    warmed and its answers checked; then every workload runs against A and B
    back to back (A B, then B A, and so on; the idle side uses next to no
    CPU), dnsperf at max over UDP (8 clients, 200 in flight) for --duration s,
    and all that --rounds times (each side's best round is reported):
      blocked   --small and --queries A queries, half listed names, half
                www.<listed name> (as dns_blocked.py), from the measured device
                (dnsperf -a 127.0.0.9), answered 0.0.0.0;
      cached    --cached allowed names (as dns_cached.py), from that device,
                answered from the cache with the fake upstream's address;
      router    both again from 127.0.0.1 with the EDNS MAC option 65001 of the
                measured MAC device (dnsperf -E 65001:<hex>): identified by MAC
                on B; A gets the same packets and ignores the option.
    The measured devices' profile leaves the benchmark category blocked and
    the cached names allowed, so both sides send the same answers.

How to read the output
    One table per workload: A, B and B/A. queries/s, lost, CPU µs/query, peak
    RSS MiB, server CPU % and dnsperf CPU % as in dns_cached.py. "within 10%"
    is yes when B answers at least 90% of A's queries/s. Lines starting with
    "!" flag a run to distrust.

Raw dnsperf outputs, server logs and the report go to benchmarks/results/
dns_policy/ (see benchmarks/README.md). Exit status 0 whatever the numbers;
1 when a server failed to start; 2 when the run could not be set up.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from answer_check import NO_ADDRESS, UPSTREAM, Expectation
from bench_options import add_allowed, add_duration, add_keep, add_list, add_rounds, positive
from bench_servers import (
    OURS,
    REPO_ROOT,
    ProcessGroup,
    ServerSpec,
    ServerStartError,
    start_fake_upstream,
)
from blocked_files import (
    BLOCK_ADDRESS,
    CATEGORY_ID,
    NameSamples,
    sample_names,
    write_ours_catalog,
)
from blocked_runs import Bench, with_arguments
from dnsperf_run import CLIENTS, OUTSTANDING, TIMEOUT_SECONDS
from policy_family import Family, write_family
from policy_files import (
    OTHER_TAGS,
    Workload,
    answered_plainly,
    database_url,
    spare_names,
    tag_names,
    write_config,
    write_workloads,
)
from policy_report import SideResult, format_report
from policy_runs import Side, compile_once, run_sides
from run_files import (
    RunFiles,
    SetupError,
    finish,
    prepare_files,
    require_files,
    require_ours,
    run_benchmark,
)
from server_measurement import Pinning, QuietWait, choose_pinning
from tool_install import ensure_installed, source_state, tool_version

REQUIRED_PACKAGES = {"dnsperf": "dnsperf", "taskset": "util-linux"}
CHECKED_NAMES = 20  # of the measured profile's deny list and of its scheduled tag
COMPILE_DEADLINE_SECONDS = 240.0  # the first start compiles a million names


@dataclass(frozen=True, slots=True)
class Settings:
    list_path: Path
    allowed_path: Path
    duration: int
    query_count: int
    small_count: int
    cached_count: int
    check_count: int
    rounds: int
    keep: bool


def parse_settings(argv: Sequence[str]) -> Settings:
    parser = argparse.ArgumentParser(
        description="Ours with one default profile vs 20 profiles and 200 devices "
        "(see the module docstring).",
    )
    add_list(parser, "names to block, text or .gz")
    add_allowed(parser, "allowed names (cached load, allow and deny lists), text or .gz")
    add_duration(parser, "per dnsperf run")
    parser.add_argument(
        "--queries",
        type=positive,
        default=100_000,
        help="blocked names, large load (100000)",
    )
    parser.add_argument(
        "--small", type=positive, default=8000, help="blocked names, small load (8000)"
    )
    parser.add_argument(
        "--cached", type=positive, default=2000, help="cached allowed names (2000)"
    )
    parser.add_argument(
        "--checks", type=positive, default=200, help="names per answer check (200)"
    )
    add_rounds(parser, "runs of every workload per side")
    add_keep(parser)
    args = parser.parse_args(argv)
    return Settings(
        list_path=args.list,
        allowed_path=args.allowed,
        duration=args.duration,
        query_count=args.queries,
        small_count=min(args.small, args.queries),
        cached_count=args.cached,
        check_count=args.checks,
        rounds=args.rounds,
        keep=args.keep,
    )


@dataclass(frozen=True, slots=True)
class Prepared:
    samples: NameSamples
    cached: list[str]
    files: RunFiles  # names_file and queries_file: the cached names
    family: Family
    workloads: list[Workload]
    sides: tuple[Side, Side]
    compile_spec: ServerSpec


def prepare(settings: Settings) -> Prepared:
    """Samples, the catalog, both configs, B's database, the query files."""
    require_files((settings.list_path, "--list"), (settings.allowed_path, "--allowed"))
    print(f"reading {settings.list_path} and {settings.allowed_path}", flush=True)
    samples = sample_names(
        settings.list_path,
        settings.allowed_path,
        settings.query_count,
        max(settings.cached_count, settings.check_count),
    )
    # Cached names every profile forwards as they are (the measured one has
    # safe search strict), so both sides give the same answers.
    cached = [name for name in samples.check_allowed if answered_plainly(name)]
    cached = cached[: settings.cached_count]
    if not cached:
        raise SetupError(f"no name of {settings.allowed_path} is outside the list")
    files = prepare_files(cached, keep=settings.keep, benchmark="dns_policy")
    try:
        return write_inputs(settings, samples, cached, files)
    except BaseException:
        if not settings.keep:
            shutil.rmtree(files.scratch_dir, ignore_errors=True)
        raise


def write_inputs(
    settings: Settings, samples: NameSamples, cached: list[str], files: RunFiles
) -> Prepared:
    scratch = files.scratch_dir
    catalog = write_ours_catalog(
        scratch / "catalog",
        settings.list_path,
        len(samples.listed),
        {tag: tag_names(tag) for tag in OTHER_TAGS},
    )
    data_dirs = {key: scratch / f"{key}-data" for key in ("A", "B")}
    for directory in data_dirs.values():
        directory.mkdir()
    print("B: writing the family policy through PolicyStore", flush=True)
    family = write_family(
        database_url(data_dirs["B"]),
        data_dirs["B"],
        blocked_tag=CATEGORY_ID,
        other_tags=OTHER_TAGS,
        tag_names={tag: tag_names(tag)[:CHECKED_NAMES] for tag in OTHER_TAGS},
        names=spare_names(samples, cached),
        now=datetime.now(UTC),
    )
    print(f"  {family.describe()}", flush=True)

    def ours(name: str, config: Path, deadline: float) -> ServerSpec:
        arguments = ["-c", str(config), "--blocklists", str(catalog.directory)]
        return replace(with_arguments(OURS, arguments, deadline), name=name)

    configs = {
        key: write_config(scratch / f"{key}-config.yaml", path, router=key == "B")
        for key, path in data_dirs.items()
    }
    deadline = OURS.start_deadline_seconds
    side_a = Side("A", "single default profile", ours("A", configs["A"], deadline))
    side_b = Side("B", "policy on", ours("B", configs["B"], deadline))
    workloads = write_workloads(
        scratch,
        samples,
        settings.small_count,
        files.queries_file,
        len(cached),
        family.measured,
    )
    compile_spec = ours("compile", catalog.config_file, COMPILE_DEADLINE_SECONDS)
    return Prepared(
        samples, cached, files, family, workloads, (side_a, side_b), compile_spec
    )


def describe_run(settings: Settings, prepared: Prepared, pinning: Pinning) -> str:
    samples = prepared.samples
    return "\n".join(
        [
            (
                f"dns_policy: {len(samples.listed):,} names from {settings.list_path.name} "
                f"as category {CATEGORY_ID}, {len(OTHER_TAGS)} made-up categories "
                f"({', '.join(OTHER_TAGS)}); {len(prepared.cached):,} cached names "
                f"from {settings.allowed_path.name}"
            ),
            "A: a fresh database, its default profile blocks " + CATEGORY_ID,
            f"B: {prepared.family.describe()}; 127.0.0.1 is a trusted forwarder",
            prepared.family.measured.about,
            (
                f"dnsperf {tool_version(['dnsperf', '-h'])} -c {CLIENTS} -q {OUTSTANDING} "
                f"-t {TIMEOUT_SECONDS} over UDP, {settings.duration} s at max per run, "
                f"best of {settings.rounds} rounds; "
                f"Python {platform.python_version()}, {os.cpu_count()} CPUs, {platform.node()}"
            ),
            source_state(REPO_ROOT, "dnsfilter"),
            pinning.describe(),
        ]
    )


def expectations(prepared: Prepared, count: int) -> dict[str, list[Expectation]]:
    """Per side: blocked names 0.0.0.0 and cached names the upstream's address on
    both; the measured profile's deny list and scheduled tag blocked on B only
    (A forwards them, and the upstream does not know them)."""
    samples, measured = prepared.samples, prepared.family.measured
    common = [
        Expectation("listed", BLOCK_ADDRESS, samples.check_listed[:count]),
        Expectation("www.listed", BLOCK_ADDRESS, samples.check_subdomains[:count]),
        Expectation("cached", UPSTREAM, prepared.cached[:count]),
    ]
    return {
        key: common
        + [
            Expectation("deny list", answer, measured.denied[:CHECKED_NAMES]),
            Expectation("rule in force", answer, measured.scheduled_names),
        ]
        for key, answer in (("A", NO_ADDRESS), ("B", BLOCK_ADDRESS))
    }


def run(settings: Settings) -> int:
    ensure_installed(REQUIRED_PACKAGES)
    require_ours()
    pinning = choose_pinning()
    prepared = prepare(settings)
    try:
        return measure_all(settings, prepared, pinning)
    finally:
        if not settings.keep:
            shutil.rmtree(prepared.files.scratch_dir, ignore_errors=True)


def measure_all(settings: Settings, prepared: Prepared, pinning: Pinning) -> int:
    header = describe_run(settings, prepared, pinning)
    print(header, flush=True)
    files = prepared.files
    sections = [header]
    results: list[SideResult] = []
    failure: ServerStartError | None = None
    checks = expectations(prepared, settings.check_count)
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
            rate=0,  # no fixed-rate runs here
            recompile_seconds=0,
            files=files,
            pinning=pinning,
            quiet_wait=QuietWait(),
            upstream_port=upstream_port,
            probe_name=prepared.samples.check_listed[0],  # blocked on both sides
        )
        sections.append(compile_once(prepared.compile_spec, prepared.sides, bench))
        results = run_sides(
            prepared.sides,
            prepared.workloads,
            bench,
            prepared.family.measured,
            lambda side: checks[side.key],
            settings.rounds,
        )
    except ServerStartError as error:
        failure = error
        print(f"{error}\n{error.log_tail}", file=sys.stderr, flush=True)
    finally:
        group.close()
    if len(results) == 2:
        workloads = [(workload.slug, workload.title) for workload in prepared.workloads]
        sections.append(format_report(workloads, results[0], results[1]))
    return finish(files, sections, failure)


def main(argv: Sequence[str] | None = None) -> int:
    settings = parse_settings(sys.argv[1:] if argv is None else argv)
    return run_benchmark("dns_policy", lambda: run(settings))


if __name__ == "__main__":
    sys.exit(main())
