"""Which configuration a command reads, and so which database it uses.

Every command finds the installed configuration by itself, so a parent's
``dnsfilter policy import`` or ``explain`` reads the database the service
uses, whatever folder the shell is in: ``-c FILE`` first, then the file named
by ``$DNSFILTER_CONFIG``, then ``/etc/dnsfilter/dnsfilter.yaml`` when it
exists, else the built-in settings.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from dnsfilter.config import Config
from dnsfilter.errors import NoDatabase, UsageError
from dnsfilter.store import database_location

SYSTEM_CONFIG = Path("/etc/dnsfilter/dnsfilter.yaml")
CONFIG_VARIABLE = "DNSFILTER_CONFIG"


@dataclass(frozen=True)
class ConfigChoice:
    """The configuration file chosen (None: the built-in settings) and what was looked at."""

    path: Path | None
    looked_at: str

    def describe(self) -> str:
        return str(self.path) if self.path is not None else f"the built-in settings ({self.looked_at})"


def choose_config(
    given: Path | None, environ: Mapping[str, str] = os.environ, system: Path = SYSTEM_CONFIG
) -> ConfigChoice:
    """The configuration a command reads: ``given`` (-c), ``$DNSFILTER_CONFIG``, ``system`` if it exists."""
    if given is not None:
        return ConfigChoice(given, "-c")
    named = environ.get(CONFIG_VARIABLE, "").strip()
    if named:
        return ConfigChoice(Path(named), f"${CONFIG_VARIABLE}")
    if system.is_file():
        return ConfigChoice(system, "installed")
    return ConfigChoice(None, f"no -c, ${CONFIG_VARIABLE} not set, no {system}")


def using(config: Config, choice: ConfigChoice) -> str:
    """The line that says which settings and which database a command used."""
    return f"dnsfilter: settings from {choice.describe()}; database {database_location(config.database_url, config.data_dir)}"


def require_sqlite_file(config: Config) -> None:
    """Stop before any work (a password typed, lists compiled) when the SQLite file is not there."""
    if config.database_url.startswith("sqlite"):
        location = database_location(config.database_url, config.data_dir)
        if not Path(location).is_file():
            raise NoDatabase(location)


def require_data_dir(config: Config) -> None:
    """Commands other than ``run`` work on what the filter has stored; none makes a new data folder."""
    if not config.data_dir.is_dir():
        raise NoDatabase(str(config.data_dir))


def nothing_there(missing: NoDatabase, choice: ConfigChoice) -> UsageError:
    """What a parent reads when a command finds no database: where it looked, and how to point it elsewhere."""
    return UsageError(
        f"Nothing is stored at {missing.where} yet (settings from {choice.describe()}), so nothing was done.\n"
        "The filter creates its database the first time it runs (dnsfilter run, or sudo systemctl start dnsfilter).\n"
        "If it already runs with another configuration, point this command at it: add -c /path/to/dnsfilter.yaml, "
        f"or set {CONFIG_VARIABLE}=/path/to/dnsfilter.yaml."
    )
