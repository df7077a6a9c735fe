"""Who is asking: source parsers, EDNS options, the device table and its refresh.

Covers ``dnsfilter/policy/clientsources.py`` (pure parsers) as well as
``dnsfilter/policy/clients.py``.
"""

from __future__ import annotations

import base64
import ipaddress
import logging
import struct
import sys
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dnsfilter.policy import clients
from dnsfilter.policy.clients import (
    OPTION_CLIENT_SUBNET,
    OPTION_MAC,
    OPTION_NOMINUM_DEVICE_ID,
    ClientId,
    ClientSourcePaths,
    ClientTable,
    client_subnet,
    mac_from_edns,
    read_client_sources,
)
from dnsfilter.policy.clientsources import (
    MAX_NAME_CHARS,
    Lease,
    canonical_ip,
    clean_name,
    normalise_mac,
    parse_dnsmasq_leases,
    parse_ip_neigh,
    parse_odhcpd,
    parse_proc_arp,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "clients"

PARENT_MAC = "a0:b1:c2:d3:e4:f5"
CHILD_MAC = "3c:22:fb:11:22:33"
ROUTER_IP = "192.168.1.1"
CHILD_IP = "192.168.1.23"


def fixture_text(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def option(code: int, value: bytes) -> bytes:
    return struct.pack("!HH", code, len(value)) + value


def ecs(family: int, source: int, address: bytes, scope: int = 0) -> bytes:
    return option(OPTION_CLIENT_SUBNET, struct.pack("!HBB", family, source, scope) + address)


def mac_option(mac: str) -> bytes:
    return option(OPTION_MAC, bytes.fromhex(mac.replace(":", "")))


# --- MACs, addresses, names --------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("aa:bb:cc:dd:ee:f0", "aa:bb:cc:dd:ee:f0"),
        ("AA-BB-CC-DD-EE-F0", "aa:bb:cc:dd:ee:f0"),
        ("aabbccddeef0", "aa:bb:cc:dd:ee:f0"),
        ("aabb.ccdd.eef0", "aa:bb:cc:dd:ee:f0"),
        ("0:1b:2:3:4:5", "00:1b:02:03:04:05"),
        (" 3C:22:FB:11:22:33\n", CHILD_MAC),
        ("00:00:00:00:00:00", None),
        ("ff:ff:ff:ff:ff:ff", None),
        ("01:00:5e:00:00:fb", None),
        ("33:33:00:00:00:01", None),
        ("aa:bb:cc:dd:ee", None),
        ("aa:bb:cc:dd:ee:ff:00", None),
        ("aa:bb:cc:dd:ee:gg", None),
        ("aa:bb-cc:dd:ee:f0:", None),
        ("", None),
    ],
    ids=[
        "colons", "hyphens-upper", "bare", "cisco", "short-octets", "whitespace", "all-zero", "broadcast",
        "ipv4-multicast", "ipv6-multicast", "five-octets", "seven-octets", "not-hex", "trailing-colon", "empty",
    ],
)
def test_normalise_mac(text: str, expected: str | None) -> None:
    assert normalise_mac(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("192.168.1.5", "192.168.1.5"),
        ("::ffff:192.168.1.5", "192.168.1.5"),
        ("::FFFF:c0a8:105", "192.168.1.5"),
        ("2001:DB8:0:0::1", "2001:db8::1"),
        ("fe80::1%br-lan", "fe80::1"),
        ("192.168.1.256", None),
        ("example.org", None),
    ],
    ids=["ipv4", "v4-mapped", "v4-mapped-hex", "ipv6-compressed", "scope-dropped", "bad-octet", "name"],
)
def test_canonical_ip(text: str, expected: str | None) -> None:
    assert canonical_ip(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Emmas-iPad", "Emmas-iPad"),
        ("<script>alert(1)</script>", "<script>alert(1)</script>"),
        ("Bobby\x1b[31m\x07Laptop", "Bobby[31mLaptop"),
        ("evil\u202eevil", "evilevil"),
        ("two\nlines\u2028here", "twolineshere"),
        ("  spaced   out  ", "spaced out"),
        ("Bé's 📱", "Bé's 📱"),
        ("x" * 300, "x" * MAX_NAME_CHARS),
        ("\x00\x01\x7f", None),
        ("   ", None),
    ],
    ids=["plain", "html-kept-as-text", "ansi-escape", "bidi-override", "line-breaks", "spaces", "unicode",
         "capped", "only-controls", "blank"],
)
def test_clean_name(text: str, expected: str | None) -> None:
    assert clean_name(text) == expected


