"""PolicyStore against a real database (SQLite file and PostgreSQL schema)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import FrozenInstanceError, replace
from datetime import timedelta

import pytest

from dnsfilter.errors import StoreError
from dnsfilter.policy.records import RuleData
from dnsfilter.store import Database, NotFoundError, PolicyInputError, PolicyStore
from tests.store.conftest import NOW


def test_a_new_database_has_one_default_profile(store: PolicyStore) -> None:
    profiles = store.list_profiles()
    assert [(p.name, p.is_default) for p in profiles] == [("Everyone", True)]
    assert store.policy_version() == 1


def test_create_profile_with_every_setting(store: PolicyStore) -> None:
    mia = store.create_profile("Mia, 9", now=NOW, safe_search="strict", bypass_protection=False, block_mode="nxdomain")
    assert (mia.name, mia.safe_search, mia.bypass_protection, mia.block_mode, mia.is_default) == (
        "Mia, 9",
        "strict",
        False,
        "nxdomain",
        False,
    )
    assert mia.created_at == NOW
    assert store.get_profile(mia.id) == mia
    with pytest.raises(FrozenInstanceError):
        mia.name = "x"  # type: ignore[misc]


def test_profile_names_in_any_language(store: PolicyStore) -> None:
    name = "Nguyễn Thị Ánh Tuyết"
    profile = store.create_profile(name, now=NOW)
    assert store.get_profile(profile.id).name == name
    # The decomposed spelling of the same name is the same name.
    decomposed = "Nguye\u0302\u0303n Thị Ánh Tuyết"
    with pytest.raises(PolicyInputError, match="already a profile"):
        store.create_profile(decomposed, now=NOW)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("x" * 65, "65 characters"),
        ("Mia\nBen", "control characters"),
        ("Mia\x00", "control characters"),
    ],
    ids=["empty", "spaces", "overlong", "newline", "nul"],
)
def test_bad_profile_names_are_refused(store: PolicyStore, name: str, message: str) -> None:
    with pytest.raises(PolicyInputError, match=message):
        store.create_profile(name, now=NOW)
    assert len(store.list_profiles()) == 1
    assert store.policy_version() == 1


def test_names_of_64_characters_are_fine(store: PolicyStore) -> None:
    assert store.create_profile("ễ" * 64, now=NOW).name == "ễ" * 64


def test_duplicate_profile_names_are_refused_whatever_the_case(store: PolicyStore) -> None:
    store.create_profile("Mia", now=NOW)
    version = store.policy_version()
    for name in ("Mia", "mia", " MIA "):
        with pytest.raises(PolicyInputError, match='already a profile called "Mia"'):
            store.create_profile(name, now=NOW)
    ben = store.create_profile("Ben", now=NOW)
    with pytest.raises(PolicyInputError, match="already a profile"):
        store.rename_profile(ben.id, "mia")
    assert store.policy_version() == version + 1


def test_rename_profile(store: PolicyStore) -> None:
    mia = store.create_profile("Mia", now=NOW)
    store.rename_profile(mia.id, "Mia (10)")
    store.rename_profile(mia.id, "mia (10)")  # its own name in other case is fine
    assert store.get_profile(mia.id).name == "mia (10)"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s, pid: s.set_safe_search(pid, "moderate"), "safe search"),
        (lambda s, pid: s.set_block_mode(pid, "refuse"), "block mode"),
        (lambda s, pid: s.create_profile("Z", now=NOW, safe_search="yes"), "safe search"),
        (lambda s, pid: s.create_profile("Z", now=NOW, block_mode="0.0.0.0"), "block mode"),
    ],
    ids=["safe-search", "block-mode", "create-safe-search", "create-block-mode"],
)
def test_bad_choices_are_refused(
    store: PolicyStore, change: Callable[[PolicyStore, int], object], message: str
) -> None:
    mia = store.create_profile("Mia", now=NOW)
    with pytest.raises(PolicyInputError, match=message):
        change(store, mia.id)
    assert store.get_profile(mia.id) == mia
    assert [p.name for p in store.list_profiles()] == ["Everyone", "Mia"]


def test_profile_switches(store: PolicyStore) -> None:
    mia = store.create_profile("Mia", now=NOW)
    store.set_safe_search(mia.id, "on")
    store.set_bypass_protection(mia.id, False)
    store.set_block_mode(mia.id, "nxdomain")
    got = store.get_profile(mia.id)
    assert (got.safe_search, got.bypass_protection, got.block_mode) == ("on", False, "nxdomain")


@pytest.mark.parametrize(
    "change",
    [
        lambda s: s.rename_profile(999, "X"),
        lambda s: s.delete_profile(999),
        lambda s: s.set_safe_search(999, "on"),
        lambda s: s.set_bypass_protection(999, True),
        lambda s: s.set_block_mode(999, "nxdomain"),
        lambda s: s.make_default_profile(999),
        lambda s: s.add_blocked_tags(999, ["adult"]),
        lambda s: s.remove_blocked_tags(999, ["adult"]),
        lambda s: s.allow_domain(999, "example.org"),
        lambda s: s.deny_domain(999, "example.org"),
        lambda s: s.remove_domain(999, "example.org"),
        lambda s: s.add_rule(999, days="mon", start="20:00", end="21:00", action="allow_only"),
        lambda s: s.update_rule(999, enabled=False),
        lambda s: s.delete_rule(999),
        lambda s: s.list_rules(999),
        lambda s: s.pause_profile(999, now=NOW, minutes=5, created_by="Mum"),
        lambda s: s.grant_tag(999, "games", now=NOW, minutes=5, created_by="Mum"),
        lambda s: s.allow_name(999, "example.org", now=NOW, minutes=5, created_by="Mum"),
        lambda s: s.cancel_override(999),
        lambda s: s.list_overrides(NOW, 999),
        lambda s: s.assign_device(999, 1),
        lambda s: s.label_device(999, "iPad"),
        lambda s: s.acknowledge_device(999),
        lambda s: s.forget_device(999),
        lambda s: s.list_devices(999),
        lambda s: s.set_new_devices_profile(999),
        lambda s: s.get_profile(999),
    ],
    ids=lambda f: "",
)
def test_unknown_ids_are_refused_plainly(store: PolicyStore, change: Callable[[PolicyStore], object]) -> None:
    with pytest.raises(NotFoundError, match="There is no .* number 999"):
        change(store)
    assert store.policy_version() == 1


def test_the_default_profile_cannot_be_deleted(store: PolicyStore) -> None:
    default = store.list_profiles()[0]
    with pytest.raises(PolicyInputError, match="default profile and cannot be deleted"):
        store.delete_profile(default.id)
    assert store.list_profiles() == (default,)


def test_exactly_one_default_profile(store: PolicyStore) -> None:
    everyone = store.list_profiles()[0]
    kids = store.create_profile("Kids", now=NOW)
    store.make_default_profile(kids.id)
    assert [(p.name, p.is_default) for p in store.list_profiles()] == [("Everyone", False), ("Kids", True)]
    store.make_default_profile(kids.id)  # already: nothing changes
    store.delete_profile(everyone.id)
    assert [(p.name, p.is_default) for p in store.list_profiles()] == [("Kids", True)]


def test_deleting_a_profile_moves_its_devices_to_the_default(store: PolicyStore) -> None:
    default = store.list_profiles()[0]
    mia = store.create_profile("Mia", now=NOW)
    store.add_blocked_tags(mia.id, ["adult"])
    store.add_rule(mia.id, days="sun-thu", start="20:30", end="07:00", action="allow_only")
    store.pause_profile(mia.id, now=NOW, minutes=10, created_by="Dad")
    ipad = store.record_seen("mac:aa:bb:cc:dd:ee:01", ip="192.168.1.20", mac="aa:bb:cc:dd:ee:01", name="ipad", now=NOW)
    phone = store.record_seen("ip:192.168.1.21", ip="192.168.1.21", mac=None, name=None, now=NOW)
    store.assign_device(ipad.device_id, mia.id)
    store.assign_device(phone.device_id, mia.id)
    assert store.delete_profile(mia.id) == 2
    assert {d.profile_id for d in store.list_devices()} == {default.id}
    assert store.list_rules() == ()
    assert store.list_overrides(NOW) == ()
    assert [p.name for p in store.list_profiles()] == ["Everyone"]


def test_blocked_tags(store: PolicyStore) -> None:
    mia = store.create_profile("Mia", now=NOW)
    store.add_blocked_tags(mia.id, ["adult", "service:tiktok", "adult"])
    store.add_blocked_tags(mia.id, ["adult", "gambling"])
    assert store.get_profile(mia.id).blocked_tags == {"adult", "service:tiktok", "gambling"}
    store.remove_blocked_tags(mia.id, ["adult", "not-there"])
    assert store.get_profile(mia.id).blocked_tags == {"service:tiktok", "gambling"}


@pytest.mark.parametrize("tags", [[""], ["two words"], "adult", ["x" * 101]], ids=["empty", "space", "str", "long"])
def test_bad_tags_are_refused(store: PolicyStore, tags: list[str]) -> None:
    mia = store.create_profile("Mia", now=NOW)
    with pytest.raises(PolicyInputError):
        store.add_blocked_tags(mia.id, ["adult", *tags] if isinstance(tags, list) else tags)
    assert store.get_profile(mia.id).blocked_tags == frozenset()


def test_allow_and_deny_names(store: PolicyStore) -> None:
    mia = store.create_profile("Mia", now=NOW)
    assert store.allow_domain(mia.id, "Khan-Academy.ORG.") == "khan-academy.org"
    assert store.deny_domain(mia.id, "bücher.example") == "xn--bcher-kva.example"
    store.deny_domain(mia.id, "youtube.com")
    store.allow_domain(mia.id, "youtube.com")  # moves from deny to allow
    got = store.get_profile(mia.id)
    assert got.allowed_names == {"khan-academy.org", "youtube.com"}
    assert got.denied_names == {"xn--bcher-kva.example"}
    assert store.remove_domain(mia.id, "YOUTUBE.com") is True
    assert store.remove_domain(mia.id, "youtube.com") is False
    assert store.get_profile(mia.id).allowed_names == {"khan-academy.org"}


@pytest.mark.parametrize("name", ["", "not a name", "http://x.org/a", "a..b", "192.168.1.1"])
def test_bad_domain_names_are_refused(store: PolicyStore, name: str) -> None:
    mia = store.create_profile("Mia", now=NOW)
    with pytest.raises(PolicyInputError, match="not a domain name"):
        store.deny_domain(mia.id, name)


def test_rules_add_update_delete_list(store: PolicyStore) -> None:
    mia = store.create_profile("Mia", now=NOW)
    ben = store.create_profile("Ben", now=NOW)
    bedtime = store.add_rule(
        mia.id, days="Sun-Thu", start="20:30", end="07:00", action="allow_only", allow=["Khan-Academy.org"]
    )
    assert (bedtime.days, bedtime.start, bedtime.end, bedtime.allow, bedtime.tags, bedtime.enabled) == (
        "sun-thu",
        "20:30",
        "07:00",
        ("khan-academy.org",),
        (),
        True,
    )
    games = store.add_rule(ben.id, days="mon-fri", start="08:00", end="15:00", action="block_tags", tags=["games"])
    assert store.list_rules() == (bedtime, games)
    assert store.list_rules(ben.id) == (games,)
    changed = store.update_rule(games.id, end="16:00", tags=["games", "service:roblox"], enabled=False)
    assert (changed.start, changed.end, changed.tags, changed.enabled) == (
        "08:00",
        "16:00",
        ("games", "service:roblox"),
        False,
    )
    assert store.get_profile(ben.id).rules == (changed,)
    store.delete_rule(bedtime.id)
    assert store.list_rules() == (changed,)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"start": "25:00"}, "not a time"),
        ({"start": "7pm"}, "not a time"),
        ({"end": "7:00"}, "not a time"),
        ({"end": "07:60"}, "not a time"),
        ({"end": "24:00"}, "not a time"),
        ({"days": ""}, "no days"),
        ({"days": "  "}, "no days"),
        ({"action": "block"}, "rule action"),
        ({"action": "block_tags", "tags": []}, "at least one category"),
        ({"action": "block_tags", "tags": ["games"], "allow": ["x.org"]}, "Only an"),
        ({"tags": ["games"]}, "takes no categories"),
        ({"allow": ["not a name"]}, "not a domain name"),
    ],
    ids=["25h", "7pm", "no-zero", "60min", "24h", "no-days", "blank-days", "action", "no-tags", "allow", "tags", "name"],
)
def test_bad_rules_are_refused(store: PolicyStore, fields: dict[str, object], message: str) -> None:
    mia = store.create_profile("Mia", now=NOW)
    good: dict[str, object] = {"days": "mon-fri", "start": "20:00", "end": "07:00", "action": "allow_only"}
    with pytest.raises(PolicyInputError, match=message):
        store.add_rule(mia.id, **{**good, **fields})  # type: ignore[arg-type]
    rule = store.add_rule(mia.id, **good)  # type: ignore[arg-type]
    version = store.policy_version()
    with pytest.raises(PolicyInputError, match=message):
        store.update_rule(rule.id, **fields)  # type: ignore[arg-type]
    assert store.list_rules() == (rule,)
    assert store.policy_version() == version


def test_overrides_expire_by_now(store: PolicyStore) -> None:
    mia = store.create_profile("Mia", now=NOW)
    pause = store.pause_profile(mia.id, now=NOW, minutes=30, created_by="Mum", note="dinner")
    grant = store.grant_tag(mia.id, "service:roblox", now=NOW, minutes=60, created_by="Dad")
    allow = store.allow_name(
        mia.id, "Scratch.MIT.edu", now=NOW, until=NOW + timedelta(hours=2), created_by="Mum", note="<b>homework</b>"
    )
    assert (pause.kind, pause.target, pause.expires_at, pause.created_by, pause.created_at, pause.note) == (
        "pause",
        None,
        NOW + timedelta(minutes=30),
        "Mum",
        NOW,
        "dinner",
    )
    assert (grant.kind, grant.target) == ("grant", "service:roblox")
    assert (allow.kind, allow.target, allow.note) == ("allow_name", "scratch.mit.edu", "<b>homework</b>")
    assert store.list_overrides(NOW) == (pause, grant, allow)
    assert store.list_overrides(NOW + timedelta(minutes=30)) == (grant, allow)
    assert store.list_overrides(NOW + timedelta(minutes=59, seconds=59), mia.id) == (grant, allow)
    assert store.list_overrides(NOW + timedelta(hours=2)) == ()
    assert store.load_all(NOW + timedelta(minutes=45)).profiles[1].overrides == (grant, allow)
    store.cancel_override(grant.id)
    assert store.list_overrides(NOW) == (pause, allow)
    version = store.policy_version()
    assert store.delete_expired_overrides(NOW + timedelta(minutes=31)) == 1
    assert store.list_overrides(NOW) == (allow,)
    assert store.policy_version() == version


@pytest.mark.parametrize(
    ("when", "message"),
    [
        ({}, "Say how long"),
        ({"minutes": 5, "until": NOW + timedelta(hours=1)}, "Say how long"),
        ({"minutes": 0}, "minutes between"),
        ({"minutes": -5}, "minutes between"),
        ({"minutes": 10**9}, "minutes between"),
        ({"until": NOW}, "already passed"),
        ({"until": NOW.replace(tzinfo=None) + timedelta(hours=1)}, "time zone"),
    ],
    ids=["none", "both", "zero", "negative", "huge", "past", "naive"],
)
def test_bad_override_durations_are_refused(store: PolicyStore, when: dict[str, object], message: str) -> None:
    mia = store.create_profile("Mia", now=NOW)
    with pytest.raises(PolicyInputError, match=message):
        store.pause_profile(mia.id, now=NOW, created_by="Mum", **when)  # type: ignore[arg-type]
    assert store.list_overrides(NOW) == ()


def test_devices_are_recorded_as_new_in_the_default_profile(store: PolicyStore) -> None:
    default = store.list_profiles()[0]
    seen = store.record_seen("mac:aa:bb:cc:dd:ee:ff", ip="192.168.1.23", mac="aa:bb:cc:dd:ee:ff", name="iPad", now=NOW)
    assert (seen.created, seen.changed) == (True, False)
    (device,) = store.list_devices()
    assert (device.key, device.ip, device.mac, device.name, device.label) == (
        "mac:aa:bb:cc:dd:ee:ff",
        "192.168.1.23",
        "aa:bb:cc:dd:ee:ff",
        "iPad",
        None,
    )
    assert (device.profile_id, device.is_new, device.first_seen, device.last_seen) == (default.id, True, NOW, NOW)


def test_seeing_a_device_again_is_cheap_and_does_not_bump_the_version(store: PolicyStore) -> None:
    key = "ip:192.168.1.23"
    store.record_seen(key, ip="192.168.1.23", mac=None, name="tv", now=NOW)
    version = store.policy_version()
    later = NOW + timedelta(seconds=30)
    assert store.record_seen(key, ip="192.168.1.23", mac=None, name=None, now=later).created is False
    assert store.list_devices()[0].last_seen == NOW  # within the minute: nothing written
    later = NOW + timedelta(minutes=5)
    store.record_seen(key, ip="192.168.1.23", mac=None, name="tv", now=later)
    assert store.list_devices()[0].last_seen == later
    store.record_seen(key, ip="192.168.1.23", mac=None, name="tv", now=NOW + timedelta(minutes=2))
    assert store.list_devices()[0].last_seen == later  # never moves back
    assert store.policy_version() == version


def test_a_changed_address_or_name_bumps_the_version(store: PolicyStore) -> None:
    key = "mac:aa:bb:cc:dd:ee:ff"
    store.record_seen(key, ip="192.168.1.23", mac="aa:bb:cc:dd:ee:ff", name="tv", now=NOW)
    version = store.policy_version()
    seen = store.record_seen(key, ip="192.168.1.24", mac=None, name="living-room-tv", now=NOW + timedelta(seconds=5))
    assert (seen.created, seen.changed) == (False, True)
    (device,) = store.list_devices()
    assert (device.ip, device.mac, device.name, device.is_new) == (
        "192.168.1.24",
        "aa:bb:cc:dd:ee:ff",
        "living-room-tv",
        True,
    )
    assert store.policy_version() == version + 1


def test_new_devices_can_land_in_a_chosen_profile(store: PolicyStore) -> None:
    guests = store.create_profile("Guests", now=NOW)
    store.set_new_devices_profile(guests.id)
    seen = store.record_seen("ip:192.168.1.50", ip="192.168.1.50", mac=None, name=None, now=NOW)
    assert store.list_devices(guests.id)[0].id == seen.device_id
    store.delete_profile(guests.id)  # the choice goes with it
    seen = store.record_seen("ip:192.168.1.51", ip="192.168.1.51", mac=None, name=None, now=NOW)
    assert store.list_devices()[1].profile_id == store.list_profiles()[0].id


def test_the_parent_assigns_labels_acknowledges_and_forgets_devices(store: PolicyStore) -> None:
    mia = store.create_profile("Mia", now=NOW)
    a = store.record_seen("ip:10.0.0.2", ip="10.0.0.2", mac=None, name=None, now=NOW).device_id
    b = store.record_seen("ip:10.0.0.3", ip="10.0.0.3", mac=None, name=None, now=NOW).device_id
    c = store.record_seen("ip:10.0.0.4", ip="10.0.0.4", mac=None, name=None, now=NOW).device_id
    store.assign_device(a, mia.id)
    store.label_device(b, "  Mia's iPad ")
    store.acknowledge_device(c)
    devices = {d.id: d for d in store.list_devices()}
    assert (devices[a].profile_id, devices[a].is_new) == (mia.id, False)
    assert (devices[b].label, devices[b].is_new) == ("Mia's iPad", False)
    assert devices[c].is_new is False
    store.label_device(b, "")
    assert store.list_devices()[1].label is None
    with pytest.raises(PolicyInputError, match="device name"):
        store.label_device(b, "x" * 65)
    store.forget_device(c)
    assert [d.id for d in store.list_devices()] == [a, b]


@pytest.mark.parametrize("key", ["", "aa:bb", "mac:", "ipv6:x", "ip:" + "1" * 100])
def test_bad_device_keys_are_refused(store: PolicyStore, key: str) -> None:
    with pytest.raises(PolicyInputError, match="not a device key|not a MAC address|not an IP address"):
        store.record_seen(key, ip=None, mac=None, name=None, now=NOW)
    assert store.list_devices() == ()


@pytest.mark.parametrize(
    "name",
    [
        "<script>alert(1)</script>",
        "Robert'); DROP TABLE devices;--",
        "tab\there\nnew line\r\x1b[31mred",
        "nul\x00inside\\0 and \\ backslash",
        "\u202eevil-rtl \u200b zero width",
        "😀 Bé Na's máy tính",
        "x" * 1000,
    ],
    ids=["html", "sql", "control", "nul", "bidi", "unicode", "long"],
)
def test_device_names_are_stored_exactly(store: PolicyStore, name: str) -> None:
    store.record_seen("ip:10.0.0.9", ip="10.0.0.9", mac=None, name=name, now=NOW)
    assert store.list_devices()[0].name == name
    assert store.load_all(NOW).devices[0].name == name


def test_settings(store: PolicyStore) -> None:
    assert store.get_setting("missing") is None
    assert store.get_setting("missing", 7) == 7
    value = {"zone": "Asia/Ho_Chi_Minh", "list": [1, 2.5, None, True], "text": "Tiếng Việt <b>"}
    store.set_setting("ui", value)
    assert store.get_setting("ui") == value
    store.set_setting("ui", 3)
    assert store.get_setting("ui") == 3
    version = store.policy_version()
    store.delete_setting("ui")
    store.delete_setting("ui")  # already gone: no change, no bump
    assert store.get_setting("ui") is None
    assert store.policy_version() == version + 1
    with pytest.raises(PolicyInputError, match="cannot be stored"):
        store.set_setting("bad", {1, 2})
    with pytest.raises(PolicyInputError, match="not a setting name"):
        store.set_setting("", 1)


@pytest.mark.parametrize(
    "change",
    [
        lambda s, pid: s.create_profile("Ben", now=NOW),
        lambda s, pid: s.rename_profile(pid, "Mia 10"),
        lambda s, pid: s.delete_profile(pid),
        lambda s, pid: s.make_default_profile(pid),
        lambda s, pid: s.set_safe_search(pid, "strict"),
        lambda s, pid: s.set_bypass_protection(pid, False),
        lambda s, pid: s.set_block_mode(pid, "nxdomain"),
        lambda s, pid: s.add_blocked_tags(pid, ["adult"]),
        lambda s, pid: s.remove_blocked_tags(pid, ["adult"]),
        lambda s, pid: s.allow_domain(pid, "example.org"),
        lambda s, pid: s.deny_domain(pid, "example.org"),
        lambda s, pid: s.add_rule(pid, days="mon", start="20:00", end="21:00", action="allow_only"),
        lambda s, pid: s.pause_profile(pid, now=NOW, minutes=5, created_by="Mum"),
        lambda s, pid: s.grant_tag(pid, "games", now=NOW, minutes=5, created_by="Mum"),
        lambda s, pid: s.allow_name(pid, "example.org", now=NOW, minutes=5, created_by="Mum"),
        lambda s, pid: s.set_setting("k", "v"),
        lambda s, pid: s.set_new_devices_profile(pid),
        lambda s, pid: s.record_seen("ip:10.0.0.1", ip="10.0.0.1", mac=None, name=None, now=NOW),
    ],
    ids=lambda f: "",
)
def test_every_write_bumps_the_version_once(
    store: PolicyStore, change: Callable[[PolicyStore, int], object]
) -> None:
    mia = store.create_profile("Mia", now=NOW)
    before = store.policy_version()
    change(store, mia.id)
    assert store.policy_version() == before + 1


def test_load_all_returns_everything_as_plain_values(store: PolicyStore) -> None:
    mia = store.create_profile("Mia", now=NOW, safe_search="strict")
    store.add_blocked_tags(mia.id, ["adult", "service:tiktok"])
    store.allow_domain(mia.id, "khanacademy.org")
    store.deny_domain(mia.id, "example.org")
    rule = store.add_rule(mia.id, days="sun-thu", start="20:30", end="07:00", action="allow_only")
    pause = store.pause_profile(mia.id, now=NOW, minutes=10, created_by="Mum")
    store.record_seen("ip:10.0.0.2", ip="10.0.0.2", mac=None, name="pc", now=NOW)
    store.set_setting("timezone", "Europe/Berlin")
    policy = store.load_all(NOW)
    assert policy.version == store.policy_version()
    assert policy.default_profile.name == "Everyone"
    loaded = policy.profiles[1]
    assert (loaded.name, loaded.safe_search, loaded.blocked_tags) == ("Mia", "strict", {"adult", "service:tiktok"})
    assert (loaded.allowed_names, loaded.denied_names) == ({"khanacademy.org"}, {"example.org"})
    assert (loaded.rules, loaded.overrides) == ((rule,), (pause,))
    assert [d.name for d in policy.devices] == ["pc"]
    assert dict(policy.settings) == {"timezone": "Europe/Berlin"}
    with pytest.raises(TypeError):
        policy.settings["x"] = 1  # type: ignore[index]


def test_load_all_keeps_each_profiles_details_in_order(store: PolicyStore) -> None:
    """The snapshot acts on the first rule, override or budget that applies, so a profile's come in a fixed order:
    rules by id, overrides by expiry then id, budgets by tag. The two profiles' rows are interleaved, and the
    overrides and budgets written out of that order."""
    mia = store.create_profile("Mia", now=NOW).id
    ben = store.create_profile("Ben", now=NOW).id

    def rule(profile_id: int, tag: str) -> RuleData:
        return store.add_rule(profile_id, days="mon-fri", start="08:00", end="15:00", action="block_tags", tags=[tag])

    mia_games, ben_games, mia_social = rule(mia, "games"), rule(ben, "games"), rule(mia, "social")
    later = store.pause_profile(mia, now=NOW, minutes=90, created_by="Mum")
    ben_grant = store.grant_tag(ben, "games", now=NOW, minutes=30, created_by="Dad")
    sooner = store.grant_tag(mia, "games", now=NOW, minutes=30, created_by="Dad")
    tied = store.allow_name(mia, "example.org", now=NOW, minutes=30, created_by="Dad")
    roblox = store.set_budget(mia, "service:roblox", 30)
    ben_social = store.set_budget(ben, "social", 45)
    games = store.set_budget(mia, "games", 60)
    store.add_blocked_tags(mia, ["adult", "gambling"])
    store.allow_domain(mia, "khanacademy.org")
    store.deny_domain(mia, "example.net")

    policy = store.load_all(NOW)
    assert [profile.name for profile in policy.profiles] == ["Everyone", "Mia", "Ben"]
    everyone, loaded_mia, loaded_ben = policy.profiles
    assert (loaded_mia.rules, loaded_mia.overrides, loaded_mia.budgets) == (
        (mia_games, mia_social),
        (sooner, tied, later),
        (games, roblox),
    )
    assert (loaded_ben.rules, loaded_ben.overrides, loaded_ben.budgets) == ((ben_games,), (ben_grant,), (ben_social,))
    assert (everyone.rules, everyone.overrides, everyone.budgets, everyone.blocked_tags) == ((), (), (), frozenset())
    for names in (loaded_mia.blocked_tags, loaded_mia.allowed_names, loaded_mia.denied_names, loaded_ben.denied_names):
        assert type(names) is frozenset
    assert (loaded_mia.blocked_tags, loaded_mia.allowed_names, loaded_mia.denied_names) == (
        frozenset({"adult", "gambling"}),
        frozenset({"khanacademy.org"}),
        frozenset({"example.net"}),
    )
    # Read without a moment, a profile has no overrides but the same rules and budgets.
    assert store.get_profile(mia) == replace(loaded_mia, overrides=())


def test_two_databases_on_the_same_store_write_at_once(
    open_db: Callable[..., Database], database: Database
) -> None:
    """Short writes from two connections wait for each other instead of failing."""
    stores = [PolicyStore(database), PolicyStore(open_db())]
    profile_ids = [stores[0].create_profile(name, now=NOW).id for name in ("Mia", "Ben")]
    errors: list[BaseException] = []
    writes = 25

    def write(store: PolicyStore, profile_id: int) -> None:
        try:
            for n in range(writes):
                store.add_blocked_tags(profile_id, [f"tag{n}"])
                store.record_seen(f"ip:10.0.{profile_id}.{n}", ip=None, mac=None, name=None, now=NOW)
        except BaseException as error:  # reported below, with the thread's traceback
            errors.append(error)

    before = stores[0].policy_version()
    threads = [threading.Thread(target=write, args=pair) for pair in zip(stores, profile_ids, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert stores[1].policy_version() == before + 2 * 2 * writes
    assert len(stores[0].list_devices()) == 2 * writes


def test_store_errors_are_dnsfilter_errors(store: PolicyStore) -> None:
    with pytest.raises(StoreError):
        store.create_profile("", now=NOW)
