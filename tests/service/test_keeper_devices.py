"""Recording devices when one host sends from thousands of made-up addresses: a few new
devices a minute are recorded, the rest counted and reported once, and the devices
nobody looked at are kept few and forgotten when long unseen."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from dnsfilter.policy.identity import ClientId
from dnsfilter.service.keeper import NEW_DEVICES_PER_MINUTE
from dnsfilter.store import PolicyStore
from tests.service.test_keeper import NOW, default_id, device, make_keeper, store  # noqa: F401 (store is a fixture)

NOT_RECORDED = "devices seen from new addresses in the minute from"


def flood(count: int, start: int = 0) -> list[ClientId]:
    """``count`` devices known only by an address each, as one host sending from made-up addresses makes."""
    addresses = (f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}" for n in range(start, start + count))
    return [device(f"ip:{address}", address) for address in addresses]


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if NOT_RECORDED in record.getMessage()]


def untouched(store: PolicyStore) -> list[str]:
    return [item.key for item in store.list_devices() if item.is_new and item.label is None]


def test_a_flood_of_new_addresses_is_recorded_a_few_a_minute(store: PolicyStore, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="dnsfilter.service.keeper")
    keeper, clock = make_keeper(store)
    phone = device("mac:aa:bb:cc:dd:ee:05", "192.168.1.5", "phone")
    assert keeper.record_devices([*flood(5000), phone])
    recorded = untouched(store)
    assert len(recorded) == NEW_DEVICES_PER_MINUTE
    assert phone.key in recorded  # a device named by its MAC before bare addresses
    assert keeper.devices_not_recorded == 5001 - NEW_DEVICES_PER_MINUTE
    assert warnings(caplog) == []  # reported once the minute is over, not per device

    clock.now += 15  # the same minute: the flood goes on, nothing more is recorded
    assert not keeper.record_devices(flood(5000, start=5000))
    assert len(untouched(store)) == NEW_DEVICES_PER_MINUTE
    clock.now += 60
    keeper.record_devices([])
    [warning] = warnings(caplog)
    assert warning.startswith(f"{10001 - NEW_DEVICES_PER_MINUTE} devices seen from new addresses")
    assert "a device may be sending from many addresses" in warning
    keeper.record_devices([])
    assert len(warnings(caplog)) == 1


def test_known_devices_are_recorded_whatever_the_flood(store: PolicyStore) -> None:
    keeper, clock = make_keeper(store)
    tablet = device("ip:192.168.1.20", "192.168.1.20", "tablet")
    keeper.record_devices([tablet])
    clock.now += 120
    keeper.record_devices(flood(NEW_DEVICES_PER_MINUTE))  # this minute's new devices
    clock.now += 1
    moved = device(tablet.key, "192.168.1.21", "tablet")
    assert keeper.record_devices([*flood(100, start=1000), moved])
    assert next(item for item in store.list_devices() if item.key == tablet.key).ip == "192.168.1.21"


def test_devices_a_parent_decided_about_outlive_a_long_flood(store: PolicyStore) -> None:
    store.untouched_device_limit = 50
    keeper, clock = make_keeper(store)
    tablet, laptop = device("mac:aa:bb:cc:dd:ee:01", "192.168.1.20"), device("ip:192.168.1.30", "192.168.1.30")
    keeper.record_devices([tablet, laptop])
    ids = {item.key: item.id for item in store.list_devices()}
    store.assign_device(ids[tablet.key], store.create_profile("Mia", now=datetime.fromtimestamp(NOW, UTC)).id)
    store.label_device(ids[laptop.key], "Dad's laptop")
    for minute in range(4):  # long enough to pass the limit of new devices
        clock.now += 60
        keeper.record_devices(flood(2000, start=2000 * minute))
    assert len(untouched(store)) == 50
    assert {tablet.key, laptop.key} <= {item.key for item in store.list_devices()}

    clock.now += timedelta(days=31).total_seconds()  # a month later: the flood's devices are forgotten
    assert keeper.record_devices([])
    assert sorted(item.key for item in store.list_devices()) == sorted([tablet.key, laptop.key])


def test_aging_runs_at_most_once_an_interval(store: PolicyStore) -> None:
    keeper, clock = make_keeper(store)
    keeper.record_devices([device("ip:10.0.0.1", "10.0.0.1")])
    at = datetime.fromtimestamp(clock.now, UTC)
    store.record_seen("ip:10.0.0.2", ip="10.0.0.2", mac=None, name=None, now=at - timedelta(days=40))
    clock.now += 60
    assert not keeper.record_devices([])  # aged at the first recording: not again so soon
    assert len(store.list_devices()) == 2
    clock.now += 3600
    assert keeper.record_devices([])
    assert [item.key for item in store.list_devices()] == ["ip:10.0.0.1"]


def test_close_reports_what_was_not_recorded(store: PolicyStore, caplog: pytest.LogCaptureFixture) -> None:
    keeper, _clock = make_keeper(store)
    keeper.record_devices(flood(NEW_DEVICES_PER_MINUTE + 7))
    keeper.close()
    [warning] = warnings(caplog)
    assert warning.startswith("7 devices seen from new addresses")
