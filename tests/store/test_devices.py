"""Devices nobody has looked at are kept within bounds: at most a number of them, and
none long unseen; a device a parent assigned, labelled or acknowledged is never removed."""

from __future__ import annotations

from datetime import timedelta

import pytest

from dnsfilter.store import PolicyStore
from tests.store.conftest import NOW


def keys(store: PolicyStore) -> set[str]:
    return {device.key for device in store.list_devices()}


def seen(store: PolicyStore, number: int, days_ago: float = 0) -> int:
    at = NOW - timedelta(days=days_ago)
    return store.record_seen(f"ip:10.0.0.{number}", ip=f"10.0.0.{number}", mac=None, name=None, now=at).device_id


@pytest.fixture
def family(store: PolicyStore) -> dict[str, int]:
    """Devices a parent decided about, long unseen: one assigned, one labelled, one acknowledged."""
    mia = store.create_profile("Mia", now=NOW - timedelta(days=90))
    ids = {"assigned": seen(store, 1, 60), "labelled": seen(store, 2, 60), "acknowledged": seen(store, 3, 60)}
    store.assign_device(ids["assigned"], mia.id)
    store.label_device(ids["labelled"], "Mia's iPad")
    store.acknowledge_device(ids["acknowledged"])
    return ids


def test_new_devices_long_unseen_are_forgotten(store: PolicyStore, family: dict[str, int]) -> None:
    seen(store, 10, days_ago=31)
    seen(store, 11, days_ago=29)
    version = store.policy_version()
    assert store.age_out_devices(NOW, timedelta(days=30)) == 1
    assert keys(store) == {"ip:10.0.0.1", "ip:10.0.0.2", "ip:10.0.0.3", "ip:10.0.0.11"}
    assert store.policy_version() > version  # the snapshot must drop it
    version = store.policy_version()
    assert store.age_out_devices(NOW, timedelta(days=30)) == 0
    assert store.policy_version() == version


def test_at_most_the_limit_of_new_devices_is_kept(store: PolicyStore, family: dict[str, int]) -> None:
    store.untouched_device_limit = 5
    for number in range(10, 18):  # seen one after the other: 10.0.0.10 longest ago
        seen(store, number, days_ago=(18 - number) / 24)
    seen(store, 10)  # seen again just now: the least recently seen go first, not the first recorded
    untouched = {device.key for device in store.list_devices() if device.is_new and device.label is None}
    assert untouched == {f"ip:10.0.0.{number}" for number in (10, 14, 15, 16, 17)}
    assert {"ip:10.0.0.1", "ip:10.0.0.2", "ip:10.0.0.3"} <= keys(store)


def test_aging_brings_a_flooded_database_within_the_limit(store: PolicyStore, family: dict[str, int]) -> None:
    for number in range(10, 30):
        seen(store, number, days_ago=(30 - number) / 24)
    store.untouched_device_limit = 4  # a database flooded before the limit existed
    assert store.age_out_devices(NOW) == 16
    assert keys(store) == {"ip:10.0.0.1", "ip:10.0.0.2", "ip:10.0.0.3"} | {f"ip:10.0.0.{n}" for n in range(26, 30)}


def test_known_device_keys(store: PolicyStore) -> None:
    seen(store, 1)
    asked = [f"ip:10.0.{number // 250}.{number % 250}" for number in range(1200)]  # more than one query's worth
    assert store.known_device_keys(asked) == {"ip:10.0.0.1"}
    assert store.known_device_keys(["MAC:AA:BB:CC:DD:EE:FF", "ip:10.0.0.1"]) == {"ip:10.0.0.1"}
