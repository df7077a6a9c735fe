"""Finding what a parent names on the command line: a profile by its name, a
device by its key, its address or its name.

Names are compared the way people type them: Unicode-normalised, without
surrounding spaces, ignoring case.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from dnsfilter.cli.text import describe_device
from dnsfilter.errors import UsageError, shown
from dnsfilter.policy.identity import canonical_ip, normalise_mac
from dnsfilter.policy.records import DeviceData, ProfileData


def cleaned(text: str) -> str:
    """``text`` as typed, Unicode-normalised and without surrounding spaces."""
    return unicodedata.normalize("NFC", text).strip()


def folded(text: str) -> str:
    return cleaned(text).casefold()


def find_profile(profiles: Sequence[ProfileData], text: str) -> ProfileData:
    """The profile called ``text``; UsageError (listing the profiles) when there is none."""
    wanted = folded(text)
    for profile in profiles:
        if folded(profile.name) == wanted:
            return profile
    names = ", ".join(f'"{shown(profile.name)}"' for profile in profiles)
    raise UsageError(f'There is no profile called "{shown(text.strip())}". The profiles are: {names}.')


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


def find_device(devices: Sequence[DeviceData], text: str, profiles: Mapping[int, ProfileData]) -> DeviceData:
    """The one known device ``text`` names (see ``device_matches``), for commands
    that need a device's policy: an address no device has names nothing."""
    wanted = cleaned(text)
    for match in device_matches(devices, wanted):
        if len(match.devices) == 1:
            return match.devices[0]
        if match.devices:
            raise UsageError(
                f'"{shown(wanted)}" matches {len(match.devices)} devices; give the key of the one you mean '
                f"(mac:... or ip:...).\n{_device_table(match.devices, profiles)}"
            )
    if not devices:
        raise UsageError(
            f'No device matches "{shown(wanted)}": the filter has not recorded any device yet (it records '
            "each device when it first asks something). Leave --device out to see what a new device gets."
        )
    raise UsageError(
        f'No device matches "{shown(wanted)}". The devices the filter knows:\n{_device_table(devices, profiles)}\n'
        "Give one of these names, keys or addresses with --device, "
        "or leave --device out to see what a device not seen yet gets."
    )


def device_key(devices: Sequence[DeviceData], text: str) -> str:
    """The key of the device ``text`` names, for the query log: a key, MAC or
    IP address (known or not: the log keeps devices the policy has
    forgotten), or a known device's label or own name (case-insensitive)."""
    wanted = cleaned(text)
    for match in device_matches(devices, wanted):
        if len(match.devices) == 1:
            return match.devices[0].key
        if match.key is not None:
            # No known device has the address, or several do: the log may
            # still hold queries under the address's own key.
            return match.key
        if match.devices:
            raise UsageError(
                f'"{shown(wanted)}" names {len(match.devices)} devices; give the key of the one you mean '
                f"(mac:... or ip:...):\n{_device_list(match.devices)}"
            )
    if not devices:
        raise UsageError(
            f'No device is called "{shown(wanted)}": the filter has not recorded any device yet. '
            "Give a MAC or IP address instead."
        )
    raise UsageError(
        f'No device is called "{shown(wanted)}". The devices the filter knows:\n{_device_list(devices)}\n'
        "Give one of these names or keys, or a MAC or IP address."
    )


def _device_table(devices: Sequence[DeviceData], profiles: Mapping[int, ProfileData]) -> str:
    rows = [
        (describe_device(device), shown(device.key), shown(profiles[device.profile_id].name))
        for device in devices
    ]
    width = max(len(row[0]) for row in rows)
    keys = max(len(row[1]) for row in rows)
    return "\n".join(f'  {name:<{width}}  {key:<{keys}}  profile "{profile}"' for name, key, profile in rows)


def _device_list(devices: Sequence[DeviceData]) -> str:
    names = [shown(device.label or device.name or "(no name)") for device in devices]
    return "\n".join(f"  {name}  {shown(device.key)}" for name, device in zip(names, devices, strict=True))
