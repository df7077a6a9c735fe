"""Names that belong to the home network and must never leave it.

Queries for the local domain, ``home.arpa`` (RFC 8375), single-label names
and the reverse zones of private address ranges (RFC 6303) go to the home
router, or get NXDOMAIN when no router is configured: sending them to a
public resolver leaks the family's device names and never works anyway.
"""

from __future__ import annotations

from collections.abc import Iterable

from dnsfilter.dns.wire import TYPE_A, TYPE_AAAA
from dnsfilter.policy.domains import DomainMap

_ADDRESS_TYPES = frozenset((TYPE_A, TYPE_AAAA))

PRIVATE_REVERSE_ZONES: tuple[str, ...] = (
    "10.in-addr.arpa",
    *(f"{octet}.172.in-addr.arpa" for octet in range(16, 32)),
    "168.192.in-addr.arpa",
    "254.169.in-addr.arpa",
    "c.f.ip6.arpa",  # fc00::/7, unique local
    "d.f.ip6.arpa",
    "8.e.f.ip6.arpa",  # fe80::/10, link local
    "9.e.f.ip6.arpa",
    "a.e.f.ip6.arpa",
    "b.e.f.ip6.arpa",
)
ALWAYS_LOCAL: tuple[str, ...] = ("home.arpa", "lan", "local", "internal")


class LocalZones:
    __slots__ = ("_zones",)

    def __init__(self, local_domain: str, extra: Iterable[str] = ()) -> None:
        names = {local_domain, *ALWAYS_LOCAL, *PRIVATE_REVERSE_ZONES, *extra}
        self._zones: DomainMap[bool] = DomainMap((name, True) for name in names if name)

    def covers(self, qname: str, qtype: int) -> bool:
        if "." not in qname:
            # An address query for a single label ("printer") is for a device
            # on the LAN; other types (DS, DNSKEY, NS of a TLD) are public.
            return qname != "" and qtype in _ADDRESS_TYPES
        return self._zones.lookup(qname) is not None
