"""dnsfilter policy export/import against a real database (SQLite file and PostgreSQL schema)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from dnsfilter.cli.main import EXIT_CONFIG, EXIT_OK, main
from dnsfilter.config import DATABASE_FILE
from dnsfilter.errors import PolicyFileError
from dnsfilter.lists.catalog import Catalog, load_catalog
from dnsfilter.store import PolicyStore, open_database
from dnsfilter.policy.identity import ClientTable
from dnsfilter.store.policyfile import ImportSummary, export_policy, family_zone, import_policy
from tests.conftest import _postgresql_schema_url
from tests.store.conftest import NOW

# The family's time zone: exported times are written in it, times without an offset read in it.
ZONE = ZoneInfo("Asia/Ho_Chi_Minh")

# Text from the network is attacker-controlled: markup, YAML syntax, control
# characters, line separators. It must come back exactly and never be interpreted.
HOSTILE_NAMES = [
    "<script>alert('x')</script>",
    '<img src=x onerror="alert(1)">&amp;',
    "&anchor *alias !!python/object/apply:os.system ['rm -rf /']",
    "- item\nkey: value\n# comment",
    "\x00\x1b[2J\x7f\u2028\u2029\x85\ufeff",
    "  null  ",
    "😀 iPhone của Bé",
]


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


@pytest.fixture
def fresh_store(database_url: str, tmp_path: Path) -> Iterator[PolicyStore]:
    """A second empty database of the same kind as ``store``."""
    urls = iter([f"sqlite:///{tmp_path / 'fresh.db'}"]) if database_url.startswith("sqlite") else _postgresql_schema_url()
    database = open_database(next(urls))
    try:
        yield PolicyStore(database)
    finally:
        database.close()
        next(urls, None)  # drops the PostgreSQL schema


def fill(store: PolicyStore) -> None:
    """A family: Vietnamese names, rules of both kinds, budgets, hostile device names, overrides, settings."""
    everyone = store.list_profiles()[0]
    store.rename_profile(everyone.id, "Cả nhà")
    store.add_blocked_tags(everyone.id, ["malware", "phishing"])
    tuyet = store.create_profile("Nguyễn Thị Ánh Tuyết", now=NOW, safe_search="strict", block_mode="nxdomain")
    store.add_blocked_tags(tuyet.id, ["adult", "service:tiktok", "gambling"])
    store.allow_domain(tuyet.id, "school.example.org")
    store.deny_domain(tuyet.id, "games.example.com")
    store.add_rule(tuyet.id, days="sun-thu", start="20:30", end="07:00", action="allow_only", allow=["school.example.org"])
    store.add_rule(tuyet.id, days="mon-fri", start="07:30", end="16:00", action="block_tags", tags=["games", "service:youtube"])
    store.add_rule(tuyet.id, days="weekends", start="10:00", end="10:00", action="block_tags", tags=["social"], enabled=False)
    store.set_budget(tuyet.id, "service:youtube", 30, "sat,sun")
    store.set_budget(tuyet.id, "games", 60, "t2-t6")
    bao = store.create_profile("Bảo <b>", now=NOW, bypass_protection=False)
    store.set_budget(bao.id, "social", 45)
    for number, name in enumerate(HOSTILE_NAMES):
        seen = store.record_seen(f"mac:02:00:00:00:00:{number:02x}", ip=f"192.168.1.{number + 10}", mac=None, name=name, now=NOW)
        store.assign_device(seen.device_id, tuyet.id if number % 2 else bao.id)
        store.label_device(seen.device_id, HOSTILE_NAMES[number % 3].splitlines()[0][:60])
    store.record_seen("ip:192.168.1.99", ip="192.168.1.99", mac=None, name=None, now=NOW)  # new, no name, no label
    store.set_new_devices_profile(bao.id)
    store.grant_tag(tuyet.id, "service:roblox", now=NOW, created_by="Mẹ", minutes=90, note="Làm xong bài tập")
    store.allow_name(bao.id, "wiki.example.org", now=NOW, created_by="Bố", until=NOW + timedelta(days=2))
    store.pause_profile(bao.id, now=NOW - timedelta(hours=2), created_by="Bố", minutes=30)  # already over
    store.set_setting("ui", {"language": "vi", "theme": None, "sizes": [1, 2.5, True], "note": "yes"})


def bad(text: str) -> str:
    """GOOD with one change, marked by the old and new text separated by ' => '."""
    old, new = text.split(" => ")
    assert GOOD.count(old) == 1, old
    return GOOD.replace(old, new)


GOOD = """\
dnsfilter_policy: 1
profiles:
- name: Everyone
  default: true
- name: Mia
  safe_search: strict
  blocked: [adult, service:tiktok]
  rules:
  - days: sun-thu
    start: "20:30"
    end: "07:00"
    action: allow_only
    allow: [school.example.org]
devices:
- key: mac:aa:bb:cc:dd:ee:ff
  profile: Mia
  label: Mia's iPad
overrides:
- profile: Mia
  kind: grant
  target: service:roblox
  expires: "2025-03-14T20:00:00Z"
  created_by: Mum
settings:
  ui: {language: vi}