# --- neighbour tables ---------------------------------------------------------


def test_proc_net_arp_fixture() -> None:
    parsed = parse_proc_arp(fixture_text("proc_net_arp.txt"))
    assert parsed.macs == {
        "192.168.1.1": PARENT_MAC,
        "192.168.1.23": CHILD_MAC,
        "192.168.1.41": "f0:18:98:aa:bb:cc",
    }
    # garbage, bad flags, bad address, multicast MAC; the incomplete and
    # all-zero entries are normal and not counted.
    assert parsed.skipped == 4


@pytest.mark.parametrize(
    ("line", "macs", "skipped"),
    [
        ("192.168.1.9 0x1 0x2 aa:bb:cc:dd:ee:f0 * eth0", {"192.168.1.9": "aa:bb:cc:dd:ee:f0"}, 0),
        ("192.168.1.9 0x1 0x0 00:00:00:00:00:00 * eth0", {}, 0),
        ("192.168.1.9 0x1 0x2 00:00:00:00:00:00 * eth0", {}, 0),
        ("192.168.1.9 0x1", {}, 1),
        ("IP address       HW type     Flags       HW address            Mask     Device", {}, 0),
        ("", {}, 0),
    ],
    ids=["complete", "incomplete", "complete-zero", "short", "header", "blank"],
)
def test_proc_net_arp_lines(line: str, macs: dict[str, str], skipped: int) -> None:
    parsed = parse_proc_arp(line)
    assert (dict(parsed.macs), parsed.skipped) == (macs, skipped)


def test_ip_neigh_fixture() -> None:
    parsed = parse_ip_neigh(fixture_text("ip_neigh.txt"))
    assert parsed.macs == {
        "192.168.1.1": PARENT_MAC,
        "192.168.1.23": CHILD_MAC,
        "192.168.1.60": "f0:18:98:aa:bb:cc",
        "10.0.0.1": "00:0d:b9:01:02:03",
        "fe80::3e22:fbff:fe11:2233": CHILD_MAC,
        "2001:db8:1::23": CHILD_MAC,
        "fd00::99": "3c:22:fb:11:22:44",
    }
    assert parsed.skipped == 2  # the line without an address and the one with a bad MAC


@pytest.mark.parametrize(
    ("line", "macs", "skipped"),
    [
        ("192.168.1.9 dev br-lan lladdr aa:bb:cc:dd:ee:f0 REACHABLE", {"192.168.1.9": "aa:bb:cc:dd:ee:f0"}, 0),
        ("2001:db8::9 dev br-lan lladdr aa:bb:cc:dd:ee:f0 router STALE", {"2001:db8::9": "aa:bb:cc:dd:ee:f0"}, 0),
        ("192.168.1.9 dev br-lan lladdr aa:bb:cc:dd:ee:f0 FAILED", {}, 0),
        ("192.168.1.9 dev br-lan  INCOMPLETE", {}, 0),
        ("192.168.1.9 dev br-lan lladdr", {}, 0),
        ("ff02::1 dev br-lan lladdr 33:33:00:00:00:01 NOARP", {}, 0),
        ("192.168.1.9 dev br-lan lladdr 00:00:00:00:00:00 STALE", {}, 0),
        ("bogus dev br-lan lladdr aa:bb:cc:dd:ee:f0 REACHABLE", {}, 1),
    ],
    ids=["ipv4", "ipv6-router", "failed", "incomplete", "lladdr-cut-short", "multicast", "zero", "bad-address"],
)
def test_ip_neigh_lines(line: str, macs: dict[str, str], skipped: int) -> None:
    parsed = parse_ip_neigh(line)
    assert (dict(parsed.macs), parsed.skipped) == (macs, skipped)


# --- DHCP leases --------------------------------------------------------------


