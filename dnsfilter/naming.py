"""Finding what a parent names on the command line: a profile by its name, a
device by its key, its address or its name.

Names are compared the way people type them: Unicode-normalised, without
surrounding spaces, ignoring case.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from dnsfilter.errors import DnsFilterError
from dnsfilter.policy.clientsources import canonical_ip, normalise_mac
from dnsfilter.policy.explain import shown
from dnsfilter.store import DeviceData, ProfileData


def cleaned(text: str) -> str:
    """``text`` as typed, Unicode-normalised and without surrounding spaces."""
    return unicodedata.normalize("NFC", text).strip()


def folded(text: str) -> str:
    return cleaned(text).casefold()


def find_profile(profiles: Sequence[ProfileData], text: str, error: type[DnsFilterError]) -> ProfileData:
    """The profile called ``text``; ``error`` (listing the profiles) when there is none."""
    wanted = folded(text)
    for profile in profiles:
        if folded(profile.name) == wanted:
            return profile
    names = ", ".join(f'"{shown(profile.name)}"' for profile in profiles)
    raise error(f'There is no profile called "{shown(text.strip())}". The profiles are: {names}.')


@dataclass(frozen=True, slots=True)
class DeviceMatch:
    """The known devices that ``text`` names in one way (perhaps none)."""

    devices: tuple[DeviceData, ...]
    # The key an address stands for, whether a device has it or not: the query
    # log keeps devices the policy has forgotten. None for a label or name.
    key: str | None = None


def device_matches(devices: Sequence[DeviceData], text: str) -> list[DeviceMatch]:
    """The ways ``text`` can name a device, first to last in precedence: a key
    (``mac:...``, ``ip:...``), a MAC address, an IP address, the parent's
    label, the name the device gave itself (case-insensitive).

    Only the ways that ``text`` could be are listed; the caller takes the
    first that names exactly one device, or whose address will do.
    """
    wanted = cleaned(text)
    if not wanted:
        return []  # a device that calls itself " " is not named by blank text
    matches = []
    kind, _, rest = wanted.partition(":")
    if kind.lower() == "mac" and rest:
        mac = normalise_mac(rest)
        # A key imported as written may not be a well-formed MAC: still findable.
        stored = f"mac:{mac}" if mac is not None else f"mac:{rest.lower()}"
        matches.append(DeviceMatch(_keyed(devices, stored), stored if mac is not None else None))
    if kind.lower() == "ip" and rest:
        ip = canonical_ip(rest)
        stored = f"ip:{ip}" if ip is not None else f"ip:{rest}"
        matches.append(DeviceMatch(_keyed(devices, stored), stored if ip is not None else None))
    if (mac := normalise_mac(wanted)) is not None:
        key = f"mac:{mac}"
        matches.append(DeviceMatch(tuple(item for item in devices if item.mac == mac or item.key == key), key))
    if (ip := canonical_ip(wanted)) is not None:
        key = f"ip:{ip}"
        matches.append(DeviceMatch(tuple(item for item in devices if item.ip == ip or item.key == key), key))
    # The parent's labels first: a child can rename a device (its DHCP name is
    # theirs to set), not take over a label the parent gave.
    asked = wanted.casefold()
    matches.append(DeviceMatch(tuple(item for item in devices if item.label and folded(item.label) == asked)))
    matches.append(DeviceMatch(tuple(item for item in devices if item.name and folded(item.name) == asked)))
    return matches


def _keyed(devices: Sequence[DeviceData], key: str) -> tuple[DeviceData, ...]:
    return tuple(item for item in devices if item.key == key)