"""


# --- round trip -----------------------------------------------------------------


def test_round_trip_into_an_empty_database(store: PolicyStore, fresh_store: PolicyStore, catalog: Catalog) -> None:
    fill(store)
    exported = export_policy(store, NOW, ZONE)
    summary = import_policy(fresh_store, exported, known_tags=catalog.tags, now=NOW, source="family.yaml", zone=ZONE)
    assert summary == ImportSummary(profiles=3, devices=8, rules=3, overrides=2, expired_overrides=0, budgets=3)
    assert export_policy(fresh_store, NOW, ZONE) == exported
    # Importing it again over the same policy changes nothing either.
    import_policy(fresh_store, exported, known_tags=catalog.tags, now=NOW, source="family.yaml", zone=ZONE)
    assert export_policy(fresh_store, NOW, ZONE) == exported


def test_export_reads_back_as_the_policy(store: PolicyStore) -> None:
    fill(store)
    exported = export_policy(store, NOW, ZONE)
    assert exported == export_policy(store, NOW, ZONE)
    # Nothing from the network reaches the file raw: control characters and line separators are escaped.
    assert all(ch == "\n" or ch.isprintable() for ch in exported)
    data = yaml.safe_load(exported)
    assert list(data) == ["dnsfilter_policy", "profiles", "new_devices_profile", "devices", "overrides", "settings"]
    assert [p["name"] for p in data["profiles"]] == ["Bảo <b>", "Cả nhà", "Nguyễn Thị Ánh Tuyết"]
    tuyet = data["profiles"][2]
    assert tuyet["blocked"] == ["adult", "gambling", "service:tiktok"]
    assert (tuyet["safe_search"], tuyet["block_mode"], tuyet["default"]) == ("strict", "nxdomain", False)
    assert tuyet["rules"][0] == {
        "days": "sun-thu",
        "start": "20:30",
        "end": "07:00",
        "action": "allow_only",
        "tags": [],
        "allow": ["school.example.org"],
        "enabled": True,
    }
    assert [r["enabled"] for r in tuyet["rules"]] == [True, True, False]
    assert tuyet["budgets"] == [
        {"tag": "games", "minutes": 60, "days": "t2-t6"},
        {"tag": "service:youtube", "minutes": 30, "days": "sat,sun"},
    ]
    assert data["profiles"][0]["budgets"] == [{"tag": "social", "minutes": 45, "days": "daily"}]
    assert data["profiles"][1]["budgets"] == []
    assert "#   budgets: minutes a day a category or service may be used" in exported
    assert data["new_devices_profile"] == "Bảo <b>"
    devices = {device["key"]: device for device in data["devices"]}
    assert [devices[f"mac:02:00:00:00:00:{n:02x}"]["name"] for n in range(len(HOSTILE_NAMES))] == HOSTILE_NAMES
    assert devices["ip:192.168.1.99"] == {"key": "ip:192.168.1.99", "label": None, "profile": "Cả nhà", "new": True, "name": None}
    assert [(o["profile"], o["kind"], o["target"], o["expires"]) for o in data["overrides"]] == [
        # In the family's time zone (UTC+7), with the offset: 2025-03-16T18:00Z and 2025-03-14T19:30Z.
        ("Bảo <b>", "allow_name", "wiki.example.org", "2025-03-17T01:00:00+07:00"),
        ("Nguyễn Thị Ánh Tuyết", "grant", "service:roblox", "2025-03-15T02:30:00+07:00"),
    ]
    assert data["settings"] == {"ui": {"language": "vi", "note": "yes", "sizes": [1, 2.5, True], "theme": None}}


def test_export_of_a_new_database(store: PolicyStore) -> None:
    body = export_policy(store, NOW, ZONE).split("\n\n", 1)[1]
    lines = [line for line in body.splitlines() if line and not line.startswith("#")]
    assert lines == [
        "dnsfilter_policy: 1",
        "profiles:",
        '- name: "Everyone"',
        "  default: true",
        "  safe_search: 'off'",
        "  bypass_protection: true",
        "  block_mode: null_ip",
        "  blocked: []",
        "  allow: []",
        "  deny: []",
        "  rules: []",
        "  budgets: []",
        "new_devices_profile: null",
        "devices: []",
        "overrides: []",
        "settings: {}",
    ]


# --- what an import does ---------------------------------------------------------


def test_import_replaces_the_whole_policy(store: PolicyStore, catalog: Catalog) -> None:
    ben = store.create_profile("Ben", now=NOW)
    store.add_rule(ben.id, days="daily", start="21:00", end="06:00", action="block_tags", tags=["social"])
    store.record_seen("mac:aa:bb:cc:dd:ee:ff", ip="192.168.1.5", mac="aa:bb:cc:dd:ee:ff", name="ipad", now=NOW - timedelta(days=30))
    store.record_seen("ip:192.168.1.6", ip="192.168.1.6", mac=None, name="tv", now=NOW)
    store.set_new_devices_profile(ben.id)
    store.set_setting("old", 1)
    version = store.policy_version()

    summary = import_policy(store, GOOD, known_tags=catalog.tags, now=NOW, source="family.yaml", zone=ZONE)

    assert summary == ImportSummary(profiles=2, devices=1, rules=1, overrides=1, expired_overrides=0)
    assert store.policy_version() == version + 1  # one transaction
    policy = store.load_all(NOW)
    assert [(p.name, p.is_default) for p in policy.profiles] == [("Everyone", True), ("Mia", False)]
    mia = policy.profiles[1]
    assert (mia.safe_search, mia.blocked_tags) == ("strict", frozenset({"adult", "service:tiktok"}))
    assert [(r.days, r.start, r.end, r.action, r.allow) for r in mia.rules] == [
        ("sun-thu", "20:30", "07:00", "allow_only", ("school.example.org",))
    ]
    [override] = mia.overrides
    assert (override.kind, override.target, override.created_by, override.created_at) == ("grant", "service:roblox", "Mum", NOW)
    # The device already known keeps what the network told us; the one not in the file is gone.
    [device] = policy.devices
    assert (device.label, device.profile_id, device.is_new) == ("Mia's iPad", mia.id, False)
    assert (device.mac, device.ip, device.name) == ("aa:bb:cc:dd:ee:ff", "192.168.1.5", "ipad")
    assert device.first_seen == NOW - timedelta(days=30)
    # New devices: the default again; the imported profiles count as set up by the parent.
    assert dict(policy.settings) == {"ui": {"language": "vi"}, "default_profile_set_up": True}


def test_overrides_already_over_are_left_out(store: PolicyStore, catalog: Catalog) -> None:
    summary = import_policy(store, GOOD, known_tags=catalog.tags, now=NOW + timedelta(hours=2), source="family.yaml", zone=ZONE)
    assert summary.overrides == 0 and summary.expired_overrides == 1
    assert str(summary) == "2 profiles, 1 device, 1 rule imported; 1 override had already ended and was left out"
    assert store.list_overrides(NOW) == ()


def test_hand_written_values_are_read_as_meant(store: PolicyStore, catalog: Catalog) -> None:
    text = bad('''    start: "20:30"
    end: "07:00" => \
    start: 20:30
    end: 24:00''')
    text = text.replace("    allow: [school.example.org]\n", '''\
    allow: [school.example.org]
  - days: " Weekends , Mon"
    start: 7:00
    end: 9:00
    action: BLOCK_TAGS
    tags: [social]
''')
    text = text.replace("safe_search: strict", "safe_search: on").replace("profile: Mia\n  label", "profile: mIA\n  label")
    text = text.replace('expires: "2025-03-14T20:00:00Z"', "expires: 2025-03-14T21:00:00+01:00")
    import_policy(store, text, known_tags=catalog.tags, now=NOW, source="family.yaml", zone=ZONE)
    mia = store.load_all(NOW).profiles[1]
    assert mia.safe_search == "on"
    assert [(r.days, r.start, r.end, r.action) for r in mia.rules] == [
        ("sun-thu", "20:30", "00:00", "allow_only"),
        ("weekends , mon", "07:00", "09:00", "block_tags"),
    ]
    assert mia.overrides[0].expires_at.isoformat() == "2025-03-14T20:00:00+00:00"
    assert store.list_devices()[0].profile_id == mia.id


def test_a_failure_half_way_leaves_the_old_policy(
    store: PolicyStore, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    fill(store)
    before = export_policy(store, NOW, ZONE)

    def fail(session: object) -> None:
        raise RuntimeError("the disk is full")

    # bump() runs last, after every row was deleted and written again.
    monkeypatch.setattr(store, "bump", fail)
    with pytest.raises(RuntimeError, match="disk is full"):
        import_policy(store, GOOD, known_tags=catalog.tags, now=NOW, source="family.yaml", zone=ZONE)
    monkeypatch.undo()
    assert export_policy(store, NOW, ZONE) == before


WITH_BUDGETS = GOOD.replace(
    "  rules:\n",
    """\
  budgets:
  - tag: games
    minutes: 60
    days: mon-fri
  - {tag: service:tiktok, minutes: 15}
  rules:
