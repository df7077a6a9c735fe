"""The files that say who is on the network: neighbour tables and DHCP leases.

Every function here is pure: text in, records out. Lines that cannot be used
are skipped and counted, never raised on, since these files are written by
other programs and may be cut short while being rewritten. Devices name
themselves over DHCP, so a name is whatever a child typed: it is kept as text
(the web UI escapes it) but control and direction-changing characters are
removed and its length is capped.

Formats:

- ``/proc/net/arp`` (IPv4 only) and ``ip neigh show`` (IPv4 and IPv6):
  :func:`parse_proc_arp`, :func:`parse_ip_neigh` -> :class:`Neighbours`.
- dnsmasq's lease file (``/var/lib/misc/dnsmasq.leases``, written by
  ``lease_update_file`` in dnsmasq's ``lease.c``):
  ``expiry mac ip hostname clientid`` for IPv4, a ``duid SERVER-DUID`` line,
  then ``expiry [T]iaid ipv6 hostname clientid`` for IPv6 (no MAC there);
  ``*`` means no hostname, expiry 0 means the lease never ends:
  :func:`parse_dnsmasq_leases`.
- odhcpd's state file on OpenWrt (``option leasefile``, usually
  ``/tmp/hosts/odhcpd``, written by ``statefiles.c``/``dhcpv6-ia.c``): hosts
  lines ``ip<TAB>[name.domain<TAB>]name`` and state lines
  ``# ifname duid iaid hostname lifetime assigned length addr/len...``,
  where a DHCPv4 line has ``ipv4`` as iaid and the client's MAC as 12 hex
  digits in the duid field: :func:`parse_odhcpd`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from dnsfilter.policy.identity import (
    MAC_WITH_SEPARATORS,
    canonical_ip,
    clean_name,
    normalise_mac,
)

__all__ = [
    "Lease",
    "LeaseFile",
    "Neighbours",
    "parse_dnsmasq_leases",
    "parse_ip_neigh",
    "parse_odhcpd",
    "parse_proc_arp",
]

# A hardware address as dnsmasq writes it for anything but Ethernet:
# "hwtype-" then the bytes (possibly none), e.g. "20-80:00:02:08:..." or "00-".
_HWTYPE_PREFIXED: Final = re.compile(r"[0-9a-f]{2}-(?:[0-9a-f]{2}(?::[0-9a-f]{2})*)?")
_HEX_COLONS: Final = re.compile(r"[0-9a-f]{2}(?::[0-9a-f]{2})*")

# ATF_COM in the kernel's arp flags: the entry has a resolved hardware address.
_ATF_COM: Final = 0x2
_UNRESOLVED_STATES: Final = frozenset({"FAILED", "INCOMPLETE"})


@dataclass(frozen=True, slots=True)
class Neighbours:
    """A neighbour table: IP address -> MAC, plus the lines that made no sense."""

    macs: Mapping[str, str]
    skipped: int = 0


@dataclass(frozen=True, slots=True)
class Lease:
    """One DHCP lease. ``expiry`` is Unix time, None for a lease that never ends."""

    ip: str
    mac: str | None
    hostname: str | None
    expiry: int | None


@dataclass(frozen=True, slots=True)
class LeaseFile:
    leases: tuple[Lease, ...]
    skipped: int = 0


def parse_proc_arp(text: str) -> Neighbours:
    """Parse ``/proc/net/arp``: ``IP  HWtype  Flags  HWaddress  Mask  Device``."""
    macs: dict[str, str] = {}
    skipped = 0
    for line in text.splitlines():
        fields = line.split()
        if not fields or line.startswith("IP address"):
            continue
        if len(fields) < 4:
            skipped += 1
            continue
        ip = canonical_ip(fields[0])
        try:
            flags = int(fields[2], 16)
        except ValueError:
            skipped += 1
            continue
        if ip is None:
            skipped += 1
            continue
        if not flags & _ATF_COM:
            continue  # still being resolved: the address field is all zero
        mac = normalise_mac(fields[3])
        if mac is None:
            if fields[3].strip("0:") != "":
                skipped += 1
            continue
        macs[ip] = mac
    return Neighbours(macs, skipped)


def parse_ip_neigh(text: str) -> Neighbours:
    """Parse ``ip neigh show`` (iproute2 or BusyBox), IPv4 and IPv6.

    ``192.168.1.23 dev br-lan lladdr aa:bb:cc:dd:ee:ff REACHABLE``; entries
    that are FAILED or INCOMPLETE, have no ``lladdr`` or a multicast one
    (``ff02::1 ... NOARP``) say nothing about a device and are left out
    without being counted as bad.
    """
    macs: dict[str, str] = {}
    skipped = 0
    for line in text.splitlines():
        fields = line.split()
        if not fields:
            continue
        ip = canonical_ip(fields[0])
        if ip is None:
            skipped += 1
            continue
        if _UNRESOLVED_STATES.intersection(fields):
            continue
        try:
            raw_mac = fields[fields.index("lladdr") + 1]
        except (ValueError, IndexError):
            continue
        mac = normalise_mac(raw_mac)
        if mac is None:
            if not MAC_WITH_SEPARATORS.fullmatch(raw_mac.lower()):
                skipped += 1
            continue
        macs[ip] = mac
    return Neighbours(macs, skipped)


def parse_dnsmasq_leases(text: str) -> LeaseFile:
    """Parse dnsmasq's lease file, IPv4 and IPv6 leases (see the module docstring)."""
    leases: list[Lease] = []
    skipped = 0
    for line in text.splitlines():
        fields = line.split()
        if not fields or fields[0] == "duid" or fields[0].startswith("#"):
            continue  # "duid" is the server's own DUID, not a client
        if len(fields) < 4 or not fields[0].isdigit():
            skipped += 1
            continue
        ip = canonical_ip(fields[2])
        if ip is None:
            skipped += 1
            continue
        mac: str | None = None
        if ":" not in ip:
            hwaddr = fields[1].lower()
            mac = normalise_mac(hwaddr)
            if mac is None and not (_HWTYPE_PREFIXED.fullmatch(hwaddr) or _HEX_COLONS.fullmatch(hwaddr)):
                skipped += 1  # not even a non-Ethernet hardware address
                continue
        # For IPv6 the second field is the IAID: the only hardware address
        # would be inside the client's DUID, which the client makes up.
        expiry = int(fields[0])
        hostname = None if fields[3] == "*" else clean_name(fields[3])
        leases.append(Lease(ip, mac, hostname, expiry or None))
    return LeaseFile(tuple(leases), skipped)


