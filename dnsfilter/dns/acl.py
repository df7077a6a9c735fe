"""Who may ask: only clients on the home network get answers, so the filter is
never an open resolver on the internet."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Final

from dnsfilter.policy.memo import make_room

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_MEMO_LIMIT: Final = 4096


class ClientAcl:
    """Which client addresses get answers; results memoised per address."""

    __slots__ = ("_networks", "_memo")

    def __init__(self, networks: Iterable[Network]) -> None:
        self._networks = tuple(networks)
        self._memo: dict[str, bool] = {}

    def allows(self, address: str) -> bool:
        allowed = self._memo.get(address)
        if allowed is None:
            allowed = self._check(address)
            if len(self._memo) >= _MEMO_LIMIT:
                make_room(self._memo, _MEMO_LIMIT)
            self._memo[address] = allowed
        return allowed

    def _check(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip in network for network in self._networks)
