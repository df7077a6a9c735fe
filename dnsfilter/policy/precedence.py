"""One profile's policy as it stands right now, and the order it decides in.

``decide`` walks these steps; the first that matches decides:

1. Allow list: the profile's allowed names and active "allow this site"
   overrides, the name or any parent -> ALLOW (``ALLOW_LIST``). Safe search
   still applies: an allowed search engine is rewritten (step 7), so allowing
   google.com never switches off SafeSearch.
2. Bypass protection, when on: the DoH canary, iCloud Private Relay and DDR
   names -> LOCAL_NXDOMAIN or LOCAL_NODATA (``BYPASS``). It comes before every
   block because a block answer (0.0.0.0) would tell Firefox the canary
   resolves, which switches DoH on. An allow entry wins over it only when the
   entry is itself a bypass name (the parent deliberately allowed Private
   Relay); allowing a parent such as icloud.com does not silently open it.
3. Pause -> BLOCK (``PAUSED``): internet off, except the allow list.
4. Deny list -> BLOCK (``DENY_LIST``).
5. Bedtime (an ``allow_only`` rule in force): a name that is neither in its
   allow list (name or parent) nor carries a tag granted right now -> BLOCK
   (``SCHEDULE``, the rule). A grant ("+30 min YouTube") unblocks its tag
   "whatever blocks it", bedtime included.
6. Tags: the name's categories/services AND the tags blocked now -> BLOCK.
   ``CATEGORY``/``SERVICE`` (category = the id, without "service:") when the
   profile always blocks a matching tag; ``BUDGET`` when the tag's daily
   budget is spent (category = the id without "service:", rule =
   "budget:<id>"); ``SCHEDULE`` when only a rule in force does (category =
   the full tag, rule = that rule). A tag both spent and scheduled is blamed
   on the budget, which lasts until midnight.
   A grant of a tag lifts every block of that tag, a spent budget included:
   "+30 minutes of games" is a grant of "games" for 30 minutes. The minutes
   used during the grant still count, so the budget stays spent after it.
7. Safe search -> REWRITE to the engine's filtered host (``SAFE_SEARCH``).
8. Otherwise ALLOW.

Pause and deny come before bedtime and tags only so that the log names the
most direct reason; all four block. ``decide`` is pure and reads nothing but
its arguments; ``PolicySnapshot`` memoises it per name.

The names an allowed answer's CNAMEs lead to are decided with ``alias=True``:
only what blocks a site wherever it is reached applies (bypass names, the
deny list, blocked tags), not the pause or bedtime, which judge the name the
device asked for. A homework site left open at bedtime stays reachable
although its content comes from a CDN name the bedtime rule does not list.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from dnsfilter.policy.bypass import BypassAnswer, bypass_answer
from dnsfilter.policy.decision import ALLOW, Action, Decision, Reason
from dnsfilter.policy.domains import DomainMap
from dnsfilter.policy.records import BudgetUse
from dnsfilter.policy.safesearch import SafeSearchLevel, safe_search_target
from dnsfilter.policy.tags import TagIndex

__all__ = ["STEPS", "Check", "ProfilePolicy", "decide"]

# Step names as ``explain`` reports them, in the order they are tried.
STEPS: tuple[str, ...] = (
    "allow list",
    "bypass protection",
    "pause",
    "deny list",
    "bedtime",
    "blocked tags",
    "safe search",
)

_BYPASS: Mapping[BypassAnswer, Decision] = {
    BypassAnswer.NXDOMAIN: Decision(Action.LOCAL_NXDOMAIN, Reason.BYPASS),
    BypassAnswer.NODATA: Decision(Action.LOCAL_NODATA, Reason.BYPASS),
}


@dataclass(frozen=True, slots=True, eq=False)
class ProfilePolicy:
    """What is true for one profile at the instant its snapshot was built.

    Masks are bits of ``TagIndex.tag_names``. The prebuilt Decisions are
    shared by every query they answer, so deciding allocates nothing.
    Compared by identity: two profiles are never "equal".
    """

    id: int
    name: str
    blocked: int  # every tag blocked now: always-blocked, spent budgets and rules in force, minus grants
    always_blocked: int  # the part of ``blocked`` that does not depend on a rule
    granted: int  # tags lifted by an active grant
    tag_blocks: Mapping[int, Decision]  # bit number -> the block blamed on that tag
    paused: Decision | None  # the PAUSED block while a pause is active
    allow: DomainMap[Decision]
    deny: DomainMap[Decision]
    allow_only: DomainMap[str] | None  # names open during bedtime; None outside it
    bedtime: Decision | None  # the SCHEDULE block of the bedtime rule in force
    safe_search: SafeSearchLevel
    bypass_protection: bool
    block_mode: str  # "null_ip" | "nxdomain": how the DNS layer answers a BLOCK
    next_change: float | None  # POSIX seconds; None when nothing is scheduled
    active_rules: tuple[int, ...] = ()  # ids of the rules in force (for explaining)
    active_overrides: tuple[int, ...] = ()  # ids of the overrides in force
    budgets: tuple[BudgetUse, ...] = ()  # the profile's budgets on the day of the snapshot (for explaining)


@dataclass(frozen=True, slots=True)
class Check:
    """One step of ``explain``: whether it matched and what it found."""

    step: str
    matched: bool
    detail: str = ""


def decide(
    qname: str,
    qtype: int,
    profile: ProfilePolicy,
    index: TagIndex,
    trace: list[Check] | None = None,
    alias: bool = False,
) -> Decision:
    """The Decision for ``qname``/``qtype`` under ``profile``; see the module docstring.

    With ``trace``, every step tried is appended to it (for ``explain``).
    ``alias``: ``qname`` is the target of a CNAME in an allowed answer.
    """
    allowed = profile.allow.lookup(qname) if len(profile.allow) else None
    overruled = allowed is not None and profile.bypass_protection and _bypass_beats_allow(qname, qtype, allowed)
    if trace is not None:
        detail = "" if allowed is None else f"{allowed.rule} ({allowed.list_id})"
        if overruled:
            detail += ", but that does not open a bypass name below it"
        trace.append(Check(STEPS[0], allowed is not None and not overruled, detail))
    if allowed is not None and not overruled:
        return _safe_search(qname, profile, trace) or allowed

    if profile.bypass_protection:
        answer = bypass_answer(qname, qtype)
        if trace is not None:
            trace.append(Check(STEPS[1], answer is not None, "" if answer is None else answer.value))
        if answer is not None:
            return _BYPASS[answer]
    elif trace is not None:
        trace.append(Check(STEPS[1], False, "off for this profile"))

    if trace is not None:
        trace.append(Check(STEPS[2], profile.paused is not None, (profile.paused and profile.paused.rule) or ""))
    if profile.paused is not None and not alias:
        return profile.paused

    denied = profile.deny.lookup(qname) if len(profile.deny) else None
    if trace is not None:
        trace.append(Check(STEPS[3], denied is not None, (denied and denied.rule) or ""))
    if denied is not None:
        return denied

    tags = index.tags(qname)
    if profile.allow_only is not None and profile.bedtime is not None and not alias:
        open_name = profile.allow_only.lookup(qname)
        granted = tags & profile.granted
        if trace is not None:
            why = f"{open_name} stays open" if open_name else ("a granted tag" if granted else "")
            trace.append(Check(STEPS[4], not (open_name or granted), f"{profile.bedtime.rule}: {why}".rstrip(": ")))
        if open_name is None and not granted:
            return profile.bedtime
    elif trace is not None:
        trace.append(Check(STEPS[4], False, "no bedtime rule in force"))

    hit = tags & profile.blocked
    if trace is not None:
        trace.append(Check(STEPS[5], bool(hit), _tag_detail(index, tags, hit)))
    if hit:
        return _tag_block(profile, hit)

    if alias:
        return ALLOW
    return _safe_search(qname, profile, trace) or ALLOW


def _bypass_beats_allow(qname: str, qtype: int, allowed: Decision) -> bool:
    """Bypass protection wins unless the allow entry that matched is itself a
    bypass name: allowing icloud.com must not quietly re-open Private Relay."""
    if bypass_answer(qname, qtype) is None:
        return False
    return allowed.rule is None or bypass_answer(allowed.rule, qtype) is None


def _tag_block(profile: ProfilePolicy, hit: int) -> Decision:
    # Blame a tag the profile always blocks before one only a rule blocks, so
    # the log does not say "schedule" for a site that is never allowed; among
    # those, the lowest bit (categories come before services).
    always = hit & profile.always_blocked
    chosen = always or hit
    return profile.tag_blocks[(chosen & -chosen).bit_length() - 1]


def _safe_search(qname: str, profile: ProfilePolicy, trace: list[Check] | None) -> Decision | None:
    rewrite = safe_search_target(qname, profile.safe_search)
    if trace is not None:
        detail = f"{profile.safe_search.value}: " + (rewrite.target if rewrite else "not a search engine name")
        trace.append(Check(STEPS[6], rewrite is not None, detail))
    if rewrite is None:
        return None
    return Decision(Action.REWRITE, Reason.SAFE_SEARCH, category=rewrite.engine, target=rewrite.target)


def _tag_detail(index: TagIndex, tags: int, hit: int) -> str:
    names = [name for bit, name in enumerate(index.tag_names) if tags >> bit & 1]
    if not names:
        return "not in any list"
    blocked = [name for bit, name in enumerate(index.tag_names) if hit >> bit & 1]
    return "listed as " + ", ".join(names) + ("; blocked now: " + ", ".join(blocked) if blocked else "")
