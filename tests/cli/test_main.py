"""The ``dnsfilter`` command as a parent or systemd runs it: a real process."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from dnslib import RCODE

from dnsfilter.cli.main import main
from dnsfilter.config import DATABASE_FILE, DEFAULT_CONFIG
from dnsfilter.lists.blocklists import Blocklists
from dnsfilter.lists.compiler import INDEX_FILE
from dnsfilter.store import PolicyStore, open_database
from tests.fakes import DnsClient, FakeUpstream
from tests.running import started_once

REPO = Path(__file__).resolve().parents[2]
LISTENING = re.compile(r"answering DNS on (\S+) port (\d+)")


@pytest.fixture(scope="module")
def real_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped blocklists compiled once, for processes started in this module."""
    blocklists = Blocklists(tmp_path_factory.mktemp("index"))
    blocklists.open_blocking()
    return blocklists.index_path


@pytest.fixture
def data_dir(tmp_path: Path, real_index: Path) -> Path:
    """A data directory that already holds the compiled lists (as after a first start)."""
    directory = tmp_path / "data"
    directory.mkdir()
    shutil.copyfile(real_index, directory / INDEX_FILE)
    return started_once(directory)


class FilterProcess:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.address: tuple[str, int] = ("", 0)
        self.log: list[str] = []

    async def read_until(self, pattern: re.Pattern[str] | str, timeout: float = 10.0) -> re.Match[str]:
        """Read the service log until a line matches (the process's own readiness signal)."""
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        assert self.process.stderr is not None
        while True:
            line = await asyncio.wait_for(self.process.stderr.readline(), timeout)
            if not line:
                raise AssertionError("dnsfilter exited early:\n" + "".join(self.log))
            text = line.decode()
            self.log.append(text)
            match = regex.search(text)
            if match:
                return match


@asynccontextmanager
async def dnsfilter_process(*args: str, env: dict[str, str] | None = None) -> AsyncIterator[FilterProcess]:
    # The page on a port of its own: never the default 8080 of a box.
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "dnsfilter", "run", "--web", "127.0.0.1:0", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=REPO,
        env={**os.environ, **(env or {})},
    )
    running = FilterProcess(process)
    try:
        match = await running.read_until(LISTENING)
        running.address = (match.group(1), int(match.group(2)))
        yield running
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


def write_config(path: Path, upstream: str, deny: list[str], extra: str = "", port: int = 0,
                 data_dir: Path | None = None) -> None:
    deny_yaml = "".join(f"\n    - {name}" for name in deny) or " []"
    path.write_text(
        f"dns:\n  listen: [\"127.0.0.1:{port}\"]\n"
        f"upstream:\n  servers: [\"{upstream}\"]\n"
        f"blocking:\n  deny:{deny_yaml}\n"
        f"data_dir: {data_dir or path.parent / 'data'}\n{extra}"
    )


async def test_quick_start_flags_answer_and_sigterm_stops_cleanly(
    fake_upstream: FakeUpstream, dns_client: DnsClient, data_dir: Path
) -> None:
    fake_upstream.add("example.org. 300 IN A 192.0.2.1")
    async with dnsfilter_process(
        "--listen", "127.0.0.1:0", "--upstream", fake_upstream.address, "--data-dir", str(data_dir)
    ) as running:
        reply = await dns_client.query("example.org", "A", running.address)
        assert str(reply.rr[0].rdata) == "192.0.2.1"
        # The shipped lists are in force out of the box.
        reply = await dns_client.query("www.pornhub.com", "A", running.address)
        assert str(reply.rr[0].rdata) == "0.0.0.0"
        running.process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(running.process.wait(), 10) == 0


