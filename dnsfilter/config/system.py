"""What this machine already has: the resolvers in its resolv.conf, and its time zone."""

from __future__ import annotations

import os
import re
import zoneinfo
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Final

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


def machine_time_zone(environ: Mapping[str, str] = os.environ, etc: Path = Path("/etc")) -> zoneinfo.ZoneInfo:
    """This machine's zone: $TZ, /etc/timezone or the /etc/localtime link; UTC if none says."""
    candidates = [environ.get("TZ", "").removeprefix(":")]
    try:
        candidates.append((etc / "timezone").read_text(encoding="utf-8").strip())
    except OSError:
        pass
    try:
        candidates.append(os.readlink(etc / "localtime").split("zoneinfo/", 1)[-1])
    except OSError:
        pass
    for name in candidates:
        if name:
            try:
                return zoneinfo.ZoneInfo(name)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
                continue
    return zoneinfo.ZoneInfo("UTC")


# The names of UTC itself (tzdata's aliases of Etc/UTC and Etc/GMT), not of places
# that happen to be at UTC+0 part of the year (Europe/London).
_UTC_NAMES: Final = frozenset(
    {"UTC", "UCT", "Universal", "Zulu", "GMT", "GMT0", "GMT+0", "GMT-0", "Greenwich"}
    | {f"Etc/{name}" for name in ("UTC", "UCT", "Universal", "Zulu", "GMT", "GMT0", "GMT+0", "GMT-0", "Greenwich")}
)


def utc_time_zone_warning(
    time_zone: str | None, machine_zone: zoneinfo.ZoneInfo, *, web_page_unknown: bool = False
) -> str | None:
    """What to tell the parent when schedules follow UTC only because no zone was chosen.

    Most Raspberry Pi, router and cloud images run on UTC, so "bedtime 21:30"
    would start at 21:30 UTC: 04:30 in the morning in Vietnam. ``time_zone`` is
    the zone in force (the file's, or the web page's when known: else say
    ``web_page_unknown``).
    """
    if time_zone is not None or machine_zone.key not in _UTC_NAMES:
        return None
    unless = "unless one was chosen on the web page, " if web_page_unknown else ""
    return (
        f"no time zone is set and this machine's time zone is UTC, so {unless}rules and bedtimes "
        "follow UTC (bedtime 21:30 starts at 21:30 UTC); set the family's zone with time_zone: in the "
        "configuration (e.g. time_zone: Asia/Ho_Chi_Minh), or choose it on the web page"
    )
