"""Reading the query log on SQLite and PostgreSQL: every filter alone and
together, pages that neither skip nor repeat, the live tail, names returned
exactly, and the summary, hourly and screen-time numbers.

The log is written the way the running filter writes it: real query packets
through the wire parser, real replies, the writer's ``BatchBuilder`` and
``write_batch``. Search results are checked against the same filter done in
Python over every stored row; the numbers against values worked out by hand
from the table of queries below.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from dnslib import RCODE
from sqlalchemy import delete

from dnsfilter.dns import wire
from dnsfilter.dns.logbuffer import Answered, Entries, Entry
from dnsfilter.policy.decision import ALLOW, Action, Decision, Reason
from dnsfilter.service.logwriter import BatchBuilder, write_batch
from dnsfilter.store import Database, open_database
from dnsfilter.store.querylog import scan as logscan
from dnsfilter.store.querylog.models import QueryLogRow
from dnsfilter.store.querylog.queries import (
    by_profile,
    LogFilter,
    LogRecord,
    Summary,
    counters,
    hourly,
    latest_id,
    search,
    summary,
    tail,
    usage_minutes,
)
from dnsfilter.store.querylog.retention import prune
from dnsfilter.store.querylog.writer import Batch
from tests.conftest import _postgresql_schema_url
from tests.fakes import raw_query
from tests.fakes import zone_reply as reply

BERLIN = ZoneInfo("Europe/Berlin")
T0 = datetime(2025, 3, 14, 17, 0, tzinfo=UTC).timestamp()  # 18:00 in Berlin
H0 = int(T0 // 3600)
DAY = 20250314
MS = int(T0 * 1000)
A, B, C, D = "mac:02:00:00:00:00:0a", "ip:192.0.2.20", "mac:02:00:00:00:00:0c", "ip:192.0.2.40"
TAGS = {
    "games.example": ("games",),
    "adult.example": ("adult",),
    "chat.example": ("social", "service:chatapp"),
    "social_media.example": ("social_media",),
    "www.google.com": ("search",),
}
BLOCKED_ADULT = Decision(Action.BLOCK, Reason.CATEGORY, "adult", "test-adult", "||adult.example^")
BEDTIME = Decision(Action.BLOCK, Reason.SCHEDULE, "games")
REWRITTEN = Decision(Action.REWRITE, Reason.SAFE_SEARCH, "google", target="forcesafesearch.google.com")
BYPASS = Decision(Action.LOCAL_NXDOMAIN, Reason.BYPASS)


def answered(device: str, profile: int, labels: list[bytes], decision: Decision = ALLOW, *,
             qtype: int = 1, answer: bytes | None = None) -> Answered:
    query = wire.parse_query(raw_query(labels, qtype))
    the_reply = answer if answer is not None else reply("answer.example. 60 IN A 192.0.2.1")
    return (device, profile, query, decision, "cache", 700, the_reply)


def at(seconds: float, what: Answered) -> Entry:
    return T0 + seconds, what


def name(text: str) -> list[bytes]:
    return [label.encode() for label in text.split(".")]


BLOCK_REPLY = reply("answer.example. 10 IN A 0.0.0.0")
FIRST_BATCH = [  # (seconds after T0, what); "eN" in the comments below
    at(10, answered(A, 1, name("www.example.org"))),  # e1
    at(20, answered(A, 1, name("games.example"))),  # e2
    at(30, answered(B, 2, name("adult.example"), BLOCKED_ADULT, answer=BLOCK_REPLY)),  # e3
    at(30, answered(B, 2, name("chat.example"), qtype=28,  # e4: the same millisecond as e3
                    answer=reply("answer.example. 60 IN AAAA 2001:db8::1"))),
    at(25, answered(A, 1, name("games.example"))),  # e16: the same minute as e2
    at(70, answered(C, 1, name("games.example"))),  # e17: the next minute
    at(3605, answered(A, 1, name("games.example"), BEDTIME, answer=BLOCK_REPLY)),  # e5
    at(3610, answered(C, 1, [b"100%_sure", b"example"], answer=reply(rcode=RCODE.NXDOMAIN))),  # e6
    at(3615, answered(C, 1, [b"<b>bold</b>", b"example"],  # e7
                      answer=reply("answer.example. 60 IN CNAME cdn.example."))),
    at(3620, answered(C, 1, [b"\x1b[31mred", b"example"])),  # e8
    at(3625, answered(A, 1, [b"back\\slash", b"example"], qtype=16, answer=reply())),  # e9
    at(3630, answered(A, 1, [b"hi!there", b"example"])),  # e10
    at(7200, answered(B, 2, name("www.google.com"), REWRITTEN,  # e11
                      answer=reply("answer.example. 60 IN CNAME forcesafesearch.google.com."))),
    at(7210, answered(B, 2, name("mask.icloud.com"), BYPASS, qtype=65,  # e12
                      answer=reply(rcode=RCODE.NXDOMAIN))),
    at(7220, answered(C, 1, name("social_media.example"))),  # e13
]  # fmt: skip
SECOND_BATCH = [  # another filter, written later: e14 is older than most of the first batch
    at(15, answered(D, 3, [b"WWW", b"Example", b"ORG"])),  # e14
    at(7230, answered(D, 3, name("games.example"))),  # e15
]
STORED_NAMES = {  # as the wire parser writes them, and as they must come back
    "\\027[31mred.example",
    "back\\\\slash.example",
    "<b>bold</b>.example",
    "100%_sure.example",
    "hi!there.example",
}


def write(database: Database, entries: list[Entry], instance: str = "pi-kitchen") -> None:
    builder = BatchBuilder(instance, BERLIN, lambda text: TAGS.get(text, ()))
    write_batch(database, builder.build(Entries.of(entries)))


def write_family(database: Database) -> Database:
    write(database, FIRST_BATCH)
    write(database, SECOND_BATCH, instance="pi-attic")
    return database


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def family(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """The family's log, written once per database kind for the tests that only read it."""
    if request.param == "sqlite":
        urls: Iterator[str] = iter([f"sqlite:///{tmp_path_factory.mktemp('log') / 'log.db'}"])
    else:
        urls = _postgresql_schema_url()
    url = next(urls)
    database = open_database(url)
    try:
        yield write_family(database)
    finally:
        database.close()
        next(urls, None)  # drops the PostgreSQL schema