def test_dnsmasq_leases_fixture() -> None:
    parsed = parse_dnsmasq_leases(fixture_text("dnsmasq.leases"))
    assert parsed.leases == (
        Lease("192.168.1.23", CHILD_MAC, "Emmas-iPad", 1735689600),
        Lease("192.168.1.41", "f0:18:98:aa:bb:cc", None, 1735689700),
        Lease("192.168.1.2", "00:0d:b9:01:02:03", "printer", None),
        Lease("192.168.1.77", "de:ad:be:ef:00:01", "<script>alert(1)</script>", 1735689800),
        Lease("192.168.1.78", "de:ad:be:ef:00:02", "Bobby[31mLaptop", 1735689900),
        Lease("192.168.1.90", None, "ib-node", 1735689950),
        Lease("2001:db8:1::23", None, "Emmas-iPad", 1735690000),
        Lease("2001:db8:1::99", None, None, 1735690100),
    )
    assert parsed.skipped == 4  # garbage, bad expiry, bad MAC, bad address


@pytest.mark.parametrize(
    ("line", "lease"),
    [
        ("1735689600 aa:bb:cc:dd:ee:f0 192.168.1.9 tablet 01:aa:bb:cc:dd:ee:f0",
         Lease("192.168.1.9", "aa:bb:cc:dd:ee:f0", "tablet", 1735689600)),
        ("1735689600 aa:bb:cc:dd:ee:f0 192.168.1.9 * *", Lease("192.168.1.9", "aa:bb:cc:dd:ee:f0", None, 1735689600)),
        ("0 aa:bb:cc:dd:ee:f0 192.168.1.9 tv", Lease("192.168.1.9", "aa:bb:cc:dd:ee:f0", "tv", None)),
        ("1735689600 00- 192.168.1.9 * *", Lease("192.168.1.9", None, None, 1735689600)),
        ("1735689600 T12 2001:db8::9 phone 00:01:00:01:aa", Lease("2001:db8::9", None, "phone", 1735689600)),
        ("duid 00:01:00:01:2c:5e:1a:22:a0:b1:c2:d3:e4:f5", None),
    ],
    ids=["ipv4", "star-hostname", "infinite", "no-hardware-address", "ipv6-temporary", "server-duid"],
)
def test_dnsmasq_lease_lines(line: str, lease: Lease | None) -> None:
    parsed = parse_dnsmasq_leases(line)
    assert parsed.leases == ((lease,) if lease else ())
    assert parsed.skipped == 0


def test_odhcpd_state_fixture() -> None:
    parsed = parse_odhcpd(fixture_text("odhcpd.state"))
    assert set(parsed.leases) == {
        Lease("2001:db8:1::23", None, "Emmas-iPad", 1735690000),
        Lease("fd00::23", None, "Emmas-iPad", 1735690000),
        Lease("2001:db8:1::23", None, "Emmas-iPad", None),
        Lease("fd00::23", None, "Emmas-iPad", None),
        Lease("192.168.1.23", None, "Emmas-iPad", None),
        Lease("192.168.1.23", CHILD_MAC, "Emmas-iPad", 1735690000),
        Lease("2001:db8:1::24", None, None, None),
        Lease("192.168.1.77", "de:00:00:00:00:01", "Tom's laptop", 1735690000),
        Lease("192.168.1.30", None, "Phone]0;pwn", None),
        Lease("192.168.1.30", "3c:22:fb:11:22:aa", "Phone]0;pwn", 1735690000),
        Lease("192.168.1.31", "3c:22:fb:11:22:bb", "old-tablet", 0),
    }
    # The /60 delegated prefix and the plain comment are not devices; the
    # damaged state line, the garbage and the address without a name count.
    assert parsed.skipped == 3


def test_odhcpd_hosts_fixture() -> None:
    parsed = parse_odhcpd(fixture_text("odhcpd.hosts"))
    assert parsed.leases == (
        Lease("192.168.1.23", None, "Emmas-iPad", None),
        Lease("2001:db8:1::23", None, "Emmas-iPad", None),
        Lease("fd00::42", None, "<b>Max</b>", None),
    )
    assert parsed.skipped == 1


