"""``dnsfilter router-rules``: firewall rules a real nft accepts, that send every stray DNS query
to the filter, leave the filter's own traffic alone, refuse DNS over TLS and the known DNS-over-HTTPS
servers from the shipped lists, and say clearly what is wrong with a bad option."""

from __future__ import annotations

import gzip
import ipaddress
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from dnsfilter.cli.routerrules import (
    Request,
    RouterSetup,
    Target,
    addresses_in_list,
    iptables_rules,
    nft_rules,
    public_resolver_addresses,
    rules_text,
)
from dnsfilter.cli.where import CONFIG_VARIABLE
from dnsfilter.config import Config, parse_config
from dnsfilter.errors import DnsFilterError, UsageError
from dnsfilter.lists.catalog import BLOCKLISTS_DIR, load_catalog
from dnsfilter.lists.liststore import ListStore

REPO = Path(__file__).resolve().parents[2]
FILTER = "192.168.1.2"
NftCheck = Callable[[str], subprocess.CompletedProcess[str]]
DNAT_V4 = f"meta nfproto ipv4 meta l4proto {{ tcp, udp }} th dport 53 counter dnat ip to {FILTER}:53"


def _config(tmp_path: Path, listen: str = f"[{FILTER}:53]", extra: str = "") -> Path:
    path = tmp_path / "dnsfilter.yaml"
    path.write_text(f"dns:\n  listen: {listen}\ndata_dir: {tmp_path / 'state'}\n{extra}", encoding="utf-8")
    return path


def _loaded(path: Path) -> Config:
    return parse_config(path.read_text(encoding="utf-8"), str(path))


def _shipped_doh_literals() -> set[str]:
    """The IP addresses written in the shipped doh_bypass lists, read here without the module's code."""
    found = set()
    for source in load_catalog(BLOCKLISTS_DIR).sources_of("doh_bypass"):
        for line in gzip.decompress((BLOCKLISTS_DIR / source.snapshot).read_bytes()).decode().splitlines():
            try:
                found.add(str(ipaddress.ip_address(line.strip().removeprefix("*."))))
            except ValueError:
                pass
    return found


def _chain(text: str, name: str) -> list[str]:
    """The rules of one nft chain, in order."""
    body = text.split(f"chain {name} {{\n", 1)[1].split("\n}", 1)[0]
    return [line.strip() for line in body.splitlines()][1:]  # after the "type ... hook" line


