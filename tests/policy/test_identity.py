"""Who is asking: MACs, addresses and names written one way, and the device table
that identifies a device from known facts."""

from __future__ import annotations

import ipaddress
import tracemalloc

import pytest

from dnsfilter.dns.edns import (
    OPTION_NOMINUM_DEVICE_ID,
    identify,
)
from dnsfilter.policy import identity as clients
from dnsfilter.policy.identity import (
    MAX_NAME_CHARS,
    ClientId,
    ClientTable,
    canonical_ip,
    clean_name,
    normalise_device_key,
    normalise_mac,
)
from dnsfilter.service.leasefiles import (
    Lease,
    parse_dnsmasq_leases,
    parse_ip_neigh,
    parse_odhcpd,
    parse_proc_arp,
)
from tests.devices import (
    CHILD_IP,
    CHILD_MAC,
    COOKIE,
    PARENT_MAC,
    ROUTER_IP,
    ecs,
    fixture_text,
    mac_option,
    option,
)

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
        ("mac:aa:bb:cc:dd:ee:ff", "mac:aa:bb:cc:dd:ee:ff"),
        ("mac:AA-BB-CC-DD-EE-FF", "mac:aa:bb:cc:dd:ee:ff"),
        ("mac:aabb.ccdd.eeff", "mac:aa:bb:cc:dd:ee:ff"),
        ("mac:AABBCCDDEEFF", "mac:aa:bb:cc:dd:ee:ff"),
        (" MAC : aa:bb:cc:dd:ee:ff\n", "mac:aa:bb:cc:dd:ee:ff"),
        ("ip:192.168.1.23", "ip:192.168.1.23"),
        ("ip:2001:DB8:0:0:0:0:0:23", "ip:2001:db8::23"),
        ("ip:::ffff:192.168.1.23", "ip:192.168.1.23"),
        ("IP:fe80::1%br-lan", "ip:fe80::1"),
    ],
    ids=["canonical", "windows", "cisco", "bare", "spaces-and-case", "ipv4", "ipv6", "v4-mapped", "scope"],
)
def test_normalise_device_key(text: str, expected: str) -> None:
    assert normalise_device_key(text) == expected


