"""``dnsfilter log search``, ``dnsfilter log tail`` and ``dnsfilter stats`` on a
real SQLite file: what a parent reads, names from the network escaped, and
plain errors with exit code 1."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from dnslib import RCODE

from dnsfilter.cli.log import stats_text
from dnsfilter.cli.main import main
from dnsfilter.cli.times import parse_time
from dnsfilter.config import DATABASE_FILE, load_config
from dnsfilter.dns import wire
from dnsfilter.dns.logbuffer import FROM_CACHE, FROM_FILTER, STALE, Answered, Entries, Entry
from dnsfilter.errors import UsageError
from dnsfilter.policy.decision import ALLOW, Action, Decision, Reason
from dnsfilter.service.logwriter import BatchBuilder, write_batch
from dnsfilter.store import Database, PolicyStore, open_database
from dnsfilter.store.querylog.models import QueryLogRow
from tests.fakes import raw_query
from tests.fakes import zone_reply as reply
from tests.running import started_once

REPO = Path(__file__).resolve().parents[2]
BERLIN = ZoneInfo("Europe/Berlin")
T0 = datetime.datetime(2025, 3, 14, 17, 0, tzinfo=datetime.UTC).timestamp()  # 18:00 in Berlin
IPAD, PHONE, TV, STRANGER = "mac:02:00:00:00:00:0a", "ip:192.0.2.20", "mac:02:00:00:00:00:0c", "ip:192.0.2.99"
TAGS = {"games.example": ("games",), "adult.example": ("adult",), "chat.example": ("social", "service:chatapp")}
BLOCKED_ADULT = Decision(Action.BLOCK, Reason.CATEGORY, "adult", "test-adult", "adult.example")
REWRITTEN = Decision(Action.REWRITE, Reason.SAFE_SEARCH, "google")


def answered(device: str, profile: int, name: str | list[bytes], decision: Decision = ALLOW,
             answer: bytes | None = None, source: tuple[str, int] = (FROM_CACHE, 0)) -> Answered:
    """What the resolver hands the log; ``source``: where the answer came from and the microseconds it took."""
    labels = name if isinstance(name, list) else [label.encode() for label in name.split(".")]
    the_reply = answer if answer is not None else reply("answer.example. 60 IN A 192.0.2.1")
    return device, profile, wire.parse_query(raw_query(labels)), decision, *source, the_reply


def write(database: Database, entries: list[Entry], instance: str = "pi-kitchen") -> None:
    batch = BatchBuilder(instance, BERLIN, lambda name: TAGS.get(name, ())).build(Entries.of(entries))
    counter = {"instance": instance, "written": len(entries), "dropped": 2, "updated_ms": int(entries[-1][0] * 1000)}
    write_batch(database, dataclasses.replace(batch, counter=counter))


@dataclass(frozen=True, slots=True)
class Home:
    config: Path
    database_url: str
    mia: int  # Mia's profile id

    def open(self) -> Database:
        return open_database(self.database_url)


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Home]:
    """A family with a profile, three recorded devices and a logged evening."""
    data = tmp_path / "data"
    data.mkdir()
    config = tmp_path / "family.yaml"
    config.write_text(f"data_dir: {data}\ntime_zone: Europe/Berlin\n")
    url = f"sqlite:///{data / DATABASE_FILE}"
    database = open_database(url)
    try:
        store = PolicyStore(database)
        now = datetime.datetime.fromtimestamp(T0, datetime.UTC)
        mia = store.create_profile("Mia", now=now).id
        ipad = store.record_seen(IPAD, ip="192.0.2.10", mac=IPAD[4:], name="ipad\x1b]0;pwned\x07", now=now)
        store.assign_device(ipad.device_id, mia)
        store.label_device(ipad.device_id, "Mia's iPad")
        store.record_seen(PHONE, ip="192.0.2.20", mac=None, name=None, now=now)
        store.record_seen(TV, ip="192.0.2.30", mac=TV[4:], name="tv\x1b[5m", now=now)
        write(database, [
            (T0 + 10, answered(IPAD, mia, "games.example", source=("9.9.9.9:53", 23_456))),
            (T0 + 20, answered(IPAD, mia, "adult.example", BLOCKED_ADULT, reply("answer.example. 10 IN A 0.0.0.0"),
                               source=(FROM_FILTER, 0))),
            (T0 + 30, answered(PHONE, 1, [b"\x1b[31mred", b"example"], answer=reply(rcode=RCODE.NXDOMAIN),
                               source=(STALE, 2_000_000))),
            (T0 + 40, answered(TV, 1, "www.google.com", REWRITTEN,
                               reply("answer.example. 60 IN CNAME forcesafesearch.google.com."),
                               source=("https://dns.quad9.net/dns-query", 1_234_567))),
            (T0 + 3600, answered(IPAD, mia, [b"100%_sure", b"example"])),
            (T0 + 3610, answered(STRANGER, 99, "chat.example")),
        ])  # fmt: skip
    finally:
        database.close()
    yield Home(config, url, mia)


def run(capsys: pytest.CaptureFixture[str], *args: str, code: int = 0) -> str:
    assert main(list(args)) == code
    captured = capsys.readouterr()
    text = captured.out if code == 0 else captured.err
    assert "\x1b" not in captured.out + captured.err and "\x07" not in captured.out + captured.err
    return text


def column(table: str, title: str) -> list[str]:
    """The cells under ``title`` in a table whose columns start where its header's titles do."""
    header, *rows = table.splitlines()
    titles = header.split()
    start = header.index(title)
    after = titles.index(title) + 1
    end = header.index(titles[after]) if after < len(titles) else None
    return [row[start:end].strip() for row in rows if row[:1].isdigit()]


