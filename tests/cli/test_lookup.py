"""Finding a device from what a parent types: ``device_matches``, shared by
``dnsfilter explain --device`` and ``dnsfilter log``/``stats --device``."""

from __future__ import annotations

import datetime

import pytest

from dnsfilter.cli.lookup import DeviceMatch, device_key, device_matches, find_device
from dnsfilter.errors import UsageError
from dnsfilter.policy.records import DeviceData, ProfileData

SEEN = datetime.datetime(2026, 3, 2, 18, 0, tzinfo=datetime.UTC)


def device(
    number: int, key: str, *, mac: str | None = None, ip: str | None = None,
    name: str | None = None, label: str | None = None,
) -> DeviceData:  # fmt: skip
    return DeviceData(number, key, mac, ip, name, label, 1, False, SEEN, SEEN)


TABLET = device(1, "mac:aa:bb:cc:dd:ee:01", mac="aa:bb:cc:dd:ee:01", ip="2001:db8::23", name="mia-tablet",
                label="Mia's iPad")  # fmt: skip
LAPTOP = device(2, "ip:192.168.1.40", ip="192.168.1.40", name="Mia's iPad")  # a name copying the label
HOME = (TABLET, LAPTOP)
PROFILES = {1: ProfileData(1, "Mia", "off", False, "null_ip", False, SEEN)}  # for the table of devices


def named(matches: list[DeviceMatch]) -> list[tuple[str, ...]]:
    """The keys each way names, in order."""
    return [tuple(item.key for item in match.devices) for match in matches]


@pytest.mark.parametrize(
    "text",
    ["aa:bb:cc:dd:ee:01", "AA-BB-CC-DD-EE-01", "aa:bb:cc:dd:ee:1", "aabb.ccdd.ee01", "AABBCCDDEE01", " aabbccddee01 "],
)
def test_a_mac_in_any_notation(text: str) -> None:
    [by_mac, by_label, by_name] = device_matches(HOME, text)
    assert by_mac == DeviceMatch((TABLET,), "mac:aa:bb:cc:dd:ee:01")
    assert by_label.devices == by_name.devices == ()


@pytest.mark.parametrize("text", ["MAC:AA-BB-CC-DD-EE-01", "mac:aabb.ccdd.ee01"])
def test_a_key_is_read_as_an_address_too(text: str) -> None:
    matches = device_matches(HOME, text)
    assert matches[0] == DeviceMatch((TABLET,), "mac:aa:bb:cc:dd:ee:01")


def test_an_ipv6_address_in_long_form() -> None:
    [by_ip, *_] = device_matches(HOME, "2001:0DB8:0000:0000:0000:0000:0000:0023")
    assert by_ip == DeviceMatch((TABLET,), "ip:2001:db8::23")
    # As a key it names the address, which no device is keyed by.
    [by_key, *_] = device_matches(HOME, "ip:2001:0db8:0:0:0:0:0:23")
    assert by_key == DeviceMatch((), "ip:2001:db8::23")


def test_an_address_no_device_has_still_has_its_key() -> None:
    assert device_matches(HOME, "02:00:00:00:00:99")[0] == DeviceMatch((), "mac:02:00:00:00:00:99")
    assert device_matches(HOME, "::ffff:192.0.2.7")[0] == DeviceMatch((), "ip:192.0.2.7")


def test_a_key_stored_as_written_is_found_though_not_an_address() -> None:
    odd = device(3, "mac:kitchen-pi")  # a policy file may give any mac:... key
    assert device_matches((odd,), "MAC:Kitchen-Pi")[0] == DeviceMatch((odd,), None)


def test_the_label_comes_before_the_name() -> None:
    assert named(device_matches(HOME, "mia's ipad")) == [(TABLET.key,), (LAPTOP.key,)]
    assert find_device(HOME, "mia's ipad", PROFILES) is TABLET
    assert device_key(HOME, "MIA'S IPAD") == TABLET.key


def test_two_devices_with_the_same_name() -> None:
    twins = (device(4, "mac:02:00:00:00:00:04", name="iPad"), device(5, "mac:02:00:00:00:00:05", name="IPAD"))
    assert named(device_matches(twins, "ipad")) == [(), ("mac:02:00:00:00:00:04", "mac:02:00:00:00:00:05")]
    with pytest.raises(UsageError, match='"ipad" matches 2 devices'):
        find_device(twins, "ipad", PROFILES)
    with pytest.raises(UsageError, match='"ipad" names 2 devices'):
        device_key(twins, "ipad")


def test_unicode_is_normalised_and_case_folded() -> None:
    zoe = device(6, "mac:02:00:00:00:00:06", label="Zo\u00eb's Phone", name="STRASSE")
    assert named(device_matches((zoe,), " ZOE\u0308'S PHONE\t")) == [(zoe.key,), ()]
    assert named(device_matches((zoe,), "straße")) == [(), (zoe.key,)]


@pytest.mark.parametrize("text", ["", "   ", "\t\n"])
def test_blank_text_names_nothing(text: str) -> None:
    blank = device(7, "mac:02:00:00:00:00:07", name=" ", label="\u3000")
    assert device_matches((blank,), text) == []


@pytest.mark.parametrize("text", ["aa-bb-cc-dd-ee-01", "2001:db8::23", "ip:192.168.1.40", "192.168.1.40", "mia-tablet"])
def test_both_commands_find_a_known_device_alike(text: str) -> None:
    assert find_device(HOME, text, PROFILES).key == device_key(HOME, text)


def test_only_the_log_takes_an_address_no_device_has() -> None:
    assert device_key(HOME, "192.0.2.99") == "ip:192.0.2.99"
    with pytest.raises(UsageError, match='No device matches "192.0.2.99"'):
        find_device(HOME, "192.0.2.99", PROFILES)
