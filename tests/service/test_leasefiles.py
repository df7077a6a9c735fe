"""Reading who is on the network: neighbour tables and DHCP lease files, down to
their odd lines."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dnsfilter.policy.identity import (
    canonical_ip,
    clean_name,
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
    CHILD_MAC,
    PARENT_MAC,
    fixture_text,
)

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
