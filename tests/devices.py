"""What the device tests share: example devices, the fixture files of
neighbour tables and leases, and EDNS options as a router adds them."""

from __future__ import annotations

import struct
from pathlib import Path

from dnsfilter.dns.edns import OPTION_CLIENT_SUBNET, OPTION_MAC

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "clients"

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


# An option that names no device (a DNS cookie), as real queries carry.
COOKIE = option(10, bytes(range(8)))
