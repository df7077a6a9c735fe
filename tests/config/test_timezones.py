"""The family's time zone: a place written instead of a zone name is answered
with the name to write; this machine's zone is read from $TZ and /etc; and a
box that would follow UTC only because nobody chose a zone says so.

(``time_zone`` as a key among the others is tested in test_settings.py.)
"""

from __future__ import annotations

import os
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from dnsfilter.config import parse_config
from dnsfilter.config.system import machine_time_zone, utc_time_zone_warning
from dnsfilter.config.values import parse_time_zone
from dnsfilter.errors import ConfigError

HO_CHI_MINH = "Asia/Ho_Chi_Minh"

# What a parent writes -> the only zone suggested.
PLACES = [
    ("Asia/Hanoi", HO_CHI_MINH),
    ("Hanoi", HO_CHI_MINH),
    ("Ha Noi", HO_CHI_MINH),
    ("Hà Nội", HO_CHI_MINH),
    ("ha_noi", HO_CHI_MINH),
    ("Saigon", HO_CHI_MINH),
    ("Sài Gòn", HO_CHI_MINH),
    ("Ho Chi Minh City", HO_CHI_MINH),
    ("Ho Chi Minh", HO_CHI_MINH),
    ("HCMC", HO_CHI_MINH),
    ("TP.HCM", HO_CHI_MINH),
    ("Da Nang", HO_CHI_MINH),
    ("Đà Nẵng", HO_CHI_MINH),
    ("Asia/Da_Nang", HO_CHI_MINH),
    ("Vietnam", HO_CHI_MINH),
    ("Viet Nam", HO_CHI_MINH),
    ("Việt Nam", HO_CHI_MINH),
    ("VN", HO_CHI_MINH),
    ("Beijing", "Asia/Shanghai"),
    ("Asia/Beijing", "Asia/Shanghai"),
    ("Delhi", "Asia/Kolkata"),
    ("Mumbai", "Asia/Kolkata"),
    ("India", "Asia/Kolkata"),
    ("Washington", "America/New_York"),
    ("New York", "America/New_York"),
    ("america/new-york", "America/New_York"),
    ("San Francisco", "America/Los_Angeles"),
    ("Los Angeles", "America/Los_Angeles"),
    ("Sydney", "Australia/Sydney"),
    ("Seoul", "Asia/Seoul"),
    ("Bangkok", "Asia/Bangkok"),
    ("Jakarta", "Asia/Jakarta"),
    ("Manila", "Asia/Manila"),
    ("Kuala Lumpur", "Asia/Kuala_Lumpur"),
    ("SG", "Asia/Singapore"),
    ("Tokyo", "Asia/Tokyo"),
    ("London", "Europe/London"),
    ("Paris", "Europe/Paris"),
    ("Berlin", "Europe/Berlin"),
    ("München", "Europe/Berlin"),
    ("Moscow", "Europe/Moscow"),
    ("Buenos Aires", "America/Argentina/Buenos_Aires"),
]


@pytest.mark.parametrize(("written", "zone"), PLACES, ids=[row[0] for row in PLACES])
def test_a_place_is_answered_with_its_zone(written: str, zone: str) -> None:
    with pytest.raises(ValueError) as refused:
        parse_time_zone(written)
    place = written.rsplit("/", 1)[-1].replace("_", " ")
    assert str(refused.value) == f'"{written}" is not a time zone name; for {place} write {zone}'
    assert parse_time_zone(zone) == zone  # and what it says to write is accepted


def test_hanoi_in_the_configuration_file() -> None:
    with pytest.raises(ConfigError) as refused:
        parse_config("time_zone: Asia/Hanoi\n")
    assert refused.value.problems == [
        'time_zone (line 1): "Asia/Hanoi" is not a time zone name; for Hanoi write Asia/Ho_Chi_Minh'
    ]


