"""Reading and checking a policy file, before anything is written.

Built on the configuration machinery (``dnsfilter.yamlschema``): every problem in the
file is reported at once with its dotted path and line; names of categories
and services (blocked, in rules, budgets and grants) are checked against the
catalog, profile names referred to by devices and overrides against the
file's own profiles.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, TypeVar

import yaml

from dnsfilter.errors import PolicyFileError
from dnsfilter.policy.budgets import MAX_BUDGET_MINUTES
from dnsfilter.policy.records import NEW_DEVICES_PROFILE
from dnsfilter.policy.schedule import parse_days, parse_time
from dnsfilter.policy.tags import SERVICE_PREFIX, service_tag
from dnsfilter.store import validation as check
from dnsfilter.store.policystore import BLOCK_MODES, OVERRIDE_KINDS, SAFE_SEARCH
from dnsfilter.store.rules import RULE_ACTIONS
from dnsfilter.yamlschema import (
    BOOL_TAG,
    INT_TAG,
    NULL_TAG,
    STR_TAG,
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
    optional,
    required,
    scalar,
    section,
    sequence,
    setting,
    text,
)

FORMAT: Final = 1  # dnsfilter_policy: in the file; raised when the layout changes
T = TypeVar("T")


class _Context(Problems):
    """The problems found so far, and what later values are checked against.

    Converters receive it as their ``problems``; profiles come before devices
    and overrides in ``PolicyFile``, so their names are known by then.
    """

    def __init__(self, tags: frozenset[str]) -> None:
        super().__init__()
        self.tags = tags
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
    close = difflib.get_close_matches(name, names, n=1)
    hint = f'did you mean "{close[0]}"?' if close else "the profiles are: " + ", ".join(names)
    raise Invalid(f'there is no profile called "{name}"; {hint}')


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
        raise Invalid(f'"{tag}" is a service; write it as "{service_tag(tag)}"')
    # A service may be misspelt without its prefix too: "roblx" for service:roblox.
    spellings = {name.removeprefix(SERVICE_PREFIX): name for name in sorted(known)} | {name: name for name in known}
    close = difflib.get_close_matches(tag, sorted(spellings), n=1)
    hint = (
        f'did you mean "{spellings[close[0]]}"?'
        if close
        else "use the ids in blocklists/catalog.yaml and blocklists/services/"
    )
    kind = "service" if tag.startswith(SERVICE_PREFIX) else "category"
    raise Invalid(f'there is no {kind} called "{tag}"; {hint}')


def _device_key(node: yaml.Node, path: str, problems: Problems) -> str:
    key = _store_check(check.device_key)(node, path, problems)
    seen = _context(problems).device_keys
    if key in seen:
        raise Invalid(f'the device "{key}" is listed twice (first on line {line_of(seen[key])}); keep one')
    seen[key] = node
    return key


def _as_written(convert: Convert[T]) -> Convert[T]:
    """``convert`` given the text as written, where YAML 1.1 reads words as other types.

    Unquoted, ``off`` is false and ``20:30`` the number 1230 (minutes in base 60);
    a parent writing them by hand means the words.
    """

    def convert_text(node: yaml.Node, path: str, problems: Problems) -> T:
        if isinstance(node, yaml.ScalarNode) and node.style is None and node.tag in (BOOL_TAG, INT_TAG):
            node = yaml.ScalarNode(STR_TAG, node.value, node.start_mark, node.end_mark)
        return convert(node, path, problems)

    return convert_text


def _days(value: str) -> str:
    parse_days(value)  # the schedule's own reading: every word must be a day
    return check.days(value)


def _clock(*, end: bool) -> Convert[str]:
    def parse(value: str) -> str:
        # Stored as HH:MM: 7:00 becomes 07:00, and an end of 24:00 is midnight, 00:00.
        moment = parse_time(value, allow_24=end)
        return f"{moment.hour:02}:{moment.minute:02}"

    return _as_written(from_text(parse))


def _label(value: str) -> str | None:
    return check.person_name(value, "device name") if value.strip() else None


def _format(node: yaml.Node, path: str, problems: Problems) -> int:
    value = scalar(node)
    if value != FORMAT or isinstance(value, bool):
        raise Invalid(f"must be {FORMAT}: this file was not written by this version of dnsfilter policy export")
    return FORMAT


_TIMESTAMP_TAG: Final = "tag:yaml.org,2002:timestamp"


def _utc_time(node: yaml.Node, path: str, problems: Problems) -> datetime:
    # Written unquoted, 2025-03-14T20:00:00Z is a YAML timestamp: read its text all the same.
    is_timestamp = isinstance(node, yaml.ScalarNode) and node.tag == _TIMESTAMP_TAG
    value = str(node.value) if is_timestamp else text(node, path, problems)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise Invalid(f'"{value}" is not a date and time; write it like 2025-03-14T20:00:00Z') from None
    if moment.tzinfo is None:
        raise Invalid(f'"{value}" has no time zone; add Z at the end for UTC, like 2025-03-14T20:00:00Z')
    return moment.astimezone(UTC)


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
                raise Invalid(f'"{key}" is given twice; keep only one')
            if key == NEW_DEVICES_PROFILE:
                raise Invalid("is an internal number; name the profile with new_devices_profile: instead")
            values[key] = _plain_data(value_node, set())
            check.setting_value(key, values[key])
        except check.PolicyInputError as error:
            failed = True
            problems.add(key_path, value_node, str(error))
        except Invalid as error:
            failed = True
            problems.add(key_path, key_node, error.message or "cannot be read")
    if failed:
        raise Invalid()
    return tuple(values.items())


def _plain_data(node: yaml.Node, seen: set[int]) -> Any:
    """A setting's value: text, numbers, true/false, null, lists and sections of these."""
    # An alias is the same node object again: refusing repeats keeps a
    # "billion laughs" file from expanding into gigabytes.
    if id(node) in seen:
        raise Invalid("repeats a value with a YAML alias (*name); write the value out instead")
    seen.add(id(node))
    if isinstance(node, yaml.SequenceNode):
        return [_plain_data(item, seen) for item in node.value]
    if isinstance(node, yaml.MappingNode):
        mapping: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = scalar(key_node)
            if not isinstance(key, str):
                raise Invalid(f"has a key that is {describe(key_node)}; keys must be text")
            mapping[key] = _plain_data(value_node, seen)
        return mapping
    return None if node.tag == NULL_TAG else scalar(node)


