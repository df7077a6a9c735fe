"""Reading what a request sends: a JSON body or query parameters, one named
field at a time, each mistake an ``invalid`` error naming the field and what
is allowed. Nothing is changed by a request whose body fails here."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final, TypeVar

from aiohttp import web

from dnsfilter.web.errors import invalid

MAX_BODY_BYTES: Final = 64 * 1024
MAX_TEXT: Final = 200
T = TypeVar("T")


async def json_body(request: web.Request, allowed: Sequence[str]) -> Body:
    """The request's JSON object; unknown fields are refused (a typo must not be ignored)."""
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise invalid("body", f"The request is larger than {MAX_BODY_BYTES // 1024} KB.")
    raw = await request.content.read(MAX_BODY_BYTES + 1)
    if len(raw) > MAX_BODY_BYTES:
        raise invalid("body", f"The request is larger than {MAX_BODY_BYTES // 1024} KB.")
    try:
        data = json.loads(raw.decode("utf-8")) if raw.strip() else {}
    except (UnicodeDecodeError, ValueError):
        raise invalid("body", "The request is not JSON; send an object such as {\"name\": \"Mia\"}.") from None
    if not isinstance(data, dict):
        raise invalid("body", "The request must be a JSON object such as {\"name\": \"Mia\"}.")
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise invalid(unknown[0], f'"{unknown[0]}" is not a field here; the fields are: {", ".join(allowed)}.')
    return Body(data)


class Body:
    """Fields of a JSON object (or of a query string, all text), read with checks."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = data

    def __contains__(self, field: str) -> bool:
        return field in self.data and self.data[field] is not None

    def text(self, field: str, *, required: bool = True, max_length: int = MAX_TEXT) -> str | None:
        value = self.data.get(field)
        if value is None:
            if required:
                raise invalid(field, f'"{field}" is missing.')
            return None
        if not isinstance(value, str):
            raise invalid(field, f'"{field}" must be text.')
        value = value.strip()
        if required and not value:
            raise invalid(field, f'"{field}" is empty.')
        if len(value) > max_length:
            raise invalid(field, f'"{field}" is longer than {max_length} characters.')
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
            raise invalid(field, f'"{field}" holds control characters; write plain text.')
        return value

    def required_text(self, field: str, max_length: int = MAX_TEXT) -> str:
        value = self.text(field, max_length=max_length)
        assert value is not None
        return value

    def integer(self, field: str, low: int, high: int, *, required: bool = True) -> int | None:
        value = self.data.get(field)
        if value is None:
            if required:
                raise invalid(field, f'"{field}" is missing; give a whole number from {low} to {high}.')
            return None
        # ASCII only: "²" passes isdigit() and int() refuses it; "١٠" would be read as 10.
        if isinstance(value, str) and value.strip().lstrip("-").isascii() and value.strip().lstrip("-").isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise invalid(field, f'"{field}" must be a whole number from {low} to {high}.')
        return value

    def boolean(self, field: str) -> bool | None:
        value = self.data.get(field)
        if value is None:
            return None
        if isinstance(value, str) and value in ("true", "false"):
            return value == "true"
        if not isinstance(value, bool):
            raise invalid(field, f'"{field}" must be true or false.')
        return value

    def choice(self, field: str, options: Sequence[str], *, required: bool = True) -> str | None:
        value = self.data.get(field)
        if value is None and not required:
            return None
        if value not in options:
            raise invalid(field, f'"{field}" must be one of: {", ".join(options)}.')
        return str(value)

    def texts(self, field: str, *, max_items: int = 500) -> list[str] | None:
        value = self.data.get(field)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise invalid(field, f'"{field}" must be a list of texts.')
        if len(value) > max_items:
            raise invalid(field, f'"{field}" holds more than {max_items} items.')
        return [item.strip() for item in value]

    def weekdays(self, field: str) -> list[int] | None:
        value = self.data.get(field)
        if value is None:
            return None
        if (
            not isinstance(value, list)
            or not value
            or not all(isinstance(day, int) and not isinstance(day, bool) and 0 <= day <= 6 for day in value)
        ):
            raise invalid(field, f'"{field}" must be a list of days, 0 (Monday) to 6 (Sunday), at least one.')
        return sorted(set(value))

    def moment(self, field: str, *, required: bool = False) -> datetime | None:
        value = self.text(field, required=required, max_length=40)
        if not value:
            return None
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise invalid(field, f'"{field}" is not a time; write it as 2026-12-07T20:30:00Z.') from None
        if moment.tzinfo is None:
            raise invalid(field, f'"{field}" has no time zone; end it with Z (UTC) or an offset such as +07:00.')
        return moment.astimezone(UTC)


def query(request: web.Request, allowed: Sequence[str]) -> Body:
    unknown = sorted(set(request.query) - set(allowed))
    if unknown:
        raise invalid(unknown[0], f'"{unknown[0]}" is not a parameter here; they are: {", ".join(allowed)}.')
    return Body({key: request.query[key] for key in request.query})


# Ids of profiles, rules, budgets, overrides and devices are 32-bit INTEGER
# columns on PostgreSQL: a larger number would be a database error (503), not "no such".
MAX_ID: Final = 2**31 - 1


def path_id(request: web.Request, name: str = "id") -> int:
    text = request.match_info.get(name, "")
    if not text.isascii() or not text.isdigit() or len(text) > 12 or int(text) > MAX_ID:
        raise invalid(name, f'"{name}" in the address must be a number from 1 to {MAX_ID}.')
    return int(text)
