"""The layout holds: imports run one way (the import-linter contracts in
setup.cfg), the DNS path starts without the database library, and every
part says what it holds and what it may import."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "dnsfilter"


def test_imports_follow_the_layers() -> None:
    linter = Path(sys.executable).parent / "lint-imports"
    if not linter.exists():
        pytest.fail(f"lint-imports is missing from {linter.parent}; install the test tools: pip install -e '.[test]'")
    done = subprocess.run(
        [str(linter), "--no-cache"], cwd=REPO, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


# Modules a part of the filter must start without: the DNS path answers even
# where the database or YAML libraries are missing or broken.
BLOCKER = textwrap.dedent(
    """
    import importlib.abc, sys

    class Refuse(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in {blocked!r}:
                raise ImportError("blocked for this test: " + name)
            return None

    sys.meta_path.insert(0, Refuse())
    import {module}
    print("imported", {module}.__name__)
    """
)


@pytest.mark.parametrize(
    ("module", "blocked"),
    [
        ("dnsfilter.dns.resolver", ("sqlalchemy", "yaml", "aiohttp")),
        ("dnsfilter.dns.server", ("sqlalchemy", "yaml", "aiohttp")),
        ("dnsfilter.policy.snapshot", ("sqlalchemy", "yaml", "aiohttp", "dnslib", "asyncio")),
        ("dnsfilter.lists.index", ("sqlalchemy", "aiohttp", "dnslib")),
    ],
    ids=["resolver", "listeners", "policy", "index"],
)
def test_a_part_imports_without_the_libraries_it_must_not_need(module: str, blocked: tuple[str, ...]) -> None:
    script = BLOCKER.format(blocked=set(blocked), module=module)
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"imported {module}" in done.stdout


def test_the_blocker_really_blocks() -> None:
    script = BLOCKER.format(blocked={"sqlalchemy"}, module="dnsfilter.store")
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "blocked for this test: sqlalchemy" in done.stderr


def test_every_part_says_what_it_holds_and_what_it_may_import() -> None:
    for init in sorted(PACKAGE.glob("*/__init__.py")):
        text = init.read_text(encoding="utf-8")
        assert text.startswith('"""'), f"{init.relative_to(REPO)} has no docstring"
        docstring = text.split('"""')[1]
        assert "import" in docstring, f"{init.relative_to(REPO)} does not say what it may import"


# Longer than ~400 lines, and why that is still one job.
LONG_MODULES = {
    "dnsfilter/dns/wire.py": "the hot path's parser and reply builders share its struct formats and memo",
    "dnsfilter/dns/resolver.py": "the pipeline read top to bottom in one place; the miss path shares its state",
}


def test_modules_stay_small() -> None:
    too_long = []
    for module in sorted(PACKAGE.rglob("*.py")):
        lines = module.read_text(encoding="utf-8").count("\n")
        name = module.relative_to(REPO).as_posix()
        if lines > 420 and name not in LONG_MODULES:
            too_long.append(f"{name}: {lines} lines")
    assert not too_long, "split these, or say in LONG_MODULES why they are one job: " + ", ".join(too_long)


def test_the_top_of_the_package_holds_only_what_every_part_shares() -> None:
    top = sorted(path.name for path in PACKAGE.glob("*.py"))
    assert top == ["__init__.py", "__main__.py", "errors.py", "yamlread.py", "yamlschema.py"]
