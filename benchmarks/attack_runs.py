"""The three attacks of attacks.py, each on a dnsfilter of its own, and their report lines.

Each attack starts the filter with a config of its own (web page off, lists
as bundled, UTC), runs the load of attack_load.py against it, and returns
one line per figure; attacks.py puts them together.
"""

from __future__ import annotations

import asyncio
import random
import resource
import socket
import subprocess
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from attack_load import (
    ALLOWED_SOURCE,
    VICTIM_SOURCE,
    ANSWER_TIMEOUT,
    GRACE_SECONDS,
    SlowStats,
    ask_on_schedule,
    ask_tcp,
    probe_main,
    receive,
    sample_open_files,
    slow_client,
    start_child,
    start_flood,
)
from bench_servers import (
    HOST,
    ManagedProcess,
    ProcessGroup,
    ServerStartError,
    free_port,
    wait_until_answering,
)
from dns_probe import query_udp
from run_files import RunFiles

OUTSIDER_SOURCE = "127.0.0.2"  # outside the slowloris config's allow_clients
GOOD_CLIENT_SOURCE = "127.0.0.3"
START_DEADLINE = 60.0  # the first start compiles the bundled lists
QUIET_PROBE_SECONDS = 5  # the flood's reference: the probe alone


@dataclass(frozen=True, slots=True)
class Settings:
    dnsfilter: Path
    seconds: int
    attacks: tuple[str, ...]
    names_source: Path
    keep: bool
    connections: int
    outsiders: int
    drip: int
    silent_rate: int
    nofile: int
    nofile_hard: bool
    blocked_name: str
    blocked_queries: int
    flood_rate: int
    probe_rate: int


@dataclass
class Target:
    settings: Settings
    files: RunFiles
    group: ProcessGroup
    data_dir: Path
    failures: list[str]


def write_config(path: Path, *, logging: bool = True, allow: Sequence[str] | None = None) -> Path:
    """Web page off, lists as bundled, UTC; the query log as asked; allow_clients if given."""
    lines = [
        "time_zone: UTC",
        "lists:",
        "  auto_update: false",
        "web:",
        "  enabled: false",
        "query_log:",
        f"  enabled: {'true' if logging else 'false'}",
    ]
    if allow is not None:
        lines += ["dns:", "  allow_clients:", *[f"    - {network}" for network in allow]]
    path.write_text("\n".join(lines) + "\n")
    return path


def start_filter(
    target: Target,
    label: str,
    config: Path,
    upstream_port: int,
    nofile: int | None = None,
    nofile_hard: bool = False,
) -> tuple[ManagedProcess, int]:
    """dnsfilter on a new port, answering (the blocked name over UDP and TCP); fails with ServerStartError."""
    port = free_port()
    command = [
        str(target.settings.dnsfilter),
        "run",
        "-c",
        str(config),
        "--listen",
        f"{HOST}:{port}",
        "--upstream",
        f"{HOST}:{upstream_port}",
        "--data-dir",
        str(target.data_dir),
    ]

    def limit_files() -> None:
        if nofile is not None:
            _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            soft = min(nofile, hard)
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, soft if nofile_hard else hard))

    log_path = target.files.results_dir / f"dnsfilter-{label}.log"
    limit = f" (ulimit -{'H' if nofile_hard else 'S'}n {nofile})" if nofile else ""
    print(f"{label}: {' '.join(command)}{limit}", flush=True)
    with log_path.open("wb") as log:
        popen = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=limit_files,
        )
    process = ManagedProcess(label, popen, log_path)
    target.group.processes.append(process)
    wait_until_answering(process, port, target.settings.blocked_name, START_DEADLINE)
    return process, port


def open_files_limit(pid: int) -> str:
    """The soft/hard RLIMIT_NOFILE ``pid`` runs with now (it may have raised its soft limit)."""
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            return "/".join(line.split()[3:5])
    return "?"


def alive(process: ManagedProcess) -> str:
    code = process.exit_code()
    return "still running" if code is None else f"EXITED with code {code}"


def share(part: int, whole: int) -> str:
    return f"{part} ({100 * part / whole:.0f}%)" if whole else str(part)


def outcomes_text(outcomes: Counter[str]) -> str:
    keys = [
        "answered",
        "REFUSED",
        "reset or closed",
        "connection refused",
        "timed out",
        "bad reply",
    ]
    main = ", ".join(
        f"{key} {outcomes[key]}"
        for key in keys
        if outcomes[key] or key in ("answered", "timed out")
    )
    details = ", ".join(
        f"{key[7:]} ×{count}" for key, count in outcomes.items() if key.startswith("answer ")
    )
    return main + (f" [{details}]" if details else "")


