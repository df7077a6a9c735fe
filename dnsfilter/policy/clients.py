"""Who is asking: from a query's source address (and, behind a router, its
EDNS options) to a device identity.

A device is keyed by its MAC address when it is known, else by its IP
address, and named from DHCP leases::

    table = await read_client_sources(ClientSourcePaths())   # every ~30 s
    client = table.identify(ip, query.edns_options, from_router=ip in routers)
    client.key   # "mac:aa:bb:cc:dd:ee:ff" or "ip:192.168.1.23"

The child on the LAN is the adversary. Any device can put a MAC option or
a client-subnet option in its own queries, so both are believed only when
the query comes from the configured router, whose dnsmasq adds them for the
device that really asked. That router must also remove the options its own
clients send: with ``add-mac`` alone dnsmasq only adds a MAC option when the
query has none, and passes a child's forged one through. Configure it with
``--strip-mac --add-mac --strip-subnet --add-subnet=32,128``. As a second
line of defence, options that disagree or repeat are not believed at all.

Where the MAC comes from locally, the neighbour table (what the device's
frames actually carry) wins over a DHCP lease (what the device claimed when
it asked for an address).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import errno
import ipaddress
import logging
import os
import struct
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final, TypeAlias, TypeVar

from dnsfilter.policy.clientsources import (
    Lease,
    Neighbours,
    canonical_ip,
    mac_from_bytes,
    normalise_mac,
    parse_dnsmasq_leases,
    parse_ip_neigh,
    parse_odhcpd,
    parse_proc_arp,
)

__all__ = [
    "OPTION_CLIENT_SUBNET",
    "OPTION_MAC",
    "OPTION_NOMINUM_DEVICE_ID",
    "ClientId",
    "ClientSourcePaths",
    "ClientTable",
    "client_subnet",
    "mac_from_edns",
    "read_client_sources",
]

log = logging.getLogger(__name__)

# dnsmasq's dns-protocol.h: EDNS0_OPTION_MAC 65001 ("dyndns.org temporary
# assignment"), EDNS0_OPTION_NOMDEVICEID 65073 ("Nominum temporary
# assignment"); client subnet is IANA option 8 (RFC 7871).
OPTION_MAC: Final = 65001
OPTION_NOMINUM_DEVICE_ID: Final = 65073
OPTION_CLIENT_SUBNET: Final = 8

# Every address seen gets an entry; IPv6 privacy addresses (or a child
# making up addresses) could otherwise grow it forever. A LAN has far fewer
# devices, so clearing it when full costs a few slow lookups at most.
CACHE_LIMIT: Final = 4096

_OPTION_HEAD: Final = struct.Struct("!HH")
_ECS_HEAD: Final = struct.Struct("!HBB")
_FAMILY_BITS: Final = {1: 32, 2: 128}  # RFC 7871 uses IANA address family numbers

Network: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network
_K = TypeVar("_K")
_V = TypeVar("_V")


@dataclass(frozen=True, slots=True)
class ClientId:
    """The device behind a query.

    ``source`` says how the MAC was learnt: "edns" (from the router's
    option), "arp" (neighbour table), "lease" (DHCP lease) or "ip-only".
    """

    key: str
    ip: str
    mac: str | None
    name: str | None
    source: str


def _options(data: bytes) -> list[tuple[int, bytes]] | None:
    """The (code, value) pairs of an OPT record's data, or None if it is damaged."""
    found: list[tuple[int, bytes]] = []
    pos, end = 0, len(data)
    while pos < end:
        if pos + 4 > end:
            return None
        code, length = _OPTION_HEAD.unpack_from(data, pos)
        pos += 4
        if pos + length > end:
            return None
        found.append((code, data[pos : pos + length]))
        pos += length
    return found


def _decode_mac_option(code: int, value: bytes) -> str | None:
    """One MAC-carrying option as a MAC, following dnsmasq's edns0.c.

    ``add-mac``: option 65001 with the raw hardware address (add_mac()).
    ``add-mac=base64``: option 65073 with the 6 bytes in 8 characters of
    standard base64, no padding (add_dns_client(), encoder()/char64()).
    ``add-mac=text``: option 65073 with ``aa:bb:cc:dd:ee:ff``, lower-case
    hex and colons, 17 characters (add_dns_client(), print_mac()).
    """
    if code == OPTION_MAC:
        return mac_from_bytes(value)
    if len(value) == 8:
        try:
            return mac_from_bytes(base64.b64decode(value, validate=True))
        except (binascii.Error, ValueError):
            return None
    if len(value) == 17 and value.isascii():
        return normalise_mac(value.decode("ascii"))
    return None


def mac_from_edns(options: bytes) -> str | None:
    """The device MAC that dnsmasq's ``add-mac`` put in these EDNS options, or None.

    None when there is no MAC option, when the options are damaged, or when
    there are several that do not all give the same unicast MAC (a forged
    option passed through next to the router's own).
    """
    found = _options(options)
    if found is None:
        return None
    mac: str | None = None
    for code, value in found:
        if code != OPTION_MAC and code != OPTION_NOMINUM_DEVICE_ID:
            continue
        this = _decode_mac_option(code, value)
        if this is None or (mac is not None and this != mac):
            return None
        mac = this
    return mac


