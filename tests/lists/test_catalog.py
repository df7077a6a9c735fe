"""The blocklist catalog: the real one in blocklists/, and every way a catalog can be wrong."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
from pathlib import Path

import pytest

from dnsfilter.errors import CatalogError, DnsFilterError
from dnsfilter.lists.catalog import (
    BLOCKLISTS_DIR,
    KINDS,
    SEARCH_WITHOUT_SAFE_SEARCH,
    Catalog,
    Category,
    load_catalog,
)

# The shared snapshot the bundled lists were copied from (see its README.md).
DATA_DIR = Path(os.environ.get("DNSFILTER_LIST_DATA", "/work/shared/data"))


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def manifest() -> dict[str, dict[str, str]]:
    path = DATA_DIR / "manifest.tsv"
    if not path.is_file():
        pytest.skip(f"no manifest.tsv in {DATA_DIR}")
    with path.open(encoding="utf-8", newline="") as file:
        return {row["path"]: row for row in csv.DictReader(file, delimiter="\t")}


# --- the real catalog -----------------------------------------------------------


def test_blocklists_dir_is_the_repository_folder() -> None:
    assert BLOCKLISTS_DIR == Path(__file__).resolve().parents[2] / "blocklists"
    assert (BLOCKLISTS_DIR / "catalog.yaml").is_file()


def test_real_catalog_loads(catalog: Catalog) -> None:
    assert len(catalog.categories) == 57
    assert len(catalog.sources) == 89
    assert {category.kind for category in catalog.categories} == set(KINDS)


def test_categories_follow_the_shared_vocabulary(catalog: Catalog) -> None:
    path = DATA_DIR / "categories.json"
    if not path.is_file():
        pytest.skip(f"no categories.json in {DATA_DIR}")
    vocabulary = json.loads(path.read_text(encoding="utf-8"))["categories"]
    assert [(c.id, c.kind) for c in catalog.categories] == [(v["id"], v["default_kind"]) for v in vocabulary]


def test_every_category_speaks_english_and_vietnamese(catalog: Catalog) -> None:
    for category in catalog.categories:
        for texts in (category.title, category.description):
            assert set(texts) == {"en", "vi"}, category.id
            assert all(text.strip() for text in texts.values()), category.id
    adult = catalog.category("adult")
    assert adult.title == {"en": "Adult content", "vi": "Nội dung người lớn"}
    # Vietnamese is written with its tone marks, not as plain ASCII.
    assert sum(not c.title["vi"].isascii() for c in catalog.categories) > 40


def test_default_blocked(catalog: Catalog) -> None:
    blocked = catalog.default_blocked()
    assert {"adult", "gambling", "malware", "phishing", "proxy_vpn", "doh_bypass"} <= blocked
    assert not {"social", "games", "video", "news", "kids", "education"} & blocked
    assert blocked == {c.id for c in catalog.categories if c.kind in ("block", "security")}


def test_search_engines_without_safe_search_are_blocked_only_with_safe_search(catalog: Catalog) -> None:
    # Blocking the engines that cannot be filtered protects nothing while Google is not filtered either.
    assert catalog.category(SEARCH_WITHOUT_SAFE_SEARCH).kind == "block"
    assert SEARCH_WITHOUT_SAFE_SEARCH in catalog.default_blocked()
    assert catalog.default_blocked(safe_search=False) == catalog.default_blocked() - {SEARCH_WITHOUT_SAFE_SEARCH}


def test_lookups(catalog: Catalog) -> None:
    assert catalog.category("gambling").kind == "block"
    assert [s.id for s in catalog.sources_of("gambling")] == [
        "ut1-arjel",
        "ut1-gambling",
        "hagezi-gambling-medium",
    ]
    assert catalog.sources_of("other-thing") == ()
    with pytest.raises(KeyError):
        catalog.category("nope")
    with pytest.raises(KeyError):
        catalog.service("nope")


def test_categories_are_hashable(catalog: Catalog) -> None:
    assert len(set(catalog.categories)) == len(catalog.categories)
    assert isinstance(catalog.categories[0], Category)


def test_sources_match_their_upstream(catalog: Catalog) -> None:
    rows = manifest()
    for source in catalog.sources:
        row = rows[source.snapshot]
        assert source.expected_entries == int(row["entries"]), source.id
        assert source.format == row["format"], source.id
        assert source.category == row["category"], source.id
        upstream = row["upstream_path"]
        if row["source"] == "ut1":
            assert source.url == f"https://raw.githubusercontent.com/olbat/ut1-blacklists/master/{upstream}"
            assert (source.subdomains, source.license) == (True, "CC-BY-SA-4.0")
            assert "Université Toulouse Capitole" in source.attribution
        elif row["source"] == "hagezi":
            name = upstream.removeprefix("dns-blocklists/")
            assert source.url == f"https://raw.githubusercontent.com/hagezi/dns-blocklists/main/{name}"
            assert (source.subdomains, source.license) == (True, "GPL-3.0-only")
        else:
            assert source.url == f"https://blocklistproject.github.io/Lists/{upstream}"
            assert (source.subdomains, source.license) == (False, "Unlicense")


def test_no_ip_lists_and_no_allowlists_as_block_sources(catalog: Catalog) -> None:
    rows = manifest()
    kinds = {category.id: category.kind for category in catalog.categories}
    for source in catalog.sources:
        assert source.format != "ip"
        if rows[source.snapshot]["kind"] == "allow":
            # An allowlist only ever sits in an allow category, which never blocks.
            assert kinds[source.category] == "allow", source.id
    assert "ut1-liste_blanche" in {s.id for s in catalog.sources_of("allowlist")}
    white = ("lists/ut1/press.domains.txt.gz", "lists/ut1/bank.domains.txt.gz")
    assert not any(source.snapshot in white for source in catalog.sources)


def test_source_ids_are_safe_names(catalog: Catalog) -> None:
    for source in catalog.sources:
        assert re.fullmatch(r"(ut1|hagezi|blp)-[a-z0-9_-]+", source.id), source.id


# --- every mistake, reported at once ------------------------------------------------

GOOD_CATALOG = """\
providers:
  - id: example
    name: Example lists
    homepage: https://lists.example.org/
    license: CC0-1.0
    license_file: licenses/example.txt
    attribution: "Example lists, CC0"
