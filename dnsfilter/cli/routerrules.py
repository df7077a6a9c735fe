"""``dnsfilter router-rules``: firewall rules for an OpenWrt router that keep every device on the filter.

A device can ignore the DNS server the router hands out: a server typed in by hand
(8.8.8.8), DNS over TLS or QUIC (port 853), DNS over HTTPS to a public resolver. All
of it passes through the router, which can send plain DNS to the filter and refuse the
encrypted kinds. Two forms: an nftables snippet for firewall4 (OpenWrt 22.03 and newer,
``/etc/nftables.d/``) and an iptables script for firewall3 (older OpenWrt).

The encrypted-DNS server addresses are the IP addresses written in the ``doh_bypass``
lists (the copy in use) and those the big public resolvers publish (below). Names are
never looked up: the rules must not depend on what a resolver answered the day they were
made, and the filter blocks those names itself. The text is made by pure functions of a
``RouterSetup``; ``rules_text`` reads the configuration and the lists and builds one.
"""

from __future__ import annotations

import gzip
import ipaddress
import re
import shlex
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final

from dnsfilter.config import Config, ListenAddress
from dnsfilter.config.values import ip_or_none
from dnsfilter.errors import DnsFilterError, UsageError, shown
from dnsfilter.lists.catalog import BLOCKLISTS_DIR, Source, load_catalog
from dnsfilter.lists.liststore import ListStore

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

FORMATS: Final = ("nft", "iptables")
DEFAULT_LAN_INTERFACE: Final = "br-lan"
DOH_CATEGORY: Final = "doh_bypass"
DNS_PORT: Final = 53
# IP version, its nftables address family and its meta nfproto name.
FAMILIES: Final = ((4, "ip", "ipv4"), (6, "ip6", "ipv6"))

