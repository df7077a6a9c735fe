"""The values inside the configuration file that are written as text.

Each ``parse_*`` function reads one kind of value (a listen address, an
upstream server, a DNS name, a network...) and raises ValueError with a
message for the parent that says what to write instead. ``config`` ties them
to keys; they live apart so the file format stays readable on one page.
"""

from __future__ import annotations

import difflib
import functools
import ipaddress
import re
import unicodedata
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
    """Read ``127.0.0.1:5300``, ``[::1]:53``, ``0.0.0.0:53`` or a bare address like ``::``."""
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


class Secret(str):
    """Text that must not be shown: printed or logged, it reads ``<hidden>``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<hidden>"

    __str__ = __repr__


_TOKEN: Final = re.compile(r"[A-Za-z0-9._~+/-]+=*\Z")
TOKEN_MIN: Final = 16
TOKEN_MAX: Final = 256


def parse_metrics_token(text: str) -> Secret:
    """A bearer token (RFC 6750 letters), long enough not to be guessed. Messages never repeat it."""
    token = text.strip()
    make_one = "make a random one, for example with: openssl rand -hex 32"
    if len(token) < TOKEN_MIN:
        raise ValueError(f"is too short to keep the metrics private (at least {TOKEN_MIN} characters); {make_one}")
    if len(token) > TOKEN_MAX:
        raise ValueError(f"is longer than {TOKEN_MAX} characters; {make_one}")
    if not _TOKEN.match(token):
        raise ValueError(
            "may hold only letters, digits and - . _ ~ + / (and = at the end), no spaces or quotes; " + make_one
        )
    return Secret(token)


def parse_file_path(text: str) -> str:
    if not text.strip():
        raise ValueError("is empty; write a file path such as /var/lib/misc/dnsmasq.leases")
    return text.strip()


def parse_time_zone(text: str) -> str:
    """A zone name such as Asia/Ho_Chi_Minh; a city or country instead is answered with its zone."""
    name = text.strip()
    if not name:
        raise ValueError("is empty; write the family's zone, such as Asia/Ho_Chi_Minh, or ~ for this machine's")
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f'"{name}" is not a time zone name; {_time_zone_hint(name)}') from None
    return name


# Places parents write that are not zone names (cities, countries, country
# codes), with the zone to write for each. A country listed under several
# zones gets all of them suggested. Zone names themselves, and their last
# part ("Ho Chi Minh", "new york"), need no line here.
_PLACES: Final = """
Asia/Ho_Chi_Minh: Vietnam, Viet Nam, VN, Hanoi, Saigon, Ho Chi Minh City, HCMC, TP HCM, TPHCM, Da Nang,
    Hai Phong, Can Tho, Hue, Nha Trang, Da Lat, Vung Tau, Bien Hoa, Quy Nhon, Ha Long
Asia/Shanghai: China, CN, Beijing, Peking, Shenzhen, Guangzhou, Chengdu, Wuhan, Hangzhou, Nanjing, Tianjin
Asia/Kolkata: India, IN, Delhi, New Delhi, Mumbai, Bombay, Bangalore, Bengaluru, Chennai, Madras, Hyderabad, Pune
America/New_York: United States, USA, US, Washington, Washington DC, Boston, Philadelphia, Miami, Atlanta
America/Chicago: United States, USA, US, Houston, Dallas, Austin, San Antonio, Minneapolis, New Orleans
America/Denver: United States, USA, US, Salt Lake City, Albuquerque
America/Los_Angeles: United States, USA, US, California, San Francisco, San Jose, San Diego, Seattle,
    Portland, Las Vegas, Sacramento
