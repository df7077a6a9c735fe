"""Files made to hurt: nesting a thousand levels deep, YAML aliases, values of
megabytes, thousands of mistakes. Each is refused with a short message that
says what to do, through the real command too: never a traceback, never the
file printed back."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from dnsfilter.config import parse_config
from dnsfilter.errors import ConfigError
from dnsfilter.yamlread import MAX_DEPTH, compose
from dnsfilter.yamlschema import MAX_PROBLEMS, listing, suggestion

REPO = Path(__file__).resolve().parents[2]
DEEP = {
    "flow-lists": "dns:\n  listen: " + "[" * 1000 + "]" * 1000 + "\n",
    "flow-sections": "dns: " + "{a: " * 1000 + "1" + "}" * 1000 + "\n",
    "beyond-libyaml": "dns: " + "[" * 5000 + "]" * 5000 + "\n",
    "block-sections": "dns:\n" + "".join(" " * level + "a:\n" for level in range(1, 300)) + " " * 300 + "a: 1\n",
}


def problems_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        parse_config(text)
    return raised.value.problems


@pytest.mark.parametrize("text", DEEP.values(), ids=list(DEEP))
def test_deep_nesting_is_refused_plainly(text: str) -> None:
    [problem] = problems_of(text)
    assert f"nested deeper than {MAX_DEPTH} levels" in problem
    assert problem.startswith("line ") and len(problem) < 300


def test_nesting_dnsfilter_uses_is_fine() -> None:
    assert compose("a: " + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1)) is not None


def run_dnsfilter(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dnsfilter", *args], cwd=REPO, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(("command", "shape"), [("check-config", "flow-lists"), ("run", "flow-sections")])
def test_a_command_on_a_deeply_nested_file_says_so_in_a_line(tmp_path: Path, command: str, shape: str) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text(DEEP[shape])
    done = run_dnsfilter(command, "-c", str(path))
    assert done.returncode != 0
    assert "Traceback" not in done.stderr + done.stdout
    assert f"nested deeper than {MAX_DEPTH} levels" in done.stderr + done.stdout
    assert len(done.stderr + done.stdout) < 2000


def test_an_alias_is_refused_with_where_it_is() -> None:
    [problem] = problems_of("upstream:\n  servers: &s [1.1.1.1]\nblocking:\n  deny: *s\n")
    assert problem.startswith("blocking.deny (line 4): repeats a value with a YAML alias")
    assert "write the entries out" in problem


MEGABYTES = "x" * 10_000_000


@pytest.mark.parametrize(
    "text",
    [
        f"log_level: {MEGABYTES}\n",  # a word out of a choice
        f"{MEGABYTES}: 1\n",  # an unknown key
        f"dns:\n  udp_payload_size: {MEGABYTES}\n",  # a number
        f"dns:\n  udp_payload_size: {'9' * 100_000}\n",  # a number Python refuses to read
        f"blocking:\n  deny: {MEGABYTES}\n",  # a list written without brackets
    ],
    ids=["choice", "key", "number", "digits", "list"],
)
def test_a_huge_value_is_quoted_short(text: str) -> None:
    [problem] = problems_of(text)
    assert len(problem) < 600


def test_thousands_of_mistakes_show_the_first_ones_and_a_count() -> None:
    text = "blocking:\n  deny:\n" + "".join(f"  - [{index}]\n" for index in range(5000))
    started = time.perf_counter()
    problems = problems_of(text)
    assert time.perf_counter() - started < 5
    assert len(problems) == MAX_PROBLEMS + 1
    assert problems[0].startswith("blocking.deny[0] (line 3)")
    assert problems[-1] == f"... and {5000 - MAX_PROBLEMS} more; fix these first"


def test_suggestions_and_listings_stay_small_among_many_names() -> None:
    names = [f"Kid{number}" for number in range(20_000)]
    started = time.perf_counter()
    for _ in range(200):
        suggestion("Kidd12345", names)
    assert time.perf_counter() - started < 2
    assert suggestion("kid123", names) is not None  # alike at a glance: still found
    assert listing(names).endswith("and 19980 more")


def test_libyaml_nodes_keep_their_lines_and_plain_style() -> None:
    root = compose("a:\n  - b\n  - 'c'\n")
    assert isinstance(root, yaml.MappingNode)
    [(_, items)] = root.value
    assert [item.start_mark.line for item in items.value] == [1, 2]
    assert [item.style for item in items.value] == [None, "'"]


def test_a_syntax_mistake_is_worded_as_before() -> None:
    [problem] = problems_of("dns:\n\tlisten: []\n")
    assert problem.startswith("line 2: this is not valid YAML (")
    assert "indent with spaces, not tabs" in problem