def slowloris(target: Target, names: list[str], upstream_port: int) -> list[str]:
    s = target.settings
    config = write_config(
        target.files.scratch_dir / "slowloris.yaml",
        allow=[f"{ALLOWED_SOURCE}/32", f"{GOOD_CLIENT_SOURCE}/32"],
    )
    server, port = start_filter(target, "slowloris", config, upstream_port)

    async def attack() -> tuple[dict[str, SlowStats], Counter[str], int]:
        stats = {source: SlowStats() for source in (ALLOWED_SOURCE, OUTSIDER_SOURCE)}
        ramp = 2.0  # the attackers connect first
        stop_at = time.monotonic() + ramp + s.seconds + ANSWER_TIMEOUT
        stop_sampling = asyncio.Event()
        sampler = asyncio.ensure_future(sample_open_files(server.pid, stop_sampling))
        sources = [ALLOWED_SOURCE] * s.connections + [OUTSIDER_SOURCE] * s.outsiders
        random.shuffle(sources)  # neither kind comes first to a connection cap
        attackers = [
            asyncio.ensure_future(slow_client(source, port, s.drip, stop_at, stats[source]))
            for source in sources
        ]
        await asyncio.sleep(ramp)
        good = await ask_on_schedule(
            GOOD_CLIENT_SOURCE, port, lambda i: names[1 + i % (len(names) - 1)], s.seconds, 1.0
        )
        await asyncio.gather(*attackers)
        stop_sampling.set()
        return stats, good, await sampler

    stats, good, peak_files = asyncio.run(attack())

    def attackers(source: str, count: int, kind: str) -> str:
        st = stats[source]
        at_once = [after for after in st.close_after if after < 1.0]
        later = sorted(after for after in st.close_after if after >= 1.0)
        when = f" ({len(at_once)} within 1 s of connecting" + (
            f", {len(later)} after a median {later[len(later) // 2]:.1f} s)" if later else ")"
        )
        return (
            f"slowloris        {count} attackers from {source} ({kind}), one byte every {s.drip} s: connected {st.connected}, "
            f"failed to connect {st.connect_failed}, closed by the filter {st.closed}{when if st.closed else ''}, "
            f"got a reply {st.answered}, still open at the end {st.open_at_end}"
        )

    return [
        attackers(ALLOWED_SOURCE, s.connections, "allowed"),
        *([attackers(OUTSIDER_SOURCE, s.outsiders, "not in allow_clients")] if s.outsiders else []),
        f"slowloris        good client {GOOD_CLIENT_SOURCE}, a new TCP connection and name each second for {s.seconds} s: "
        f"{outcomes_text(good)} (of {sum(good[k] for k in good if not k.startswith('answer '))})",
        f"slowloris        filter: peak open files {peak_files}; {alive(server)}",
    ]


def silent_sockets() -> tuple[socket.socket, socket.socket, int]:
    """A UDP socket nobody reads and a TCP listener that never accepts, on one free port."""
    for _ in range(20):
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            udp.bind((HOST, 0))
            port: int = udp.getsockname()[1]
            tcp.bind((HOST, port))
            tcp.listen(1)
            return udp, tcp, port
        except OSError:  # that port is taken for TCP: try another
            udp.close()
            tcp.close()
    raise ServerStartError("no port free for both UDP and TCP for the silent upstream")


