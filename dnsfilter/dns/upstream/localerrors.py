"""Errors of this machine, not of an upstream: out of file descriptors,
buffers or local ports. They must not count against an upstream's health.

Kept apart from the pool so the resolver can tell them apart without
importing the transports' libraries.
"""

from __future__ import annotations

import errno

from dnsfilter.errors import UpstreamError

# The errors, with what to do about them (the log says it).
LOCAL_ERRORS: dict[int, str] = {
    errno.EMFILE: "raise the open-file limit (LimitNOFILE= in the systemd unit, or ulimit -n)",
    errno.ENFILE: "raise the system's open-file limit (fs.file-max) or stop what holds so many files",
    errno.ENOBUFS: "the machine is short of memory for network buffers; free some memory",
    errno.ENOMEM: "the machine is short of memory; free some memory",
    errno.EADDRNOTAVAIL: "no local address or port is free; check this machine's network configuration",
    errno.EADDRINUSE: "no local port is free; check this machine's network configuration",
}


class LocalProblem(UpstreamError):
    """This machine could not ask (out of file descriptors, buffers, ports): not the upstream's fault."""


def local_problem(error: BaseException) -> OSError | None:
    """The local OSError behind ``error`` (itself or what it was raised from), if any."""
    seen: BaseException | None = error
    for _ in range(4):  # a transport wraps at most a couple of times
        if seen is None:
            return None
        if isinstance(seen, OSError) and seen.errno in LOCAL_ERRORS:
            return seen
        seen = seen.__cause__ or seen.__context__
    return None
