"""Reading and checking a policy file, before anything is written.

Built on the configuration machinery (``dnsfilter.yamlschema``): every problem in the
file is reported at once with its dotted path and line; names of categories
and services (blocked, in rules, budgets and grants) are checked against the
catalog, profile names referred to by devices and overrides against the
file's own profiles. Times without an offset from UTC are read in the
family's time zone. docs/policy-file.md describes every key; a test checks it
against the classes here (``SECTIONS``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, TypeVar
from zoneinfo import ZoneInfo

import yaml

from dnsfilter.errors import PolicyFileError
from dnsfilter.policy.budgets import MAX_BUDGET_MINUTES
from dnsfilter.policy.identity import IP_KEY_EXAMPLE, MAC_KEY_EXAMPLE
from dnsfilter.policy.records import NEW_DEVICES_PROFILE, TIME_ZONE
from dnsfilter.policy.schedule import parse_days, parse_time
from dnsfilter.policy.tags import SERVICE_PREFIX, service_tag
from dnsfilter.store import validation as check
from dnsfilter.store.policystore import BLOCK_MODES, OVERRIDE_KINDS, SAFE_SEARCH
from dnsfilter.store.policytimes import file_zone, moment_in
from dnsfilter.store.rules import RULE_ACTIONS
from dnsfilter.yamlread import as_written, compose, plain_data
from dnsfilter.yamlschema import (
    NULL_TAG,
    Convert,
    Invalid,
    Problems,
    boolean,
    choice,
    describe,
    from_text,
    integer,
    join,
    line_of,
    listing,
    optional,
    quote,
    required,
    scalar,
    section,
    sequence,
    setting,
    suggestion,
    text,
)

FORMAT: Final = 1  # dnsfilter_policy: in the file; raised when the layout changes
# The most a policy holds: generous for a home, and small enough that checking
# a file and building the filter from it stay quick. docs/policy-file.md lists them.
LIMITS: Final = {
    "profiles": 100,
    "devices": 2000,
    "overrides": 1000,
    "profiles.rules": 200,
    "profiles.budgets": 200,
    "tags": 500,  # in a profile's blocked, a rule's tags
    "names": 10_000,  # in a profile's allow and deny, a rule's allow
}
T = TypeVar("T")


class _Context(Problems):
    """The problems found so far, and what later values are checked against.

    Converters receive it as their ``problems``; profiles come before devices
    and overrides in ``PolicyFile``, so their names are known by then.
    """

    def __init__(self, tags: frozenset[str], zone: ZoneInfo) -> None:
        super().__init__()
        self.tags = tags
        self.zone = zone  # times without an offset are read in it
        self.profiles: dict[str, tuple[str, yaml.Node]] = {}  # casefolded name -> (name, its node)
        self.defaults: list[tuple[str, yaml.Node]] = []  # paths of "default: true"
        self.device_keys: dict[str, yaml.Node] = {}


def _context(problems: Problems) -> _Context:
    assert isinstance(problems, _Context)
    return problems


def _store_check(parse: Callable[[str], T]) -> Convert[T]:
    """Text checked by one of the store's own checks, whose message is reported."""

    def parse_text(value: str) -> T:
        try:
            return parse(value)
        except check.PolicyInputError as error:
            raise ValueError(str(error)) from error

    return from_text(parse_text)


_PERSON: Final = _store_check(check.person_name)
_DOMAIN: Final = _store_check(check.domain)
_TAG_TEXT: Final = _store_check(check.tag)
_CREATOR: Final = _store_check(lambda value: check.person_name(value, "name"))


def _profile_name(node: yaml.Node, path: str, problems: Problems) -> str:
    name = _PERSON(node, path, problems)
    known = _context(problems).profiles
    if name.casefold() in known:
        first, first_node = known[name.casefold()]
        raise Invalid(f'there is already a profile called "{first}" (line {line_of(first_node)}); rename one of them')
    known[name.casefold()] = (name, node)
    return name


def _profile_ref(node: yaml.Node, path: str, problems: Problems) -> str:
    name = _PERSON(node, path, problems)
    known = _context(problems).profiles
    if name.casefold() in known:
        return known[name.casefold()][0]
    names = [first for first, _ in known.values()]
    close = suggestion(name, names)
    hint = f'did you mean "{close}"?' if close else f"the profiles are: {listing(names)}"
    raise Invalid(f'there is no profile called "{quote(name)}"; {hint}')


