"""The web UI's translations: every language complete and consistent.

Texts live in flat message-id files (``webui/i18n/<lang>.json``) that a
translator edits without touching code; these tests say exactly which key of
which language is missing, empty or has different ``{placeholders}``."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
WEBUI = REPO / "webui"
I18N = WEBUI / "i18n"
PLACEHOLDER = re.compile(r"\{(\w+)\}")
# t("key") / t('key') / t(`key`) with a literal key (no ${...} in it).
COMMENTS = re.compile(r"/\*.*?\*/|^\s*//[^\n]*$", re.DOTALL | re.MULTILINE)
T_CALL = re.compile(r"""(?<![\w.$])tx?\(\s*(["'`])([^"'`$]+?)\1""")


def load(path: Path) -> dict[str, str]:
    with path.open(encoding="utf-8") as f:
        data = json.load(f)
    assert isinstance(data, dict), f"{path.name}: must be one JSON object"
    for key, value in data.items():
        assert isinstance(value, str), f"{path.name}: {key} must be a string, not {type(value).__name__}"
    return data


LANGUAGES: dict[str, str] = json.loads((I18N / "languages.json").read_text(encoding="utf-8"))
MESSAGES: dict[str, dict[str, str]] = {
    code: load(I18N / f"{code}.json") for code in LANGUAGES if (I18N / f"{code}.json").exists()
}


def test_english_and_vietnamese_are_offered() -> None:
    assert {"en", "vi"} <= set(LANGUAGES)
    assert all(isinstance(name, str) and name for name in LANGUAGES.values())


@pytest.mark.parametrize("code", sorted(LANGUAGES))
def test_every_language_has_a_file(code: str) -> None:
    assert (I18N / f"{code}.json").exists(), f"languages.json lists {code!r} but i18n/{code}.json is missing"


@pytest.mark.parametrize("code", sorted(set(LANGUAGES) - {"en"}))
def test_every_language_has_exactly_the_english_keys(code: str) -> None:
    english, other = set(MESSAGES["en"]), set(MESSAGES[code])
    missing = sorted(english - other)
    extra = sorted(other - english)
    assert not missing, f"{code}.json is missing {len(missing)} key(s): {', '.join(missing)}"
    assert not extra, f"{code}.json has key(s) that en.json has not: {', '.join(extra)}"


@pytest.mark.parametrize("code", sorted(LANGUAGES))
def test_no_text_is_empty(code: str) -> None:
    empty = sorted(k for k, v in MESSAGES[code].items() if not v.strip())
    assert not empty, f"{code}.json has empty text for: {', '.join(empty)}"


@pytest.mark.parametrize("code", sorted(set(LANGUAGES) - {"en"}))
def test_placeholders_are_the_same_in_every_language(code: str) -> None:
    wrong = []
    for key, english in MESSAGES["en"].items():
        if key not in MESSAGES[code]:
            continue  # reported by the key test
        want = sorted(set(PLACEHOLDER.findall(english)))
        got = sorted(set(PLACEHOLDER.findall(MESSAGES[code][key])))
        if want != got:
            wrong.append(f"{key}: en has {want}, {code} has {got}")
    assert not wrong, f"{code}.json placeholders differ:\n" + "\n".join(wrong)


def used_keys() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in sorted(WEBUI.rglob("*.js")):
        if "vendor" in path.relative_to(WEBUI).parts:
            continue
        code = COMMENTS.sub("", path.read_text(encoding="utf-8"))
        for match in T_CALL.finditer(code):
            found.setdefault(match.group(2), set()).add(str(path.relative_to(REPO)))
    return found


def test_the_key_scanner_finds_keys() -> None:
    assert "nav.home" in used_keys()
    assert T_CALL.search('x = t("a.b", {n: 1})') and not T_CALL.search("format(x)")


def test_every_key_used_in_the_code_exists_in_english() -> None:
    english = MESSAGES["en"]
    # t("log.action." + action): a prefix; at least one key must start with it.
    missing = {
        key: files
        for key, files in used_keys().items()
        if (key not in english if not key.endswith(".") else not any(k.startswith(key) for k in english))
    }
    assert not missing, "keys used in the code but missing from en.json:\n" + "\n".join(
        f"{key} (in {', '.join(sorted(files))})" for key, files in sorted(missing.items())
    )
