"""Generic checking of YAML nodes against frozen dataclasses.

A settings class declares each key once, as a dataclass field whose default is
the default value and whose metadata holds a converter::

    size: int = setting(10000, integer(0, 10_000_000))

``section(SettingsClass)`` then turns a YAML mapping node into an instance:
unknown keys, duplicate keys, wrong types and out-of-range values are all
collected in a ``Problems`` list, each with its dotted path and line number,
so every mistake in a file is reported at once.

Converters work on ``yaml.Node`` objects (from ``yamlread.compose``) rather
than on loaded Python values, because only nodes carry line numbers. Messages
stay short whatever a file holds: values quoted in part, suggestions and
problems counted.
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Final, TypeVar

import yaml

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T")
D = TypeVar("D", bound="DataclassInstance")

_CONVERTER: Final = "dnsfilter.convert"
_HINT: Final = "dnsfilter.hint"

STR_TAG: Final = "tag:yaml.org,2002:str"
INT_TAG: Final = "tag:yaml.org,2002:int"
FLOAT_TAG: Final = "tag:yaml.org,2002:float"
BOOL_TAG: Final = "tag:yaml.org,2002:bool"
NULL_TAG: Final = "tag:yaml.org,2002:null"

MAX_PROBLEMS: Final = 50  # reported at once; a file of mistakes is not printed back whole
MAX_QUOTED: Final = 80  # characters of a value quoted in a message
MAX_SUGGESTED: Final = 100  # names a misspelling is compared against ("did you mean")
MAX_LISTED: Final = 20  # names listed as the ones allowed

# Turns plain scalars into Python values with YAML's own rules (0x1F, 1_000, .inf...).
_SCALARS: Final = yaml.constructor.SafeConstructor()


class Invalid(Exception):
    """A value cannot be used.

    With a message, the caller reports it at the value's path and line. Without
    one, the problems inside the value were already reported one by one.
    """

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message)
        self.message = message


def line_of(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def mapping_value(node: yaml.Node | None, key: str) -> yaml.Node | None:
    """The node of ``key``'s value in a mapping node (the first, as the loaders read it)."""
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
                found: yaml.Node = value_node
                return found
    return None


class Problems:
    """Every problem found so far, formatted ``path (line N): message``."""

    def __init__(self) -> None:
        self._found: list[tuple[int, str]] = []
        self._count = 0

    def __len__(self) -> int:
        return self._count

    @property
    def messages(self) -> list[str]:
        """The first MAX_PROBLEMS problems in the order of their lines, and how many more there are."""
        found = sorted(self._found, key=lambda found: found[0])[:MAX_PROBLEMS]
        more = self._count - len(found)
        return [message for _, message in found] + [f"... and {more} more; fix these first"] * (more > 0)

    def add(self, path: str, node: yaml.Node | None, message: str) -> None:
        self._count += 1
        if len(self._found) >= 20 * MAX_PROBLEMS:
            return  # counted only: messages shows the first lines of the file, which come first
        line = line_of(node) if node is not None else 0
        where = quote(path, 2 * MAX_QUOTED) if path else "configuration"
        if line:
            where = f"{where} (line {line})" if path else f"line {line}"
        # Every message quotes values short, but some come from a parse function's ValueError.
        self._found.append((line, f"{where}: {quote(message, 5 * MAX_QUOTED)}"))


Convert = Callable[[yaml.Node, str, Problems], T]
"""Turns a node at a dotted path into a value; raises Invalid when it cannot."""

Check = Callable[[T], Iterable[tuple[str, str]]]
"""A rule across several keys of a section: yields (key, message) for each breach."""


def setting(default: T, convert: Convert[T]) -> T:
    """Declare a key with its default and its converter (a dataclass field)."""
    field: T = dataclasses.field(default=default, metadata={_CONVERTER: convert})
    return field


def required(convert: Convert[T], *, hint: str | None = None) -> T:
    """Declare a key that must be given (a dataclass field without default).

    ``hint`` says what to write when it is missing ("a time such as 20:30"); a
    choice() lists its words by itself.
    """
    field: T = dataclasses.field(metadata={_CONVERTER: convert, _HINT: hint})
    return field


def choices_of(field: dataclasses.Field[Any]) -> tuple[str, ...]:
    """The words a key declared with choice() allows (in any wrapper); () for other keys.

    For messages, and so that documentation can be checked against the schema.
    """
    convert = inspect.unwrap(field.metadata[_CONVERTER])
    return convert.options if isinstance(convert, Choice) else ()


def _missing_message(field: dataclasses.Field[Any]) -> str:
    if options := choices_of(field):
        return f'the key "{field.name}" is missing; give one of: {", ".join(options)}'
    hint = field.metadata.get(_HINT)
    return f'the key "{field.name}" is missing; add it' + (f": {hint}" if hint else "")