@pytest.mark.parametrize(
    ("line", "leases", "skipped"),
    [
        ("# lan 3c22fb112233 ipv4 tab 1735690000 17 32 192.168.1.9/32",
         (Lease("192.168.1.9", CHILD_MAC, "tab", 1735690000),), 0),
        ("# lan 0001000100 5 - -1 9 128 2001:db8::9/128 fd00::9/128",
         (Lease("2001:db8::9", None, None, None), Lease("fd00::9", None, None, None)), 0),
        ("# lan 0001000100 5 name with spaces 1735690000 9 128 2001:db8::9/128",
         (Lease("2001:db8::9", None, "name with spaces", 1735690000),), 0),
        ("# lan 0001000100 5 pd 1735690000 9 56 2001:db8:0:100::/56", (), 0),
        ("# lan 0001000100 5 host 1735690000 9 128", (), 0),
        ("# lan 0001000100 5 host 1735690000 9 128 nonsense/128", (), 1),
        ("# lan 0001 5 2001:db8::9/128", (), 1),
        ("192.168.1.9\ttab.lan\ttab", (Lease("192.168.1.9", None, "tab", None),), 0),
    ],
    ids=["dhcpv4-state", "dhcpv6-no-name-infinite", "name-with-spaces", "delegated-prefix", "no-address",
         "bad-address", "too-few-fields", "hosts-line"],
)
def test_odhcpd_lines(line: str, leases: tuple[Lease, ...], skipped: int) -> None:
    parsed = parse_odhcpd(line)
    assert (parsed.leases, parsed.skipped) == (leases, skipped)


@given(st.text(max_size=300))
@settings(max_examples=300, deadline=None)
def test_parsers_never_raise_on_garbage(text: str) -> None:
    for parse in (parse_proc_arp, parse_ip_neigh):
        neighbours = parse(text)
        assert all(canonical_ip(ip) == ip and normalise_mac(mac) == mac for ip, mac in neighbours.macs.items())
    for parse_leases in (parse_dnsmasq_leases, parse_odhcpd):
        for lease in parse_leases(text).leases:
            assert canonical_ip(lease.ip) == lease.ip
            assert lease.hostname is None or clean_name(lease.hostname) == lease.hostname


# --- EDNS options ---------------------------------------------------------------

