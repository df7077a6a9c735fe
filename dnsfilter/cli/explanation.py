"""``dnsfilter explain`` in plain words for a parent.

Text that came from the network or the policy (DHCP names, labels, profile
names) is shown through ``shown``, so a device cannot write escape sequences
to the parent's terminal by naming itself.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from dnsfilter.cli.text import describe_device, type_name
from dnsfilter.errors import shown
from dnsfilter.policy.decision import Action, Reason
from dnsfilter.policy.precedence import STEPS
from dnsfilter.policy.records import BudgetUse, OverrideData, ProfileData, RuleData
from dnsfilter.policy.snapshot import RULE_GRANT_PREFIX, Explanation
from dnsfilter.policy.tags import SERVICE_PREFIX
from dnsfilter.service.explain import NameExplanation, Subject

_TYPE_A = 1
_TYPE_AAAA = 28


def format_explanation(explanation: NameExplanation) -> str:
    subject = explanation.subject
    zone = explanation.zone
    out = [f"{explanation.name} ({type_name(explanation.qtype)} query), at {_moment(explanation.at, zone)}"]
    out += _subject_lines(subject)
    out.append(f"  Answer: {_answer(explanation)}.")
    out.append(f"  Why: {_why(explanation)}.")
    out.append("  Steps tried in order (the first that matches decides):")
    out += _step_lines(explanation.decided)
    out += _in_force_lines(subject, zone)
    out += _budget_lines(subject)
    out += _list_lines(explanation)
    out += [f"  Note: {shown(problem)}" for problem in explanation.problems]
    return "\n".join(out)


def _subject_lines(subject: Subject) -> list[str]:
    profile = f'"{shown(subject.profile.name)}"'
    if subject.kind == "device" and subject.device is not None:
        device = subject.device
        where = f", address {device.ip}" if device.ip else ""
        return [
            f"  Device: {describe_device(device)}, {shown(device.key)}{where}",
            f"  Profile: {profile}",
        ]
    if subject.kind == "profile":
        members = ", ".join(describe_device(device) for device in subject.members) or "none yet"
        return [f"  Profile: {profile} (its devices: {members})"]
    return [
        "  No device given: this is what a device the filter has not seen before gets.",
        f"  Profile: {profile} (where new devices go)",
    ]


def _answer(explanation: NameExplanation) -> str:
    decision = explanation.decided.decision
    if decision.action is Action.ALLOW:
        return "allowed"
    if decision.action is Action.REWRITE:
        return f"rewritten to the safe-search host {decision.target}"
    if decision.action is Action.LOCAL_NXDOMAIN:
        return 'answered "does not exist" (bypass protection)'
    if decision.action is Action.LOCAL_NODATA:
        return 'answered "no records" (bypass protection)'
    if explanation.subject.policy.block_mode == "nxdomain":
        return 'BLOCKED (answered "does not exist")'
    address = {_TYPE_A: "0.0.0.0", _TYPE_AAAA: "::"}.get(explanation.qtype)
    return f"BLOCKED (answered {address})" if address else "BLOCKED (answered with no records)"


def _why(explanation: NameExplanation) -> str:
    decision = explanation.decided.decision
    profile = explanation.subject.profile
    zone = explanation.zone
    reason = decision.reason
    rule = shown(decision.rule or "")
    if reason is Reason.ALLOW_LIST:
        if decision.list_id and decision.list_id.startswith("override:"):
            override = _override(profile, decision.list_id)
            return f"{rule} is allowed by a temporary override: {_override_text(override, zone)}"
        return f"{rule} is on the allow list of this profile"
    if reason is Reason.BYPASS and decision.action is Action.LOCAL_NODATA:
        return (
            "devices ask this name to find an encrypted resolver to switch to; "
            "answering that there is none keeps them using this filter"
        )
    if reason is Reason.BYPASS:
        return (
            "devices ask this name before switching to their own encrypted DNS or relay (Firefox DNS over "
            "HTTPS, iCloud Private Relay); answering that it does not exist keeps them using this filter"
        )
    if reason is Reason.PAUSED:
        return f"the internet is paused for this profile: {_override_text(_override(profile, rule), zone)}"
    if reason is Reason.DENY_LIST:
        if decision.list_id == "config":
            return f"{rule} is in the configuration's deny list (blocking.deny), which applies to every profile"
        return f"{rule} is on the deny list of this profile"
    if reason is Reason.BUDGET:
        use = next((use for use in explanation.subject.policy.budgets if f"budget:{use.budget.id}" == rule), None)
        if use is None:
            return "a daily budget that has since been removed is used up"
        used = f"{use.used} of its {use.budget.minutes} minutes"
        return f"{_tag_text(use.budget.tag)} has used {used} for today (a daily budget): blocked until midnight"
    if reason is Reason.SCHEDULE and decision.category is None:
        return f"{_rule_text(_rule(profile, rule))} is in force, and this name is not one it leaves open"
    if reason is Reason.SCHEDULE:
        return f"{_tag_text(decision.category or '')} is blocked by {_rule_text(_rule(profile, rule))}, in force then"
    if reason is Reason.CATEGORY:
        return f"this profile always blocks the category {decision.category}"
    if reason is Reason.SERVICE:
        return f"this profile always blocks the service {decision.category}"
    if reason is Reason.SAFE_SEARCH:
        level = explanation.subject.policy.safe_search.value
        return f"safe search is {level} for this profile, so {decision.category} is sent to its filtered host"
    grant = _lifting_grant(explanation)
    if grant is not None:
        return f"a temporary override unblocks it: {_override_text(grant, zone)}"
    return "nothing in this profile blocks it at that time"


def _lifting_grant(explanation: NameExplanation) -> OverrideData | None:
    """The grant without which one of the name's tags would be blocked then."""
    subject = explanation.subject
    active = set(subject.policy.active_rules)
    blocking = set(subject.profile.blocked_tags)
    for rule in subject.profile.rules:
        if rule.id in active:
            blocking.update(rule.tags)
    blocking.update(use.budget.tag for use in subject.policy.budgets if use.spent)
    bedtime = subject.policy.bedtime is not None  # a grant opens its tag at bedtime too
    return next(
        (
            item
            for item in subject.profile.overrides
            if item.kind == "grant" and item.target in explanation.tags and (bedtime or item.target in blocking)
        ),
        None,
    )


