"""Screen-time windows: parsing, which windows are on, and when that changes,
including the days the clocks change in both hemispheres."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dnsfilter.policy.schedule import (
    Weekday,
    Window,
    active_windows,
    is_active,
    next_change,
    parse_days,
    parse_time,
    parse_window,
)

UTC = dt.timezone.utc
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
SYDNEY = ZoneInfo("Australia/Sydney")
# Zones used only to express `now` in: answers must not depend on them.
OTHER_ZONES = [ZoneInfo("America/Los_Angeles"), ZoneInfo("Asia/Kolkata"), ZoneInfo("Pacific/Auckland")]

MON, TUE, WED, THU, FRI, SAT, SUN = range(7)
WEEKDAYS = frozenset({MON, TUE, WED, THU, FRI})
EVERY_DAY = frozenset(range(7))

SCHOOL_NIGHTS = parse_window("sun-thu", "20:30", "07:00")


def local(text: str, zone: ZoneInfo) -> dt.datetime:
    """A wall time in ``zone``; "...+" picks the second of a repeated hour."""
    fold = 1 if text.endswith("+") else 0
    return dt.datetime.fromisoformat(text.rstrip("+")).replace(tzinfo=zone, fold=fold)


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def window(days: str, start: str, end: str) -> Window:
    return parse_window(days, start, end)


# --- Window values -----------------------------------------------------------


def test_window_keeps_weekdays_and_compares_with_ints() -> None:
    built = Window(frozenset({0, 6}), dt.time(20, 30), dt.time(7, 0))
    assert built.days == frozenset({Weekday.MONDAY, Weekday.SUNDAY})
    assert built == Window(frozenset({Weekday.MONDAY, Weekday.SUNDAY}), dt.time(20, 30), dt.time(7))
    assert all(isinstance(day, Weekday) for day in built.days)
    assert built.crosses_midnight
    assert hash(built) == hash(Window(frozenset({6, 0}), dt.time(20, 30), dt.time(7)))


def test_weekday_numbers_match_datetime() -> None:
    assert Weekday.MONDAY == dt.date(2026, 11, 30).weekday()
    assert Weekday.SUNDAY == dt.date(2026, 11, 29).weekday()


@pytest.mark.parametrize(
    ("days", "start", "end", "message"),
    [
        (frozenset(), dt.time(20), dt.time(7), "at least one day"),
        (frozenset({7}), dt.time(20), dt.time(7), "not a day"),
        (frozenset({-1}), dt.time(20), dt.time(7), "not a day"),
        (frozenset({True}), dt.time(20), dt.time(7), "not a day"),
        (frozenset({"mon"}), dt.time(20), dt.time(7), "not a day"),
        ("mon", dt.time(20), dt.time(7), "at least one day"),
        (frozenset({0}), dt.time(20, 30, 15), dt.time(7), "whole minutes"),
        (frozenset({0}), dt.time(20), dt.time(7, 0, 0, 1), "whole minutes"),
        (frozenset({0}), dt.time(20, tzinfo=UTC), dt.time(7), "time zone"),
        (frozenset({0}), dt.time(20, fold=1), dt.time(7), "fold"),
        (frozenset({0}), "20:30", dt.time(7), "time of day"),
    ],
    ids=[
        "no-days",
        "day-7",
        "day-negative",
        "day-bool",
        "day-text",
        "days-as-text",
        "seconds",
        "microseconds",
        "zone-on-time",
        "fold-set",
        "time-as-text",
    ],
)
def test_window_rejects(days: object, start: object, end: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Window(days, start, end)  # type: ignore[arg-type]


# --- parsing -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mon-fri", WEEKDAYS),
        ("sun-thu", {SUN, MON, TUE, WED, THU}),
        ("fri-mon", {FRI, SAT, SUN, MON}),
        ("sat,sun", {SAT, SUN}),
        ("sat, sun", {SAT, SUN}),
        ("mon , wed,fri", {MON, WED, FRI}),
        ("mon - fri", WEEKDAYS),
        ("MON-Fri", WEEKDAYS),
        ("monday-friday", WEEKDAYS),
        ("Saturday,Sunday", {SAT, SUN}),
        ("tue", {TUE}),
        ("daily", EVERY_DAY),
        ("every day", EVERY_DAY),
        ("  Every   Day ", EVERY_DAY),
        ("everyday", EVERY_DAY),
        ("weekdays", WEEKDAYS),
        ("weekends", {SAT, SUN}),
        ("weekends,wed", {SAT, SUN, WED}),
        ("t2-t6", WEEKDAYS),
        ("T2-T6", WEEKDAYS),
        ("t7,cn", {SAT, SUN}),
        ("CN", {SUN}),
        ("cn-t5", {SUN, MON, TUE, WED, THU}),
        ("t2,t4,t6", {MON, WED, FRI}),
        ("sat-fri", EVERY_DAY),
        ("mon,mon", {MON}),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_parse_days(text: str, expected: set[int]) -> None:
    assert parse_days(text) == frozenset(expected)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "No days given"),
        ("   ", "No days given"),
        ("funday", "^'funday' is not a day"),
        ("mon,funday", "'funday' in 'mon,funday' is not a day"),
        ("mon-", "empty part"),
        ("-fri", "empty part"),
        ("mon--fri", "not a range of two days"),
        ("mon-fri-sat", "not a range of two days"),
        ("mon,,tue", "empty part"),
        ("mon,", "empty part"),
        (",mon", "empty part"),
        ("mon fri", "'mon fri' is not a day"),
        ("mon-mon", "same day"),
        ("t1", "'t1' is not a day"),
        ("t8", "'t8' is not a day"),
        ("chủ nhật", "is not a day"),
        ("weekend-mon", "is not a day"),
        ("mo", "is not a day"),
    ],
    ids=lambda value: repr(value),
)
def test_parse_days_rejects(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_days(text)


def test_parse_days_rejects_non_text() -> None:
    with pytest.raises(ValueError, match="must be text"):
        parse_days(None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("20:30", dt.time(20, 30)),
        ("7:00", dt.time(7, 0)),
        ("07:00", dt.time(7, 0)),
        (" 7:05 ", dt.time(7, 5)),
        ("0:00", dt.time(0, 0)),
        ("00:00", dt.time(0, 0)),
        ("23:59", dt.time(23, 59)),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_parse_time(text: str, expected: dt.time) -> None:
    assert parse_time(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "not a time"),
        ("7", "not a time"),
        ("7:5", "not a time"),
        ("730", "not a time"),
        ("07.00", "not a time"),
        ("7 :00", "not a time"),
        ("007:00", "not a time"),
        ("07:00:00", "not a time"),
        ("7:00pm", "not a time"),
        ("-1:00", "not a time"),
        ("\u0667:\u0660\u0660", "not a time"),  # Arabic-Indic digits
        ("25:00", "hours go from 0 to 23"),
        ("24:00", "hours go from 0 to 23"),
        ("12:60", "minutes from 00 to 59"),
    ],
    ids=lambda value: repr(value),
)
def test_parse_time_rejects(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_time(text)


def test_parse_time_rejects_non_text() -> None:
    with pytest.raises(ValueError, match="must be text"):
        parse_time(730)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("days", "start", "end", "expected"),
    [
        ("sun-thu", "20:30", "7:00", Window(frozenset({SUN, MON, TUE, WED, THU}), dt.time(20, 30), dt.time(7))),
        ("daily", "21:30", "06:30", Window(EVERY_DAY, dt.time(21, 30), dt.time(6, 30))),
        ("t7,cn", "9:00", "9:00", Window(frozenset({SAT, SUN}), dt.time(9), dt.time(9))),
        ("weekdays", "20:00", "24:00", Window(WEEKDAYS, dt.time(20), dt.time(0))),
    ],
    ids=["school-nights", "bedtime", "vietnamese-full-day", "until-24:00"],
)
def test_parse_window(days: str, start: str, end: str, expected: Window) -> None:
    assert parse_window(days, start, end) == expected


@pytest.mark.parametrize(
    ("days", "start", "end", "message"),
    [
        ("", "20:30", "07:00", "No days given"),
        ("someday", "20:30", "07:00", "is not a day"),
        ("mon-fri", "8.30pm", "07:00", "not a time"),
        ("mon-fri", "24:00", "07:00", "hours go from 0 to 23"),
        ("mon-fri", "20:30", "24:30", "hours go from 0 to 23"),
        ("mon-fri", "20:30", "", "not a time"),
    ],
    ids=["no-days", "bad-days", "bad-start", "start-24:00", "end-24:30", "no-end"],
)
def test_parse_window_rejects(days: str, start: str, end: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_window(days, start, end)


# --- which windows are on (an ordinary week: 2026-11-23 Monday .. 29 Sunday) ---------

ORDINARY = [
    # "sun-thu 20:30-07:00": the day it starts versus the next morning.
    (SCHOOL_NIGHTS, "2026-11-29 20:29", False),
    (SCHOOL_NIGHTS, "2026-11-29 20:30", True),
    (SCHOOL_NIGHTS, "2026-11-29 23:00", True),
    (SCHOOL_NIGHTS, "2026-11-30 00:00", True),
    (SCHOOL_NIGHTS, "2026-11-30 06:59", True),
    (SCHOOL_NIGHTS, "2026-11-30 07:00", False),
    (SCHOOL_NIGHTS, "2026-11-30 12:00", False),
    (SCHOOL_NIGHTS, "2026-11-27 06:00", True),  # Friday morning: Thursday's window
    (SCHOOL_NIGHTS, "2026-11-27 23:00", False),  # Friday is not a start day
    (SCHOOL_NIGHTS, "2026-11-28 06:00", False),  # ...so Saturday morning is free
    (SCHOOL_NIGHTS, "2026-11-28 23:00", False),
    (SCHOOL_NIGHTS, "2026-11-29 06:00", False),
    # Same day, not crossing midnight.
    (window("mon-fri", "15:00", "17:30"), "2026-11-23 14:59", False),
    (window("mon-fri", "15:00", "17:30"), "2026-11-23 15:00", True),
    (window("mon-fri", "15:00", "17:30"), "2026-11-23 17:29", True),
    (window("mon-fri", "15:00", "17:30"), "2026-11-23 17:30", False),
    (window("mon-fri", "15:00", "17:30"), "2026-11-28 16:00", False),
    # Full days: start == end is 24 hours from the start day's start time.
    (window("sat", "0:00", "0:00"), "2026-11-28 00:00", True),
    (window("sat", "0:00", "0:00"), "2026-11-28 23:59", True),
    (window("sat", "0:00", "0:00"), "2026-11-29 00:00", False),
    (window("sat", "0:00", "0:00"), "2026-11-27 23:59", False),
    (window("sat", "9:00", "9:00"), "2026-11-29 08:59", True),
    (window("sat", "9:00", "9:00"), "2026-11-29 09:00", False),
    (window("sat", "9:00", "9:00"), "2026-11-28 08:59", False),
    # Until midnight, written as 24:00 or 0:00.
    (window("fri", "20:00", "24:00"), "2026-11-27 23:59", True),
    (window("fri", "20:00", "24:00"), "2026-11-28 00:00", False),
    # Wrapping range in Vietnamese: CN-T5 is Sunday..Thursday.
    (window("cn-t5", "20:30", "7:00"), "2026-11-27 06:00", True),
    (window("cn-t5", "20:30", "7:00"), "2026-11-27 23:00", False),
]


@pytest.mark.parametrize(
    ("rule", "when", "expected"),
    ORDINARY,
    ids=[f"{sorted(w.days)}-{w.start:%H%M}-{w.end:%H%M}@{when}" for w, when, _ in ORDINARY],
)
def test_is_active_ordinary_week(rule: Window, when: str, expected: bool) -> None:
    now = local(when, BERLIN)
    assert is_active(rule, now, BERLIN) is expected
    assert is_active(rule, now.astimezone(UTC), BERLIN) is expected
    for zone in OTHER_ZONES:
        assert is_active(rule, now.astimezone(zone), BERLIN) is expected


BEDTIME = window("daily", "21:30", "06:30")
HOMEWORK = window("mon-fri", "16:00", "18:00")
GAMES_OFF = window("mon-thu", "17:00", "17:00")


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ("2026-11-23 12:00", ()),
        ("2026-11-23 16:30", (1,)),
        ("2026-11-23 17:00", (1, 2)),
        ("2026-11-23 18:00", (2,)),
        ("2026-11-23 22:00", (0, 2, 3)),
        ("2026-11-24 06:45", (2, 3)),
        ("2026-11-24 16:59", (1, 2)),
        ("2026-11-27 17:00", (1,)),  # Friday: Thursday's full day ended at 17:00
        ("2026-11-28 03:00", (0,)),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_active_windows_overlap(when: str, expected: tuple[int, ...]) -> None:
    rules = [BEDTIME, HOMEWORK, GAMES_OFF, SCHOOL_NIGHTS]
    now = local(when, BERLIN)
    assert active_windows(rules, now, BERLIN) == expected
    assert active_windows(rules, now.astimezone(UTC), BERLIN) == expected


def test_active_windows_empty() -> None:
    assert active_windows([], utc("2026-11-23 12:00"), BERLIN) == ()


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        is_active(BEDTIME, dt.datetime(2026, 11, 23, 12), BERLIN)
    with pytest.raises(ValueError, match="timezone-aware"):
        next_change([BEDTIME], dt.datetime(2026, 11, 23, 12), BERLIN)


# --- next change in an ordinary week ---------------------------------------------

NEXT_ORDINARY = [
    ([], "2026-11-23 12:00", None),
    ([window("daily", "0:00", "0:00")], "2026-11-23 12:00", None),
    ([window("daily", "7:00", "7:00")], "2026-11-23 12:00", None),
    ([SCHOOL_NIGHTS], "2026-11-23 12:00", "2026-11-23 19:30"),
    ([SCHOOL_NIGHTS], "2026-11-23 20:30", "2026-11-24 06:00"),
    ([SCHOOL_NIGHTS], "2026-11-23 20:29:59.999999", "2026-11-23 19:30"),
    ([SCHOOL_NIGHTS], "2026-11-27 06:00", "2026-11-27 06:00"),
    ([SCHOOL_NIGHTS], "2026-11-27 07:00", "2026-11-29 19:30"),
    ([window("mon", "8:00", "9:00")], "2026-11-23 09:00", "2026-11-30 07:00"),
    # Full days back to back are one stretch: Monday 00:00 to Sunday 00:00.
    ([window("mon-sat", "0:00", "0:00")], "2026-11-23 12:00", "2026-11-28 23:00"),
    ([window("mon-sat", "0:00", "0:00")], "2026-11-29 12:00", "2026-11-29 23:00"),
    ([window("daily", "0:00", "0:00"), HOMEWORK], "2026-11-23 12:00", "2026-11-23 15:00"),
    ([BEDTIME, HOMEWORK, GAMES_OFF, SCHOOL_NIGHTS], "2026-11-23 17:30", "2026-11-23 17:00"),
    ([BEDTIME, HOMEWORK, GAMES_OFF, SCHOOL_NIGHTS], "2026-11-27 18:00", "2026-11-27 20:30"),
]


@pytest.mark.parametrize(
    ("rules", "when", "expected"),
    NEXT_ORDINARY,
    ids=[f"{len(rules)}-windows@{when}" for rules, when, _ in NEXT_ORDINARY],
)
def test_next_change_ordinary_week(rules: list[Window], when: str, expected: str | None) -> None:
    now = local(when, BERLIN)
    want = None if expected is None else utc(expected)
    got = next_change(rules, now, BERLIN)
    assert got == want
    if got is not None:
        assert got.tzinfo is UTC
    for zone in OTHER_ZONES:
        assert next_change(rules, now.astimezone(zone), BERLIN) == want


# --- the days the clocks change -------------------------------------------------
#
# Europe/Berlin   2026-03-29 02:00 CET -> 03:00 CEST at 01:00 UTC (02:00-03:00 skipped)
#                 2026-10-25 03:00 CEST -> 02:00 CET at 01:00 UTC (02:00-03:00 twice)
# America/New_York 2026-03-08 02:00 EST -> 03:00 EDT at 07:00 UTC
#                 2026-11-01 02:00 EDT -> 01:00 EST at 06:00 UTC (01:00-02:00 twice)
# Australia/Sydney 2026-04-05 03:00 AEDT -> 02:00 AEST at 2026-04-04 16:00 UTC
#                 2026-10-04 02:00 AEST -> 03:00 AEDT at 2026-10-03 16:00 UTC
#
# Each case: window, zone, now (UTC), active at now, next change (UTC).

DST_CASES = [
    # Berlin, spring forward.
    ("berlin-spring-start-in-gap-before", window("daily", "02:30", "06:00"), BERLIN,
     "2026-03-28 23:00", False, "2026-03-29 01:00"),
    ("berlin-spring-start-in-gap-last-second", window("daily", "02:30", "06:00"), BERLIN,
     "2026-03-29 00:59:59", False, "2026-03-29 01:00"),
    ("berlin-spring-start-in-gap-at-03:00", window("daily", "02:30", "06:00"), BERLIN,
     "2026-03-29 01:00", True, "2026-03-29 04:00"),
    ("berlin-spring-window-inside-gap-skipped", window("daily", "02:00", "02:30"), BERLIN,
     "2026-03-28 23:00", False, "2026-03-30 00:00"),
    ("berlin-spring-window-inside-gap-not-on", window("daily", "02:00", "02:30"), BERLIN,
     "2026-03-29 01:00", False, "2026-03-30 00:00"),
    ("berlin-spring-skipped-week-after-next", window("sun", "02:00", "02:30"), BERLIN,
     "2026-03-22 02:00", False, "2026-04-05 00:00"),
    ("berlin-spring-end-in-gap", window("sat", "22:00", "02:30"), BERLIN,
     "2026-03-29 00:30", True, "2026-03-29 01:00"),
    ("berlin-spring-end-in-gap-over", window("sat", "22:00", "02:30"), BERLIN,
     "2026-03-29 01:00", False, "2026-04-04 20:00"),
    ("berlin-spring-end-in-gap-short", window("sun", "01:30", "02:30"), BERLIN,
     "2026-03-29 00:30", True, "2026-03-29 01:00"),
    ("berlin-spring-bedtime-8h", BEDTIME, BERLIN,
     "2026-03-28 22:00", True, "2026-03-29 04:30"),
    ("berlin-spring-bedtime-next-start-cest", BEDTIME, BERLIN,
     "2026-03-29 04:30", False, "2026-03-29 19:30"),
    ("berlin-spring-next-morning-not-plus-24h", window("daily", "07:00", "08:00"), BERLIN,
     "2026-03-28 07:30", False, "2026-03-29 05:00"),
    # Berlin, fall back.
    ("berlin-fall-start-repeated-first", window("sun", "02:30", "04:00"), BERLIN,
     "2026-10-25 00:15", False, "2026-10-25 00:30"),
    ("berlin-fall-start-repeated-second-pass", window("sun", "02:30", "04:00"), BERLIN,
     "2026-10-25 01:30", True, "2026-10-25 03:00"),
    ("berlin-fall-end-repeated-first", window("sun", "01:00", "02:30"), BERLIN,
     "2026-10-25 00:00", True, "2026-10-25 00:30"),
    ("berlin-fall-end-repeated-second-pass-off", window("sun", "01:00", "02:30"), BERLIN,
     "2026-10-25 01:15", False, "2026-11-01 00:00"),
    ("berlin-fall-whole-repeated-hour", window("sun", "02:00", "03:00"), BERLIN,
     "2026-10-25 01:59:59", True, "2026-10-25 02:00"),
    ("berlin-fall-bedtime-10h-start", BEDTIME, BERLIN,
     "2026-10-24 19:00", False, "2026-10-24 19:30"),
    ("berlin-fall-bedtime-10h", BEDTIME, BERLIN,
     "2026-10-25 05:00", True, "2026-10-25 05:30"),
    ("berlin-fall-next-morning-not-plus-24h", window("daily", "07:00", "08:00"), BERLIN,
     "2026-10-24 06:30", False, "2026-10-25 06:00"),
    # New York, spring forward.
    ("ny-spring-start-in-gap", window("daily", "02:30", "03:30"), NEW_YORK,
     "2026-03-08 06:59", False, "2026-03-08 07:00"),
    ("ny-spring-start-in-gap-on", window("daily", "02:30", "03:30"), NEW_YORK,
     "2026-03-08 07:00", True, "2026-03-08 07:30"),
    ("ny-spring-end-in-gap", window("sat", "23:00", "02:15"), NEW_YORK,
     "2026-03-08 06:30", True, "2026-03-08 07:00"),
    ("ny-spring-next-morning-not-plus-24h", window("daily", "07:00", "08:00"), NEW_YORK,
     "2026-03-07 13:00", False, "2026-03-08 11:00"),
    ("ny-spring-school-night", SCHOOL_NIGHTS, NEW_YORK,
     "2026-03-08 03:00", False, "2026-03-09 00:30"),
    ("ny-spring-school-night-ends-edt", SCHOOL_NIGHTS, NEW_YORK,
     "2026-03-09 01:00", True, "2026-03-09 11:00"),
    # New York, fall back.
    ("ny-fall-short-window-first-pass", window("sun", "01:30", "01:45"), NEW_YORK,
     "2026-11-01 05:40", True, "2026-11-01 05:45"),
    ("ny-fall-short-window-second-pass-off", window("sun", "01:30", "01:45"), NEW_YORK,
     "2026-11-01 06:35", False, "2026-11-08 06:30"),
    ("ny-fall-night-10h", window("sat", "22:00", "07:00"), NEW_YORK,
     "2026-11-01 11:59", True, "2026-11-01 12:00"),
    ("ny-fall-crossing-midnight-gap-between", window("daily", "01:45", "01:15"), NEW_YORK,
     "2026-11-01 05:20", False, "2026-11-01 05:45"),
    ("ny-fall-crossing-midnight-second-pass-on", window("daily", "01:45", "01:15"), NEW_YORK,
     "2026-11-01 06:20", True, "2026-11-02 06:15"),
    # Sydney, fall back (April).
    ("sydney-fall-bedtime-10h-start", BEDTIME, SYDNEY,
     "2026-04-04 10:00", False, "2026-04-04 10:30"),
    ("sydney-fall-bedtime-10h", BEDTIME, SYDNEY,
     "2026-04-04 12:00", True, "2026-04-04 20:30"),
    ("sydney-fall-start-repeated-first", window("sun", "02:30", "02:45"), SYDNEY,
     "2026-04-04 15:00", False, "2026-04-04 15:30"),
    ("sydney-fall-start-repeated-second-pass-off", window("sun", "02:30", "02:45"), SYDNEY,
     "2026-04-04 16:35", False, "2026-04-11 16:30"),
    # Sydney, spring forward (October).
    ("sydney-spring-window-inside-gap-skipped", window("sun", "02:00", "02:59"), SYDNEY,
     "2026-10-03 15:00", False, "2026-10-10 15:00"),
    ("sydney-spring-bedtime-8h", window("sat", "21:30", "06:30"), SYDNEY,
     "2026-10-03 12:00", True, "2026-10-03 19:30"),
    ("sydney-spring-start-in-gap", window("daily", "02:30", "07:00"), SYDNEY,
     "2026-10-03 15:59:59", False, "2026-10-03 16:00"),
    ("sydney-spring-start-in-gap-on", window("daily", "02:30", "07:00"), SYDNEY,
     "2026-10-03 16:00", True, "2026-10-03 20:00"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("rule", "zone", "when", "active", "change"),
    [case[1:] for case in DST_CASES],
    ids=[case[0] for case in DST_CASES],
)
def test_dst_days(rule: Window, zone: ZoneInfo, when: str, active: bool, change: str) -> None:
    now = utc(when)
    for asked in [now, now.astimezone(zone), *(now.astimezone(other) for other in OTHER_ZONES)]:
        assert is_active(rule, asked, zone) is active
        assert active_windows([rule], asked, zone) == ((0,) if active else ())
        assert next_change([rule], asked, zone) == utc(change)


@pytest.mark.parametrize(
    ("rule", "zone", "starts", "ends"),
    [
        (BEDTIME, BERLIN, "2026-03-28 20:30", "2026-03-29 04:30"),
        (BEDTIME, BERLIN, "2026-10-24 19:30", "2026-10-25 05:30"),
        (BEDTIME, NEW_YORK, "2026-03-08 02:30", "2026-03-08 10:30"),
        (BEDTIME, NEW_YORK, "2026-11-01 01:30", "2026-11-01 11:30"),
        (BEDTIME, SYDNEY, "2026-04-04 10:30", "2026-04-04 20:30"),
        (BEDTIME, SYDNEY, "2026-10-03 11:30", "2026-10-03 19:30"),
    ],
    ids=["berlin-spring-8h", "berlin-fall-10h", "ny-spring-8h", "ny-fall-10h", "sydney-fall-10h", "sydney-spring-8h"],
)
def test_bedtime_follows_the_wall_clock(rule: Window, zone: ZoneInfo, starts: str, ends: str) -> None:
    """21:30-06:30 is 9 hours, except the nights the clocks change."""
    start, end = utc(starts), utc(ends)
    second = dt.timedelta(seconds=1)
    assert next_change([rule], start - dt.timedelta(hours=1), zone) == start
    assert not is_active(rule, start - second, zone)
    assert is_active(rule, start, zone)
    assert next_change([rule], start, zone) == end
    assert is_active(rule, end - second, zone)
    assert not is_active(rule, end, zone)


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ("2026-10-25 00:00", (0, 1)),  # 02:00 CEST, first pass
        ("2026-10-25 00:15", (0, 1, 2)),  # 02:15 CEST, first pass
        ("2026-10-25 00:45", (0,)),  # 02:45 CEST: 01:00-02:30 ended at the first 02:30
        # 02:15 CET, second pass: 02:10-02:20 happened in the first pass only.
        ("2026-10-25 01:15", (0,)),
        ("2026-10-25 01:30", (0,)),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_overlapping_windows_on_fall_back_night(when: str, expected: tuple[int, ...]) -> None:
    rules = [window("sat", "22:00", "04:00"), window("sun", "01:00", "02:30"), window("sun", "02:10", "02:20")]
    assert active_windows(rules, utc(when), BERLIN) == expected


# --- property: nothing changes before next_change, something changes at it ------

# Zones chosen for awkward changes: both hemispheres, a 30-minute change
# (Lord Howe), changes at local midnight (Santiago), and no changes at all.
PROPERTY_ZONES = [
    "Europe/Berlin",
    "America/New_York",
    "Australia/Sydney",
    "Australia/Lord_Howe",
    "America/Santiago",
    "Asia/Kolkata",
    "UTC",
]

windows_strategy = st.builds(
    Window,
    days=st.frozensets(st.integers(0, 6), min_size=1),
    # Times near the changes (00:00-03:59) are the interesting ones.
    start=st.one_of(st.builds(dt.time, st.integers(0, 3), st.sampled_from([0, 15, 30, 45])),
                    st.builds(dt.time, st.integers(0, 23), st.integers(0, 59))),
    end=st.one_of(st.builds(dt.time, st.integers(0, 3), st.sampled_from([0, 15, 30, 45])),
                  st.builds(dt.time, st.integers(0, 23), st.integers(0, 59))),
)  # fmt: skip

# Seconds in 2026, plus the week before and the days around each change in
# the zones above (a window swallowed by a change must be looked past).
_YEAR_START = int(dt.datetime(2026, 1, 1, tzinfo=UTC).timestamp())
_CHANGE_DAYS = [
    dt.datetime(2026, month, day, tzinfo=UTC)
    for month, day in [(3, 29), (10, 25), (3, 8), (11, 1), (4, 4), (10, 3), (4, 5), (9, 6)]
]
instants_strategy = st.one_of(
    st.integers(_YEAR_START, _YEAR_START + 365 * 86400).map(lambda s: dt.datetime.fromtimestamp(s, UTC)),
    st.builds(lambda day, seconds: day + dt.timedelta(seconds=seconds),
              st.sampled_from(_CHANGE_DAYS), st.integers(-8 * 86400, 2 * 86400)),
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(
    rules=st.lists(windows_strategy, min_size=1, max_size=4),
    now=instants_strategy,
    zone_name=st.sampled_from(PROPERTY_ZONES),
    fraction=st.floats(0, 1),
)
def test_next_change_is_exactly_where_activity_changes(
    rules: list[Window], now: dt.datetime, zone_name: str, fraction: float
) -> None:
    zone = ZoneInfo(zone_name)
    change = next_change(rules, now, zone)
    before = active_windows(rules, now, zone)
    if change is None:
        assert all(rule.always_on for rule in rules)
        assert before == tuple(range(len(rules)))
        return
    assert change > now
    last_same = change - dt.timedelta(seconds=1)
    assert last_same >= now  # changes fall on whole seconds, and now does too
    between = now + (last_same - now) * fraction
    assert active_windows(rules, between, zone) == before
    assert active_windows(rules, last_same, zone) == before
    assert active_windows(rules, change, zone) != before
    for index, rule in enumerate(rules):
        # The per-window answer agrees with the profile-wide one.
        assert is_active(rule, last_same, zone) is (index in before)