COOKIE = option(10, bytes(range(8)))


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (option(OPTION_MAC, bytes.fromhex("3c22fb112233")), CHILD_MAC),
        # add-mac=base64: dnsmasq's encoder() is standard base64 of the 6 bytes.
        (option(OPTION_NOMINUM_DEVICE_ID, b"PCL7ESIz"), CHILD_MAC),
        (option(OPTION_NOMINUM_DEVICE_ID, base64.b64encode(bytes.fromhex("a0b1c2d3e4f5"))), PARENT_MAC),
        # add-mac=text: print_mac(), lower-case hex and colons.
        (option(OPTION_NOMINUM_DEVICE_ID, b"3c:22:fb:11:22:33"), CHILD_MAC),
        (option(OPTION_NOMINUM_DEVICE_ID, b"3C:22:FB:11:22:33"), CHILD_MAC),
        (COOKIE + ecs(1, 32, bytes([192, 168, 1, 23])) + mac_option(CHILD_MAC), CHILD_MAC),
        (mac_option(CHILD_MAC) + option(OPTION_NOMINUM_DEVICE_ID, b"PCL7ESIz"), CHILD_MAC),
        (b"", None),
        (COOKIE, None),
        (option(OPTION_MAC, bytes.fromhex("3c22fb1122")), None),
        (option(OPTION_MAC, bytes.fromhex("3c22fb11223344556677")), None),
        (option(OPTION_MAC, bytes.fromhex("01005e0000fb")), None),
        (option(OPTION_MAC, bytes(6)), None),
        (option(OPTION_NOMINUM_DEVICE_ID, b"PCL7ES!z"), None),
        (option(OPTION_NOMINUM_DEVICE_ID, b"PCL7ESI="), None),
        (option(OPTION_NOMINUM_DEVICE_ID, b"3c:22:fb:11:22:3\xff"), None),
        (option(OPTION_NOMINUM_DEVICE_ID, b"device-id-42"), None),
        (mac_option(CHILD_MAC) + mac_option(PARENT_MAC), None),
        (mac_option(PARENT_MAC) + option(OPTION_NOMINUM_DEVICE_ID, b"PCL7ESIz"), None),
        (mac_option(CHILD_MAC)[:-1], None),
        (mac_option(CHILD_MAC) + b"\xfd", None),
        (struct.pack("!HH", OPTION_MAC, 60) + bytes.fromhex("3c22fb112233"), None),
    ],
    ids=[
        "raw", "base64", "base64-computed", "text", "text-upper", "after-cookie-and-ecs", "raw-and-base64-agree",
        "empty", "no-mac", "raw-too-short", "raw-not-ethernet", "multicast", "zero", "base64-bad-char",
        "base64-padded", "text-not-ascii", "other-device-id", "two-macs-disagree", "raw-and-base64-disagree",
        "value-cut-short", "trailing-byte", "length-overruns",
    ],
)
def test_mac_from_edns(options: bytes, expected: str | None) -> None:
    assert mac_from_edns(options) == expected


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (ecs(1, 24, bytes([192, 168, 1])), "192.168.1.0/24"),
        (ecs(1, 32, bytes([192, 168, 1, 23])), "192.168.1.23/32"),
        (ecs(1, 20, bytes([10, 1, 16])), "10.1.16.0/20"),
        (ecs(1, 0, b""), "0.0.0.0/0"),
        (ecs(2, 56, bytes.fromhex("20010db8000001")), "2001:db8:0:100::/56"),
        (ecs(2, 128, ipaddress.IPv6Address("2001:db8::23").packed), "2001:db8::23/128"),
        (COOKIE + ecs(1, 24, bytes([192, 168, 1])) + mac_option(CHILD_MAC), "192.168.1.0/24"),
        (ecs(1, 24, bytes([192, 168, 1]), scope=0), "192.168.1.0/24"),
        (b"", None),
        (COOKIE, None),
        (ecs(1, 24, bytes([192, 168, 1, 0])), None),
        (ecs(1, 24, bytes([192, 168])), None),
        (ecs(1, 20, bytes([10, 1, 17])), None),
        (ecs(1, 33, bytes(5)), None),
        (ecs(2, 129, bytes(17)), None),
        (ecs(1, 24, bytes([192, 168, 1]), scope=40), None),
        (ecs(3, 8, bytes([1])), None),
        (option(OPTION_CLIENT_SUBNET, b"\x00\x01\x18"), None),
        (ecs(1, 24, bytes([192, 168, 1])) * 2, None),
        (ecs(1, 24, bytes([192, 168, 1]))[:-1], None),
    ],
    ids=[
        "v4-24", "v4-host", "v4-20", "v4-zero", "v6-56", "v6-host", "among-others", "scope-zero", "empty",
        "no-ecs", "address-too-long", "address-too-short", "bits-past-prefix", "v4-prefix-too-long",
        "v6-prefix-too-long", "scope-too-long", "unknown-family", "option-too-short", "twice", "cut-short",
    ],
)
def test_client_subnet(options: bytes, expected: str | None) -> None:
    network = client_subnet(options)
    assert (None if network is None else str(network)) == expected


option_lists = st.lists(
    st.tuples(
        st.sampled_from([OPTION_MAC, OPTION_NOMINUM_DEVICE_ID, OPTION_CLIENT_SUBNET, 10, 12, 0xFFFF]),
        st.binary(max_size=24),
    ),
    max_size=4,
).map(lambda items: b"".join(option(code, value) for code, value in items))


@given(st.one_of(st.binary(max_size=64), option_lists, option_lists.map(lambda b: b[:-1])))
@settings(max_examples=500, deadline=None)
def test_edns_parsing_never_raises(options: bytes) -> None:
    mac = mac_from_edns(options)
    assert mac is None or normalise_mac(mac) == mac
    network = client_subnet(options)
    assert network is None or isinstance(network, ipaddress.IPv4Network | ipaddress.IPv6Network)
    table = ClientTable.build({}, [])
    for from_router in (False, True):
        assert isinstance(table.identify(ROUTER_IP, options, from_router), ClientId)


# --- identification -----------------------------------------------------------