def parse_odhcpd(text: str) -> LeaseFile:
    """Parse odhcpd's state file or its hosts file (see the module docstring).

    A hosts line gives an address and a name with no MAC or expiry; a state
    line gives the name, expiry and, for DHCPv4, the MAC. Both kinds appear
    in the same file; plain ``#`` comments are ignored.
    """
    leases: list[Lease] = []
    skipped = 0
    for line in text.splitlines():
        fields = line.split()
        if not fields:
            continue
        if fields[0] == "#":
            parsed = _odhcpd_state_line(fields[1:])
            if parsed is None:
                skipped += 1
            else:
                leases.extend(parsed)
            continue
        if fields[0].startswith("#"):
            continue
        ip = canonical_ip(fields[0])
        if ip is None or len(fields) < 2:
            skipped += 1
            continue
        # "ip name.lan name": the last name is the short one the device asked for.
        leases.append(Lease(ip, None, clean_name(fields[-1]), None))
    return LeaseFile(tuple(leases), skipped)


def _odhcpd_state_line(fields: list[str]) -> list[Lease] | None:
    """``ifname duid iaid hostname lifetime assigned length addr/len...``.

    Returns [] for a comment that is not a state line, None for a state line
    that is damaged. The hostname is read as everything between the iaid and
    the three numbers before the addresses, so a name with a space in it
    does not shift the other fields.
    """
    addresses_at = len(fields)
    while addresses_at > 0 and "/" in fields[addresses_at - 1]:
        addresses_at -= 1
    if addresses_at == len(fields):
        return []  # a plain comment, or a lease with no address left: nothing to learn
    if addresses_at < 7:
        return None
    duid, iaid = fields[1], fields[2]
    name_fields = fields[3 : addresses_at - 3]
    try:
        lifetime = int(fields[addresses_at - 3])
    except ValueError:
        return None
    raw_name = " ".join(name_fields)
    raw_name = raw_name.removeprefix("broken\\x20")  # odhcpd marks names it will not put in DNS
    hostname = None if raw_name in ("", "-") else clean_name(raw_name)
    # -1 is a lease that never ends, 0 one that has run out.
    expiry = None if lifetime < 0 else lifetime
    mac = normalise_mac(duid) if iaid == "ipv4" else None
    leases: list[Lease] = []
    for entry in fields[addresses_at:]:
        address, _, length = entry.partition("/")
        ip = canonical_ip(address)
        if ip is None or not length.isdigit():
            return None
        if int(length) != (32 if ":" not in ip else 128):
            continue  # a delegated prefix, not one device's address
        leases.append(Lease(ip, mac, hostname, expiry))
    return leases