def _check_rule(rule: _RuleEntry) -> Iterator[tuple[str, str]]:
    if rule.action == "block_tags" and not rule.tags:
        yield "tags", "is empty; a block_tags rule needs at least one category or service to block"
    if rule.action == "block_tags" and rule.allow:
        yield "allow", "only an allow_only rule has names to allow; remove them, or change the action"
    if rule.action == "allow_only" and rule.tags:
        yield "tags", "must be empty: an allow_only rule blocks everything but the names in allow"


def _check_profile(profile: _ProfileEntry) -> Iterator[tuple[str, str]]:
    for name in sorted(set(profile.allow) & set(profile.deny)):
        yield "deny", f'"{name}" is in allow too; keep it in one of the two'
    tags = [budget.tag for budget in profile.budgets]
    for tag in sorted({tag for tag in tags if tags.count(tag) > 1}):
        yield "budgets", f'"{tag}" has two budgets; keep one of them'


@dataclass(frozen=True, slots=True)
class _RuleEntry:
    days: str = required(from_text(_days))
    start: str = required(_clock(end=False))
    end: str = required(_clock(end=True))
    action: str = required(choice(*RULE_ACTIONS))
    tags: tuple[str, ...] = setting((), sequence(_tag))
    allow: tuple[str, ...] = setting((), sequence(_DOMAIN))
    enabled: bool = setting(True, boolean)


