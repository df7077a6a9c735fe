"""/metrics of a running filter, scraped over real HTTP and read with
prometheus_client's own parser: off by default, open only to the allowed
addresses or the bearer token, and every counter moving by exactly the
queries sent over real UDP and TCP (allowed, cached, blocked, by type).

Queries and scrapes come from 127.0.0.1; SQLite only (the counters do not
depend on the database).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from dnslib import CLASS, RCODE, DNSRecord
from prometheus_client.parser import text_string_to_metric_families

from dnsfilter import __version__
from dnsfilter.config import Config
from dnsfilter.config.values import Secret
from tests.fakes import DnsClient, FakeUpstream
from tests.web.conftest import OpenPage
from tests.webpage import BLOCKED, REAL, Page, describe, page_config, until

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

TOKEN = "0123456789abcdef0123456789abcdef"
LOCALHOST = (ipaddress.ip_network("127.0.0.1/32"),)
ELSEWHERE = (ipaddress.ip_network("192.0.2.0/24"),)  # not where the tests ask from

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def with_metrics(config: Config, **web: Any) -> Config:
    return dataclasses.replace(config, web=dataclasses.replace(config.web, **web))


@pytest.fixture
def config(tmp_path: Path, upstream: FakeUpstream, database_url: str) -> Config:
    """Metrics on, for this machine only."""
    return page_config(tmp_path / "data", upstream, database_url, web={"metrics": True, "metrics_allow": LOCALHOST})


async def fetch(page: Page, headers: Mapping[str, str] | None = None, path: str = "/metrics") -> tuple[int, Any, str]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
        async with http.get(page.base + path, headers=dict(headers or {})) as reply:
            return reply.status, reply.headers, await reply.text()


def parsed(text: str) -> Samples:
    """Every sample of a scrape by name and labels, read by prometheus_client's parser."""
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


async def scrape(page: Page, headers: Mapping[str, str] | None = None) -> Samples:
    status, _, text = await fetch(page, headers)
    assert status == 200, text
    return parsed(text)


def value(samples: Samples, name: str, default: float | None = None, **labels: str) -> float:
    """The sample's value; a sample missing is a failure unless a ``default`` is given."""
    key = (name, tuple(sorted(labels.items())))
    if default is None:
        assert key in samples, f"no sample {name} {labels}"
        return samples[key]
    return samples.get(key, default)


def moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    """How much a sample grew; one that first appears grew from 0 (a type first asked)."""
    return value(after, name, **labels) - value(before, name, 0.0, **labels)


async def test_metrics_are_off_by_default(
    open_page: OpenPage, tmp_path: Path, upstream: FakeUpstream, database_url: str
) -> None:
    async with open_page(page_config(tmp_path / "data", upstream, database_url)) as page:
        assert page.config.web.metrics is False
        status, _, text = await fetch(page)
    assert status == 404
    assert "web.metrics: on" in text