@pytest.fixture
def changing_family(database: Database) -> Database:
    """The family's log in a database of the test's own, for tests that change it."""
    return write_family(database)


def everything(database: Database) -> list[LogRecord]:
    return tail(database, 0, limit=1000)


def expected(records: list[LogRecord], where: LogFilter) -> list[LogRecord]:
    """``where`` done in Python: the meaning the SQL must have."""

    def matches(record: LogRecord) -> bool:
        return (
            (where.since_ms is None or record.at_ms >= where.since_ms)
            and (where.until_ms is None or record.at_ms < where.until_ms)
            and (where.device is None or record.device == where.device)
            and (where.profile_id is None or record.profile_id == where.profile_id)
            and (where.action is None or record.action == where.action)
            and (where.tag is None or where.tag in record.tags)
            and (where.name_contains is None or where.name_contains.lower() in record.name.lower())
        )

    return sorted(filter(matches, records), key=lambda record: (record.at_ms, record.id), reverse=True)


# Each way a page can be read on SQLite (see logscan): through the index only,
# or after a probe of the newest rows, the rest through the index or in row order.
PATHS = ["index", "probe, then index", "probe, then row order"]


def use_path(monkeypatch: pytest.MonkeyPatch, path: str) -> None:
    monkeypatch.setattr(logscan, "PROBE_ROWS", 10**9 if path == "index" else 2)
    monkeypatch.setattr(logscan, "ROW_ORDER_ADVANTAGE", 0.0 if path == "probe, then index" else 10.0**9)

# --- search ------------------------------------------------------------------------

