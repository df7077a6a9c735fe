"""The log and explain take a device key as a person may write it, or say what is wrong with it."""

from __future__ import annotations

import pytest

from tests.web.conftest import Client
from tests.webpage import DEVICE, Page, until


async def test_the_log_finds_a_device_by_its_key_in_any_spelling(page: Page, parent: Client) -> None:
    await page.ask("example.net")
    rows = (await until(lambda: parent.ok("GET", "/api/log"), lambda got: got["rows"], "the query's row"))["rows"]
    assert rows[0]["device"] == DEVICE
    for spelling in (DEVICE, "IP:127.0.0.1", " ip:127.0.0.1 "):
        found = (await parent.ok("GET", f"/api/log?device={spelling}"))["rows"]
        assert [row["name"] for row in found] == ["example.net"], spelling
    assert (await parent.ok("GET", "/api/log?device=mac:AA-BB-CC-DD-EE-01"))["rows"] == []


@pytest.mark.parametrize("bad", ["ip:banana", "mac:zz:zz", "ip:192.168.1.0/24"])
async def test_a_device_that_is_not_a_key_is_refused_with_what_to_write(parent: Client, bad: str) -> None:
    for path in ("/api/log", "/api/explain?name=example.net&"):
        separator = "&" if path.endswith("&") else "?"
        answer = await parent.get(f"{path.rstrip('&')}{separator}device={bad}")
        assert answer.status == 400, answer.raw
        assert "device" in answer.json["error"]["field"] or "device" in str(answer.json)