@pytest.fixture
def table() -> ClientTable:
    arp = {ROUTER_IP: "00:0d:b9:00:00:01", CHILD_IP: CHILD_MAC, "2001:db8:1::23": CHILD_MAC}
    leases = [
        Lease(CHILD_IP, CHILD_MAC, "Emmas-iPad", None),
        Lease("192.168.1.50", PARENT_MAC, "Mums-Phone", None),
        Lease("192.168.1.60", "f0:18:98:aa:bb:cc", None, None),
        Lease("2001:db8:1::99", None, "kid-pc", None),
    ]
    return ClientTable.build(arp, leases)


def test_mac_preferred_over_ip(table: ClientTable) -> None:
    assert table.identify(CHILD_IP, b"", False) == ClientId(f"mac:{CHILD_MAC}", CHILD_IP, CHILD_MAC, "Emmas-iPad", "arp")
    assert table.identify("192.168.1.50", b"", False) == ClientId(
        f"mac:{PARENT_MAC}", "192.168.1.50", PARENT_MAC, "Mums-Phone", "lease"
    )
    assert table.identify("192.168.1.60", b"", False).name is None


def test_unknown_address_is_identified_by_ip(table: ClientTable) -> None:
    assert table.identify("192.168.1.200", b"", False) == ClientId("ip:192.168.1.200", "192.168.1.200", None, None, "ip-only")
    assert table.identify("2001:db8:1::99", b"", False) == ClientId(
        "ip:2001:db8:1::99", "2001:db8:1::99", None, "kid-pc", "ip-only"
    )


def test_ipv6_address_of_a_known_device_shares_its_key(table: ClientTable) -> None:
    v6 = table.identify("2001:db8:1::23", b"", False)
    assert v6.key == table.identify(CHILD_IP, b"", False).key
    assert v6.name == "Emmas-iPad"


@pytest.mark.parametrize("spelling", ["::ffff:192.168.1.23", "::FFFF:192.168.1.23", "::ffff:c0a8:117"])
def test_ipv4_mapped_address_is_ipv4(table: ClientTable, spelling: str) -> None:
    assert table.identify(spelling, b"", False) == table.identify(CHILD_IP, b"", False)


def test_scoped_link_local_address() -> None:
    table = ClientTable.build({"fe80::3e22:fbff:fe11:2233": CHILD_MAC}, [])
    assert table.identify("fe80::3e22:fbff:fe11:2233%br-lan", b"", False).mac == CHILD_MAC


@pytest.mark.parametrize(
    "options",
    [
        mac_option(PARENT_MAC),
        option(OPTION_NOMINUM_DEVICE_ID, PARENT_MAC.encode()),
        ecs(1, 32, bytes([192, 168, 1, 50])),
        mac_option(PARENT_MAC) + ecs(1, 32, bytes([192, 168, 1, 50])),
    ],
    ids=["raw-mac", "text-mac", "ecs-host", "both"],
)
def test_spoofed_identity_from_a_client_is_ignored(table: ClientTable, options: bytes) -> None:
    # The child claims to be the parent's phone, straight to the filter.
    client = table.identify(CHILD_IP, options, from_router=False)
    assert client == ClientId(f"mac:{CHILD_MAC}", CHILD_IP, CHILD_MAC, "Emmas-iPad", "arp")


def test_mac_option_from_the_router_is_believed(table: ClientTable) -> None:
    client = table.identify(ROUTER_IP, mac_option(PARENT_MAC), from_router=True)
    assert client == ClientId(f"mac:{PARENT_MAC}", ROUTER_IP, PARENT_MAC, "Mums-Phone", "edns")


def test_router_mac_and_host_subnet_give_the_device_address(table: ClientTable) -> None:
    options = COOKIE + ecs(1, 32, bytes([192, 168, 1, 50])) + option(OPTION_NOMINUM_DEVICE_ID, b"oLHC0+T1")
    client = table.identify(ROUTER_IP, options, from_router=True)
    assert client == ClientId(f"mac:{PARENT_MAC}", "192.168.1.50", PARENT_MAC, "Mums-Phone", "edns")


