"""Text from the network is the child's (or a stranger's) to choose: a query
name made of markup and control characters, a DHCP name that is an HTML tag.
The API sends it as JSON text only: no raw "<" or ">" in the bytes (a sniffing
browser finds no markup), and exactly the text the filter recorded after
decoding (nothing stripped, nothing rewritten)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from tests.fakes import DnsClient, raw_query
from tests.web.conftest import Answer, Client
from tests.webpage import DEVICE, Page, until, utcnow

# Labels as a device may send them: markup, quotes, a javascript: URL, control characters.
HOSTILE_LABELS = [
    b'<script>alert("x")</script>',
    b"javascript:alert('1')",
    b"<img src=x onerror=alert(1)>",
    b"a\x00b\x07c\x1b\x7f",
    b"example",
]
DHCP_NAME = "<img src=x onerror=alert(1)>\"'</textarea>\u2028"


def presentation(labels: list[bytes]) -> str:
    """The name as the log keeps it: master-file text (RFC 1035 5.1), a byte that is
    not printable as \\DDD in decimal, dots and backslashes in a label escaped."""
    shown = []
    for label in labels:
        text = ""
        for byte in label:
            if byte in b".\\":
                text += "\\" + chr(byte)
            elif 0x21 <= byte <= 0x7E:
                text += chr(byte)
            else:
                text += f"\\{byte:03d}"
        shown.append(text)
    return ".".join(shown)


def assert_no_markup(answer: Answer) -> Any:
    assert answer.status == 200, answer.raw
    assert answer.headers["Content-Type"].startswith("application/json")
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert b"<" not in answer.raw and b">" not in answer.raw
    assert b"\\u003c" in answer.raw  # escaped, not dropped
    return json.loads(answer.raw)


async def test_a_hostile_query_name_comes_back_as_the_same_text(page: Page, parent: Client) -> None:
    reply = await DnsClient(timeout=2.0).udp(raw_query(HOSTILE_LABELS), page.dns_address)
    assert reply[:2] == b"\x12\x34"  # answered, so logged
    expected = presentation(HOSTILE_LABELS)
    assert expected.startswith('<script>alert("x")</script>.javascript:') and "\\000" in expected

    rows = (await until(lambda: parent.ok("GET", "/api/log"), lambda page: page["rows"], "the query's row"))["rows"]
    assert [row["name"] for row in rows] == [expected]
    for path, params in (
        ("/api/log", {}),
        ("/api/log", {"name": "script"}),
        ("/api/log/tail", {"after": "0"}),
    ):
        body = assert_no_markup(await parent.get(path, params=params))
        assert [row["name"] for row in body["rows"]] == [expected], path


async def test_a_hostile_dhcp_name_and_label_come_back_as_the_same_text(page: Page, parent: Client) -> None:
    store = page.service.store
    assert store is not None
    seen = await asyncio.to_thread(store.record_seen, DEVICE, ip="127.0.0.1", mac=None, name=DHCP_NAME, now=utcnow())
    [device] = assert_no_markup(await parent.get("/api/devices"))
    assert (device["id"], device["name"], device["label"]) == (seen.device_id, DHCP_NAME, None)
    overview = assert_no_markup(await parent.get("/api/overview"))
    assert [item["name"] for item in overview["new_devices"]] == [DHCP_NAME]

    await page.ask("example.net")  # a row whose device is shown by its DHCP name
    rows = (await until(lambda: parent.ok("GET", "/api/log"), lambda page: page["rows"], "the query's row"))["rows"]
    assert rows[0]["device_name"] == DHCP_NAME
    assert b"<" not in (await parent.get("/api/log")).raw

    label = "<b>Mia's</b> \"tablet\""
    changed = await parent.patch(f"/api/devices/{seen.device_id}", {"label": label})
    assert assert_no_markup(changed)["label"] == label
    [device] = assert_no_markup(await parent.get("/api/devices"))
    assert (device["name"], device["label"]) == (DHCP_NAME, label)


@pytest.mark.parametrize(
    "name", ["<script>", "Mia</title><script>alert(1)</script>"], ids=["a tag", "a closing tag and a script"]
)
async def test_a_profile_name_with_markup_is_escaped_everywhere_it_is_sent(parent: Client, name: str) -> None:
    made = await parent.post("/api/profiles", {"name": name})
    assert made.status == 201 and b"<" not in made.raw
    assert json.loads(made.raw)["name"] == name
    listed = assert_no_markup(await parent.get("/api/profiles"))
    assert name in [profile["name"] for profile in listed]
    taken = await parent.post("/api/profiles", {"name": name})  # the error message quotes the name
    assert taken.status == 409 and b"<" not in taken.raw
    assert name in taken.error["message"]