""",
)


def test_import_replaces_the_budgets(store: PolicyStore, catalog: Catalog) -> None:
    ben = store.create_profile("Ben", now=NOW)
    store.set_budget(ben.id, "social", 30)
    summary = import_policy(store, WITH_BUDGETS, known_tags=catalog.tags, now=NOW, source="family.yaml", zone=ZONE)
    assert summary.budgets == 2
    mia = store.load_all(NOW).profiles[1]
    assert mia.name == "Mia"
    assert [(b.profile_id, b.tag, b.minutes, b.days) for b in store.list_budgets()] == [
        (mia.id, "games", 60, "mon-fri"), (mia.id, "service:tiktok", 15, "daily")
    ]  # fmt: skip


def test_a_file_without_budgets_leaves_none(store: PolicyStore, catalog: Catalog) -> None:
    import_policy(store, WITH_BUDGETS, known_tags=catalog.tags, now=NOW, source="family.yaml", zone=ZONE)
    version = store.policy_version()
    summary = import_policy(store, GOOD, known_tags=catalog.tags, now=NOW, source="family.yaml", zone=ZONE)
    assert summary.budgets == 0
    assert store.list_budgets() == ()
    assert store.policy_version() == version + 1


BUDGETS_WRONG = GOOD.replace(
    "  rules:\n",
    """\
  budgets:
  - {tag: gamez, minutes: 60}
  - {tag: tiktok, minutes: 30, days: daily}
  - {tag: social, minutes: 0}
  - {tag: video, minutes: 1441, days: weekdays}
  - {tag: adult, minutes: sixty}
  - {tag: games, minutes: 60, days: mon-fry}
  - {tag: games, minutes: 20, days: sat}
  - {minutes: 20}
  rules:
