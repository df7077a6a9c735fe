"""Which configuration and database the commands use: the installed ones, wherever the shell is,
and never a new empty database made by a command other than ``run``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dnsfilter.cli.where import CONFIG_VARIABLE, choose_config
from dnsfilter.config import DATABASE_FILE, load_config
from tests.running import started_once

REPO = Path(__file__).resolve().parents[2]


def _dnsfilter(*args: str, cwd: Path, config: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != CONFIG_VARIABLE}
    env["PYTHONPATH"] = str(REPO)
    if config is not None:
        env[CONFIG_VARIABLE] = str(config)
    return subprocess.run(
        [sys.executable, "-m", "dnsfilter", *args], capture_output=True, text=True, cwd=cwd, env=env,
        timeout=120, check=False,
    )  # fmt: skip


@pytest.fixture
def installed(tmp_path: Path) -> Path:
    """A configuration in its own folder whose relative data_dir the filter has started in once."""
    folder = tmp_path / "etc"
    folder.mkdir()
    config = folder / "dnsfilter.yaml"
    config.write_text("data_dir: state\ntime_zone: Asia/Ho_Chi_Minh\n")
    started_once(folder / "state")
    return config


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    """The folder a parent's shell happens to be in."""
    folder = tmp_path / "home"
    folder.mkdir()
    return folder


def test_the_command_line_then_the_variable_then_the_installed_file(tmp_path: Path) -> None:
    system = tmp_path / "dnsfilter.yaml"
    given, named = tmp_path / "given.yaml", tmp_path / "named.yaml"
    assert choose_config(None, {}, system).path is None
    assert "no /" in choose_config(None, {}, system).describe()
    system.write_text("")
    assert choose_config(None, {}, system).path == system
    assert choose_config(None, {CONFIG_VARIABLE: str(named)}, system).path == named
    assert choose_config(given, {CONFIG_VARIABLE: str(named)}, system).path == given
    assert choose_config(None, {CONFIG_VARIABLE: "  "}, system).path == system  # set but empty: not set


def test_a_relative_data_dir_is_next_to_the_config_file(
    installed: Path, elsewhere: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(elsewhere)
    assert load_config(installed).data_dir == installed.parent / "state"
    absolute = installed.parent / "absolute.yaml"
    absolute.write_text(f"data_dir: {elsewhere / 'x'}\n")
    assert load_config(absolute).data_dir == elsewhere / "x"


def test_import_from_another_folder_goes_to_the_database_the_filter_reads(
    installed: Path, elsewhere: Path
) -> None:
    exported = _dnsfilter("policy", "export", "-o", "-", cwd=elsewhere, config=installed)
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout.startswith("#") and "profiles:" in exported.stdout
    assert not (elsewhere / "-").exists()  # "-" is standard output, not a file named "-"
    database = installed.parent / "state" / DATABASE_FILE
    assert exported.stderr == f"dnsfilter: settings from {installed}; database {database}\n"

    (elsewhere / "family.yaml").write_text(exported.stdout)
    imported = _dnsfilter("policy", "import", "family.yaml", cwd=elsewhere, config=installed)
    assert imported.returncode == 0, imported.stderr
    assert f"database {database}" in imported.stderr
    assert sorted(path.name for path in elsewhere.iterdir()) == ["family.yaml"]  # no ./data made here


@pytest.mark.parametrize(
    "command",
    [
        ["explain", "example.org"],
        ["policy", "import", "family.yaml"],
        ["policy", "export"],
        ["log", "search"],
        ["stats"],
        ["lists", "status"],
        ["lists", "update"],
    ],
    ids=lambda command: " ".join(command[:2]),
)
def test_without_a_database_a_command_says_where_it_looked_and_creates_nothing(
    elsewhere: Path, command: list[str]
) -> None:
    (elsewhere / "family.yaml").write_text("profiles: []\n")
    result = _dnsfilter(*command, cwd=elsewhere)
    assert result.returncode == 1, result.stdout
    message = result.stderr
    assert f"Nothing is stored at {elsewhere / 'data'}" in message
    assert "built-in settings" in message and f"${CONFIG_VARIABLE} not set" in message
    assert "-c /path/to/dnsfilter.yaml" in message and "Traceback" not in message
    assert sorted(path.name for path in elsewhere.iterdir()) == ["family.yaml"]


def test_a_named_config_that_is_missing_is_an_error_not_the_defaults(elsewhere: Path) -> None:
    result = _dnsfilter("stats", cwd=elsewhere, config=elsewhere / "nowhere.yaml")
    assert result.returncode == 2
    assert f"{elsewhere / 'nowhere.yaml'}: 1 problem(s)" in result.stderr and "does not exist" in result.stderr


def test_check_config_checks_the_file_the_commands_would_use(installed: Path, elsewhere: Path) -> None:
    result = _dnsfilter("check-config", cwd=elsewhere, config=installed)
    assert result.returncode == 0, result.stderr
    assert f"{installed}: the configuration is valid." in result.stdout
    assert f"data in {installed.parent / 'state'}" in result.stdout
    nothing = _dnsfilter("check-config", cwd=elsewhere)
    assert nothing.returncode == 1
    assert "There is no configuration file to check" in nothing.stderr and "-c FILE" in nothing.stderr
