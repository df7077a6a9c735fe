"""The default profile a new database starts with: its blocked categories and
its safe search agree, so the search engines that cannot be filtered are
blocked only while the others are held to their safe search."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from dnslib import DNSRecord

from dnsfilter.config import DEFAULT_CONFIG, BlockingSettings
from dnsfilter.lists.catalog import SEARCH_WITHOUT_SAFE_SEARCH, Catalog, load_catalog
from dnsfilter.service.defaultprofile import default_profile_tags, set_up_default_profile
from dnsfilter.store import PolicyStore, open_database
from tests.fakes import DnsClient, FakeUpstream
from tests.running import make_config, running_service
from tests.webpage import describe

GOOGLE = ("www.google.com. 300 IN A 142.250.74.36", "forcesafesearch.google.com. 300 IN A 216.239.38.120")


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def test_the_default_blocks_unfilterable_search_engines_with_safe_search_on(catalog: Catalog) -> None:
    blocking = DEFAULT_CONFIG.blocking
    assert blocking.safe_search == "on"
    assert SEARCH_WITHOUT_SAFE_SEARCH in default_profile_tags(blocking, catalog, "config")


@pytest.mark.parametrize(
    ("safe_search", "blocked"), [("on", True), ("strict", True), ("off", False)], ids=["on", "strict", "off"]
)
def test_without_safe_search_those_engines_are_not_blocked_by_default(
    catalog: Catalog, safe_search: str, blocked: bool
) -> None:
    blocking = BlockingSettings(safe_search=safe_search)
    tags = default_profile_tags(blocking, catalog, "config")
    assert (SEARCH_WITHOUT_SAFE_SEARCH in tags) is blocked
    assert tags - {SEARCH_WITHOUT_SAFE_SEARCH} == catalog.default_blocked() - {SEARCH_WITHOUT_SAFE_SEARCH}


def test_categories_chosen_in_the_config_are_kept_as_written(catalog: Catalog) -> None:
    blocking = BlockingSettings(categories=("adult", SEARCH_WITHOUT_SAFE_SEARCH), safe_search="off")
    assert default_profile_tags(blocking, catalog, "config") == {"adult", SEARCH_WITHOUT_SAFE_SEARCH}


def default_profile(store: PolicyStore) -> tuple[str, frozenset[str], str]:
    profile = next(profile for profile in store.list_profiles() if profile.is_default)
    return profile.safe_search, profile.blocked_tags, profile.block_mode


def test_a_new_database_gets_the_configured_safe_search_once(tmp_path: Path) -> None:
    database = open_database(f"sqlite:///{tmp_path / 'policy.db'}")
    try:
        store = PolicyStore(database)
        blocking = BlockingSettings(mode="nxdomain", safe_search="strict")
        assert set_up_default_profile(store, ["adult"], blocking) is True
        assert default_profile(store) == ("strict", frozenset({"adult"}), "nxdomain")
        # The parent's later choice stays: set-up happens once.
        profile_id = next(profile.id for profile in store.list_profiles() if profile.is_default)
        store.set_safe_search(profile_id, "off")
        assert set_up_default_profile(store, ["games"], BlockingSettings()) is False
        assert default_profile(store) == ("off", frozenset({"adult"}), "nxdomain")
    finally:
        database.close()


@pytest.mark.parametrize(
    ("safe_search", "answer"),
    [("on", "forcesafesearch.google.com. 216.239.38.120"), ("off", "142.250.74.36")],
    ids=["default", "off in the config"],
)
async def test_a_fresh_start_answers_google_with_safe_search(
    tmp_path: Path, fake_upstream: FakeUpstream, safe_search: str, answer: str
) -> None:
    fake_upstream.add(*GOOGLE)
    config = make_config(tmp_path / "data", [fake_upstream.address])
    config = dataclasses.replace(config, blocking=dataclasses.replace(config.blocking, safe_search=safe_search))
    async with running_service(config) as running:
        question = bytes(DNSRecord.question("www.google.com", "A").pack())
        reply = DNSRecord.parse(await DnsClient(timeout=2.0).udp(question, running.address))
        assert running.service.store is not None
        assert default_profile(running.service.store)[0] == safe_search
    assert describe(reply) == answer