def client_subnet(options: bytes) -> Network | None:
    """The client subnet (RFC 7871 section 6) in these EDNS options, or None.

    The option is FAMILY (2 bytes), SOURCE PREFIX-LENGTH, SCOPE
    PREFIX-LENGTH, then exactly enough address bytes for the source prefix,
    with the bits past it zero. Anything else, or more than one such
    option, is None.
    """
    found = _options(options)
    if found is None:
        return None
    values = [value for code, value in found if code == OPTION_CLIENT_SUBNET]
    if len(values) != 1 or len(values[0]) < 4:
        return None
    value = values[0]
    family, source, scope = _ECS_HEAD.unpack_from(value)
    bits = _FAMILY_BITS.get(family)
    if bits is None or source > bits or scope > bits:
        return None
    address = value[4:]
    if len(address) != (source + 7) // 8:
        return None
    padded = address + bytes(bits // 8 - len(address))
    try:
        if bits == 32:
            return ipaddress.IPv4Network((padded, source))
        return ipaddress.IPv6Network((padded, source))
    except ValueError:
        return None  # bits set past the prefix


def _forwarded_ip(options: bytes) -> str | None:
    """The one device address in a trusted client-subnet option, if it names one."""
    network = client_subnet(options)
    if network is None or network.prefixlen != network.max_prefixlen:
        return None  # a whole subnet is not a device
    return canonical_ip(str(network.network_address))


class ClientTable:
    """Immutable snapshot: built from parsed ARP/lease data; looked up per query.

    The answers for a source address are kept (bounded), so a device asking
    again costs one dict lookup and allocates nothing.
    """

    __slots__ = ("_by_ip", "_forwarded", "_macs", "_names_by_ip", "_names_by_mac")

    def __init__(
        self,
        macs: Mapping[str, tuple[str, str]],
        names_by_mac: Mapping[str, str],
        names_by_ip: Mapping[str, str],
    ) -> None:
        self._macs = dict(macs)  # ip -> (mac, "arp" | "lease")
        self._names_by_mac = dict(names_by_mac)
        self._names_by_ip = dict(names_by_ip)
        self._by_ip: dict[str, ClientId] = {}
        self._forwarded: dict[bytes, tuple[str, ClientId]] = {}  # options -> (router ip, answer)

    @classmethod
    def build(cls, arp: Mapping[str, str], leases: Sequence[Lease], *, now: float | None = None) -> ClientTable:
        """A table from a neighbour table (ip -> mac) and DHCP leases.

        Leases that ended before ``now`` are left out when ``now`` is given.
        Where leases disagree, the one that ends last wins. A name goes with
        the MAC its lease was given to; only leases without a MAC (DHCPv6,
        hosts lines) name an address, so a device that takes over another's
        address does not take over its name too.
        """
        macs: dict[str, tuple[str, str]] = {}
        names_by_mac: dict[str, str] = {}
        names_by_ip: dict[str, str] = {}
        forever = float("inf")
        current = [lease for lease in leases if now is None or lease.expiry is None or lease.expiry > now]
        current.sort(key=lambda lease: forever if lease.expiry is None else lease.expiry)
        for lease in current:
            ip = canonical_ip(lease.ip)
            if ip is None:
                continue
            mac = normalise_mac(lease.mac) if lease.mac else None
            if mac is not None:
                macs[ip] = (mac, "lease")
                if lease.hostname:
                    names_by_mac[mac] = lease.hostname
            elif lease.hostname:
                names_by_ip[ip] = lease.hostname
        for ip in macs:
            names_by_ip.pop(ip, None)
        for raw_ip, raw_mac in arp.items():
            ip, mac = canonical_ip(raw_ip), normalise_mac(raw_mac)
            if ip is not None and mac is not None:
                macs[ip] = (mac, "arp")
        return cls(macs, names_by_mac, names_by_ip)

    def __len__(self) -> int:
        """How many addresses have a known MAC."""
        return len(self._macs)

    def identify(self, ip: str, edns_options: bytes, from_router: bool) -> ClientId:
        """The device behind a query from ``ip``.

        ``from_router`` must be True only for the configured router's
        address: only then are the MAC and client-subnet options believed.
        """
        if from_router and edns_options:
            hit = self._forwarded.get(edns_options)
            if hit is not None and hit[0] == ip:
                return hit[1]
            client = self._identify_forwarded(ip, edns_options)
            if client is not None:
                _remember(self._forwarded, edns_options, (ip, client))
                return client
        known = self._by_ip.get(ip)
        if known is not None:
            return known
        client = self._identify_address(canonical_ip(ip) or ip)
        _remember(self._by_ip, ip, client)
        return client

    def _identify_forwarded(self, router_ip: str, options: bytes) -> ClientId | None:
        mac = mac_from_edns(options)
        device_ip = _forwarded_ip(options)
        if mac is None:
            return None if device_ip is None else self._identify_address(device_ip)
        ip = device_ip or canonical_ip(router_ip) or router_ip
        name = self._names_by_mac.get(mac) or (self._names_by_ip.get(device_ip) if device_ip else None)
        return ClientId(f"mac:{mac}", ip, mac, name, "edns")

    def _identify_address(self, ip: str) -> ClientId:
        known = self._macs.get(ip)
        if known is None:
            return ClientId(f"ip:{ip}", ip, None, self._names_by_ip.get(ip), "ip-only")
        mac, source = known
        name = self._names_by_mac.get(mac) or self._names_by_ip.get(ip)
        return ClientId(f"mac:{mac}", ip, mac, name, source)


def _remember(cache: dict[_K, _V], key: _K, value: _V) -> None:
    if len(cache) >= CACHE_LIMIT:
        cache.clear()
    cache[key] = value


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