def _default(node: yaml.Node, path: str, problems: Problems) -> bool:
    value = boolean(node, path, problems)
    if value:
        _context(problems).defaults.append((path, node))
    return value


def _tag(node: yaml.Node, path: str, problems: Problems) -> str:
    tag = _TAG_TEXT(node, path, problems)
    known = _context(problems).tags
    if tag in known:
        return tag
    if service_tag(tag) in known:
        raise Invalid(f'"{quote(tag)}" is a service; write it as "{quote(service_tag(tag))}"')
    # A service may be misspelt without its prefix too: "roblx" for service:roblox.
    spellings = {name.removeprefix(SERVICE_PREFIX): name for name in sorted(known)} | {name: name for name in known}
    close = suggestion(tag, sorted(spellings))
    hint = (
        f'did you mean "{spellings[close]}"?'
        if close
        else "use the ids in blocklists/catalog.yaml and blocklists/services/"
    )
    kind = "service" if tag.startswith(SERVICE_PREFIX) else "category"
    raise Invalid(f'there is no {kind} called "{quote(tag)}"; {hint}')


def _device_key(node: yaml.Node, path: str, problems: Problems) -> str:
    key = _store_check(check.device_key)(node, path, problems)
    seen = _context(problems).device_keys
    if key in seen:
        raise Invalid(f'the device "{quote(key)}" is listed twice (first on line {line_of(seen[key])}); keep one')
    seen[key] = node
    return key


def _days(value: str) -> str:
    parse_days(value)  # the schedule's own reading: every word must be a day
    return check.days(value)


def _clock(*, end: bool) -> Convert[str]:
    def parse(value: str) -> str:
        # Stored as HH:MM: 7:00 becomes 07:00, and an end of 24:00 is midnight, 00:00.
        moment = parse_time(value, allow_24=end)
        return f"{moment.hour:02}:{moment.minute:02}"

    return as_written(from_text(parse))


def _label(value: str) -> str | None:
    return check.person_name(value, "device name") if value.strip() else None


def _format(node: yaml.Node, path: str, problems: Problems) -> int:
    value = scalar(node)
    if value != FORMAT or isinstance(value, bool):
        raise Invalid(f"must be {FORMAT}: this file was not written by this version of dnsfilter policy export")
    return FORMAT


def _moment(node: yaml.Node, path: str, problems: Problems) -> datetime:
    return moment_in(node, path, problems, _context(problems).zone)


def _settings(node: yaml.Node, path: str, problems: Problems) -> tuple[tuple[str, Any], ...]:
    if isinstance(node, yaml.ScalarNode) and node.tag == NULL_TAG:
        return ()
    if not isinstance(node, yaml.MappingNode):
        raise Invalid(f"must be a section of keys, or {{}} for none, not {describe(node)}")
    values: dict[str, Any] = {}
    failed = False
    for key_node, value_node in node.value:
        key = str(key_node.value)
        key_path = join(path, key)
        try:
            key = _store_check(check.setting_key)(key_node, key_path, problems)
            if key in values:
                raise Invalid(f'"{quote(key)}" is given twice; keep only one')
            if key == NEW_DEVICES_PROFILE:
                raise Invalid("is an internal number; name the profile with new_devices_profile: instead")
            values[key] = plain_data(value_node)
            check.setting_value(key, values[key])
            if key == TIME_ZONE and values[key] is not None:
                check.time_zone(values[key])  # a zone the filter cannot use would be ignored without a word
        except check.PolicyInputError as error:
            failed = True
            problems.add(key_path, value_node, str(error))
        except Invalid as error:
            failed = True
            problems.add(key_path, key_node, error.message or "cannot be read")
    if failed:
        raise Invalid()
    return tuple(values.items())


def _check_rule(rule: _RuleEntry) -> Iterator[tuple[str, str]]:
    if rule.action == "block_tags" and not rule.tags:
        yield "tags", "is empty; a block_tags rule needs at least one category or service to block"
    if rule.action == "block_tags" and rule.allow:
        yield "allow", "only an allow_only rule has names to allow; remove them, or change the action"
    if rule.action == "allow_only" and rule.tags:
        yield "tags", "must be empty: an allow_only rule blocks everything but the names in allow"


