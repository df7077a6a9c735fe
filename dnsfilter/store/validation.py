"""Checking what a parent typed before it reaches the database.

Every check returns the value as it will be stored, or raises
``PolicyInputError`` with a message the parent can act on. Nothing is written
until every value of a change has passed.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dnsfilter.errors import StoreError
from dnsfilter.policy.domains import normalise_name
from dnsfilter.policy.identity import normalise_device_key
from dnsfilter.store.models import NAME_MAX

TAG_MAX = 100
DAYS_MAX = 64
NOTE_MAX = 500
MAX_MINUTES = 366 * 24 * 60  # longer than a year is a mistake, not an override
_TIME = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]")


class PolicyInputError(StoreError):
    """A change was refused because a value is not valid; nothing was written."""


class NotFoundError(StoreError):
    """A change names a profile, rule, override or device that does not exist."""


def person_name(text: str, what: str = "profile name") -> str:
    """A profile name or device label: 1..64 characters, any language, no control characters."""
    # One spelling per name: "Lê" typed on two keyboards must be the same profile.
    name = unicodedata.normalize("NFC", text).strip()
    if not name:
        raise PolicyInputError(f"The {what} is empty; type a name such as Mia.")
    if len(name) > NAME_MAX:
        raise PolicyInputError(f"The {what} is {len(name)} characters long; keep it to {NAME_MAX} or fewer.")
    if any(unicodedata.category(ch) == "Cc" for ch in name):
        raise PolicyInputError(f"The {what} cannot contain line breaks, tabs or other control characters.")
    return name


def choice(value: str, allowed: tuple[str, ...], what: str) -> str:
    if value not in allowed:
        options = ", ".join(f'"{option}"' for option in allowed)
        raise PolicyInputError(f'The {what} "{value}" is not one of {options}.')
    return value


def clock_time(text: str, what: str) -> str:
    """``HH:MM`` on a 24-hour clock, as written (``07:00``, not ``7:00`` or ``7pm``)."""
    if not _TIME.fullmatch(text):
        raise PolicyInputError(
            f'The {what} "{text}" is not a time; write it as HH:MM on a 24-hour clock, such as 20:30 or 07:00.'
        )
    return text


def days(text: str) -> str:
    """The days a rule applies, e.g. ``sun-thu``; the schedule module checks the words."""
    value = text.strip().lower()
    if not value:
        raise PolicyInputError('The rule has no days; write them like "mon-fri" or "sat,sun".')
    if len(value) > DAYS_MAX or any(unicodedata.category(ch) == "Cc" for ch in value):
        raise PolicyInputError(f'The days "{text}" are not readable; write them like "mon-fri" or "sat,sun".')
    return value


def tag(text: str) -> str:
    """A category id (``adult``) or service tag (``service:tiktok``); the caller checks the catalog."""
    value = text.strip()
    if not value or len(value) > TAG_MAX or any(ch.isspace() for ch in value):
        raise PolicyInputError(f'"{text}" is not a category or service name.')
    return value


def tags(values: Iterable[str]) -> list[str]:
    """Tags without repeats, in the order given."""
    return list(dict.fromkeys(tag(value) for value in _not_text(values, "categories")))


def domain(text: str) -> str:
    name = normalise_name(text.strip())
    if name is None:
        raise PolicyInputError(f'"{text}" is not a domain name; write a name such as example.org.')
    return name


def domains(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(domain(value) for value in _not_text(values, "names")))


def device_key(text: str) -> str:
    """``mac:`` and a MAC, or ``ip:`` and one address, as the resolver writes keys
    (``mac:AA-BB-CC-DD-EE-FF`` becomes ``mac:aa:bb:cc:dd:ee:ff``)."""
    try:
        return normalise_device_key(text)
    except ValueError as error:
        raise PolicyInputError(str(error)) from None


def time_zone(name: object) -> ZoneInfo:
    """The family's time zone a ``time_zone`` setting names, such as Asia/Ho_Chi_Minh."""
    try:
        if isinstance(name, str) and name.strip():
            return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError, OSError):
        pass
    raise PolicyInputError(
        f'"{name}" is not a time zone name; write one such as Asia/Ho_Chi_Minh or Europe/Berlin, '
        "or leave it out to use the configuration's time_zone."
    )


def minutes(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_MINUTES:
        raise PolicyInputError(f"{value} is not a number of minutes between 1 and {MAX_MINUTES}.")
    return value


def until(value: datetime, now: datetime) -> datetime:
    if value.tzinfo is None:
        raise PolicyInputError("The end time has no time zone; give it in UTC.")
    if value <= now:
        raise PolicyInputError("The end time has already passed; choose a time in the future.")
    return value


def note(text: str, what: str = "note") -> str:
    if len(text) > NOTE_MAX:
        raise PolicyInputError(f"The {what} is {len(text)} characters long; keep it to {NOTE_MAX} or fewer.")
    return text


def setting_key(text: str) -> str:
    if not text or len(text) > TAG_MAX or any(ch.isspace() for ch in text):
        raise PolicyInputError(f'"{text}" is not a setting name.')
    return text


def setting_value(key: str, value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False, sort_keys=True)
    except (TypeError, ValueError) as error:
        raise PolicyInputError(f'The value for setting "{key}" cannot be stored: {error}.') from error


def _not_text(values: Iterable[str], what: str) -> Iterable[str]:
    # A bare string is iterable too; "adult" must not become a, d, u, l, t.
    if isinstance(values, str):
        raise PolicyInputError(f"Give the {what} as a list, not one piece of text.")
    return values
