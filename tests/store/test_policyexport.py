"""The export of a store flooded with new devices: bounded, and still a file that imports."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import yaml

from dnsfilter.lists.catalog import Catalog
from dnsfilter.store import PolicyStore
from dnsfilter.store.policyexport import NEW_DEVICES_LISTED
from dnsfilter.store.policyfile import export_policy, import_policy
from tests.store.conftest import NOW
from tests.store.test_policyfile import catalog, fresh_store  # noqa: F401 (fixtures)

ZONE = ZoneInfo("Europe/Berlin")
FLOOD = NEW_DEVICES_LISTED + 30


def test_only_so_many_new_devices_are_listed_and_the_file_imports(
    store: PolicyStore, fresh_store: PolicyStore, catalog: Catalog  # noqa: F811
) -> None:
    mia = store.create_profile("Mia", now=NOW)
    tablet = store.record_seen("mac:aa:bb:cc:dd:ee:01", ip="192.168.1.20", mac=None, name="tablet", now=NOW - timedelta(days=9))
    store.assign_device(tablet.device_id, mia.id)
    laptop = store.record_seen("ip:192.168.1.21", ip="192.168.1.21", mac=None, name=None, now=NOW - timedelta(days=9))
    store.label_device(laptop.device_id, "Dad's laptop")
    for number in range(FLOOD):  # made-up addresses, seen one a second: the first ones longest ago
        store.record_seen(f"ip:10.0.{number // 250}.{number % 250}", ip=None, mac=None, name=None, now=NOW + timedelta(seconds=number))

    exported = export_policy(store, NOW, ZONE)
    devices = yaml.safe_load(exported)["devices"]
    assert len(devices) == NEW_DEVICES_LISTED + 2
    listed = {device["key"] for device in devices}
    assert {"mac:aa:bb:cc:dd:ee:01", "ip:192.168.1.21"} <= listed  # the parent's devices, however old
    assert "ip:10.0.0.0" not in listed and f"ip:10.0.{(FLOOD - 1) // 250}.{(FLOOD - 1) % 250}" in listed
    assert [device["key"] for device in devices] == sorted(listed)
    assert exported.count("# and 30 more new devices not listed") == 1

    summary = import_policy(fresh_store, exported, known_tags=catalog.tags, now=NOW, source="family.yaml", zone=ZONE)
    assert summary.devices == NEW_DEVICES_LISTED + 2
    again = export_policy(fresh_store, NOW, ZONE)
    assert "more new devices not listed" not in again
    assert yaml.safe_load(again)["devices"] == devices


def test_a_family_export_has_no_note_of_devices_left_out(store: PolicyStore) -> None:
    store.record_seen("ip:192.168.1.99", ip="192.168.1.99", mac=None, name=None, now=NOW)
    exported = export_policy(store, NOW, ZONE)
    assert [device["key"] for device in yaml.safe_load(exported)["devices"]] == ["ip:192.168.1.99"]
    assert "not listed" not in exported
