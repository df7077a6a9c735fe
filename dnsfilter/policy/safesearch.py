"""Safe-search rewrites: the search engines' own names answered with a CNAME
to the host each engine serves with filtering enforced.

The DNS layer resolves the target upstream and returns CNAME + addresses, so
the browser keeps the name it asked for (certificates still match) and the
engine applies its filter because of the address it reached.

``safe_search_target`` takes the query name already normalised: lower case,
no trailing dot, as the wire parser hands it over. It matches exact names
only: the engines document exact host names, and a subdomain such as
``mail.google.com`` must keep resolving normally.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

Engine = Literal["google", "youtube", "bing", "duckduckgo", "ecosia", "pixabay", "yandex"]


class SafeSearchLevel(enum.StrEnum):
    """A profile's setting. Values are stored in the configuration: never rename."""

    OFF = "off"
    ON = "on"  # every engine filtered; YouTube restricted mode "moderate"
    STRICT = "strict"  # the same, with YouTube restricted mode "strict"


@dataclass(frozen=True, slots=True)
class Rewrite:
    name: str  # the name the client asked for
    target: str  # the enforced host it is answered with (as a CNAME)
    engine: Engine


# Google: every country domain, as published at
# https://www.google.com/supported_domains (187 domains; transcribed 2026-11-28
# from two independent copies of that page, which agreed). Google documents the
# CNAME to forcesafesearch.google.com in "Block adult content at your school
# with SafeSearch", https://support.google.com/websearch/answer/186669.
GOOGLE_DOMAINS: tuple[str, ...] = (
    "google.com", "google.ad", "google.ae", "google.com.af", "google.com.ag",
    "google.al", "google.am", "google.co.ao", "google.com.ar", "google.as", "google.at",
    "google.com.au", "google.az", "google.ba", "google.com.bd", "google.be",
    "google.bf", "google.bg", "google.com.bh", "google.bi", "google.bj",
    "google.com.bn", "google.com.bo", "google.com.br", "google.bs", "google.bt",
    "google.co.bw", "google.by", "google.com.bz", "google.ca", "google.cd", "google.cf",
    "google.cg", "google.ch", "google.ci", "google.co.ck", "google.cl", "google.cm",
    "google.cn", "google.com.co", "google.co.cr", "google.com.cu", "google.cv",
    "google.com.cy", "google.cz", "google.de", "google.dj", "google.dk", "google.dm",
    "google.com.do", "google.dz", "google.com.ec", "google.ee", "google.com.eg",
    "google.es", "google.com.et", "google.fi", "google.com.fj", "google.fm",
    "google.fr", "google.ga", "google.ge", "google.gg", "google.com.gh",
    "google.com.gi", "google.gl", "google.gm", "google.gr", "google.com.gt",
    "google.gy", "google.com.hk", "google.hn", "google.hr", "google.ht", "google.hu",
    "google.co.id", "google.ie", "google.co.il", "google.im", "google.co.in",
    "google.iq", "google.is", "google.it", "google.je", "google.com.jm", "google.jo",
    "google.co.jp", "google.co.ke", "google.com.kh", "google.ki", "google.kg",
    "google.co.kr", "google.com.kw", "google.kz", "google.la", "google.com.lb",
    "google.li", "google.lk", "google.co.ls", "google.lt", "google.lu", "google.lv",
    "google.com.ly", "google.co.ma", "google.md", "google.me", "google.mg", "google.mk",
    "google.ml", "google.com.mm", "google.mn", "google.com.mt", "google.mu",
    "google.mv", "google.mw", "google.com.mx", "google.com.my", "google.co.mz",
    "google.com.na", "google.com.ng", "google.com.ni", "google.ne", "google.nl",
    "google.no", "google.com.np", "google.nr", "google.nu", "google.co.nz",
    "google.com.om", "google.com.pa", "google.com.pe", "google.com.pg", "google.com.ph",
    "google.com.pk", "google.pl", "google.pn", "google.com.pr", "google.ps",
    "google.pt", "google.com.py", "google.com.qa", "google.ro", "google.ru",
    "google.rw", "google.com.sa", "google.com.sb", "google.sc", "google.se",
    "google.com.sg", "google.sh", "google.si", "google.sk", "google.com.sl",
    "google.sn", "google.so", "google.sm", "google.sr", "google.st", "google.com.sv",
    "google.td", "google.tg", "google.co.th", "google.com.tj", "google.tl", "google.tm",
    "google.tn", "google.to", "google.com.tr", "google.tt", "google.com.tw",
    "google.co.tz", "google.com.ua", "google.co.ug", "google.co.uk", "google.com.uy",
    "google.co.uz", "google.com.vc", "google.co.ve", "google.co.vi", "google.com.vn",
    "google.vu", "google.ws", "google.rs", "google.co.za", "google.co.zm",
    "google.co.zw", "google.cat",
)
GOOGLE_TARGET = "forcesafesearch.google.com"

# YouTube: the five names and two targets in "Restrict YouTube content on your
# network or managed devices", https://support.google.com/a/answer/6214622.
# music.youtube.com and studio.youtube.com are not in that list: Google does
# not say the restricted hosts serve them, so rewriting could break them
# outright; blocking YouTube Music is the service rules' job, not this table's.
YOUTUBE_NAMES: tuple[str, ...] = (
    "www.youtube.com",
    "m.youtube.com",
    "youtubei.googleapis.com",
    "youtube.googleapis.com",
    "www.youtube-nocookie.com",
)
YOUTUBE_MODERATE_TARGET = "restrictmoderate.youtube.com"
YOUTUBE_STRICT_TARGET = "restrict.youtube.com"