def _step_lines(decided: Explanation) -> list[str]:
    checks = {check.step: check for check in decided.checks}
    lines = []
    for number, step in enumerate(STEPS, 1):
        check = checks.get(step)
        if check is None:
            lines.append(f"    {number}. {step}: not reached")
            continue
        found = "YES" if check.matched else "no"
        detail = f" ({shown(check.detail)})" if check.detail else ""
        lines.append(f"    {number}. {step}: {found}{detail}")
    return lines


def _in_force_lines(subject: Subject, zone: ZoneInfo) -> list[str]:
    active = set(subject.policy.active_rules)
    rules = [_rule_text(rule) for rule in subject.profile.rules if rule.id in active]
    overrides = [_override_text(item, zone) for item in subject.profile.overrides]
    if not rules and not overrides:
        return ["  In force then: no schedule rule and no override."]
    return ["  In force then:"] + [f"    {text}" for text in rules + overrides]


def _budget_lines(subject: Subject) -> list[str]:
    if not subject.policy.budgets:
        return []
    granted = {item.target for item in subject.profile.overrides if item.kind == "grant"}
    return ["  Daily budgets:"] + [
        f"    {shown(use.budget.tag)}: {_budget_text(use, use.budget.tag in granted)}" for use in subject.policy.budgets
    ]


def _budget_text(use: BudgetUse, granted: bool) -> str:
    budget = use.budget
    if not use.applies:
        return f"{budget.minutes} minutes a day on {shown(budget.days)}, not today"
    if use.used is None:
        return f"{budget.minutes} minutes a day; the minutes used today were not read"
    if use.spent:
        until = "a grant unblocks it for now" if granted else "blocked until midnight"
        return f"{use.used} of {budget.minutes} minutes used today: spent, {until}"
    return f"{use.used} of {budget.minutes} minutes used today, {use.remaining} left"


def _list_lines(explanation: NameExplanation) -> list[str]:
    out = []
    if explanation.tags:
        out.append("  Listed as: " + ", ".join(_tag_text(tag) for tag in explanation.tags))
    elif explanation.matches:
        out.append("  Not listed as anything; these lines unblock it:")
    else:
        out.append("  Not in any blocklist or service.")
    for match in explanation.matches:
        kind = "exception (unblocks)" if match.exception else "rule"
        out.append(f"    {match.list_id}, line {match.line}: {shown(match.rule)}   [{kind}, {match.tag}]")
    return out


def _rule(profile: ProfileData, reference: str) -> RuleData | None:
    return next((rule for rule in profile.rules if f"rule:{rule.id}" == reference), None)


def _override(profile: ProfileData, reference: str) -> OverrideData | None:
    return next((item for item in profile.overrides if f"override:{item.id}" == reference), None)


def _rule_text(rule: RuleData | None) -> str:
    if rule is None:
        return "a rule that has since been removed"
    when = f"{shown(rule.days)} {rule.start}-{rule.end}"
    if rule.action == "allow_only":
        names = ", ".join(rule.allow)
        stay = f"only {names} " + ("stays open" if len(rule.allow) == 1 else "stay open") if names else "all closed"
        return f"rule {rule.id} ({when}, bedtime: {stay})"
    return f"rule {rule.id} ({when}, blocks {', '.join(_tag_text(tag) for tag in rule.tags)})"


def _override_text(item: OverrideData | None, zone: ZoneInfo) -> str:
    if item is None:
        return "an override that has since been removed"
    what = {
        "pause": "pause",
        "grant": _grant_text(item.target or ""),
        "allow_name": f'"allow this site" for {item.target}',
    }.get(item.kind, shown(item.kind))
    text = (
        f"{what} (override {item.id}) made by {shown(item.created_by)} on {_moment(item.created_at, zone)}, "
        f"until {_moment(item.expires_at, zone)}"
    )
    return text + (f', note "{shown(item.note)}"' if item.note else "")


def _grant_text(target: str) -> str:
    if target.startswith(RULE_GRANT_PREFIX):
        return f"grant lifting rule {shown(target[len(RULE_GRANT_PREFIX) :])}"
    return f"grant unblocking {_tag_text(target)}"


def _tag_text(tag: str) -> str:
    if tag.startswith(SERVICE_PREFIX):
        return f"the service {shown(tag[len(SERVICE_PREFIX) :])}"
    return f"the category {shown(tag)}"


def _moment(moment: datetime, zone: ZoneInfo) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # the store's times are UTC
    return moment.astimezone(zone).strftime("%a %Y-%m-%d %H:%M ") + f"({zone.key})"