def quote(value: object, limit: int = MAX_QUOTED) -> str:
    """``value`` as text of at most ``limit`` characters, its middle cut out when longer."""
    written = str(value)
    return written if len(written) <= limit else f"{written[: limit * 3 // 4]}...{written[-limit // 4 :]}"


def suggestion(name: str, candidates: Sequence[str]) -> str | None:
    """The candidate spelt closest to ``name``, if one is close; bounded work however many there are."""
    if len(candidates) > MAX_SUGGESTED:  # difflib compares with each: keep those alike at a glance
        first = name[:1].casefold()
        candidates = [c for c in candidates if c[:1].casefold() == first and abs(len(c) - len(name)) <= 2]
    close = difflib.get_close_matches(name, candidates[:MAX_SUGGESTED], n=1)
    return close[0] if close else None


def listing(names: Sequence[str]) -> str:
    """Names for a message, at most MAX_LISTED of them."""
    shown = ", ".join(quote(name) for name in names[:MAX_LISTED])
    return shown + (f" and {len(names) - MAX_LISTED} more" if len(names) > MAX_LISTED else "")


def describe(node: yaml.Node) -> str:
    """Say what a node holds, in the words a parent would use."""
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if isinstance(node, yaml.MappingNode):
        return "a section of keys"
    if node.tag == NULL_TAG:
        return "nothing"
    if node.tag == BOOL_TAG:
        return f"{quote(node.value)} (a yes/no value)"
    if node.tag in (INT_TAG, FLOAT_TAG):
        return f"the number {quote(node.value)}"
    if node.tag == STR_TAG:
        return f'the text "{quote(node.value)}"'
    return f"a value tagged {quote(node.tag)}"


def scalar(node: yaml.Node) -> object:
    """The Python value of a plain YAML scalar; lists, sections and nulls are refused."""
    if isinstance(node, yaml.ScalarNode) and node.tag == NULL_TAG:
        raise Invalid("has no value; give one, or remove the line to use the default")
    if not isinstance(node, yaml.ScalarNode):
        raise Invalid(f"must be a single value, not {describe(node)}")
    if node.tag not in (STR_TAG, INT_TAG, FLOAT_TAG, BOOL_TAG):
        raise Invalid(f"uses the YAML tag {quote(node.tag)}, which is not supported here; remove the tag")
    # Called directly: construct_object() would remember every node it has seen.
    try:
        value: object = _SCALARS.yaml_constructors[node.tag](_SCALARS, node)
    except ValueError:  # Python refuses to read a number of thousands of digits
        raise Invalid(f"is far too long a number ({len(node.value)} digits); check the value") from None
    return value


def integer(low: int, high: int) -> Convert[int]:
    """A whole number from low to high; true/false is not a number."""

    def convert(node: yaml.Node, path: str, problems: Problems) -> int:
        value = scalar(node)
        if isinstance(value, bool) or not isinstance(value, int):
            raise Invalid(f"must be a whole number from {low} to {high}, not {describe(node)}")
        if not low <= value <= high:
            raise Invalid(f"{quote(value)} is out of range; use a whole number from {low} to {high}")
        return value

    return convert


def number(low: float, high: float) -> Convert[float]:
    """A number from low to high; whole numbers are accepted too."""

    def convert(node: yaml.Node, path: str, problems: Problems) -> float:
        value = scalar(node)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise Invalid(f"must be a number from {low:g} to {high:g}, not {describe(node)}")
        if not low <= value <= high:  # also true for .nan
            raise Invalid(f"{quote(node.value)} is out of range; use a number from {low:g} to {high:g}")
        return float(value)

    return convert


def boolean(node: yaml.Node, path: str, problems: Problems) -> bool:
    """true or false (unquoted, YAML 1.1 reads yes/no/on/off as these too)."""
    value = scalar(node)
    if not isinstance(value, bool):
        raise Invalid(f"must be true or false, not {describe(node)}")
    return value


def text(node: yaml.Node, path: str, problems: Problems) -> str:
    """Text; a number or true/false where text is expected is a mistake."""
    value = scalar(node)
    if not isinstance(value, str):
        raise Invalid(f"must be text, not {describe(node)}; put it in quotes if it is meant as text")
    return value


def from_text(parse: Callable[[str], T]) -> Convert[T]:
    """Text turned into a value by ``parse``, whose ValueError message is reported."""

    def convert(node: yaml.Node, path: str, problems: Problems) -> T:
        try:
            return parse(text(node, path, problems))
        except ValueError as error:
            raise Invalid(str(error)) from error

    return convert


class Choice:
    """One word out of a fixed set, in any letter case (a converter).

    A class rather than a closure, so that ``options`` can be read back for
    messages (``choices_of``) and for checking the documentation.
    """

    def __init__(self, *options: str) -> None:
        self.options = options

    def __call__(self, node: yaml.Node, path: str, problems: Problems) -> str:
        value = text(node, path, problems)
        word = value.strip().lower()
        if word not in self.options:
            raise Invalid(f'"{quote(value)}" is not allowed; use one of: {", ".join(self.options)}')
        return word


