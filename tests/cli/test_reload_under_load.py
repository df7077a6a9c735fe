"""`systemctl reload dnsfilter` (SIGHUP) while the home is busy: dnsperf keeps
a steady stream of queries on the real process, the configuration is
reloaded several times meanwhile, and no query goes unanswered. dnsperf is
Debian's package (CI installs it); the test is skipped, saying so, without it.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import signal
from pathlib import Path

import pytest

from tests.cli.test_main import data_dir, dnsfilter_process, real_index, write_config  # noqa: F401 - fixtures
from tests.fakes import FakeUpstream

SECONDS = 6
RATE = 1000  # queries a second: a busy home, well within what one core answers
RELOADS = 3
ALLOWED = [f"site{n}.example.org" for n in range(20)]
DENIED = "games.example"


def counted(report: str, label: str) -> int:
    found = re.search(rf"{label}:\s+(\d+)", report)
    assert found, f"no {label!r} in dnsperf's report:\n{report}"
    return int(found.group(1))


async def test_reloads_under_load_lose_no_query(fake_upstream: FakeUpstream, tmp_path: Path, data_dir: Path) -> None:  # noqa: F811
    if shutil.which("dnsperf") is None:
        reason = "dnsperf is not installed (apt-get install dnsperf)"
        print(reason)
        pytest.skip(reason)
    for name in ALLOWED:
        fake_upstream.add(f"{name}. 300 IN A 192.0.2.1")
    fake_upstream.add(f"{DENIED}. 300 IN A 192.0.2.7")
    queries = tmp_path / "queries.txt"
    queries.write_text("".join(f"{name} A\n" for name in [*ALLOWED, DENIED, "www.pornhub.com"]))
    config = tmp_path / "dnsfilter.yaml"
    write_config(config, fake_upstream.address, deny=[], data_dir=data_dir)
    async with dnsfilter_process("-c", str(config)) as running:
        host, port = running.address
        load = await asyncio.create_subprocess_exec(
            "dnsperf", "-s", host, "-p", str(port), "-d", str(queries), "-l", str(SECONDS), "-Q", str(RATE),
            "-t", "2", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        await asyncio.sleep(1)
        for reload in range(RELOADS):  # the deny list changes each time: a real reload, not a no-op
            deny = [DENIED] if reload % 2 == 0 else []
            write_config(config, fake_upstream.address, deny=deny, port=port, data_dir=data_dir)
            running.process.send_signal(signal.SIGHUP)
            await running.read_until("configuration reloaded")
            await asyncio.sleep(1)
        output, _ = await asyncio.wait_for(load.communicate(), SECONDS + 30)
    report = output.decode()
    sent, lost = counted(report, "Queries sent"), counted(report, "Queries lost")
    print(f"dnsperf at {RATE} q/s for {SECONDS} s with {RELOADS} reloads: {sent} sent, {lost} lost")
    assert load.returncode == 0, report
    assert sent >= RATE * SECONDS * 0.9
    assert lost == 0, report
