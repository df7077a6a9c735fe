"""``dnsfilter explain``: the running filter's answer for a device at a moment, in words.

Each test uses a real SQLite policy database and the test catalog's compiled
index, and builds the family through ``PolicyStore`` as the web UI would.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from dnsfilter.cli.explain import explain_text, query_type
from dnsfilter.cli.times import parse_time
from dnsfilter.config import DEFAULT_CONFIG, Config
from dnsfilter.errors import NoDatabase, UsageError, shown
from dnsfilter.policy.records import ProfileData
from dnsfilter.store import PolicyStore, open_database
from tests.running import TEST_BLOCKLISTS, provide_test_index

BERLIN = ZoneInfo("Europe/Berlin")
# Monday 2026-03-02, 13:00 in Berlin (CET, UTC+1).
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
MIA_MAC = "aa:bb:cc:dd:ee:01"
MIA_IP = "192.168.1.23"


@pytest.fixture
def config(tmp_path: Path) -> Config:
    data_dir = tmp_path / "data"
    provide_test_index(data_dir)
    return dataclasses.replace(DEFAULT_CONFIG, data_dir=data_dir, time_zone="Europe/Berlin")


@pytest.fixture
def store(config: Config) -> Iterator[PolicyStore]:
    database = open_database(config.database_url, data_dir=config.data_dir)
    yield PolicyStore(database)
    database.close()


@pytest.fixture
def mia(store: PolicyStore) -> ProfileData:
    """Mia's profile, games blocked on school nights 20:00-22:00, and her iPad in it."""
    profile = store.create_profile("Mia", now=NOW)
    store.add_rule(profile.id, days="mon-fri", start="20:00", end="22:00", action="block_tags", tags=["games"])
    seen = store.record_seen(f"mac:{MIA_MAC}", ip=MIA_IP, mac=MIA_MAC, name="mia-tablet", now=NOW)
    store.assign_device(seen.device_id, profile.id)
    store.label_device(seen.device_id, "Mia's iPad")
    return profile


def explained(config: Config, name: str, **options: str) -> str:
    return explain_text(config, name, "the test settings", TEST_BLOCKLISTS, now=NOW, **options)


def test_no_database_there_stops_explain_before_it_compiles_or_creates_anything(tmp_path: Path) -> None:
    config = dataclasses.replace(DEFAULT_CONFIG, data_dir=tmp_path / "data")
    with pytest.raises(NoDatabase) as missing:
        explained(config, "games.example")
    assert missing.value.where == str(tmp_path / "data" / "dnsfilter.db")
    assert list(tmp_path.iterdir()) == []


# --- who is asking ---------------------------------------------------------------


@pytest.mark.parametrize(
    "device",
    [
        f"mac:{MIA_MAC}", "MAC:AA:BB:CC:DD:EE:01", "aa-bb-cc-dd-ee-01", MIA_IP, f"ip:{MIA_IP}", "mia's ipad",
        "MIA-TABLET",
    ],
    ids=["key", "key-upper-case", "mac", "ip", "ip-key", "label", "dhcp-name"],
)
def test_device_is_found_by_key_address_or_name(
    config: Config, mia: ProfileData, store: PolicyStore, device: str
) -> None:
    if device.startswith("ip:"):
        # A device known only by its address has an ip: key.
        seen = store.record_seen(f"ip:{MIA_IP}", ip=MIA_IP, mac=None, name=None, now=NOW)
        store.forget_device(next(d.id for d in store.list_devices() if d.key == f"mac:{MIA_MAC}"))
        store.assign_device(seen.device_id, mia.id)
        store.label_device(seen.device_id, "Mia's iPad")
    out = explained(config, "games.example", device=device, at="21:00")
    assert 'Device: Mia\'s iPad' in out and 'Profile: "Mia"' in out
    assert "Answer: BLOCKED (answered 0.0.0.0)." in out


def test_without_a_device_it_explains_for_new_devices(config: Config, mia: ProfileData, store: PolicyStore) -> None:
    out = explained(config, "www.adult.example")
    assert "No device given: this is what a device the filter has not seen before gets." in out
    # The service sets up a new database's default profile at start; so does explain.
    assert 'Profile: "Everyone" (where new devices go)' in out
    assert "Why: this profile always blocks the category adult." in out
    store.set_new_devices_profile(mia.id)
    out = explained(config, "www.adult.example")
    assert 'Profile: "Mia" (where new devices go)' in out and "Answer: allowed." in out


