"""Reading the options of ``dnsfilter log`` and ``dnsfilter stats``: times and
days in the family's zone, and profiles and devices by the names a parent
knows them by. Mistakes raise ``LogCommandError`` with examples of what works.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Sequence
from zoneinfo import ZoneInfo

from dnsfilter.errors import DnsFilterError
from dnsfilter.policy.explain import shown
from dnsfilter.naming import cleaned, device_matches
from dnsfilter.store import DeviceData


class LogCommandError(DnsFilterError):
    """What was asked of the log cannot be done: an unknown profile or device, a time that is not one."""


_AGO = re.compile(r"(\d{1,6})\s*(m|min|h|d)", re.IGNORECASE)
_CLOCK = re.compile(r"(\d{1,2}):(\d{2})")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}(:?\d{2})?)?")
_UNITS = {"m": "minutes", "min": "minutes", "h": "hours", "d": "days"}


def parse_time(text: str, option: str, zone: ZoneInfo, now: datetime.datetime) -> datetime.datetime:
    """``--since``/``--until``: "2h", "30m", "1d" (that long before ``now``), "21:30" (the
    last 21:30 in ``zone``), "2026-03-02" (its midnight) or "2026-03-02 21:30" in ``zone``,
    ISO 8601 with an offset, "today", "yesterday" or "now"; an aware datetime."""
    cleaned = text.strip()
    ago = _AGO.fullmatch(cleaned)
    clock = _CLOCK.fullmatch(cleaned)
    local_now = now.astimezone(zone)
    try:
        if ago is not None:
            return now - datetime.timedelta(**{_UNITS[ago[2].lower()]: int(ago[1])})
        if cleaned.lower() == "now":
            return now
        if cleaned.lower() in ("today", "yesterday"):
            return datetime.datetime.combine(parse_day(cleaned, zone, now), datetime.time(), zone)
        if clock is not None:
            moment = datetime.datetime.combine(local_now.date(), datetime.time(int(clock[1]), int(clock[2])), zone)
            # Asking for the log since 22:00 just after midnight means last night.
            return moment - datetime.timedelta(days=1) if moment > local_now else moment
        if _DATE.fullmatch(cleaned):
            return datetime.datetime.combine(datetime.date.fromisoformat(cleaned), datetime.time(), zone)
        if _DATE_TIME.fullmatch(cleaned):
            moment = datetime.datetime.fromisoformat(cleaned)
            return moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)
    except (ValueError, OverflowError):
        pass
    raise LogCommandError(
        f'{option} "{shown(text)}" is not a time. Write it as 2h, 30m or 1d (that long ago), 21:30 (the last '
        f"21:30), 2026-03-02 or 2026-03-02 21:30 (in the family's time zone, {zone.key}), or "
        "2026-03-02T21:30+01:00 (with an offset from UTC)."
    )


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
    raise LogCommandError(f'--day "{shown(text)}" is not a day. Write it as 2026-03-02, today or yesterday.')


def find_device(devices: Sequence[DeviceData], text: str) -> str:
    """The key of the device ``text`` names: a key, MAC or IP address (known
    or not: the log keeps devices the policy has forgotten), or a known
    device's label or own name (case-insensitive)."""
    wanted = cleaned(text)
    for match in device_matches(devices, wanted):
        if len(match.devices) == 1:
            return match.devices[0].key
        if match.key is not None:
            # No known device has the address, or several do: the log may
            # still hold queries under the address's own key.
            return match.key
        if match.devices:
            raise LogCommandError(
                f'"{shown(wanted)}" names {len(match.devices)} devices; give the key of the one you mean '
                f"(mac:... or ip:...):\n{_device_list(match.devices)}"
            )
    if not devices:
        raise LogCommandError(
            f'No device is called "{shown(wanted)}": the filter has not recorded any device yet. '
            "Give a MAC or IP address instead."
        )
    raise LogCommandError(
        f'No device is called "{shown(wanted)}". The devices the filter knows:\n{_device_list(devices)}\n'
        "Give one of these names or keys, or a MAC or IP address."
    )


def _device_list(devices: Sequence[DeviceData]) -> str:
    names = [shown(device.label or device.name or "(no name)") for device in devices]
    return "\n".join(f"  {name}  {shown(device.key)}" for name, device in zip(names, devices, strict=True))
