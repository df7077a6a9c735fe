"""What the filter tells systemd: the watchdog interval it reads from the
environment, and WATCHDOG=1 sent from the event loop to a real notify socket.

The whole conversation of a running ``dnsfilter run`` (READY, WATCHDOG,
RELOADING, STOPPING) is tested on the real process in tests/cli/test_main.py.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dnsfilter.service import readiness

OUR_PID = 4242


@pytest.mark.parametrize(
    ("environ", "interval"),
    [
        ({}, None),
        ({"WATCHDOG_USEC": "30000000"}, 15.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(OUR_PID)}, 15.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, None),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "not a pid"}, None),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "-5"}, None),
        ({"WATCHDOG_USEC": "thirty"}, None),
        ({"WATCHDOG_PID": str(OUR_PID)}, None),
    ],
    ids=[
        "no watchdog", "half of WatchdogSec", "meant for this process", "meant for another process",
        "bad pid", "zero", "negative", "not a number", "pid without a time",
    ],
)
def test_the_watchdog_interval_is_half_of_what_systemd_allows(
    environ: dict[str, str], interval: float | None
) -> None:
    assert readiness.watchdog_interval(environ, pid=OUR_PID) == interval


@pytest.fixture
def notify_socket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    """A fake systemd's notify socket, named in NOTIFY_SOCKET."""
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.setblocking(False)
        monkeypatch.setenv("NOTIFY_SOCKET", str(path))
        yield sock


async def test_the_watchdog_pings_from_the_loop_until_stopped(notify_socket: socket.socket) -> None:
    loop = asyncio.get_running_loop()
    watchdog = readiness.Watchdog(0.05)
    watchdog.start()
    arrivals = []
    try:
        for _ in range(5):
            assert await asyncio.wait_for(loop.sock_recv(notify_socket, 64), 5) == b"WATCHDOG=1"
            arrivals.append(loop.time())
    finally:
        watchdog.stop()
    assert 0.15 < arrivals[-1] - arrivals[0] < 1.0  # four intervals of 0.05 s, not a busy loop
    await asyncio.sleep(0.2)
    with pytest.raises(BlockingIOError):
        notify_socket.recv(64)  # nothing after stop


async def test_a_blocked_loop_sends_no_pings(notify_socket: socket.socket) -> None:
    # Why a loop timer and not a thread: systemd must notice a stuck loop.
    watchdog = readiness.Watchdog(0.02)
    watchdog.start()
    try:
        assert notify_socket.recv(64) == b"WATCHDOG=1"  # the first, at start
        time.sleep(0.3)  # the loop is stuck
        with pytest.raises(BlockingIOError):
            notify_socket.recv(64)
    finally:
        watchdog.stop()


def test_no_watchdog_without_systemd(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    assert readiness.Watchdog.from_environment() is None


def test_reloading_carries_the_monotonic_clock() -> None:
    state, stamp = readiness.reloading().split("\n")
    assert state == "RELOADING=1"
    assert stamp.startswith("MONOTONIC_USEC=")
    assert abs(int(stamp.removeprefix("MONOTONIC_USEC=")) / 1e6 - time.monotonic()) < 1


def test_notify_without_systemd_is_quiet(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert readiness.notify("READY=1") is False
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "nobody-listens"))
    assert readiness.notify("READY=1") is False
