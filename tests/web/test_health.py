"""/healthz of a running filter over real HTTP: 200 and every part well on a
filter that answers; 503 with the reason in plain words when the query log
cannot be written (SQLite locked by another program), when the database
cannot be read (its file garbled under the filter), and when the event loop
was held up; no sign-in, no secrets, and only at the box's own names.

SQLite only: the troubles are made on a real SQLite file.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from dnsfilter.config import Config
from dnsfilter.config.values import Secret
from dnsfilter.service.timings import Timings
from dnsfilter.store.database import DatabaseWaits
from tests.fakes import FakeUpstream
from tests.service.test_querylog_outages import SqliteLock
from tests.service.test_running_policy import unreadable
from tests.web.conftest import OpenPage
from tests.web.test_metrics import fetch, parsed, value
from tests.webpage import REAL, Page, page_config, until

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

TOKEN = "fedcba9876543210fedcba9876543210"
CHECKS = {"dns", "lists", "database", "query_log"}
# A lock or a garbled file is given up on in 0.2 s (not 10 s), a failed write or read retried within 0.3 s,
# and the policy version asked every 0.1 s (not 2 s).
QUICK = Timings(
    log_max_backoff=0.3, policy_poll=0.1, policy_max_backoff=0.3, database=DatabaseWaits(busy_timeout_ms=200)
)


@pytest.fixture
def config(tmp_path: Path, upstream: FakeUpstream, database_url: str) -> Config:
    """Metrics on with a token, so a secret is there to leak."""
    web = {"metrics": True, "metrics_allow": (ipaddress.ip_network("127.0.0.1/32"),), "metrics_token": Secret(TOKEN)}
    return page_config(tmp_path / "data", upstream, database_url, web=web)


def database_file(config: Config) -> Path:
    return Path(config.database_url.removeprefix("sqlite:///"))


async def health(page: Page, host: str | None = None) -> tuple[int, Any]:
    headers = {"Host": host} if host is not None else {}
    status, reply_headers, text = await fetch(page, headers, "/healthz")
    if status == 421:
        return status, text
    assert reply_headers["Content-Type"].startswith("application/json")
    assert reply_headers["Cache-Control"] == "no-store"
    return status, json.loads(text)


async def test_a_running_filter_is_healthy_without_signing_in(page: Page) -> None:
    await page.set_password()  # the page's API now needs a session; /healthz does not
    status, body = await health(page)
    assert status == 200, body
    assert body["healthy"] is True and body["problems"] == []
    assert set(body["checks"]) == CHECKS
    assert all(check["ok"] for check in body["checks"].values()), body
    host, port = page.dns_address
    assert f"{host}:{port}" in body["checks"]["dns"]["says"]
    assert TOKEN not in str(body) and "sqlite" not in str(body) and str(database_file(page.config)) not in str(body)


async def test_only_at_the_box_own_names(page: Page) -> None:
    status, text = await health(page, host="rebind.example")
    assert status == 421, text
    assert (await health(page, host=f"localhost:{page.port}"))[0] == 200


async def test_a_query_log_that_cannot_be_written_is_unhealthy_until_it_can(
    open_page: OpenPage, config: Config
) -> None:
    async with open_page(config, timings=QUICK) as page:
        with SqliteLock(database_file(config)):
            assert await page.ask("example.net") == REAL  # DNS goes on; its log entry waits
            status, body = await until(
                lambda: health(page), lambda answer: answer[0] == 503, "/healthz to say the log cannot be written"
            )
            assert body["healthy"] is False
            assert body["checks"]["query_log"]["ok"] is False
            assert body["checks"]["dns"]["ok"] is True
            [problem] = [text for text in body["problems"] if "query log" in text]
            assert problem.startswith("The query log cannot be written to the database: ")
            assert "DNS is not affected" in problem and "journalctl -u dnsfilter" in problem
            assert "locked" not in problem  # the error text stays in the log
            samples = parsed((await fetch(page))[2])
            assert value(samples, "dnsfilter_health_ok", check="query_log") == 0
            assert value(samples, "dnsfilter_querylog_writing") == 0
            assert value(samples, "dnsfilter_querylog_write_failures_total") >= 1
        await until(lambda: health(page), lambda answer: answer[0] == 200, "/healthz to be well again")


async def test_a_database_that_cannot_be_read_is_unhealthy_and_scrapes_go_on(
    open_page: OpenPage, config: Config
) -> None:
    async with open_page(config, timings=QUICK) as page:
        assert (await fetch(page))[0] == 200  # the lists' files read once
        with unreadable(database_file(config)):
            status, body = await until(
                lambda: health(page),
                lambda answer: answer[0] == 503 and not answer[1]["checks"]["database"]["ok"],
                "/healthz to say the database cannot be read",
            )
            assert body["checks"]["database"]["says"].startswith(
                "The family's rules cannot be read from the database: DNS keeps the rules it read last"
            )
            assert await page.ask("example.net") == REAL
            # A scrape reads no database (it would fail on this file): it says the database is down.
            status, _, text = await fetch(page)
            assert status == 200, text
            assert value(parsed(text), "dnsfilter_database_up") == 0
            assert value(parsed(text), "dnsfilter_health_ok", check="database") == 0
        await until(lambda: health(page), lambda answer: answer[0] == 200, "/healthz to be well again", within=15)


async def test_an_event_loop_held_up_is_unhealthy(page: Page) -> None:
    assert (await health(page))[0] == 200
    # A blocking call on the filter's own loop: no answer and no timer for 2 s (a timer due
    # within the next 0.5 s is then at least 1.5 s late).
    time.sleep(2.0)
    await asyncio.sleep(0)
    status, body = await health(page)
    assert status == 503, body
    assert body["checks"]["dns"]["ok"] is False
    says = body["checks"]["dns"]["says"]
    held = re.match(r"DNS answers were held up for up to (\d+\.\d) seconds in the last 10 seconds", says)
    assert held is not None and 1.5 <= float(held.group(1)) < 3, says
