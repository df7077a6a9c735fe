"""Safe-search rewrites: every engine, every level, and names that must stay untouched."""

from __future__ import annotations

import pytest

from dnsfilter.policy.safesearch import (
    ALL_REWRITE_NAMES,
    GOOGLE_DOMAINS,
    Engine,
    Rewrite,
    SafeSearchLevel,
    safe_search_target,
)

ON = SafeSearchLevel.ON
STRICT = SafeSearchLevel.STRICT
OFF = SafeSearchLevel.OFF

# (name, engine, target when ON, target when STRICT)
REWRITTEN: list[tuple[str, Engine, str, str]] = [
    ("www.google.com", "google", "forcesafesearch.google.com", "forcesafesearch.google.com"),
    ("google.com", "google", "forcesafesearch.google.com", "forcesafesearch.google.com"),
    ("google.com.vn", "google", "forcesafesearch.google.com", "forcesafesearch.google.com"),
    ("www.google.com.vn", "google", "forcesafesearch.google.com", "forcesafesearch.google.com"),
    ("www.google.co.uk", "google", "forcesafesearch.google.com", "forcesafesearch.google.com"),
    ("google.de", "google", "forcesafesearch.google.com", "forcesafesearch.google.com"),
    ("www.google.com.br", "google", "forcesafesearch.google.com", "forcesafesearch.google.com"),
    ("www.google.cat", "google", "forcesafesearch.google.com", "forcesafesearch.google.com"),
    ("www.youtube.com", "youtube", "restrictmoderate.youtube.com", "restrict.youtube.com"),
    ("m.youtube.com", "youtube", "restrictmoderate.youtube.com", "restrict.youtube.com"),
    ("youtubei.googleapis.com", "youtube", "restrictmoderate.youtube.com", "restrict.youtube.com"),
    ("youtube.googleapis.com", "youtube", "restrictmoderate.youtube.com", "restrict.youtube.com"),
    ("www.youtube-nocookie.com", "youtube", "restrictmoderate.youtube.com", "restrict.youtube.com"),
    ("www.bing.com", "bing", "strict.bing.com", "strict.bing.com"),
    ("bing.com", "bing", "strict.bing.com", "strict.bing.com"),
    ("duckduckgo.com", "duckduckgo", "safe.duckduckgo.com", "safe.duckduckgo.com"),
    ("www.duckduckgo.com", "duckduckgo", "safe.duckduckgo.com", "safe.duckduckgo.com"),
    ("start.duckduckgo.com", "duckduckgo", "safe.duckduckgo.com", "safe.duckduckgo.com"),
    ("www.ecosia.org", "ecosia", "strict-safe-search.ecosia.org", "strict-safe-search.ecosia.org"),
    ("pixabay.com", "pixabay", "safesearch.pixabay.com", "safesearch.pixabay.com"),
    ("www.pixabay.com", "pixabay", "safesearch.pixabay.com", "safesearch.pixabay.com"),
    ("yandex.ru", "yandex", "familysearch.yandex.ru", "familysearch.yandex.ru"),
    ("www.yandex.com.tr", "yandex", "familysearch.yandex.ru", "familysearch.yandex.ru"),
    ("yandex.kz", "yandex", "familysearch.yandex.ru", "familysearch.yandex.ru"),
    ("ya.ru", "yandex", "familysearch.yandex.ru", "familysearch.yandex.ru"),
]


@pytest.mark.parametrize(("name", "engine", "on", "strict"), REWRITTEN, ids=[r[0] for r in REWRITTEN])
def test_rewritten_at_each_level(name: str, engine: Engine, on: str, strict: str) -> None:
    assert safe_search_target(name, ON) == Rewrite(name, on, engine)
    assert safe_search_target(name, STRICT) == Rewrite(name, strict, engine)
    assert safe_search_target(name, OFF) is None
    assert name in ALL_REWRITE_NAMES


# Names that look close but are other services, or someone else's domains.
UNTOUCHED = [
    "mail.google.com",
    "maps.google.com",
    "accounts.google.com",
    "googleapis.com",
    "www.googleapis.com",
    "forcesafesearch.google.com",  # the target itself must resolve normally
    "youtube.com",  # not in Google's list; it redirects to www.youtube.com
    "music.youtube.com",  # not in Google's list; rewriting could break it outright
    "studio.youtube.com",
    "restrict.youtube.com",
    "bing.com.evil.example",
    "google.com.evil.example",
    "www.google.com.evil.example",
    "evilgoogle.com",
    "www.google.example",  # not a Google country domain
    "ecosia.org",
    "yandex.ua",
    "example.org",
]


@pytest.mark.parametrize("name", UNTOUCHED)
@pytest.mark.parametrize("level", list(SafeSearchLevel), ids=str)
def test_not_rewritten(name: str, level: SafeSearchLevel) -> None:
    assert safe_search_target(name, level) is None
    assert name not in ALL_REWRITE_NAMES


def test_google_country_domains_are_googles_published_list() -> None:
    # https://www.google.com/supported_domains lists 187 domains, no repeats.
    assert len(GOOGLE_DOMAINS) == 187
    assert len(set(GOOGLE_DOMAINS)) == len(GOOGLE_DOMAINS)
    assert all(d == "google.com" or d.startswith("google.") for d in GOOGLE_DOMAINS)


@pytest.mark.parametrize("domain", GOOGLE_DOMAINS)
def test_every_google_country_domain_rewritten(domain: str) -> None:
    for name in (domain, "www." + domain):
        rewrite = safe_search_target(name, ON)
        assert rewrite is not None and rewrite.target == "forcesafesearch.google.com"


def test_only_youtube_differs_between_on_and_strict() -> None:
    for name in ALL_REWRITE_NAMES:
        on, strict = safe_search_target(name, ON), safe_search_target(name, STRICT)
        assert on is not None and strict is not None
        assert (on == strict) == (on.engine != "youtube"), name


def test_caller_normalises_case_and_trailing_dot() -> None:
    # Documented contract: the wire parser lower-cases and strips the dot once.
    assert safe_search_target("WWW.Google.COM", ON) is None
    assert safe_search_target("www.google.com.", ON) is None
    assert safe_search_target("www.google.com", ON) is not None


def test_no_target_is_itself_rewritten() -> None:
    # A target that were rewritten again would send the DNS layer round in a loop.
    for name in ALL_REWRITE_NAMES:
        for level in (ON, STRICT):
            rewrite = safe_search_target(name, level)
            assert rewrite is not None and rewrite.target not in ALL_REWRITE_NAMES


def test_level_values_are_stable() -> None:
    assert [level.value for level in SafeSearchLevel] == ["off", "on", "strict"]
