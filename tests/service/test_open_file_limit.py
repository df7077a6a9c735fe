"""``dnsfilter run`` lifts the open-file limit at start, in a process of its own
(the limit is the process's: the test run's own is left alone)."""

from __future__ import annotations

import resource
import subprocess
import sys
import textwrap
from collections.abc import Callable

import pytest

from dnsfilter.service.lifecycle import OPEN_FILES_LOW, OPEN_FILES_WANTED

SCRIPT = textwrap.dedent(
    """
    import logging, resource, sys
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(levelname)s %(message)s")
    from dnsfilter.service.lifecycle import raise_open_file_limit
    raise_open_file_limit()
    print(*resource.getrlimit(resource.RLIMIT_NOFILE))
    """
)


def limited_to(soft: int, hard: int | None = None) -> Callable[[], None]:
    def lower() -> None:
        _, current_hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, current_hard if hard is None else hard))

    return lower


def run_with(lower: Callable[[], None]) -> tuple[int, int, str]:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], preexec_fn=lower, capture_output=True, text=True, timeout=60, check=True
    )
    soft, hard = (int(word) for word in done.stdout.split())
    return soft, hard, done.stderr


def test_the_soft_limit_is_raised_to_the_hard_one() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    expected = OPEN_FILES_WANTED if hard == resource.RLIM_INFINITY else min(hard, OPEN_FILES_WANTED)
    if expected <= 256:
        pytest.skip(f"this machine's hard limit on open files ({hard}) leaves nothing to raise")
    soft, _, log = run_with(limited_to(256))
    assert soft == expected
    assert f"INFO raised the open-file limit from 256 to {expected}" in log
    assert ("WARNING" in log) == (expected < OPEN_FILES_LOW)


def test_a_low_hard_limit_is_reported_with_how_to_raise_it() -> None:
    soft, hard, log = run_with(limited_to(256, 256))
    assert (soft, hard) == (256, 256)
    assert "raised" not in log
    assert "WARNING only 256 files may be open at once" in log
    assert "LimitNOFILE=65536" in log and "ulimit -n 65536" in log
