"""docs/policy-file.md against the schema it describes (``policyschema.SECTIONS``),
so that the reference and the import cannot drift apart: every key the import
accepts is documented with its allowed words and default, nothing documented
is unknown to it, its examples import, and the export's comments name every
key and point to it."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from dnsfilter.lists.catalog import load_catalog
from dnsfilter.store import PolicyStore
from dnsfilter.store.policyfile import export_policy
from dnsfilter.store.policyschema import SECTIONS, parse_policy
from dnsfilter.yamlschema import choices_of

REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "policy-file.md"
_MARKER = re.compile(r"<!-- schema: (\S+) -->\n((?:\|.*\n)+)")
_TICKED = re.compile(r"`([^`]+)`")


def documented_tables() -> dict[str, dict[str, dict[str, str]]]:
    """Each ``<!-- schema: NAME -->`` table: key -> column name -> cell text."""
    tables: dict[str, dict[str, dict[str, str]]] = {}
    for name, table in _MARKER.findall(REFERENCE.read_text(encoding="utf-8")):
        header, _, *rows = [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in table.splitlines()]
        keys = {}
        for cells in rows:
            row = dict(zip(header, cells, strict=True))
            keys[row["Key"].strip("`")] = row
        tables[name] = keys
    return tables


def default_text(field: dataclasses.Field[Any]) -> str:
    """A field's default as the reference writes it."""
    if field.default is dataclasses.MISSING:
        return "required"
    if field.name == "settings":
        return "`{}`"  # a section of keys, held as pairs
    value = field.default
    written = {None: "null", True: "true", False: "false", (): "[]", "": '""'}.get(value, str(value))
    return f"`{written}`"


SECTION_KEYS = [(name, field) for name, cls in SECTIONS.items() for field in dataclasses.fields(cls)]


def test_every_section_has_a_table_and_every_table_a_section() -> None:
    assert sorted(documented_tables()) == sorted(SECTIONS)


@pytest.mark.parametrize(("section", "cls"), SECTIONS.items(), ids=list(SECTIONS))
def test_every_key_is_documented_and_nothing_else(section: str, cls: type[Any]) -> None:
    documented = documented_tables()[section]
    assert sorted(documented) == sorted(field.name for field in dataclasses.fields(cls))


@pytest.mark.parametrize(("section", "field"), SECTION_KEYS, ids=[f"{s}.{f.name}" for s, f in SECTION_KEYS])
def test_each_key_has_its_default_and_allowed_words(section: str, field: dataclasses.Field[Any]) -> None:
    row = documented_tables()[section][field.name]
    assert row["Default"] == default_text(field)
    assert row["Type"] and row["What it is"]
    if words := choices_of(field):
        # A choice lists exactly the words the import takes: none missing, none unknown.
        assert _TICKED.findall(row["Allowed values"]) == list(words)
        assert row["Type"] == "word"
    else:
        assert row["Type"] != "word", "a word key whose words the schema does not list"


def test_the_examples_import_as_written() -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", REFERENCE.read_text(encoding="utf-8"), re.DOTALL)
    assert blocks
    catalog = load_catalog()
    for block in blocks:
        policy = parse_policy(block, catalog.tags, "docs/policy-file.md", ZoneInfo("UTC"))
        # "2026-12-07 20:00" is read in the file's own time zone, Asia/Ho_Chi_Minh.
        assert [item.expires for item in policy.overrides] == [datetime(2026, 12, 7, 13, 0, tzinfo=UTC)]


def test_the_export_points_to_the_reference_and_names_every_key(store: PolicyStore) -> None:
    exported = export_policy(store, datetime(2025, 3, 14, tzinfo=UTC), ZoneInfo("Asia/Ho_Chi_Minh"))
    comments = "\n".join(line for line in exported.splitlines() if line.startswith("#"))
    assert "docs/policy-file.md" in comments
    assert "Asia/Ho_Chi_Minh" in comments
    # The top-level keys are each written, under their comment; the keys inside are named in it.
    assert [line.partition(":")[0] for line in exported.splitlines() if line[:1].isalpha()] == [
        field.name for field in dataclasses.fields(SECTIONS["top"])
    ]
    inner = [(section, field) for section, field in SECTION_KEYS if section != "top"]
    unnamed = [f"{section}.{field.name}" for section, field in inner if not re.search(rf"\b{field.name}\b", comments)]
    assert not unnamed, f"the export's comments do not name {unnamed}"
    for section, field in SECTION_KEYS:
        for word in choices_of(field):
            assert re.search(rf"\b{word}\b", comments), f"the export's comments do not name {word} ({section}.{field.name})"