""",
)


def test_every_budget_problem_is_reported_at_once(store: PolicyStore, catalog: Catalog) -> None:
    fill(store)
    before, version = export_policy(store, NOW, ZONE), store.policy_version()
    with pytest.raises(PolicyFileError) as caught:
        import_policy(store, BUDGETS_WRONG, known_tags=catalog.tags, now=NOW, source="family.yaml", zone=ZONE)
    assert caught.value.problems == [
        'profiles[1].budgets[0].tag (line 9): there is no category called "gamez"; did you mean "games"?',
        'profiles[1].budgets[1].tag (line 10): "tiktok" is a service; write it as "service:tiktok"',
        "profiles[1].budgets[2].minutes (line 11): 0 is out of range; use a whole number from 1 to 1440",
        "profiles[1].budgets[3].minutes (line 12): 1441 is out of range; use a whole number from 1 to 1440",
        'profiles[1].budgets[4].minutes (line 13): must be a whole number from 1 to 1440, not the text "sixty"',
        (
            "profiles[1].budgets[5].days (line 14): 'fry' in 'mon-fry' is not a day. Write days like mon-fri, "
            "sun-thu, sat,sun, daily, weekdays, weekends, t2-t6 or t7,cn."
        ),
        (
            'profiles[1].budgets[7] (line 16): the key "tag" is missing; add it: a category such as games, '
            "or a service such as service:youtube"
        ),
    ]
    assert export_policy(store, NOW, ZONE) == before
    assert store.policy_version() == version


def test_two_budgets_for_one_tag_are_refused(store: PolicyStore, catalog: Catalog) -> None:
    text = WITH_BUDGETS.replace("  - {tag: service:tiktok, minutes: 15}\n", "  - {tag: games, minutes: 15}\n")
    with pytest.raises(PolicyFileError) as caught:
        import_policy(store, text, known_tags=catalog.tags, now=NOW, source="family.yaml", zone=ZONE)
    assert caught.value.problems == ['profiles[1].budgets (line 8): "games" has two budgets; keep one of them']
    assert store.list_budgets() == ()


@pytest.mark.parametrize(
    ("counts", "text"),
    [
        ((1, 0, 0, 0, 0), "1 profile, 0 devices, 0 rules imported"),
        ((3, 5, 7, 0, 0), "3 profiles, 5 devices, 7 rules imported"),
        ((2, 1, 1, 2, 3), ("2 profiles, 1 device, 1 rule imported; 2 overrides restored; "
                           "3 overrides had already ended and were left out")),
        ((2, 1, 0, 0, 0, 1), "2 profiles, 1 device, 0 rules, 1 budget imported"),
        ((2, 1, 0, 0, 0, 4), "2 profiles, 1 device, 0 rules, 4 budgets imported"),
    ],
    ids=["one", "several", "overrides", "one-budget", "budgets"],
)  # fmt: skip
def test_summary(counts: tuple[int, ...], text: str) -> None:
    assert str(ImportSummary(*counts)) == text


# --- bad files -------------------------------------------------------------------

EVERYTHING_WRONG = """\
dnsfilter_policy: 1
profiles:
- name: Everyone
  default: true
- name: Mia
  default: true
  safe_serch: strict
  bypass_protection: maybe
  blocked: [adult, gamez]
  rules:
  - days: mon-fry
    start: "25:00"
    end: "07:00"
    action: block_tags
    tags: [tiktok]
- name: mia
  allow: school.example.org
devices:
- key: mac:aa:bb:cc:dd:ee:ff
  profile: Ben
  label: 42
- key: phone
  profile: Everyone
overrides:
- profile: Mia
  kind: grant
  target: roblx
  expires: tomorrow at eight
  created_by: Mum
settings:
  new_devices_profile_id: 3