def test_a_normalised_key_is_the_key_the_resolver_makes() -> None:
    table = ClientTable.build({"192.168.1.5": "AA-BB-CC-DD-EE-FF"}, [])
    assert table.identify("192.168.1.5").key == normalise_device_key("mac:AA-BB-CC-DD-EE-FF")
    assert table.identify("2001:db8::23").key == normalise_device_key("ip:2001:DB8:0:0:0:0:0:23")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("mac:zz:zz", 'the device key "mac:zz:zz" is not a MAC address; write it like mac:aa:bb:cc:dd:ee:ff'),
        ("mac:", 'the device key "mac:" is not a MAC address'),
        ("mac:01:00:5e:00:00:fb", 'the device key "mac:01:00:5e:00:00:fb" is a broadcast, multicast or all-zero'),
        ("mac:00:00:00:00:00:00", "is a broadcast, multicast or all-zero address, which no one device has"),
        ("ip:banana", 'the device key "ip:banana" is not an IP address; write it like ip:192.168.1.23'),
        ("ip:192.168.1.0/24", 'the device key "ip:192.168.1.0/24" is a network, not one device; write the address'),
        ("ip:2001:db8::/64", "is a network, not one device"),
        ("ip:192.168.1.300", "is not an IP address"),
        ("aa:bb:cc:dd:ee:ff", '"aa:bb:cc:dd:ee:ff" is not a device key; write mac: and the device\'s MAC address'),
        ("phone", '"phone" is not a device key'),
        ("mac:\x1b[2J", 'the device key "mac:\\x1b[2J" is not a MAC address'),
    ],
    ids=["not-hex", "empty-mac", "multicast", "all-zero", "not-an-address", "ipv4-network", "ipv6-network",
         "bad-octet", "no-kind", "a-name", "escapes-shown"],
)  # fmt: skip
def test_keys_that_name_no_device_are_refused_saying_what_to_write(text: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        normalise_device_key(text)
    assert message in str(caught.value)


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
    assert identify(table, CHILD_IP, b"", False) == ClientId(f"mac:{CHILD_MAC}", CHILD_IP, CHILD_MAC, "Emmas-iPad", "arp")
    assert identify(table, "192.168.1.50", b"", False) == ClientId(
        f"mac:{PARENT_MAC}", "192.168.1.50", PARENT_MAC, "Mums-Phone", "lease"
    )
    assert identify(table, "192.168.1.60", b"", False).name is None


def test_unknown_address_is_identified_by_ip(table: ClientTable) -> None:
    assert identify(table, "192.168.1.200", b"", False) == ClientId("ip:192.168.1.200", "192.168.1.200", None, None, "ip-only")
    assert identify(table, "2001:db8:1::99", b"", False) == ClientId(
        "ip:2001:db8:1::99", "2001:db8:1::99", None, "kid-pc", "ip-only"
    )


def test_ipv6_address_of_a_known_device_shares_its_key(table: ClientTable) -> None:
    v6 = identify(table, "2001:db8:1::23", b"", False)
    assert v6.key == identify(table, CHILD_IP, b"", False).key
    assert v6.name == "Emmas-iPad"


@pytest.mark.parametrize("spelling", ["::ffff:192.168.1.23", "::FFFF:192.168.1.23", "::ffff:c0a8:117"])
def test_ipv4_mapped_address_is_ipv4(table: ClientTable, spelling: str) -> None:
    assert identify(table, spelling, b"", False) == identify(table, CHILD_IP, b"", False)


def test_scoped_link_local_address() -> None:
    table = ClientTable.build({"fe80::3e22:fbff:fe11:2233": CHILD_MAC}, [])
    assert identify(table, "fe80::3e22:fbff:fe11:2233%br-lan", b"", False).mac == CHILD_MAC


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
    client = identify(table, CHILD_IP, options, from_router=False)
    assert client == ClientId(f"mac:{CHILD_MAC}", CHILD_IP, CHILD_MAC, "Emmas-iPad", "arp")


def test_mac_option_from_the_router_is_believed(table: ClientTable) -> None:
    client = identify(table, ROUTER_IP, mac_option(PARENT_MAC), from_router=True)
    assert client == ClientId(f"mac:{PARENT_MAC}", ROUTER_IP, PARENT_MAC, "Mums-Phone", "edns")


def test_router_mac_and_host_subnet_give_the_device_address(table: ClientTable) -> None:
    options = COOKIE + ecs(1, 32, bytes([192, 168, 1, 50])) + option(OPTION_NOMINUM_DEVICE_ID, b"oLHC0+T1")
    client = identify(table, ROUTER_IP, options, from_router=True)
    assert client == ClientId(f"mac:{PARENT_MAC}", "192.168.1.50", PARENT_MAC, "Mums-Phone", "edns")


def test_router_host_subnet_alone_is_looked_up(table: ClientTable) -> None:
    client = identify(table, ROUTER_IP, ecs(1, 32, bytes([192, 168, 1, 23])), from_router=True)
    assert client == ClientId(f"mac:{CHILD_MAC}", CHILD_IP, CHILD_MAC, "Emmas-iPad", "arp")
    v4_mapped = ecs(2, 128, ipaddress.IPv6Address("::ffff:192.168.1.23").packed)
    assert identify(table, ROUTER_IP, v4_mapped, from_router=True) == client


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
    assert identify(table, ROUTER_IP, options, from_router=True) == identify(table, ROUTER_IP, b"", False)


def test_subnet_with_router_mac_keeps_router_address(table: ClientTable) -> None:
    client = identify(table, ROUTER_IP, mac_option(PARENT_MAC) + ecs(1, 24, bytes([192, 168, 1])), from_router=True)
    assert (client.ip, client.mac, client.source) == (ROUTER_IP, PARENT_MAC, "edns")


def test_neighbour_table_wins_over_lease() -> None:
    # The child asked for the parent's address with the parent's MAC in its
    # DHCP request, but its frames carry its own MAC.
    table = ClientTable.build({"192.168.1.50": CHILD_MAC}, [Lease("192.168.1.50", PARENT_MAC, "Mums-Phone", None)])
    client = identify(table, "192.168.1.50", b"", False)
    assert (client.mac, client.source, client.name) == (CHILD_MAC, "arp", None)


def test_latest_lease_wins_and_expired_leases_are_left_out() -> None:
    leases = [
        Lease("192.168.1.70", "f0:18:98:aa:bb:01", "new-name", 2000),
        Lease("192.168.1.70", "f0:18:98:aa:bb:01", "old-name", 1000),
        Lease("192.168.1.71", "f0:18:98:aa:bb:02", "gone", 1000),
    ]
    table = ClientTable.build({}, leases, now=1500)
    assert identify(table, "192.168.1.70", b"", False).name == "new-name"
    assert identify(table, "192.168.1.71", b"", False).key == "ip:192.168.1.71"
    assert identify(ClientTable.build({}, leases), "192.168.1.71", b"", False).name == "gone"


def test_build_skips_bad_entries() -> None:
    table = ClientTable.build(
        {"not-an-ip": CHILD_MAC, "192.168.1.5": "ff:ff:ff:ff:ff:ff", "::ffff:192.168.1.6": "3C-22-FB-11-22-33"},
        [Lease("bogus", CHILD_MAC, "x", None)],
    )
    assert len(table) == 1
    assert identify(table, "192.168.1.6", b"", False).mac == CHILD_MAC


def test_fixture_files_together() -> None:
    arp = dict(parse_proc_arp(fixture_text("proc_net_arp.txt")).macs)
    arp.update(parse_ip_neigh(fixture_text("ip_neigh.txt")).macs)
    leases = parse_dnsmasq_leases(fixture_text("dnsmasq.leases")).leases + parse_odhcpd(fixture_text("odhcpd.state")).leases
    table = ClientTable.build(arp, leases, now=1735689000)
    assert identify(table, "::ffff:192.168.1.23", b"", False).name == "Emmas-iPad"
    assert identify(table, "2001:db8:1::23", b"", False).key == f"mac:{CHILD_MAC}"
    assert identify(table, "192.168.1.77", b"", False).name == "Tom's laptop"
    assert identify(table, "192.168.1.31", b"", False).key == "ip:192.168.1.31"  # its lease ran out


# --- the per-query cache -------------------------------------------------------


def test_repeated_lookups_return_the_same_answer(table: ClientTable) -> None:
    first = identify(table, CHILD_IP, b"", False)
    assert identify(table, CHILD_IP, b"", False) is first
    assert identify(table, CHILD_IP, mac_option(PARENT_MAC), False) is first
    routed = identify(table, ROUTER_IP, mac_option(PARENT_MAC), True)
    assert identify(table, ROUTER_IP, mac_option(PARENT_MAC), True) == routed


def test_router_answer_is_not_reused_for_another_address(table: ClientTable) -> None:
    identify(table, ROUTER_IP, mac_option(PARENT_MAC), True)
    # Same options, but from a second trusted address: its own answer.
    other = identify(table, "192.168.1.2", mac_option(PARENT_MAC), True)
    assert other.ip == "192.168.1.2"


def test_cache_is_bounded(table: ClientTable, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clients, "CACHE_LIMIT", 8)
    for host in range(100):
        assert identify(table, f"2001:db8:1::{host:x}:1", b"", False).source == "ip-only"
        identify(table, ROUTER_IP, ecs(1, 32, bytes([10, 0, 0, host])), True)
    assert len(table._by_ip) <= 8


def test_cached_lookup_allocates_nothing(table: ClientTable) -> None:
    for ip in (CHILD_IP, "192.168.1.200"):
        identify(table, ip, b"", False)
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        for _ in range(10_000):
            identify(table, CHILD_IP, b"", False)
            identify(table, "192.168.1.200", b"", False)
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert after - before < 1024