FILTERS = {
    "nothing": LogFilter(),
    "since": LogFilter(since_ms=MS + 3_600_000),
    "until": LogFilter(until_ms=MS + 30_000),  # exclusive: e3 and e4 at exactly +30 s are out
    "since and until": LogFilter(since_ms=MS + 20_000, until_ms=MS + 3_620_000),
    "device": LogFilter(device=C),
    "unknown device": LogFilter(device="ip:198.51.100.1"),
    "profile": LogFilter(profile_id=2),
    "blocked": LogFilter(action="block"),
    "rewritten": LogFilter(action="rewrite"),
    "tag": LogFilter(tag="games"),
    "tag is whole, not a prefix": LogFilter(tag="game"),
    "tag is whole, not part of another": LogFilter(tag="social"),
    "tag with an underscore": LogFilter(tag="social_media"),
    "service": LogFilter(tag="service:chatapp"),
    "name, any case": LogFilter(name_contains="EXAMPLE.ORG"),
    "name with %": LogFilter(name_contains="%"),
    "name with _": LogFilter(name_contains="_"),
    "name with %_": LogFilter(name_contains="0%_s"),
    "name with !": LogFilter(name_contains="hi!t"),
    "name with markup": LogFilter(name_contains="<b>bold</b>"),
    "name with an escaped control character": LogFilter(name_contains="\\027[31m"),
    "name with an escaped backslash": LogFilter(name_contains="back\\\\slash"),
    "name with a lone backslash": LogFilter(name_contains="back\\slash"),
    "name matching nothing": LogFilter(name_contains="nothing"),
    "device and blocked": LogFilter(device=A, action="block"),
    "profile, tag and time": LogFilter(profile_id=1, tag="games", since_ms=MS + 21_000),
    "device, name and until": LogFilter(device=C, name_contains=".example", until_ms=MS + 3_616_000),
    "profile and name": LogFilter(profile_id=3, name_contains="www"),
    "all at once": LogFilter(MS, MS + 7_300_000, A, 1, "block", "games", "games"),
}


@pytest.mark.parametrize("where", FILTERS.values(), ids=FILTERS.keys())
def test_each_filter_alone_and_together(family: Database, where: LogFilter, monkeypatch: pytest.MonkeyPatch) -> None:
    wanted = expected(everything(family), where)
    for path in PATHS:
        use_path(monkeypatch, path)
        assert search(family, where, limit=100) == wanted, path


def test_what_the_filters_pick_by_hand(family: Database) -> None:
    def names(where: LogFilter) -> list[str]:
        return [record.name for record in search(family, where)]

    assert names(FILTERS["name with %"]) == ["100%_sure.example"]
    assert names(FILTERS["name with _"]) == ["social_media.example", "100%_sure.example"]
    assert names(FILTERS["name with an escaped backslash"]) == ["back\\\\slash.example"]
    assert names(FILTERS["name with a lone backslash"]) == []
    assert names(FILTERS["tag is whole, not a prefix"]) == []
    assert names(FILTERS["tag is whole, not part of another"]) == ["chat.example"]
    assert names(FILTERS["until"]) == ["games.example", "games.example", "www.example.org", "www.example.org"]
    assert names(FILTERS["all at once"]) == ["games.example"]


def test_rows_come_back_exactly_as_stored(family: Database) -> None:
    records = everything(family)
    assert [record.id for record in records] == sorted(record.id for record in records)
    assert STORED_NAMES <= {record.name for record in records}
    blocked = next(record for record in records if record.name == "adult.example")
    assert blocked == LogRecord(
        id=blocked.id, at_ms=MS + 30_000, instance="pi-kitchen", device=B, profile_id=2, name="adult.example",
        qtype=1, action="block", reason="category", category="adult", tags=("adult",), list_id="test-adult",
        rule="||adult.example^", upstream="cache", response_us=700, rcode=0, answer="0.0.0.0", repeats=1,
    )  # fmt: skip
    chat = next(record for record in records if record.name == "chat.example")
    assert (chat.qtype, chat.tags, chat.answer) == (28, ("social", "service:chatapp"), "2001:db8::1")
    markup = next(record for record in records if record.name == "<b>bold</b>.example")
    assert (markup.answer, markup.rcode) == ("cdn.example", 0)
    missing = next(record for record in records if record.name == "100%_sure.example")
    assert (missing.answer, missing.rcode, missing.tags) == ("", 3, ())
    assert next(record for record in records if record.device == D).name == "www.example.org"  # lower-cased