def _check_profile(profile: _ProfileEntry) -> Iterator[tuple[str, str]]:
    for name in sorted(set(profile.allow) & set(profile.deny)):
        yield "deny", f'"{quote(name)}" is in allow too; keep it in one of the two'
    tags = [budget.tag for budget in profile.budgets]
    for tag in sorted({tag for tag in tags if tags.count(tag) > 1}):  # at most LIMITS["profiles.budgets"]
        yield "budgets", f'"{tag}" has two budgets; keep one of them'


def _at_most(limit: str, convert: Convert[T], empty: str | None = None) -> Convert[tuple[T, ...]]:
    """A list of at most LIMITS[limit] entries: a longer one is refused before any entry is read."""
    convert_all = sequence(convert, empty=empty)
    most = LIMITS[limit]
    things = limit.rpartition(".")[2]

    def convert_few(node: yaml.Node, path: str, problems: Problems) -> tuple[T, ...]:
        if isinstance(node, yaml.SequenceNode) and len(node.value) > most:
            raise Invalid(
                f"lists {len(node.value)} {things}, more than the {most} a policy file may have here; "
                "remove some (docs/policy-file.md lists the limits)"
            )
        return convert_all(node, path, problems)

    return convert_few


_TAGS: Final = _at_most("tags", _tag)
_NAMES: Final = _at_most("names", _DOMAIN)
_DAYS_HINT: Final = "the days, like mon-fri, sun-thu or sat,sun"
_TAG_HINT: Final = "a category such as games, or a service such as service:youtube"
_PROFILE_HINT: Final = "the name of one of the profiles above"


@dataclass(frozen=True, slots=True)
class _RuleEntry:
    days: str = required(from_text(_days), hint=_DAYS_HINT)
    start: str = required(_clock(end=False), hint="a time of day such as 20:30")
    end: str = required(_clock(end=True), hint="a time of day such as 07:00")
    action: str = required(choice(*RULE_ACTIONS))
    tags: tuple[str, ...] = setting((), _TAGS)
    allow: tuple[str, ...] = setting((), _NAMES)
    enabled: bool = setting(True, boolean)


@dataclass(frozen=True, slots=True)
class _BudgetEntry:
    tag: str = required(_tag, hint=_TAG_HINT)
    minutes: int = required(integer(1, MAX_BUDGET_MINUTES), hint=f"minutes a day, from 1 to {MAX_BUDGET_MINUTES}")
    days: str = setting("daily", from_text(_days))


@dataclass(frozen=True, slots=True)
class _ProfileEntry:
    name: str = required(_profile_name, hint="the person's name, such as Mia")
    default: bool = setting(False, _default)
    safe_search: str = setting("off", as_written(choice(*SAFE_SEARCH)))
    bypass_protection: bool = setting(True, boolean)
    block_mode: str = setting("null_ip", choice(*BLOCK_MODES))
    blocked: tuple[str, ...] = setting((), _TAGS)
    allow: tuple[str, ...] = setting((), _NAMES)
    deny: tuple[str, ...] = setting((), _NAMES)
    rules: tuple[_RuleEntry, ...] = setting((), _at_most("profiles.rules", section(_RuleEntry, check=_check_rule)))
    budgets: tuple[_BudgetEntry, ...] = setting((), _at_most("profiles.budgets", section(_BudgetEntry)))


@dataclass(frozen=True, slots=True)
class DeviceEntry:
    key: str = required(_device_key, hint=f"{MAC_KEY_EXAMPLE} or {IP_KEY_EXAMPLE}")
    profile: str = required(_profile_ref, hint=_PROFILE_HINT)
    label: str | None = setting(None, optional(_store_check(_label)))
    new: bool = setting(False, boolean)
    name: str | None = setting(None, optional(text))  # exactly as seen: any text at all


@dataclass(frozen=True, slots=True)
class _OverrideEntry:
    profile: str = required(_profile_ref, hint=_PROFILE_HINT)
    kind: str = required(choice(*OVERRIDE_KINDS))
    expires: datetime = required(_moment, hint="when it ends, such as 2026-12-07 20:00")
    created_by: str = required(_CREATOR, hint="who made it, such as Mum")
    target: str | None = setting(None, optional(text))  # checked with the kind, in _override
    created_at: datetime | None = setting(None, optional(_moment))  # None: the time of the import
    note: str = setting("", _store_check(check.note))


