"""The per-profile policy snapshot: what is blocked right now, and in which order."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from dnsfilter.lists.index import DomainIndex, IndexBuilder
from dnsfilter.policy.budgets import local_day
from dnsfilter.policy.decision import ALLOW, Action, Decision, Reason
from dnsfilter.policy.identity import ClientId
from dnsfilter.policy.precedence import STEPS
from dnsfilter.policy.records import (
    BudgetData,
    BudgetUse,
    DeviceData,
    OverrideData,
    PolicyData,
    ProfileData,
    RuleData,
)
from dnsfilter.policy.snapshot import PolicySnapshot, build_snapshot

BERLIN = ZoneInfo("Europe/Berlin")
TAGS = ("adult", "games", "social", "video", "service:tiktok", "service:youtube")
# Wednesday 2026-03-11, 12:00 in Berlin (CET, UTC+1).
NOON = datetime(2026, 3, 11, 11, 0, tzinfo=UTC)
CREATED = datetime(2026, 1, 1, tzinfo=UTC)

# name -> tags in the test index (every entry covers subdomains)
LISTED = {
    "adult.example": ("adult",),
    "games.example": ("games",),
    "social.example": ("social",),
    "video.example": ("video",),
    "tiktok.example": ("service:tiktok",),
    "youtube.example": ("service:youtube", "video"),
    "www.youtube.com": ("service:youtube", "video"),
    "mask.icloud.com": ("adult",),  # listed, to show bypass answers before blocks
    "homework.example": ("video",),
}


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> DomainIndex:
    builder = IndexBuilder(TAGS)
    for name, tags in LISTED.items():
        builder.add(name, sum(1 << TAGS.index(tag) for tag in tags), subdomains=True)
    path = tmp_path_factory.mktemp("index") / "index.bin"
    builder.write(path, {"sources": ["test"]})
    return DomainIndex.load(path)


def rule(
    id: int, days: str, start: str, end: str, tags: Sequence[str] = (), allow: Sequence[str] = (), enabled: bool = True
) -> RuleData:
    action = "allow_only" if not tags else "block_tags"
    return RuleData(id, 1, days, start, end, action, tuple(tags), tuple(allow), enabled)


def override(id: int, kind: str, target: str | None, expires: datetime) -> OverrideData:
    return OverrideData(id, 1, kind, target, expires, "parent", CREATED, "")


def profile(id: int = 1, **changes: Any) -> ProfileData:
    base = ProfileData(
        id=id,
        name=f"profile {id}",
        safe_search="off",
        bypass_protection=False,
        block_mode="null_ip",
        is_default=id == 1,
        created_at=CREATED,
    )
    return replace(base, **changes)


def device(id: int, key: str, profile_id: int) -> DeviceData:
    return DeviceData(id, key, None, None, None, None, profile_id, False, CREATED, CREATED)


def snapshot(
    index: DomainIndex, *profiles: ProfileData, devices: Sequence[DeviceData] = (), now: datetime = NOON
) -> PolicySnapshot:
    data = PolicyData(version=7, profiles=profiles or (profile(),), devices=tuple(devices))
    return build_snapshot(data, index, BERLIN, now)


def decide(index: DomainIndex, kid: ProfileData, name: str, now: datetime = NOON, qtype: int = 1) -> Decision:
    snap = snapshot(index, kid, now=now)
    return snap.decide(name, qtype, snap.profiles[kid.id])


def block(reason: Reason, **fields: Any) -> Decision:
    return Decision(Action.BLOCK, reason, **fields)


LATER = NOON + timedelta(hours=1)

# --- precedence: every pair of steps ---------------------------------------
#
# Each case sets up two steps that both match the name; the earlier step must win.

BYPASS: dict[str, Any] = {"bypass_protection": True}
PAUSE: dict[str, Any] = {"overrides": (override(5, "pause", None, LATER),)}
BEDTIME: dict[str, Any] = {"rules": (rule(3, "daily", "11:00", "14:00", allow=("homework.example",)),)}
STRICT: dict[str, Any] = {"safe_search": "strict"}

ALLOWED = Decision(Action.ALLOW, Reason.ALLOW_LIST, list_id="allow", rule="youtube.example")
YT_REWRITE = Decision(Action.REWRITE, Reason.SAFE_SEARCH, category="youtube", target="restrict.youtube.com")
NXDOMAIN = Decision(Action.LOCAL_NXDOMAIN, Reason.BYPASS)
PAUSED = block(Reason.PAUSED, rule="override:5")
BEDTIME_BLOCK = block(Reason.SCHEDULE, rule="rule:3")

PAIRS: dict[str, tuple[dict[str, Any], str, Decision]] = {
    "allow beats deny": ({"allowed_names": frozenset({"youtube.example"}), "denied_names": frozenset({"youtube.example"})}, "youtube.example", ALLOWED),
    "allow beats pause": ({"allowed_names": frozenset({"youtube.example"}), **PAUSE}, "youtube.example", ALLOWED),
    "allow beats bedtime": ({"allowed_names": frozenset({"youtube.example"}), **BEDTIME}, "youtube.example", ALLOWED),
    "allow beats blocked tag": ({"allowed_names": frozenset({"youtube.example"}), "blocked_tags": frozenset({"video"})}, "youtube.example", ALLOWED),
    "allow still gets safe search": ({"allowed_names": frozenset({"youtube.com"}), **STRICT}, "www.youtube.com", YT_REWRITE),
    "allow of the bypass name beats bypass": ({"allowed_names": frozenset({"mask.icloud.com"}), **BYPASS}, "mask.icloud.com", Decision(Action.ALLOW, Reason.ALLOW_LIST, list_id="allow", rule="mask.icloud.com")),
    "allow of a parent does not beat bypass": ({"allowed_names": frozenset({"icloud.com"}), **BYPASS}, "mask.icloud.com", NXDOMAIN),
    "bypass beats pause": ({**BYPASS, **PAUSE}, "use-application-dns.net", NXDOMAIN),
    "bypass beats deny": ({**BYPASS, "denied_names": frozenset({"icloud.com"})}, "mask.icloud.com", NXDOMAIN),
    "bypass beats bedtime": ({**BYPASS, **BEDTIME}, "mask.icloud.com", NXDOMAIN),
    "bypass beats blocked tag": ({**BYPASS, "blocked_tags": frozenset({"adult"})}, "mask.icloud.com", NXDOMAIN),
    "bypass off: the tag blocks": ({"blocked_tags": frozenset({"adult"})}, "mask.icloud.com", block(Reason.CATEGORY, category="adult")),
    "pause beats deny": ({**PAUSE, "denied_names": frozenset({"games.example"})}, "games.example", PAUSED),
    "pause beats bedtime": ({**PAUSE, **BEDTIME}, "games.example", PAUSED),
    "pause beats blocked tag": ({**PAUSE, "blocked_tags": frozenset({"games"})}, "games.example", PAUSED),
    "pause beats safe search": ({**PAUSE, **STRICT}, "www.youtube.com", PAUSED),
    "deny beats bedtime": ({"denied_names": frozenset({"homework.example"}), **BEDTIME}, "homework.example", block(Reason.DENY_LIST, list_id="deny", rule="homework.example")),
    "deny beats blocked tag": ({"denied_names": frozenset({"games.example"}), "blocked_tags": frozenset({"games"})}, "games.example", block(Reason.DENY_LIST, list_id="deny", rule="games.example")),
    "deny beats safe search": ({"denied_names": frozenset({"youtube.com"}), **STRICT}, "www.youtube.com", block(Reason.DENY_LIST, list_id="deny", rule="youtube.com")),
    "bedtime beats blocked tag": ({**BEDTIME, "blocked_tags": frozenset({"games"})}, "games.example", BEDTIME_BLOCK),
    "bedtime beats safe search": ({**BEDTIME, **STRICT}, "www.youtube.com", BEDTIME_BLOCK),
    "bedtime open name: blocked tag still blocks": ({**BEDTIME, "blocked_tags": frozenset({"video"})}, "www.homework.example", block(Reason.CATEGORY, category="video")),
    "blocked tag beats safe search": ({"blocked_tags": frozenset({"service:youtube"}), **STRICT}, "www.youtube.com", block(Reason.SERVICE, category="youtube")),
    "safe search beats plain allow": (STRICT, "www.youtube.com", YT_REWRITE),
    "nothing matches: allow": ({}, "example.org", ALLOW),
}


@pytest.mark.parametrize(("changes", "name", "expected"), PAIRS.values(), ids=PAIRS.keys())
def test_precedence(index: DomainIndex, changes: dict[str, Any], name: str, expected: Decision) -> None:
    assert decide(index, profile(**changes), name) == expected


def test_every_step_named_in_the_docstring_is_tested() -> None:
    steps_in_pairs = {key.split(" beats ")[0] for key in PAIRS if " beats " in key}
    assert {"allow", "bypass", "pause", "deny", "bedtime", "blocked tag", "safe search"} <= steps_in_pairs


# --- schedules ---------------------------------------------------------------

SCHOOL_NIGHT = rule(10, "sun-thu", "20:30", "07:00", tags=("games", "social"))


def berlin(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=BERLIN)


SCHEDULE_CASES = {
    # Wednesday 2026-03-11
    "before the window": ("2026-03-11 20:29", None),
    "at its start": ("2026-03-11 20:30", "rule:10"),
    "after midnight": ("2026-03-12 06:59", "rule:10"),
    "at its end": ("2026-03-12 07:00", None),
    "friday night: no window": ("2026-03-13 23:00", None),
    "thursday night runs into friday": ("2026-03-13 06:00", "rule:10"),
    # Sunday 2026-03-29: clocks go 02:00 -> 03:00 in Berlin; Saturday has no window.
    "DST day, saturday night": ("2026-03-29 01:30", None),
    "DST day, sunday evening": ("2026-03-29 20:30", "rule:10"),
    "DST night, after midnight": ("2026-03-30 06:59", "rule:10"),
    "DST night, at 07:00 summer time": ("2026-03-30 07:00", None),
}


@pytest.mark.parametrize(("local", "blamed"), SCHEDULE_CASES.values(), ids=SCHEDULE_CASES.keys())
def test_rule_window_changes_blocked(index: DomainIndex, local: str, blamed: str | None) -> None:
    kid = profile(rules=(SCHOOL_NIGHT,))
    decision = decide(index, kid, "games.example", now=berlin(local))
    if blamed is None:
        assert decision is ALLOW
    else:
        assert decision == block(Reason.SCHEDULE, category="games", rule=blamed)


def test_rule_and_always_blocked_tag_blame_the_category(index: DomainIndex) -> None:
    kid = profile(rules=(SCHOOL_NIGHT,), blocked_tags=frozenset({"games"}))
    assert decide(index, kid, "games.example", now=berlin("2026-03-11 21:00")) == block(Reason.CATEGORY, category="games")


def test_scheduled_service_keeps_its_full_tag(index: DomainIndex) -> None:
    kid = profile(rules=(rule(11, "daily", "11:00", "13:00", tags=("service:tiktok",)),))
    assert decide(index, kid, "tiktok.example") == block(Reason.SCHEDULE, category="service:tiktok", rule="rule:11")


def test_disabled_and_unreadable_rules_are_left_out(index: DomainIndex) -> None:
    kid = profile(
        rules=(
            rule(12, "daily", "11:00", "13:00", tags=("games",), enabled=False),
            rule(13, "mon-mon", "11:00", "13:00", tags=("social",)),
        )
    )
    snap = snapshot(index, kid)
    assert snap.decide("games.example", 1, snap.default_profile) is ALLOW
    assert snap.decide("social.example", 1, snap.default_profile) is ALLOW
    assert len(snap.problems) == 1 and "rule 13" in snap.problems[0]


# --- overrides ---------------------------------------------------------------

GRANTS = {
    "grant lifts the rule's tag": ((rule(20, "daily", "11:00", "13:00", tags=("video", "games")),), "video", "video.example", ALLOW),
    "grant leaves the rule's other tags": ((rule(20, "daily", "11:00", "13:00", tags=("video", "social")),), "video", "social.example", block(Reason.SCHEDULE, category="social", rule="rule:20")),
    "grant lifts an always-blocked tag": ((), "games", "games.example", ALLOW),
    "grant of a rule lifts the whole rule": ((rule(20, "daily", "11:00", "13:00", tags=("video",)),), "rule:20", "video.example", ALLOW),
    "grant opens its tag at bedtime": (BEDTIME["rules"], "service:youtube", "youtube.example", ALLOW),
    "grant leaves bedtime for other names": (BEDTIME["rules"], "service:youtube", "video.example", BEDTIME_BLOCK),
    "grant of the bedtime rule lifts it": (BEDTIME["rules"], "rule:3", "example.org", ALLOW),
}


@pytest.mark.parametrize(("rules", "target", "name", "expected"), GRANTS.values(), ids=GRANTS.keys())
def test_grant(index: DomainIndex, rules: tuple[RuleData, ...], target: str, name: str, expected: Decision) -> None:
    kid = profile(rules=rules, blocked_tags=frozenset({"games"}), overrides=(override(30, "grant", target, LATER),))
    assert decide(index, kid, name) == expected


def test_grant_expires(index: DomainIndex) -> None:
    kid = profile(blocked_tags=frozenset({"games"}), overrides=(override(30, "grant", "games", LATER),))
    assert decide(index, kid, "games.example", now=LATER - timedelta(seconds=1)) is ALLOW
    assert decide(index, kid, "games.example", now=LATER) == block(Reason.CATEGORY, category="games")


def test_pause_and_its_expiry(index: DomainIndex) -> None:
    kid = profile(**PAUSE)
    assert decide(index, kid, "example.org") == PAUSED
    assert decide(index, kid, "example.org", now=LATER) is ALLOW
    snap = snapshot(index, kid)
    assert snap.default_profile.next_change == LATER.timestamp()


def test_allow_name_override_and_its_expiry(index: DomainIndex) -> None:
    kid = profile(blocked_tags=frozenset({"games"}), overrides=(override(31, "allow_name", "games.example", LATER),))
    expected = Decision(Action.ALLOW, Reason.ALLOW_LIST, list_id="override:31", rule="games.example")
    assert decide(index, kid, "play.games.example") == expected
    assert decide(index, kid, "play.games.example", now=LATER) == block(Reason.CATEGORY, category="games")


# --- bedtime ---------------------------------------------------------------

BEDTIME_CASES = {
    "homework site": ("homework.example", ALLOW),
    "homework subdomain": ("www.homework.example", ALLOW),
    "anything else": ("example.org", BEDTIME_BLOCK),
    "second rule's site too": ("school.example", ALLOW),
}


@pytest.mark.parametrize(("name", "expected"), BEDTIME_CASES.values(), ids=BEDTIME_CASES.keys())
def test_bedtime_allows_only_its_names(index: DomainIndex, name: str, expected: Decision) -> None:
    rules = (*BEDTIME["rules"], rule(4, "daily", "11:30", "12:30", allow=("school.example",)))
    assert decide(index, profile(rules=rules), name) == expected


def test_bedtime_over(index: DomainIndex) -> None:
    assert decide(index, profile(**BEDTIME), "example.org", now=berlin("2026-03-11 14:00")) is ALLOW


# --- safe search and bypass --------------------------------------------------

SAFE_SEARCH = {
    "off": ("off", "www.youtube.com", None),
    "on: google": ("on", "www.google.de", "forcesafesearch.google.com"),
    "on: youtube moderate": ("on", "www.youtube.com", "restrictmoderate.youtube.com"),
    "strict: youtube strict": ("strict", "www.youtube.com", "restrict.youtube.com"),
    "strict: other google names untouched": ("strict", "mail.google.com", None),
}


@pytest.mark.parametrize(("level", "name", "target"), SAFE_SEARCH.values(), ids=SAFE_SEARCH.keys())
def test_safe_search_levels(index: DomainIndex, level: str, name: str, target: str | None) -> None:
    decision = decide(index, profile(safe_search=level), name)
    assert decision.target == target
    assert decision.action is (Action.ALLOW if target is None else Action.REWRITE)
    assert not decision.blocked


BYPASS_CASES = {
    "canary A": ("use-application-dns.net", 1, Action.LOCAL_NXDOMAIN),
    "canary AAAA": ("use-application-dns.net", 28, Action.LOCAL_NXDOMAIN),
    "relay HTTPS": ("mask-h2.icloud.com", 65, Action.LOCAL_NXDOMAIN),
    "DDR SVCB": ("_dns.resolver.arpa", 64, Action.LOCAL_NODATA),
    "DDR A": ("_dns.resolver.arpa", 1, Action.LOCAL_NODATA),
    "unrelated": ("example.org", 1, Action.ALLOW),
}


@pytest.mark.parametrize(("name", "qtype", "action"), BYPASS_CASES.values(), ids=BYPASS_CASES.keys())
def test_bypass_names_per_qtype(index: DomainIndex, name: str, qtype: int, action: Action) -> None:
    decision = decide(index, profile(bypass_protection=True), name, qtype=qtype)
    assert decision.action is action
    assert not decision.blocked


# --- devices -------------------------------------------------------------------


def client(key: str) -> ClientId:
    return ClientId(key, "192.168.1.23", None, None, "ip-only")


def test_devices_map_to_profiles(index: DomainIndex) -> None:
    mia = profile(2, blocked_tags=frozenset({"games"}))
    snap = snapshot(index, profile(), mia, devices=[device(1, "mac:aa:bb:cc:dd:ee:ff", 2), device(2, "ip:192.168.1.9", 1)])
    assert snap.device_profile == {"mac:aa:bb:cc:dd:ee:ff": 2, "ip:192.168.1.9": 1}
    assert snap.profile_for(client("mac:aa:bb:cc:dd:ee:ff")) is snap.profiles[2]
    assert snap.profile_for(client("ip:192.168.1.9")) is snap.profiles[1]
    assert snap.profile_for(client("ip:192.168.1.99")) is snap.default_profile
    assert snap.default_profile_id == 1 and snap.version == 7
    mia_policy = snap.profile_for(client("mac:aa:bb:cc:dd:ee:ff"))
    assert snap.decide("games.example", 1, mia_policy).blocked
    assert not snap.decide("games.example", 1, snap.default_profile).blocked


# --- next change and TTL cap ---------------------------------------------------

NEXT_CHANGE = {
    "nothing scheduled": ((), (), NOON, None),
    "window starts tonight": ((SCHOOL_NIGHT,), (), NOON, berlin("2026-03-11 20:30")),
    "window ends in the morning": ((SCHOOL_NIGHT,), (), berlin("2026-03-11 23:00"), berlin("2026-03-12 07:00")),
    "override expires first": ((SCHOOL_NIGHT,), (override(40, "pause", None, LATER),), NOON, LATER),
    "disabled rule does not count": ((replace(SCHOOL_NIGHT, enabled=False),), (), NOON, None),
    "DST: saturday 23:00 to sunday evening": ((SCHOOL_NIGHT,), (), berlin("2026-03-28 23:00"), berlin("2026-03-29 20:30")),
}


@pytest.mark.parametrize(("rules", "overrides", "now", "expected"), NEXT_CHANGE.values(), ids=NEXT_CHANGE.keys())
def test_next_change(
    index: DomainIndex,
    rules: tuple[RuleData, ...],
    overrides: tuple[OverrideData, ...],
    now: datetime,
    expected: datetime | None,
) -> None:
    snap = snapshot(index, profile(rules=rules, overrides=overrides), now=now)
    change = snap.default_profile.next_change
    assert change == (None if expected is None else expected.timestamp())


def test_next_change_across_dst_is_22_hours_30_minutes(index: DomainIndex) -> None:
    now = berlin("2026-03-28 23:00")
    snap = snapshot(index, profile(rules=(SCHOOL_NIGHT,)), now=now)
    # Wall clock says 21.5 hours, but an hour is skipped at 02:00.
    assert snap.ttl_cap(snap.default_profile, now.timestamp()) == 20 * 3600 + 30 * 60


TTL = {
    "an hour ahead": (3600.0, 3600),
    "rounded down": (90.7, 90),
    "less than a second": (0.4, 1),
    "already passed": (-5.0, 1),
}


@pytest.mark.parametrize(("ahead", "cap"), TTL.values(), ids=TTL.keys())
def test_ttl_cap(index: DomainIndex, ahead: float, cap: int) -> None:
    snap = snapshot(index, profile(**PAUSE))
    assert snap.ttl_cap(snap.default_profile, LATER.timestamp() - ahead) == cap


def test_ttl_cap_none_when_nothing_scheduled(index: DomainIndex) -> None:
    snap = snapshot(index)
    assert snap.ttl_cap(snap.default_profile, NOON.timestamp()) is None


# --- memo and explain ------------------------------------------------------------


def test_decisions_are_memoised(index: DomainIndex) -> None:
    snap = snapshot(index, profile(safe_search="on", denied_names=frozenset({"example.org"})))
    for name in ("www.google.com", "example.org", "tiktok.example"):
        first = snap.decide(name, 1, snap.default_profile)
        assert snap.decide(name, 1, snap.default_profile) is first


def test_explain_names_the_deciding_step(index: DomainIndex) -> None:
    kid = profile(blocked_tags=frozenset({"games"}), bypass_protection=True, **BEDTIME)
    snap = snapshot(index, kid)
    explanation = snap.explain("homework.example", 1, snap.default_profile)
    assert explanation.decision is ALLOW
    assert [check.step for check in explanation.checks] == list(STEPS)
    assert explanation.deciding_step is None
    blocked = snap.explain("games.example", 1, snap.default_profile)
    assert blocked.deciding_step == "bedtime"
    assert blocked.decision == snap.decide("games.example", 1, snap.default_profile)


# --- performance note (printed, never asserted) ----------------------------------



@pytest.mark.parametrize(
    ("target", "blocked"),
    [("cdn.example", False), ("adult.example", True), ("games.example", True), ("mask.icloud.com", True)],
    ids=["untagged-cdn", "always-blocked-tag", "rule-blocked-tag", "bypass-name"],
)
def test_alias_targets_are_judged_by_what_blocks_a_site_anywhere(
    index: DomainIndex, target: str, blocked: bool
) -> None:
    # Bedtime (everything but homework.example) and a pause are about the name asked;
    # the names an allowed answer's CNAMEs lead to are judged only by tags, deny and bypass.
    kid = profile(
        blocked_tags=frozenset({"adult"}),
        bypass_protection=True,
        rules=(
            rule(1, "daily", "00:00", "24:00", allow=["homework.example"]),
            rule(2, "daily", "00:00", "24:00", tags=["games"]),
        ),
    )
    snap = snapshot(index, kid)
    policy = snap.profiles[kid.id]
    assert snap.decide("cdn.example", 1, policy).blocked  # asked directly: bedtime blocks it
    alias = snap.decide_alias(target, 1, policy)
    assert alias.action is not Action.ALLOW if blocked else alias.action is Action.ALLOW
    paused = profile(overrides=(override(9, "pause", None, NOON + timedelta(hours=1)),))
    paused_snap = snapshot(index, paused)
    assert paused_snap.decide_alias("cdn.example", 1, paused_snap.profiles[paused.id]).action is Action.ALLOW


# --- daily budgets -----------------------------------------------------------------

GAMES_BUDGET = BudgetData(50, 1, "games", 60, "mon-fri")
TIKTOK_BUDGET = BudgetData(51, 1, "service:tiktok", 30, "daily")
VIDEO_BUDGET = BudgetData(52, 1, "video", 45, "daily")
WEDNESDAY = 20260311  # NOON's day in Berlin


SATURDAY_NOON = berlin("2026-03-14 12:00")
GRANT = override(60, "grant", "games", LATER)
BUDGET_BLOCK = block(Reason.BUDGET, category="games", rule="budget:50")

# changes to the profile, minutes used (profile 1 unless said), now, day the minutes were read for, name, decision
BUDGET_CASES: dict[str, tuple[dict[str, Any], dict[tuple[int, str], int], datetime, int | None, str, Decision]] = {
    "not yet spent": ({}, {(1, "games"): 59}, NOON, WEDNESDAY, "games.example", ALLOW),
    "exactly spent": ({}, {(1, "games"): 60}, NOON, WEDNESDAY, "games.example", BUDGET_BLOCK),
    "more than spent": ({}, {(1, "games"): 75}, NOON, WEDNESDAY, "www.games.example", BUDGET_BLOCK),
    "spent on a day the budget does not apply": ({}, {(1, "games"): 90}, SATURDAY_NOON, 20260314, "games.example", ALLOW),
    "minutes read for yesterday": ({}, {(1, "games"): 90}, NOON, 20260310, "games.example", ALLOW),
    "minutes not read": ({}, {}, NOON, None, "games.example", ALLOW),
    "another profile's minutes": ({}, {(2, "games"): 90}, NOON, WEDNESDAY, "games.example", ALLOW),
    "another tag's minutes": ({}, {(1, "social"): 90}, NOON, WEDNESDAY, "games.example", ALLOW),
    "spent: other tags stay open": ({}, {(1, "games"): 60}, NOON, WEDNESDAY, "social.example", ALLOW),
    "grant lifts a spent budget": ({"overrides": (GRANT,)}, {(1, "games"): 60}, NOON, WEDNESDAY, "games.example", ALLOW),
    "grant ended": ({"overrides": (GRANT,)}, {(1, "games"): 60}, LATER, WEDNESDAY, "games.example", BUDGET_BLOCK),
    "grant of another tag": ({"overrides": (override(61, "grant", "social", LATER),)}, {(1, "games"): 60}, NOON, WEDNESDAY, "games.example", BUDGET_BLOCK),
    "service budget names the service": ({"budgets": (TIKTOK_BUDGET,)}, {(1, "service:tiktok"): 30}, NOON, WEDNESDAY, "tiktok.example", block(Reason.BUDGET, category="tiktok", rule="budget:51")),
    "a name with two tags": ({"budgets": (VIDEO_BUDGET,)}, {(1, "video"): 45}, NOON, WEDNESDAY, "youtube.example", block(Reason.BUDGET, category="video", rule="budget:52")),
    "always blocked keeps its reason": ({"blocked_tags": frozenset({"games"})}, {(1, "games"): 60}, NOON, WEDNESDAY, "games.example", block(Reason.CATEGORY, category="games")),
    "spent and scheduled: the budget is blamed": ({"rules": (rule(8, "daily", "11:00", "13:00", tags=("games",)),)}, {(1, "games"): 60}, NOON, WEDNESDAY, "games.example", BUDGET_BLOCK),
    "not spent, scheduled: the rule blocks": ({"rules": (rule(8, "daily", "11:00", "13:00", tags=("games",)),)}, {(1, "games"): 10}, NOON, WEDNESDAY, "games.example", block(Reason.SCHEDULE, category="games", rule="rule:8")),
    "deny list comes first": ({"denied_names": frozenset({"games.example"})}, {(1, "games"): 60}, NOON, WEDNESDAY, "games.example", block(Reason.DENY_LIST, list_id="deny", rule="games.example")),
}  # fmt: skip


@pytest.mark.parametrize(
    ("changes", "used", "now", "usage_day", "name", "expected"), BUDGET_CASES.values(), ids=BUDGET_CASES.keys()
)
def test_budget(
    index: DomainIndex,
    changes: dict[str, Any],
    used: dict[tuple[int, str], int],
    now: datetime,
    usage_day: int | None,
    name: str,
    expected: Decision,
) -> None:
    kid = profile(**{"budgets": (GAMES_BUDGET,), **changes})
    data = PolicyData(version=7, profiles=(kid,), devices=(), usage_day=usage_day, used_minutes=used)
    snap = build_snapshot(data, index, BERLIN, now)
    assert snap.decide(name, 1, snap.profiles[1]) == expected


def test_a_spent_budget_blocks_cname_targets_too(index: DomainIndex) -> None:
    kid = profile(budgets=(GAMES_BUDGET,))
    data = PolicyData(version=7, profiles=(kid,), devices=(), usage_day=WEDNESDAY, used_minutes={(1, "games"): 60})
    snap = build_snapshot(data, index, BERLIN, NOON)
    assert snap.decide_alias("cdn.games.example", 1, snap.profiles[1]) == BUDGET_BLOCK


def test_the_profile_keeps_its_budgets_of_the_day_for_explaining(index: DomainIndex) -> None:
    kid = profile(budgets=(GAMES_BUDGET, VIDEO_BUDGET))
    used = {(1, "games"): 45, (1, "video"): 50}
    data = PolicyData(version=7, profiles=(kid,), devices=(), usage_day=WEDNESDAY, used_minutes=used)
    uses = build_snapshot(data, index, BERLIN, NOON).profiles[1].budgets
    assert uses == (BudgetUse(GAMES_BUDGET, WEDNESDAY, True, 45), BudgetUse(VIDEO_BUDGET, WEDNESDAY, True, 50))
    assert [(use.remaining, use.spent) for use in uses] == [(15, False), (0, True)]
    saturday_data = replace(data, usage_day=20260314, used_minutes={(1, "video"): 5})
    saturday = build_snapshot(saturday_data, index, BERLIN, SATURDAY_NOON).profiles[1].budgets
    assert [(use.applies, use.used, use.remaining) for use in saturday] == [(False, 0, None), (True, 5, 40)]


def test_a_budget_with_unreadable_days_is_left_out(index: DomainIndex) -> None:
    kid = profile(budgets=(replace(GAMES_BUDGET, days="mon-fry"),))
    data = PolicyData(version=7, profiles=(kid,), devices=(), usage_day=WEDNESDAY, used_minutes={(1, "games"): 90})
    snap = build_snapshot(data, index, BERLIN, NOON)
    assert snap.decide("games.example", 1, snap.profiles[1]) is ALLOW
    assert len(snap.problems) == 1 and "budget 50" in snap.problems[0]


BUDGET_NEXT_CHANGE = {
    "spent: local midnight": ((), NOON, 60, berlin("2026-03-12 00:00")),
    "minutes left: the next minute": ((), NOON + timedelta(seconds=20), 59, NOON + timedelta(minutes=1)),
    "minutes not read: the next minute": ((), NOON, None, NOON + timedelta(minutes=1)),
    "spent, a window starts before midnight": ((SCHOOL_NIGHT,), NOON, 60, berlin("2026-03-11 20:30")),
    "spent, after the window started: midnight": ((SCHOOL_NIGHT,), berlin("2026-03-11 21:00"), 60, berlin("2026-03-12 00:00")),
    "saturday, budget not applying: midnight": ((), SATURDAY_NOON, 0, berlin("2026-03-15 00:00")),
    # Sundays (the budget does not apply). 2026-03-29 has 23 hours in Berlin:
    # from 01:00 (CET) midnight is 22 hours away.
    "DST spring day": ((), berlin("2026-03-29 01:00"), 0, datetime(2026, 3, 29, 22, 0, tzinfo=UTC)),
    # 2026-10-25 has 25 hours: from 00:30 (CEST) midnight is 24.5 hours away.
    "DST autumn day": ((), berlin("2026-10-25 00:30"), 0, datetime(2026, 10, 25, 23, 0, tzinfo=UTC)),
}  # fmt: skip


@pytest.mark.parametrize(
    ("rules", "now", "used", "expected"), BUDGET_NEXT_CHANGE.values(), ids=BUDGET_NEXT_CHANGE.keys()
)
def test_a_budget_makes_the_next_minute_or_local_midnight_a_change(
    index: DomainIndex, rules: tuple[RuleData, ...], now: datetime, used: int | None, expected: datetime
) -> None:
    kid = profile(rules=rules, budgets=(GAMES_BUDGET,))
    day, minutes = (None, {}) if used is None else (local_day(now, BERLIN), {(1, "games"): used})
    data = PolicyData(version=7, profiles=(kid,), devices=(), usage_day=day, used_minutes=minutes)
    snap = build_snapshot(data, index, BERLIN, now)
    assert snap.default_profile.next_change == expected.timestamp()


def test_midnight_across_dst_in_hours(index: DomainIndex) -> None:
    # Sundays: the budget does not apply, the day still resets.
    spring, autumn = berlin("2026-03-29 01:00"), berlin("2026-10-25 00:30")
    for now, hours in ((spring, 22), (autumn, 24.5)):
        snap = snapshot(index, profile(budgets=(GAMES_BUDGET,)), now=now)
        assert snap.ttl_cap(snap.default_profile, now.timestamp()) == hours * 3600
