"""Root commands act as the filter's own user.

A parent runs ``sudo dnsfilter passwd`` (or ``policy import``, ``lists
update``...). Run as root, such a command would leave root-owned files in the
service's data folder: SQLite's ``-wal`` and ``-shm`` files made by root lock
the service, which runs as the user ``dnsfilter``, out of its own database.
So when root runs a command on a data folder that another user owns, the
command becomes that user (groups, group, user, for good) before it opens
anything there. A data folder that does not exist yet, or is root's own,
changes nothing.
"""

from __future__ import annotations

import grp
import os
import pwd
import sys
import sysconfig
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from dnsfilter.errors import UsageError


@dataclass(frozen=True, slots=True)
class Owner:
    """The user and group a command switches to, with the user's name when it has one."""

    uid: int
    gid: int
    name: str | None

    def describe(self) -> str:
        user = self.name if self.name is not None else f"uid {self.uid}"
        try:
            group = grp.getgrgid(self.gid).gr_name
        except KeyError:
            group = f"gid {self.gid}"
        return f"{user} (group {group})"


def data_owner(data_dir: Path, euid: int | None = None) -> Owner | None:
    """The user a command run by ``euid`` must become to work on ``data_dir``, or None to stay.

    Only root switches, and only to the owner of an existing folder that is not root's.
    """
    if (os.geteuid() if euid is None else euid) != 0:
        return None
    try:
        status = data_dir.stat()
    except OSError:
        return None  # no folder yet: the command makes none, or fails as it always did
    if status.st_uid == 0:
        return None
    try:
        account = pwd.getpwuid(status.st_uid)
    except KeyError:
        return Owner(status.st_uid, status.st_gid, None)
    return Owner(status.st_uid, account.pw_gid, account.pw_name)


def become(owner: Owner) -> None:
    """Switch this process to ``owner`` for good: supplementary groups, then group, then user."""
    if owner.name is not None:
        os.initgroups(owner.name, owner.gid)
    else:
        os.setgroups([])
    os.setgid(owner.gid)
    os.setuid(owner.uid)


def unreadable_for(owner: Owner, paths: Sequence[Path]) -> list[Path]:
    """Those of ``paths`` that ``owner`` cannot read, tried in a child process that becomes it."""
    reader, writer = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through the pipe and never returns
        try:
            os.close(reader)
            become(owner)
            missing = [str(index) for index, path in enumerate(paths) if not os.access(path, os.R_OK | os.X_OK)]
            os.write(writer, ",".join(missing).encode() or b"-")
        finally:
            os._exit(0)
    os.close(writer)
    with os.fdopen(reader, "rb") as answer:
        report = answer.read().decode()
    os.waitpid(child, 0)
    if not report:
        return list(paths)  # the child could not even switch
    return [paths[int(index)] for index in report.split(",") if index != "-"]


def program_folders() -> list[Path]:
    """Where this command's Python and its packages live: the switched process still imports from them."""
    paths = sysconfig.get_paths()
    folders = [Path(paths[name]) for name in ("stdlib", "platstdlib", "purelib", "platlib")]
    return list(dict.fromkeys([*folders, Path(__file__).parent]))


def act_as_data_owner(data_dir: Path) -> Owner | None:
    """Become the owner of ``data_dir`` when root runs this command, and say so on standard error."""
    owner = data_owner(data_dir)
    if owner is None:
        return None
    unreadable = unreadable_for(owner, program_folders())
    if unreadable:
        raise UsageError(
            f"{data_dir} belongs to {owner.describe()}, and this command must run as that user so the filter's "
            f"files stay its own, but that user cannot read {unreadable[0]}, where this Python and dnsfilter "
            "are installed. Run the installed command instead (/usr/local/bin/dnsfilter, set up by "
            "sudo ./bootstrap.sh install), or a dnsfilter installed where that user can read it."
        )
    print(
        f"dnsfilter: acting as {owner.describe()}, the owner of {data_dir}, so the filter's files stay its own",
        file=sys.stderr,
    )
    become(owner)
    return owner