def test_a_new_database_gets_the_configured_default_profile(config: Config) -> None:
    config = dataclasses.replace(
        config, blocking=dataclasses.replace(config.blocking, categories=("games",), services=("chatapp",))
    )
    # Created by a first start that was stopped before it set up the default profile.
    open_database(config.database_url, data_dir=config.data_dir).close()
    out = explained(config, "games.example")
    assert 'Profile: "Everyone" (where new devices go)' in out
    assert "Why: this profile always blocks the category games." in out
    assert "Answer: allowed." in explained(config, "adult.example")
    assert "Why: this profile always blocks the service chatapp." in explained(config, "chatapp.example")


def test_a_profile_can_be_named_instead(config: Config, mia: ProfileData) -> None:
    out = explained(config, "games.example", profile="mia", at="21:00")
    assert 'Profile: "Mia" (its devices: Mia\'s iPad (calls itself "mia-tablet"))' in out
    with pytest.raises(UsageError, match='There is no profile called "Max". The profiles are: "Everyone", "Mia".'):
        explained(config, "games.example", profile="Max")


def test_an_unknown_device_lists_the_devices_known(config: Config, mia: ProfileData) -> None:
    with pytest.raises(UsageError) as raised:
        explained(config, "games.example", device="Max's phone")
    message = str(raised.value)
    assert message.startswith('No device matches "Max\'s phone". The devices the filter knows:\n')
    assert f'Mia\'s iPad (calls itself "mia-tablet")  mac:{MIA_MAC}  profile "Mia"' in message
    assert "leave --device out" in message


def test_no_device_recorded_yet(config: Config, store: PolicyStore) -> None:
    with pytest.raises(UsageError, match="has not recorded any device yet"):
        explained(config, "games.example", device="ipad")


def test_an_ambiguous_device_asks_for_the_key(config: Config, store: PolicyStore) -> None:
    for mac in ("aa:bb:cc:00:00:01", "aa:bb:cc:00:00:02"):
        store.record_seen(f"mac:{mac}", ip=None, mac=mac, name="iPad", now=NOW)
    with pytest.raises(UsageError) as raised:
        explained(config, "games.example", device="ipad")
    message = str(raised.value)
    assert message.startswith('"ipad" matches 2 devices; give the key of the one you mean')
    assert "mac:aa:bb:cc:00:00:01" in message and "mac:aa:bb:cc:00:00:02" in message
    # The key tells them apart.
    assert "Device: iPad, mac:aa:bb:cc:00:00:02" in explained(config, "games.example", device="mac:aa:bb:cc:00:00:02")


def test_a_label_beats_a_name_the_device_gave_itself(config: Config, mia: ProfileData, store: PolicyStore) -> None:
    store.record_seen("mac:aa:bb:cc:00:00:09", ip=None, mac="aa:bb:cc:00:00:09", name="Mia's iPad", now=NOW)
    assert f"mac:{MIA_MAC}" in explained(config, "games.example", device="Mia's iPad")


def test_names_from_the_network_are_printed_escaped(config: Config, store: PolicyStore) -> None:
    evil = "phone\x1b[2J\u202e\nroot"
    store.record_seen("mac:aa:bb:cc:00:00:03", ip=None, mac="aa:bb:cc:00:00:03", name=evil, now=NOW)
    out = explained(config, "example.org", device="aa:bb:cc:00:00:03")
    assert "Device: phone\\x1b[2J\\u202e\\nroot, mac:aa:bb:cc:00:00:03" in out
    with pytest.raises(UsageError) as raised:
        explained(config, "example.org", device="nobody")
    for text in (out, str(raised.value)):
        assert "\x1b" not in text and "\u202e" not in text
    assert "phone\\x1b[2J" in str(raised.value)


