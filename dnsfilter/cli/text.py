"""Showing things on a terminal: devices by the names a parent knows them by.
Text from the network goes through ``shown``.
"""

from __future__ import annotations

from dnsfilter.dns.rrtypes import type_name
from dnsfilter.errors import shown
from dnsfilter.policy.records import DeviceData

__all__ = ["describe_device", "type_name"]


def describe_device(device: DeviceData) -> str:
    """The parent's label and the name the device gave itself, as far as known; escaped."""
    if device.label and device.name and device.label != device.name:
        return f'{shown(device.label)} (calls itself "{shown(device.name)}")'
    if device.label or device.name:
        return shown(device.label or device.name or "")
    return "unnamed device"
