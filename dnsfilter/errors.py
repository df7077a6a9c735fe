"""The error hierarchy: everything dnsfilter raises on purpose is a DnsFilterError.

Only the command-line entry point turns these into exit codes; messages are
written for the parent reading them and say what to do next.
"""

from __future__ import annotations


def shown(text: str) -> str:
    """``text`` safe to quote in a message: control, format and line-break
    characters escaped as Python writes them (``\\x1b``, ``\\u202e``), and
    backslashes doubled so an escape cannot be faked. Names from the network
    and the policy are quoted through this, so a device cannot write escape
    sequences to a parent's terminal or log by naming itself.
    """
    return "".join("\\\\" if ch == "\\" else ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)


class DnsFilterError(Exception):
    """Base of every error dnsfilter raises on purpose."""


class UsageError(DnsFilterError):
    """What a parent asked for (on the command line or the web page) cannot be
    used: a time, day, name or record type that is not one, or a device or
    profile that does not exist. The message says what would work."""


class ConfigError(DnsFilterError):
    """The configuration file is missing, unreadable or invalid.

    ``problems`` holds every problem found, each already formatted as
    ``path (line N): what is wrong``, so all of them can be shown at once.
    """

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{source}: {len(self.problems)} problem(s) in the configuration:\n{lines}")


class ListenError(DnsFilterError):
    """A listening socket could not be opened (port taken, no permission...)."""


class UpstreamError(DnsFilterError):
    """No upstream resolver gave a usable answer."""


class IndexFileError(DnsFilterError):
    """The compiled list index file is missing, damaged or from another version."""


class CatalogError(DnsFilterError):
    """The blocklist catalog (blocklists/catalog.yaml, blocklists/services/) is missing or invalid.

    ``problems`` holds every problem found, each formatted
    ``file: path (line N): what is wrong``.
    """

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(
            f"{source}: {len(self.problems)} problem(s) in the blocklist catalog:\n{lines}\n"
            "Reinstalling dnsfilter restores the original files."
        )


class StoreError(DnsFilterError):
    """The family policy database cannot be opened, read or written, or refused a change."""


class NoDatabase(StoreError):
    """There is no dnsfilter database where one was looked for, and this command may not create one
    (only ``dnsfilter run`` does, so a mistyped path never starts an empty family policy)."""

    def __init__(self, where: str) -> None:
        self.where = where
        super().__init__(f"there is no dnsfilter database at {where}")


class PolicyFileError(ConfigError):
    """A family policy file (``dnsfilter policy import``) is unreadable or invalid; nothing was imported.

    ``problems`` holds every problem found, each formatted ``path (line N): what is wrong``.
    """

    def __init__(self, source: str, problems: list[str]) -> None:
        super().__init__(source, problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        # Replaces ConfigError's text, which speaks of the configuration file.
        message = (
            f"{source}: {len(self.problems)} problem(s) in the policy file; nothing was imported:\n{lines}\n"
            "Fix them and run the import again; the current policy is unchanged."
        )
        self.args = (message,)