def choice(*options: str) -> Convert[str]:
    """One word out of a fixed set, in any letter case."""
    return Choice(*options)


def optional(convert: Convert[T]) -> Convert[T | None]:
    """A value that may be null (``~`` or nothing), meaning None."""

    def maybe(node: yaml.Node, path: str, problems: Problems) -> T | None:
        if isinstance(node, yaml.ScalarNode) and node.tag == NULL_TAG:
            return None
        return convert(node, path, problems)

    return maybe


def sequence(convert: Convert[T], *, empty: str | None = None) -> Convert[tuple[T, ...]]:
    """A YAML list of values; ``empty``, when given, is the message for an empty list."""

    def convert_all(node: yaml.Node, path: str, problems: Problems) -> tuple[T, ...]:
        if isinstance(node, yaml.ScalarNode) and node.tag == NULL_TAG:
            raise Invalid("has no value; write [] for an empty list, or remove the line to use the default")
        if isinstance(node, yaml.ScalarNode):
            raise Invalid(f"must be a list; write it in brackets: [{quote(node.value)}]")
        if not isinstance(node, yaml.SequenceNode):
            raise Invalid(f"must be a list, like [first, second], not {describe(node)}")
        if empty is not None and not node.value:
            raise Invalid(empty)
        items: list[T] = []
        failed = False
        for index, item in enumerate(node.value):
            item_path = f"{path}[{index}]"
            try:
                items.append(convert(item, item_path, problems))
            except Invalid as error:
                failed = True
                if error.message is not None:
                    problems.add(item_path, item, error.message)
        if failed:
            raise Invalid()
        return tuple(items)

    return convert_all


def section(cls: type[D], check: Check[D] | None = None) -> Convert[D]:
    """A YAML mapping turned into ``cls``, whose fields were declared with setting()."""

    def convert(node: yaml.Node, path: str, problems: Problems) -> D:
        if isinstance(node, yaml.ScalarNode) and node.tag == NULL_TAG:
            # A section whose keys are all commented out: nothing to change.
            return build(cls, {}, node, path, problems, check)
        if not isinstance(node, yaml.MappingNode):
            raise Invalid(f"must be a section of keys (key: value on lines below it), not {describe(node)}")
        found_before = len(problems)
        given = read_mapping(cls, node, path, problems)
        result = build(cls, given, node, path, problems, check)
        if len(problems) > found_before:  # unknown or duplicate keys
            raise Invalid()
        return result

    return convert


def build(
    cls: type[D],
    given: dict[str, tuple[yaml.Node, yaml.Node]],
    node: yaml.Node,
    path: str,
    problems: Problems,
    check: Check[D] | None,
) -> D:
    """Convert the keys given and construct ``cls``; Invalid when anything failed."""
    values: dict[str, Any] = {}
    failed = False
    for field in dataclasses.fields(cls):
        field_path = join(path, field.name)
        if field.name not in given:
            if field.default is dataclasses.MISSING:
                failed = True
                problems.add(path, node, _missing_message(field))
            continue
        _, value_node = given[field.name]
        try:
            values[field.name] = field.metadata[_CONVERTER](value_node, field_path, problems)
        except Invalid as error:
            failed = True
            if error.message is not None:
                problems.add(field_path, value_node, error.message)
    if failed:
        raise Invalid()
    result = cls(**values)
    breaches = list(check(result)) if check is not None else []
    for key, message in breaches:
        key_node = given[key][0] if key in given else node
        problems.add(join(path, key), key_node, message)
    if breaches:
        raise Invalid()
    return result


def read_mapping(
    cls: type[DataclassInstance], node: yaml.MappingNode, path: str, problems: Problems
) -> dict[str, tuple[yaml.Node, yaml.Node]]:
    """The known keys of a mapping node with their key and value nodes.

    Unknown and duplicate keys are reported here; the first of two duplicates wins
    only so that its value can still be checked.
    """
    known = [field.name for field in dataclasses.fields(cls)]
    given: dict[str, tuple[yaml.Node, yaml.Node]] = {}
    seen: dict[str, yaml.Node] = {}
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == NULL_TAG:
            problems.add(path, key_node, f"a key must be a plain name, not {describe(key_node)}")
            continue
        key = str(key_node.value)
        key_path = join(path, key)
        if key in seen:
            problems.add(
                key_path,
                key_node,
                f'"{quote(key)}" is given twice (first on line {line_of(seen[key])}); keep only one',
            )
            continue
        seen[key] = key_node
        if key not in known:
            problems.add(key_path, key_node, unknown_key_message(key, known))
            continue
        given[key] = (key_node, value_node)
    return given


def unknown_key_message(key: str, known: Sequence[str]) -> str:
    close = suggestion(key, known)
    if close:
        return f'unknown key "{quote(key)}"; did you mean "{close}"?'
    return f'unknown key "{quote(key)}"; the keys allowed here are: {listing(known)}'


def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
