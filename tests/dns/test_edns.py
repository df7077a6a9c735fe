"""EDNS options naming the device behind a router: MAC and client subnet."""

from __future__ import annotations

import base64
import ipaddress
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dnsfilter.dns.edns import (
    OPTION_CLIENT_SUBNET,
    OPTION_MAC,
    OPTION_NOMINUM_DEVICE_ID,
    client_subnet,
    identify,
    mac_from_edns,
)
from dnsfilter.policy.identity import (
    ClientId,
    ClientTable,
    normalise_mac,
)
from tests.devices import (
    CHILD_MAC,
    COOKIE,
    PARENT_MAC,
    ROUTER_IP,
    ecs,
    mac_option,
    option,
)

# --- EDNS options ---------------------------------------------------------------



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
        assert isinstance(identify(table, ROUTER_IP, options, from_router), ClientId)
