"""Who is asking: devices as the filter knows them, from known facts.

A device is keyed by its MAC address when it is known, else by its IP
address, and named from DHCP leases. ``ClientTable`` holds what discovery
learnt (neighbour table, leases) and answers, for a source address or for
the MAC and address a trusted router named (read from EDNS options by
``dnsfilter.dns.edns``), which device it is::

    client = table.identify("192.168.1.23")
    client.key   # "mac:aa:bb:cc:dd:ee:ff" or "ip:192.168.1.23"

Where the MAC comes from locally, the neighbour table (what the device's
frames actually carry) wins over a DHCP lease (what the device claimed when
it asked for an address). Addresses, MACs and names are written one way
here (``canonical_ip``, ``normalise_mac``, ``clean_name``), whoever reads them,
and a device key a person typed goes through ``normalise_device_key`` wherever
it enters (policy file, store, command line), so it is the key the resolver makes.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Protocol, TypeVar

from dnsfilter.errors import shown
from dnsfilter.policy.memo import make_room

__all__ = [
    "CACHE_LIMIT",
    "MAX_NAME_CHARS",
    "ClientId",
    "ClientTable",
    "KnownLease",
    "canonical_ip",
    "clean_name",
    "mac_from_bytes",
    "normalise_device_key",
    "normalise_mac",
]

# DHCP allows 255-byte host names; nobody reads one that long on a phone
# screen, and a cap keeps a hostile name from bloating every log line.
MAX_NAME_CHARS: Final = 64

# A MAC written with separators, one or two hex digits an octet (as BSD prints them).
MAC_WITH_SEPARATORS: Final = re.compile(r"[0-9a-f]{1,2}(?:[:-][0-9a-f]{1,2}){5}")
_MAC_BARE: Final = re.compile(r"[0-9a-f]{12}")
_MAC_DOTTED: Final = re.compile(r"[0-9a-f]{4}\.[0-9a-f]{4}\.[0-9a-f]{4}")

# Invisible characters that reorder or hide text: a name could otherwise
# display as something it is not ("evil" shown as "live").
_BIDI_CONTROLS: Final = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_DROPPED_CATEGORIES: Final = frozenset({"Cc", "Cs", "Zl", "Zp"})

MAC_KEY_EXAMPLE: Final = "mac:aa:bb:cc:dd:ee:ff"
IP_KEY_EXAMPLE: Final = "ip:192.168.1.23"

# Every address seen gets an entry; IPv6 privacy addresses (or a child
# making up addresses) could otherwise grow it forever. A LAN has far fewer
# devices, so forgetting the oldest when full costs a few slow lookups at most.
CACHE_LIMIT: Final = 4096

_K = TypeVar("_K")
_V = TypeVar("_V")


def canonical_ip(text: str) -> str | None:
    """``text`` as one canonical address string, or None if it is not an address.

    IPv4-mapped IPv6 (``::ffff:192.168.1.5``, what a dual-stack socket
    reports for an IPv4 client) becomes the IPv4 address, and a scope
    (``fe80::1%eth0``) is dropped, so one device has one key whichever way
    its address was written.
    """
    text = text.strip().partition("%")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


def normalise_mac(text: str) -> str | None:
    """A unicast MAC as ``aa:bb:cc:dd:ee:ff``, or None.

    Accepts colons or hyphens (one or two digits an octet, as BSD prints
    them), 12 bare hex digits and Cisco's ``aabb.ccdd.eeff``. Multicast and
    broadcast addresses and the all-zero address are not devices: None.
    """
    raw = _mac_bytes(text)
    return None if raw is None else mac_from_bytes(raw)


def _mac_bytes(text: str) -> bytes | None:
    """The six bytes of a MAC in any of the spellings ``normalise_mac`` accepts, or None."""
    text = text.strip().lower()
    if MAC_WITH_SEPARATORS.fullmatch(text):
        return bytes(int(part, 16) for part in re.split("[:-]", text))
    if _MAC_BARE.fullmatch(text) or _MAC_DOTTED.fullmatch(text):
        return bytes.fromhex(text.replace(".", ""))
    return None


def mac_from_bytes(raw: bytes) -> str | None:
    """Six raw bytes as a normalised unicast MAC, or None."""
    if len(raw) != 6 or raw[0] & 1 or not any(raw):
        return None  # wrong size, multicast/broadcast (I/G bit), or all zero
    return raw.hex(":")


def normalise_device_key(text: str) -> str:
    """A device key as a person may write it, as the resolver makes it:
    ``mac:`` and a unicast MAC in any spelling ``normalise_mac`` reads, or
    ``ip:`` and one IPv4 or IPv6 address (``canonical_ip``).

    Raises ValueError saying what to write instead: a key the resolver can
    never make would leave the device on the default profile without a word.
    """
    kind, colon, rest = text.strip().partition(":")
    kind, rest = kind.strip().lower(), rest.strip()
    quoted = f'"{shown(text.strip())}"'
    if kind == "mac" and colon:
        raw = _mac_bytes(rest)
        if raw is None:
            raise ValueError(
                f"the device key {quoted} is not a MAC address; write it like {MAC_KEY_EXAMPLE} "
                "(aa-bb-cc-dd-ee-ff and aabb.ccdd.eeff work too)"
            )
        mac = mac_from_bytes(raw)
        if mac is None:
            raise ValueError(
                f"the device key {quoted} is a broadcast, multicast or all-zero address, which no one device "
                f"has; write the device's own MAC address, like {MAC_KEY_EXAMPLE}"
            )
        return f"mac:{mac}"
    if kind == "ip" and colon:
        ip = canonical_ip(rest)
        if ip is not None:
            return f"ip:{ip}"
        if "/" in rest and _is_network(rest):
            raise ValueError(
                f"the device key {quoted} is a network, not one device; write the address of one device, "
                f"like {IP_KEY_EXAMPLE}"
            )
        raise ValueError(
            f"the device key {quoted} is not an IP address; write it like {IP_KEY_EXAMPLE} or ip:2001:db8::23"
        )
    raise ValueError(
        f"{quoted} is not a device key; write mac: and the device's MAC address (like {MAC_KEY_EXAMPLE}) "
        f"or ip: and its IP address (like {IP_KEY_EXAMPLE})"
    )


def _is_network(text: str) -> bool:
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return True


def clean_name(text: str) -> str | None:
    """A device name safe to store and show as text, or None when nothing is left.

    Control characters, line breaks and direction overrides are removed,
    spaces are collapsed and the result is capped at MAX_NAME_CHARS. Markup
    such as ``<script>`` is left alone on purpose: it is text, and whoever
    displays it escapes it.
    """
    kept = "".join(
        ch
        for ch in text
        if ch not in _BIDI_CONTROLS and unicodedata.category(ch) not in _DROPPED_CATEGORIES
    )
    name = " ".join(kept.split())[:MAX_NAME_CHARS].strip()
    return name or None


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


class KnownLease(Protocol):
    """A DHCP lease as discovery read it (``dnsfilter.service.leasefiles.Lease``)."""

    @property
    def ip(self) -> str: ...
    @property
    def mac(self) -> str | None: ...
    @property
    def hostname(self) -> str | None: ...
    @property
    def expiry(self) -> int | None: ...


class ClientTable:
    """Immutable snapshot: built from parsed ARP/lease data; looked up per query.

    The answers for a source address are kept (bounded), so a device asking
    again costs one dict lookup and allocates nothing.
    """

    __slots__ = ("_by_ip", "_macs", "_names_by_ip", "_names_by_mac")

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

    @classmethod
    def build(cls, arp: Mapping[str, str], leases: Sequence[KnownLease], *, now: float | None = None) -> ClientTable:
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

    def identify(self, ip: str) -> ClientId:
        """The device with the source address ``ip``."""
        known = self._by_ip.get(ip)
        if known is not None:
            return known
        client = self._identify_address(canonical_ip(ip) or ip)
        _remember(self._by_ip, ip, client)
        return client

    def identify_forwarded(self, router_ip: str, mac: str | None, device_ip: str | None) -> ClientId | None:
        """The device a trusted router named by its ``mac`` and/or address
        (``device_ip``), or None when it named neither."""
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
        make_room(cache, CACHE_LIMIT)
    cache[key] = value