def test_router_host_subnet_alone_is_looked_up(table: ClientTable) -> None:
    client = table.identify(ROUTER_IP, ecs(1, 32, bytes([192, 168, 1, 23])), from_router=True)
    assert client == ClientId(f"mac:{CHILD_MAC}", CHILD_IP, CHILD_MAC, "Emmas-iPad", "arp")
    v4_mapped = ecs(2, 128, ipaddress.IPv6Address("::ffff:192.168.1.23").packed)
    assert table.identify(ROUTER_IP, v4_mapped, from_router=True) == client


@pytest.mark.parametrize(
    "options",
    [
        ecs(1, 24, bytes([192, 168, 1])),
        mac_option(PARENT_MAC) + mac_option(CHILD_MAC),
        COOKIE,
        mac_option(PARENT_MAC)[:-2],
    ],
    ids=["subnet-not-host", "forged-next-to-router-mac", "nothing-useful", "damaged"],
)
def test_router_query_without_usable_identity_is_the_router(table: ClientTable, options: bytes) -> None:
    assert table.identify(ROUTER_IP, options, from_router=True) == table.identify(ROUTER_IP, b"", False)


def test_subnet_with_router_mac_keeps_router_address(table: ClientTable) -> None:
    client = table.identify(ROUTER_IP, mac_option(PARENT_MAC) + ecs(1, 24, bytes([192, 168, 1])), from_router=True)
    assert (client.ip, client.mac, client.source) == (ROUTER_IP, PARENT_MAC, "edns")


def test_neighbour_table_wins_over_lease() -> None:
    # The child asked for the parent's address with the parent's MAC in its
    # DHCP request, but its frames carry its own MAC.
    table = ClientTable.build({"192.168.1.50": CHILD_MAC}, [Lease("192.168.1.50", PARENT_MAC, "Mums-Phone", None)])
    client = table.identify("192.168.1.50", b"", False)
    assert (client.mac, client.source, client.name) == (CHILD_MAC, "arp", None)


def test_latest_lease_wins_and_expired_leases_are_left_out() -> None:
    leases = [
        Lease("192.168.1.70", "f0:18:98:aa:bb:01", "new-name", 2000),
        Lease("192.168.1.70", "f0:18:98:aa:bb:01", "old-name", 1000),
        Lease("192.168.1.71", "f0:18:98:aa:bb:02", "gone", 1000),
    ]
    table = ClientTable.build({}, leases, now=1500)
    assert table.identify("192.168.1.70", b"", False).name == "new-name"
    assert table.identify("192.168.1.71", b"", False).key == "ip:192.168.1.71"
    assert ClientTable.build({}, leases).identify("192.168.1.71", b"", False).name == "gone"


def test_build_skips_bad_entries() -> None:
    table = ClientTable.build(
        {"not-an-ip": CHILD_MAC, "192.168.1.5": "ff:ff:ff:ff:ff:ff", "::ffff:192.168.1.6": "3C-22-FB-11-22-33"},
        [Lease("bogus", CHILD_MAC, "x", None)],
    )
    assert len(table) == 1
    assert table.identify("192.168.1.6", b"", False).mac == CHILD_MAC


def test_fixture_files_together() -> None:
    arp = dict(parse_proc_arp(fixture_text("proc_net_arp.txt")).macs)
    arp.update(parse_ip_neigh(fixture_text("ip_neigh.txt")).macs)
    leases = parse_dnsmasq_leases(fixture_text("dnsmasq.leases")).leases + parse_odhcpd(fixture_text("odhcpd.state")).leases
    table = ClientTable.build(arp, leases, now=1735689000)
    assert table.identify("::ffff:192.168.1.23", b"", False).name == "Emmas-iPad"
    assert table.identify("2001:db8:1::23", b"", False).key == f"mac:{CHILD_MAC}"
    assert table.identify("192.168.1.77", b"", False).name == "Tom's laptop"
    assert table.identify("192.168.1.31", b"", False).key == "ip:192.168.1.31"  # its lease ran out


# --- the per-query cache -------------------------------------------------------


def test_repeated_lookups_return_the_same_answer(table: ClientTable) -> None:
    first = table.identify(CHILD_IP, b"", False)
    assert table.identify(CHILD_IP, b"", False) is first
    assert table.identify(CHILD_IP, mac_option(PARENT_MAC), False) is first
    routed = table.identify(ROUTER_IP, mac_option(PARENT_MAC), True)
    assert table.identify(ROUTER_IP, mac_option(PARENT_MAC), True) is routed


