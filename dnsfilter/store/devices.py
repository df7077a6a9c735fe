"""Devices: recording what the network shows, and what the parent decides about them.

Part of ``PolicyStore`` (mixed in), kept apart because ``record_seen`` runs on
the query path and is written to be cheap.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update

from dnsfilter.policy.records import DeviceData, DeviceSeen
from dnsfilter.store import validation as check
from dnsfilter.store.database import ConflictError, Database
from dnsfilter.store.models import Device, Profile
from dnsfilter.store.queries import (
    bump_version,
    device_data,
    find,
    new_devices_profile_id,
)

# last_seen is kept to the minute: a sighting within this of the stored one writes nothing.
LAST_SEEN_RESOLUTION = timedelta(minutes=1)


class DeviceMethods:
    database: Database

    def record_seen(
        self, key: str, *, ip: str | None, mac: str | None, name: str | None, now: datetime
    ) -> DeviceSeen:
        """Note that the device ``key`` made a query at ``now``.

        A new device lands, flagged new, in the new-devices profile (the default
        unless one is chosen) and bumps the policy version; a changed ip, mac or
        name (None means "not known this time", not "erase") bumps it too. Seeing
        a known device again only moves ``last_seen``, at most once a minute,
        without bumping the version. ``name`` is stored exactly as given. ``key``
        is normalised (``check.device_key``) like a key from a policy file.
        """
        key = check.device_key(key)
        with self.database.reading() as session:
            known = session.execute(select(Device).where(Device.key == key)).scalar_one_or_none()
            if known is not None and not _differs(known, ip, mac, name):
                if now - known.last_seen < LAST_SEEN_RESOLUTION:
                    return DeviceSeen(known.id, created=False, changed=False)
                device_id = known.id
            else:
                device_id = None
        if device_id is not None:
            with self.database.writing() as session:
                session.execute(
                    update(Device).where(Device.id == device_id, Device.last_seen < now).values(last_seen=now)
                )
            return DeviceSeen(device_id, created=False, changed=False)
        try:
            return self._record_change(key, ip, mac, name, now)
        except ConflictError:
            # Another instance added the same device at the same moment: update it instead.
            return self._record_change(key, ip, mac, name, now)

    def assign_device(self, device_id: int, profile_id: int) -> None:
        """Put the device in this profile (the parent has looked at it: no longer new)."""
        with self.database.writing() as session:
            device = find(session, Device, device_id, "device")
            find(session, Profile, profile_id, "profile")
            device.profile_id = profile_id
            device.is_new = False
            bump_version(session, self.database.is_postgresql)

    def label_device(self, device_id: int, label: str | None) -> None:
        """The parent's name for the device, such as "Mia's iPad"; None or "" removes it."""
        cleaned = check.person_name(label, "device name") if label and label.strip() else None
        with self.database.writing() as session:
            device = find(session, Device, device_id, "device")
            device.label = cleaned
            device.is_new = False
            bump_version(session, self.database.is_postgresql)

    def acknowledge_device(self, device_id: int) -> None:
        """The parent has seen the new device and leaves it where it is."""
        with self.database.writing() as session:
            find(session, Device, device_id, "device").is_new = False
            bump_version(session, self.database.is_postgresql)

    def forget_device(self, device_id: int) -> None:
        """Delete the device; if it appears again it comes back as new."""
        with self.database.writing() as session:
            session.delete(find(session, Device, device_id, "device"))
            bump_version(session, self.database.is_postgresql)

    def list_devices(self, profile_id: int | None = None) -> tuple[DeviceData, ...]:
        with self.database.reading() as session:
            query = select(Device).order_by(Device.id)
            if profile_id is not None:
                find(session, Profile, profile_id, "profile")
                query = query.where(Device.profile_id == profile_id)
            return tuple(device_data(device) for device in session.scalars(query))

    def _record_change(self, key: str, ip: str | None, mac: str | None, name: str | None, now: datetime) -> DeviceSeen:
        with self.database.writing() as session:
            device = session.execute(select(Device).where(Device.key == key)).scalar_one_or_none()
            created = device is None
            if device is None:
                device = Device(
                    key=key,
                    ip=ip,
                    mac=mac,
                    name=name,
                    profile_id=new_devices_profile_id(session),
                    is_new=True,
                    first_seen=now,
                    last_seen=now,
                )
                session.add(device)
            else:
                changed = _differs(device, ip, mac, name)
                device.ip = device.ip if ip is None else ip
                device.mac = device.mac if mac is None else mac
                device.name = device.name if name is None else name
                device.last_seen = max(device.last_seen, now)
                if not changed:
                    return DeviceSeen(device.id, created=False, changed=False)
            bump_version(session, self.database.is_postgresql)
            return DeviceSeen(device.id, created=created, changed=not created)


def _differs(device: Device, ip: str | None, mac: str | None, name: str | None) -> bool:
    return any(new is not None and new != old for new, old in ((ip, device.ip), (mac, device.mac), (name, device.name)))
