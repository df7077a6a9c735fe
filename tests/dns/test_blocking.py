"""Blocklists through a running filter: categories, services, exceptions, updates."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from dnslib import RCODE

from dnsfilter.errors import ConfigError
from dnsfilter.lists.blocklists import Blocklists
from dnsfilter.lists.compiler import compile_index
from dnsfilter.service.app import Service
from dnsfilter.service.timings import Timings
from tests.fakes import DnsClient, FakeUpstream
from tests.running import TEST_BLOCKLISTS, make_config, running_service


@pytest.fixture
async def upstream() -> AsyncIterator[FakeUpstream]:
    async with FakeUpstream() as fake:
        for name in ("adult.example", "www.adult.example", "malware.example", "sub.malware.example",
                     "games.example", "homework.play.example", "www.play.example", "chatapp.example",
                     "kids.example", "porn.example.net", "example.net"):
            fake.add(f"{name}. 300 IN A 192.0.2.50")
        yield fake


async def answer(client: DnsClient, name: str, address: tuple[str, int], qtype: str = "A") -> str | None:
    reply = await client.query(name, qtype, address)
    assert reply.header.rcode == RCODE.NOERROR
    return str(reply.rr[0].rdata) if reply.rr else None


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("adult.example", "0.0.0.0"),  # kind block: blocked by default
        ("www.adult.example", "0.0.0.0"),  # domains list: subdomains too
        ("porn.example.net", "0.0.0.0"),
        ("example.net", "192.0.2.50"),  # the parent of a listed name is not blocked
        ("malware.example", "0.0.0.0"),  # kind security: blocked by default
        ("sub.malware.example", "192.0.2.50"),  # hosts list: exact hosts only
        ("games.example", "192.0.2.50"),  # optional: not blocked unless chosen
        ("chatapp.example", "192.0.2.50"),
        ("kids.example", "192.0.2.50"),  # allow-kind lists never block
    ],
    ids=lambda value: str(value),
)
async def test_default_profile(upstream: FakeUpstream, dns_client: DnsClient, tmp_path: Path,
                               name: str, expected: str) -> None:
    async with running_service(make_config(tmp_path, [upstream.address])) as running:
        assert await answer(dns_client, name, running.address) == expected


async def test_chosen_categories_services_and_exceptions(
    upstream: FakeUpstream, dns_client: DnsClient, tmp_path: Path
) -> None:
    config = make_config(tmp_path, [upstream.address], blocking={"categories": ("games",), "services": ("chatapp",)})
    async with running_service(config) as running:
        assert await answer(dns_client, "games.example", running.address) == "0.0.0.0"
        assert await answer(dns_client, "www.play.example", running.address) == "0.0.0.0"
        # @@||homework.play.example^ in the games list un-blocks it.
        assert await answer(dns_client, "homework.play.example", running.address) == "192.0.2.50"
        assert await answer(dns_client, "chatapp.example", running.address) == "0.0.0.0"
        assert await answer(dns_client, "chatapp.example", running.address, "AAAA") == "::"
        assert await answer(dns_client, "chatapp.example", running.address, "TXT") is None
        # Only the chosen categories: adult is no longer blocked here.
        assert await answer(dns_client, "adult.example", running.address) == "192.0.2.50"


def test_unknown_category_or_service_is_a_config_error(tmp_path: Path) -> None:
    config = make_config(tmp_path, ["127.0.0.1:53"], blocking={"categories": ("gamez",), "services": ("tiktokk",)})
    with pytest.raises(ConfigError) as caught:
        Service(config, TEST_BLOCKLISTS)
    problems = "\n".join(caught.value.problems)
    assert 'blocking.categories[0]: there is no category called "gamez"; did you mean games?' in problems
    assert 'blocking.services[0]: there is no service called "tiktokk"' in problems


async def test_first_start_compiles_before_answering(
    upstream: FakeUpstream, dns_client: DnsClient, tmp_path: Path
) -> None:
    """A new box never answers unfiltered: with no index it compiles first."""
    config = make_config(tmp_path / "fresh", [upstream.address])
    service = Service(config, TEST_BLOCKLISTS)
    await service.start()
    try:
        assert (tmp_path / "fresh" / "index.bin").exists()
        assert await answer(dns_client, "adult.example", service.bound[0]) == "0.0.0.0"
    finally:
        await service.stop()


async def test_recompiling_in_the_background_keeps_answering(
    upstream: FakeUpstream, dns_client: DnsClient, tmp_path: Path
) -> None:
    async with running_service(make_config(tmp_path, [upstream.address])) as running:
        service = running.service
        recompiling = asyncio.ensure_future(service._recompile())
        answered = 0
        while not recompiling.done():
            assert await answer(dns_client, "games.example", running.address) == "192.0.2.50"
            answered += 1
        await recompiling
        assert answered > 5  # the loop kept answering while another process compiled
        assert await answer(dns_client, "adult.example", running.address) == "0.0.0.0"


async def test_an_index_compiled_by_another_process_is_picked_up(
    upstream: FakeUpstream, dns_client: DnsClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lists = tmp_path / "lists"
    shutil.copytree(TEST_BLOCKLISTS, lists)
    async with running_service(
        make_config(tmp_path, [upstream.address]), blocklists=lists, timings=Timings(index_check=0.05)
    ) as running:
        assert await answer(dns_client, "example.net", running.address) == "192.0.2.50"
        # As `dnsfilter lists update` would: new list content, index rebuilt elsewhere.
        (lists / "lists" / "adult.domains.txt").write_text("example.net\n")
        _compile_elsewhere(tmp_path, lists)
        for _ in range(100):
            if await answer(dns_client, "example.net", running.address) == "0.0.0.0":
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the new index was not picked up")


def _compile_elsewhere(data_dir: Path, lists: Path) -> None:
    blocklists = Blocklists(data_dir, lists)
    compile_index(lists, blocklists.source_paths(), blocklists.index_path)