categories:
  - id: games
    kind: optional
    title: {en: "Games", vi: "Trò chơi"}
    description: {en: "Online games.", vi: "Trò chơi trực tuyến."}
    sources:
      - id: example-games
        provider: example
        format: domains
        match: subdomains
        url: https://lists.example.org/games.txt
        snapshot: lists/example/games.txt.gz
        expected_entries: 2
  - id: kids
    kind: allow
    title: {en: "For children", vi: "Dành cho trẻ em"}
    description: {en: "Sites for children.", vi: "Trang cho trẻ em."}
"""

GOOD_SERVICES = """\
origin: dnsfilter
services:
  - id: example_game
    name: "Example Game"
    category: games
    source: "Official site example.org"
    rules:
      - '||example.org^'
      - '@@||help.example.org^'
"""


def make_blocklists(tmp_path: Path, catalog: str = GOOD_CATALOG, **services: str) -> Path:
    (tmp_path / "licenses").mkdir()
    (tmp_path / "licenses" / "example.txt").write_text("CC0\n")
    (tmp_path / "lists" / "example").mkdir(parents=True)
    (tmp_path / "lists" / "example" / "games.txt.gz").write_bytes(b"")
    (tmp_path / "catalog.yaml").write_text(catalog, encoding="utf-8")
    (tmp_path / "services").mkdir()
    for name, text in (services or {"example": GOOD_SERVICES}).items():
        (tmp_path / "services" / f"{name}.yaml").write_text(text, encoding="utf-8")
    return tmp_path


def problems_of(directory: Path) -> list[str]:
    with pytest.raises(CatalogError) as raised:
        load_catalog(directory)
    assert isinstance(raised.value, DnsFilterError)
    assert str(directory) in str(raised.value)
    return raised.value.problems


def test_minimal_catalog(tmp_path: Path) -> None:
    catalog = load_catalog(make_blocklists(tmp_path))
    (source,) = catalog.sources
    assert source.category == "games"
    assert (source.license, source.attribution, source.subdomains) == ("CC0-1.0", "Example lists, CC0", True)
    assert catalog.category("kids").description == {"en": "Sites for children.", "vi": "Trang cho trẻ em."}
    service = catalog.service("example_game")
    assert (service.origin, service.rules) == ("dnsfilter", ("||example.org^", "@@||help.example.org^"))
    assert catalog.default_blocked() == frozenset()


BROKEN = [
    # (id, text replaced in GOOD_CATALOG, replacement, expected problem)
    ("unknown key", "    kind: optional\n", "    kind: optional\n    colour: red\n",
     'catalog.yaml: categories[0].colour (line 11): unknown key "colour"'),
    ("bad kind", "kind: optional", "kind: sometimes",
     'catalog.yaml: categories[0].kind (line 10): "sometimes" is not allowed'),
    ("bad format", "format: domains", "format: csv",
     'catalog.yaml: categories[0].sources[0].format (line 16): "csv" is not allowed; use one of: hosts'),
    ("bad match", "match: subdomains", "match: some",
     'catalog.yaml: categories[0].sources[0].match (line 17): "some" is not allowed'),
    ("plain http", "url: https://lists.example.org/games.txt", "url: http://lists.example.org/games.txt",
     'catalog.yaml: categories[0].sources[0].url (line 18): "http://lists.example.org/games.txt" is not'),
    ("unknown provider", "provider: example", "provider: elsewhere",
     'catalog.yaml: categories[0].sources[0].provider (line 15): "elsewhere" is not one of the providers'),
    ("missing snapshot", "lists/example/games.txt.gz", "lists/example/gone.txt.gz",
     'catalog.yaml: categories[0].sources[0].snapshot (line 19): "lists/example/gone.txt.gz" does not exist'),
    ("snapshot outside", "lists/example/games.txt.gz", "../games.txt.gz",
     'catalog.yaml: categories[0].sources[0].snapshot (line 19): "../games.txt.gz" must be a path inside'),
    ("missing licence file", "licenses/example.txt", "licenses/gone.txt",
     'catalog.yaml: providers[0].license_file (line 6): "licenses/gone.txt" does not exist'),
    ("missing vietnamese", '{en: "Games", vi: "Trò chơi"}', '{en: "Games"}',
     'catalog.yaml: categories[0].title (line 11): the key "vi" is missing; add it'),
    ("negative count", "expected_entries: 2", "expected_entries: -2",
     "catalog.yaml: categories[0].sources[0].expected_entries (line 20): -2 is out of range"),
    ("duplicate category", "  - id: kids", "  - id: games",
     'catalog.yaml: categories[1].id (line 21): the id "games" is used twice'),
    ("bad id", "id: example-games", "id: Example Games",
     'catalog.yaml: categories[0].sources[0].id (line 14): "Example Games" is not a valid id'),
    ("yaml syntax", "    kind: optional\n", "    kind: [optional\n",
     "catalog.yaml: line 11: this is not valid YAML"),
]


@pytest.mark.parametrize(("old", "new", "expected"), [b[1:] for b in BROKEN], ids=[b[0] for b in BROKEN])
def test_broken_catalog(tmp_path: Path, old: str, new: str, expected: str) -> None:
    assert old in GOOD_CATALOG
    problems = problems_of(make_blocklists(tmp_path, GOOD_CATALOG.replace(old, new, 1)))
    assert len(problems) == 1, problems
    assert problems[0].startswith(expected), problems[0]


def test_every_problem_at_once(tmp_path: Path) -> None:
    text = (
        GOOD_CATALOG.replace("provider: example", "provider: elsewhere")
        .replace("kind: allow", "kind: sometimes")
        .replace("  - id: kids", "  - id: kids\n    colour: red")
    ) + GOOD_CATALOG[GOOD_CATALOG.index("  - id: kids") :].replace("kids", "games")
    rules = "      - '||a*.org^'\n      - '||b.org^'\n      - '||b.org^'"
    services = GOOD_SERVICES.replace("      - '||example.org^'", rules)
    problems = problems_of(make_blocklists(tmp_path, text, example=services))
    where = [problem.split(":", 2)[:2] for problem in problems]
    assert where == [
        ["catalog.yaml", " categories[0].sources[0].provider (line 15)"],
        ["catalog.yaml", " categories[1].colour (line 22)"],
        ["catalog.yaml", " categories[1].kind (line 23)"],
        ["catalog.yaml", " categories[2].id (line 26)"],
        ["services/example.yaml", " services[0].rules[0] (line 8)"],
        ["services/example.yaml", " services[0].rules[2] (line 10)"],
    ], problems


def test_missing_catalog(tmp_path: Path) -> None:
    directory = make_blocklists(tmp_path)
    (directory / "catalog.yaml").unlink()
    assert problems_of(directory) == ["catalog.yaml: the file is missing; reinstall dnsfilter to restore it"]


def test_empty_catalog(tmp_path: Path) -> None:
    problems = problems_of(make_blocklists(tmp_path, "# nothing\n"))
    assert problems == ["catalog.yaml: the file is empty; reinstall dnsfilter to restore it"]


def test_error_message_is_readable(tmp_path: Path) -> None:
    with pytest.raises(CatalogError) as raised:
        load_catalog(make_blocklists(tmp_path, GOOD_CATALOG.replace("kind: optional", "kind: sometimes")))
    message = str(raised.value)
    assert "1 problem(s) in the blocklist catalog" in message
    assert "  - catalog.yaml: categories[0].kind (line 10)" in message
    assert "Reinstalling dnsfilter restores the original files." in message


def test_copy_of_the_real_catalog_loads(tmp_path: Path) -> None:
    """The folder is self-contained: copied elsewhere it still loads."""
    shutil.copytree(BLOCKLISTS_DIR, tmp_path / "blocklists")
    catalog = load_catalog(tmp_path / "blocklists")
    assert len(catalog.sources) == 89


# --- services ---------------------------------------------------------------------

VIETNAMESE_SERVICES = {
    "zalo",
    "zing_mp3",
    "nhaccuatui",
    "fpt_play",
    "vieon",
    "galaxy_play",
    "tv360",
    "pops",
    "garena",
    "tiki",
    "baomoi",
    "kenh14",
}


def test_every_adguard_service_is_converted(catalog: Catalog) -> None:
    adguard = [s for s in catalog.services if s.origin == "adguard"]
    assert len(adguard) == 139
    path = DATA_DIR / "lists/adguard-services/services.json.gz"
    if path.is_file():
        import gzip

        upstream = json.loads(gzip.decompress(path.read_bytes()))
        assert [(s.id, s.name, s.category) for s in adguard] == [
            (u["id"], u["name"], upstream["category_map"][u["group"]]) for u in upstream["services"]
        ]


def test_vietnamese_services_are_present(catalog: Catalog) -> None:
    ours = {s.id: s for s in catalog.services if s.origin == "dnsfilter"}
    assert set(ours) == VIETNAMESE_SERVICES
    for service in ours.values():
        assert service.source, service.id
    assert catalog.service("zalo").category == "chat"
    assert "||zalo.me^" in catalog.service("zalo").rules
    assert catalog.service("garena").name == "Garena (Liên Quân Mobile, Free Fire)"
    # Already in AdGuard's catalogue, with their Vietnamese sites: not repeated.
    assert "||shopee.vn^" in catalog.service("shopee").rules
    assert "||lazada.vn^" in catalog.service("lazada").rules


def test_service_rules_parse_without_rejects(catalog: Catalog) -> None:
    from dnsfilter.lists.formats import ListParser

    for service in catalog.services:
        parser = ListParser("adblock", True)
        entries = list(parser.parse(service.rules))
        assert not parser.report.rejected, (service.id, parser.report.examples)
        assert len(entries) == len(service.rules), service.id


def test_service_ids_are_unique_and_categories_known(catalog: Catalog) -> None:
    ids = [service.id for service in catalog.services]
    assert len(ids) == len(set(ids)) == 151
    categories = {category.id for category in catalog.categories}
    assert {service.category for service in catalog.services} <= categories


def test_adguard_oddities_are_converted(catalog: Catalog) -> None:
    playstation = catalog.service("playstation").rules
    assert "||playstation.com^" in playstation  # upstream "||playstation.com", no "^"
    assert "||slack-files.com^" in catalog.service("slack").rules  # upstream had a stray space
    assert "||mask.icloud.com^" in catalog.service("icloud_private_relay").rules  # $dnsrewrite dropped
    qq = catalog.service("qq").rules
    assert ("||qq.com^", "@@||wx.qq.com^", "@@||weixin.qq.com^") == tuple(r for r in qq if "qq.com" in r)
    amazon = catalog.service("amazon").rules
    assert "||amazon^" in amazon  # single-label rules are kept
    assert not any("*" in rule or "$" in rule for s in catalog.services for rule in s.rules)


def test_adguard_file_carries_its_licence(catalog: Catalog) -> None:
    header = (BLOCKLISTS_DIR / "services" / "adguard.yaml").read_text(encoding="utf-8")[:1500]
    assert "GPL-3.0" in header and "AdGuard" in header
    assert (BLOCKLISTS_DIR / "licenses" / "adguardhome-GPL-3.0.txt").is_file()


SERVICE_PROBLEMS = [
    ("bad rule", "'||example.org^'", "'/ads[0-9]+/'",
     'services/example.yaml: services[0].rules[0] (line 8): "/ads[0-9]+/" cannot be used by a DNS filter'),
    ("comment as rule", "'||example.org^'", "'! note'",
     'services/example.yaml: services[0].rules[0] (line 8): "! note" cannot be used'),
    ("unknown category", "category: games", "category: sport",
     'services/example.yaml: services[0].category (line 5): "sport" is not a category in catalog.yaml'),
    ("no source", '    source: "Official site example.org"\n', "",
     "services/example.yaml: services[0].source (line 3): is missing"),
    ("repeated rule", "'@@||help.example.org^'", "'||example.org^'",
     'services/example.yaml: services[0].rules[1] (line 9): "||example.org^" is listed twice'),
    ("no rules", "    rules:\n      - '||example.org^'\n      - '@@||help.example.org^'\n", "    rules: []\n",
     "services/example.yaml: services[0].rules (line 7): is empty"),
    ("bad origin", "origin: dnsfilter", "origin: me",
     'services/example.yaml: origin (line 1): "me" is not allowed; use one of: adguard, dnsfilter'),
    ("unknown key", "    name:", "    icon: x.png\n    name:",
     'services/example.yaml: services[0].icon (line 4): unknown key "icon"'),
]


@pytest.mark.parametrize(
    ("old", "new", "expected"), [p[1:] for p in SERVICE_PROBLEMS], ids=[p[0] for p in SERVICE_PROBLEMS]
)
def test_broken_services(tmp_path: Path, old: str, new: str, expected: str) -> None:
    assert old in GOOD_SERVICES
    problems = problems_of(make_blocklists(tmp_path, example=GOOD_SERVICES.replace(old, new, 1)))
    assert len(problems) == 1, problems
    assert problems[0].startswith(expected), problems[0]


def test_a_service_defined_twice(tmp_path: Path) -> None:
    problems = problems_of(make_blocklists(tmp_path, first=GOOD_SERVICES, second=GOOD_SERVICES))
    assert problems == [
        'services/second.yaml: services[0].id (line 3): "example_game" is already defined in '
        "services/first.yaml; add the rules there"
    ]


def test_file_source_is_the_default(tmp_path: Path) -> None:
    text = GOOD_SERVICES.replace('    source: "Official site example.org"\n', "") + 'source: "a note"\n'
    catalog = load_catalog(make_blocklists(tmp_path, example=text))
    assert catalog.service("example_game").source == "a note"


# --- the bundled snapshot -------------------------------------------------------------


def test_every_snapshot_parses(catalog: Catalog) -> None:
    from dnsfilter.lists.listfile import parse_text

    for source in catalog.sources:
        path = BLOCKLISTS_DIR / source.snapshot
        assert path.is_file(), source.id
        entries, report = parse_text(path.read_bytes(), source.format, source.subdomains)
        assert not report.looks_like_html, source.id
        assert len(entries) >= source.expected_entries / 2, (source.id, len(entries), report.rejected)


def test_snapshot_is_the_upstream_files_unchanged(catalog: Catalog) -> None:
    if not (DATA_DIR / "lists").is_dir():
        pytest.skip(f"no lists in {DATA_DIR}")
    for source in catalog.sources:
        bundled = (BLOCKLISTS_DIR / source.snapshot).read_bytes()
        assert bundled == (DATA_DIR / source.snapshot).read_bytes(), source.id


def test_snapshot_holds_only_catalog_lists(catalog: Catalog) -> None:
    files = (BLOCKLISTS_DIR / "lists").rglob("*")
    bundled = {path.relative_to(BLOCKLISTS_DIR).as_posix() for path in files if path.is_file()}
    assert bundled == {source.snapshot for source in catalog.sources}
    assert not (BLOCKLISTS_DIR / "bench").exists()


def test_licences_and_notice(catalog: Catalog) -> None:
    notice = (BLOCKLISTS_DIR / "NOTICE").read_text(encoding="utf-8")
    needed = ("Université Toulouse Capitole", "CC BY-SA 4.0", "HaGeZi", "Block List Project", "Unlicense")
    for name in (*needed, "AdGuard"):
        assert name in notice, name
    texts = (
        "ut1-CC-BY-SA-4.0.pdf",
        "hagezi-GPL-3.0.txt",
        "blocklistproject-UNLICENSE.txt",
        "adguardhome-GPL-3.0.txt",
    )
    for text in texts:
        assert (BLOCKLISTS_DIR / "licenses" / text).is_file(), text
        assert text in notice, text
