"""``dnsfilter run`` at start: a box whose schedules would follow UTC only
because no time zone was chosen (in the config or on the web page) says so in
the service log.

``lifecycle.run`` is run in-process; an add-on that fails at start ends it
right after the service started, without signals.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import pytest

from dnsfilter.config import Config
from dnsfilter.policy.records import TIME_ZONE
from dnsfilter.service import lifecycle
from dnsfilter.service.app import Service
from dnsfilter.store import PolicyStore, open_database
from tests.fakes import FakeUpstream
from tests.running import TEST_BLOCKLISTS, make_config, provide_test_index

WARNING = "No time zone is set and this machine's time zone is UTC, so rules and bedtimes follow UTC"


class Started(Exception):
    """Raised by the add-on: the service has started."""


class EndAtStart:
    async def start(self) -> None:
        raise Started

    async def reload(self, config: Config) -> None: ...

    async def stop(self) -> None: ...


async def start_and_stop(config: Config) -> None:
    provide_test_index(config.data_dir)
    with pytest.raises(Started):
        await lifecycle.run(lambda: config, "test", TEST_BLOCKLISTS, lambda service: [EndAtStart()])


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]


def a_config(tmp_path: Path, upstream: FakeUpstream, time_zone: str | None = None) -> Config:
    return dataclasses.replace(make_config(tmp_path / "data", [upstream.address]), time_zone=time_zone)


async def test_a_utc_machine_without_a_zone_is_warned(
    tmp_path: Path, fake_upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("TZ", "Etc/UTC")
    await start_and_stop(a_config(tmp_path, fake_upstream))
    [warning] = [message for message in warnings(caplog) if "time zone" in message]
    assert warning.startswith(WARNING)
    assert "time_zone: Asia/Ho_Chi_Minh" in warning and "choose it on the web page" in warning


@pytest.mark.parametrize(
    ("machine", "in_config", "on_web_page"),
    [
        ("Asia/Ho_Chi_Minh", None, None),
        ("UTC", "Asia/Ho_Chi_Minh", None),
        ("UTC", None, "Asia/Ho_Chi_Minh"),
    ],
    ids=["machine in Vietnam", "zone in the config", "zone chosen on the web page"],
)
async def test_no_warning_when_a_zone_is_known(
    tmp_path: Path,
    fake_upstream: FakeUpstream,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    machine: str,
    in_config: str | None,
    on_web_page: str | None,
) -> None:
    monkeypatch.setenv("TZ", machine)
    config = a_config(tmp_path, fake_upstream, in_config)
    if on_web_page is not None:
        config.data_dir.mkdir(parents=True)
        database = open_database(config.database_url, data_dir=config.data_dir)
        try:
            PolicyStore(database).set_setting(TIME_ZONE, on_web_page)
        finally:
            database.close()
    await start_and_stop(config)
    assert not [message for message in warnings(caplog) if "time zone" in message]


async def test_no_warning_while_the_database_is_out_of_reach(
    tmp_path: Path, fake_upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # The web page's choice is in the database: unknown, so nothing is claimed.
    monkeypatch.setenv("TZ", "UTC")
    service = Service(a_config(tmp_path, fake_upstream), TEST_BLOCKLISTS)
    assert service.store is None
    lifecycle.warn_if_following_utc(service)
    assert not warnings(caplog)