# Addresses a filter on a home network can have: the private IPv4 ranges
# (RFC 1918) and IPv6 unique local addresses (RFC 4193). A public address
# would send a family's queries out of the house.
HOME_NETWORKS: Final = tuple(map(ipaddress.ip_network, ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")))

# The addresses the largest public resolvers publish for DNS over HTTPS, TLS
# and QUIC, IPv6 included (the lists hold IPv4 literals only), as each
# provider's own setup page gives them; apps with a resolver built in use these.
PUBLIC_RESOLVERS: Final[tuple[tuple[str, str], ...]] = (
    # developers.cloudflare.com/1.1.1.1/ip-addresses/: plain, malware-blocking, family
    ("Cloudflare", "1.1.1.1 1.0.0.1 1.1.1.2 1.0.0.2 1.1.1.3 1.0.0.3 2606:4700:4700::1111 2606:4700:4700::1001"
     " 2606:4700:4700::1112 2606:4700:4700::1002 2606:4700:4700::1113 2606:4700:4700::1003"),
    # developers.google.com/speed/public-dns/docs/using
    ("Google", "8.8.8.8 8.8.4.4 2001:4860:4860::8888 2001:4860:4860::8844"),
    # quad9.net/service/service-addresses-and-features: filtered, filtered with ECS, unfiltered
    ("Quad9", "9.9.9.9 149.112.112.112 9.9.9.11 149.112.112.11 9.9.9.10 149.112.112.10"
     " 2620:fe::fe 2620:fe::9 2620:fe::11 2620:fe::fe:11 2620:fe::10 2620:fe::fe:10"),
    # adguard-dns.io/kb/general/dns-providers/: default, family, unfiltered
    ("AdGuard", "94.140.14.14 94.140.15.15 94.140.14.15 94.140.15.16 94.140.14.140 94.140.14.141"
     " 2a10:50c0::ad1:ff 2a10:50c0::ad2:ff 2a10:50c0::bad1:ff 2a10:50c0::bad2:ff 2a10:50c0::1:ff 2a10:50c0::2:ff"),
    # OpenDNS's setup guides: OpenDNS Home and FamilyShield
    ("OpenDNS", "208.67.222.222 208.67.220.220 208.67.222.123 208.67.220.123 2620:119:35::35 2620:119:53::53"),
)  # fmt: skip

# Linux interface names: at most 15 characters; they are quoted into nft and shell text.
_INTERFACE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,14}")


@dataclass(frozen=True, slots=True)
class Request:
    """What was asked for on the command line (empty tuples: the defaults)."""

    format: str = "nft"
    filter_addresses: tuple[str, ...] = ()
    lan_interfaces: tuple[str, ...] = ()
    config_file: Path | None = None  # shown in the command that makes the rules again


@dataclass(frozen=True, slots=True)
class Target:
    """Where one IP version's queries are sent: the filter's address and port."""

    address: Address
    port: int

    def __str__(self) -> str:
        return f"[{self.address}]:{self.port}" if self.address.version == 6 else f"{self.address}:{self.port}"


@dataclass(frozen=True, slots=True)
class RouterSetup:
    filters: tuple[Address, ...]  # every address of the filter: its own traffic is left alone
    targets: tuple[Target, ...]  # at most one per IP version
    lan_interfaces: tuple[str, ...]
    doh: tuple[Address, ...]  # encrypted-DNS servers, sorted
    notes: tuple[str, ...]  # where the addresses came from, for the comment
    command: str  # the command line that makes these rules again
    router: str  # the router's address in the install lines

    def target(self, version: int) -> Target | None:
        return next((target for target in self.targets if target.address.version == version), None)

    def own(self, version: int) -> list[str]:
        return [str(address) for address in self.filters if address.version == version]

    def doh_of(self, version: int) -> list[str]:
        return [str(address) for address in self.doh if address.version == version]


# --- checking what was asked ----------------------------------------------------------


def home_address(text: str) -> Address:
    """``text`` as the filter's address on the home network; UsageError says what to give instead."""
    address = ip_or_none(text.strip())
    if address is None:
        raise UsageError(
            f'"{shown(text)}" is not an IP address. Give this box\'s address on the home network, like '
            "--filter-address 192.168.1.2 (see it on the box with: ip -brief address)."
        )
    if not _at_home(address):
        raise UsageError(
            f"{address} is not an address on a home network, so the router cannot send the devices' "
            "queries to it. Give this box's own LAN address: IPv4 addresses at home start with 192.168., "
            "10. or 172.16. to 172.31., IPv6 ones with fd (see them on the box with: ip -brief address)."
        )
    return address


def filter_targets(
    given: Sequence[str], listen: Sequence[ListenAddress], settings: str
) -> tuple[tuple[Address, ...], tuple[Target, ...], str]:
    """The filter's addresses, where each IP version's queries go, and a note on where they came from.

    ``given`` (--filter-address) wins; else the home-network addresses in ``dns.listen``. The port
    is the one the filter listens on at that address (or on every address), else 53.
    """
    ports = {address: entry.port for entry in listen if (address := ip_or_none(entry.host)) is not None}
    if given:
        filters = tuple(dict.fromkeys(home_address(text) for text in given))
        origin = "--filter-address"
    else:
        filters = tuple(address for address in ports if _at_home(address))
        origin = f"dns.listen in {shown(settings)}"
        if not filters:
            listed = ", ".join(str(entry) for entry in listen) or "empty"
            raise UsageError(
                f"The filter's address on the home network is not known: dns.listen is {listed} "
                f"(settings from {shown(settings)}), not an address the router can send devices to. "
                "Give it: --filter-address 192.168.1.2 (this box's LAN address; see it with: ip -brief address)."
            )
    first = {address.version: address for address in reversed(filters)}  # of each IP version
    anywhere = {address.version: port for address, port in ports.items() if address.is_unspecified}
    targets = tuple(Target(a, ports.get(a, anywhere.get(a.version, DNS_PORT))) for _, a in sorted(first.items()))
    sent_to = " and ".join(str(target) for target in targets)
    return filters, targets, f"Filter: {sent_to} (from {origin})."


def lan_interfaces(given: Sequence[str]) -> tuple[str, ...]:
    for name in given:
        if not _INTERFACE.fullmatch(name):
            raise UsageError(
                f'"{shown(name)}" is not a network interface name. Give the router\'s LAN interface as '
                "OpenWrt names it, like --lan-interface br-lan (list them on the router with: ip -brief link)."
            )
    return tuple(dict.fromkeys(given)) or (DEFAULT_LAN_INTERFACE,)


def _at_home(address: Address) -> bool:
    return any(address in network for network in HOME_NETWORKS)


# --- the known encrypted-DNS servers -------------------------------------------------


def addresses_in_list(lines: Iterable[str], fmt: str) -> set[Address]:
    """The public IP addresses written as entries in a list's lines (``1.1.1.1``, ``*.1.1.1.1``,
    ``||1.1.1.1^``, a hosts line's names). The filter's parser skips them, since DNS never asks
    for an address by name; here they are the point."""
    found: set[Address] = set()
    for line in lines:
        text = line.strip()
        if not text or text[0] in "#!":
            continue
        words = text.split("#", 1)[0].split()
        for word in words[1:] if fmt == "hosts" else words:
            address = ip_or_none(word.strip("|^").removeprefix("*.").removeprefix("."))
            if address is not None and address.is_global:
                found.add(address)
    return found


def public_resolver_addresses() -> set[Address]:
    return {ipaddress.ip_address(text) for _, addresses in PUBLIC_RESOLVERS for text in addresses.split()}


def _read_list(store: ListStore, source: Source) -> tuple[Path, set[Address]]:
    path = store.download_path(source.id)
    try:
        path = store.path_for(source)  # the service's data folder may be closed to other users
        with path.open("rb") as raw:
            packed = raw.read(2) == b"\x1f\x8b"
        with (gzip.open if packed else open)(path, "rt", encoding="utf-8", errors="replace") as text:
            return path, addresses_in_list(text, source.format)
    except (OSError, EOFError, zlib.error) as error:
        closed = isinstance(error, PermissionError)
        advice = "run the command with sudo" if closed else "run dnsfilter lists update, or reinstall dnsfilter"
        raise DnsFilterError(f"cannot read the list {shown(str(path))} ({error}); {advice}") from error


# --- the text ---------------------------------------------------------------------


def _nft_set(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else "{ " + ", ".join(items) + " }"


def _chain(name: str, hook: str) -> list[str]:
    # Just before firewall4's own chains of the same hook, which these rules do not change.
    return [f"chain {name} {{", f"\ttype {hook} - 5; policy accept;"]


def _rows(items: Sequence[str], per_row: int) -> list[str]:
    return [" ".join(items[start : start + per_row]) for start in range(0, len(items), per_row)]


def _header(setup: RouterSetup, kind: str) -> list[str]:
    where = " and ".join(str(target) for target in setup.targets)
    return [
        f"# dnsfilter router rules ({kind}). Made by: {setup.command}",
        "#",
        f"# What they do, for devices on {', '.join(setup.lan_interfaces)}:",
        f"#  - DNS queries (port 53, UDP and TCP) to any other server go to the filter at {where},",
        "#    so a device set by hand to use 8.8.8.8 is filtered too. Queries from the filter",
        "#    itself, and queries to the router itself, are left alone.",
        *(
            f"#  - IPv{v} DNS to other servers is refused: only IPv{6 if v == 4 else 4} queries go to the filter."
            for v, _, _ in FAMILIES
            if setup.target(v) is None
        ),
        "#  - DNS over TLS and DNS over QUIC (port 853, TCP and UDP) are refused.",
        f"#  - HTTPS (port 443, TCP and UDP) to {len(setup.doh)} known encrypted-DNS server addresses is",
        "#    refused, so browsers and apps cannot use DNS over HTTPS to go around the filter.",
        "#    The filter itself may still use them as its upstream servers.",
        "#",
        *(f"# {note}" for note in setup.notes),
        "#",
    ]


def nft_rules(setup: RouterSetup) -> str:
    """An nftables snippet for firewall4, which reads /etc/nftables.d/*.nft inside ``table inet fw4``."""
    ssh = f"ssh root@{setup.router}"
    lines = _header(setup, "nftables, for OpenWrt 22.03 or newer with firewall4") + [
        "# To install on the router, from this box (write your router's address if it is not the one below):",
        f"#   {setup.command} > dnsfilter.nft",
        f"#   {ssh} 'cat > /etc/nftables.d/50-dnsfilter.nft' < dnsfilter.nft",
        f"#   {ssh} 'fw4 check && fw4 reload'",
        f"# To see them work (the counters grow): {ssh} 'nft list chain inet fw4 dnsfilter_redirect'",
        f"# To remove them: {ssh} 'rm /etc/nftables.d/50-dnsfilter.nft && fw4 reload'",
        "# Make and install them again after the lists change, to bring the addresses up to date.",
        "",
    ]
    for version, _, nfproto in FAMILIES:
        elements = [f"\t\t{row.replace(' ', ', ')}," for row in _rows(setup.doh_of(version), 6)]
        if elements:
            elements = ["\telements = {", *elements, "\t}"]
        lines += [f"set dnsfilter_doh{version} {{", f"\ttype {nfproto}_addr", *elements, "}", ""]
    lan = _nft_set([f'"{name}"' for name in setup.lan_interfaces])
    own = {version: setup.own(version) for version, _, _ in FAMILIES}
    leave_alone = [f"\tiifname != {lan} return"]
    leave_alone += [f"\t{family} saddr {_nft_set(own[v])} return" for v, family, _ in FAMILIES if own[v]]
    dns = "meta l4proto { tcp, udp } th dport"
    redirects, hairpins = [], []
    for version, family, nfproto in FAMILIES:
        if (t := setup.target(version)) is not None:
            redirects.append(f"\tmeta nfproto {nfproto} {dns} 53 counter dnat {family} to {t}")
            hairpins.append(f"\t{family} daddr {t.address} ct status dnat {dns} {t.port} counter masquerade")
    lines += [
        *_chain("dnsfilter_redirect", "nat hook prerouting priority dstnat"),
        *leave_alone,
        *(f"\t{family} daddr {_nft_set(own[v])} return" for v, family, _ in FAMILIES if own[v]),
        "\tfib daddr type local return",
        *redirects,
        "}",
        "",
        # The filter is usually on the same LAN as the device: without this it would answer
        # the device directly, and the device drops an answer from a server it did not ask.
        *_chain("dnsfilter_hairpin", "nat hook postrouting priority srcnat"),
        *hairpins,
        "}",
        "",
    ]
    lines += _chain("dnsfilter_bypass", "filter hook forward priority filter")
    lines += leave_alone
    for version, _, nfproto in FAMILIES:
        if setup.target(version) is None:  # nowhere to send them: the device asks over the other version
            lines += [f"\tmeta nfproto {nfproto} tcp dport 53 counter reject with tcp reset"]
            lines += [f"\tmeta nfproto {nfproto} udp dport 53 counter reject"]
    lines += ["\ttcp dport 853 counter reject with tcp reset", "\tudp dport 853 counter reject"]
    for version, family, _ in FAMILIES:
        lines += [
            f"\t{family} daddr @dnsfilter_doh{version} tcp dport 443 counter reject with tcp reset",
            f"\t{family} daddr @dnsfilter_doh{version} udp dport 443 counter reject",
        ]
    return "\n".join([*lines, "}", ""])


def iptables_rules(setup: RouterSetup) -> str:
    """A shell script of iptables commands for firewall3, safe to run again: it empties its own chains first."""
    target = setup.target(4)
    if target is None:
        raise UsageError(
            "The iptables rules send queries to the filter's IPv4 address; give it: --filter-address 192.168.1.2."
        )
    ssh = f"ssh root@{setup.router}"
    # Old firmware often has no IPv6 NAT: IPv6 queries to other servers are refused instead.
    lines = _header(replace(setup, targets=(target,)), "iptables, for OpenWrt 21.02 or older with firewall3") + [
        "# To install on the router, from this box (write your router's address if it is not the one below):",
        f"#   {setup.command} > dnsfilter.firewall",
        f"#   {ssh} 'cat > /etc/dnsfilter.firewall' < dnsfilter.firewall",
        f"#   {ssh} 'opkg update && opkg install iptables-mod-extra'   (once: it provides -m addrtype)",
        f"#   {ssh} 'grep -q dnsfilter.firewall /etc/firewall.user || "
        "echo \". /etc/dnsfilter.firewall\" >> /etc/firewall.user; /etc/init.d/firewall restart'",
        f"# To see them work (the counters grow): {ssh} 'iptables -t nat -v -L dnsfilter_redirect'",
        '# To remove them: delete the line ". /etc/dnsfilter.firewall" from /etc/firewall.user, restart the firewall.',
        "",
    ]

    def chain(command: str, name: str, hook: str, from_lan: bool) -> None:
        lines.append(f"{command} -N {name} 2>/dev/null || {command} -F {name}")  # new, or emptied
        jumps = [f"{hook} -i {lan} -j {name}" for lan in setup.lan_interfaces] if from_lan else [f"{hook} -j {name}"]
        lines.extend(f"{command} -C {jump} 2>/dev/null || {command} -I {jump}" for jump in jumps)

    def refuse(add: str, port: int) -> list[str]:
        reject = f"--dport {port} -j REJECT"
        return [f"{add} -p tcp {reject} --reject-with tcp-reset", f"{add} -p udp {reject}"]

    nat = "iptables -t nat -A dnsfilter_redirect"
    chain("iptables -t nat", "dnsfilter_redirect", "PREROUTING", True)
    lines += [f"{nat} -s {address} -j RETURN" for address in setup.own(4)]
    lines += [f"{nat} -d {address} -j RETURN" for address in setup.own(4)]
    lines.append(f"{nat} -m addrtype --dst-type LOCAL -j RETURN")
    lines += [f"{nat} -p {protocol} --dport 53 -j DNAT --to-destination {target}" for protocol in ("udp", "tcp")]
    chain("iptables -t nat", "dnsfilter_hairpin", "POSTROUTING", False)
    lines += [
        f"iptables -t nat -A dnsfilter_hairpin -d {target.address} -p {protocol} --dport {target.port} "
        "-m conntrack --ctstate DNAT -j MASQUERADE"
        for protocol in ("udp", "tcp")
    ]
    for command, version in (("iptables", 4), ("ip6tables", 6)):
        add = f"{command} -A dnsfilter_bypass"
        chain(command, "dnsfilter_bypass", "FORWARD", True)
        lines += [f"{add} -s {address} -j RETURN" for address in setup.own(version)]
        if version == 6:
            lines += [f"{add} -d {address} -j RETURN" for address in setup.own(6)] + refuse(add, 53)
        lines += refuse(add, 853)
        rows = _rows(setup.doh_of(version), 6)
        if rows:
            lines += [
                "for address in " + " \\\n\t".join(rows) + "; do",
                f'\t{add} -d "$address" -p tcp --dport 443 -j REJECT --reject-with tcp-reset',
                f'\t{add} -d "$address" -p udp --dport 443 -j REJECT',
                "done",
            ]
    return "\n".join([*lines, ""])


# --- reading the configuration and the lists -------------------------------------------


def rules_text(config: Config, settings: str, request: Request, blocklists: Path = BLOCKLISTS_DIR) -> str:
    """The rules asked for, from the configuration described by ``settings`` and the lists in use."""
    if request.format not in FORMATS:
        raise UsageError(f'"{shown(request.format)}" is not a format; choose {" or ".join(FORMATS)}.')
    filters, targets, filter_note = filter_targets(request.filter_addresses, config.dns.listen, settings)
    interfaces = lan_interfaces(request.lan_interfaces)
    store = ListStore(config.data_dir, blocklists)
    listed: set[Address] = set()
    per_list = []
    for source in load_catalog(blocklists).sources_of(DOH_CATEGORY):
        path, found = _read_list(store, source)
        listed |= found
        per_list.append(f"    {source.id}: {len(found)}, in {shown(str(path))}")
    public = public_resolver_addresses()
    doh = tuple(sorted(listed | public, key=lambda address: (address.version, int(address))))
    notes = (
        filter_note,
        f"Encrypted-DNS server addresses: {len(doh)} in all, from two places:",
        f"  {len(public)} published by {', '.join(name for name, _ in PUBLIC_RESOLVERS)};",
        f"  {len(listed)} written as IP addresses in the {DOH_CATEGORY} lists:",
        *per_list,
        "  The names on those lists are not looked up here; the filter blocks them when a device asks.",
    )
    router = config.local.router.host if config.local.router is not None else "192.168.1.1"
    setup = RouterSetup(filters, targets, interfaces, doh, notes, _command(request), router)
    return nft_rules(setup) if request.format == "nft" else iptables_rules(setup)


def _command(request: Request) -> str:
    words = ["dnsfilter", "router-rules", *(["-c", str(request.config_file)] if request.config_file else [])]
    words += ["--format", request.format] if request.format != "nft" else []
    words += [word for address in request.filter_addresses for word in ("--filter-address", address)]
    words += [word for name in request.lan_interfaces for word in ("--lan-interface", name)]
    return shown(shlex.join(words))