_OVERRIDE: Final = section(_OverrideEntry)


def _override(node: yaml.Node, path: str, problems: Problems) -> _OverrideEntry:
    entry = _OVERRIDE(node, path, problems)
    target_node = next((value for key, value in node.value if key.value == "target"), node)
    try:
        if entry.kind == "pause":
            if entry.target is not None:
                raise Invalid("a pause has no target; remove it")
            return entry
        if entry.target is None:
            what = "category or service" if entry.kind == "grant" else "name"
            raise Invalid(f"is missing; give the {what} this override allows")
        if entry.kind == "grant":
            return dataclasses.replace(entry, target=_tag(target_node, join(path, "target"), problems))
        return dataclasses.replace(entry, target=_DOMAIN(target_node, join(path, "target"), problems))
    except Invalid as error:
        problems.add(join(path, "target"), target_node, error.message or "is not valid")
        raise Invalid() from None


@dataclass(frozen=True, slots=True)
class PolicyFile:
    # Profiles first: devices and overrides name them (see _Context).
    dnsfilter_policy: int = required(_format, hint=f"write dnsfilter_policy: {FORMAT} at the top")
    profiles: tuple[_ProfileEntry, ...] = required(
        _at_most("profiles", section(_ProfileEntry, check=_check_profile), "is empty; give at least the default profile"),
        hint="a list of profiles, one of them with default: true",
    )
    new_devices_profile: str | None = setting(None, optional(_profile_ref))
    devices: tuple[DeviceEntry, ...] = setting((), _at_most("devices", section(DeviceEntry)))
    overrides: tuple[_OverrideEntry, ...] = setting((), _at_most("overrides", _override))
    settings: tuple[tuple[str, Any], ...] = setting((), _settings)


_POLICY_FILE: Final = section(PolicyFile)

# Each section of the file by its place (docs/policy-file.md has one table for each).
SECTIONS: Final[dict[str, type[Any]]] = {
    "top": PolicyFile,
    "profiles": _ProfileEntry,
    "profiles.rules": _RuleEntry,
    "profiles.budgets": _BudgetEntry,
    "devices": DeviceEntry,
    "overrides": _OverrideEntry,
}


def parse_policy(text: str, known_tags: Collection[str], source: str, zone: ZoneInfo) -> PolicyFile:
    """The checked file; PolicyFileError lists every problem. Tags are checked
    against ``known_tags`` (the catalog's categories and services); times
    without an offset are read in ``zone`` (unless the file's settings name another)."""
    try:
        root = compose(text)
    except Invalid as error:
        raise PolicyFileError(source, [error.message or "the file cannot be read as YAML"]) from None
    if root is None or (isinstance(root, yaml.ScalarNode) and root.tag == NULL_TAG):
        raise PolicyFileError(source, ["the file is empty; dnsfilter policy export writes one to start from"])
    problems = _Context(frozenset(known_tags), file_zone(root, zone) if isinstance(root, yaml.MappingNode) else zone)
    policy: PolicyFile | None = None
    if not isinstance(root, yaml.MappingNode):
        problems.add("", root, "the file must hold keys such as profiles: and devices:, as export writes them")
    else:
        try:
            policy = _POLICY_FILE(root, "", problems)
        except Invalid as error:
            if error.message is not None:
                problems.add("", root, error.message)
        _check_defaults(root, problems)
    if len(problems) or policy is None:
        raise PolicyFileError(source, problems.messages)
    return policy


def _check_defaults(root: yaml.MappingNode, problems: _Context) -> None:
    if problems.defaults:
        (first, first_node), *others = problems.defaults
        for path, node in others:
            where = f"{first.removesuffix('.default')} (line {line_of(first_node)})"
            problems.add(path, node, f"only one profile can be the default, and {where} is already")
    elif problems.profiles:
        profiles_node = next(key for key, _ in root.value if key.value == "profiles")
        problems.add("profiles", profiles_node, 'no profile is the default; add "default: true" to one of them')