def test_router_answer_is_not_reused_for_another_address(table: ClientTable) -> None:
    table.identify(ROUTER_IP, mac_option(PARENT_MAC), True)
    # Same options, but from a second trusted address: its own answer.
    other = table.identify("192.168.1.2", mac_option(PARENT_MAC), True)
    assert other.ip == "192.168.1.2"


def test_cache_is_bounded(table: ClientTable, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clients, "CACHE_LIMIT", 8)
    for host in range(100):
        assert table.identify(f"2001:db8:1::{host:x}:1", b"", False).source == "ip-only"
        table.identify(ROUTER_IP, ecs(1, 32, bytes([10, 0, 0, host])), True)
    assert len(table._by_ip) <= 8
    assert len(table._forwarded) <= 8


def test_cached_lookup_allocates_nothing(table: ClientTable) -> None:
    for ip in (CHILD_IP, "192.168.1.200"):
        table.identify(ip, b"", False)
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        for _ in range(10_000):
            table.identify(CHILD_IP, b"", False)
            table.identify("192.168.1.200", b"", False)
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert after - before < 1024


# --- refresh ---------------------------------------------------------------------


def fixture_paths(**changes: object) -> ClientSourcePaths:
    values: dict[str, object] = {
        "arp": str(FIXTURES / "proc_net_arp.txt"),
        "neighbour_command": None,
        "ip_neigh_files": (str(FIXTURES / "ip_neigh.txt"),),
        "dnsmasq_leases": (str(FIXTURES / "dnsmasq.leases"),),
        "odhcpd": (str(FIXTURES / "odhcpd.state"), str(FIXTURES / "odhcpd.hosts")),
    }
    values.update(changes)
    return ClientSourcePaths(**values)  # type: ignore[arg-type]


async def test_read_client_sources() -> None:
    table = await read_client_sources(fixture_paths())
    assert table.identify(CHILD_IP, b"", False) == ClientId(f"mac:{CHILD_MAC}", CHILD_IP, CHILD_MAC, "Emmas-iPad", "arp")
    assert table.identify("fd00::42", b"", False).name == "<b>Max</b>"


async def test_missing_sources_are_fine(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    missing = str(tmp_path / "nothing-here")
    paths = ClientSourcePaths(
        arp=missing, neighbour_command=(str(tmp_path / "no-such-ip"),), ip_neigh_files=(missing,),
        dnsmasq_leases=(missing,), odhcpd=(missing,),
    )
    with caplog.at_level(logging.WARNING, logger=clients.__name__):
        table = await read_client_sources(paths)
    assert len(table) == 0
    assert table.identify(CHILD_IP, b"", False).key == f"ip:{CHILD_IP}"
    assert not caplog.records


async def test_unreadable_source_is_reported_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    unreadable = tmp_path / "dnsmasq.leases"
    unreadable.mkdir()  # reading a directory fails even for root
    paths = fixture_paths(dnsmasq_leases=(str(unreadable),))
    with caplog.at_level(logging.WARNING, logger=clients.__name__):
        for _ in range(3):
            table = await read_client_sources(paths)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert str(unreadable) in warnings[0] and "IP address" in warnings[0]
    assert table.identify(CHILD_IP, b"", False).mac == CHILD_MAC  # the other sources still count


async def test_neighbour_command(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    neigh = "2001:db8:1::77 dev br-lan lladdr 3c:22:fb:11:22:77 REACHABLE"
    paths = ClientSourcePaths(
        arp=None, neighbour_command=(sys.executable, "-c", f"print({neigh!r})"), dnsmasq_leases=(), odhcpd=()
    )
    table = await read_client_sources(paths)
    assert table.identify("2001:db8:1::77", b"", False).mac == "3c:22:fb:11:22:77"

    failing = ClientSourcePaths(
        arp=None, neighbour_command=(sys.executable, "-c", "raise SystemExit(3)"), dnsmasq_leases=(), odhcpd=()
    )
    with caplog.at_level(logging.WARNING, logger=clients.__name__):
        for _ in range(2):
            await read_client_sources(failing)
    assert len([r for r in caplog.records if "exit status 3" in r.getMessage()]) == 1
