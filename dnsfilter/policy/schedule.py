"""Weekly screen-time windows: when is a rule in force, and when does that change.

A ``Window`` is a set of start days and two wall-clock times in the family's
time zone, e.g. "sun-thu 20:30-07:00". Everything here is pure: the time comes
in as an aware ``datetime`` (any zone, usually UTC) and the zone as a
``ZoneInfo``; nothing reads the clock or does I/O.

Meaning of a window
    ``days`` are the days on which the window STARTS (0 = Monday .. 6 = Sunday,
    as ``datetime.weekday()``; ``Weekday`` names them). When ``end <= start``
    the window crosses midnight and ends on the next day, so "sun-thu
    20:30-07:00" covers Friday 06:00 (Thursday's window) but not Friday 23:00
    nor Saturday 06:00. ``start == end`` means a full day (24 wall-clock hours).
    An occurrence is the half-open interval [start, end): at exactly 07:00 the
    window above is over.

Daylight-saving changes
    Windows follow the wall clock, not a stopwatch: "21:30-06:30" is one hour
    longer on the night the clocks go back and one hour shorter on the night
    they go forward. A start or end that falls on a wall time
    - that does not exist (skipped by a spring-forward change, e.g. 02:30 in
      Europe/Berlin on 2026-03-29) takes effect at the first instant after the
      gap (03:00 local, 01:00 UTC); a window lying wholly inside the gap
      (02:00-02:30 that day) does not happen that day;
    - that happens twice (repeated by a fall-back change, e.g. 02:30 in
      Europe/Berlin on 2026-10-25) takes effect at its FIRST occurrence
      (``fold=0``), for starts and ends alike. So a window wholly inside the
      repeated hour happens once, in the first pass, and "01:00-02:30" that
      night is over during the second pass through 02:00-02:30.
    Instants are always found from the local wall time of each date, never
    by adding 24 hours to a previous instant.

``next_change`` gives the next instant at which the set of active windows
changes (full days back to back are one stretch; None when nothing ever
changes); the policy engine uses it to cap DNS TTLs so that a window starting
at 20:30 takes effect on the child's device within the TTL.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

__all__ = [
    "Weekday",
    "Window",
    "active_windows",
    "is_active",
    "next_change",
    "parse_days",
    "parse_time",
    "parse_window",
]

_UTC = dt.timezone.utc
_MIDNIGHT = dt.time(0, 0)


class Weekday(enum.IntEnum):
    """Days as ``datetime.weekday()`` numbers them; plain ints 0..6 work too."""

    MONDAY = 0
    TUESDAY = 1
    WEDNESDAY = 2
    THURSDAY = 3
    FRIDAY = 4
    SATURDAY = 5
    SUNDAY = 6


ALL_DAYS: frozenset[Weekday] = frozenset(Weekday)


@dataclass(frozen=True, slots=True)
class Window:
    """A weekly window: starts on each of ``days`` at ``start`` and runs to ``end``.

    ``end <= start`` crosses midnight into the next day; ``start == end`` is a
    full day. Times are wall clock, whole minutes, without a zone.
    """

    days: frozenset[int]
    start: dt.time
    end: dt.time

    def __post_init__(self) -> None:
        if not isinstance(self.days, (frozenset, set, tuple, list)) or not self.days:
            raise ValueError("A window needs at least one day, for example mon-fri.")
        days: set[Weekday] = set()
        for day in self.days:
            if isinstance(day, bool) or not isinstance(day, int) or not 0 <= day <= 6:
                raise ValueError(f"{day!r} is not a day: days are numbered 0 (Monday) to 6 (Sunday).")
            days.add(Weekday(day))
        # Store Weekday members whatever came in: equal and hash-equal to the
        # ints, but they print as names in logs and error reports.
        object.__setattr__(self, "days", frozenset(days))
        for label, value in (("start", self.start), ("end", self.end)):
            if not isinstance(value, dt.time):
                raise ValueError(f"The {label} time must be a time of day such as 20:30.")
            if value.tzinfo is not None:
                raise ValueError(f"The {label} time must not carry a time zone: the configured zone is used.")
            if value.second or value.microsecond:
                raise ValueError(f"The {label} time must be whole minutes, such as 20:30.")
            if value.fold:
                # fold would silently pick the second of a repeated hour,
                # against the documented rule.
                raise ValueError(f"The {label} time must not set fold.")

    @property
    def crosses_midnight(self) -> bool:
        return self.end <= self.start

    @property
    def always_on(self) -> bool:
        """Every day, full day: in force at every instant."""
        return self.start == self.end and self.days == ALL_DAYS


# --- parsing what parents type ---------------------------------------------

_DAY_NAMES: dict[str, Weekday] = {
    "mon": Weekday.MONDAY,
    "monday": Weekday.MONDAY,
    "tue": Weekday.TUESDAY,
    "tues": Weekday.TUESDAY,
    "tuesday": Weekday.TUESDAY,
    "wed": Weekday.WEDNESDAY,
    "wednesday": Weekday.WEDNESDAY,
    "thu": Weekday.THURSDAY,
    "thur": Weekday.THURSDAY,
    "thurs": Weekday.THURSDAY,
    "thursday": Weekday.THURSDAY,
    "fri": Weekday.FRIDAY,
    "friday": Weekday.FRIDAY,
    "sat": Weekday.SATURDAY,
    "saturday": Weekday.SATURDAY,
    "sun": Weekday.SUNDAY,
    "sunday": Weekday.SUNDAY,
    # Vietnamese: Thứ hai (2nd day) is Monday .. Thứ bảy (7th) is Saturday;
    # Chủ nhật (cn) is Sunday.
    "t2": Weekday.MONDAY,
    "t3": Weekday.TUESDAY,
    "t4": Weekday.WEDNESDAY,
    "t5": Weekday.THURSDAY,
    "t6": Weekday.FRIDAY,
    "t7": Weekday.SATURDAY,
    "cn": Weekday.SUNDAY,
}

_DAY_GROUPS: dict[str, frozenset[Weekday]] = {
    "daily": ALL_DAYS,
    "every day": ALL_DAYS,
    "everyday": ALL_DAYS,
    "weekdays": frozenset(Weekday(d) for d in range(5)),
    "weekends": frozenset({Weekday.SATURDAY, Weekday.SUNDAY}),
}

_DAYS_HINT = "Write days like mon-fri, sun-thu, sat,sun, daily, weekdays, weekends, t2-t6 or t7,cn."

_TIME = re.compile(r"([0-9]{1,2}):([0-9]{2})", re.ASCII)


def _where(part: str, text: str) -> str:
    return repr(part) if part == text.strip() else f"{part!r} in {text!r}"


def _day(word: str, text: str) -> Weekday:
    day = _DAY_NAMES.get(word)
    if day is None:
        if not word:
            raise ValueError(f"Days {text!r} have an empty part. {_DAYS_HINT}")
        raise ValueError(f"{_where(word, text)} is not a day. {_DAYS_HINT}")
    return day


def parse_days(text: str) -> frozenset[Weekday]:
    """The start days named by ``text``: "mon-fri", "sun-thu" (ranges wrap
    round the week), "sat,sun", "daily", "every day", "weekdays", "weekends",
    Vietnamese "t2-t6", "t7,cn"; any mix of these separated by commas."""
    if not isinstance(text, str):
        raise ValueError(f"Days must be text such as mon-fri, not {text!r}.")
    cleaned = " ".join(text.lower().split())
    if not cleaned:
        raise ValueError(f"No days given. {_DAYS_HINT}")
    days: set[Weekday] = set()
    for part in cleaned.split(","):
        part = part.strip()
        group = _DAY_GROUPS.get(part)
        if group is not None:
            days |= group
            continue
        ends = [end.strip() for end in part.split("-")]
        if len(ends) == 1:
            days.add(_day(ends[0], text))
        elif len(ends) == 2:
            first, last = _day(ends[0], text), _day(ends[1], text)
            if first == last:
                # Could mean one day or the whole week: make the parent say.
                raise ValueError(f"{part!r} starts and ends on the same day: write the day alone, or daily.")
            span = (last - first) % 7
            days.update(Weekday((first + step) % 7) for step in range(span + 1))
        else:
            raise ValueError(f"{_where(part, text)} is not a range of two days. {_DAYS_HINT}")
    return frozenset(days)


def parse_time(text: str, *, allow_24: bool = False) -> dt.time:
    """A wall-clock time "20:30", "7:00" or "07:00" (24-hour clock).

    With ``allow_24`` (used for ends), "24:00" is accepted as midnight at the
    end of the day, which is how some parents write it.
    """
    if not isinstance(text, str):
        raise ValueError(f"A time must be text such as 20:30, not {text!r}.")
    match = _TIME.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a time: use the 24-hour clock, hours:minutes, such as 20:30 or 7:00.")
    hour, minute = int(match.group(1)), int(match.group(2))
    if allow_24 and hour == 24 and minute == 0:
        return _MIDNIGHT
    if hour > 23 or minute > 59:
        raise ValueError(f"{text!r} is not a time of day: hours go from 0 to 23 and minutes from 00 to 59.")
    return dt.time(hour, minute)


def parse_window(days: str, start: str, end: str) -> Window:
    """A Window from what a parent typed, e.g. ``("sun-thu", "20:30", "7:00")``.

    Raises ValueError with a message that says what to write instead.
    """
    return Window(parse_days(days), parse_time(start), parse_time(end, allow_24=True))


# --- wall clock to instants -------------------------------------------------


_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()


def _offset_seconds(timestamp: int, zone: ZoneInfo) -> float:
    offset = dt.datetime.fromtimestamp(timestamp, zone).utcoffset()
    assert offset is not None  # a ZoneInfo always gives one
    return offset.total_seconds()


def _instant(day: dt.date, wall: dt.time, wall_fold1: dt.time, zone: ZoneInfo) -> float:
    """The POSIX time at which the wall clock in ``zone`` shows ``wall`` on
    ``day``: the first occurrence when it shows it twice, the end of the gap
    when it never does. ``wall_fold1`` is ``wall`` with fold=1."""
    # PEP 495: fold=0 maps with the offset in force before a change, fold=1
    # with the one after. Equal: an ordinary time. The offset drops when
    # clocks go back, so "before" is the first occurrence; it rises when they
    # go forward, so the time is in the gap.
    before = zone.utcoffset(dt.datetime.combine(day, wall))
    after = zone.utcoffset(dt.datetime.combine(day, wall_fold1))
    assert before is not None and after is not None  # a ZoneInfo always gives them
    wall_seconds = (day.toordinal() - _EPOCH_ORDINAL) * 86400 + wall.hour * 3600 + wall.minute * 60
    if after <= before:
        return wall_seconds - before.total_seconds()
    # Skipped: the two mappings bracket the change; zoneinfo does not expose
    # transitions, so find the first second with the new offset by bisection.
    low, high = int(wall_seconds - after.total_seconds()), int(wall_seconds - before.total_seconds())
    old_offset = _offset_seconds(low, zone)
    while high - low > 1:
        middle = (low + high) // 2
        if _offset_seconds(middle, zone) == old_offset:
            low = middle
        else:
            high = middle
    return float(high)


# Start days looked at: yesterday (a window still running since last night)
# to two weeks ahead. Every start day comes round within a week; the second
# week covers an occurrence that a spring-forward change swallowed whole.
_FIRST_DAY = -1
_LAST_DAY = 14


class _Calendar:
    """The local dates around one instant, and a memo of wall-time-to-instant
    answers: windows of a profile share dates and often times, and each
    conversion costs a few zone look-ups."""

    __slots__ = ("zone", "days", "weekdays", "_seen", "_folded")

    def __init__(self, now: dt.datetime, zone: ZoneInfo) -> None:
        self.zone = zone
        today = now.astimezone(zone).date().toordinal()
        # Index i is the date today + _FIRST_DAY + i; one extra for the end
        # of the last occurrence.
        self.days = [dt.date.fromordinal(today + offset) for offset in range(_FIRST_DAY, _LAST_DAY + 2)]
        self.weekdays = [day.weekday() for day in self.days]
        self._seen: dict[tuple[int, dt.time], float] = {}
        # time.replace() costs more than the zone look-ups: once per time.
        self._folded: dict[dt.time, dt.time] = {}

    def at(self, index: int, wall: dt.time) -> float:
        key = (index, wall)
        found = self._seen.get(key)
        if found is None:
            folded = self._folded.get(wall)
            if folded is None:
                folded = self._folded[wall] = wall.replace(fold=1)
            found = self._seen[key] = _instant(self.days[index], wall, folded, self.zone)
        return found

    def occurrence(self, window: Window, index: int) -> tuple[float, float]:
        """[start, end) of the occurrence of ``window`` that starts on day ``index``."""
        end_index = index + 1 if window.end <= window.start else index
        return self.at(index, window.start), self.at(end_index, window.end)


_TODAY = -_FIRST_DAY  # index of the local date of `now`


def _timestamp(now: dt.datetime) -> float:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime (for example in UTC).")
    return now.timestamp()


def _active(window: Window, moment: float, calendar: _Calendar) -> bool:
    # An occurrence lasts at most one wall-clock day, so only the ones that
    # started today or yesterday (local dates) can cover the moment.
    for index in (_TODAY - 1, _TODAY):
        if calendar.weekdays[index] in window.days:
            start, end = calendar.occurrence(window, index)
            if start <= moment < end:
                return True
    return False


def is_active(window: Window, now: dt.datetime, zone: ZoneInfo) -> bool:
    """Whether ``window`` is in force at ``now`` (an aware datetime, any zone)."""
    return _active(window, _timestamp(now), _Calendar(now, zone))


def active_windows(windows: Sequence[Window], now: dt.datetime, zone: ZoneInfo) -> tuple[int, ...]:
    """Positions in ``windows`` of the windows in force at ``now``."""
    moment = _timestamp(now)
    calendar = _Calendar(now, zone)
    return tuple(i for i, window in enumerate(windows) if _active(window, moment, calendar))


def _change(window: Window, moment: float, calendar: _Calendar) -> float | None:
    """The first instant after ``moment`` at which ``window`` starts or stops."""
    run_end: float | None = None  # end of the stretch of back-to-back occurrences
    for index in range(_LAST_DAY - _FIRST_DAY + 1):
        if calendar.weekdays[index] not in window.days:
            continue
        start, end = calendar.occurrence(window, index)
        if start == end:
            continue  # wholly inside a skipped hour: does not happen this time
        if start == run_end:
            run_end = end  # full days back to back: no change between them
            continue
        # Occurrences come in order, so the first boundary after now wins.
        if run_end is not None and run_end > moment:
            return run_end
        if start > moment:
            return start
        run_end = end
    return None  # still running two weeks ahead: only always-on windows do


def next_change(windows: Sequence[Window], now: dt.datetime, zone: ZoneInfo) -> dt.datetime | None:
    """The earliest instant after ``now`` at which a window starts or ends, in UTC.

    Only real changes count: two full-day occurrences back to back are one
    stretch. None when nothing will ever change (no windows, or only windows
    that are on all day every day).
    """
    moment = _timestamp(now)
    calendar = _Calendar(now, zone)
    earliest: float | None = None
    for window in windows:
        if window.always_on:
            continue
        change = _change(window, moment, calendar)
        if change is not None and (earliest is None or change < earliest):
            earliest = change
    if earliest is None:
        return None
    return dt.datetime.fromtimestamp(earliest, _UTC)