# --- when ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "answer"),
    [
        ("19:59", "allowed"),
        ("20:00", "BLOCKED (answered 0.0.0.0)"),
        ("2026-03-02 21:59", "BLOCKED (answered 0.0.0.0)"),
        ("2026-03-02T20:30Z", "BLOCKED (answered 0.0.0.0)"),  # 21:30 in Berlin
        ("2026-03-02T21:30+00:00", "allowed"),  # 22:30 in Berlin
        ("22:00", "allowed"),
        ("2026-03-07 21:00", "allowed"),  # a Saturday
    ],
    ids=["before", "start", "inside", "utc-inside", "offset-after", "end", "weekend"],
)
def test_a_rule_blocks_only_inside_its_window(
    config: Config, mia: ProfileData, store: PolicyStore, at: str, answer: str
) -> None:
    out = explained(config, "www.games.example", device="Mia's iPad", at=at)
    assert f"Answer: {answer}." in out
    rule = f"rule {store.list_rules(mia.id)[0].id} (mon-fri 20:00-22:00, blocks the category games)"
    if answer == "allowed":
        assert "Why: nothing in this profile blocks it at that time." in out
        assert "In force then: no schedule rule and no override." in out
    else:
        assert f"Why: the category games is blocked by {rule}, in force then." in out
        assert "6. blocked tags: YES (listed as games; blocked now: games)" in out
        assert f"In force then:\n    {rule}" in out
    assert "test-games, line 2: ||games.example^   [rule, games]" in out


def test_a_pause_blocks_until_it_ends(config: Config, mia: ProfileData, store: PolicyStore) -> None:
    pause = store.pause_profile(mia.id, now=NOW, created_by="Mum", minutes=60, note="dinner")
    out = explained(config, "example.org", device="Mia's iPad", at="13:30")
    assert "Answer: BLOCKED (answered 0.0.0.0)." in out
    assert (
        f"Why: the internet is paused for this profile: pause (override {pause.id}) made by Mum on "
        'Mon 2026-03-02 13:00 (Europe/Berlin), until Mon 2026-03-02 14:00 (Europe/Berlin), note "dinner".'
    ) in out
    assert f"3. pause: YES (override:{pause.id})" in out and "4. deny list: not reached" in out
    assert "Answer: allowed." in explained(config, "example.org", device="Mia's iPad", at="14:00")
    # Before the parent paused, the pause was not in force.
    assert "Answer: allowed." in explained(config, "example.org", device="Mia's iPad", at="12:30")


def test_a_grant_unblocks_until_it_ends(config: Config, mia: ProfileData, store: PolicyStore) -> None:
    grant = store.grant_tag(mia.id, "games", now=NOW, created_by="Dad", minutes=8 * 60)
    out = explained(config, "games.example", device="Mia's iPad", at="20:30")
    assert "Answer: allowed." in out
    assert (
        f"Why: a temporary override unblocks it: grant unblocking the category games (override {grant.id}) "
        "made by Dad on Mon 2026-03-02 13:00 (Europe/Berlin), until Mon 2026-03-02 21:00 (Europe/Berlin)."
    ) in out
    # Outside the rule's window the grant changes nothing, so it is not the reason.
    assert "Why: nothing in this profile blocks it at that time." in explained(
        config, "games.example", device="Mia's iPad", at="19:00"
    )
    assert "Answer: BLOCKED" in explained(config, "games.example", device="Mia's iPad", at="21:00")


def test_bedtime_leaves_only_its_names_open(config: Config, mia: ProfileData, store: PolicyStore) -> None:
    bedtime = store.add_rule(
        mia.id, days="daily", start="22:00", end="06:30", action="allow_only", allow=["kids.example"]
    )
    out = explained(config, "example.org", device="Mia's iPad", at="23:00")
    assert "Answer: BLOCKED (answered 0.0.0.0)." in out
    assert (
        f"Why: rule {bedtime.id} (daily 22:00-06:30, bedtime: only kids.example stays open) is in force, "
        "and this name is not one it leaves open."
    ) in out
    assert f"5. bedtime: YES (rule:{bedtime.id})" in out
    assert "Answer: allowed." in explained(config, "www.kids.example", device="Mia's iPad", at="23:00")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("21:30", datetime(2026, 3, 2, 20, 30, tzinfo=UTC)),
        (" 7:05 ", datetime(2026, 3, 2, 6, 5, tzinfo=UTC)),
        ("2026-07-01 21:30", datetime(2026, 7, 1, 19, 30, tzinfo=UTC)),  # summer time
        ("2026-07-01T21:30", datetime(2026, 7, 1, 19, 30, tzinfo=UTC)),
        ("2026-07-01T21:30:15+02:00", datetime(2026, 7, 1, 19, 30, 15, tzinfo=UTC)),
        ("2026-07-01 21:30-0500", datetime(2026, 7, 2, 2, 30, tzinfo=UTC)),
        ("2026-07-01T21:30Z", datetime(2026, 7, 1, 21, 30, tzinfo=UTC)),
        ("now", NOW),
    ],
    ids=["clock", "short-hour", "date-summer", "date-t", "offset", "negative-offset", "utc", "now"],
)
def test_times_are_read_in_the_family_zone_unless_they_carry_an_offset(text: str, expected: datetime) -> None:
    assert parse_time(text, "--at", BERLIN, NOW) == expected


