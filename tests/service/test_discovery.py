"""Device discovery: reading every source into a table, and reporting trouble once."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest

from dnsfilter.dns.edns import (
    identify,
)
from dnsfilter.policy.identity import (
    ClientId,
)
from dnsfilter.service import discovery
from dnsfilter.service.discovery import ClientSourcePaths, read_client_sources
from tests.devices import (
    CHILD_IP,
    CHILD_MAC,
    FIXTURES,
)

# --- refresh ---------------------------------------------------------------------


def fixture_paths(**changes: object) -> ClientSourcePaths:
    values: dict[str, object] = {
        "arp": str(FIXTURES / "proc_net_arp.txt"),
        "neighbour_command": None,
        "ip_neigh_files": (str(FIXTURES / "ip_neigh.txt"),),
        "dnsmasq_leases": (str(FIXTURES / "dnsmasq.leases"),),
        "odhcpd": (str(FIXTURES / "odhcpd.state"), str(FIXTURES / "odhcpd.hosts")),
    }
    values.update(changes)
    return ClientSourcePaths(**values)  # type: ignore[arg-type]


async def test_read_client_sources() -> None:
    table = await read_client_sources(fixture_paths())
    assert identify(table, CHILD_IP, b"", False) == ClientId(f"mac:{CHILD_MAC}", CHILD_IP, CHILD_MAC, "Emmas-iPad", "arp")
    assert identify(table, "fd00::42", b"", False).name == "<b>Max</b>"


async def test_missing_sources_are_fine(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    missing = str(tmp_path / "nothing-here")
    paths = ClientSourcePaths(
        arp=missing, neighbour_command=(str(tmp_path / "no-such-ip"),), ip_neigh_files=(missing,),
        dnsmasq_leases=(missing,), odhcpd=(missing,),
    )
    with caplog.at_level(logging.WARNING, logger=discovery.__name__):
        table = await read_client_sources(paths)
    assert len(table) == 0
    assert identify(table, CHILD_IP, b"", False).key == f"ip:{CHILD_IP}"
    assert not caplog.records


async def test_unreadable_source_is_reported_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    unreadable = tmp_path / "dnsmasq.leases"
    unreadable.mkdir()  # reading a directory fails even for root
    paths = fixture_paths(dnsmasq_leases=(str(unreadable),))
    with caplog.at_level(logging.WARNING, logger=discovery.__name__):
        for _ in range(3):
            table = await read_client_sources(paths)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert str(unreadable) in warnings[0] and "IP address" in warnings[0]
    assert identify(table, CHILD_IP, b"", False).mac == CHILD_MAC  # the other sources still count


async def test_neighbour_command(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    neigh = "2001:db8:1::77 dev br-lan lladdr 3c:22:fb:11:22:77 REACHABLE"
    paths = ClientSourcePaths(
        arp=None, neighbour_command=(sys.executable, "-c", f"print({neigh!r})"), dnsmasq_leases=(), odhcpd=()
    )
    table = await read_client_sources(paths)
    assert identify(table, "2001:db8:1::77", b"", False).mac == "3c:22:fb:11:22:77"

    failing = ClientSourcePaths(
        arp=None, neighbour_command=(sys.executable, "-c", "raise SystemExit(3)"), dnsmasq_leases=(), odhcpd=()
    )
    with caplog.at_level(logging.WARNING, logger=discovery.__name__):
        for _ in range(2):
            await read_client_sources(failing)
    assert len([r for r in caplog.records if "exit status 3" in r.getMessage()]) == 1
