"""Reading YAML text for the checkers: the nodes of a file, safely.

``compose`` uses libyaml when it is there (several times faster than the
pure-Python parser, with the same nodes and line numbers) and refuses what a
hostile file would use against the reader: aliases, which let a small file
stand for millions of entries, and nesting deep enough to exhaust the stack.
``syntax_problem`` says in plain words where a file is not YAML.
"""

from __future__ import annotations

import functools
from typing import Any, Final, TypeVar

import yaml

from dnsfilter.yamlschema import (
    BOOL_TAG,
    INT_TAG,
    MAX_QUOTED,
    NULL_TAG,
    STR_TAG,
    Convert,
    Invalid,
    Problems,
    describe,
    join,
    line_of,
    quote,
    scalar,
)

T = TypeVar("T")

MAX_DEPTH: Final = 50  # levels of lists and sections in a file; dnsfilter's own need fewer than 10
_LOADER: Final[type[Any]] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def compose(text: str) -> yaml.Node | None:
    """The nodes of ``text``; Invalid("path (line N): ...") when they are not for the converters:
    a YAML alias, which lets a small file stand for millions of entries, or nesting deeper than MAX_DEPTH."""
    try:
        root: yaml.Node | None = yaml.compose(text, Loader=_LOADER)
    except RecursionError:  # the pure-Python composer (PyYAML without libyaml) recurses
        raise Invalid(f"line 1: {_TOO_DEEP}") from None
    except yaml.YAMLError as error:
        raise Invalid(syntax_problem(_in_pyyaml_words(error, text), text)) from None
    seen: set[int] = set()
    waiting = [(root, 1, root, "")] if root is not None else []
    while waiting:  # a loop, not recursion: any depth is measured safely
        node, depth, written_at, path = waiting.pop()
        if id(node) in seen:  # an alias is the same node object again; said where it is written
            problem = Problems()
            in_list = isinstance(written_at, yaml.SequenceNode)  # said at the list: the item has no line of its own
            problem.add(path[: path.rindex("[")] if in_list else path, written_at, _ALIAS)
            raise Invalid(problem.messages[0])
        if depth > MAX_DEPTH:
            raise Invalid(f"line {line_of(node)}: {_TOO_DEEP}")
        seen.add(id(node))
        if isinstance(node, yaml.ScalarNode):
            node.style = node.style or None  # plain: libyaml says "", PyYAML's own composer None
        elif isinstance(node, yaml.SequenceNode):  # reversed: the first in the file is looked at first
            items = reversed(list(enumerate(node.value)))
            waiting += [(item, depth + 1, node, f"{path}[{index}]") for index, item in items]
        elif isinstance(node, yaml.MappingNode):
            for key, value in reversed(node.value):
                waiting += [(value, depth + 1, key, join(path, str(key.value))), (key, depth + 1, key, path)]
    return root


_ALIAS: Final = "repeats a value with a YAML alias (*name); write the entries out in full, without & and *"
_TOO_DEEP: Final = (
    f"lists and sections are nested deeper than {MAX_DEPTH} levels; "
    "this is not a dnsfilter file: check that the right file was given"
)


def _in_pyyaml_words(error: yaml.YAMLError, text: str) -> yaml.YAMLError:
    """The mistake libyaml found, as PyYAML's own parser words it (plainer, and as dnsfilter always did)."""
    try:
        if len(text) < 1_000_000:  # in a bigger file, in libyaml's words: the pure parser is slow
            yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as worded:
        return worded
    except RecursionError:
        pass
    return error


def syntax_problem(error: yaml.YAMLError, text: str) -> str:
    """Where and why ``text`` is not YAML, for a parent to fix."""
    if isinstance(error, yaml.reader.ReaderError):
        line = text.count("\n", 0, error.position) + 1
        character = chr(error.character) if isinstance(error.character, int) else error.character
        return f"line {line}: the character {character!r} cannot be in a YAML file; write it as an escape in double quotes"
    mark = (error.problem_mark or error.context_mark) if isinstance(error, yaml.MarkedYAMLError) else None
    where = f"line {mark.line + 1}: " if mark is not None else ""
    what = "; ".join(part for part in (getattr(error, "context", None), getattr(error, "problem", None)) if part)
    if "maximum nesting depth" in what:  # libyaml's own limit, at 1000 levels
        return where + _TOO_DEEP
    lines = text.split("\n") if mark is not None else []
    if "\t" in what or (mark is not None and "\t" in lines[min(mark.line, len(lines) - 1)]):
        hint = "indent with spaces, not tabs"  # libyaml does not say the character was a tab
    elif "single document" in what:
        hint = 'keep one document: remove the "---" line'
    else:
        hint = "check the indentation, colons and quotes on that line and the line before"
    return f"{where}this is not valid YAML ({quote(what or error, 2 * MAX_QUOTED)}); {hint}"


def as_written(convert: Convert[T]) -> Convert[T]:
    """``convert`` given the text as written, where YAML 1.1 reads words as other types.

    Unquoted, ``off`` is false and ``20:30`` the number 1230 (minutes in base 60);
    a parent writing them by hand means the words.
    """

    @functools.wraps(convert)  # choices_of() still finds the words of a choice
    def convert_text(node: yaml.Node, path: str, problems: Problems) -> T:
        if isinstance(node, yaml.ScalarNode) and node.style is None and node.tag in (BOOL_TAG, INT_TAG):
            node = yaml.ScalarNode(STR_TAG, node.value, node.start_mark, node.end_mark)
        return convert(node, path, problems)

    return convert_text


def plain_data(node: yaml.Node) -> Any:
    """A setting's value: text, numbers, true/false, null, lists and sections of these."""
    if isinstance(node, yaml.SequenceNode):
        return [plain_data(item) for item in node.value]
    if isinstance(node, yaml.MappingNode):
        mapping: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = scalar(key_node)
            if not isinstance(key, str):
                raise Invalid(f"has a key that is {describe(key_node)}; keys must be text")
            mapping[key] = plain_data(value_node)
        return mapping
    return None if node.tag == NULL_TAG else scalar(node)
