"""What to tell someone whose DNS port cannot be opened: which program
usually holds it, a port that is free now, or how to get a port below 1024."""

from __future__ import annotations

import errno
import socket

# The default DNS port for a try without root (dns.listen); 5353 is avahi's mDNS port.
TRY_PORT = 5300
MDNS_PORT = 5353


def listen_advice(host: str, port: int, transport: str, error: OSError) -> str:
    # uvloop wraps the bind's own error in one that has no errno.
    if error.errno is None and isinstance(error.__cause__, OSError):
        error = error.__cause__
    text = f"cannot answer DNS on {host} port {port} ({transport}): {error.strerror or error}."
    if error.errno == errno.EADDRINUSE:
        if port == MDNS_PORT:
            text += " Port 5353 is multicast DNS, which avahi-daemon holds on Raspberry Pi OS and Ubuntu."
        else:
            text += " Another program uses this port: if it is a DNS server (dnsmasq, systemd-resolved, Pi-hole), stop it."
        free = _free_port(host)
        if free is not None:
            text += f" Port {free} is free here: run with --listen {_address(host, free)} or set it in dns.listen."
        return text
    if port < 1024:
        text += (
            " Ports below 1024 need root or the CAP_NET_BIND_SERVICE capability"
            f" (the systemd unit grants it); or use a port such as {TRY_PORT} to try it out."
        )
    return text


def _free_port(host: str) -> int | None:
    """A port near TRY_PORT where both UDP and TCP can listen on ``host`` now, to suggest."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for port in range(TRY_PORT, TRY_PORT + 20):
        try:
            with socket.socket(family, socket.SOCK_DGRAM) as udp, socket.socket(family, socket.SOCK_STREAM) as tcp:
                udp.bind((host, port))
                tcp.bind((host, port))
        except OSError:
            continue
        return port
    return None


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
