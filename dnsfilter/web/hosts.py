"""Which Host headers the page answers to: the box's own addresses, localhost,
and the names the parent configured (``web.hosts``).

Any other name is refused before a handler runs: a page on the internet can
point a name of its own at the box (DNS rebinding) and would then read the
API as if it were the box's own page; it cannot make the browser send one of
these Host headers.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from typing import Final

_MEMO_LIMIT: Final = 256


class HostAllowlist:
    def __init__(self, names: Iterable[str], listen_host: str, port: int) -> None:
        self.port = port
        self._names = {name.lower().rstrip(".") for name in names} | {"localhost"}
        hostname = socket.gethostname().lower()
        if hostname:
            self._names |= {hostname, f"{hostname}.local", f"{hostname}.lan", f"{hostname}.home.arpa"}
        self._listen_host = listen_host
        self._addresses: dict[str, bool] = {}

    def allows(self, host_header: str | None) -> bool:
        if not host_header:
            return False
        host, port = _split(host_header)
        if port is not None and port != self.port:
            return False
        if host in self._names:
            return True
        known = self._addresses.get(host)
        if known is None:
            known = _is_own_address(host, self._listen_host)
            if len(self._addresses) >= _MEMO_LIMIT:
                self._addresses.clear()
            self._addresses[host] = known
        return known


def _split(header: str) -> tuple[str, int | None]:
    text = header.strip().lower()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest.removeprefix(":")
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    else:
        host, port_text = text, ""
    if port_text and not (port_text.isascii() and port_text.isdigit()):  # "²" is a digit to isdigit()
        return "", None
    return host.rstrip("."), int(port_text) if port_text else None


def _is_own_address(host: str, listen_host: str) -> bool:
    """True for an IP address of this machine (where the page listens on all of them)
    or the very address it listens on."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if address.is_loopback:
        return True
    if not ipaddress.ip_address(listen_host).is_unspecified:
        return str(address) == str(ipaddress.ip_address(listen_host))
    family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    # Binding succeeds only for an address a local interface has.
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.bind((str(address), 0))
    except OSError:
        return False
    return True
