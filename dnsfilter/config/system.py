"""What this machine already has: the resolvers in its resolv.conf."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from dnsfilter.config.values import IPAddress, ListenAddress, ip_or_none
from dnsfilter.dns.upstream.servers import UpstreamServer
from dnsfilter.errors import ConfigError


def system_upstreams(
    resolv_conf: str | Path = "/etc/resolv.conf", exclude: Iterable[ListenAddress] = ()
) -> tuple[UpstreamServer, ...]:
    """The ``nameserver`` lines of resolv.conf as UDP upstreams, minus this filter itself.

    When the machine's resolver is the filter (its own address on port 53),
    forwarding there would loop, so such entries are skipped.
    """
    source = str(resolv_conf)
    advice = "add upstream servers to the config, for example upstream: {servers: [9.9.9.9]}"
    try:
        lines = Path(resolv_conf).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as error:
        raise ConfigError(source, [f"cannot read {source} ({error.strerror}); {advice}"]) from error
    listening = [(ip_or_none(listen.host), listen.port) for listen in exclude]
    servers: list[UpstreamServer] = []
    ourselves: list[str] = []
    for line in lines:
        words = re.split(r"[#;]", line, maxsplit=1)[0].split()
        if len(words) < 2 or words[0] != "nameserver":
            continue
        address = ip_or_none(words[1])
        if address is None:
            continue  # the C library skips these as well
        server = UpstreamServer("udp", str(address), 53)
        if any(port == 53 and _is_same_machine(address, own) for own, port in listening):
            if str(address) not in ourselves:
                ourselves.append(str(address))
        elif server not in servers:
            servers.append(server)
    if not servers:
        itself = f" (only {', '.join(ourselves)}, which is this filter itself)" if ourselves else ""
        raise ConfigError(source, [f"no usable nameserver in {source}{itself}; {advice}"])
    return tuple(servers)


def _is_same_machine(server: IPAddress, listen: IPAddress | None) -> bool:
    if listen is None:
        return False
    if server == listen:
        return True
    if not listen.is_unspecified:
        return False
    # 0.0.0.0 takes every local IPv4 address; :: takes every address, IPv4 too (dual stack).
    # Of those, only loopback ones can be recognised without asking the interfaces.
    local = server.is_loopback or server.is_unspecified
    return local and (listen.version == 6 or server.version == 4)