def test_search_shows_a_table_newest_first(home: Home, capsys: pytest.CaptureFixture[str]) -> None:
    lines = run(capsys, "log", "search", "-c", str(home.config)).splitlines()
    assert lines[0].split() == ["Time", "Device", "Profile", "Name", "Type", "Decision", "Source", "Took", "Answer"]
    rows = [line.split("  ") for line in lines[1:]]
    cells = [[cell.strip() for cell in row if cell.strip()] for row in rows]
    assert cells == [
        ["2025-03-14 19:00:10", STRANGER, "#99", "chat.example", "A", "allowed", "cache", "-", "192.0.2.1"],
        ["2025-03-14 19:00:00", "Mia's iPad", "Mia", "100%_sure.example", "A", "allowed", "cache", "-", "192.0.2.1"],
        ["2025-03-14 18:00:40", "tv\\x1b[5m", "Everyone", "www.google.com", "A", "rewritten, safe search google",
         "upstream https://dns.quad9.net/dns-query", "1,235 ms", "forcesafesearch.google.com"],
        ["2025-03-14 18:00:30", PHONE, "Everyone", "\\027[31mred.example", "A", "allowed", "cache, expired",
         "2,000 ms", "NXDOMAIN"],
        ["2025-03-14 18:00:20", "Mia's iPad", "Mia", "adult.example", "A", "BLOCKED, category adult",
         "filter, list test-adult", "-", "0.0.0.0"],
        ["2025-03-14 18:00:10", "Mia's iPad", "Mia", "games.example", "A", "allowed", "upstream 9.9.9.9:53", "23.5 ms",
         "192.0.2.1"],
    ]  # fmt: skip
    # The milliseconds line up on the right, under the header's "Took".
    took_ends = {line.index(" ms") + 3 for line in lines if " ms" in line}
    assert took_ends == {lines[0].index("Took") + 4}


def test_text_that_reached_the_log_another_way_is_escaped_too(home: Home, capsys: pytest.CaptureFixture[str]) -> None:
    database = home.open()
    try:
        with database.writing() as session:
            session.add(QueryLogRow(
                at_ms=int(T0 * 1000), instance="x", device="ip:192.0.2.66", profile_id=1, name="evil\x1b[2J.example",
                qtype=1, action="allow", reason="allowed", tags="", answer="\x1b]8;;http://x\x07\u202e", repeats=4,
            ))  # fmt: skip
    finally:
        database.close()
    out = run(capsys, "log", "search", "--device", "192.0.2.66", "-c", str(home.config))
    assert "evil\\x1b[2J.example (x4)" in out and "\\x1b]8;;http://x\\x07\\u202e" in out


