"""Times in the policy file: read as the family's wall clock unless an offset is written."""

from __future__ import annotations

import contextlib
import re
from datetime import UTC, datetime
from typing import Final
from zoneinfo import ZoneInfo

import yaml

from dnsfilter.policy.records import TIME_ZONE
from dnsfilter.store import validation as check
from dnsfilter.yamlschema import STR_TAG, Invalid, Problems, quote, text


_TIMESTAMP_TAG: Final = "tag:yaml.org,2002:timestamp"
_SPACE_BEFORE_OFFSET: Final = re.compile(r"\s+(?=[+-]\d|Z$)")


def moment_in(node: yaml.Node, path: str, problems: Problems, zone: ZoneInfo) -> datetime:
    """A date and time, in UTC: with an offset (+07:00, Z) as written, without one
    in the family's time zone ``zone``, as a parent reads the clock on the wall."""
    # Written unquoted, 2025-03-14T20:00:00Z is a YAML timestamp: read its text all the same.
    is_timestamp = isinstance(node, yaml.ScalarNode) and node.tag == _TIMESTAMP_TAG
    value = str(node.value) if is_timestamp else text(node, path, problems)
    try:
        moment = datetime.fromisoformat(_SPACE_BEFORE_OFFSET.sub("", value.strip()))
    except ValueError:
        raise Invalid(
            f'"{quote(value)}" is not a date and time; write it like 2026-12-07 20:00 (in the family\'s time zone, '
            f"{zone.key}) or with its offset from UTC, like 2026-12-07T20:00+07:00"
        ) from None
    return (moment if moment.tzinfo is not None else on_the_clock(moment, zone, value)).astimezone(UTC)


def on_the_clock(moment: datetime, zone: ZoneInfo, value: str) -> datetime:
    """A wall-clock time in ``zone``; refused on the night the clocks skip it or pass it twice."""
    first, second = moment.replace(tzinfo=zone, fold=0), moment.replace(tzinfo=zone, fold=1)
    if first.utcoffset() == second.utcoffset():
        return first
    if first.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != moment:
        raise Invalid(f'"{quote(value)}" does not exist in {zone.key}: the clocks skip that hour; write a time after it')
    raise Invalid(
        f'"{quote(value)}" happens twice in {zone.key} (the clocks go back); write which one with its offset: '
        f"{first.isoformat()} or {second.isoformat()}"
    )


def file_zone(root: yaml.MappingNode, zone: ZoneInfo) -> ZoneInfo:
    """The file's settings.time_zone when it names one (the import makes it the
    family's zone), else ``zone``: times are read as the filter will read them."""
    settings = next((value for key, value in root.value if key.value == "settings"), None)
    if isinstance(settings, yaml.MappingNode):
        named = next((value for key, value in settings.value if key.value == TIME_ZONE), None)
        if isinstance(named, yaml.ScalarNode) and named.tag == STR_TAG:
            with contextlib.suppress(check.PolicyInputError):  # reported with the settings
                return check.time_zone(named.value)
    return zone
