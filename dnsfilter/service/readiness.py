"""systemd readiness notification and watchdog (sd_notify) without a library.

With ``Type=notify`` systemd passes a datagram socket in NOTIFY_SOCKET and
waits for READY=1 before it counts the service as started. With
``WatchdogSec=`` it also sets WATCHDOG_USEC (and WATCHDOG_PID, the process
meant) and restarts the service when WATCHDOG=1 stops arriving within that
time. The pings come from a timer of the event loop, not from a thread: a
loop that hangs stops them, and systemd restarts the filter.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Mapping


def notify(state: str) -> bool:
    """Send ``state`` (e.g. "READY=1") to systemd; False when not under systemd."""
    path = os.environ.get("NOTIFY_SOCKET")
    if not path:
        return False
    if path.startswith("@"):
        path = "\0" + path[1:]  # abstract socket namespace
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(path)
            sock.sendall(state.encode())
    except OSError:
        return False
    return True


def reloading() -> str:
    """The RELOADING=1 message, with the time systemd uses to pair it with the reload it asked for."""
    return f"RELOADING=1\nMONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}"


def watchdog_interval(environ: Mapping[str, str] = os.environ, pid: int | None = None) -> float | None:
    """Seconds between two WATCHDOG=1 pings: half the time systemd allows (WATCHDOG_USEC).

    None when systemd asks for none: no or no valid WATCHDOG_USEC, or a
    WATCHDOG_PID naming another process (a child that inherited the variables).
    """
    try:
        usec = int(environ.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    if usec <= 0:
        return None
    meant = environ.get("WATCHDOG_PID", "").strip()
    if meant:
        try:
            if int(meant) != (os.getpid() if pid is None else pid):
                return None
        except ValueError:
            return None
    return usec / 2_000_000


class Watchdog:
    """WATCHDOG=1 to systemd every ``interval`` seconds from the running loop, until stopped."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._timer: asyncio.TimerHandle | None = None

    @classmethod
    def from_environment(cls) -> Watchdog | None:
        """The watchdog systemd asked for in this process's environment, or None."""
        interval = watchdog_interval()
        return None if interval is None else cls(interval)

    def start(self) -> None:
        self._ping()

    def _ping(self) -> None:
        notify("WATCHDOG=1")
        self._timer = asyncio.get_running_loop().call_later(self.interval, self._ping)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
