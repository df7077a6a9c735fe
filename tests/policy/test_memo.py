"""Full memos forget their oldest entries a slice at a time, never all at once."""

from __future__ import annotations

from dnsfilter.dns.canned import NULL_IP, CannedReplies
from dnsfilter.dns.wire import QueryParser
from dnsfilter.policy.memo import FORGET_SHARE, forget_oldest, make_room
from tests.fakes import make_query


def test_a_full_memo_forgets_only_its_oldest_eighth() -> None:
    memo = {number: str(number) for number in range(800)}
    make_room(memo, 800)
    assert len(memo) == 800 - 800 // FORGET_SHARE
    assert min(memo) == 100 and max(memo) == 799
    memo[800] = "800"
    assert list(memo)[-1] == 800  # new entries go last, so they are forgotten last


def test_a_memo_over_its_limit_comes_back_under_it() -> None:
    memo = {number: number for number in range(50)}
    make_room(memo, 10)
    assert list(memo) == list(range(41, 50))


def test_forgetting_more_than_there_is_empties_it() -> None:
    memo = {"a": 1, "b": 2}
    forget_oldest(memo, 5)
    assert memo == {}
    forget_oldest(memo, 0)
    assert memo == {}


def test_the_query_parser_keeps_recent_packets_when_full() -> None:
    parser = QueryParser(limit=16)
    packets = [make_query(f"n{number}.example", qid=number) for number in range(40)]
    parsed = [parser.parse(packet) for packet in packets]
    # The newest packets are still memoised: the same Query object comes back.
    assert all(parser.parse(packet) is query for packet, query in zip(packets[-12:], parsed[-12:]))
    again = parser.parse(packets[0])
    assert again is not parsed[0]  # forgotten, and parsed again alike
    assert (again.qname, again.qtype) == (parsed[0].qname, parsed[0].qtype) == ("n0.example", 1)


def test_canned_replies_stay_the_same_bytes_after_forgetting() -> None:
    canned = CannedReplies(udp_size=1232, block_ttl=60)
    parser = QueryParser()
    queries = [parser.parse(make_query(f"n{number}.example")) for number in range(9000)]
    replies = [canned.reply(query, NULL_IP) for query in queries]
    assert canned.reply(queries[0], NULL_IP) == replies[0]
    assert canned.reply(queries[-1], NULL_IP) is replies[-1]