async def test_each_query_moves_the_counters_by_exactly_one(
    page: Page, upstream: FakeUpstream, browser: Any
) -> None:
    dns, address = DnsClient(timeout=2.0), page.dns_address
    upstream_label = {"upstream": upstream.address, "pool": "public"}
    before = await scrape(page)
    asked_upstream = upstream.total_queries

    assert describe(await dns.query("example.net", "A", address)) == REAL  # UDP, asked upstream
    assert describe(await dns.query("example.net", "A", address)) == REAL  # UDP, from the cache
    assert describe(await dns.query("example.net", "A", address)) == REAL  # UDP, the same reply again
    assert describe(await dns.query("example.net", "A", address, "tcp")) == REAL  # TCP, from the cache
    assert describe(await dns.query("adult.example", "A", address)) == BLOCKED  # UDP, blocked
    assert describe(await dns.query("adult.example", "A", address)) == BLOCKED  # UDP, the same block again
    assert describe(await dns.query("adult.example", "A", address, "tcp")) == BLOCKED  # TCP, blocked
    assert describe(await dns.query("example.net", "AAAA", address)) == "2001:db8::50"  # UDP, asked upstream
    chaos = DNSRecord.question("version.bind", "TXT", "CH")
    reply = DNSRecord.parse(await dns.udp(bytes(chaos.pack()), address))  # not class IN: refused whatever the name
    assert (reply.header.rcode, reply.q.qclass) == (RCODE.REFUSED, CLASS.CH)
    assert upstream.total_queries - asked_upstream == 2

    after = await scrape(page)
    decisions = {
        decision: moved(before, after, "dnsfilter_query_decisions_total", decision=decision)
        for decision in ("allowed", "blocked", "safe_search", "bypass", "refused", "malformed", "unsupported")
    }
    assert decisions == {
        "allowed": 5, "blocked": 3, "safe_search": 0, "bypass": 0, "refused": 0, "malformed": 0, "unsupported": 1,
    }  # fmt: skip
    transports = {
        transport: moved(before, after, "dnsfilter_queries_total", transport=transport) for transport in ("udp", "tcp")
    }
    assert transports == {"udp": 7, "tcp": 2}
    types = {kind: moved(before, after, "dnsfilter_query_types_total", type=kind) for kind in ("A", "AAAA", "TXT")}
    assert types == {"A": 7, "AAAA": 1, "TXT": 1}
    assert ("dnsfilter_query_types_total", (("type", "other"),)) not in after  # only the types asked
    assert moved(before, after, "dnsfilter_cache_hits_total") == 3
    assert moved(before, after, "dnsfilter_cache_misses_total") == 2
    assert moved(before, after, "dnsfilter_cache_stale_answers_total") == 0
    assert value(after, "dnsfilter_cache_entries") == value(before, "dnsfilter_cache_entries") + 2
    assert moved(before, after, "dnsfilter_upstream_questions_total") == 2
    assert moved(before, after, "dnsfilter_upstream_answers_total", **upstream_label) == 2
    assert moved(before, after, "dnsfilter_upstream_failures_total", **upstream_label) == 0
    assert value(after, "dnsfilter_upstream_up", **upstream_label) == 1
    assert moved(before, after, "dnsfilter_upstream_latency_seconds_count", **upstream_label) == 2
    assert moved(before, after, "dnsfilter_upstream_latency_seconds_bucket", le="+Inf", **upstream_label) == 2
    assert 0 < moved(before, after, "dnsfilter_upstream_latency_seconds_sum", **upstream_label) < 2.5

    # Eight answers go to the query log (the refused CH query is not a device's question).
    await until(
        lambda: scrape(page),
        lambda samples: moved(before, samples, "dnsfilter_querylog_written_total") == 8,
        "the eight answers written to the query log",
    )
    final = await scrape(page)
    assert moved(before, final, "dnsfilter_querylog_dropped_total") == 0
    assert value(final, "dnsfilter_querylog_writing") == 1
    assert value(final, "dnsfilter_querylog_queue_limit_entries") == page.config.query_log.queue_size

    # A wrong password on the page is one failed sign-in.
    await page.set_password()
    assert (await browser().login("not the password")).status == 401
    signed = await scrape(page)
    assert moved(final, signed, "dnsfilter_web_sign_ins_failed_total", reason="wrong_password") == 1
    assert moved(final, signed, "dnsfilter_web_sign_ins_failed_total", reason="throttled") == 0


async def test_the_lists_the_policy_and_the_health_are_shown(page: Page) -> None:
    samples = await scrape(page)
    index = page.service.blocklists.index
    assert value(samples, "dnsfilter_blocklist_names") == len(index) > 0
    assert value(samples, "dnsfilter_blocklist_current") == 1
    assert value(samples, "dnsfilter_list_entries", list="test-adult", category="adult") == 3
    assert value(samples, "dnsfilter_list_update_failing", list="test-adult", category="adult") == 0
    assert value(samples, "dnsfilter_policy_version") == page.service.resolver.policy.version
    assert value(samples, "dnsfilter_policy_rebuilds_total") >= 1
    assert value(samples, "dnsfilter_database_up") == 1
    for check in ("dns", "lists", "database", "query_log"):
        assert value(samples, "dnsfilter_health_ok", check=check) == 1, check
    assert value(samples, "dnsfilter_build_info", version=__version__) == 1
    assert value(samples, "process_resident_memory_bytes") > 0