Australia/Sydney: Australia, AU, Canberra
Australia/Melbourne: Australia, AU
Australia/Brisbane: Australia, AU, Gold Coast, Queensland
Australia/Perth: Australia, AU
Asia/Seoul: Korea, South Korea, KR, Busan, Incheon
Asia/Tokyo: JP, Osaka, Kyoto, Yokohama, Nagoya, Sapporo, Fukuoka
Asia/Taipei: Taiwan, TW, Kaohsiung
Asia/Hong_Kong: HK
Asia/Bangkok: Thailand, TH, Phuket, Chiang Mai, Pattaya
Asia/Phnom_Penh: Cambodia, KH, Siem Reap
Asia/Vientiane: Laos, LA
Asia/Yangon: Myanmar, Burma, MM, Mandalay
Asia/Kuala_Lumpur: Malaysia, MY, KL, Penang, Johor Bahru
Asia/Singapore: SG
Asia/Jakarta: Indonesia, ID, Bandung, Surabaya
Asia/Makassar: Indonesia, ID, Bali, Denpasar
Asia/Jayapura: Indonesia, ID
Asia/Manila: Philippines, PH, Cebu, Quezon City, Davao
Asia/Dubai: United Arab Emirates, UAE, AE, Abu Dhabi, Sharjah
Europe/London: United Kingdom, UK, England, Britain, Great Britain, Scotland, Wales, Manchester,
    Birmingham, Edinburgh, Glasgow, Liverpool
Europe/Paris: France, FR, Lyon, Marseille, Toulouse
Europe/Berlin: Germany, Deutschland, DE, Munich, München, Muenchen, Frankfurt, Hamburg, Cologne, Köln
Europe/Moscow: Russia, RU, Saint Petersburg, St Petersburg
Asia/Yekaterinburg: Russia, RU
Asia/Novosibirsk: Russia, RU
Asia/Vladivostok: Russia, RU
America/Toronto: Canada, Ottawa, Montreal
America/Vancouver: Canada, British Columbia
Pacific/Auckland: New Zealand, Wellington, Christchurch
"""


def _place_key(text: str) -> str:
    """``text`` as it is compared: its last part after "/", without case, accents, spaces or dashes."""
    place = unicodedata.normalize("NFKD", text.rsplit("/", 1)[-1].casefold().replace("đ", "d"))
    return "".join(char for char in place if char.isalnum() and not unicodedata.combining(char))


@functools.cache
def _zones_by_place() -> dict[str, tuple[str, ...]]:
    """Place key -> the zones to suggest: the table above, then the last part of every zone name."""
    known = zoneinfo.available_timezones()
    places: dict[str, tuple[str, ...]] = {}
    for line in re.sub(r"\n\s+", " ", _PLACES).strip().splitlines():
        zone, _, names = line.partition(":")
        if zone in known:  # a system with an older zone database
            for key in map(_place_key, names.split(",")):
                if zone not in places.get(key, ()):
                    places[key] = (*places.get(key, ()), zone)
    by_last_part: dict[str, list[str]] = {}
    for zone in known:
        if not any(char.isdigit() for char in zone):  # Etc/GMT+7 is UTC-7: never suggested
            by_last_part.setdefault(_place_key(zone), []).append(zone)
    for key, zones in by_last_part.items():
        # Of two names for one zone (America/Buenos_Aires, America/Argentina/Buenos_Aires), the longer.
        places.setdefault(key, (max(zones, key=lambda zone: (zone.count("/"), zone)),))
    return places


_OFFSET: Final = re.compile(r"(?i)((utc|gmt)\s*[+-]?|[+-])\s*\d")


def _time_zone_hint(name: str) -> str:
    if _OFFSET.match(name.rsplit("/", 1)[-1]):
        return "write the place, not its offset, such as Asia/Ho_Chi_Minh for UTC+7 (a place's zone knows its summer time)"
    same_but_case = [zone for zone in zoneinfo.available_timezones() if zone.casefold() == name.casefold()]
    if same_but_case:
        return f"write it with the capitals of the zone's name: {same_but_case[0]}"
    places = _zones_by_place()
    key = _place_key(name)
    zones = places.get(key)
    if zones is not None:
        place = name.rsplit("/", 1)[-1].replace("_", " ").strip()
        if len(zones) == 1:
            return f"for {place} write {zones[0]}"
        return f"for {place} write the zone of the family's part of it: {_either(zones)}"
    close = difflib.get_close_matches(key, list(places), n=1, cutoff=0.8) if key else []
    if close:
        return f"did you mean {_either(places[close[0]])}?"
    return "write the zone of the family's city, such as Asia/Ho_Chi_Minh, Europe/Berlin or America/New_York"


def _either(zones: tuple[str, ...]) -> str:
    return zones[0] if len(zones) == 1 else f"{', '.join(zones[:-1])} or {zones[-1]}"