@pytest.fixture(scope="module")
def shipped_rules(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The nft rules for a filter at 192.168.1.2, from the shipped lists (no download yet)."""
    folder = tmp_path_factory.mktemp("shipped")
    return rules_text(_loaded(_config(folder)), "test settings", Request())


# --- the real nft and iptables ---------------------------------------------------------


def _skip(reason: str) -> None:
    print(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def nft_check(tmp_path_factory: pytest.TempPathFactory) -> NftCheck:
    """Checks rules as firewall4 reads them (inside ``table inet fw4``) with ``nft -c``, which parses
    and evaluates them without applying anything; skips, saying why, where nft cannot be used."""
    nft = shutil.which("nft") or next((p for p in ("/usr/sbin/nft", "/sbin/nft") if os.access(p, os.X_OK)), None)
    if nft is None:
        _skip("nft is not installed, so the rules' syntax is not checked: apt-get install nftables")
    folder = tmp_path_factory.mktemp("nft")

    rules_file, fw4_file = folder / "rules.nft", folder / "fw4.nft"
    fw4_file.write_text(f'table inet fw4 {{\n\tinclude "{rules_file}"\n}}\n', encoding="utf-8")

    def check(rules: str) -> subprocess.CompletedProcess[str]:
        rules_file.write_text(rules, encoding="utf-8")
        return subprocess.run([str(nft), "-c", "-f", str(fw4_file)], capture_output=True, text=True, timeout=60)

    probe = check("chain probe {\n\ttype filter hook forward priority filter; policy accept;\n}\n")
    if probe.returncode != 0:
        _skip(f"nft cannot check rules on this machine ({probe.stderr.strip()[:200]}); run the tests as root")
    return check


def test_the_shipped_rules_pass_the_real_nft_parser(shipped_rules: str, nft_check: NftCheck) -> None:
    done = nft_check(shipped_rules)
    assert done.returncode == 0, done.stderr


def _setup(*filters: str, interfaces: tuple[str, ...] = ("br-lan",), port: int = 53) -> RouterSetup:
    addresses = tuple(ipaddress.ip_address(text) for text in filters)
    first = {address.version: address for address in reversed(addresses)}
    targets = tuple(Target(address, port) for _, address in sorted(first.items()))
    doh = tuple(sorted(public_resolver_addresses(), key=lambda a: (a.version, int(a))))
    return RouterSetup(addresses, targets, interfaces, doh, ("a note",), "dnsfilter router-rules", "192.168.1.1")


SHAPES = [
    _setup(FILTER),
    _setup(FILTER, "fd00::2"),
    _setup("fd00::2"),
    _setup("10.0.0.5", "10.0.0.6", "fd12:3456::5", "fd12:3456::6", interfaces=("br-lan", "br-guest")),
    _setup("172.16.0.9", port=5353),
]
SHAPE_IDS = ["ipv4", "ipv4-and-ipv6", "ipv6-only", "two-boxes-two-lans", "other-port"]


@pytest.mark.parametrize("setup", SHAPES, ids=SHAPE_IDS)
def test_every_shape_of_rules_passes_the_real_nft_parser(setup: RouterSetup, nft_check: NftCheck) -> None:
    done = nft_check(nft_rules(setup))
    assert done.returncode == 0, done.stderr


def test_nft_really_refuses_broken_rules(nft_check: NftCheck) -> None:
    broken = nft_rules(SHAPES[0]).replace("dnat ip to", "dnat ipx to")
    assert nft_check(broken).returncode != 0


@pytest.fixture(scope="module")
def netns_shell() -> str:
    """A shell in a new, empty network namespace, where iptables rules can be applied for real
    without touching this machine's firewall; skips, saying why, where that is not possible."""
    missing = [tool for tool in ("unshare", "iptables", "ip6tables") if shutil.which(tool) is None]
    if missing:
        _skip(f"{', '.join(missing)} not found, so the iptables rules are not applied: apt-get install iptables")
    probe = subprocess.run(["unshare", "-n", "iptables", "-t", "nat", "-L"], capture_output=True, text=True, timeout=60)
    if probe.returncode != 0:
        _skip(f"cannot apply iptables rules in a network namespace here ({probe.stderr.strip()[:200]}); run as root")
    return "unshare"


@pytest.mark.parametrize("setup", [SHAPES[0], SHAPES[1], SHAPES[3]], ids=["ipv4", "ipv4-and-ipv6", "two-boxes"])
def test_the_iptables_script_applies_twice_in_an_empty_network_namespace(setup: RouterSetup, netns_shell: str) -> None:
    script = iptables_rules(setup)
    # Run twice, as each firewall restart does: the second run leaves one jump per interface.
    done = subprocess.run(
        [netns_shell, "-n", "sh", "-euc", f"{script}\n{script}\niptables -t nat -S PREROUTING; ip6tables -S FORWARD"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    for interface in setup.lan_interfaces:
        assert done.stdout.count(f"-A PREROUTING -i {interface} -j dnsfilter_redirect") == 1
        assert done.stdout.count(f"-A FORWARD -i {interface} -j dnsfilter_bypass") == 1


# --- what the rules say -------------------------------------------------------------------


def test_stray_dns_goes_to_the_filter_and_its_own_queries_do_not(shipped_rules: str) -> None:
    redirect = _chain(shipped_rules, "dnsfilter_redirect")
    assert redirect[-1] == DNAT_V4  # UDP and TCP port 53, to the filter
    leave_alone = redirect[: redirect.index(DNAT_V4)]
    assert 'iifname != "br-lan" return' in leave_alone
    assert f"ip saddr {FILTER} return" in leave_alone  # the filter's own upstream queries
    assert f"ip daddr {FILTER} return" in leave_alone
    assert "fib daddr type local return" in leave_alone  # the router's own DNS
    hairpin = _chain(shipped_rules, "dnsfilter_hairpin")
    assert hairpin == [f"ip daddr {FILTER} ct status dnat meta l4proto {{ tcp, udp }} th dport 53 counter masquerade"]


def test_dns_over_tls_and_known_doh_servers_are_refused_except_for_the_filter(shipped_rules: str) -> None:
    bypass = _chain(shipped_rules, "dnsfilter_bypass")
    first_refusal = next(index for index, rule in enumerate(bypass) if "reject" in rule)
    assert f"ip saddr {FILTER} return" in bypass[:first_refusal]  # DoT or DoH upstreams keep working
    for rule in (
        "tcp dport 853 counter reject with tcp reset",
        "udp dport 853 counter reject",
        "ip daddr @dnsfilter_doh4 tcp dport 443 counter reject with tcp reset",
        "ip daddr @dnsfilter_doh4 udp dport 443 counter reject",
        "ip6 daddr @dnsfilter_doh6 tcp dport 443 counter reject with tcp reset",
        "ip6 daddr @dnsfilter_doh6 udp dport 443 counter reject",
        # No IPv6 address given for the filter: IPv6 DNS to others is refused, not left open.
        "meta nfproto ipv6 udp dport 53 counter reject",
    ):
        assert rule in bypass


def test_the_doh_addresses_come_from_the_shipped_lists_and_the_public_resolvers(shipped_rules: str) -> None:
    literals = _shipped_doh_literals()
    assert len(literals) >= 10  # the shipped UT1 list writes some servers as addresses
    blocks = re.findall(r"elements = \{([^}]*)\}", shipped_rules)
    elements = {address for block in blocks for address in block.replace(",", " ").split()}
    assert literals <= elements
    assert {"8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "2620:fe::fe"} <= elements
    assert "written as IP addresses in the doh_bypass lists" in shipped_rules
    assert "not looked up" in shipped_rules  # nothing is resolved to make them


def test_the_downloaded_list_is_used_once_there_is_one(tmp_path: Path) -> None:
    config = _loaded(_config(tmp_path))
    store = ListStore(config.data_dir, BLOCKLISTS_DIR)
    store.directory.mkdir(parents=True)
    store.download_path("ut1-doh").write_bytes(gzip.compress(b"doh.example.org\n185.228.168.168\n"))
    text = rules_text(config, "test settings", Request())
    assert "185.228.168.168" in text
    assert "116.202.176.26" not in text  # only in the bundled copy, which the download replaced
    assert str(store.download_path("ut1-doh")) in text


@pytest.mark.parametrize(
    ("lines", "fmt", "expected"),
    [
        (["1.1.1.1", "*.9.9.9.9", "dns.google", "2620:fe::fe"], "wildcard", {"1.1.1.1", "9.9.9.9", "2620:fe::fe"}),
        (["||8.8.8.8^", "@@||8.8.4.4^", "! 1.0.0.1"], "adblock", {"8.8.8.8"}),
        (["0.0.0.0 1.0.0.1", "1.2.3.4 example.org"], "hosts", {"1.0.0.1"}),
        (["# 8.8.8.8", "192.168.1.1", "10.0.0.1", "127.0.0.1", "fd00::1", "8.8.8.8 # Google"], "domains", {"8.8.8.8"}),
    ],
    ids=["names-and-wildcards", "adblock-without-exceptions", "hosts-targets-are-not-entries", "comments-and-private"],
)  # fmt: skip
def test_only_public_addresses_written_as_entries_are_taken(lines: list[str], fmt: str, expected: set[str]) -> None:
    assert {str(address) for address in addresses_in_list(lines, fmt)} == expected


def test_the_filter_address_and_port_come_from_dns_listen(tmp_path: Path) -> None:
    config = _loaded(_config(tmp_path, listen="[0.0.0.0:53, 127.0.0.1:5353, 10.1.2.3:5353]"))
    text = rules_text(config, "/etc/dnsfilter/dnsfilter.yaml", Request())
    assert "dnat ip to 10.1.2.3:5353" in text
    assert "ip daddr 10.1.2.3 ct status dnat meta l4proto { tcp, udp } th dport 5353 counter masquerade" in text
    assert "Filter: 10.1.2.3:5353 (from dns.listen in /etc/dnsfilter/dnsfilter.yaml)." in text


def test_a_given_address_takes_the_port_the_filter_listens_on_everywhere(tmp_path: Path) -> None:
    config = _loaded(_config(tmp_path, listen="[0.0.0.0:5353]"))
    text = rules_text(config, "test settings", Request(filter_addresses=(FILTER,)))
    assert f"dnat ip to {FILTER}:5353" in text
    assert "Filter: 192.168.1.2:5353 (from --filter-address)." in text


def test_the_install_lines_use_the_routers_address_and_the_same_options(tmp_path: Path) -> None:
    path = _config(tmp_path, extra="local:\n  router: 192.168.8.1\n")
    request = Request("nft", ("192.168.8.2",), ("br-lan", "br-guest"), path)
    text = rules_text(_loaded(path), str(path), request)
    command = f"dnsfilter router-rules -c {path} --filter-address 192.168.8.2"
    command += " --lan-interface br-lan --lan-interface br-guest"
    assert f"#   {command} > dnsfilter.nft" in text
    assert "#   ssh root@192.168.8.1 'cat > /etc/nftables.d/50-dnsfilter.nft' < dnsfilter.nft" in text
    assert 'iifname != { "br-lan", "br-guest" } return' in text


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (Request(filter_addresses=("box.lan",)), '"box.lan" is not an IP address'),
        (Request(filter_addresses=("8.8.8.8",)), "8.8.8.8 is not an address on a home network"),
        (Request(filter_addresses=("127.0.0.1",)), "127.0.0.1 is not an address on a home network"),
        (Request(lan_interfaces=("br lan",)), '"br lan" is not a network interface name'),
        (Request(format="pf"), '"pf" is not a format'),
        (Request("iptables", ("fd00::2",)), "send queries to the filter's IPv4 address"),
    ],
    ids=["not-an-ip", "public", "loopback", "bad-interface", "unknown-format", "iptables-without-ipv4"],
)
def test_what_cannot_be_used_is_said(tmp_path: Path, request_: Request, message: str) -> None:
    with pytest.raises(UsageError, match=re.escape(message)):
        rules_text(_loaded(_config(tmp_path)), "test settings", request_)


# --- the command, as a parent runs it --------------------------------------------------


def _dnsfilter(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != CONFIG_VARIABLE}
    env["PYTHONPATH"] = str(REPO)
    return subprocess.run(
        [sys.executable, "-m", "dnsfilter", "router-rules", *args], capture_output=True, text=True, cwd=cwd, env=env,
        timeout=120, check=False,
    )  # fmt: skip


def test_the_command_prints_rules_nft_accepts(tmp_path: Path, nft_check: NftCheck) -> None:
    done = _dnsfilter("-c", str(_config(tmp_path)), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("# dnsfilter router rules (nftables, for OpenWrt 22.03 or newer with firewall4)")
    assert f"dnsfilter: settings from {tmp_path / 'dnsfilter.yaml'}" in done.stderr
    assert DNAT_V4 in done.stdout
    checked = nft_check(done.stdout)
    assert checked.returncode == 0, checked.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--filter-address", "box.lan"), '"box.lan" is not an IP address'),
        (("--filter-address", "203.0.113.7"), "203.0.113.7 is not an address on a home network"),
        (("--format", "pf"), "invalid choice: 'pf'"),
        (("--filter-address", FILTER, "--lan-interface", "br-lan;reboot"), '"br-lan;reboot" is not a network'),
        ((), "The filter's address on the home network is not known: dns.listen is 0.0.0.0:53"),
    ],
    ids=["not-an-ip", "public-address", "unknown-format", "bad-interface", "listen-on-every-address"],
)
def test_bad_input_exits_2_with_a_message_and_no_traceback(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    done = _dnsfilter("-c", str(_config(tmp_path, listen="[0.0.0.0:53]")), *args, cwd=tmp_path)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""


def test_a_missing_config_exits_2_and_says_where_it_looked(tmp_path: Path) -> None:
    done = _dnsfilter("-c", str(tmp_path / "missing.yaml"), "--filter-address", FILTER, cwd=tmp_path)
    assert done.returncode == 2
    assert f"{tmp_path / 'missing.yaml'}: 1 problem(s) in the configuration" in done.stderr
    assert "the file does not exist" in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""


def test_a_list_folder_closed_to_this_user_says_to_use_sudo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def closed(self: ListStore, source: object) -> Path:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(ListStore, "path_for", closed)
    with pytest.raises(DnsFilterError, match="Permission denied.*run the command with sudo"):
        rules_text(_loaded(_config(tmp_path)), "test settings", Request())
