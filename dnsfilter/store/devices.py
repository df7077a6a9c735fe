"""Devices: recording what the network shows, and what the parent decides about them.

Part of ``PolicyStore`` (mixed in), kept apart because ``record_seen`` runs on
the query path and is written to be cheap.

Devices nobody has looked at yet ("untouched": still new and without a label)
are kept within bounds, because anyone on the network can make them up by
sending from made-up addresses: at most ``untouched_device_limit`` are kept
(the least recently seen make room for a new one), and ``age_out_devices``
forgets those not seen for a while. A device a parent assigned, labelled or
acknowledged is never removed here.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, delete, func, select, update
from sqlalchemy.orm import Session

from dnsfilter.policy.records import DeviceData, DeviceSeen
from dnsfilter.store import validation as check
from dnsfilter.store.database import ConflictError, Database
from dnsfilter.store.models import Device, Profile
from dnsfilter.store.queries import (
    bump_version,
    device_data,
    find,
    new_devices_profile_id,
    rowcount,
)

# last_seen is kept to the minute: a sighting within this of the stored one writes nothing.
LAST_SEEN_RESOLUTION = timedelta(minutes=1)

# Untouched devices kept at most. A home has tens of devices and, with guests,
# perhaps a few hundred in a month; well above that, more are made-up addresses,
# which would otherwise grow every policy read, the snapshot and the parent's list.
UNTOUCHED_DEVICE_LIMIT = 1000
# Untouched devices not seen for this long are forgotten (they come back as new).
UNTOUCHED_DEVICE_MAX_AGE = timedelta(days=30)
# Keys looked up per query: well inside SQLite's limit on bound parameters.
_KEYS_PER_QUERY = 500


def _untouched() -> ColumnElement[bool]:
    """Devices no parent has assigned, labelled or acknowledged (each of those clears is_new)."""
    return Device.is_new & Device.label.is_(None)


class DeviceMethods:
    database: Database
    untouched_device_limit: int = UNTOUCHED_DEVICE_LIMIT

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

    def known_device_keys(self, keys: Iterable[str]) -> set[str]:
        """Those of ``keys`` (as given) that name a recorded device: one query per few hundred keys."""
        by_stored: dict[str, list[str]] = {}
        for key in keys:
            by_stored.setdefault(check.device_key(key), []).append(key)
        stored = list(by_stored)
        known: set[str] = set()
        with self.database.reading() as session:
            for start in range(0, len(stored), _KEYS_PER_QUERY):
                chunk = stored[start : start + _KEYS_PER_QUERY]
                for found in session.scalars(select(Device.key).where(Device.key.in_(chunk))):
                    known.update(by_stored[found])
        return known

    def age_out_devices(self, now: datetime, max_age: timedelta = UNTOUCHED_DEVICE_MAX_AGE) -> int:
        """Forget untouched devices last seen more than ``max_age`` before ``now``, then the least
        recently seen beyond ``untouched_device_limit``. Returns how many were forgotten."""
        with self.database.writing() as session:
            forgotten = rowcount(session.execute(delete(Device).where(_untouched(), Device.last_seen < now - max_age)))
            forgotten += self._make_room(session, self.untouched_device_limit)
            if forgotten:
                bump_version(session, self.database.is_postgresql)
            return forgotten

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
                self._make_room(session, self.untouched_device_limit - 1)
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

    def _make_room(self, session: Session, keep: int) -> int:
        """Forget the least recently seen untouched devices beyond ``keep``; how many went."""
        count = session.execute(select(func.count()).select_from(Device).where(_untouched())).scalar_one()
        if count <= keep:
            return 0
        oldest = select(Device.id).where(_untouched()).order_by(Device.last_seen, Device.id).limit(count - max(keep, 0))
        return rowcount(session.execute(delete(Device).where(Device.id.in_(oldest))))


def _differs(device: Device, ip: str | None, mac: str | None, name: str | None) -> bool:
    return any(new is not None and new != old for new, old in ((ip, device.ip), (mac, device.mac), (name, device.name)))
