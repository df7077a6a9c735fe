"""``sudo ./bootstrap.sh install`` and ``uninstall``, for real, into a temporary
root (DNSFILTER_ROOT): the user, systemctl and the running service are left
alone there, everything else is as on a Raspberry Pi. One install (pip
downloads and builds, which takes a while) serves the whole module; the
tests run in this file's order and the last one uninstalls.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from dnsfilter import __version__
from tests.running import started_once

REPO = Path(__file__).resolve().parents[1]
BOOTSTRAP = REPO / "bootstrap.sh"
ADDRESS = "192.0.2.10"  # the box's address on the home network, as the installer would find it
ROUTER = "192.0.2.1"
SCORE = re.compile(r"Overall exposure level for dnsfilter\.service: (\d+\.\d+) (\w+)")


@dataclass(frozen=True)
class Installed:
    root: Path
    output: str

    @property
    def venv(self) -> Path:
        return self.root / "opt/dnsfilter/venv"

    @property
    def config(self) -> Path:
        return self.root / "etc/dnsfilter/dnsfilter.yaml"

    @property
    def data(self) -> Path:
        return self.root / "var/lib/dnsfilter"

    @property
    def unit(self) -> Path:
        return self.root / "etc/systemd/system/dnsfilter.service"

    @property
    def link(self) -> Path:
        return self.root / "usr/local/bin/dnsfilter"


def bootstrap(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    environ = {name: value for name, value in os.environ.items() if name not in ("PYTHON", "PYTHONPATH")}
    environ.update(DNSFILTER_ROOT=str(root), DNSFILTER_ADDRESS=ADDRESS, DNSFILTER_ROUTER=ROUTER)
    return subprocess.run(
        ["sh", str(BOOTSTRAP), *args], cwd="/", env=environ, capture_output=True, text=True, timeout=900, check=False
    )


def outside_the_checkout(*command: str | Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """A command run from / with none of the checkout on its path, as the service and a parent run it."""
    environ = {name: value for name, value in os.environ.items() if name not in ("PYTHONPATH", "DNSFILTER_CONFIG")}
    return subprocess.run(
        [str(part) for part in command], cwd="/", env=environ, input=stdin,
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def installed() -> Iterator[Installed]:
    # Every user may enter it: the root test switches to nobody, who runs the installed Python.
    root = Path(tempfile.mkdtemp(prefix="dnsfilter-root-"))
    root.chmod(0o755)
    try:
        done = bootstrap(root, "install")
        assert done.returncode == 0, done.stdout + done.stderr
        yield Installed(root, done.stderr)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_install_puts_every_part_in_place(installed: Installed) -> None:
    # The program: a plain (not editable) install, working from anywhere.
    version = outside_the_checkout(installed.link, "--version")
    assert version.stdout.strip() == f"dnsfilter {__version__}", version.stderr
    assert os.readlink(installed.link) == str(installed.venv / "bin/dnsfilter")
    where = outside_the_checkout(installed.venv / "bin/python", "-c", "import dnsfilter; print(dnsfilter.__file__)")
    assert Path(where.stdout.strip()).is_relative_to(installed.venv), where.stdout
    assert not list(installed.venv.glob("lib/python3*/site-packages/__editable__*"))
    # Built with the system's Python, which the service (ProtectHome=) can see.
    assert (installed.venv / "pyvenv.cfg").read_text().count("/root/") == 0

    # The shipped config, with this box's addresses and nothing else changed.
    shipped = (REPO / "config/dnsfilter.yaml").read_text().splitlines()
    written = installed.config.read_text().splitlines()
    keep_it = "# this box, set at install: keep its address fixed in the router"
    changed = {(before, after) for before, after in zip(shipped, written, strict=True) if before != after}
    assert changed == {
        ("    - 127.0.0.1:5300", f"    - {ADDRESS}:53   {keep_it}"),
        ("  listen: 127.0.0.1:8080", f"  listen: {ADDRESS}:8080   # this box, set at install"),
        ("  router: ~", f"  router: {ROUTER}   # set at install: this box's gateway"),
        ("data_dir: /var/lib/dnsfilter", f"data_dir: {installed.data}"),
    }
    check = outside_the_checkout(installed.link, "check-config", "-c", installed.config)
    assert check.returncode == 0 and "the configuration is valid" in check.stdout, check.stdout + check.stderr
    assert installed.data.is_dir() and installed.data.stat().st_mode & 0o777 == 0o700

    # The unit, its paths where the installer put things.
    unit = installed.unit.read_text()
    shipped_unit = (REPO / "systemd/dnsfilter.service").read_text()
    assert unit == shipped_unit.replace("/opt/dnsfilter/", f"{installed.root}/opt/dnsfilter/").replace(
        "/etc/dnsfilter/", f"{installed.root}/etc/dnsfilter/"
    )
    assert f"ExecStart={installed.venv}/bin/dnsfilter run -c {installed.config}\n" in unit
    assert "ExecStart=/opt/dnsfilter/venv/bin/dnsfilter run -c /etc/dnsfilter/dnsfilter.yaml\n" in shipped_unit
    assert (installed.root / "opt/dnsfilter/README.md").is_file()

    # What the parent reads at the end.
    assert f"http://{ADDRESS}:8080/" in installed.output
    assert "sudo dnsfilter passwd" in installed.output and "journalctl -u dnsfilter" in installed.output
    assert "docs/routers.md" in installed.output


def test_the_installed_unit_is_valid_and_hardened(installed: Installed) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (Debian's systemd package): the unit was not checked")
    verify = subprocess.run(
        [analyze, "verify", str(installed.unit)], capture_output=True, text=True, timeout=120, check=False
    )
    assert verify.returncode == 0 and not verify.stdout + verify.stderr, verify.stdout + verify.stderr
    security = subprocess.run(
        [analyze, "security", "--offline=true", "--no-pager", str(installed.unit)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    found = SCORE.search(security.stdout)
    assert found, security.stdout + security.stderr
    print(found.group(0))
    assert float(found.group(1)) < 2.0 and found.group(2) == "OK", security.stdout


@pytest.mark.skipif(os.geteuid() != 0, reason="acting as the service's user needs root; the tests run as another")
def test_sudo_dnsfilter_passwd_acts_as_the_owner_of_the_data(installed: Installed) -> None:
    # The service's user is not made under a test root: nobody stands in for it.
    nobody = pwd.getpwnam("nobody")
    started_once(installed.data)
    for item in [installed.data, *installed.data.rglob("*")]:
        os.chown(item, nobody.pw_uid, nobody.pw_gid)
    done = outside_the_checkout(installed.link, "passwd", "-c", installed.config, stdin="a long password at home\n")
    assert done.returncode == 0, done.stderr
    said = f"dnsfilter: acting as nobody (group nogroup), the owner of {installed.data}, so the filter's files stay "
    assert said + "its own" in done.stderr.splitlines()
    assert done.stdout.startswith("Password set for the web page")
    files = [installed.data, *installed.data.rglob("*")]
    assert not [str(item) for item in files if item.lstat().st_uid != nobody.pw_uid]


def test_a_second_install_keeps_the_config_and_uninstall_keeps_the_family_data(installed: Installed) -> None:
    edited = installed.config.read_text() + "# a parent's own change\n"
    installed.config.write_text(edited)
    again = bootstrap(installed.root, "install")
    assert again.returncode == 0, again.stderr
    assert f"keeping the existing {installed.config}" in again.stderr
    assert installed.config.read_text() == edited
    assert outside_the_checkout(installed.link, "--version").returncode == 0

    (installed.data / "dnsfilter.db").touch()  # the family's data, whatever ran before
    removed = bootstrap(installed.root, "uninstall")
    assert removed.returncode == 0, removed.stderr
    assert not installed.unit.exists() and not installed.link.is_symlink()
    assert not (installed.root / "opt/dnsfilter").exists()
    assert installed.config.read_text() == edited
    assert (installed.data / "dnsfilter.db").is_file()
    assert "--purge" in removed.stderr

    purged = bootstrap(installed.root, "uninstall", "--purge")
    assert purged.returncode == 0, purged.stderr
    assert not (installed.root / "etc/dnsfilter").exists() and not installed.data.exists()


@pytest.mark.parametrize(
    ("args", "environ", "message"),
    [
        (["uninstall", "--everything"], {}, "usage: sudo ./bootstrap.sh uninstall [--purge]"),
        (["install", "now"], {}, "usage: sudo ./bootstrap.sh install"),
        (["uninstall"], {"DNSFILTER_ROOT": "relative/root"}, "DNSFILTER_ROOT must be an absolute path"),
    ],
    ids=["unknown option", "extra argument", "relative root"],
)
def test_mistakes_are_refused_before_anything_changes(
    tmp_path: Path, args: list[str], environ: dict[str, str], message: str
) -> None:
    done = subprocess.run(
        ["sh", str(BOOTSTRAP), *args], cwd=tmp_path, env={**os.environ, "DNSFILTER_ROOT": str(tmp_path), **environ},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert list(tmp_path.iterdir()) == []