@pytest.mark.parametrize(
    ("written", "zones"),
    [
        ("USA", "America/New_York, America/Chicago, America/Denver or America/Los_Angeles"),
        ("Australia", "Australia/Sydney, Australia/Melbourne, Australia/Brisbane or Australia/Perth"),
        ("Indonesia", "Asia/Jakarta, Asia/Makassar or Asia/Jayapura"),
        ("Russia", "Europe/Moscow, Asia/Yekaterinburg, Asia/Novosibirsk or Asia/Vladivostok"),
    ],
    ids=["USA", "Australia", "Indonesia", "Russia"],
)
def test_a_country_with_several_zones_names_them(written: str, zones: str) -> None:
    with pytest.raises(ValueError, match=f"for {written} write the zone of the family's part of it: {zones}$"):
        parse_time_zone(written)


@pytest.mark.parametrize(
    ("written", "hint"),
    [
        ("Europe/Berln", "did you mean Europe/Berlin?"),
        ("Hanoy", "did you mean Asia/Ho_Chi_Minh?"),
        ("asia/ho_chi_minh", "write it with the capitals of the zone's name: Asia/Ho_Chi_Minh"),
        # Etc/GMT+7 is UTC-7: an offset is never answered with an Etc/ zone.
        ("UTC+7", "write the place, not its offset, such as Asia/Ho_Chi_Minh for UTC+7"),
        ("GMT+07:00", "write the place, not its offset"),
        ("gmt7", "write the place, not its offset"),
        ("Mars/Olympus_Mons", "write the zone of the family's city, such as Asia/Ho_Chi_Minh, Europe/Berlin"),
    ],
    ids=["typo", "typo of a city", "letter case", "offset", "offset with minutes", "offset without sign", "nowhere"],
)
def test_other_mistakes(written: str, hint: str) -> None:
    with pytest.raises(ValueError) as refused:
        parse_time_zone(written)
    assert str(refused.value).startswith(f'"{written}" is not a time zone name; {hint}')


def test_an_empty_zone() -> None:
    with pytest.raises(ValueError, match="^is empty; write the family's zone, such as Asia/Ho_Chi_Minh"):
        parse_time_zone("  ")


# --- this machine's zone ----------------------------------------------------------------


def test_the_machine_zone_comes_from_tz_first(tmp_path: Path) -> None:
    (tmp_path / "timezone").write_text("Europe/Berlin\n")
    assert machine_time_zone({"TZ": ":Asia/Ho_Chi_Minh"}, tmp_path).key == HO_CHI_MINH
    assert machine_time_zone({}, tmp_path).key == "Europe/Berlin"


def test_the_machine_zone_from_the_localtime_link(tmp_path: Path) -> None:
    os.symlink("/usr/share/zoneinfo/Asia/Ho_Chi_Minh", tmp_path / "localtime")
    assert machine_time_zone({}, tmp_path).key == HO_CHI_MINH
    assert machine_time_zone({"TZ": "Not/A_Zone"}, tmp_path).key == HO_CHI_MINH


def test_a_machine_that_says_nothing_is_on_utc(tmp_path: Path) -> None:
    assert machine_time_zone({}, tmp_path).key == "UTC"


# --- the warning when schedules follow UTC --------------------------------------------------


@pytest.mark.parametrize("machine", ["UTC", "Etc/UTC", "Etc/UCT", "Universal", "Zulu", "GMT", "Etc/GMT"])
def test_a_utc_machine_without_a_zone_is_warned(machine: str) -> None:
    warning = utc_time_zone_warning(None, ZoneInfo(machine))
    assert warning is not None
    assert "this machine's time zone is UTC, so rules and bedtimes follow UTC" in warning
    assert "time_zone: Asia/Ho_Chi_Minh" in warning and "choose it on the web page" in warning


@pytest.mark.parametrize(
    ("time_zone", "machine"),
    [(None, HO_CHI_MINH), (None, "Europe/London"), (HO_CHI_MINH, "UTC"), ("UTC", "UTC")],
    ids=["Vietnamese machine", "London machine", "zone chosen", "UTC chosen on purpose"],
)
def test_no_warning_when_a_zone_was_chosen_or_the_machine_has_one(time_zone: str | None, machine: str) -> None:
    assert utc_time_zone_warning(time_zone, ZoneInfo(machine)) is None


def test_the_warning_says_when_the_web_page_is_not_known() -> None:
    warning = utc_time_zone_warning(None, ZoneInfo("UTC"), web_page_unknown=True)
    assert warning is not None and "so unless one was chosen on the web page, rules and bedtimes follow UTC" in warning
