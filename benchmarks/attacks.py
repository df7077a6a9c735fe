"""Three attacks on a running dnsfilter, replayed over real sockets: what still gets answered.

    .venv/bin/python benchmarks/attacks.py [--dnsfilter PATH] [--seconds 30]
        [--only slowloris|silent-upstream|flood] [--names PATH] [--keep]
        [--connections 300] [--outsiders 100] [--drip 5]
        [--silent-rate 1000] [--nofile 1024] [--nofile-hard] [--blocked-name pornhub.com]
        [--blocked-queries 100] [--flood-rate 3000] [--probe-rate 100]

The attacks (each on a fresh dnsfilter process, one after the other, all on 127.0.0.1)
    slowloris        --connections TCP connections from 127.0.0.1 (allowed) and
                     --outsiders from 127.0.0.2 (not in dns.allow_clients) each
                     send one byte of a query every --drip seconds and never finish
                     it; meanwhile a well-behaved client on 127.0.0.3 (allowed) opens
                     a TCP connection and asks a new name once a second. Figure: its
                     queries answered vs refused / reset / timed out (2 s).
    silent-upstream  the filter runs with a soft RLIMIT_NOFILE of --nofile (1024;
                     with --nofile-hard the hard limit too, as a shell's ulimit -n)
                     and one upstream that never answers; --silent-rate new names a
                     second over UDP from 127.0.0.1, plus --blocked-queries TCP
                     queries for a blocked name from 127.0.0.4 (another device)
                     spread over the run. Figures: UDP answered (SERVFAIL counts) vs
                     no answer; the blocked name's TCP queries answered vs failed;
                     whether the filter's log says "Too many open files" and whether
                     it declared the upstream "down after" failures.
    flood            --flood-rate new names a second over UDP from 127.0.0.1,
                     answered by a fast fake upstream run here (A 192.0.2.1), while a
                     probe on 127.0.0.4 asks one cached name --probe-rate times a
                     second; once with the query log on (the default) and once with
                     query_log.enabled false. Figures: the probe's p50/p99/max
                     latency, next to the same probe with no flood measured first on
                     the same process (the reference).

--dnsfilter is the executable to attack (default this repository's
.venv/bin/dnsfilter), so an older checkout with its own venv can be measured
with the same script. The load runs in processes of its own (uvloop when
installed) and its achieved rate is printed: a rate well below the asked one
means the machine, not the filter, set the pace.

attack_runs.py holds the attacks, attack_load.py the load processes and the
TCP clients. The report and the filter's logs go to
benchmarks/results/attacks/ (with --keep to a timestamped directory). Exit
status 0 whatever the numbers; 1 when the filter failed to start for an
attack (the others still run); 2 when the run could not be set up.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from attack_load import fast_upstream_main, start_child
from attack_runs import Settings, Target, flood, silent_upstream, slowloris
from bench_options import add_keep, positive
from bench_servers import HOST, REPO_ROOT, ProcessGroup, ServerStartError
from process_usage import foreign_cpu_seconds
from results_table import BUSY_MACHINE_PERCENT
from server_measurement import QuietWait
from run_files import (
    DEFAULT_NAMES,
    SetupError,
    finish,
    prepare_files,
    read_names,
    run_benchmark,
)

ATTACKS = ("slowloris", "silent-upstream", "flood")
DEFAULT_DNSFILTER = REPO_ROOT / ".venv" / "bin" / "dnsfilter"


def parse_settings(argv: Sequence[str]) -> Settings:
    parser = argparse.ArgumentParser(
        description="Slowloris, a silent upstream and a new-name flood against dnsfilter (see the module docstring)."
    )
    parser.add_argument(
        "--dnsfilter",
        type=Path,
        default=DEFAULT_DNSFILTER,
        metavar="PATH",
        help="the dnsfilter executable to attack (default: this repository's .venv/bin/dnsfilter)",
    )
    parser.add_argument(
        "--seconds",
        type=positive,
        default=30,
        metavar="S",
        help="seconds of each attack (default 30)",
    )
    parser.add_argument(
        "--only", choices=ATTACKS, action="append", help="run this attack only (repeatable)"
    )
    parser.add_argument(
        "--names",
        type=Path,
        default=DEFAULT_NAMES,
        metavar="PATH",
        help="new names to ask, text or .gz, one per line (random labels are put in front when more are needed)",
    )
    add_keep(parser)
    parser.add_argument(
        "--connections",
        type=positive,
        default=300,
        metavar="N",
        help="slowloris connections from 127.0.0.1 (default 300)",
    )
    parser.add_argument(
        "--outsiders",
        type=int,
        default=100,
        metavar="N",
        help="slowloris connections from 127.0.0.2, not allowed (default 100)",
    )
    parser.add_argument(
        "--drip",
        type=positive,
        default=5,
        metavar="S",
        help="seconds between two bytes of a slowloris connection (default 5)",
    )
    parser.add_argument(
        "--silent-rate",
        type=positive,
        default=1000,
        metavar="Q",
        help="new names/s against the silent upstream (default 1000)",
    )
    parser.add_argument(
        "--nofile",
        type=positive,
        default=1024,
        metavar="N",
        help="the filter's soft RLIMIT_NOFILE then (default 1024)",
    )
    parser.add_argument(
        "--nofile-hard",
        action="store_true",
        help="set the hard limit to --nofile too, as a shell's ulimit -n does (default: the soft one only)",
    )
    parser.add_argument(
        "--blocked-name",
        default="pornhub.com",
        metavar="NAME",
        help="a name the default profile blocks (default pornhub.com, in hagezi-nsfw)",
    )
    parser.add_argument(
        "--blocked-queries",
        type=positive,
        default=100,
        metavar="N",
        help="TCP queries for it over the run (default 100)",
    )
    parser.add_argument(
        "--flood-rate",
        type=positive,
        default=3000,
        metavar="Q",
        help="new names/s of the flood (default 3000)",
    )
    parser.add_argument(
        "--probe-rate",
        type=positive,
        default=100,
        metavar="Q",
        help="queries/s of the cached-name probe (default 100)",
    )
    args = parser.parse_args(argv)
    return Settings(
        dnsfilter=args.dnsfilter.absolute(),
        seconds=args.seconds,
        attacks=tuple(a for a in ATTACKS if args.only is None or a in args.only),
        names_source=args.names,
        keep=args.keep,
        connections=args.connections,
        outsiders=max(0, args.outsiders),
        drip=args.drip,
        silent_rate=args.silent_rate,
        nofile=args.nofile,
        nofile_hard=args.nofile_hard,
        blocked_name=args.blocked_name.lower().rstrip("."),
        blocked_queries=args.blocked_queries,
        flood_rate=args.flood_rate,
        probe_rate=args.probe_rate,
    )


def run(settings: Settings) -> int:
    if not os.access(settings.dnsfilter, os.X_OK):
        raise SetupError(
            f"{settings.dnsfilter} is not an executable; pass another with --dnsfilter"
        )
    needed = max(settings.silent_rate, settings.flood_rate) * settings.seconds
    names = read_names(settings.names_source, min(needed + 1, 100_000))
    if len(names) < 2:
        raise SetupError(
            f"{settings.names_source} holds fewer than 2 names; pass another list with --names"
        )
    files = prepare_files(names[:2000], keep=settings.keep, benchmark="attacks")
    header = (
        f"attacks: {settings.dnsfilter}, {settings.seconds} s per attack, names from {settings.names_source}\n"
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs, load average "
        f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}, {platform.node()}"
    )
    print(header, flush=True)
    target = Target(settings, files, ProcessGroup(), files.scratch_dir / "data", [])
    target.data_dir.mkdir(exist_ok=True)
    lines: list[str] = []
    upstream, upstream_conn = start_child(fast_upstream_main)
    try:
        upstream_port = upstream_conn.recv() if upstream_conn.poll(10) else None
        if upstream_port is None:
            raise SetupError("the fake upstream did not start")
        print(f"fake upstream: {HOST}:{upstream_port} (A 192.0.2.1 for every name)", flush=True)
        quiet_wait = QuietWait()
        for attack in settings.attacks:
            quiet_wait.before_run()
            others_before, started = foreign_cpu_seconds(os.getpid()), time.monotonic()
            # names[0] is the flood's cached probe; the others are new names.
            try:
                if attack == "slowloris":
                    found = slowloris(target, names, upstream_port)
                elif attack == "silent-upstream":
                    found = silent_upstream(target, names[1:])
                else:
                    found = flood(target, names[1:], upstream_port, names[0])
            except ServerStartError as error:
                target.failures.append(f"{attack}: {error}\n{error.log_tail}")
                found = [f"{attack:16} ! not measured: {error}"]
            finally:
                target.group.close()
            found.append(others_line(attack, others_before, started))
            print("\n".join(found), flush=True)
            lines += found
    finally:
        target.group.close()
        upstream.terminate()
        upstream.join(5)
        if not settings.keep:
            shutil.rmtree(files.scratch_dir, ignore_errors=True)
    return finish(files, [header, "\n".join(lines)], "; ".join(target.failures) or None)


def others_line(attack: str, cpu_before: float, started: float) -> str:
    """How busy processes outside this run kept the machine during one attack."""
    seconds = time.monotonic() - started
    busy = 100 * (foreign_cpu_seconds(os.getpid()) - cpu_before) / seconds
    if busy > BUSY_MACHINE_PERCENT:
        return f"! {attack}: other processes used {busy:.0f}% of a CPU over its {seconds:.0f} s: distrust its figures"
    return f"{attack:16} other processes: {busy:.0f}% of a CPU over its {seconds:.0f} s"


def main(argv: Sequence[str] | None = None) -> int:
    settings = parse_settings(sys.argv[1:] if argv is None else argv)
    return run_benchmark("attacks", lambda: run(settings))


if __name__ == "__main__":
    sys.exit(main())
