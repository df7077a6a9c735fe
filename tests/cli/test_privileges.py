"""Commands run by root act as the owner of the data folder, so a parent's
``sudo dnsfilter passwd`` leaves no root-owned file for the service to trip on.

These need root (to own folders as another user and to switch to it); as
another user they are skipped, saying so. The installed command, with the
system's Python, is tested the same way in tests/test_install.py.
"""

from __future__ import annotations

import os
import pwd
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from dnsfilter.cli import privileges
from tests.running import started_once

REPO = Path(__file__).resolve().parents[2]
NOBODY = pwd.getpwnam("nobody")
PASSWORD = "a long password for the web page\n"

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root; the tests run as another user")


@pytest.fixture
def open_folder() -> Iterator[Path]:
    """A folder every user may enter (pytest's own temporary folders are root's alone)."""
    folder = Path(tempfile.mkdtemp(prefix="dnsfilter-privileges-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        subprocess.run(["rm", "-rf", str(folder)], check=True)


def owned_by(path: Path, uid: int, gid: int) -> Path:
    for item in [path, *path.rglob("*")]:
        os.chown(item, uid, gid, follow_symlinks=False)
    return path


def owners(folder: Path) -> dict[str, int]:
    return {item.relative_to(folder).as_posix() or ".": item.lstat().st_uid for item in [folder, *folder.rglob("*")]}


def test_only_root_switches(tmp_path: Path) -> None:
    assert privileges.data_owner(tmp_path, euid=1000) is None


@needs_root
def test_root_stays_root_in_its_own_folder_or_where_there_is_none(tmp_path: Path) -> None:
    assert privileges.data_owner(tmp_path, euid=0) is None
    assert privileges.data_owner(tmp_path / "not-made-yet", euid=0) is None


@needs_root
def test_the_owner_of_the_data_folder_is_the_user_to_become(tmp_path: Path) -> None:
    owned_by(tmp_path, NOBODY.pw_uid, 0)
    assert privileges.data_owner(tmp_path, euid=0) == privileges.Owner(NOBODY.pw_uid, NOBODY.pw_gid, "nobody")
    # A user without a name (a folder left by systemd's DynamicUser=): its numbers.
    os.chown(tmp_path, 61234, 61235)
    assert privileges.data_owner(tmp_path, euid=0) == privileges.Owner(61234, 61235, None)


@needs_root
def test_becoming_the_owner_is_for_good(open_folder: Path) -> None:
    data = open_folder / "data"
    data.mkdir()
    owned_by(data, NOBODY.pw_uid, NOBODY.pw_gid)
    # Only modules loaded before the switch are used after it: this Python may live where nobody cannot read.
    script = (
        "import os, sys; from pathlib import Path; from dnsfilter.cli import privileges\n"
        "privileges.become(privileges.data_owner(Path(sys.argv[1])))\n"
        "Path(sys.argv[1], 'made').write_text('x')\n"
        "print(os.getuid(), os.geteuid(), os.getgid(), os.getegid(), sorted(os.getgroups()))\n"
        "try:\n    os.setuid(0)\nexcept PermissionError:\n    print('root is gone')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(data)], capture_output=True, text=True, cwd=REPO, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    uid, gid = NOBODY.pw_uid, NOBODY.pw_gid
    assert done.stdout.splitlines() == [f"{uid} {uid} {gid} {gid} [{gid}]", "root is gone"]
    assert (data / "made").stat().st_uid == uid


@needs_root
def test_sudo_dnsfilter_passwd_leaves_only_the_owners_files(open_folder: Path) -> None:
    data = owned_by(started_once(open_folder / "data"), NOBODY.pw_uid, NOBODY.pw_gid)
    done = subprocess.run(
        [sys.executable, "-m", "dnsfilter", "passwd", "--data-dir", str(data)],
        input=PASSWORD, capture_output=True, text=True, cwd=REPO, timeout=60, check=False,
    )  # fmt: skip
    nobody = privileges.Owner(NOBODY.pw_uid, NOBODY.pw_gid, "nobody")
    if privileges.unreadable_for(nobody, privileges.program_folders()):
        # This Python lives where nobody cannot read (pyenv under /root): refused plainly, nothing touched.
        assert done.returncode == 1
        assert "that user cannot read" in done.stderr and "/usr/local/bin/dnsfilter" in done.stderr
        assert "Traceback" not in done.stderr
    else:
        assert done.returncode == 0, done.stderr
        assert "acting as nobody (group nogroup)" in done.stderr
        assert done.stdout.startswith("Password set for the web page")
    assert set(owners(data).values()) == {NOBODY.pw_uid}, owners(data)


@needs_root
def test_a_folder_of_roots_own_is_used_as_root(open_folder: Path) -> None:
    data = started_once(open_folder / "data")
    done = subprocess.run(
        [sys.executable, "-m", "dnsfilter", "passwd", "--data-dir", str(data)],
        input=PASSWORD, capture_output=True, text=True, cwd=REPO, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "acting as" not in done.stderr
