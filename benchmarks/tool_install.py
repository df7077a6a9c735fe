"""Install the Debian packages a benchmark needs (only when a binary is missing); read versions."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

SBIN_PATH = "/usr/local/sbin:/usr/sbin:/sbin"
APT_TIMEOUT_SECONDS = 600
# dnsperf and both reference servers: what a run of ours next to unbound and
# dnsmasq needs (binary -> Debian package).
REFERENCE_PACKAGES = {
    "dnsperf": "dnsperf",
    "dnsmasq": "dnsmasq-base",
    "unbound": "unbound",
    "unbound-checkconf": "unbound",
    "taskset": "util-linux",
}


class ToolInstallError(RuntimeError):
    """A needed binary is missing and apt-get could not install it."""


def is_installed(binary: str) -> bool:
    return bool(shutil.which(binary) or shutil.which(binary, path=SBIN_PATH))


def ensure_installed(packages_by_binary: Mapping[str, str]) -> None:
    """Run ``apt-get update`` once and ``apt-get install -y`` for missing binaries.

    ``packages_by_binary`` maps a binary name to the Debian package shipping it.
    Prints each command it runs; does nothing when every binary is present.
    """
    missing = {
        binary: package
        for binary, package in packages_by_binary.items()
        if not is_installed(binary)
    }
    if not missing:
        return
    packages = sorted(set(missing.values()))
    print(
        f"missing {', '.join(sorted(missing))}: installing {' '.join(packages)}",
        flush=True,
    )
    for command in (["apt-get", "update"], ["apt-get", "install", "-y", *packages]):
        print(f"  $ {' '.join(command)}", flush=True)
        try:
            subprocess.run(
                command,
                check=True,
                stdin=subprocess.DEVNULL,
                timeout=APT_TIMEOUT_SECONDS,
                env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
            )
        except (OSError, subprocess.SubprocessError) as error:
            raise ToolInstallError(
                f"could not install {' '.join(packages)} ({error}); install them by hand and run again"
            ) from error
    still_missing = [binary for binary in missing if not is_installed(binary)]
    if still_missing:
        raise ToolInstallError(
            f"{', '.join(still_missing)} still missing after installing {' '.join(packages)}"
        )


def tool_version(command: list[str]) -> str:
    """The version ``command`` prints ("Version 2.10.0" and the like), or "?"."""
    try:
        output = subprocess.run(
            command, capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return "?"
    found = re.search(r"[Vv]ersion\s+(\S+)", output)
    return found.group(1) if found else "?"


def source_state(repository: Path, folder: str) -> str:
    """``code: <commit>``, and the files under ``folder`` changed since (or "?").

    Said next to the figures: the code measured may not be the commit.
    """

    def git(*arguments: str) -> str:
        return subprocess.run(
            ["git", "-C", str(repository), *arguments],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout

    try:
        commit = git("rev-parse", "--short", "HEAD").strip() or "?"
        status = git("status", "--short", "--", folder).splitlines()
    except (OSError, subprocess.SubprocessError):
        return "code: ?"
    changed = [line[3:] for line in status if line.strip()]
    if not changed:
        return f"code: {commit}"
    return f"code: {commit}, uncommitted changes in {', '.join(changed)}"
