"""EDNS options of a query that name the device behind a router.

A router running dnsmasq with ``add-mac`` and ``add-subnet`` adds the MAC
and the address of the device that really asked. Any device can put such
options in its own queries, so they are believed only from a trusted
forwarder (see ``identify``), and options that disagree or repeat are not
believed at all. The router must remove the options its own clients send:
configure it with ``--strip-mac --add-mac --strip-subnet --add-subnet=32,128``.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import struct
from typing import Final, TypeAlias

from dnsfilter.policy.identity import (
    ClientId,
    ClientTable,
    canonical_ip,
    mac_from_bytes,
    normalise_mac,
)

__all__ = [
    "OPTION_CLIENT_SUBNET",
    "OPTION_MAC",
    "OPTION_NOMINUM_DEVICE_ID",
    "client_subnet",
    "identify",
    "mac_from_edns",
]

# dnsmasq's dns-protocol.h: EDNS0_OPTION_MAC 65001 ("dyndns.org temporary
# assignment"), EDNS0_OPTION_NOMDEVICEID 65073 ("Nominum temporary
# assignment"); client subnet is IANA option 8 (RFC 7871).
OPTION_MAC: Final = 65001
OPTION_NOMINUM_DEVICE_ID: Final = 65073
OPTION_CLIENT_SUBNET: Final = 8

_OPTION_HEAD: Final = struct.Struct("!HH")
_ECS_HEAD: Final = struct.Struct("!HBB")
_FAMILY_BITS: Final = {1: 32, 2: 128}  # RFC 7871 uses IANA address family numbers

Network: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network


def identify(clients: ClientTable, ip: str, edns_options: bytes, from_router: bool) -> ClientId:
    """The device behind a query from ``ip`` with these EDNS options.

    ``from_router`` must be True only for a trusted forwarder's address:
    only then are the MAC and client-subnet options believed.
    """
    if from_router and edns_options:
        mac = mac_from_edns(edns_options)
        device_ip = forwarded_ip(edns_options)
        client = clients.identify_forwarded(ip, mac, device_ip)
        if client is not None:
            return client
    return clients.identify(ip)


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


def forwarded_ip(options: bytes) -> str | None:
    """The one device address in a trusted client-subnet option, if it names one."""
    network = client_subnet(options)
    if network is None or network.prefixlen != network.max_prefixlen:
        return None  # a whole subnet is not a device
    return canonical_ip(str(network.network_address))


