"""Which profile decides a query: per source address, per forwarded device, kept until replaced."""

from __future__ import annotations

import pytest
from dnslib import EDNS0, DNSRecord, EDNSOption

from dnsfilter.dns import wire
from dnsfilter.dns.edns import OPTION_MAC
from dnsfilter.dns.profiles import _SEEN_LIMIT, ClientProfiles
from dnsfilter.lists.index import DomainIndex
from dnsfilter.policy.decision import Action, Reason
from dnsfilter.policy.identity import ClientTable
from dnsfilter.policy.snapshot import PolicySnapshot
from tests.policy.test_snapshot import device, index, profile, snapshot  # noqa: F401 (index is a fixture)

MIA_MAC = "aa:bb:cc:dd:ee:01"
ROUTER = "192.168.1.1"


def query(name: str, mac: str | None = None) -> wire.Query:
    record = DNSRecord.question(name)
    if mac is not None:
        record.add_ar(EDNS0(udp_len=1232, opts=[EDNSOption(OPTION_MAC, bytes.fromhex(mac.replace(":", "")))]))
    return wire.parse_query(bytes(record.pack()))


@pytest.fixture
def family(index: DomainIndex) -> PolicySnapshot:  # noqa: F811
    parent = profile(1, name="Parents")
    mia = profile(2, name="Mia", is_default=False, blocked_tags=frozenset({"games"}))
    return snapshot(
        index,
        parent,
        mia,
        devices=[device(1, "ip:192.168.1.20", 2), device(2, f"mac:{MIA_MAC}", 2)],
    )


def table() -> ClientTable:
    return ClientTable.build({"192.168.1.30": MIA_MAC}, ())


def test_each_device_gets_its_profiles_decision(family: PolicySnapshot) -> None:
    profiles = ClientProfiles(family, table(), frozenset())
    games = query("games.example")
    _device, mia, decision = profiles.decide(games, "192.168.1.20")
    assert mia.name == "Mia" and decision.action is Action.BLOCK and decision.reason is Reason.CATEGORY
    # Known by MAC through the neighbour table, from another address: still Mia.
    assert profiles.decide(games, "192.168.1.30")[2].action is Action.BLOCK
    device, parent, decision = profiles.decide(games, "192.168.1.9")
    assert parent.name == "Parents" and decision.action is Action.ALLOW
    assert device.key == "ip:192.168.1.9"


def test_the_same_query_from_two_profiles_is_decided_apart(family: PolicySnapshot) -> None:
    profiles = ClientProfiles(family, table(), frozenset())
    games = query("games.example")
    for _ in range(3):  # from the memo after the first round
        assert profiles.decide(games, "192.168.1.20")[2].action is Action.BLOCK
        assert profiles.decide(games, "192.168.1.9")[2].action is Action.ALLOW


def test_mac_option_believed_only_from_a_forwarder(family: PolicySnapshot) -> None:
    games = query("games.example", mac=MIA_MAC)
    trusting = ClientProfiles(family, table(), frozenset({ROUTER}))
    assert trusting.decide(games, ROUTER)[2].action is Action.BLOCK
    # The router speaks for every device: the next device behind it is not Mia.
    assert trusting.decide(query("games.example", mac="aa:bb:cc:dd:ee:99"), ROUTER)[2].action is Action.ALLOW
    assert trusting.decide(games, ROUTER)[2].action is Action.BLOCK
    # The same option from anyone but a forwarder is ignored: a child cannot claim another device's MAC.
    assert ClientProfiles(family, table(), frozenset()).decide(games, ROUTER)[2].action is Action.ALLOW
    assert trusting.decide(games, "192.168.1.9")[2].action is Action.ALLOW


def test_devices_seen_are_handed_over_once_per_round(family: PolicySnapshot) -> None:
    profiles = ClientProfiles(family, table(), frozenset({ROUTER}))
    profiles.decide(query("a.example"), "192.168.1.20")
    profiles.decide(query("b.example"), "192.168.1.20")
    profiles.decide(query("a.example", mac="aa:bb:cc:dd:ee:77"), ROUTER)
    seen = profiles.take_seen()
    assert sorted(seen) == ["ip:192.168.1.20", "mac:aa:bb:cc:dd:ee:77"]
    assert seen["mac:aa:bb:cc:dd:ee:77"].source == "edns"
    assert profiles.take_seen() == {}
    # Still asking in the next round: seen again (so last_seen moves on).
    profiles.decide(query("a.example"), "192.168.1.20")
    assert list(profiles.take_seen()) == ["ip:192.168.1.20"]


def test_unknown_devices_get_the_new_devices_profile(index: DomainIndex) -> None:  # noqa: F811
    strict = profile(2, name="Strict", is_default=False, blocked_tags=frozenset({"games"}))
    snap = snapshot(index, profile(1), strict)
    chosen = PolicySnapshot(
        version=snap.version, built_at=snap.built_at, index=snap.index, profiles=snap.profiles,
        default_profile_id=1, device_profile=snap.device_profile, new_device_profile_id=2,
    )
    _device, profile_used, decision = ClientProfiles(chosen, table(), frozenset()).decide(
        query("games.example"), "10.0.0.5"
    )
    assert profile_used.name == "Strict" and decision.action is Action.BLOCK


def test_a_flood_of_addresses_is_bounded_and_recorded_devices_are_still_seen(family: PolicySnapshot) -> None:
    profiles = ClientProfiles(family, table(), frozenset())
    games = query("games.example")
    for number in range(_SEEN_LIMIT + 1000):  # one host sending from made-up addresses
        profiles.decide(games, f"10.{number >> 16 & 255}.{number >> 8 & 255}.{number & 255}")
    assert len(profiles.seen) == _SEEN_LIMIT
    # A device the database knows is still noted, so its last_seen keeps moving during the flood.
    assert profiles.decide(games, "192.168.1.20")[2].action is Action.BLOCK
    seen = profiles.take_seen()
    assert len(seen) == _SEEN_LIMIT + 1 and "ip:192.168.1.20" in seen