def test_newest_first_by_time_then_id(family: Database) -> None:
    records = search(family, LogFilter(until_ms=MS + 3_600_000), limit=100)
    # e14 was written last but asked at +15 s: it sits at its time; e3 and e4
    # share a millisecond and come newest id first.
    offsets = [(record.at_ms - MS) // 1000 for record in records]
    assert offsets == [70, 30, 30, 25, 20, 15, 10]
    assert records[1].id > records[2].id and records[1].name == "chat.example"
    assert records[5].instance == "pi-attic" and records[5].id == max(record.id for record in everything(family)) - 1


@pytest.mark.parametrize("limit", [1, 2, 3, 7, 50], ids=lambda limit: f"limit {limit}")
@pytest.mark.parametrize(
    "where", [LogFilter(), LogFilter(profile_id=1), LogFilter(name_contains="example"), LogFilter(tag="games")],
    ids=["all", "profile", "name", "tag"],
)
def test_pages_neither_skip_nor_repeat(
    family: Database, where: LogFilter, limit: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    wanted = expected(everything(family), where)
    for path in PATHS:
        use_path(monkeypatch, path)
        pages: list[list[LogRecord]] = []
        before: int | None = None
        while page := search(family, where, limit=limit, before_id=before):
            assert len(page) <= limit
            pages.append(page)
            before = page[-1].id
        assert [record for page in pages for record in page] == wanted, path
        assert all(len(page) == limit for page in pages[:-1])


def test_a_page_after_a_deleted_row_goes_on_from_the_next_older(changing_family: Database) -> None:
    family = changing_family
    first = search(family, LogFilter(), limit=5)
    assert [(record.at_ms - MS) // 1000 for record in first] == [7230, 7220, 7210, 7200, 3630]
    with family.writing() as session:
        session.execute(delete(QueryLogRow).where(QueryLogRow.id == first[-1].id))
    rest = search(family, LogFilter(), limit=100, before_id=first[-1].id)
    assert rest == expected(everything(family), LogFilter())[4:]
    assert search(family, LogFilter(), before_id=min(record.id for record in everything(family))) == []


def test_limit_must_be_positive(family: Database) -> None:
    with pytest.raises(ValueError, match="limit must be at least 1"):
        search(family, LogFilter(), limit=0)


# --- tail --------------------------------------------------------------------------


def test_tail_gives_what_was_written_since_oldest_first(changing_family: Database) -> None:
    family = changing_family
    start = latest_id(family)
    assert start == max(record.id for record in everything(family))
    assert tail(family, start) == []
    write(family, [at(9000, answered(A, 1, name("new.example"))), at(9001, answered(B, 2, name("adult.example"),
                                                                                     BLOCKED_ADULT))])
    fresh = tail(family, start)
    assert [(record.name, record.device) for record in fresh] == [("new.example", A), ("adult.example", B)]
    assert [record.name for record in tail(family, start, where=LogFilter(action="block"))] == ["adult.example"]
    assert [record.name for record in tail(family, start, limit=1)] == ["new.example"]
    assert tail(family, fresh[0].id) == fresh[1:]
    assert latest_id(family) == fresh[-1].id


def test_tail_from_zero_reads_the_whole_log_and_filters(family: Database) -> None:
    records = tail(family, 0, where=LogFilter(device=C), limit=3)
    assert [record.name for record in records] == ["games.example", "100%_sure.example", "<b>bold</b>.example"]
    assert tail(family, records[-1].id, where=LogFilter(device=C)) == [
        record for record in everything(family) if record.device == C
    ][3:]


def test_repeats_within_the_second_are_one_row_and_counted(database: Database) -> None:
    again = answered(A, 1, name("games.example"))
    write(database, [at(1, again), at(1.2, again), at(1.7, again), at(2, answered(A, 1, name("other.example")))])
    records = search(database, LogFilter())
    assert [(record.name, record.repeats) for record in records] == [("other.example", 1), ("games.example", 3)]
    numbers = summary(database, since_ms=MS, until_ms=MS + 60_000)
    assert numbers.total == 4 and numbers.top_names == [("games.example", 3), ("other.example", 1)]


# --- numbers ---------------------------------------------------------------------


def test_summary_of_three_hours(family: Database) -> None:
    numbers = summary(family, since_ms=MS, until_ms=MS + 3 * 3_600_000, top=2)
    # By hour: e1 e2 e3 e4 e14 e16 e17 | e5 e6 e7 e8 e9 e10 | e11 e12 e13 e15
    assert numbers == Summary(
        total=17,
        blocked=2,
        by_action={"allow": 13, "block": 2, "local_nxdomain": 1, "rewrite": 1},
        per_tag={"games": 5, "adult": 1, "search": 1, "service:chatapp": 1, "social": 1, "social_media": 1},
        top_names=[("games.example", 5), ("www.example.org", 2)],
        top_blocked=numbers.top_blocked,
    )
    assert sorted(numbers.top_blocked) == [("adult.example", 1), ("games.example", 1)]


def test_summary_for_a_profile_and_for_a_device(family: Database) -> None:
    mia = summary(family, since_ms=MS, until_ms=MS + 3 * 3_600_000, profile_id=2)
    assert (mia.total, mia.blocked) == (4, 1)
    assert mia.by_action == {"allow": 1, "block": 1, "local_nxdomain": 1, "rewrite": 1}
    assert mia.per_tag == {"adult": 1, "search": 1, "service:chatapp": 1, "social": 1}
    assert mia.top_blocked == [("adult.example", 1)]
    tablet = summary(family, since_ms=MS, until_ms=MS + 3 * 3_600_000, device=C)
    assert (tablet.total, tablet.blocked, tablet.per_tag) == (5, 0, {"games": 1, "social_media": 1})
    asked = ["games.example", "100%_sure.example", "<b>bold</b>.example", "\\027[31mred.example",
             "social_media.example"]
    assert sorted(tablet.top_names) == sorted((text, 1) for text in asked) and tablet.top_blocked == []


@pytest.mark.parametrize("top", [1, 2, 5], ids=["top 1", "top 2", "top 5"])
def test_every_profile_at_once_says_what_each_profiles_summary_says(family: Database, top: int) -> None:
    hours = {"since_ms": MS, "until_ms": MS + 3 * 3_600_000}
    everyone = by_profile(family, **hours, top=top)
    assert everyone, "the family's log has profiles"
    for profile_id, day in everyone.items():
        alone = summary(family, **hours, profile_id=profile_id, top=top)
        assert (day.total, day.blocked) == (alone.total, alone.blocked)
        assert day.top_blocked == alone.top_blocked
        # Visited: the names the profile's devices reached (allowed, or sent to safe search).
        reached: dict[str, int] = {}
        for record in search(family, LogFilter(profile_id=profile_id, **hours), limit=500):
            if record.action in ("allow", "rewrite"):
                reached[record.name] = reached.get(record.name, 0) + record.repeats
        assert day.top_visited == sorted(reached.items(), key=lambda item: (-item[1], item[0]))[:top]
    assert sum(day.total for day in everyone.values()) == summary(family, **hours).total
    assert by_profile(family, since_ms=MS - 7_200_000, until_ms=MS - 3_600_000) == {}


def test_summary_counts_whole_hours_and_so_do_the_top_names(family: Database) -> None:
    numbers = summary(family, since_ms=MS + 15_000, until_ms=MS + 25_000)
    assert (numbers.total, numbers.blocked) == (7, 1)  # the whole first hour
    hour = summary(family, since_ms=MS, until_ms=MS + 3_600_000)
    assert numbers == hour  # top names from the per-hour name counts, the same whole hour
    assert summary(family, since_ms=MS, until_ms=MS + 1, top=0).top_names == []
    # One device: from its raw rows in the range itself.
    device = summary(family, since_ms=MS + 15_000, until_ms=MS + 25_000, device=C)
    assert device.total == summary(family, since_ms=MS, until_ms=MS + 3_600_000, device=C).total


def test_the_homes_top_names_add_up_every_profile_and_every_write(database: Database) -> None:
    write(database, [
        at(10, answered(A, 1, name("games.example"))),
        at(12, answered(C, 1, name("games.example"))),
        at(14, answered(B, 2, name("games.example"), BEDTIME, answer=BLOCK_REPLY)),
        at(16, answered(B, 2, name("other.example"))),
    ])  # fmt: skip
    write(database, [at(20, answered(D, 3, name("games.example"))), at(22, answered(D, 3, name("other.example")))],
          instance="pi-attic")  # fmt: skip
    minute = {"since_ms": MS, "until_ms": MS + 60_000}
    home = summary(database, **minute)
    assert home.top_names == [("games.example", 4), ("other.example", 2)]
    assert home.top_blocked == [("games.example", 1)]
    assert [summary(database, **minute, profile_id=profile).top_names for profile in (1, 2, 3)] == [
        [("games.example", 2)], [("games.example", 1), ("other.example", 1)],
        [("games.example", 1), ("other.example", 1)],
    ]  # fmt: skip


def test_pruning_drops_the_name_counts_with_the_raw_rows(database: Database) -> None:
    nine_days = 9 * 86_400
    write(database, [at(10, answered(A, 1, name("old.example"))), at(nine_days, answered(A, 1, name("new.example")))])
    now = datetime.fromtimestamp(T0 + 10 * 86_400, UTC)
    removed = asyncio.run(prune(database, now, BERLIN, retention_days=7, aggregate_days=30))
    assert removed == 3  # the raw row, its profile's name count and the home's
    old_hour = {"since_ms": MS, "until_ms": MS + 3_600_000}
    assert summary(database, **old_hour).top_names == summary(database, **old_hour, profile_id=1).top_names == []
    assert summary(database, **old_hour).total == 1  # hourly counts are kept aggregate_days
    new_hour = {"since_ms": MS + nine_days * 1000, "until_ms": MS + nine_days * 1000 + 1}
    assert summary(database, **new_hour).top_names == [("new.example", 1)]
    assert summary(database, **new_hour, profile_id=1).top_names == [("new.example", 1)]


def test_hourly(family: Database) -> None:
    three_hours = {"since_ms": MS, "until_ms": MS + 3 * 3_600_000}
    assert hourly(family, **three_hours) == [(H0, 7, 1), (H0 + 1, 6, 1), (H0 + 2, 4, 0)]
    assert hourly(family, **three_hours, profile_id=1) == [(H0, 4, 0), (H0 + 1, 6, 1), (H0 + 2, 1, 0)]
    assert hourly(family, **three_hours, device=B) == [(H0, 2, 1), (H0 + 2, 2, 0)]  # no queries in between
    assert hourly(family, since_ms=MS + 3_599_999, until_ms=MS + 3_600_001) == [(H0, 7, 1), (H0 + 1, 6, 1)]
    assert hourly(family, since_ms=MS + 3_600_000, until_ms=MS + 3_600_001) == [(H0 + 1, 6, 1)]


def test_screen_time_counts_distinct_minutes_used(family: Database) -> None:
    # Profile 1: games at 18:00 (e2, e16) and 18:01 (e17); e5 was blocked, so not used.
    assert usage_minutes(family, 1, DAY) == {"games": 2, "social_media": 1}
    assert usage_minutes(family, 2, DAY) == {"search": 1, "service:chatapp": 1, "social": 1}
    assert usage_minutes(family, 3, DAY) == {"games": 1}
    assert usage_minutes(family, 1, DAY + 1) == {}
    assert usage_minutes(family, 9, DAY) == {}


def test_screen_time_days_are_the_familys(database: Database) -> None:
    midnight = datetime(2025, 3, 14, 23, 0, tzinfo=UTC).timestamp()  # 00:00 in Berlin
    write(database, [(midnight - 30, answered(A, 1, name("games.example"))),
                     (midnight + 30, answered(B, 1, name("games.example")))])  # fmt: skip
    assert usage_minutes(database, 1, DAY) == {"games": 1}
    assert usage_minutes(database, 1, DAY + 1) == {"games": 1}


def test_counters_per_filter(database: Database) -> None:
    def count(instance: str, written: int, dropped: int, updated_ms: int) -> None:
        counter = {"instance": instance, "written": written, "dropped": dropped, "updated_ms": updated_ms}
        write_batch(database, Batch([], [], [], counter))

    count("pi-kitchen", 10, 1, 1000)
    count("pi-attic", 3, 0, 1500)
    count("pi-kitchen", 5, 0, 2000)
    assert counters(database) == [("pi-attic", 3, 0, 1500), ("pi-kitchen", 15, 1, 2000)]


def test_an_empty_log(database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    for path in PATHS:
        use_path(monkeypatch, path)
        assert search(database, LogFilter(name_contains="x", since_ms=0)) == []
    assert search(database, LogFilter(), before_id=5) == []
    assert tail(database, 0) == [] and latest_id(database) == 0
    assert summary(database, since_ms=0, until_ms=MS) == Summary(0, 0, {}, {}, [], [])
    assert hourly(database, since_ms=0, until_ms=MS) == []
    assert usage_minutes(database, 1, DAY) == {} and counters(database) == []
