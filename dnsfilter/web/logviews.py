"""Log rows as the page reads them: devices and profiles by the names the
parent gave them."""

from __future__ import annotations

from collections.abc import Sequence

from dnsfilter.dns.rrtypes import type_name
from dnsfilter.policy.records import PolicyData
from dnsfilter.store.querylog.queries import LogRecord
from dnsfilter.web.views import Json, log_row_view


def row_views(records: Sequence[LogRecord], data: PolicyData) -> list[Json]:
    devices = {device.key: device.label or device.name or "" for device in data.devices}
    device_names = {key: name for key, name in devices.items() if name}
    profiles = {profile.id: profile.name for profile in data.profiles}
    return [log_row_view(record, device_names, profiles, type_name(record.qtype)) for record in records]
