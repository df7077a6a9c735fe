"""CPU time, peak memory, disk writes and descendants of a running process, read from /proc
(Linux only), and waiting until it is idle again.

CPU time counts the process itself (all its threads), the children it has
already reaped (dnsmasq forks one child per TCP connection) and the children
still alive, so a delta taken around a run includes work done in children.
``foreign_cpu_seconds`` adds up everyone else, to tell when other work on the
machine competed with a benchmark.
"""

from __future__ import annotations

import os
import signal
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")
_PROC = Path("/proc")

# Field positions in /proc/PID/stat counted after the ")" that ends the
# command name (which may itself contain spaces), see proc(5).
_PPID = 1
_FLAGS = 6
_UTIME = 11
_STIME = 12
_CUTIME = 13
_CSTIME = 14
_STARTTIME = 19


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = (_PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return text[text.rindex(")") + 2 :].split()


def child_pids(pid: int) -> list[int]:
    """Processes whose parent is ``pid``."""
    children = []
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields is not None and int(fields[_PPID]) == pid:
            children.append(int(entry.name))
    return children


def descendants(pid: int) -> list[tuple[int, int]]:
    """Every live process under ``pid``, as (pid, start time in clock ticks).

    The start time tells a process apart from a later one reusing its pid.
    """
    found = []
    for child in child_pids(pid):
        fields = _stat_fields(child)
        if fields is not None:
            found.append((child, int(fields[_STARTTIME])))
            found += descendants(child)
    return found


def kill_if_unchanged(pid: int, start_time: int) -> None:
    """SIGKILL ``pid`` if it is still the process that started at ``start_time``."""
    fields = _stat_fields(pid)
    if fields is not None and int(fields[_STARTTIME]) == start_time:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def cpu_seconds(pid: int) -> float:
    """User+system CPU of ``pid``, its reaped children and its live descendants."""
    fields = _stat_fields(pid)
    if fields is None:
        raise ProcessLookupError(pid)
    ticks = sum(int(fields[i]) for i in (_UTIME, _STIME, _CUTIME, _CSTIME))
    seconds = ticks / CLOCK_TICKS_PER_SECOND
    for child in child_pids(pid):
        try:
            seconds += cpu_seconds(child)
        except ProcessLookupError:
            pass  # exited between the listing and the read; counted once reaped
    return seconds


@dataclass(frozen=True, slots=True)
class IdleWait:
    """How long a process kept working after a load ended (see ``wait_until_idle``)."""

    seconds: float  # from the call to the start of the first quiet window
    idle: bool  # False: still busy at the deadline


def wait_until_idle(
    pid: int,
    *,
    poll_seconds: float = 0.25,
    window_seconds: float = 1.0,
    busy_percent: float = 2.0,
    deadline_seconds: float = 60.0,
) -> IdleWait:
    """Poll ``cpu_seconds(pid)`` until it used under ``busy_percent`` of a CPU
    over ``window_seconds``; ProcessLookupError if it exits meanwhile.

    Work a server defers past its answers (ours writes its query log in
    batches, in a thread) belongs to the queries it answered: waiting for it
    lets a CPU-per-query figure include it.
    """
    started = time.monotonic()
    samples = deque([(started, cpu_seconds(pid))])
    while True:
        time.sleep(poll_seconds)
        now, used = time.monotonic(), cpu_seconds(pid)
        samples.append((now, used))
        # The oldest sample kept is the newest one at least a window old.
        while len(samples) > 2 and now - samples[1][0] >= window_seconds:
            samples.popleft()
        first_time, first_used = samples[0]
        span = now - first_time
        if span >= window_seconds and used - first_used < busy_percent / 100 * span:
            return IdleWait(first_time - started, True)
        if now - started >= deadline_seconds:
            return IdleWait(now - started, False)


def wait_for_children_to_exit(pid: int, timeout: float) -> bool:
    """Poll until ``pid`` has no children left (or ``timeout`` passes).

    Once a child is reaped its CPU time moves into the parent's cutime/cstime,
    which is read in one go; True when that happened in time.
    """
    deadline = time.monotonic() + timeout
    while child_pids(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


_PF_KTHREAD = 0x00200000


def foreign_cpu_seconds(own_root: int) -> float:
    """CPU used so far by user processes outside ``own_root``'s process tree.

    Reaped children are included through their parent's cutime/cstime, so the
    difference of two readings covers processes that came and went between
    them. Kernel threads are left out: loopback traffic of the benchmark
    itself is partly handled there.
    """
    parents: dict[int, int] = {}
    ticks: dict[int, int] = {}
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields is None or int(fields[_FLAGS]) & _PF_KTHREAD:
            continue
        pid = int(entry.name)
        parents[pid] = int(fields[_PPID])
        ticks[pid] = sum(int(fields[i]) for i in (_UTIME, _STIME, _CUTIME, _CSTIME))
    foreign = sum(
        tick
        for pid, tick in ticks.items()
        if not _descends_from(pid, own_root, parents)
    )
    return foreign / CLOCK_TICKS_PER_SECOND


def _descends_from(pid: int, root: int, parents: dict[int, int]) -> bool:
    seen = set()
    while pid not in seen:
        if pid == root:
            return True
        seen.add(pid)
        pid = parents.get(pid, 0)
    return False


def peak_rss_mib(pid: int) -> float | None:
    """VmHWM (resident set high-water mark) of ``pid`` alone, in MiB."""
    try:
        lines = (_PROC / str(pid) / "status").read_text().splitlines()
    except (FileNotFoundError, ProcessLookupError):
        return None
    for line in lines:
        if line.startswith("VmHWM:"):
            kib = int(line.split()[1])
            return kib / 1024
    return None


def disk_write_bytes(pid: int) -> int:
    """Bytes ``pid`` (all its threads) caused to be written to storage so far:
    ``write_bytes`` of /proc/PID/io, counted a page at a time as the page
    cache is dirtied, less ``cancelled_write_bytes`` (dirty pages of files
    truncated or deleted before they reached the disk)."""
    try:
        lines = (_PROC / str(pid) / "io").read_text().splitlines()
    except (FileNotFoundError, ProcessLookupError) as error:
        raise ProcessLookupError(pid) from error
    fields = dict(line.split(": ", 1) for line in lines if ": " in line)
    return int(fields["write_bytes"]) - int(fields["cancelled_write_bytes"])
