"""Replies reused within the second: never stale, never across clients or rule changes."""

from __future__ import annotations

from pathlib import Path

from dnslib import DNSRecord

from dnsfilter.dns.recent import RecentReplies
from tests.fakes import DnsClient, FakeUpstream, make_query
from tests.running import FrozenClock, make_config, running_service


def test_kept_per_client_until_the_given_time() -> None:
    recent: RecentReplies[str] = RecentReplies()
    recent.put("10.0.0.2", b"packet", b"reply", until=101.0, note="logged as")
    assert recent.get("10.0.0.2", b"packet", 100.5) == (b"reply", 101.0, "logged as")
    assert recent.get("10.0.0.2", b"packet", 101.0) is None
    assert recent.get("10.0.0.3", b"packet", 100.5) is None
    assert recent.get("10.0.0.2", b"other", 100.5) is None


def test_bounded() -> None:
    recent: RecentReplies[None] = RecentReplies(limit=10)
    for i in range(25):
        recent.put("c", bytes([i]), b"r", until=1e9, note=None)
    assert recent.get("c", bytes([24]), 0.0) == (b"r", 1e9, None)
    assert recent.get("c", bytes([0]), 0.0) is None


def test_when_full_every_client_keeps_its_newest_replies() -> None:
    recent: RecentReplies[None] = RecentReplies(limit=80)
    for i in range(40):
        recent.put("tablet", bytes([i]), b"t", until=1e9, note=None)
        recent.put("phone", bytes([i]), b"p", until=1e9, note=None)
    recent.put("laptop", b"q", b"l", until=1e9, note=None)  # the 81st: the oldest go
    kept = {client: [i for i in range(40) if recent.get(client, bytes([i]), 0.0)] for client in ("tablet", "phone")}
    assert kept["tablet"] == kept["phone"] == list(range(5, 40))  # an eighth of the limit went, half each
    assert recent.get("laptop", b"q", 0.0) == (b"l", 1e9, None)


async def test_a_rule_change_applies_to_the_very_next_query(
    fake_upstream: FakeUpstream, dns_client: DnsClient, tmp_path: Path
) -> None:
    fake_upstream.add("games.example. 300 IN A 192.0.2.7")
    clock = FrozenClock()
    async with running_service(make_config(tmp_path, [fake_upstream.address]), clock) as running:
        packet = make_query("games.example", qid=1)
        for _ in range(3):
            assert str(DNSRecord.parse(await dns_client.udp(packet, running.address)).rr[0].rdata) == "192.0.2.7"
        service = running.service
        service.keeper.deny = ("games.example",)
        service.resolver.policy = service.keeper.rebuild(service.blocklists.index)
        reply = DNSRecord.parse(await dns_client.udp(packet, running.address))
        assert str(reply.rr[0].rdata) == "0.0.0.0"


async def test_ttls_still_count_down_each_second(
    fake_upstream: FakeUpstream, dns_client: DnsClient, tmp_path: Path
) -> None:
    fake_upstream.add("example.org. 300 IN A 192.0.2.1")
    clock = FrozenClock()
    async with running_service(make_config(tmp_path, [fake_upstream.address]), clock) as running:
        packet = make_query("example.org", qid=5)
        ttls = []
        for step in range(4):
            reply = DNSRecord.parse(await dns_client.udp(packet, running.address))
            ttls.append(reply.rr[0].ttl)
            clock.advance(0.6)
    assert ttls == [300, 300, 299, 299]
