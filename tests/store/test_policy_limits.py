"""A policy file made to hurt is refused quickly and plainly: aliases that
stand for millions of entries, more profiles, devices or names than a home
has (the limits in docs/policy-file.md), nesting a thousand levels deep, and
thousands of mistakes that would each list every profile."""

from __future__ import annotations

import resource
import subprocess
import sys
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from dnsfilter.errors import PolicyFileError
from dnsfilter.store.policyschema import LIMITS, parse_policy
from dnsfilter.yamlread import MAX_DEPTH
from dnsfilter.yamlschema import MAX_PROBLEMS
from tests.running import started_once

REPO = Path(__file__).resolve().parents[2]
REFERENCE = REPO / "docs" / "policy-file.md"
TAGS = frozenset({"games", "adult"})
HEAD = "dnsfilter_policy: 1\nprofiles:\n- name: Everyone\n  default: true\n"


def problems_of(text: str) -> list[str]:
    with pytest.raises(PolicyFileError) as raised:
        parse_policy(text, TAGS, "family.yaml", ZoneInfo("UTC"))
    return raised.value.problems


def test_an_alias_bomb_is_refused_before_it_expands() -> None:
    # 28 KB that stood for 10 million names: 100 profiles x 100 rules x 1000 names.
    names = "[" + ", ".join(f"n{number}.example.org" for number in range(1000)) + "]"
    rule = '  - &R\n    days: daily\n    start: "20:00"\n    end: "07:00"\n    action: allow_only\n    allow: &A ' + names
    text = HEAD + "  rules:\n" + rule + "\n" + "  - {days: daily, start: '20:00', end: '07:00', action: allow_only, allow: *A}\n" * 99
    text += "".join(f"- name: Kid{number}\n  rules: [*R]\n" for number in range(99))
    started = time.perf_counter()
    [problem] = problems_of(text)
    assert time.perf_counter() - started < 2
    assert "repeats a value with a YAML alias" in problem and "write the entries out" in problem
    assert problem.startswith("profiles[0].rules[1].allow (line 12)")


def many(limit: str) -> tuple[str, int]:
    """A file one over ``limit``, and the line the refused list starts on (its first item)."""
    over = LIMITS[limit] + 1
    if limit == "profiles":
        return HEAD + "".join(f"- name: Kid{number}\n" for number in range(over - 1)), 3
    if limit == "devices":
        return HEAD + "devices:\n" + "".join(f"- {{key: 'ip:10.0.{n // 250}.{n % 250 + 1}', profile: Everyone}}\n" for n in range(over)), 6
    if limit == "overrides":
        item = "- {profile: Everyone, kind: pause, expires: '2026-12-07 20:00', created_by: Mum}\n"
        return HEAD + "overrides:\n" + item * over, 6
    if limit == "profiles.rules":
        return HEAD + "  rules:\n" + "  - {days: daily, start: '20:00', end: '21:00', action: block_tags, tags: [games]}\n" * over, 6
    if limit == "profiles.budgets":
        return HEAD + "  budgets:\n" + "  - {tag: games, minutes: 30}\n" * over, 6
    if limit == "tags":
        return HEAD + "  blocked: [" + ", ".join(["games"] * over) + "]\n", 5
    return HEAD + "  allow: [" + ", ".join(f"n{number}.example.org" for number in range(over)) + "]\n", 5


@pytest.mark.parametrize("limit", list(LIMITS), ids=list(LIMITS))
def test_more_than_a_limit_is_refused_with_the_limit_and_the_line(limit: str) -> None:
    text, line = many(limit)
    started = time.perf_counter()
    problems = problems_of(text)
    assert time.perf_counter() - started < 5
    [problem] = [problem for problem in problems if "more than the" in problem]
    assert f"(line {line})" in problem
    assert f"{LIMITS[limit] + 1} " in problem and f"the {LIMITS[limit]} a policy file may have" in problem


@pytest.mark.parametrize("limit", list(LIMITS), ids=list(LIMITS))
def test_the_reference_gives_each_limit(limit: str) -> None:
    reference = REFERENCE.read_text(encoding="utf-8")
    assert f"at most {LIMITS[limit]:,}" in reference


def test_devices_naming_an_unknown_profile_among_thousands_give_short_messages() -> None:
    # 20,000 profiles (refused: over the limit) and 200 devices naming one that does not exist.
    text = HEAD + "".join(f"- name: Kid{number}\n" for number in range(20_000))
    text += "devices:\n" + "".join(f"- {{key: 'ip:10.0.0.{n + 1}', profile: Nobody{n}}}\n" for n in range(200))
    started = time.perf_counter()
    problems = problems_of(text)
    assert time.perf_counter() - started < 5
    assert len(problems) <= MAX_PROBLEMS + 1
    assert sum(len(problem) for problem in problems) < 50_000


def test_a_misspelt_profile_is_still_suggested_at_the_limit() -> None:
    text = HEAD + "".join(f"- name: Kid{number}\n" for number in range(LIMITS["profiles"] - 1))
    text += "devices:\n" + "".join(f"- {{key: 'ip:10.0.0.{n + 1}', profile: Kidd{n}}}\n" for n in range(200))
    started = time.perf_counter()
    problems = problems_of(text)
    assert time.perf_counter() - started < 5
    assert 'did you mean "Kid0"?' in problems[0]
    assert problems[-1] == f"... and {200 - MAX_PROBLEMS} more; fix these first"


def test_a_big_file_at_the_limits_is_read_quickly() -> None:
    text = HEAD + "".join(
        f"- name: Kid{number}\n  allow: [{', '.join(f'n{n}.example.org' for n in range(100))}]\n"
        for number in range(LIMITS["profiles"] - 1)
    )
    text += "devices:\n" + "".join(
        f"- {{key: 'ip:10.0.{n // 250}.{n % 250 + 1}', profile: Kid{n % 99}}}\n" for n in range(LIMITS["devices"])
    )
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    policy = parse_policy(text, TAGS, "family.yaml", ZoneInfo("UTC"))
    assert time.perf_counter() - started < 5
    assert len(policy.devices) == LIMITS["devices"]
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000  # kB


@pytest.mark.parametrize(
    "text",
    [
        HEAD + "settings:\n  x: " + "[" * 1000 + "]" * 1000 + "\n",
        HEAD + "settings:\n  x: " + "{a: " * 1000 + "1" + "}" * 1000 + "\n",
    ],
    ids=["lists", "sections"],
)
def test_policy_import_of_a_deeply_nested_file(tmp_path: Path, text: str) -> None:
    started_once(tmp_path / "data")
    (tmp_path / "family.yaml").write_text(text)
    done = subprocess.run(
        [sys.executable, "-m", "dnsfilter", "policy", "import", str(tmp_path / "family.yaml"), "--data-dir", str(tmp_path / "data")],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert "Traceback" not in output
    assert f"nested deeper than {MAX_DEPTH} levels" in output
    assert len(output) < 2000