async def test_only_allowed_addresses_or_the_token_may_read_them(
    page: Page, config: Config, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    # From an address not allowed, with no token configured: refused.
    await page.service.reload(with_metrics(config, metrics_allow=ELSEWHERE))
    status, _, text = await fetch(page)
    assert status == 403 and "web.metrics_allow" in text

    # With a token configured: without it, or with a wrong one, refused; with it, read.
    await page.service.reload(with_metrics(config, metrics_allow=ELSEWHERE, metrics_token=Secret(TOKEN)))
    status, headers, text = await fetch(page)
    assert status == 401 and headers["WWW-Authenticate"] == 'Bearer realm="dnsfilter metrics"'
    assert "Authorization: Bearer TOKEN" in text
    for wrong in (f"Bearer {TOKEN[:-1]}x", f"Bearer {TOKEN}0", f"Basic {TOKEN}", TOKEN, "Bearer"):
        status, headers, text = await fetch(page, {"Authorization": wrong})
        assert status == 401, wrong
        assert headers["WWW-Authenticate"].endswith('error="invalid_token"')
        assert "dnsfilter_" not in text
    status, headers, text = await fetch(page, {"Authorization": f"Bearer {TOKEN}"})
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain")
    assert headers["Cache-Control"] == "no-store"
    assert any(family.name == "dnsfilter_query_decisions" for family in text_string_to_metric_families(text))
    status, _, _ = await fetch(page, {"Authorization": f"bearer  {TOKEN} "})  # the scheme in any case
    assert status == 200

    # Even with the token, only at the box's own names (no DNS rebinding).
    status, _, _ = await fetch(page, {"Authorization": f"Bearer {TOKEN}", "Host": "rebind.example"})
    assert status == 421

    # Allowed by address: no token needed. Turned off again: gone.
    await page.service.reload(with_metrics(config, metrics_allow=LOCALHOST, metrics_token=Secret(TOKEN)))
    assert (await fetch(page))[0] == 200
    await page.service.reload(with_metrics(config, metrics=False))
    assert (await fetch(page, {"Authorization": f"Bearer {TOKEN}"}))[0] == 404

    assert TOKEN not in caplog.text, "the token was logged"


async def test_prometheus_may_ask_for_openmetrics(page: Page) -> None:
    status, headers, text = await fetch(page, {"Accept": "application/openmetrics-text; version=1.0.0"})
    assert status == 200
    assert headers["Content-Type"].startswith("application/openmetrics-text")
    assert text.endswith("# EOF\n")


async def test_the_counts_go_on_when_a_reload_replaces_the_cache(page: Page, config: Config) -> None:
    dns, address = DnsClient(timeout=2.0), page.dns_address
    for _ in range(2):
        assert describe(await dns.query("example.net", "A", address)) == REAL
    before = await scrape(page)
    assert value(before, "dnsfilter_cache_entries") == 1
    await page.service.reload(dataclasses.replace(config, cache=dataclasses.replace(config.cache, size=500)))
    reloaded = await scrape(page)
    assert value(reloaded, "dnsfilter_cache_entries") == 0 and value(reloaded, "dnsfilter_cache_capacity") == 500
    for name in ("dnsfilter_cache_hits_total", "dnsfilter_cache_misses_total"):
        assert value(reloaded, name) == value(before, name) >= 1, name
    assert value(reloaded, "dnsfilter_query_decisions_total", decision="allowed") == 2
    assert describe(await dns.query("example.net", "A", address)) == REAL  # the new cache is empty: a miss
    after = await scrape(page)
    assert moved(reloaded, after, "dnsfilter_cache_misses_total") == 1
    assert moved(reloaded, after, "dnsfilter_query_decisions_total", decision="allowed") == 1
