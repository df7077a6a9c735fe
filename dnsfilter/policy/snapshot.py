"""The family policy as it stands right now, ready for the query path.

``build_snapshot`` turns what the store read (``PolicyData``) and the compiled
list index into one immutable ``PolicySnapshot``: per profile, the tags
blocked at this minute as a mask, whether it is paused, its allow/deny maps,
the bedtime allow list if a bedtime rule is in force, and when any of that
next changes. The service rebuilds it on every policy change, once a minute
and at ``next_change``, and swaps it in with one assignment::

    snapshot = build_snapshot(store.load_all(now), index, zone, now)
    profile = snapshot.profile_for(client)
    decision = snapshot.decide(qname, qtype, profile)
    ttl = min(upstream_ttl, snapshot.ttl_cap(profile, now) or upstream_ttl)

The order in which a query is decided (allow list, bypass protection, pause,
deny list, bedtime, blocked tags, safe search) is documented in
``dnsfilter/policy/precedence.py``.

Daily budgets ("60 minutes of games a day", ``dnsfilter/store/budgets.py``)
are judged here against the minutes the store read for ``data.usage_day``:
a budget that applies on today's local weekday and whose used minutes have
reached its minutes blocks its tag for the profile, like a blocked tag,
until the day resets at local midnight (which is therefore always one of the
profile's next changes). Minutes read for another day than today's tell
nothing about today, so then no budget is spent. The keeper reads the
minutes each minute, so a budget running out takes effect within a minute of
the query log storing the last one; while a budget of today has minutes
left, the next minute is a change too, so that devices do not keep an
allowed answer past the moment it may run out.

Everything here is pure: ``now`` comes in as an argument, nothing reads the
clock or does I/O. A rule the schedule module cannot read (the store checks
only the shape of its days) is left out and reported in ``problems``; a
snapshot that refused to build would leave the family on a stale policy.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from types import MappingProxyType
from zoneinfo import ZoneInfo

from dnsfilter.policy.budgets import local_day, use_on
from dnsfilter.policy.decision import Action, Decision, Reason
from dnsfilter.policy.domains import DomainMap
from dnsfilter.policy.identity import ClientId
from dnsfilter.policy.memo import make_room
from dnsfilter.policy.precedence import Check, ProfilePolicy, decide
from dnsfilter.policy.records import (
    NEW_DEVICES_PROFILE,
    BudgetUse,
    OverrideData,
    PolicyData,
    ProfileData,
    RuleData,
)
from dnsfilter.policy.safesearch import SafeSearchLevel
from dnsfilter.policy.schedule import Window, active_windows, next_change, parse_window
from dnsfilter.policy.tags import SERVICE_PREFIX, NoTags, TagIndex, mask_of

__all__ = ["Explanation", "PolicySnapshot", "build_snapshot", "configured_snapshot", "empty_snapshot"]

# A home asks a few thousand names a day; the bound only stops a device that
# makes up names from growing the memo without end (sized with the resolver's
# decision memo, dns/profiles.py).
_MEMO_LIMIT = 8192

# A grant whose target is "rule:<id>" lifts that whole rule; any other target
# is a tag ("adult", "service:tiktok").
RULE_GRANT_PREFIX = "rule:"


@dataclass(frozen=True, slots=True)
class Explanation:
    """Which step decided, and what every step tried found."""

    decision: Decision
    checks: tuple[Check, ...]

    @property
    def deciding_step(self) -> str | None:
        """The step that matched, or None when the name was simply allowed."""
        return next((check.step for check in self.checks if check.matched), None)


@dataclass(frozen=True, slots=True, eq=False)
class PolicySnapshot:
    """Every profile's policy at ``built_at``; replaced whole, never changed.

    The decision memo is the one mutable part: it only remembers what
    ``decide`` would answer again, which holds because nothing it depends on
    changes during the snapshot's life.
    """

    version: int
    built_at: float  # POSIX seconds
    index: TagIndex
    profiles: Mapping[int, ProfilePolicy]
    default_profile_id: int
    device_profile: Mapping[str, int]  # device key ("mac:..." / "ip:...") -> profile id
    # Where a device not yet recorded belongs: the profile chosen for new
    # devices (perhaps the strictest), so it is never filtered less in the
    # seconds before it is recorded than after.
    new_device_profile_id: int | None = None
    problems: tuple[str, ...] = ()
    _by_device: dict[str, ProfilePolicy] = field(default_factory=dict, init=False, repr=False)
    _memo: dict[tuple[int, str, int], Decision] = field(default_factory=dict, init=False, repr=False)
    _alias_memo: dict[tuple[int, str, int], Decision] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        # One lookup per query instead of two: device key straight to its profile.
        self._by_device.update(
            (key, self.profiles[profile_id]) for key, profile_id in self.device_profile.items()
        )

    @property
    def default_profile(self) -> ProfilePolicy:
        return self.profiles[self.default_profile_id]

    @property
    def new_device_profile(self) -> ProfilePolicy:
        chosen = self.new_device_profile_id
        return self.profiles[self.default_profile_id if chosen is None else chosen]

    def knows(self, client: ClientId) -> bool:
        """Whether the device is recorded (has a profile of its own)."""
        return client.key in self._by_device

    def profile_for(self, client: ClientId) -> ProfilePolicy:
        """The profile of the device asking; devices not yet recorded get the new-devices profile."""
        profile = self._by_device.get(client.key)
        return self.new_device_profile if profile is None else profile

    def decide(self, qname: str, qtype: int, profile: ProfilePolicy) -> Decision:
        """What to do with ``qname`` (normalised) for ``profile``; memoised."""
        key = (profile.id, qname, qtype)
        decision = self._memo.get(key)
        if decision is None:
            decision = decide(qname, qtype, profile, self.index)
            if len(self._memo) >= _MEMO_LIMIT:
                make_room(self._memo, _MEMO_LIMIT)
            self._memo[key] = decision
        return decision

    def decide_alias(self, qname: str, qtype: int, profile: ProfilePolicy) -> Decision:
        """The decision for a name a CNAME in an allowed answer leads to (see
        precedence.py: pause and bedtime judge only the name asked); memoised."""
        key = (profile.id, qname, qtype)
        decision = self._alias_memo.get(key)
        if decision is None:
            decision = decide(qname, qtype, profile, self.index, alias=True)
            if len(self._alias_memo) >= _MEMO_LIMIT:
                make_room(self._alias_memo, _MEMO_LIMIT)
            self._alias_memo[key] = decision
        return decision

    def explain(self, qname: str, qtype: int, profile: ProfilePolicy) -> Explanation:
        """The decision with every step tried, for ``dnsfilter explain`` (not memoised)."""
        trace: list[Check] = []
        decision = decide(qname, qtype, profile, self.index, trace)
        return Explanation(decision, tuple(trace))

    def ttl_cap(self, profile: ProfilePolicy, now: float) -> int | None:
        """Seconds an allowed answer may be cached before ``profile`` changes
        (at least 1); None when nothing is scheduled."""
        if profile.next_change is None:
            return None
        # Rounded down: a device must not keep an answer past the change.
        return max(1, math.floor(profile.next_change - now))


def build_snapshot(
    data: PolicyData, index: TagIndex, zone: ZoneInfo, now: datetime, deny: Iterable[str] = ()
) -> PolicySnapshot:
    """The snapshot of ``data`` at ``now`` (an aware datetime) in the family's ``zone``.

    ``deny`` names (the configuration's ``blocking.deny``) are blocked for
    every profile, like each profile's own deny list.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime (for example in UTC).")
    default = next((profile for profile in data.profiles if profile.is_default), None)
    if default is None:
        raise ValueError("The policy has no default profile; every unknown device needs one.")
    problems: list[str] = []
    config_deny = tuple(deny)
    profiles = {
        profile.id: _profile_policy(
            profile, index, zone, now, problems, config_deny, _budget_uses(profile, data, zone, now, problems)
        )
        for profile in data.profiles
    }
    devices = {device.key: device.profile_id for device in data.devices if device.profile_id in profiles}
    chosen = data.settings.get(NEW_DEVICES_PROFILE)
    return PolicySnapshot(
        version=data.version,
        built_at=now.timestamp(),
        index=index,
        profiles=MappingProxyType(profiles),
        default_profile_id=default.id,
        device_profile=MappingProxyType(devices),
        new_device_profile_id=chosen if isinstance(chosen, int) and chosen in profiles else None,
        problems=tuple(problems),
    )


def _profile_policy(
    profile: ProfileData,
    index: TagIndex,
    zone: ZoneInfo,
    now: datetime,
    problems: list[str],
    config_deny: tuple[str, ...],
    budgets: tuple[BudgetUse, ...],
) -> ProfilePolicy:
    moment = now.timestamp()
    overrides = [item for item in profile.overrides if _epoch(item.expires_at) > moment]
    grants = {item.target for item in overrides if item.kind == "grant" and item.target}
    lifted_rules = {target[len(RULE_GRANT_PREFIX) :] for target in grants if target.startswith(RULE_GRANT_PREFIX)}
    granted = mask_of(index.tag_names, grants)

    rules = _readable_rules(profile, problems)
    windows = [window for _rule, window in rules]
    active = [rules[i][0] for i in active_windows(windows, now, zone)]
    in_force = [rule for rule in active if str(rule.id) not in lifted_rules]

    always = mask_of(index.tag_names, profile.blocked_tags) & ~granted
    tag_blocks = {bit: _category_block(index.tag_names[bit]) for bit in _bits(always)}
    spent = 0
    for use in budgets:
        if not use.spent:
            continue
        budget_mask = mask_of(index.tag_names, (use.budget.tag,)) & ~granted
        for bit in _bits(budget_mask & ~always & ~spent):
            tag_blocks[bit] = _budget_block(use)
        spent |= budget_mask
    scheduled = 0
    for rule in in_force:
        if rule.action != "block_tags":
            continue
        rule_mask = mask_of(index.tag_names, rule.tags) & ~granted
        for bit in _bits(rule_mask & ~always & ~spent & ~scheduled):
            tag_blocks[bit] = Decision(
                Action.BLOCK, Reason.SCHEDULE, category=index.tag_names[bit], rule=f"rule:{rule.id}"
            )
        scheduled |= rule_mask

    bedtime_rules = [rule for rule in in_force if rule.action == "allow_only"]
    allow_only = DomainMap((name, name) for rule in bedtime_rules for name in rule.allow) if bedtime_rules else None
    bedtime = Decision(Action.BLOCK, Reason.SCHEDULE, rule=f"rule:{bedtime_rules[0].id}") if bedtime_rules else None

    pauses = [item for item in overrides if item.kind == "pause"]
    paused = Decision(Action.BLOCK, Reason.PAUSED, rule=f"override:{pauses[0].id}") if pauses else None

    return ProfilePolicy(
        id=profile.id,
        name=profile.name,
        blocked=always | spent | scheduled,
        always_blocked=always,
        granted=granted,
        tag_blocks=MappingProxyType(tag_blocks),
        paused=paused,
        allow=DomainMap(_allow_entries(profile.allowed_names, overrides)),
        deny=DomainMap(_deny_entries(profile.denied_names, config_deny)),
        allow_only=allow_only,
        bedtime=bedtime,
        safe_search=SafeSearchLevel(profile.safe_search),
        bypass_protection=profile.bypass_protection,
        block_mode=profile.block_mode,
        next_change=_next_change(windows, overrides, now, zone, budgets),
        active_rules=tuple(rule.id for rule in in_force),
        active_overrides=tuple(item.id for item in overrides),
        budgets=budgets,
    )


def _budget_uses(
    profile: ProfileData, data: PolicyData, zone: ZoneInfo, now: datetime, problems: list[str]
) -> tuple[BudgetUse, ...]:
    """The profile's budgets today, with the minutes used when they were read for today."""
    today = local_day(now, zone)
    uses: list[BudgetUse] = []
    for budget in profile.budgets:
        used = data.used_minutes.get((profile.id, budget.tag), 0) if data.usage_day == today else None
        try:
            uses.append(use_on(budget, today, used))
        except ValueError as error:
            problems.append(f"profile {profile.name!r}, budget {budget.id}: {error} The budget is left out.")
    return tuple(uses)


def _readable_rules(profile: ProfileData, problems: list[str]) -> list[tuple[RuleData, Window]]:
    rules: list[tuple[RuleData, Window]] = []
    for rule in profile.rules:
        if not rule.enabled:
            continue
        if rule.action not in ("block_tags", "allow_only"):
            problems.append(f"profile {profile.name!r}, rule {rule.id}: unknown action {rule.action!r}; left out.")
            continue
        try:
            rules.append((rule, parse_window(rule.days, rule.start, rule.end)))
        except ValueError as error:
            problems.append(f"profile {profile.name!r}, rule {rule.id}: {error} The rule is left out.")
    return rules


def _allow_entries(names: Iterable[str], overrides: Iterable[OverrideData]) -> list[tuple[str, Decision]]:
    entries = [
        (item.target, Decision(Action.ALLOW, Reason.ALLOW_LIST, list_id=f"override:{item.id}", rule=item.target))
        for item in overrides
        if item.kind == "allow_name" and item.target
    ]
    # The permanent entry wins a tie: "it is on the allow list" outlives the override.
    entries += [
        (name, Decision(Action.ALLOW, Reason.ALLOW_LIST, list_id="allow", rule=name)) for name in sorted(names)
    ]
    return entries


def _deny_entries(names: Iterable[str], config_deny: Iterable[str]) -> list[tuple[str, Decision]]:
    entries = [(name, Decision(Action.BLOCK, Reason.DENY_LIST, list_id="config", rule=name)) for name in config_deny]
    # The profile's own entry wins a tie: it is the one the parent can see and remove.
    entries += [
        (name, Decision(Action.BLOCK, Reason.DENY_LIST, list_id="deny", rule=name)) for name in sorted(names)
    ]
    return entries


def _next_change(
    windows: list[Window],
    overrides: list[OverrideData],
    now: datetime,
    zone: ZoneInfo,
    budgets: tuple[BudgetUse, ...],
) -> float | None:
    changes = [_epoch(item.expires_at) for item in overrides]
    window_change = next_change(windows, now, zone)
    if window_change is not None:
        changes.append(window_change.timestamp())
    if budgets:
        changes.append(_next_midnight(now, zone))
    if any(use.applies and not use.spent for use in budgets):
        # Each minute may use up the rest: the keeper reads the minutes again then.
        changes.append((math.floor(now.timestamp() / 60) + 1) * 60.0)
    return min(changes, default=None)


def _next_midnight(now: datetime, zone: ZoneInfo) -> float:
    """When the family's next day starts: budgets count from zero again."""
    tomorrow = now.astimezone(zone).date() + timedelta(days=1)
    # A midnight that a clock change skips (zones that change at 00:00) gives
    # the moment the clocks jump, which is when the new day starts.
    return datetime.combine(tomorrow, time(0), tzinfo=zone).timestamp()


def _budget_block(use: BudgetUse) -> Decision:
    tag = use.budget.tag
    category = tag[len(SERVICE_PREFIX) :] if tag.startswith(SERVICE_PREFIX) else tag
    return Decision(Action.BLOCK, Reason.BUDGET, category=category, rule=f"budget:{use.budget.id}")


def _category_block(tag: str) -> Decision:
    if tag.startswith(SERVICE_PREFIX):
        return Decision(Action.BLOCK, Reason.SERVICE, category=tag[len(SERVICE_PREFIX) :])
    return Decision(Action.BLOCK, Reason.CATEGORY, category=tag)


def _bits(mask: int) -> list[int]:
    return [bit for bit in range(mask.bit_length()) if mask >> bit & 1]


def _epoch(moment: datetime) -> float:
    # The store hands out aware UTC; a naive value (some SQLite drivers) is
    # UTC too, and must not be read as the Pi's local time.
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()



def configured_snapshot(
    index: TagIndex, blocked: Iterable[str], block_mode: str, deny: Iterable[str] = (), safe_search: str = "off"
) -> PolicySnapshot:
    """One default profile for every device, as the configuration describes it:
    used while the policy database cannot be reached."""
    epoch = datetime.fromtimestamp(0, UTC)
    profile = ProfileData(
        id=0, name="default", safe_search=safe_search, bypass_protection=True,
        block_mode=block_mode, is_default=True, created_at=epoch, blocked_tags=frozenset(blocked),
    )
    data = PolicyData(version=0, profiles=(profile,), devices=())
    return build_snapshot(data, index, ZoneInfo("UTC"), epoch, deny)


def empty_snapshot() -> PolicySnapshot:
    """A policy without lists: what a resolver holds before the family
    policy has been read (its listeners are not open yet)."""
    return configured_snapshot(NoTags(), (), "null_ip")
