"""Times and days as a parent writes them on the command line, with one
meaning for every command (``explain --at``, ``log --since/--until``,
``stats --day``), read in the family's time zone:

===========================  ==================================================
``now``                      this moment
``2h``, ``30m``, ``1d``      that long before now
``21:30``                    today at 21:30 (later than now, if it is not 21:30
                             yet: ``explain --at 21:30`` in the morning shows
                             tonight)
``yesterday 21:30``          yesterday at 21:30 (``today 21:30`` also works)
``today``, ``yesterday``     that day's midnight
``2026-03-02``               that day's midnight
``2026-03-02 21:30``         that day at 21:30
``2026-03-02T21:30+07:00``   with an offset from UTC (``Z`` for UTC itself)
===========================  ==================================================

Mistakes raise ``UsageError`` with examples of what works.
"""

from __future__ import annotations

import datetime
import re
from zoneinfo import ZoneInfo

from dnsfilter.errors import UsageError, shown

_AGO = re.compile(r"(\d{1,6})\s*(m|min|h|d)", re.IGNORECASE)
_DAY_CLOCK = re.compile(r"(?:(today|yesterday)\s+)?(\d{1,2}):(\d{2})", re.IGNORECASE)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}(:?\d{2})?)?")
_UNITS = {"m": "minutes", "min": "minutes", "h": "hours", "d": "days"}

TIME_FORMS = (
    "2h, 30m or 1d (that long ago), 21:30 (today), \"yesterday 21:30\", today, yesterday, 2026-03-02 or "
    "\"2026-03-02 21:30\" (in the family's time zone) or 2026-03-02T21:30+07:00 (with an offset from UTC)"
)


def parse_time(text: str, option: str, zone: ZoneInfo, now: datetime.datetime) -> datetime.datetime:
    """The moment ``text`` means (see the module's table), as an aware datetime."""
    cleaned = text.strip()
    lowered = cleaned.lower()
    try:
        if lowered == "now":
            return now
        if (ago := _AGO.fullmatch(cleaned)) is not None:
            return now - datetime.timedelta(**{_UNITS[ago[2].lower()]: int(ago[1])})
        if lowered in ("today", "yesterday"):
            return _midnight(parse_day(cleaned, zone, now), zone)
        if (clock := _DAY_CLOCK.fullmatch(cleaned)) is not None:
            day = parse_day(clock[1] or "today", zone, now)
            return datetime.datetime.combine(day, datetime.time(int(clock[2]), int(clock[3])), zone)
        if _DATE.fullmatch(cleaned):
            return _midnight(datetime.date.fromisoformat(cleaned), zone)
        if _DATE_TIME.fullmatch(cleaned):
            moment = datetime.datetime.fromisoformat(cleaned)
            return moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)
    except (ValueError, OverflowError):
        pass
    raise UsageError(f'{option} "{shown(text)}" is not a time. Write it as {TIME_FORMS}; the family\'s time zone is {zone.key}.')


def parse_day(text: str, zone: ZoneInfo, now: datetime.datetime) -> datetime.date:
    """``--day``: "today", "yesterday" or YYYY-MM-DD, in ``zone``."""
    cleaned = text.strip().lower()
    today = now.astimezone(zone).date()
    if cleaned == "today":
        return today
    if cleaned == "yesterday":
        return today - datetime.timedelta(days=1)
    try:
        if _DATE.fullmatch(cleaned):
            return datetime.date.fromisoformat(cleaned)
    except ValueError:
        pass
    raise UsageError(f'--day "{shown(text)}" is not a day. Write it as 2026-03-02, today or yesterday.')


def _midnight(day: datetime.date, zone: ZoneInfo) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time(), zone)