FILTERED = {
    "label, any case": (["--device", "MIA'S IPAD"], ["100%_sure.example", "adult.example", "games.example"]),
    "address of a device known by MAC": (["--device", "192.0.2.30"], ["www.google.com"]),
    "MAC written another way": (["--device", "02-00-00-00-00-0C"], ["www.google.com"]),
    "key of a device the policy forgot": (["--device", f"{STRANGER}"], ["chat.example"]),
    "profile": (["--profile", "mia"], ["100%_sure.example", "adult.example", "games.example"]),
    "blocked": (["--blocked"], ["adult.example"]),
    "action": (["--action", "rewrite"], ["www.google.com"]),
    "tag": (["--tag", "service:chatapp"], ["chat.example"]),
    "name, literally": (["--name", "%_"], ["100%_sure.example"]),
    "name, escaped as stored": (["--name", "\\027"], ["\\027[31mred.example"]),
    "since and until in the family's zone": (
        ["--since", "2025-03-14 18:00:20", "--until", "2025-03-14 18:00:40"], ["\\027[31mred.example", "adult.example"]
    ),
    "until with an offset": (["--until", "2025-03-14T17:00:15+00:00"], ["games.example"]),
    "since a day": (["--since", "2025-03-15"], []),
    "together": (
        ["--profile", "Mia", "--since", "2025-03-14", "--name", "example", "--limit", "1"], ["100%_sure.example"]
    ),
}


