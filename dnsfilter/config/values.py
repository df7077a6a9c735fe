"""The values inside the configuration file that are written as text.

Each ``parse_*`` function reads one kind of value (a listen address, an
upstream server, a DNS name, a network...) and raises ValueError with a
message for the parent that says what to write instead. ``config`` ties them
to keys; they live apart so the file format stays readable on one page.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
import zoneinfo
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from dnsfilter.dns.upstream.servers import (
    DEFAULT_DOH_PATH,
    DEFAULT_PORTS,
    UpstreamServer,
)
from dnsfilter.policy.domains import checked_name

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


_LABEL: Final = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)\Z")
_URL_PATH: Final = re.compile(r"/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*\Z")


def _split_host_port(text: str) -> tuple[str, str | None]:
    """Split ``host``, ``host:port``, ``[v6]`` or ``[v6]:port``; a bare IPv6 has no port."""
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket:
            raise ValueError(f'"{text}" is missing the closing "]" after the IPv6 address')
        if not isinstance(ip_or_none(host), ipaddress.IPv6Address):
            raise ValueError(f'"{text}": brackets are only for IPv6 addresses, like [2620:fe::fe]:53')
        if rest and not rest.startswith(":"):
            raise ValueError(f'"{text}": only ":PORT" may follow the "]"')
        return host, rest[1:] if rest else None
    if text.count(":") == 1:
        host, _, port = text.partition(":")
        return host, port
    return text, None


def _port(text: str | None, default: int, lowest: int, whole: str) -> int:
    if text is None:
        return default
    if not (text.isascii() and text.isdigit()) or not lowest <= int(text) <= 65535:
        raise ValueError(f'"{whole}" has the port "{text}"; a port is a number from {lowest} to 65535')
    return int(text)


def ip_or_none(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host


@dataclass(frozen=True, slots=True)
class ListenAddress:
    """An address and port to listen on; port 0 picks any free port (tests)."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"{_bracketed(self.host)}:{self.port}"


def parse_listen(text: str, default_port: int = 53) -> ListenAddress:
    """Read ``127.0.0.1:5353``, ``[::1]:53``, ``0.0.0.0:53`` or a bare address like ``::``."""
    whole = text.strip()
    if not whole:
        raise ValueError("is empty; write an address and port such as 127.0.0.1:53 or [::1]:53")
    host, port_text = _split_host_port(whole)
    if not host:
        raise ValueError(
            f'"{whole}" has no address; write 0.0.0.0:{port_text or default_port} '
            f"for every IPv4 address of this machine, or [::]:{port_text or default_port} for every IPv6 one"
        )
    address = ip_or_none(host)
    if address is None:
        raise ValueError(
            f'"{host}" is not an IP address; listen on an address of this machine, '
            f"such as 127.0.0.1:{default_port} or 0.0.0.0:{default_port} (all IPv4 addresses)"
        )
    return ListenAddress(str(address), _port(port_text, default_port, 0, whole))


def parse_web_listen(text: str) -> ListenAddress:
    return parse_listen(text, default_port=8080)


_FORMS: Final = {
    "udp": "IP[:PORT]",
    "tcp": "tcp://IP[:PORT]",
    "tls": "tls://HOST[:PORT]",
    "https": "https://HOST[:PORT]/PATH",
}


def parse_upstream(text: str) -> UpstreamServer:
    """Read ``9.9.9.9``, ``[2620:fe::fe]:53``, ``tcp://…``, ``tls://HOST[:PORT][#NAME]``,
    ``https://HOST[:PORT]/PATH[#NAME]`` and the like."""
    whole = text.strip()
    if not whole:
        raise ValueError("is empty; write a server such as 9.9.9.9 or tls://9.9.9.9#dns.quad9.net")
    if any(char.isspace() for char in whole):
        raise ValueError(f'"{whole}" contains a space; write one server per entry')
    scheme, separator, rest = whole.partition("://")
    protocol = scheme.lower() if separator else "udp"
    if not separator:
        rest = whole
    if protocol not in DEFAULT_PORTS:
        raise ValueError(f'"{whole}": "{scheme}://" is not supported; use udp://, tcp://, tls:// or https://')
    form = _FORMS[protocol]
    rest, hash_sign, name = rest.partition("#")
    path = ""
    if protocol == "https":
        rest, slash, path = rest.partition("/")
        path = f"/{path}" if slash else DEFAULT_DOH_PATH
        if not _URL_PATH.match(path):
            raise ValueError(f'"{whole}" has an unusable path "{path}"; write it as {form}')
    elif "/" in rest:
        raise ValueError(f'"{whole}" has a path, but only https:// servers have one; write it as {form}')
    if not rest:
        raise ValueError(f'"{whole}" has no host name; write it as {form}')
    host, port_text = _split_host_port(rest)
    if not host:
        raise ValueError(f'"{whole}" has no host name; write it as {form}')
    port = _port(port_text, DEFAULT_PORTS[protocol], 1, whole)
    address = ip_or_none(host)
    if address is not None:
        host = str(address)
    elif protocol in ("udp", "tcp"):
        if re.fullmatch(r"[0-9.:]*", host):
            raise ValueError(f'"{host}" is not a valid IP address; check the numbers')
        raise ValueError(
            f'"{host}" is a host name, but a plain DNS server needs an IP address '
            f"(finding it by name would itself need DNS); write its IP address, or use tls://{host}"
        )
    else:
        host = checked_name(host)
    if hash_sign and protocol not in ("tls", "https"):
        raise ValueError(
            f'"{whole}": only tls:// and https:// servers have a certificate name; remove "#{name}"'
        )
    if hash_sign and not name:
        raise ValueError(
            f'"{whole}" has nothing after "#"; write the certificate name there, or remove the "#"'
        )
    tls_name = parse_certificate_name(name) if hash_sign else None
    if tls_name is None and address is None and protocol in ("tls", "https"):
        tls_name = host
    return UpstreamServer(protocol, host, port, path, tls_name)


