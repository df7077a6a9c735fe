"""Start, probe and stop the processes a benchmark needs, each on 127.0.0.1.

A server under test is a ``ServerSpec``: a name and how to build its command
line from (port, upstream port, data dir). Adding another server means adding
one spec; the driver treats them all alike.
"""

from __future__ import annotations

import os
import platform
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dns_probe import query_tcp, query_udp
from process_usage import descendants, kill_if_unchanged
from tool_install import tool_version

HOST = "127.0.0.1"
REPO_ROOT = Path(__file__).resolve().parent.parent
STOP_GRACE_SECONDS = 5.0


class ServerStartError(RuntimeError):
    """A process we started did not come up; the message says which and why.

    ``log_tail`` holds the last lines of its log, to show under the message.
    """

    def __init__(self, message: str, log_tail: str = "") -> None:
        super().__init__(message)
        self.log_tail = log_tail


@dataclass
class ManagedProcess:
    """A child process with its log file; ``stop`` is safe to call twice."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def exit_code(self) -> int | None:
        return self.popen.poll()

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:]) or "(log is empty)"

    def stop(self) -> None:
        if self.popen.poll() is not None:
            return
        # A worker it started (ours compiles lists in one) would outlive a killed parent.
        workers = descendants(self.pid)
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout=STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(timeout=STOP_GRACE_SECONDS)
        for pid, start_time in workers:
            kill_if_unchanged(pid, start_time)


@dataclass
class ProcessGroup:
    """Every process started for one run, stopped in reverse order on close."""

    processes: list[ManagedProcess] = field(default_factory=list)

    def start(
        self,
        name: str,
        command: Sequence[str],
        log_path: Path,
        *,
        stdout_pipe: bool = False,
    ) -> ManagedProcess:
        log = log_path.open("wb")
        try:
            popen = subprocess.Popen(
                list(command),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE if stdout_pipe else log,
                stderr=log if stdout_pipe else subprocess.STDOUT,
            )
        except OSError as error:
            raise ServerStartError(
                f"{name} could not be started ({command[0]}): {error}"
            ) from error
        finally:
            log.close()  # the child holds its own descriptor
        process = ManagedProcess(name, popen, log_path)
        self.processes.append(process)
        return process

    def stop(self, process: ManagedProcess) -> None:
        process.stop()
        if process.popen.stdout is not None:
            process.popen.stdout.close()
        if process in self.processes:
            self.processes.remove(process)

    def close(self) -> None:
        for process in reversed(list(self.processes)):
            self.stop(process)


@dataclass(frozen=True, slots=True)
class ServerSpec:
    """A DNS server to benchmark: its name and how to launch it."""

    name: str
    command: Callable[
        [int, int, Path], list[str]
    ]  # (port, upstream port, data dir) -> argv
    missing_reason: Callable[[], str | None]  # why it cannot run here, or None
    start_deadline_seconds: float


OURS_EXECUTABLE = REPO_ROOT / ".venv" / "bin" / "dnsfilter"


def ours_command(
    port: int, upstream_port: int, data_dir: Path, executable: Path = OURS_EXECUTABLE
) -> list[str]:
    return [
        str(executable),
        "run",
        "--listen",
        f"{HOST}:{port}",
        "--upstream",
        f"{HOST}:{upstream_port}",
        "--data-dir",
        str(data_dir),
    ]


def ours_missing() -> str | None:
    if OURS_EXECUTABLE.exists():
        return None
    return f"{OURS_EXECUTABLE.relative_to(REPO_ROOT)} not found (pip install -e . in the venv)"


def dnsmasq_executable() -> str | None:
    return shutil.which("dnsmasq") or shutil.which("dnsmasq", path="/usr/sbin:/sbin")


DNSMASQ_CACHE_SIZE = 10_000


def dnsmasq_command(
    port: int, upstream_port: int, data_dir: Path, cache_size: int = DNSMASQ_CACHE_SIZE
) -> list[str]:
    """dnsmasq in the foreground; it refuses an option given twice, hence ``cache_size``."""
    executable = dnsmasq_executable() or "dnsmasq"
    return [
        executable,
        "--keep-in-foreground",
        "--no-resolv",
        "--no-hosts",
        "--bind-interfaces",
        f"--listen-address={HOST}",
        f"--port={port}",
        f"--server={HOST}#{upstream_port}",
        f"--cache-size={cache_size}",
        "--user=root",  # the default "nobody" works too, but root skips the privilege drop
        "--pid-file=",  # none
        "--log-facility=-",  # startup messages and errors to our log file
    ]


def dnsmasq_missing() -> str | None:
    return None if dnsmasq_executable() else "dnsmasq not found"


def unbound_executable() -> str | None:
    return shutil.which("unbound") or shutil.which("unbound", path="/usr/sbin:/sbin")


def unbound_config(
    port: int, upstream_port: int, data_dir: Path, include: Path | None = None
) -> str:
    """unbound in the foreground, one thread, forwarding everything to the upstream.

    No validator (``module-config: "iterator"``), no remote control, no
    privilege drop or chroot. ``include`` adds a file of further ``server:``
    settings (local zones, for instance).
    """
    lines = [
        "server:",
        "  do-daemonize: no",
        '  username: ""',
        '  chroot: ""',
        f'  directory: "{data_dir}"',
        '  pidfile: ""',
        "  use-syslog: no",
        '  logfile: ""',  # stderr, into our log file
        "  verbosity: 1",
        "  num-threads: 1",
        f"  interface: {HOST}@{port}",
        "  do-ip6: no",
        "  access-control: 127.0.0.0/8 allow",
        "  do-not-query-localhost: no",  # the upstream is on 127.0.0.1
        '  module-config: "iterator"',
    ]
    if include is not None:
        lines.append(f'  include: "{include}"')
    lines += [
        "remote-control:",
        "  control-enable: no",
        "forward-zone:",
        '  name: "."',
        f"  forward-addr: {HOST}@{upstream_port}",
    ]
    return "\n".join(lines) + "\n"


def unbound_command(
    port: int, upstream_port: int, data_dir: Path, include: Path | None = None
) -> list[str]:
    """Writes ``data_dir/unbound.conf`` (see ``unbound_config``) and returns the argv."""
    config = data_dir / "unbound.conf"
    config.write_text(unbound_config(port, upstream_port, data_dir, include))
    return [unbound_executable() or "unbound", "-d", "-c", str(config)]


def unbound_missing() -> str | None:
    return None if unbound_executable() else "unbound not found"


OURS = ServerSpec("ours", ours_command, ours_missing, start_deadline_seconds=30.0)


def before_spec(executable: Path) -> ServerSpec:
    """Another build of ours (say a worktree at an older commit), named "before".

    It runs exactly like ours, so one run of a benchmark gives before and
    after next to the same reference.
    """

    def command(port: int, upstream_port: int, data_dir: Path) -> list[str]:
        return ours_command(port, upstream_port, data_dir, executable)

    def missing() -> str | None:
        return None if executable.exists() else f"{executable} not found"

    return ServerSpec("before", command, missing, start_deadline_seconds=30.0)

DNSMASQ = ServerSpec(
    "dnsmasq", dnsmasq_command, dnsmasq_missing, start_deadline_seconds=10.0
)
SERVERS = (OURS, DNSMASQ)
# Not in SERVERS: dns_cached compares ours with dnsmasq only.
UNBOUND = ServerSpec(
    "unbound", unbound_command, unbound_missing, start_deadline_seconds=30.0
)


def floor_command(port: int, upstream_port: int, data_dir: Path) -> list[str]:
    script = Path(__file__).resolve().parent / "floor_server.py"
    return [python_for_helpers(), str(script), "--port", str(port)]


def floor_missing() -> str | None:
    probe = [python_for_helpers(), "-c", "import uvloop"]
    if subprocess.run(probe, capture_output=True, check=False).returncode:
        return "uvloop is not installed (pip install -e . in the venv)"
    return None


# What any server on uvloop pays per query (floor_server.py): not a DNS
# server, so it has no answers to check.
FLOOR = ServerSpec("floor", floor_command, floor_missing, start_deadline_seconds=10.0)


def reference_versions() -> str:
    """dnsperf's, unbound's and dnsmasq's versions and the machine, for a report's header."""
    return (
        f"dnsperf {tool_version(['dnsperf', '-h'])}, "
        f"unbound {tool_version([unbound_executable() or 'unbound', '-V'])}, "
        f"dnsmasq {tool_version([dnsmasq_executable() or 'dnsmasq', '--version'])}, "
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs, {platform.node()}"
    )


def pinned(command: Sequence[str], cpu: int | None) -> list[str]:
    """``command`` run under ``taskset -c cpu`` (unchanged when ``cpu`` is None)."""
    return list(command) if cpu is None else ["taskset", "-c", str(cpu), *command]


def free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1 right now."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind((HOST, 0))
            port: int = tcp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind((HOST, port))
                except OSError:
                    continue
                return port
    raise ServerStartError("no port free for both UDP and TCP on 127.0.0.1")


def python_for_helpers() -> str:
    """The project's venv interpreter (it has dnslib), else the current one."""
    venv_python = REPO_ROOT / ".venv" / "bin" / "python"
    return str(venv_python) if venv_python.exists() else sys.executable