@pytest.mark.parametrize(("args", "names"), FILTERED.values(), ids=FILTERED.keys())
def test_search_filters(home: Home, args: list[str], names: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    out = run(capsys, "log", "search", *args, "-c", str(home.config))
    if not names:
        assert out == "No logged queries match.\n"
        return
    assert column(out, "Name") == names
    assert ("older ones match too" in out) == ("--limit" in args)


def test_the_footer_says_how_to_see_older_queries(home: Home, capsys: pytest.CaptureFixture[str]) -> None:
    out = run(capsys, "log", "search", "--limit", "2", "-c", str(home.config))
    assert column(out, "Name") == ["chat.example", "100%_sure.example"]
    assert out.splitlines()[-1] == (
        'The newest 2 shown; older ones match too: add --until "2025-03-14 19:00:01" to see them, or a larger --limit.'
    )
    out = run(capsys, "log", "search", "--until", "2025-03-14 19:00:01", "-c", str(home.config))
    assert column(out, "Name")[:2] == ["100%_sure.example", "www.google.com"]  # the last second shown comes again


def test_a_name_two_devices_gave_themselves(home: Home, capsys: pytest.CaptureFixture[str]) -> None:
    database = home.open()
    try:
        store = PolicyStore(database)
        now = datetime.datetime.fromtimestamp(T0, datetime.UTC)
        den = store.record_seen("ip:192.0.2.31", ip="192.0.2.31", mac=None, name="Den TV", now=now)
        store.record_seen("ip:192.0.2.32", ip="192.0.2.32", mac=None, name="den tv", now=now)
    finally:
        database.close()
    err = run(capsys, "log", "search", "--device", "DEN TV", "-c", str(home.config), code=1)
    assert '"DEN TV" names 2 devices; give the key of the one you mean' in err
    assert "  Den TV  ip:192.0.2.31\n  den tv  ip:192.0.2.32" in err
    database = home.open()
    try:
        PolicyStore(database).label_device(den.device_id, "den tv")  # the parent's label decides
    finally:
        database.close()
    assert run(capsys, "log", "search", "--device", "DEN TV", "-c", str(home.config)) == "No logged queries match.\n"


def test_relative_times_count_back_from_now(home: Home, capsys: pytest.CaptureFixture[str]) -> None:
    database = home.open()
    try:
        write(database, [(time.time() - 600, answered(IPAD, home.mia, "recent.example"))])
    finally:
        database.close()
    assert "recent.example" in run(capsys, "log", "search", "--since", "30m", "-c", str(home.config))
    assert run(capsys, "log", "search", "--since", "5m", "-c", str(home.config)) == "No logged queries match.\n"
    out = run(capsys, "log", "search", "--since", "1d", "--until", "9m", "-c", str(home.config))
    assert "recent.example" in out and "games.example" not in out


NOW = datetime.datetime(2025, 3, 14, 9, 0, tzinfo=datetime.UTC)  # 10:00 in Berlin
TIMES = {
    "2h": datetime.datetime(2025, 3, 14, 7, 0, tzinfo=datetime.UTC),
    "30m": datetime.datetime(2025, 3, 14, 8, 30, tzinfo=datetime.UTC),
    "1d": datetime.datetime(2025, 3, 13, 9, 0, tzinfo=datetime.UTC),
    "09:15": datetime.datetime(2025, 3, 14, 9, 15, tzinfo=BERLIN),
    "22:00": datetime.datetime(2025, 3, 14, 22, 0, tzinfo=BERLIN),  # today's 22:00, whatever the time now
    "yesterday 22:00": datetime.datetime(2025, 3, 13, 22, 0, tzinfo=BERLIN),  # last night
    "today 7:30": datetime.datetime(2025, 3, 14, 7, 30, tzinfo=BERLIN),
    "2025-03-02": datetime.datetime(2025, 3, 2, tzinfo=BERLIN),
    "2025-03-02 21:30": datetime.datetime(2025, 3, 2, 21, 30, tzinfo=BERLIN),
    "2025-07-02 21:30": datetime.datetime(2025, 7, 2, 19, 30, tzinfo=datetime.UTC),  # summer time
    "2025-03-02T21:30+01:00": datetime.datetime(2025, 3, 2, 20, 30, tzinfo=datetime.UTC),
    "today": datetime.datetime(2025, 3, 14, tzinfo=BERLIN),
    "yesterday": datetime.datetime(2025, 3, 13, tzinfo=BERLIN),
    "now": NOW,
}


@pytest.mark.parametrize(("text", "moment"), TIMES.items(), ids=TIMES.keys())
def test_times_a_parent_can_write(text: str, moment: datetime.datetime) -> None:
    assert parse_time(text, "--since", BERLIN, NOW) == moment


@pytest.mark.parametrize("text", ["after dinner", "25:00", "2025-02-30", "-2h", "2h ago ago", ""])
def test_times_that_are_not(text: str) -> None:
    with pytest.raises(UsageError, match="is not a time. Write it as 2h, 30m or 1d"):
        parse_time(text, "--since", BERLIN, NOW)


ERRORS = {
    "unknown profile": (
        ["log", "search", "--profile", "Max"],
        'dnsfilter: There is no profile called "Max". The profiles are: "Everyone", "Mia".',
    ),
    "unknown device": (["log", "search", "--device", "max's phone"], 'No device is called "max\'s phone".'),
    "bad time": (["log", "search", "--since", "after dinner"], '--since "after dinner" is not a time.'),
    "times the wrong way round": (
        ["log", "search", "--since", "2025-03-15", "--until", "2025-03-14"],
        '--since "2025-03-15" is not before --until "2025-03-14".',
    ),
    "bad day": (
        ["stats", "--day", "someday"], '--day "someday" is not a day. Write it as 2026-03-02, today or yesterday.'
    ),
    "unknown profile in stats": (["stats", "--profile", "max"], 'There is no profile called "max".'),
    "unknown profile in tail": (["log", "tail", "--profile", "max"], 'There is no profile called "max".'),
}


@pytest.mark.parametrize(("args", "message"), ERRORS.values(), ids=ERRORS.keys())
def test_mistakes_are_explained(
    home: Home, args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    err = run(capsys, *args, "-c", str(home.config), code=1)
    assert message in err and "Traceback" not in err


def test_an_unknown_device_lists_the_known_ones_escaped(home: Home, capsys: pytest.CaptureFixture[str]) -> None:
    err = run(capsys, "log", "search", "--device", "bob", "-c", str(home.config), code=1)
    assert f"  Mia's iPad  {IPAD}" in err and f"  tv\\x1b[5m  {TV}" in err and f"  (no name)  {PHONE}" in err


@pytest.mark.parametrize("args", [["--limit", "0"], ["--limit", "many"], ["--blocked", "--action", "allow"]])
def test_bad_command_lines(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["log", "search", *args])
    assert exited.value.code == 2 and "error:" in capsys.readouterr().err


def test_an_empty_log(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--data-dir", str(started_once(tmp_path))]
    assert run(capsys, "log", "search", *args) == "No logged queries match.\n"
    out = run(capsys, "stats", "--day", "2025-03-14", *args)
    assert "No queries were logged that day." in out and "none yet: no filter has written to this log" in out


def test_stats_of_a_day(home: Home, capsys: pytest.CaptureFixture[str]) -> None:
    out = run(capsys, "stats", "--day", "2025-03-14", "-c", str(home.config))
    assert out.splitlines()[:3] == [
        "Friday 2025-03-14 (Europe/Berlin), all profiles and devices",
        "  6 queries, 1 blocked (16.7%)",
        "  Answers: 4 allowed, 1 blocked, 1 rewritten",
    ]
    assert "  Most blocked:\n    1  adult.example\n" in out
    assert "    1  \\027[31mred.example\n" in out
    assert "  Queries per category and service:\n" in out and "    1  service:chatapp\n" in out
    # Mia's games at 18:00; the blocked adult site is no screen time.
    assert "    Everyone: none\n    Mia: games 1 min\n" in out
    assert "    pi-kitchen: 6 written, 2 dropped (the writer fell behind), last write 2025-03-14 19:00\n" in out


def test_stats_show_each_budget_used_and_left(home: Home, capsys: pytest.CaptureFixture[str]) -> None:
    database = home.open()
    try:
        store = PolicyStore(database)
        store.set_budget(home.mia, "games", 60)
        store.set_budget(home.mia, "social", 30, "sat,sun")
    finally:
        database.close()
    out = run(capsys, "stats", "--day", "2025-03-14", "-c", str(home.config))
    # Mia's minute of games at 18:00 (her iPad); Fridays have no social budget. Everyone has no budget.
    assert (
        "  Daily budgets (minutes used that day, and left):\n"
        "    Mia, games: 1 of 60 min used, 59 left\n"
        "    Mia, social: 30 minutes a day on sat,sun; not on this day\n"
        "  Query log writers"
    ) in out
    assert "Daily budgets" not in run(capsys, "stats", "--day", "2025-03-14", "--device", "192.0.2.30", "-c",
                                      str(home.config))  # the TV is Everyone's: no budget  # fmt: skip


def test_stats_show_extra_time_granted_today(home: Home) -> None:
    now = datetime.datetime.fromtimestamp(T0 + 120, datetime.UTC)  # 18:02 in Berlin
    database = home.open()
    try:
        store = PolicyStore(database)
        store.set_budget(home.mia, "games", 1)
        store.grant_tag(home.mia, "games", now=now, created_by="parent", minutes=30)
    finally:
        database.close()
    config = load_config(home.config)
    out = stats_text(config, day="today", profile="Mia", now=now)
    assert "    Mia, games: 1 of 1 min used, 0 left; extra time: 30 min granted, until 18:32\n" in out
    # Grants are only known while they run: another day shows its minutes alone.
    later = now + datetime.timedelta(days=1)
    assert "    Mia, games: 0 of 1 min used, 1 left\n" in stats_text(config, day="today", profile="Mia", now=later)
    assert "    Mia, games: 1 of 1 min used, 0 left\n" in stats_text(config, day="yesterday", profile="Mia", now=later)


def test_stats_for_a_profile_or_a_device(home: Home, capsys: pytest.CaptureFixture[str]) -> None:
    out = run(capsys, "stats", "--day", "2025-03-14", "--profile", "MIA", "-c", str(home.config))
    assert out.startswith('Friday 2025-03-14 (Europe/Berlin), profile "Mia"\n  3 queries, 1 blocked (33.3%)\n')
    assert "Everyone:" not in out and "    Mia: games 1 min" in out
    out = run(capsys, "stats", "--day", "2025-03-14", "--device", "192.0.2.30", "-c", str(home.config))
    assert out.startswith("Friday 2025-03-14 (Europe/Berlin), device tv\\x1b[5m\n  1 queries, 0 blocked (0.0%)\n")
    assert "Most blocked" not in out and "    Everyone: none\n  Query log writers" in out
    out = run(capsys, "stats", "--day", "yesterday", "-c", str(home.config))
    assert "No queries were logged that day." in out


def test_tail_prints_the_last_queries_then_new_ones(
    home: Home, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    polls = 0

    def poll(seconds: float) -> None:
        nonlocal polls
        polls += 1
        if polls == 1:
            database = home.open()
            try:
                write(database, [(T0 + 7200, answered(IPAD, home.mia, "adult.example", BLOCKED_ADULT)),
                                 (T0 + 7201, answered(TV, 1, "new.example"))])  # fmt: skip
            finally:
                database.close()
        elif polls >= 4:
            raise KeyboardInterrupt

    monkeypatch.setattr(time, "sleep", poll)
    out = run(capsys, "log", "tail", "-c", str(home.config))
    header = out.splitlines()[0]
    assert header.split() == ["Time", "Device", "Profile", "Name", "Type", "Decision", "Source", "Took", "Answer"]
    games = next(line for line in out.splitlines() if "games.example" in line)
    assert "  upstream 9.9.9.9:53" in games and games.index("23.5 ms") + 7 == header.index("Took") + 4
    assert column(out, "Name") == [
        "games.example", "adult.example", "\\027[31mred.example", "www.google.com", "100%_sure.example",
        "chat.example", "adult.example", "new.example",
    ]  # fmt: skip
    assert "20:00:00  Mia's iPad        Mia         adult.example" in out
    out = run(capsys, "log", "tail", "--blocked", "-c", str(home.config))
    assert column(out, "Time") == ["18:00:20", "20:00:00"]


async def test_tail_runs_until_ctrl_c(home: Home) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "dnsfilter", "log", "tail", "--profile", "Mia", "-c", str(home.config),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=REPO,
    )  # fmt: skip
    try:
        assert process.stdout is not None and process.stderr is not None
        seen = [await asyncio.wait_for(process.stdout.readline(), 20) for _ in range(4)]  # header and backlog
        assert b"Time" in seen[0] and b"100%_sure.example" in seen[3]
        database = home.open()
        try:
            write(database, [(time.time(), answered(IPAD, home.mia, "live.example"))])
        finally:
            database.close()
        line = await asyncio.wait_for(process.stdout.readline(), 20)
        assert b"live.example" in line and b"Mia's iPad" in line
        process.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(process.wait(), 20) == 0
        # Only the line that says which database was read.
        assert (await process.stderr.read()).decode() == f"dnsfilter: settings from {home.config}; database {home.database_url.removeprefix('sqlite:///')}\n"
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


def test_tail_prints_a_query_committed_late_with_a_lower_id_once(
    home: Home, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # On PostgreSQL a filter's batch can commit after another filter's later ids.
    polls = 0

    def insert(row_id: int, name: str) -> None:
        database = home.open()
        try:
            with database.writing() as session:
                session.add(QueryLogRow(id=row_id, at_ms=int(T0 * 1000) + 9_000_000, instance="x", device=TV,
                                        profile_id=1, name=name, qtype=1, action="allow", reason="allowed"))
        finally:
            database.close()

    def poll(seconds: float) -> None:
        nonlocal polls
        polls += 1
        if polls == 1:
            insert(10, "later-id.example")
        elif polls == 2:
            insert(9, "committed-late.example")
        else:
            raise KeyboardInterrupt

    monkeypatch.setattr(time, "sleep", poll)
    out = run(capsys, "log", "tail", "-c", str(home.config))
    assert column(out, "Name")[-2:] == ["later-id.example", "committed-late.example"]
    assert out.count("later-id.example") == 1