"""


def test_every_problem_is_reported_at_once(store: PolicyStore, catalog: Catalog) -> None:
    fill(store)
    before, version = export_policy(store, NOW, ZONE), store.policy_version()
    with pytest.raises(PolicyFileError) as caught:
        import_policy(store, EVERYTHING_WRONG, known_tags=catalog.tags, now=NOW, source="family.yaml", zone=ZONE)
    assert caught.value.problems == [
        "profiles[1].default (line 6): only one profile can be the default, and profiles[0] (line 4) is already",
        'profiles[1].safe_serch (line 7): unknown key "safe_serch"; did you mean "safe_search"?',
        'profiles[1].bypass_protection (line 8): must be true or false, not the text "maybe"',
        'profiles[1].blocked[1] (line 9): there is no category called "gamez"; did you mean "games"?',
        (
            "profiles[1].rules[0].days (line 11): 'fry' in 'mon-fry' is not a day. Write days like mon-fri, "
            "sun-thu, sat,sun, daily, weekdays, weekends, t2-t6 or t7,cn."
        ),
        "profiles[1].rules[0].start (line 12): '25:00' is not a time of day: hours go from 0 to 23 and minutes from 00 to 59.",
        'profiles[1].rules[0].tags[0] (line 15): "tiktok" is a service; write it as "service:tiktok"',
        'profiles[2].name (line 16): there is already a profile called "Mia" (line 5); rename one of them',
        "profiles[2].allow (line 17): must be a list; write it in brackets: [school.example.org]",
        'devices[0].profile (line 20): there is no profile called "Ben"; the profiles are: Everyone, Mia',
        "devices[0].label (line 21): must be text, not the number 42; put it in quotes if it is meant as text",
        (
            'devices[1].key (line 22): "phone" is not a device key; write mac: and the device\'s MAC address '
            "(like mac:aa:bb:cc:dd:ee:ff) or ip: and its IP address (like ip:192.168.1.23)"
        ),
        (
            'overrides[0].expires (line 28): "tomorrow at eight" is not a date and time; write it like '
            "2026-12-07 20:00 (in the family's time zone, Asia/Ho_Chi_Minh) or with its offset from UTC, "
            "like 2026-12-07T20:00+07:00"
        ),
        (
            "settings.new_devices_profile_id (line 31): is an internal number; name the profile with "
            "new_devices_profile: instead"
        ),
    ]
    assert str(caught.value).startswith("family.yaml: 14 problem(s) in the policy file; nothing was imported:")
    assert export_policy(store, NOW, ZONE) == before
    assert store.policy_version() == version


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ("safe_search: strict => safe_search: strict: yes", "line 6: this is not valid YAML (mapping values are not allowed here)"),
        ("safe_search: => safe_serch:", 'profiles[1].safe_serch (line 6): unknown key "safe_serch"; did you mean "safe_search"?'),
        ('start: "20:30" => start: "25:00"', "profiles[1].rules[0].start (line 10): '25:00' is not a time of day"),
        ('    start: "20:30"\n => ', 'profiles[1].rules[0] (line 9): the key "start" is missing; add it'),
        ("sun-thu => sun-thru", "profiles[1].rules[0].days (line 9): 'thru' in 'sun-thru' is not a day."),
        ("sun-thu => sun-sun", "profiles[1].rules[0].days (line 9): 'sun-sun' starts and ends on the same day"),
        ("[adult, => [gamez,", 'profiles[1].blocked[0] (line 7): there is no category called "gamez"; did you mean "games"?'),
        ("service:tiktok] => service:tiktk]", 'profiles[1].blocked[1] (line 7): there is no service called "service:tiktk"; did you mean "service:tiktok"?'),
        ("action: allow_only\n    allow: [school.example.org] => action: block_tags", "profiles[1].rules[0].tags (line 9): is empty; a block_tags rule needs"),
        ("action: allow_only => action: block_tags\n    tags: [games]", "profiles[1].rules[0].allow (line 14): only an allow_only rule has names"),
        ("school.example.org] => not a name]", 'profiles[1].rules[0].allow[0] (line 13): "not a name" is not a domain name'),
        ("profile: Mia\n  label => profile: Ben\n  label", 'devices[0].profile (line 16): there is no profile called "Ben"; the profiles are: Everyone, Mia'),
        ("- name: Mia\n => - name: Mia\n  default: true\n", "profiles[1].default (line 6): only one profile can be the default, and profiles[0] (line 4) is already"),
        ("  default: true\n => ", 'profiles (line 2): no profile is the default; add "default: true" to one of them'),
        ("devices:\n => - name: mia\ndevices:\n", 'profiles[2].name (line 14): there is already a profile called "Mia" (line 5); rename one of them'),
        ("safe_search: strict => safe_search: [strict]", "profiles[1].safe_search (line 6): must be a single value, not a list"),
        ("safe_search: strict => safe_search: maximum", 'profiles[1].safe_search (line 6): "maximum" is not allowed; use one of: off, on, strict'),
        ("mac:aa:bb:cc:dd:ee:ff => 12", "devices[0].key (line 15): must be text, not the number 12"),
        ("Mia's iPad => \"\"\n- key: mac:aa:bb:cc:dd:ee:ff\n  profile: Everyone", 'devices[1].key (line 18): the device "mac:aa:bb:cc:dd:ee:ff" is listed twice (first on line 15); keep one'),
        ("kind: grant => kind: pause", "overrides[0].target (line 21): a pause has no target; remove it"),
        ("target: service:roblox => target: gamez", 'overrides[0].target (line 21): there is no category called "gamez"; did you mean "games"?'),
        ("created_by: Mum => created_by: ''", "overrides[0].created_by (line 23): The name is empty"),
        ("ui: {language: vi} => ui: &a [1, *a]", "settings.ui (line 25): repeats a value with a YAML alias"),
        ("dnsfilter_policy: 1 => dnsfilter_policy: 2", "dnsfilter_policy (line 1): must be 1: this file was not written"),
        ("dnsfilter_policy: 1\n => ", 'line 1: the key "dnsfilter_policy" is missing; add it'),
    ],
    ids=[
        "syntax", "unknown-key", "bad-time", "missing-key", "bad-days", "same-day-range", "unknown-category",
        "unknown-service", "rule-without-tags", "allow-in-block-rule", "bad-name", "missing-profile", "two-defaults", "no-default",
        "duplicate-profile", "list-for-value", "bad-choice", "number-for-text", "duplicate-device",
        "pause-with-target", "unknown-grant", "empty-name", "alias", "newer-format", "no-format",
    ],
)  # fmt: skip
def test_a_bad_file_changes_nothing(store: PolicyStore, catalog: Catalog, change: str, problem: str) -> None:
    fill(store)
    before, version = export_policy(store, NOW, ZONE), store.policy_version()
    with pytest.raises(PolicyFileError) as caught:
        import_policy(store, bad(change), known_tags=catalog.tags, now=NOW, source="family.yaml", zone=ZONE)
    assert len(caught.value.problems) == 1, caught.value.problems
    assert caught.value.problems[0].startswith(problem)
    assert export_policy(store, NOW, ZONE) == before
    assert store.policy_version() == version


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "the file is empty"),
        ("# only a comment\n", "the file is empty"),
        ("[1, 2]\n", "line 1: the file must hold keys such as profiles: and devices:"),
        ('dnsfilter_policy: 1\nprofiles:\n- name: "Mia\x01"\n', "line 3: the character '\\x01' cannot be in a YAML file"),
    ],
    ids=["empty", "comment", "list", "control-character"],
)
def test_files_that_are_not_a_policy(store: PolicyStore, catalog: Catalog, text: str, problem: str) -> None:
    with pytest.raises(PolicyFileError) as caught:
        import_policy(store, text, known_tags=catalog.tags, now=NOW, source="family.yaml", zone=ZONE)
    assert caught.value.problems[0].startswith(problem)
    assert store.policy_version() == 1


# --- device keys ------------------------------------------------------------------

# How the filter itself knows devices: one by its MAC (neighbour table), others by address.
CLIENTS = ClientTable.build({"192.168.1.5": "aa:bb:cc:dd:ee:ff"}, [])


@pytest.mark.parametrize(
    ("written", "stored", "asking_from"),
    [
        ("mac:aa:bb:cc:dd:ee:ff", "mac:aa:bb:cc:dd:ee:ff", "192.168.1.5"),
        ("mac:AA-BB-CC-DD-EE-FF", "mac:aa:bb:cc:dd:ee:ff", "192.168.1.5"),
        ("mac:aabb.ccdd.eeff", "mac:aa:bb:cc:dd:ee:ff", "192.168.1.5"),
        ("mac:AABBCCDDEEFF", "mac:aa:bb:cc:dd:ee:ff", "192.168.1.5"),
        ("MAC: Aa:bB:cc:DD:ee:FF ", "mac:aa:bb:cc:dd:ee:ff", "192.168.1.5"),
        ("ip:192.168.1.23", "ip:192.168.1.23", "192.168.1.23"),
        ("ip:2001:DB8:0:0:0:0:0:23", "ip:2001:db8::23", "2001:db8::23"),
        ("ip:::ffff:192.168.1.23", "ip:192.168.1.23", "::ffff:192.168.1.23"),
    ],
    ids=["canonical", "windows", "cisco", "bare", "mixed-case", "ipv4", "ipv6-long", "ipv4-mapped"],
)
def test_device_keys_are_stored_as_the_filter_recognises_the_device(
    store: PolicyStore, catalog: Catalog, written: str, stored: str, asking_from: str
) -> None:
    import_policy(store, bad(f'mac:aa:bb:cc:dd:ee:ff => "{written}"'), known_tags=catalog.tags, now=NOW, source="family.yaml", zone=ZONE)
    [device] = store.list_devices()
    assert device.key == stored
    # So the child's device gets Mia's profile, not the default one.
    assert CLIENTS.identify(asking_from).key == device.key


@pytest.mark.parametrize(
    ("written", "problem"),
    [
        ("mac:zz:zz", 'the device key "mac:zz:zz" is not a MAC address; write it like mac:aa:bb:cc:dd:ee:ff'),
        ("mac:aa:bb:cc:dd:ee", 'the device key "mac:aa:bb:cc:dd:ee" is not a MAC address; write it like mac:aa'),
        ("mac:ff:ff:ff:ff:ff:ff", 'the device key "mac:ff:ff:ff:ff:ff:ff" is a broadcast, multicast or all-zero'),
        ("ip:banana", 'the device key "ip:banana" is not an IP address; write it like ip:192.168.1.23'),
        (
            "ip:192.168.1.0/24",
            'the device key "ip:192.168.1.0/24" is a network, not one device; write the address of one device, '
            "like ip:192.168.1.23",
        ),
        ("aa:bb:cc:dd:ee:ff", '"aa:bb:cc:dd:ee:ff" is not a device key; write mac: and the device\'s MAC address'),
    ],
    ids=["not-hex", "too-short", "broadcast", "not-an-address", "network", "no-kind"],
)
def test_device_keys_that_name_no_device_are_refused(store: PolicyStore, catalog: Catalog, written: str, problem: str) -> None:
    with pytest.raises(PolicyFileError) as caught:
        import_policy(store, bad(f'mac:aa:bb:cc:dd:ee:ff => "{written}"'), known_tags=catalog.tags, now=NOW, source="family.yaml", zone=ZONE)
    assert len(caught.value.problems) == 1, caught.value.problems
    assert caught.value.problems[0].startswith(f"devices[0].key (line 15): {problem}")
    assert store.list_devices() == ()


def test_one_device_written_two_ways_is_listed_twice(store: PolicyStore, catalog: Catalog) -> None:
    text = bad("Mia's iPad => \"\"\n- key: AABB.CCDD.EEFF\n  profile: Everyone").replace("AABB", "mac:AABB")
    with pytest.raises(PolicyFileError) as caught:
        import_policy(store, text, known_tags=catalog.tags, now=NOW, source="family.yaml", zone=ZONE)
    assert caught.value.problems == [
        'devices[1].key (line 18): the device "mac:aa:bb:cc:dd:ee:ff" is listed twice (first on line 15); keep one'
    ]


# --- what a missing key needs ---------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ("    action: allow_only\n => ", 'profiles[1].rules[0] (line 9): the key "action" is missing; give one of: block_tags, allow_only'),
        ("  kind: grant\n => ", 'overrides[0] (line 19): the key "kind" is missing; give one of: pause, grant, allow_name'),
        ('    start: "20:30"\n => ', 'profiles[1].rules[0] (line 9): the key "start" is missing; add it: a time of day such as 20:30'),
        ("  - days: sun-thu\n    start =>   - start", 'profiles[1].rules[0] (line 9): the key "days" is missing; add it: the days, like mon-fri, sun-thu or sat,sun'),
        ("- key: mac:aa:bb:cc:dd:ee:ff\n  profile => - profile", 'devices[0] (line 15): the key "key" is missing; add it: mac:aa:bb:cc:dd:ee:ff or ip:192.168.1.23'),
        ('  expires: "2025-03-14T20:00:00Z"\n => ', 'overrides[0] (line 19): the key "expires" is missing; add it: when it ends, such as 2026-12-07 20:00'),
    ],
    ids=["action", "kind", "start", "days", "key", "expires"],
)  # fmt: skip
def test_a_missing_key_says_what_to_give(store: PolicyStore, catalog: Catalog, change: str, problem: str) -> None:
    with pytest.raises(PolicyFileError) as caught:
        import_policy(store, bad(change), known_tags=catalog.tags, now=NOW, source="family.yaml", zone=ZONE)
    assert caught.value.problems == [problem]


# --- times ------------------------------------------------------------------------


def ending(expires: str, *, settings: str = "ui: {language: vi}") -> str:
    """GOOD with the override ending at ``expires`` (as written: quote it yourself) and these settings."""
    return bad(f'"2025-03-14T20:00:00Z" => {expires}').replace("ui: {language: vi}", settings)


@pytest.mark.parametrize(
    ("expires", "zone", "utc"),
    [
        ('"2026-12-07 20:00"', "Asia/Ho_Chi_Minh", "2026-12-07 13:00"),
        ("2026-12-07 20:00", "Asia/Ho_Chi_Minh", "2026-12-07 13:00"),
        ("2026-12-07T20:00:00", "Asia/Ho_Chi_Minh", "2026-12-07 13:00"),  # unquoted: a YAML timestamp
        ('"2026-12-07 20:00"', "Europe/Berlin", "2026-12-07 19:00"),
        ('"2026-07-01 20:00"', "Europe/Berlin", "2026-07-01 18:00"),  # summer time
        ('"2026-12-07"', "Asia/Ho_Chi_Minh", "2026-12-06 17:00"),  # midnight
        ('"2026-12-07T20:00+01:00"', "Asia/Ho_Chi_Minh", "2026-12-07 19:00"),
        ('"2026-12-07 20:00 +01:00"', "Asia/Ho_Chi_Minh", "2026-12-07 19:00"),
        ('"2026-12-07T13:00Z"', "Asia/Ho_Chi_Minh", "2026-12-07 13:00"),
        ("2026-12-07T13:00:00Z", "Europe/Berlin", "2026-12-07 13:00"),
    ],
    ids=["vietnam", "unquoted", "timestamp", "berlin-winter", "berlin-summer", "date-only", "offset",
         "offset-after-space", "utc", "utc-timestamp"],
)  # fmt: skip
def test_a_time_without_offset_is_read_in_the_family_zone(
    store: PolicyStore, catalog: Catalog, expires: str, zone: str, utc: str
) -> None:
    text = ending(expires).replace("created_by: Mum", f"created_by: Mum\n  created_at: {expires}")
    import_policy(store, text, known_tags=catalog.tags, now=NOW, source="family.yaml", zone=ZoneInfo(zone))
    [override] = store.list_overrides(NOW)
    expected = datetime.fromisoformat(utc).replace(tzinfo=UTC)
    assert (override.expires_at, override.created_at) == (expected, expected)


def test_the_file_time_zone_is_the_family_zone(store: PolicyStore, catalog: Catalog) -> None:
    # The import makes it the family's zone, so the file's own times are read in it.
    text = ending('"2026-12-07 20:00"', settings="ui: {language: vi}\n  time_zone: Europe/Berlin")
    import_policy(store, text, known_tags=catalog.tags, now=NOW, source="family.yaml", zone=ZONE)
    assert store.list_overrides(NOW)[0].expires_at == datetime(2026, 12, 7, 19, 0, tzinfo=UTC)
    assert store.get_setting("time_zone") == "Europe/Berlin"


@pytest.mark.parametrize(
    ("expires", "settings", "problem"),
    [
        ('"2026-03-29 02:30"', "time_zone: Europe/Berlin", (
            'overrides[0].expires (line 22): "2026-03-29 02:30" does not exist in Europe/Berlin: the clocks skip '
            "that hour; write a time after it"
        )),
        ('"2026-10-25 02:30"', "time_zone: Europe/Berlin", (
            'overrides[0].expires (line 22): "2026-10-25 02:30" happens twice in Europe/Berlin (the clocks go back); '
            "write which one with its offset: 2026-10-25T02:30:00+02:00 or 2026-10-25T02:30:00+01:00"
        )),
        ('"2026-12-07 20:00"', "time_zone: Vietnam", (
            'settings.time_zone (line 25): "Vietnam" is not a time zone name; write one such as Asia/Ho_Chi_Minh '
            "or Europe/Berlin, or leave it out to use the configuration's time_zone."
        )),
        ('"7 December, 8pm"', "{}", (
            'overrides[0].expires (line 22): "7 December, 8pm" is not a date and time; write it like '
            "2026-12-07 20:00 (in the family's time zone, Asia/Ho_Chi_Minh) or with its offset from UTC, "
            "like 2026-12-07T20:00+07:00"
        )),
    ],
    ids=["skipped-hour", "repeated-hour", "not-a-zone", "not-a-time"],
)  # fmt: skip
def test_times_that_cannot_be_read_are_refused(
    store: PolicyStore, catalog: Catalog, expires: str, settings: str, problem: str
) -> None:
    with pytest.raises(PolicyFileError) as caught:
        import_policy(store, ending(expires, settings=settings), known_tags=catalog.tags, now=NOW, source="family.yaml", zone=ZONE)
    assert caught.value.problems == [problem]


def test_round_trip_keeps_every_time(store: PolicyStore, fresh_store: PolicyStore, catalog: Catalog) -> None:
    fill(store)
    mia = store.list_profiles()[1]
    # Both ends of the hour that happens twice in Berlin, 02:30 CEST and 02:30 CET.
    for until in (datetime(2025, 10, 26, 0, 30, tzinfo=UTC), datetime(2025, 10, 26, 1, 30, tzinfo=UTC)):
        store.allow_name(mia.id, f"t{until.hour}.example.org", now=NOW + timedelta(seconds=1.5), created_by="Mẹ", until=until)
    berlin = ZoneInfo("Europe/Berlin")
    exported = export_policy(store, NOW, berlin)
    assert "expires: '2025-10-26T02:30:00+02:00'" in exported and "expires: '2025-10-26T02:30:00+01:00'" in exported
    assert "created_at: '2025-03-14T19:00:01.500000+01:00'" in exported
    # Read on a machine in another zone: the offsets make every time exact.
    import_policy(fresh_store, exported, known_tags=catalog.tags, now=NOW, source="family.yaml", zone=ZoneInfo("America/New_York"))

    def times(policy_store: PolicyStore) -> list[tuple[str, datetime, datetime]]:
        return sorted((item.kind, item.expires_at, item.created_at) for item in policy_store.list_overrides(NOW))

    assert len(times(store)) == 4
    assert times(fresh_store) == times(store)
    assert export_policy(fresh_store, NOW, berlin) == exported


def test_the_family_zone_is_the_one_chosen_on_the_web_page(store: PolicyStore) -> None:
    configured = ZoneInfo("Europe/Berlin")
    assert family_zone(store, configured) == configured
    store.set_setting("time_zone", "Asia/Ho_Chi_Minh")
    assert family_zone(store, configured) == ZoneInfo("Asia/Ho_Chi_Minh")
    store.set_setting("time_zone", "Mars/Olympus_Mons")  # the running filter ignores it too
    assert family_zone(store, configured) == configured


# --- the command line (an SQLite data dir) ---------------------------------------------


def stored_in(folder: Path) -> PolicyStore:
    """The database in the data dir ``folder``, made as the filter makes it when it first runs."""
    folder.mkdir(exist_ok=True)
    return PolicyStore(open_database(f"sqlite:///{folder / DATABASE_FILE}"))


def test_cli_export_then_import(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source, target = tmp_path / "source", tmp_path / "target"
    source.mkdir()
    database = open_database(f"sqlite:///{source / DATABASE_FILE}")
    try:
        fill(PolicyStore(database))
    finally:
        database.close()

    assert main(["policy", "export", "--data-dir", str(source)]) == EXIT_OK
    printed = capsys.readouterr().out
    assert main(["policy", "export", "--data-dir", str(source), "-o", str(tmp_path / "family.yaml")]) == EXIT_OK
    assert (tmp_path / "family.yaml").read_text(encoding="utf-8") == printed
    assert "Nguyễn Thị Ánh Tuyết" in printed

    # Restoring onto a new machine, where the filter has run once.
    stored_in(target).database.close()
    assert main(["policy", "import", str(tmp_path / "family.yaml"), "--data-dir", str(target)]) == EXIT_OK
    # The command reads the real clock: the family's overrides (March 2025) have ended.
    assert capsys.readouterr().out == "3 profiles, 8 devices, 3 rules, 3 budgets imported\n"
    assert main(["policy", "export", "--data-dir", str(target)]) == EXIT_OK
    assert capsys.readouterr().out == printed


def test_cli_import_reports_every_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stored_in(tmp_path).database.close()
    (tmp_path / "family.yaml").write_text(EVERYTHING_WRONG, encoding="utf-8")
    assert main(["policy", "import", str(tmp_path / "family.yaml"), "--data-dir", str(tmp_path)]) == EXIT_CONFIG
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "14 problem(s) in the policy file; nothing was imported" in captured.err
    assert '  - profiles[1].blocked[1] (line 9): there is no category called "gamez"; did you mean "games"?\n' in captured.err
    assert main(["policy", "import", str(tmp_path / "missing.yaml"), "--data-dir", str(tmp_path)]) == EXIT_CONFIG
    assert "missing.yaml: 1 problem(s)" in capsys.readouterr().err


def test_cli_in_a_separate_process(tmp_path: Path) -> None:
    (tmp_path / "family.yaml").write_text(GOOD.replace('"2025-03-14T20:00:00Z"', '"2999-01-01T00:00:00Z"'), encoding="utf-8")
    environment = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    stored_in(tmp_path / "data").database.close()

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "dnsfilter", "policy", *args, "--data-dir", str(tmp_path / "data")]
        return subprocess.run(command, check=False, capture_output=True, encoding="utf-8", env=environment, timeout=60)

    imported = run("import", str(tmp_path / "family.yaml"))
    assert (imported.returncode, imported.stdout) == (0, "2 profiles, 1 device, 1 rule imported; 1 override restored\n")
    assert "Traceback" not in imported.stderr  # it may say which settings and database it used
    exported = run("export")
    assert exported.returncode == 0, exported.stderr
    assert yaml.safe_load(exported.stdout)["devices"] == [
        {"key": "mac:aa:bb:cc:dd:ee:ff", "label": "Mia's iPad", "profile": "Mia", "new": False, "name": None}
    ]


def test_cli_reads_times_in_the_zone_chosen_on_the_web_page(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TZ", "Europe/Berlin")  # this machine's zone, which the configuration falls back to
    store = stored_in(tmp_path)
    store.set_setting("time_zone", "Asia/Ho_Chi_Minh")
    store.database.close()
    (tmp_path / "family.yaml").write_text(GOOD.replace('"2025-03-14T20:00:00Z"', '"2999-12-07 20:00"'), encoding="utf-8")

    assert main(["policy", "import", str(tmp_path / "family.yaml"), "--data-dir", str(tmp_path)]) == EXIT_OK
    assert capsys.readouterr().out.endswith("1 override restored\n")
    store = stored_in(tmp_path)
    try:
        assert store.list_overrides(NOW)[0].expires_at == datetime(2999, 12, 7, 13, 0, tzinfo=UTC)
    finally:
        store.database.close()
    # The file named no zone, so the one chosen on the web page is gone with the old policy: the
    # configuration's (here the machine's) is the family's now, and the export writes times in it.
    assert main(["policy", "export", "--data-dir", str(tmp_path)]) == EXIT_OK
    exported = capsys.readouterr().out
    assert "expires: '2999-12-07T14:00:00+01:00'" in exported
    assert "# Times are in the family's time zone, Europe/Berlin" in exported
