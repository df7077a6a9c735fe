"""Device discovery: reading who is on the network from this machine's
neighbour table and the DHCP lease files, into a ``ClientTable``::

    table = await read_client_sources(ClientSourcePaths())   # every ~30 s
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from dnsfilter.policy.identity import ClientTable
from dnsfilter.service.leasefiles import (
    Lease,
    Neighbours,
    parse_dnsmasq_leases,
    parse_ip_neigh,
    parse_odhcpd,
    parse_proc_arp,
)

__all__ = ["ClientSourcePaths", "read_client_sources"]

log = logging.getLogger(__name__)


# Lease files and neighbour tables of a home network are a few kilobytes;
# reading more than this would only mean the wrong file.
MAX_SOURCE_CHARS: Final = 4 * 1024 * 1024
NEIGHBOUR_COMMAND_TIMEOUT: Final = 2.0


@dataclass(frozen=True, slots=True)
class ClientSourcePaths:
    """Where to learn about devices. Any of these may be missing on a given box.

    ``neighbour_command`` runs ``ip neigh show``: the kernel lists IPv6
    neighbours nowhere else (``/proc/net/arp`` is IPv4 only). None turns it
    off. ``ip_neigh_files`` hold saved output of that command.
    """

    arp: str | None = "/proc/net/arp"
    neighbour_command: tuple[str, ...] | None = ("ip", "neigh", "show")
    ip_neigh_files: tuple[str, ...] = ()
    dnsmasq_leases: tuple[str, ...] = ("/var/lib/misc/dnsmasq.leases", "/tmp/dhcp.leases")
    odhcpd: tuple[str, ...] = ("/tmp/hosts/odhcpd",)


async def read_client_sources(paths: ClientSourcePaths) -> ClientTable:
    """Read every source (in a thread: file reads can block) and build a table."""
    return await asyncio.to_thread(_read_sources, paths, time.time())


# Sources already reported as unreadable, so a refresh every 30 s does not
# repeat the same warning; a source is forgotten once it reads again.
_reported: set[str] = set()


def _report_once(source: str, message: str) -> None:
    if source not in _reported:
        _reported.add(source)
        log.warning("%s", message)


def _read_sources(paths: ClientSourcePaths, now: float) -> ClientTable:
    neighbours: dict[str, str] = {}
    leases: list[Lease] = []
    if paths.arp is not None:
        text = _read_text(paths.arp)
        if text is not None:
            neighbours.update(_counted(paths.arp, parse_proc_arp(text)))
    for path in paths.ip_neigh_files:
        text = _read_text(path)
        if text is not None:
            neighbours.update(_counted(path, parse_ip_neigh(text)))
    if paths.neighbour_command is not None:
        text = _run_neighbour_command(paths.neighbour_command)
        if text is not None:
            neighbours.update(_counted(" ".join(paths.neighbour_command), parse_ip_neigh(text)))
    for path in paths.dnsmasq_leases:
        text = _read_text(path)
        if text is not None:
            parsed = parse_dnsmasq_leases(text)
            _log_skipped(path, parsed.skipped)
            leases.extend(parsed.leases)
    for path in paths.odhcpd:
        text = _read_text(path)
        if text is not None:
            parsed = parse_odhcpd(text)
            _log_skipped(path, parsed.skipped)
            leases.extend(parsed.leases)
    return ClientTable.build(neighbours, leases, now=now)


def _read_text(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as file:
            text = file.read(MAX_SOURCE_CHARS)
    except FileNotFoundError:
        _reported.discard(path)  # not every box runs every DHCP server
        return None
    except OSError as exc:
        reason = exc.strerror or os.strerror(exc.errno or errno.EIO)
        _report_once(
            path,
            f"Cannot read {path} ({reason.lower()}). Devices listed there are told apart by IP "
            "address only until it can be read: check that dnsfilter may read it.",
        )
        return None
    _reported.discard(path)
    return text


def _run_neighbour_command(command: Sequence[str]) -> str | None:
    source = " ".join(command)
    try:
        done = subprocess.run(
            list(command),
            capture_output=True,
            timeout=NEIGHBOUR_COMMAND_TIMEOUT,
            check=False,
        )
    except FileNotFoundError:
        return None  # no iproute2 or BusyBox ip: IPv4 devices still come from /proc/net/arp
    except (OSError, subprocess.SubprocessError) as exc:
        _report_once(
            source,
            f"Cannot list network neighbours with '{source}' ({exc}). "
            "IPv6 devices are told apart by IP address only.",
        )
        return None
    if done.returncode != 0:
        _report_once(
            source,
            f"'{source}' failed (exit status {done.returncode}). IPv6 devices are told apart by IP address only.",
        )
        return None
    _reported.discard(source)
    return done.stdout[:MAX_SOURCE_CHARS].decode("utf-8", errors="replace")


def _counted(source: str, parsed: Neighbours) -> Mapping[str, str]:
    _log_skipped(source, parsed.skipped)
    return parsed.macs


def _log_skipped(source: str, skipped: int) -> None:
    if skipped:
        log.debug("%s: %d line(s) not understood and skipped", source, skipped)
