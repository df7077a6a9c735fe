"""``dnsfilter check-config``: the catalog's names are checked in the same run as
every other key, each with its line; a box that would follow UTC is warned."""

from __future__ import annotations

from pathlib import Path

import pytest

from dnsfilter.cli.checkconfig import check_config
from dnsfilter.errors import ConfigError


def problems_of(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "dnsfilter.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as refused:
        check_config(path)
    return refused.value.problems


def test_unknown_names_come_with_the_other_problems_and_their_lines(tmp_path: Path) -> None:
    text = (
        "dns:\n"
        "  udp_payload_size: 99\n"
        "blocking:\n"
        "  categories:\n"
        "    - adult\n"
        "    - gamez\n"
        "  services: [tiktok, robloxx]\n"
        "  mode: block\n"
        "time_zone: Asia/Hanoi\n"
    )
    assert problems_of(tmp_path, text) == [
        "dns.udp_payload_size (line 2): 99 is out of range; use a whole number from 512 to 4096",
        'blocking.categories[1] (line 6): there is no category called "gamez"; did you mean games?',
        'blocking.services[1] (line 7): there is no service called "robloxx"; did you mean roblox or dropbox or box?',
        'blocking.mode (line 8): "block" is not allowed; use one of: null_ip, nxdomain',
        'time_zone (line 9): "Asia/Hanoi" is not a time zone name; for Hanoi write Asia/Ho_Chi_Minh',
    ]


def test_unknown_names_alone_have_their_lines(tmp_path: Path) -> None:
    assert problems_of(tmp_path, "blocking:\n  categories: [adult, Gamez]\n") == [
        'blocking.categories[1] (line 2): there is no category called "gamez"; did you mean games?'
    ]


def test_a_name_that_is_not_one_is_reported_once(tmp_path: Path) -> None:
    # The file's own check says why; the catalog is not asked about it.
    assert problems_of(tmp_path, "blocking:\n  categories: [adult, 7, \"two words\"]\n") == [
        "blocking.categories[1] (line 2): must be text, not the number 7; put it in quotes if it is meant as text",
        'blocking.categories[2] (line 2): "two words" is not a category or service name; use the short names '
        "from blocklists/catalog.yaml, such as adult or tiktok",
    ]


def test_a_file_that_is_not_yaml_is_still_reported(tmp_path: Path) -> None:
    [problem] = problems_of(tmp_path, "blocking:\n  categories: [adult, gamez\n")
    assert problem.startswith("line 3: this is not valid YAML")


def test_a_utc_machine_is_warned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "dnsfilter.yaml"
    path.write_text("time_zone: ~\n")
    monkeypatch.setenv("TZ", "UTC")
    report = check_config(path).splitlines()
    assert report[0] == f"{path}: the configuration is valid."
    assert report[-1].startswith(
        "  warning: no time zone is set and this machine's time zone is UTC, so unless one was chosen "
        "on the web page, rules and bedtimes follow UTC"
    )
    assert "time_zone: Asia/Ho_Chi_Minh" in report[-1]


@pytest.mark.parametrize(
    ("machine", "config"),
    [("Asia/Ho_Chi_Minh", "time_zone: ~\n"), ("UTC", "time_zone: Asia/Ho_Chi_Minh\n")],
    ids=["machine in Vietnam", "zone in the config"],
)
def test_no_warning_when_a_zone_is_known(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, machine: str, config: str
) -> None:
    path = tmp_path / "dnsfilter.yaml"
    path.write_text(config)
    monkeypatch.setenv("TZ", machine)
    assert "  warning:" not in check_config(path)
