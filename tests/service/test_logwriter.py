"""The query log writer: buffered answers to rows and hourly counts, written
on SQLite and PostgreSQL, names exactly as they came off the wire; the
writer keeping what it could not write. Screen-time minutes are in
test_logwriter_minutes.py, with the helpers defined here.

Queries are parsed from real packets (``parse_query``), replies are real
DNS messages, so the names and answer summaries are the ones the running
filter would log.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from dnslib import RCODE
from sqlalchemy import select

from dnsfilter.dns import wire
from dnsfilter.dns.logbuffer import FROM_CACHE, FROM_FILTER, Entries, Entry, LogBuffer
from dnsfilter.errors import StoreError
from dnsfilter.lists.index import DomainIndex, IndexBuilder
from dnsfilter.policy.decision import ALLOW, Action, Decision, Reason
from dnsfilter.policy.tags import mask_of, names_of
from dnsfilter.service.logwriter import BatchBuilder, LogWriter
from dnsfilter.store import Database
from dnsfilter.store.querylog.models import HourlyCount, LogCounter, QueryLogRow
from tests.fakes import make_query, raw_query, zone_reply

BERLIN = ZoneInfo("Europe/Berlin")
DEVICE = "mac:02:00:00:00:00:01"
OTHER_DEVICE = "ip:192.0.2.20"
PROFILE = 3
UPSTREAM = "192.0.2.53:53"
AT = datetime(2025, 3, 14, 18, 0, 30, tzinfo=UTC).timestamp()
HOUR = int(AT // 3600)
# What the test names are listed under (the "index" of the pure tests).
TAGS = {"chatapp.example": ("social", "service:chatapp"), "games.example": ("games",), "adult.example": ("adult",)}

BLOCKED_ADULT = Decision(Action.BLOCK, Reason.CATEGORY, "adult", "test-adult", "adult.example")
REWRITTEN = Decision(Action.REWRITE, Reason.SAFE_SEARCH, "google", target="forcesafesearch.google.com")
BYPASS = Decision(Action.LOCAL_NXDOMAIN, Reason.BYPASS)


def query(name: str, qtype: str = "A") -> wire.Query:
    return wire.parse_query(make_query(name, qtype))


def reply(name: str, *records: str, qtype: str = "A", rcode: int = RCODE.NOERROR) -> bytes:
    return zone_reply(*records, name=name, qtype=qtype, rcode=rcode)


def entry(
    name: str,
    decision: Decision = ALLOW,
    *,
    at: float = AT,
    device: str = DEVICE,
    profile: int = PROFILE,
    upstream: str = FROM_CACHE,
    response_us: int = 0,
    answer: bytes | None = None,
    qtype: str = "A",
) -> Entry:
    the_reply = answer if answer is not None else reply(name, f"{name}. 60 IN A 192.0.2.10")
    return at, (device, profile, query(name, qtype), decision, upstream, response_us, the_reply)


def builder(zone: ZoneInfo = BERLIN, instance: str = "filter-a") -> BatchBuilder:
    return BatchBuilder(instance, zone, lambda name: TAGS.get(name, ()))


def at_utc(year: int, month: int, day: int, hour: int, minute: int = 0, second: int = 0) -> float:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp()


# --- rows ------------------------------------------------------------------------------

COMMON = {"at_ms": int(AT * 1000), "instance": "filter-a", "device": DEVICE, "profile_id": PROFILE, "repeats": 1}
ALLOWED = {"action": "allow", "reason": "allowed", "category": None, "list_id": None, "rule": None}

ROWS = {
    "allowed from cache": (
        entry("example.org"),
        {"name": "example.org", "qtype": 1, "tags": "", **ALLOWED, "upstream": "cache", "response_us": 0,
         "rcode": 0, "answer": "192.0.2.10"},
    ),
    "blocked by a category": (
        entry("adult.example", BLOCKED_ADULT, upstream=FROM_FILTER,
              answer=reply("adult.example", "adult.example. 10 IN A 0.0.0.0")),
        {"name": "adult.example", "qtype": 1, "tags": "adult", "action": "block", "reason": "category",
         "category": "adult", "list_id": "test-adult", "rule": "adult.example", "upstream": "filter",
         "response_us": 0, "rcode": 0, "answer": "0.0.0.0"},
    ),
    "bypass answered here": (
        entry("use-application-dns.net", BYPASS, upstream=FROM_FILTER,
              answer=reply("use-application-dns.net", rcode=RCODE.NXDOMAIN)),
        {"name": "use-application-dns.net", "qtype": 1, "tags": "", "action": "local_nxdomain",
         "reason": "bypass", "category": None, "list_id": None, "rule": None, "upstream": "filter",
         "response_us": 0, "rcode": 3, "answer": ""},
    ),
    "safe search rewrite": (
        entry("www.google.com", REWRITTEN, upstream=UPSTREAM, response_us=2_100,
              answer=reply("www.google.com", "www.google.com. 300 IN CNAME forcesafesearch.google.com.",
                            "forcesafesearch.google.com. 300 IN A 216.239.38.120")),
        {"name": "www.google.com", "qtype": 1, "tags": "", "action": "rewrite", "reason": "safe_search",
         "category": "google", "list_id": None, "rule": None, "upstream": UPSTREAM, "response_us": 2_100,
         "rcode": 0, "answer": "forcesafesearch.google.com"},
    ),
    "upstream miss": (
        entry("games.example", upstream=UPSTREAM, response_us=12_345, qtype="AAAA",
              answer=reply("games.example", "games.example. 300 IN AAAA 2001:db8::7", qtype="AAAA")),
        {"name": "games.example", "qtype": 28, "tags": "games", **ALLOWED, "upstream": UPSTREAM,
         "response_us": 12_345, "rcode": 0, "answer": "2001:db8::7"},
    ),
    "servfail": (
        # No upstream answered: the resolver logs no server and the time it waited.
        entry("broken.example", upstream="", response_us=500_000,
              answer=reply("broken.example", rcode=RCODE.SERVFAIL)),
        {"name": "broken.example", "qtype": 1, "tags": "", **ALLOWED, "upstream": "", "response_us": 500_000,
         "rcode": 2, "answer": ""},
    ),
}  # fmt: skip


def stored_rows(database: Database) -> list[dict[str, Any]]:
    with database.reading() as session:
        rows = session.execute(select(QueryLogRow).order_by(QueryLogRow.id)).scalars()
        return [{column: getattr(row, column) for column in ROW_COLUMNS} for row in rows]


ROW_COLUMNS = tuple(column.name for column in QueryLogRow.__table__.columns if column.name != "id")


async def store(database: Database, entries: Iterable[Entry], made: BatchBuilder | None = None) -> LogWriter:
    """Entries through the buffer and the writer, as the running filter logs them."""
    buffer = LogBuffer()
    for item in entries:
        buffer.add(*item)
    writer = LogWriter(lambda: database, buffer, made or builder(), flush_seconds=1.0, batch_size=10)
    await writer.flush()
    return writer


@pytest.mark.parametrize(("logged", "expected"), ROWS.values(), ids=ROWS.keys())
async def test_each_kind_of_answer_makes_its_row(database: Database, logged: Entry, expected: dict[str, Any]) -> None:
    await store(database, [logged])
    assert stored_rows(database) == [{**COMMON, **expected}]


SUMMARIES = {
    "address": (reply("example.org", "example.org. 60 IN A 192.0.2.1", "example.org. 60 IN A 192.0.2.2"),
                (0, "192.0.2.1")),
    "ipv6 address": (reply("example.org", "example.org. 60 IN AAAA 2001:db8::1", qtype="AAAA"), (0, "2001:db8::1")),
    "cname target first": (reply("www.example.org", "www.example.org. 60 IN CNAME cdn.example.net.",
                                 "cdn.example.net. 60 IN A 192.0.2.9"), (0, "cdn.example.net")),
    "other type": (reply("example.org", "example.org. 60 IN MX 10 mail.example.org.", qtype="MX"), (0, "type 15")),
    "no records": (reply("example.org", qtype="AAAA"), (0, "")),
    "nxdomain": (reply("nothing.example.org", rcode=RCODE.NXDOMAIN), (3, "")),
    "header only": (bytes(12), (0, "")),
}  # fmt: skip


async def test_answer_summaries(database: Database) -> None:
    await store(database, [entry("example.org", answer=answer) for answer, _ in SUMMARIES.values()])
    summaries = [(row["rcode"], row["answer"]) for row in stored_rows(database)]
    assert dict(zip(SUMMARIES, summaries, strict=True)) == {case: summary for case, (_, summary) in SUMMARIES.items()}


async def test_summaries_shared_in_a_batch_stay_each_answers_own(database: Database) -> None:
    # Blocked names' replies differ only in the name: one summary serves them
    # all. Aliases pointing into their own question look alike after it, yet
    # each names its own target.
    blocked = [entry(f"site{n}.example", BLOCKED_ADULT, answer=reply(f"site{n}.example", f"site{n}.example. 60 IN A 0.0.0.0"))
               for n in range(3)]
    aliases = [entry(f"www.{name}", answer=reply(f"www.{name}", f"www.{name}. 60 IN CNAME {name}."))
               for name in ("a.example", "b.example")]
    await store(database, [*blocked, *aliases])
    assert [(row["name"], row["answer"]) for row in stored_rows(database)] == [
        ("site0.example", "0.0.0.0"), ("site1.example", "0.0.0.0"), ("site2.example", "0.0.0.0"),
        ("www.a.example", "a.example"), ("www.b.example", "b.example"),
    ]


async def test_a_write_takes_half_the_bounds_and_the_last_flush_writes_everything(database: Database) -> None:
    buffer = LogBuffer(limit=40)
    for n in range(25):
        buffer.add(*entry(f"site{n}.example", at=AT + n))
    writer = LogWriter(lambda: database, buffer, builder(), flush_seconds=60.0, batch_size=100_000)
    assert await writer.flush() == 20  # half of 40: the other half is room for the newest meanwhile
    for n in range(25, 60):
        buffer.add(*entry(f"site{n}.example", at=AT + n))
    await writer.finish(asyncio.create_task(asyncio.sleep(0)))  # at shutdown: all that is left, in batches
    assert [row["name"] for row in stored_rows(database)] == [f"site{n}.example" for n in range(60)]
    assert (buffer.dropped, len(buffer), writer.written) == (0, 0, 60)


async def test_a_write_takes_batch_size_entries_at_most(database: Database) -> None:
    buffer = LogBuffer()
    for n in range(20):
        buffer.add(*entry(f"site{n}.example", at=AT + n))
    writer = LogWriter(lambda: database, buffer, builder(), flush_seconds=60.0, batch_size=7)
    assert [await writer.flush() for _ in range(4)] == [7, 7, 6, 0]
    assert [row["name"] for row in stored_rows(database)] == [f"site{n}.example" for n in range(20)]


def real_index(path: Path) -> DomainIndex:
    tag_names = ("adult", "games", "social", "service:chatapp")
    index = IndexBuilder(tag_names)
    index.add("chatapp.example", mask_of(tag_names, ("social", "service:chatapp")), subdomains=True)
    index.add("adult.example", mask_of(tag_names, ("adult",)), subdomains=True)
    index.write(path, {"sources": ["test"]})
    return DomainIndex.load(path)


async def test_tags_come_from_the_index(database: Database, tmp_path: Path) -> None:
    index = real_index(tmp_path / "index.bin")
    try:
        made = BatchBuilder("filter-a", BERLIN, lambda name: tuple(names_of(index.tag_names, index.tags(name))))
        await store(database, [entry("cdn.chatapp.example"), entry("www.adult.example"), entry("example.org")], made)
    finally:
        index.close()
    assert [row["tags"] for row in stored_rows(database)] == ["social,service:chatapp", "adult", ""]


async def test_repeats_of_one_answer_are_one_row_and_counted_exactly(database: Database) -> None:
    """The resolver serves a repeat within the second with the answer it logged: one row, a count."""
    repeated = entry("chatapp.example")[1]
    at_hour_end = entry("games.example", at=(HOUR + 1) * 3600 - 0.5)[1]
    await store(database, [
        (AT, repeated), (AT + 0.3, repeated), (AT + 0.9, repeated),
        entry("chatapp.example", at=AT + 0.5),  # asked again, answered anew: a row of its own
        ((HOUR + 1) * 3600 - 0.5, at_hour_end), ((HOUR + 1) * 3600 + 0.2, at_hour_end),
    ])  # fmt: skip
    rows = [(row["name"], row["at_ms"], row["repeats"]) for row in stored_rows(database)]
    assert rows == [
        ("chatapp.example", int(AT * 1000), 3),
        ("chatapp.example", int(AT * 1000) + 500, 1),
        ("games.example", (HOUR + 1) * 3600_000 - 500, 2),
    ]
    counts = stored_counts(database)
    assert counts[(HOUR, DEVICE, PROFILE, "social", "allow")] == 4
    assert counts[(HOUR, DEVICE, PROFILE, "games", "allow")] == 1  # each query in its own hour
    assert counts[(HOUR + 1, DEVICE, PROFILE, "games", "allow")] == 1


# --- hourly counts ---------------------------------------------------------------------

COUNTED = [
    entry("chatapp.example"),
    entry("chatapp.example", at=AT + 60),
    entry("chatapp.example", device=OTHER_DEVICE),
    entry("adult.example", BLOCKED_ADULT, upstream=FROM_FILTER),
    entry("example.org", at=AT + 3600),
]
EXPECTED_COUNTS = {
    (HOUR, DEVICE, PROFILE, "", "allow"): 2,
    (HOUR, DEVICE, PROFILE, "social", "allow"): 2,
    (HOUR, DEVICE, PROFILE, "service:chatapp", "allow"): 2,
    (HOUR, OTHER_DEVICE, PROFILE, "", "allow"): 1,
    (HOUR, OTHER_DEVICE, PROFILE, "social", "allow"): 1,
    (HOUR, OTHER_DEVICE, PROFILE, "service:chatapp", "allow"): 1,
    (HOUR, DEVICE, PROFILE, "", "block"): 1,
    (HOUR, DEVICE, PROFILE, "adult", "block"): 1,
    (HOUR + 1, DEVICE, PROFILE, "", "allow"): 1,
}


def counts_of(rows: Iterable[tuple[Any, ...]]) -> dict[tuple[int, str, int, str, str], int]:
    """(hour, device, profile_id, tag, action) -> count, as the batch holds them."""
    return {(hour, device, profile, tag, action): count for hour, device, profile, tag, action, count in rows}


def test_hourly_counts_have_a_total_and_a_row_per_tag() -> None:
    assert counts_of(builder().build(Entries.of(COUNTED)).counts) == EXPECTED_COUNTS


def stored_counts(database: Database) -> dict[tuple[int, str, int, str, str], int]:
    with database.reading() as session:
        rows = session.execute(select(HourlyCount)).scalars()
        return {(r.hour, r.device, r.profile_id, r.tag, r.action): r.count for r in rows}


async def test_hourly_counts_add_up_across_batches(database: Database) -> None:
    made = builder()
    await store(database, COUNTED, made)
    await store(database, COUNTED[:1], made)
    expected = dict(EXPECTED_COUNTS)
    for key in ((HOUR, DEVICE, PROFILE, tag, "allow") for tag in ("", "social", "service:chatapp")):
        expected[key] += 1
    assert stored_counts(database) == expected
    with database.reading() as session:
        assert len(session.execute(select(QueryLogRow.id)).all()) == len(COUNTED) + 1


# --- names as they come off the wire ---------------------------------------------------


LONGEST = (b"a" * 63, b"b" * 63, b"c" * 63, b"d" * 61)  # 255 bytes on the wire, the most there can be
ODD_NAMES = {
    "control characters": ((b"a\x01\x1f\x7fb", b"example", b"org"), "a\\001\\031\\127b.example.org"),
    "html": ((b"<script>alert(1)</script>", b"example"), "<script>alert(1)</script>.example"),
    "nul": ((b"nul\x00byte", b"example"), "nul\\000byte.example"),
    "dot and backslash in a label": ((b"a.b\\c", b"example"), "a\\.b\\\\c.example"),
    "utf-8 bytes": (("thé".encode(), b"example"), "th\\195\\169.example"),
    "63-byte labels, 255 bytes": (LONGEST, ".".join(label.decode() for label in LONGEST)),
    "quotes and percent": ((b"'; drop table x; --", b"%s%n"), "';\\032drop\\032table\\032x;\\032--.%s%n"),
}


async def test_names_are_stored_and_read_back_exactly(database: Database) -> None:
    queries = [wire.parse_query(raw_query(labels)) for labels, _ in ODD_NAMES.values()]
    assert [parsed.qname for parsed in queries] == [expected for _, expected in ODD_NAMES.values()]
    # The CNAME target and the rule hold raw text too: a NUL there must survive.
    target_question = raw_query((b"\x00<b>", b"example"))[12:-4]
    answers = []
    for parsed in queries:
        cname = b"\xc0\x0c" + struct.pack(">HHIH", 5, 1, 60, len(target_question)) + target_question
        answers.append(wire.build_reply(b"\x12\x34", parsed, 1232, answers=cname, ancount=1))
    rule = "rule with \x00 nul, \\0 and <i>html</i>\n"
    decision = Decision(Action.BLOCK, Reason.DENY_LIST, list_id="deny", rule=rule)
    entries = [
        (AT, (DEVICE, PROFILE, parsed, decision, FROM_FILTER, 0, answer))
        for parsed, answer in zip(queries, answers, strict=True)
    ]
    await store(database, entries)
    rows = stored_rows(database)
    assert [row["name"] for row in rows] == [parsed.qname for parsed in queries]
    assert {row["answer"] for row in rows} == {"\\000<b>.example"}
    assert {row["rule"] for row in rows} == {rule}


# --- the writer ------------------------------------------------------------------------


def numbered(first: int, last: int) -> list[Entry]:
    """Entries at POSIX seconds first..last-1 (the time tells them apart)."""
    asked = query("example.org")
    return [(float(n), ("ip:192.0.2.1", 1, asked, ALLOW, FROM_CACHE, 0, b"")) for n in range(first, last)]


def counter(database: Database) -> tuple[int, int]:
    with database.reading() as session:
        row = session.execute(select(LogCounter)).scalar_one()
        return row.written, row.dropped


def logged_times(database: Database) -> list[int]:
    with database.reading() as session:
        return [at // 1000 for at in session.execute(select(QueryLogRow.at_ms).order_by(QueryLogRow.id)).scalars()]


async def test_writer_keeps_entries_it_cannot_write_and_counts_drops_once(database: Database) -> None:
    buffer = LogBuffer(limit=100)
    reachable: list[Database] = []
    writer = LogWriter(lambda: reachable[0] if reachable else None, buffer, builder(), flush_seconds=1, batch_size=1000)
    for item in numbered(0, 150):
        buffer.add(*item)
    with pytest.raises(StoreError, match="cannot be reached"):
        await writer.flush()
    assert (len(buffer), buffer.dropped, writer.failures, writer.written) == (100, 50, 1, 0)
    reachable.append(database)
    assert await writer.flush() == 50  # half the bound at a time
    assert await writer.flush() == 50
    assert logged_times(database) == list(range(50, 150))
    assert counter(database) == (100, 50)
    for item in numbered(150, 160):
        buffer.add(*item)
    assert await writer.flush() == 10
    assert counter(database) == (110, 50)  # the 50 dropped are not counted again
    assert await writer.flush() == 0


async def test_rows_the_database_refuses_are_reported_as_such_and_kept(database: Database) -> None:
    """A row breaking a rule of the schema (here a count without a profile) is not a
    parent's edit colliding with another: the error says what the database refused."""
    buffer = LogBuffer()
    at, answered = entry("example.org")
    buffer.add(at, (answered[0], None, *answered[2:]))  # type: ignore[arg-type]
    writer = LogWriter(lambda: database, buffer, builder(), flush_seconds=1.0, batch_size=10)
    with pytest.raises(StoreError, match="refused the query log's rows: .*profile_id") as refused:
        await writer.flush()
    assert "changed the same thing" not in str(refused.value)
    assert "INSERT" not in str(refused.value)  # the first line only, not the statement and its values
    assert (len(buffer), writer.failures, stored_rows(database)) == (1, 1, [])  # kept, nothing half written