async def test_sighup_applies_a_good_config_and_keeps_the_running_one_on_a_bad_one(
    fake_upstream: FakeUpstream, dns_client: DnsClient, tmp_path: Path, data_dir: Path
) -> None:
    fake_upstream.add("example.org. 300 IN A 192.0.2.1", "games.example. 300 IN A 192.0.2.7")
    config = tmp_path / "dnsfilter.yaml"
    write_config(config, fake_upstream.address, deny=[], data_dir=data_dir)
    async with dnsfilter_process("-c", str(config)) as running:
        reply = await dns_client.query("games.example", "A", running.address)
        assert str(reply.rr[0].rdata) == "192.0.2.7"

        write_config(config, fake_upstream.address, deny=["games.example"], port=running.address[1], data_dir=data_dir)
        running.process.send_signal(signal.SIGHUP)
        await running.read_until("configuration reloaded")
        reply = await dns_client.query("games.example", "A", running.address)
        assert str(reply.rr[0].rdata) == "0.0.0.0"

        config.write_text("dns:\n  udp_payload_size: 99\n  no_such_key: 1\n")
        running.process.send_signal(signal.SIGHUP)
        await running.read_until("the running one is kept")
        await running.read_until(r"dns\.no_such_key")
        reply = await dns_client.query("games.example", "A", running.address)
        assert str(reply.rr[0].rdata) == "0.0.0.0"
        running.process.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(running.process.wait(), 10) == 0


async def test_tells_systemd_when_ready_alive_reloading_and_stopping(
    fake_upstream: FakeUpstream, tmp_path: Path, data_dir: Path
) -> None:
    # A fake systemd: the datagram socket it passes in NOTIFY_SOCKET, and a
    # watchdog of 2 seconds (WatchdogSec=2), so WATCHDOG=1 is due every second.
    notify_path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
        notify.bind(str(notify_path))
        notify.setblocking(False)
        loop = asyncio.get_running_loop()
        received: list[tuple[float, str]] = []

        async def until(state: str) -> list[tuple[float, str]]:
            """The messages up to the first that starts with ``state``, with the time each arrived."""
            start = len(received)
            while True:
                message = (await asyncio.wait_for(loop.sock_recv(notify, 256), 10)).decode()
                received.append((loop.time(), message))
                if message.startswith(state):
                    return received[start:]

        async with dnsfilter_process(
            "--listen", "127.0.0.1:0", "--upstream", fake_upstream.address, "--data-dir", str(data_dir),
            env={"NOTIFY_SOCKET": str(notify_path), "WATCHDOG_USEC": "2000000"},
        ) as running:
            await until("READY=1")
            pings = [await until("WATCHDOG=1") for _ in range(4)]
            gaps = [later[-1][0] - earlier[-1][0] for earlier, later in zip(pings, pings[1:])]
            assert all(0.6 < gap < 1.9 for gap in gaps), gaps  # every half interval, within systemd's limit

            running.process.send_signal(signal.SIGHUP)
            reloading = (await until("RELOADING=1"))[-1][1]
            assert reloading.startswith("RELOADING=1\nMONOTONIC_USEC=")
            told = int(reloading.split("MONOTONIC_USEC=")[1]) / 1e6
            assert abs(told - time.monotonic()) < 5  # the clock systemd pairs it with its reload
            await until("READY=1")
            await until("WATCHDOG=1")  # still alive after the reload

            running.process.send_signal(signal.SIGTERM)
            await until("STOPPING=1")
            assert await asyncio.wait_for(running.process.wait(), 10) == 0
    states = {message.split("\n")[0] for _, message in received}
    assert states == {"READY=1", "WATCHDOG=1", "RELOADING=1", "STOPPING=1"}, states


async def test_a_port_in_use_is_reported_plainly(fake_upstream: FakeUpstream, data_dir: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "dnsfilter", "run", "--listen", f"127.0.0.1:{port}",
            "--upstream", fake_upstream.address, "--data-dir", str(data_dir),
            stderr=asyncio.subprocess.PIPE, cwd=REPO,
        )
        _, stderr = await asyncio.wait_for(process.communicate(), 15)
    assert process.returncode == 1
    text = stderr.decode()
    assert f"cannot answer DNS on 127.0.0.1 port {port}" in text
    assert "Traceback" not in text
    # A port to use instead, checked free for UDP and TCP.
    free = int(re.search(r"Port (\d+) is free here: run with --listen 127\.0\.0\.1:(\d+)", text)[1])  # type: ignore[index]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp, socket.socket() as tcp:
        udp.bind(("127.0.0.1", free))
        tcp.bind(("127.0.0.1", free))