@pytest.mark.parametrize(
    "text",
    ["tonight", "25:00", "21:60", "9pm", "2026-02-30 10:00", "2026-02-30", "21:30 tomorrow", ""],
    ids=["word", "hour", "minute", "am-pm", "no-such-day", "no-such-date", "extra-words", "empty"],
)
def test_a_time_that_cannot_be_read_says_how_to_write_one(config: Config, text: str) -> None:
    with pytest.raises(UsageError) as raised:
        explained(config, "example.org", at=text)
    assert "is not a time. Write it as 2h, 30m or 1d (that long ago), 21:30 (today)" in str(raised.value)
    assert str(raised.value).endswith("the family's time zone is Europe/Berlin.")


# --- answers other than allow and block ------------------------------------------


def test_safe_search_rewrites_the_search_engine(config: Config, mia: ProfileData, store: PolicyStore) -> None:
    store.set_safe_search(mia.id, "on")
    out = explained(config, "www.google.com", device="Mia's iPad")
    assert "Answer: rewritten to the safe-search host forcesafesearch.google.com." in out
    assert "Why: safe search is on for this profile, so google is sent to its filtered host." in out
    assert "7. safe search: YES (on: forcesafesearch.google.com)" in out
    # New devices too: the default profile starts with safe search on, as it blocks search_no_safesearch.
    assert "Answer: rewritten to the safe-search host" in explained(config, "www.google.com")
    default = next(profile for profile in store.list_profiles() if profile.is_default)
    store.set_safe_search(default.id, "off")
    assert "Answer: allowed." in explained(config, "www.google.com")


def test_bypass_names_are_answered_does_not_exist(config: Config, mia: ProfileData) -> None:
    out = explained(config, "mask.icloud.com", device="Mia's iPad", qtype="https")
    assert out.startswith("mask.icloud.com (HTTPS query), at Mon 2026-03-02 13:00 (Europe/Berlin)\n")
    assert 'Answer: answered "does not exist" (bypass protection).' in out
    assert "2. bypass protection: YES (nxdomain)" in out and "3. pause: not reached" in out


def test_an_allowed_name_and_a_deny_entry(config: Config, mia: ProfileData, store: PolicyStore) -> None:
    store.allow_domain(mia.id, "games.example")
    store.deny_domain(mia.id, "chatapp.example")
    out = explained(config, "www.games.example", device="Mia's iPad", at="21:00")
    assert "Answer: allowed." in out and "Why: games.example is on the allow list of this profile." in out
    assert "2. bypass protection: not reached" in out and "7. safe search: no (off: not a search engine name)" in out
    out = explained(config, "chatapp.example", device="Mia's iPad")
    assert "Why: chatapp.example is on the deny list of this profile." in out
    assert "Listed as: the category social, the service chatapp" in out
    assert "chatapp, line 1: ||chatapp.example^   [rule, service:chatapp]" in out


@pytest.mark.parametrize(
    ("text", "number"),
    [("A", 1), ("aaaa", 28), (" HTTPS ", 65), ("svcb", 64), ("TYPE65", 65), ("65", 65)],
    ids=["a", "aaaa", "https", "svcb", "generic", "number"],
)
def test_query_types_by_name_or_number(text: str, number: int) -> None:
    assert query_type(text) == number


@pytest.mark.parametrize("text", ["HTTP", "TYPE0", "70000", ""], ids=["typo", "zero", "too-big", "empty"])
def test_an_unknown_query_type_is_refused(text: str) -> None:
    with pytest.raises(UsageError, match="is not a DNS record type; give one such as A, AAAA or HTTPS."):
        query_type(text)


@pytest.mark.parametrize(
    ("text", "printed"),
    [("Mia's iPad", "Mia's iPad"), ("a\x1bb", "a\\x1bb"), ("tab\there", "tab\\there"), ("back\\slash", "back\\\\slash"),
     ("\u202egpj.exe", "\\u202egpj.exe"), ("Lê Minh", "Lê Minh")],
    ids=["plain", "escape", "tab", "backslash", "bidi", "accents"],
)
def test_shown_escapes_what_a_terminal_would_obey(text: str, printed: str) -> None:
    assert shown(text) == printed