def silent_upstream(target: Target, names: list[str]) -> list[str]:
    s = target.settings
    silent_udp, silent_tcp, upstream_port = silent_sockets()
    try:
        config = write_config(target.files.scratch_dir / "silent.yaml")
        server, port = start_filter(
            target, "silent-upstream", config, upstream_port, s.nofile, s.nofile_hard
        )
        limit = open_files_limit(server.pid)
        start_at = time.monotonic() + 1.0
        flood, flood_conn = start_flood(port, names, s.silent_rate, s.seconds, start_at)

        async def blocked_queries() -> tuple[Counter[str], int, tuple[str, bytes | None]]:
            stop_sampling = asyncio.Event()
            sampler = asyncio.ensure_future(sample_open_files(server.pid, stop_sampling))
            await asyncio.sleep(max(0.0, start_at - time.monotonic()))
            outcomes = await ask_on_schedule(
                VICTIM_SOURCE,
                port,
                lambda i: s.blocked_name,
                s.blocked_queries,
                s.seconds / s.blocked_queries,
            )
            await asyncio.sleep(max(0.0, start_at + s.seconds + GRACE_SECONDS - time.monotonic()))
            after = await ask_tcp(VICTIM_SOURCE, port, s.blocked_name)  # once the load is over
            stop_sampling.set()
            return outcomes, await sampler, after

        tcp, peak_files, after = asyncio.run(blocked_queries())
        result = receive(flood, flood_conn, 30)
    finally:
        silent_udp.close()
        silent_tcp.close()
    log = server.log_path.read_text(errors="replace")
    too_many = [
        line for line in log.splitlines() if "Too many open files" in line or "EMFILE" in line
    ]
    down = [line for line in log.splitlines() if "down after" in line]
    lines = []
    if result is None:
        lines.append("silent-upstream  ! the UDP flood process sent no result")
    else:
        sent, answered = result["sent"], result["answered"]
        rcodes = ", ".join(f"{k} {v}" for k, v in sorted(result["rcodes"].items()))
        lines.append(
            f"silent-upstream  UDP new names from {ALLOWED_SOURCE}, asked {s.silent_rate}/s, achieved {sent / result['send_seconds']:.0f}/s ({result['loop']}): "
            f"{sent} sent, answered {share(answered, sent)} [{rcodes or 'none'}], no answer {share(sent - answered, sent)}"
            + (f"; client errors {result['errors']}" if result["errors"] else "")
        )
    lines += [
        f"silent-upstream  TCP from {VICTIM_SOURCE}, {s.blocked_name} ×{s.blocked_queries} over {s.seconds} s: {outcomes_text(tcp)}; "
        f"{GRACE_SECONDS:.0f} s after the load: {after[0]}",
        f"silent-upstream  filter log: \"Too many open files\" {'YES, ' + str(len(too_many)) + ' lines' if too_many else 'no'}; "
        f"upstream \"down after\" {'YES, ' + str(len(down)) + ' lines' if down else 'no'}; "
        f"open files soft/hard limit once started {limit}, peak open {peak_files}; {alive(server)}",
    ]
    # Distinct lines, at most three of each kind: one exhaustion is often logged by several parts.
    for line in dict.fromkeys(line.strip()[:300] for line in too_many[:3] + down[:3]):
        lines.append(f"                 {line}")
    return lines


def latency_text(latencies: list[float], sent: int) -> str:
    if not latencies:
        return f"no answers of {sent}"
    ordered = sorted(latencies)

    def rank(p: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, int(p * len(ordered) + 0.999999) - 1))] * 1000

    return (
        f"p50 {rank(0.50):.2f} ms, p99 {rank(0.99):.1f} ms, max {ordered[-1] * 1000:.1f} ms, "
        f"unanswered {sent - len(ordered)}/{sent}"
    )


def flood(target: Target, names: list[str], upstream_port: int, probe_name: str) -> list[str]:
    s = target.settings
    lines = []
    for logging in (True, False):
        label = f"flood-log-{'on' if logging else 'off'}"
        config = write_config(target.files.scratch_dir / f"{label}.yaml", logging=logging)
        try:
            server, port = start_filter(target, label, config, upstream_port)
        except ServerStartError as error:
            target.failures.append(f"{label}: {error}")
            lines.append(f"{label:16} ! not measured: {error}")
            continue
        cached = query_udp(HOST, port, probe_name, ANSWER_TIMEOUT, source=VICTIM_SOURCE)
        quiet, quiet_conn = start_child(
            probe_main, port, probe_name, s.probe_rate, time.monotonic() + 0.5, QUIET_PROBE_SECONDS
        )
        reference = receive(quiet, quiet_conn, QUIET_PROBE_SECONDS + GRACE_SECONDS + 10)
        start_at = time.monotonic() + 1.0
        load, load_conn = start_flood(port, names, s.flood_rate, s.seconds, start_at)
        probe, probe_conn = start_child(
            probe_main, port, probe_name, s.probe_rate, start_at + 0.5, s.seconds - 1
        )
        loaded = receive(probe, probe_conn, s.seconds + GRACE_SECONDS + 20)
        result = receive(load, load_conn, 20)
        where = "on " if logging else "off"
        lines.append(
            f"{label:16} probe from {VICTIM_SOURCE}, {probe_name} alone, {s.probe_rate}/s for {QUIET_PROBE_SECONDS} s: "
            + (
                latency_text(reference["latencies"], reference["sent"])
                if reference
                else "! no result"
            )
            + (
                ""
                if cached and cached.answer_count
                else "  ! the probe name was not answered before: not cached"
            )
        )
        if result is not None:
            sent, answered = result["sent"], result["answered"]
            lines.append(
                f"{label:16} flood of new names from {ALLOWED_SOURCE}, asked {s.flood_rate}/s, achieved {sent / result['send_seconds']:.0f}/s "
                f"({result['loop']}): answered {share(answered, sent)}"
                + (f"; client errors {result['errors']}" if result["errors"] else "")
            )
        lines.append(
            f"{label:16} probe during the flood, query log {where}: "
            + (latency_text(loaded["latencies"], loaded["sent"]) if loaded else "! no result")
            + f"; {alive(server)}"
        )
        target.group.stop(server)
    return lines