@dataclass(frozen=True, slots=True)
class _BudgetEntry:
    tag: str = required(_tag)
    minutes: int = required(integer(1, MAX_BUDGET_MINUTES))
    days: str = setting("daily", from_text(_days))


@dataclass(frozen=True, slots=True)
class _ProfileEntry:
    name: str = required(_profile_name)
    default: bool = setting(False, _default)
    safe_search: str = setting("off", _as_written(choice(*SAFE_SEARCH)))
    bypass_protection: bool = setting(True, boolean)
    block_mode: str = setting("null_ip", choice(*BLOCK_MODES))
    blocked: tuple[str, ...] = setting((), sequence(_tag))
    allow: tuple[str, ...] = setting((), sequence(_DOMAIN))
    deny: tuple[str, ...] = setting((), sequence(_DOMAIN))
    rules: tuple[_RuleEntry, ...] = setting((), sequence(section(_RuleEntry, check=_check_rule)))
    budgets: tuple[_BudgetEntry, ...] = setting((), sequence(section(_BudgetEntry)))


@dataclass(frozen=True, slots=True)
class DeviceEntry:
    key: str = required(_device_key)
    profile: str = required(_profile_ref)
    label: str | None = setting(None, optional(_store_check(_label)))
    new: bool = setting(False, boolean)
    name: str | None = setting(None, optional(text))  # exactly as seen: any text at all


@dataclass(frozen=True, slots=True)
class _OverrideEntry:
    profile: str = required(_profile_ref)
    kind: str = required(choice(*OVERRIDE_KINDS))
    expires: datetime = required(_utc_time)
    created_by: str = required(_store_check(lambda value: check.person_name(value, "name")))
    target: str | None = setting(None, optional(text))  # checked with the kind, in _override
    created_at: datetime | None = setting(None, optional(_utc_time))  # None: the time of the import
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
    dnsfilter_policy: int = required(_format)
    profiles: tuple[_ProfileEntry, ...] = required(
        sequence(section(_ProfileEntry, check=_check_profile), empty="is empty; give at least the default profile")
    )
    new_devices_profile: str | None = setting(None, optional(_profile_ref))
    devices: tuple[DeviceEntry, ...] = setting((), sequence(section(DeviceEntry)))
    overrides: tuple[_OverrideEntry, ...] = setting((), sequence(_override))
    settings: tuple[tuple[str, Any], ...] = setting((), _settings)


_POLICY_FILE: Final = section(PolicyFile)


def parse_policy(text: str, known_tags: Collection[str], source: str) -> PolicyFile:
    """The checked file; PolicyFileError lists every problem. Tags are checked
    against ``known_tags`` (the catalog's categories and services)."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as error:
        raise PolicyFileError(source, [_syntax_problem(error, text)]) from error
    if root is None or (isinstance(root, yaml.ScalarNode) and root.tag == NULL_TAG):
        raise PolicyFileError(source, ["the file is empty; dnsfilter policy export writes one to start from"])
    problems = _Context(frozenset(known_tags))
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


def _syntax_problem(error: yaml.YAMLError, text: str) -> str:
    if isinstance(error, yaml.reader.ReaderError):
        line = text.count("\n", 0, error.position) + 1
        character = chr(error.character) if isinstance(error.character, int) else error.character
        return f"line {line}: the character {character!r} cannot be in a YAML file; write it as an escape in double quotes"
    mark = error.problem_mark or error.context_mark if isinstance(error, yaml.MarkedYAMLError) else None
    where = f"line {mark.line + 1}: " if mark is not None else ""
    what = "; ".join(part for part in (getattr(error, "context", None), getattr(error, "problem", None)) if part)
    return f"{where}this is not valid YAML ({what or error}); check the indentation, colons and quotes there"