async def test_the_mdns_port_is_not_the_default_and_avahi_is_named_when_it_is_taken(
    fake_upstream: FakeUpstream, data_dir: Path
) -> None:
    assert DEFAULT_CONFIG.dns.listen[0].port != 5353
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as avahi:
        try:
            avahi.bind(("127.0.0.1", 5353))
        except OSError:
            pass  # this machine's avahi-daemon holds it already: the filter meets the same
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "dnsfilter", "run", "--listen", "127.0.0.1:5353",
            "--upstream", fake_upstream.address, "--data-dir", str(data_dir),
            stderr=asyncio.subprocess.PIPE, cwd=REPO,
        )  # fmt: skip
        _, stderr = await asyncio.wait_for(process.communicate(), 15)
    assert process.returncode == 1
    assert "Port 5353 is multicast DNS, which avahi-daemon holds" in stderr.decode()


def test_check_config_accepts_the_shipped_example(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", "-c", str(REPO / "config" / "dnsfilter.yaml")]) == 0
    assert "the configuration is valid" in capsys.readouterr().out


def test_check_config_reports_every_problem_with_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("dns:\n  udp_payload_size: 99\ncache:\n  size: lots\nupstream:\n  servers: [\"tls://\"]\n")
    assert main(["check-config", "-c", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "dns.udp_payload_size (line 2)" in err
    assert "cache.size (line 4)" in err
    assert "upstream.servers[0] (line 6)" in err


def test_check_config_on_a_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", "-c", str(tmp_path / "nope.yaml")]) == 2
    assert "nope.yaml" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args",
    [["run", "--upstream", "tcp://dns.example"], ["run", "--listen", "localhost:99999"], ["run", "--bogus"]],
    ids=["upstream-needs-ip", "bad-listen", "unknown-flag"],
)
def test_bad_command_line_is_an_error_not_a_crash(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(args)
    assert exited.value.code == 2
    assert "error:" in capsys.readouterr().err


async def test_blocked_name_through_the_real_process(
    fake_upstream: FakeUpstream, dns_client: DnsClient, tmp_path: Path, data_dir: Path
) -> None:
    config = tmp_path / "dnsfilter.yaml"
    write_config(config, fake_upstream.address, deny=["ads.example"], extra="blocking_typo: 1\n", data_dir=data_dir)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "dnsfilter", "run", "-c", str(config), stderr=asyncio.subprocess.PIPE, cwd=REPO
    )
    _, stderr = await asyncio.wait_for(process.communicate(), 15)
    assert process.returncode == 2 and "blocking_typo" in stderr.decode()
    write_config(config, fake_upstream.address, deny=["ads.example"], data_dir=data_dir)
    async with dnsfilter_process("-c", str(config)) as running:
        reply = await dns_client.query("tracker.ads.example", "AAAA", running.address, "tcp")
        assert reply.header.rcode == RCODE.NOERROR and str(reply.rr[0].rdata) == "::"


def test_explain_names_the_list_line(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "WWW.PornHub.com.", "--data-dir", str(data_dir)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("www.pornhub.com (A query), at ")
    # A new box: the default profile the filter sets up at its first start.
    assert "No device given: this is what a device the filter has not seen before gets." in out
    assert "Answer: BLOCKED (answered 0.0.0.0)." in out
    assert "Why: this profile always blocks the category adult." in out
    assert "6. blocked tags: YES (listed as adult" in out
    assert "hagezi-nsfw, line " in out and "*.pornhub.com" in out


def test_explain_a_service_and_an_unlisted_name(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "chat.zalo.me", "--data-dir", str(data_dir)]) == 0
    out = capsys.readouterr().out
    assert "Answer: allowed." in out and "zalo, line 1: ||zalo.me^" in out
    assert main(["explain", "example.org", "--data-dir", str(data_dir)]) == 0
    assert "Not in any blocklist or service." in capsys.readouterr().out


@pytest.mark.parametrize("name", ["not a name", "a..b", "<script>.example"], ids=["spaces", "empty-label", "markup"])
def test_explain_refuses_what_is_not_a_name(data_dir: Path, name: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", name, "--data-dir", str(data_dir)]) == 1
    assert "is not a valid domain name" in capsys.readouterr().err


def test_explain_for_a_device_at_a_time(
    tmp_path: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "family.yaml"
    config.write_text(f"data_dir: {data_dir}\ntime_zone: Europe/Berlin\n")
    now = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    database = open_database(f"sqlite:///{data_dir / DATABASE_FILE}")
    try:
        store = PolicyStore(database)
        mia = store.create_profile("Mia", now=now, safe_search="on")
        rule = store.add_rule(
            mia.id, days="mon-fri", start="20:00", end="22:00", action="block_tags", tags=["service:roblox"]
        )
        seen = store.record_seen("ip:192.168.1.23", ip="192.168.1.23", mac=None, name="ipad\x1b]0;hi\x07", now=now)
        store.assign_device(seen.device_id, mia.id)
    finally:
        database.close()

    def explain(*args: str) -> str:
        assert main(["explain", *args, "-c", str(config)]) == 0
        return capsys.readouterr().out

    out = explain("www.roblox.com", "--device", "192.168.1.23", "--at", "2026-03-02 21:00")
    assert "Device: ipad\\x1b]0;hi\\x07, ip:192.168.1.23" in out and "\x1b" not in out
    assert "Answer: BLOCKED (answered 0.0.0.0)." in out
    assert f"Why: the service roblox is blocked by rule {rule.id} (mon-fri 20:00-22:00, blocks the service" in out
    out = explain("www.roblox.com", "--device", "ip:192.168.1.23", "--at", "2026-03-02T19:00+01:00")
    assert "Answer: allowed." in out and "Listed as: the category games, the service roblox" in out
    out = explain("www.google.com", "--profile", "mia")
    assert "Answer: rewritten to the safe-search host forcesafesearch.google.com." in out
    out = explain("mask.icloud.com", "--device", "192.168.1.23", "--type", "HTTPS")
    assert 'Answer: answered "does not exist" (bypass protection).' in out

    assert main(["explain", "www.roblox.com", "--at", "after dinner", "-c", str(config)]) == 1
    assert 'dnsfilter: --at "after dinner" is not a time. Write it as 2h, 30m or 1d' in capsys.readouterr().err
    assert main(["explain", "www.roblox.com", "--device", "max", "-c", str(config)]) == 1
    err = capsys.readouterr().err
    assert 'No device matches "max"' in err and 'ip:192.168.1.23  profile "Mia"' in err


def test_explain_takes_a_device_or_a_profile_not_both(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["explain", "example.org", "--device", "ipad", "--profile", "Mia"])
    assert exited.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_lists_status_shows_every_list_and_the_index(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lists", "status", "--data-dir", str(data_dir)]) == 0
    out = capsys.readouterr().out
    assert "hagezi-nsfw" in out and "ut1-gambling" in out and "bundled copy" in out
    assert "Compiled index: " in out and "up to date" in out
    # Bundled lists were counted when compiled: entries and rejected lines by reason.
    nsfw = next(line for line in out.splitlines() if line.startswith("hagezi-nsfw "))
    assert "110,861" in nsfw
    gambling = next(line for line in out.splitlines() if line.startswith("ut1-gambling "))
    assert "ip address" in gambling


def test_another_catalog_can_be_used(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fixture = REPO / "tests" / "fixtures" / "blocklists"
    args = ["--data-dir", str(started_once(tmp_path)), "--blocklists", str(fixture)]
    assert main(["explain", "www.adult.example", *args]) == 0
    out = capsys.readouterr().out
    assert "BLOCKED" in out and "test-adult, line 2: adult.example" in out
    assert main(["explain", "homework.play.example", *args]) == 0
    assert "exception (unblocks)" in capsys.readouterr().out


def test_check_config_knows_the_catalogs_names(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "family.yaml"
    config.write_text("blocking:\n  categories: [adult, gambling, gamez]\n  services: [tiktok, zalo, robloxx]\n")
    assert main(["check-config", "-c", str(config)]) == 2
    err = capsys.readouterr().err
    assert 'blocking.categories[2] (line 2): there is no category called "gamez"; did you mean games?' in err
    assert 'blocking.services[2] (line 3): there is no service called "robloxx"; did you mean roblox' in err
    config.write_text("blocking:\n  categories: [adult, gambling, games]\n  services: [tiktok, zalo, roblox]\n")
    assert main(["check-config", "-c", str(config)]) == 0