def parse_certificate_name(text: str) -> str:
    if not text.strip():
        raise ValueError(
            "the certificate name is empty; write the server's name, e.g. tls://9.9.9.9#dns.quad9.net"
        )
    if ip_or_none(text.strip()) is not None:
        raise ValueError(
            f'the certificate name "{text}" is an IP address; write a host name, or leave it out '
            "to check the certificate against the server's address"
        )
    return checked_name(text)


def parse_router(text: str) -> UpstreamServer:
    router = parse_upstream(text)
    if router.protocol != "udp":
        raise ValueError(
            f'"{text}": the router is asked over plain DNS; write just its IP address, e.g. 192.168.1.1'
        )
    return router


def parse_network(text: str) -> Network:
    given = text.strip()
    try:
        return ipaddress.ip_network(given)
    except ValueError:
        pass
    try:
        network = ipaddress.ip_network(given, strict=False)
    except ValueError:
        raise ValueError(
            f'"{given}" is not a network; write one like 192.168.1.0/24, or one address like 192.168.1.20'
        ) from None
    raise ValueError(
        f'"{given}" is not the start of its network; write {network} for the whole network, '
        f"or {given.split('/')[0]} alone for that one address"
    )


def parse_blocked_name(text: str) -> str:
    name = text.strip()
    # "*.example.org" blocks exactly what "example.org" blocks: the name and every subdomain.
    name = name.removeprefix("*.")
    if "*" in name:
        raise ValueError(f'"{text}": a * is only allowed at the start, as in *.example.org')
    if ip_or_none(name) is not None:
        raise ValueError(f'"{text}" is an IP address; the deny list holds names such as example.org')
    return checked_name(name)


def parse_database_url(text: str) -> str:
    url = text.strip()
    for prefix in ("sqlite:///", "postgresql://", "postgresql+psycopg://"):
        if url.startswith(prefix) and len(url) > len(prefix):
            return url
    examples = (
        "write sqlite:////path/to/dnsfilter.db or postgresql://USER@HOST/DATABASE, "
        "or remove the key to use a file in data_dir"
    )
    if "://" not in url:
        raise ValueError(f"is not a database URL; {examples}")
    # Only the scheme is repeated: the rest of a database URL may hold a password.
    scheme = url.split("://", 1)[0]
    if scheme == "sqlite":
        raise ValueError(
            "an SQLite URL is sqlite:/// followed by the file (four slashes for an absolute path): "
            "sqlite:////var/lib/dnsfilter/dnsfilter.db"
        )
    if scheme.startswith("postgresql"):
        raise ValueError(
            "a PostgreSQL URL needs a server and database after postgresql:// (postgresql+psycopg:// "
            "is the only driver accepted): postgresql://USER@HOST/DATABASE"
        )
    hint = ' (write "postgresql", not "postgres")' if scheme == "postgres" else ""
    raise ValueError(f'a database URL starting "{scheme}://" is not supported{hint}; {examples}')


def parse_directory(text: str) -> Path:
    if not text.strip():
        raise ValueError("is empty; write a directory such as /var/lib/dnsfilter")
    return Path(text.strip()).expanduser()


def parse_ip(text: str) -> str:
    """One IP address, in its canonical text form (how sockets report it)."""
    ip = ip_or_none(text.strip().removeprefix("[").removesuffix("]"))
    if ip is None:
        raise ValueError(f'"{text}" is not an IP address; write one like 192.168.1.1 or fd00::1')
    return str(ip)


def parse_instance_name(text: str) -> str:
    name = text.strip()
    if not name or len(name) > 64 or not name.isprintable():
        raise ValueError(f'"{text}" cannot name this filter; use up to 64 letters, digits or dashes, like pi-kitchen')
    return name


def parse_file_path(text: str) -> str:
    if not text.strip():
        raise ValueError("is empty; write a file path such as /var/lib/misc/dnsmasq.leases")
    return text.strip()


def machine_time_zone() -> zoneinfo.ZoneInfo:
    """This machine's zone: $TZ, /etc/timezone or the /etc/localtime link; UTC if none says."""
    candidates = [os.environ.get("TZ", "").removeprefix(":")]
    try:
        candidates.append(Path("/etc/timezone").read_text(encoding="utf-8").strip())
    except OSError:
        pass
    try:
        candidates.append(os.readlink("/etc/localtime").split("zoneinfo/", 1)[-1])
    except OSError:
        pass
    for name in candidates:
        if name:
            try:
                return zoneinfo.ZoneInfo(name)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
                continue
    return zoneinfo.ZoneInfo("UTC")


def parse_time_zone(text: str) -> str:
    name = text.strip()
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        close = difflib.get_close_matches(name, sorted(zoneinfo.available_timezones()), n=1)
        hint = (
            f'did you mean "{close[0]}"?'
            if close
            else "write a name such as Europe/Berlin or America/New_York"
        )
        raise ValueError(f'"{name}" is not a known time zone; {hint}') from None
    return name
