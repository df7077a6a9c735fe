"""Read what dnsperf 2.x prints: the summary block and, with ``-v``, one line per query.

With ``-v`` each response is a line ``> RCODE name type latency-seconds`` and
each timeout ``> T name type``; the summary gives average latency only, so
percentiles come from the per-query lines.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

_SENT = re.compile(r"^\s*Queries sent:\s+(\d+)", re.MULTILINE)
_COMPLETED = re.compile(r"^\s*Queries completed:\s+(\d+)", re.MULTILINE)
_LOST = re.compile(r"^\s*Queries lost:\s+(\d+)", re.MULTILINE)
_QPS = re.compile(r"^\s*Queries per second:\s+([0-9.]+)", re.MULTILINE)
_RUN_TIME = re.compile(r"^\s*Run time \(s\):\s+([0-9.]+)", re.MULTILINE)
_RCODES = re.compile(r"^\s*Response codes:(.*)$", re.MULTILINE)
_RCODE_ITEM = re.compile(r"([A-Z0-9]+) (\d+) \(")
_PER_QUERY = re.compile(r"^> (\S+) \S+ \S+ ([0-9.]+)$", re.MULTILINE)


class DnsperfOutputError(ValueError):
    """dnsperf printed no statistics block (it failed before or during the run)."""


@dataclass(frozen=True, slots=True)
class DnsperfReport:
    sent: int
    completed: int
    lost: int
    queries_per_second: float
    run_seconds: float
    response_codes: dict[str, int]
    latencies: list[float]  # seconds, one per answered query; empty without -v

    def percentile_ms(self, percent: float) -> float | None:
        """Nearest-rank percentile of the answered queries' latency, in ms."""
        if not self.latencies:
            return None
        ordered = sorted(self.latencies)
        rank = max(1, math.ceil(percent / 100 * len(ordered)))
        return ordered[rank - 1] * 1000

    def non_noerror(self) -> dict[str, int]:
        return {
            code: count
            for code, count in self.response_codes.items()
            if code != "NOERROR"
        }


def parse_dnsperf(output: str) -> DnsperfReport:
    """The numbers in one dnsperf run's stdout."""

    def number(pattern: re.Pattern[str]) -> str:
        found = pattern.search(output)
        if found is None:
            raise DnsperfOutputError(
                f"no match for {pattern.pattern!r} in dnsperf output"
            )
        return found.group(1)

    rcode_line = _RCODES.search(output)
    response_codes = (
        {code: int(count) for code, count in _RCODE_ITEM.findall(rcode_line.group(1))}
        if rcode_line
        else {}
    )
    return DnsperfReport(
        sent=int(number(_SENT)),
        completed=int(number(_COMPLETED)),
        lost=int(number(_LOST)),
        queries_per_second=float(number(_QPS)),
        run_seconds=float(number(_RUN_TIME)),
        response_codes=response_codes,
        latencies=[float(seconds) for _, seconds in _PER_QUERY.findall(output)],
    )