async def test_writer_backs_off_while_failing_and_recovers_by_itself(database: Database) -> None:
    reachable: list[Database] = []
    buffer = LogBuffer()
    writer = LogWriter(
        lambda: reachable[0] if reachable else None, buffer, builder(), flush_seconds=0.2, batch_size=10, max_backoff=0.3
    )
    for item in numbered(0, 30):
        buffer.add(*item)
    task = asyncio.get_running_loop().create_task(writer.run())
    try:
        async with asyncio.timeout(5):
            while writer.failures < 3:
                await asyncio.sleep(0.05)
            assert writer.last_error == "the database cannot be reached yet"
            reachable.append(database)
            while writer.written < 30:
                await asyncio.sleep(0.05)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert writer.last_error is None
    assert logged_times(database) == list(range(30))


async def test_a_rate_that_would_fill_the_bounds_between_two_flushes_is_written_whole(database: Database) -> None:
    """The bounds are for a database that cannot be written: while it can, the
    writer writes once the buffer is half way to them, however long the flush
    interval and however large the batch size (the defaults at 20,000 q/s fill
    the 8 MiB bound in under a second, the interval is 2 s)."""
    buffer = LogBuffer(limit=1_000)  # a second of this rate, some 50 ms of such a rate
    writer = LogWriter(lambda: database, buffer, builder(), flush_seconds=60, batch_size=100_000)
    running = asyncio.get_running_loop().create_task(writer.run())
    for first in range(0, 2_000, 40):  # 2,000 queries at 1,000 a second
        for item in numbered(first, first + 40):
            buffer.add(*item)
        await asyncio.sleep(0.04)
    await writer.finish(running)
    assert buffer.dropped == 0
    assert logged_times(database) == list(range(2_000))