def start_fake_upstream(
    group: ProcessGroup,
    names_file: Path,
    log_path: Path,
    cpu: int | None,
    deadline_seconds: float = 15.0,
) -> tuple[ManagedProcess, int]:
    """Start benchmarks/fake_upstream.py and return it with the port it bound."""
    script = Path(__file__).resolve().parent / "fake_upstream.py"
    command = pinned(
        [python_for_helpers(), str(script), "--names", str(names_file)], cpu
    )
    process = group.start("fake upstream", command, log_path, stdout_pipe=True)
    assert process.popen.stdout is not None
    ready, _, _ = select.select([process.popen.stdout], [], [], deadline_seconds)
    line = (
        process.popen.stdout.readline().decode(errors="replace").split()
        if ready
        else []
    )
    if len(line) != 2 or line[0] != "READY":
        raise ServerStartError(
            f"the fake upstream did not report READY within {deadline_seconds:.0f} s "
            f"(exit code {process.exit_code()}, log: {process.log_path})",
            process.log_tail(),
        )
    return process, int(line[1])


def wait_until_answering(
    process: ManagedProcess,
    port: int,
    probe_name: str,
    deadline_seconds: float,
    *,
    poll_seconds: float = 0.1,
) -> None:
    """Query ``port`` over UDP, then TCP, until both answer; fail if the process exits.

    Any reply counts: readiness is about the sockets; what it answers is
    checked by the warm-up. ``poll_seconds`` is the pause between attempts,
    and so the resolution of a start-up time measured around this call.
    """
    deadline = time.monotonic() + deadline_seconds
    for transport, ask in (("UDP", query_udp), ("TCP", query_tcp)):
        while ask(HOST, port, probe_name, 0.5) is None:
            code = process.exit_code()
            if code is not None:
                raise ServerStartError(
                    f"{process.name} exited with code {code} before answering "
                    f"(log: {process.log_path})",
                    process.log_tail(),
                )
            if time.monotonic() >= deadline:
                raise ServerStartError(
                    f"{process.name} did not answer over {transport} on {HOST}:{port} "
                    f"within {deadline_seconds:.0f} s (log: {process.log_path})",
                    process.log_tail(),
                )
            time.sleep(poll_seconds)
