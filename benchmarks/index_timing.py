"""Ours' compiled blocklist index: compile time, and answering while it is recompiled.

- ``time_compile``: ``compile_index`` alone, in a fresh interpreter, as the
  server's compile process runs it; its own timing and peak RSS.
- ``measure_recompile``: a fixed-rate dnsperf run against a server that has
  just started on an out-of-date index and is recompiling in the background;
  the server log's "blocklists compiled" line says when the compile ended.
- ``run_index_lookup``: benchmarks/index_lookup.py as a subprocess.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from bench_servers import (
    HOST,
    ManagedProcess,
    ServerStartError,
    pinned,
    python_for_helpers,
)
from blocked_files import SOURCE_ID, OursCatalog
from dns_probe import ProbeReply, query_udp
from results_table import Load, Measurement
from run_files import RunFiles
from server_measurement import Pinning, measure

COMPILE_TIMEOUT_SECONDS = 180.0
LOGGED_COMPILE_TIMEOUT_SECONDS = 120.0
INDEX_LOOKUP_TIMEOUT_SECONDS = 180.0
INDEX_LOOKUP = Path(__file__).resolve().parent / "index_lookup.py"

# python -c CODE catalog_dir source_id list_file out
_COMPILE_CODE = """\
import json, resource, sys
from pathlib import Path
from dnsfilter.lists.compiler import compile_index
catalog, source_id, list_file, out = sys.argv[1:5]
report = compile_index(Path(catalog), {source_id: Path(list_file)}, Path(out))
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent through
# fork and exec, so a benchmark holding a big list would be counted here.
with open("/proc/self/status") as status:
    peak_kib = next((int(line.split()[1]) for line in status if line.startswith("VmHWM:")), None)
if peak_kib is None:
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": report.seconds, "entries": report.entries, "peak_kib": peak_kib}))
"""

# logging's default asctime, as ``dnsfilter run`` logs.
_COMPILED = re.compile(
    r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) .*blocklists compiled: "
    r"(\d+) names in ([0-9.]+) s$",
    re.MULTILINE,
)


@dataclass(frozen=True, slots=True)
class CompileTiming:
    seconds: float  # compile_index's own figure: catalog, parse, build, write
    entries: int
    peak_rss_mib: float  # the whole compiling process, interpreter included


def time_compile(
    catalog: OursCatalog, out: Path, cpu: int | None, log_path: Path
) -> CompileTiming:
    """Run ``compile_index(catalog, {source: list}, out)`` in a fresh interpreter."""
    command = pinned(
        [
            python_for_helpers(),
            "-c",
            _COMPILE_CODE,
            str(catalog.directory),
            SOURCE_ID,
            str(catalog.list_file),
            str(out),
        ],
        cpu,
    )
    try:
        result = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=COMPILE_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        raise ServerStartError(
            f"compile_index did not finish within {COMPILE_TIMEOUT_SECONDS:.0f} s"
        ) from error
    log_path.write_text(result.stdout + result.stderr)
    lines = result.stdout.splitlines()
    if result.returncode != 0 or not lines:
        raise ServerStartError(
            f"compile_index failed (exit code {result.returncode}, log: {log_path})",
            "\n".join(result.stderr.splitlines()[-15:]),
        )
    figures = json.loads(lines[-1])
    return CompileTiming(
        seconds=float(figures["seconds"]),
        entries=int(figures["entries"]),
        peak_rss_mib=int(figures["peak_kib"]) / 1024,
    )


@dataclass(frozen=True, slots=True)
class LoggedCompile:
    finished: float  # wall-clock time of the log line
    entries: int
    seconds: float  # as logged, to 0.1 s

    @property
    def started(self) -> float:
        return self.finished - self.seconds


def logged_compiles(log_path: Path) -> list[LoggedCompile]:
    """Every "blocklists compiled" line of a server log."""
    try:
        text = log_path.read_text(errors="replace")
    except FileNotFoundError:
        return []
    return [
        LoggedCompile(
            finished=datetime.datetime.strptime(
                stamp, "%Y-%m-%d %H:%M:%S,%f"
            ).timestamp(),
            entries=int(entries),
            seconds=float(seconds),
        )
        for stamp, entries, seconds in _COMPILED.findall(text)
    ]


def wait_for_logged_compile(
    process: ManagedProcess, timeout: float
) -> LoggedCompile | None:
    """The first compile ``process`` logged, waiting up to ``timeout`` seconds for it."""
    deadline = time.monotonic() + timeout
    while True:
        found = logged_compiles(process.log_path)
        if found:
            return found[0]
        if process.exit_code() is not None or time.monotonic() >= deadline:
            return None
        time.sleep(0.1)


@dataclass(frozen=True, slots=True)
class RecompileRun:
    row: Measurement  # the fixed-rate run
    load_started: float  # wall clock, like LoggedCompile
    load_ended: float
    compile: LoggedCompile | None
    marker: ProbeReply | None  # the name only the new index blocks, asked afterwards


def measure_recompile(
    server: ManagedProcess,
    port: int,
    load: Load,
    files: RunFiles,
    pinning: Pinning,
    duration: int,
    marker: str,
) -> RecompileRun:
    """dnsperf at ``load`` while ``server`` recompiles, then wait for the compile to end.

    Called as soon as the server answers: it recompiles from then on.
    """
    load_started = time.time()
    row = measure(
        server,
        port,
        load,
        files,
        pinning,
        duration=duration,
        tcp_queries_per_connection=None,
    )
    load_ended = time.time()
    compiled = wait_for_logged_compile(server, LOGGED_COMPILE_TIMEOUT_SECONDS)
    # The new index is swapped in right after the log line, before the next query.
    reply = query_udp(HOST, port, marker, 1.0) if compiled else None
    return RecompileRun(row, load_started, load_ended, compiled, reply)


def run_index_lookup(
    list_path: Path, allowed_path: Path, cpu: int | None, output_path: Path
) -> str:
    """benchmarks/index_lookup.py's output (it runs its own subprocesses: stopped as a group)."""
    command = pinned(
        [
            python_for_helpers(),
            str(INDEX_LOOKUP),
            "--list",
            str(list_path),
            "--allowed",
            str(allowed_path),
        ],
        cpu,
    )
    print(f"index_lookup: {' '.join(command)}", flush=True)
    popen = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = popen.communicate(timeout=INDEX_LOOKUP_TIMEOUT_SECONDS)
        if popen.returncode != 0:
            output += f"\n(index_lookup exited with code {popen.returncode})"
    except subprocess.TimeoutExpired:
        output = f"(index_lookup still running after {INDEX_LOOKUP_TIMEOUT_SECONDS:.0f} s; stopped)"
    finally:
        if popen.poll() is None:
            os.killpg(popen.pid, signal.SIGKILL)  # its own session: it and its probes
            popen.wait()
    output_path.write_text(output)
    return output.rstrip("\n")