# Bing: www.bing.com to strict.bing.com is Microsoft's documented mapping for
# networks (Microsoft's page could not be checked for this table; the mapping
# is the one AdGuard Home, CleanBrowsing and Cisco Umbrella all apply). The bare bing.com
# only redirects to www; it is mapped too so a client that stays on the bare
# name is not left unfiltered.
BING_NAMES: tuple[str, ...] = ("www.bing.com", "bing.com")
BING_TARGET = "strict.bing.com"

# DuckDuckGo: searches from safe.duckduckgo.com always have safe search on
# (https://duck.co/help/features/safe-search, now
# https://help.duckduckgo.com/duckduckgo-help-pages/features/safe-search/).
DUCKDUCKGO_NAMES: tuple[str, ...] = ("duckduckgo.com", "www.duckduckgo.com", "start.duckduckgo.com")
DUCKDUCKGO_TARGET = "safe.duckduckgo.com"

# Ecosia: Ecosia's own page on this could not be found; the host is the one
# AdGuard Home's maintained safe-search rules use for www.ecosia.org. If it
# were wrong, Ecosia would fail to resolve for the child, which is the safe way
# to be wrong.
ECOSIA_NAMES: tuple[str, ...] = ("www.ecosia.org",)
ECOSIA_TARGET = "strict-safe-search.ecosia.org"

# Pixabay: its blog post on blocking adult content at a school or workplace,
# https://pixabay.com/blog/posts/block-adult-content-on-pixabay-at-your-school-or-w-140/
# (linked from AdGuard Home issue #1159; the post itself could not be checked).
PIXABAY_NAMES: tuple[str, ...] = ("pixabay.com", "www.pixabay.com")
PIXABAY_TARGET = "safesearch.pixabay.com"

# Yandex: family search is served at 213.180.193.56 (the address AdGuard Home's
# Yandex rules answer with); familysearch.yandex.ru is the name for it in other
# filters' tables. Yandex's own page could not be checked for this table, so
# the list keeps to Yandex's own domains that AdGuard Home also rewrites, with
# ya.ru because Yandex search moved there. yandex.ua is left out: Yandex no
# longer serves Ukraine and AdGuard Home does not list it.
YANDEX_DOMAINS: tuple[str, ...] = (
    "ya.ru", "yandex.ru", "yandex.com", "yandex.com.tr", "yandex.by", "yandex.kz",
    "yandex.uz", "yandex.az", "yandex.com.am", "yandex.com.ge", "yandex.co.il",
    "yandex.md", "yandex.tj", "yandex.tm", "yandex.lt", "yandex.lv", "yandex.ee",
    "yandex.fr", "yandex.de", "yandex.eu", "yandex.fi", "yandex.pl", "yandex.com.ru",
)
YANDEX_TARGET = "familysearch.yandex.ru"


def _with_www(domains: Iterable[str]) -> list[str]:
    return [name for domain in domains for name in (domain, "www." + domain)]


def _table(groups: Iterable[tuple[Engine, Iterable[str], str]]) -> Mapping[str, Rewrite]:
    table: dict[str, Rewrite] = {}
    for engine, names, target in groups:
        for name in names:
            # Two engines claiming one name would make the answer depend on
            # the order of this file.
            if name in table:
                raise ValueError(f"safe-search name listed twice: {name}")
            table[name] = Rewrite(name, target, engine)
    return MappingProxyType(table)


_ENGINES: tuple[tuple[Engine, Iterable[str], str], ...] = (
    ("google", _with_www(GOOGLE_DOMAINS), GOOGLE_TARGET),
    ("bing", BING_NAMES, BING_TARGET),
    ("duckduckgo", DUCKDUCKGO_NAMES, DUCKDUCKGO_TARGET),
    ("ecosia", ECOSIA_NAMES, ECOSIA_TARGET),
    ("pixabay", PIXABAY_NAMES, PIXABAY_TARGET),
    ("yandex", _with_www(YANDEX_DOMAINS), YANDEX_TARGET),
)

# One dict per level, built once, so a lookup on the hot path is one dict get.
_TABLES: Mapping[SafeSearchLevel, Mapping[str, Rewrite]] = MappingProxyType(
    {
        SafeSearchLevel.OFF: MappingProxyType({}),
        SafeSearchLevel.ON: _table(
            (*_ENGINES, ("youtube", YOUTUBE_NAMES, YOUTUBE_MODERATE_TARGET))
        ),
        SafeSearchLevel.STRICT: _table(
            (*_ENGINES, ("youtube", YOUTUBE_NAMES, YOUTUBE_STRICT_TARGET))
        ),
    }
)

ALL_REWRITE_NAMES: frozenset[str] = frozenset(
    name for table in _TABLES.values() for name in table
)


def safe_search_target(qname: str, level: SafeSearchLevel) -> Rewrite | None:
    """The rewrite for ``qname`` at ``level``, or None to resolve it normally.

    ``qname`` must be normalised (lower case, no trailing dot): the caller
    does that once per query, so it is not repeated here.
    """
    return _TABLES[level].get(qname)
