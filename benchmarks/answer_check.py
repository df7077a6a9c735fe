"""What a server answers for a sample of names: blocked as it should be, or passed upstream.

One UDP query per name, one at a time, with a time limit for the whole check.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Sequence
from dataclasses import dataclass

from bench_servers import HOST
from dns_probe import ProbeReply, query_udp

# fake_upstream.address_for answers every name it knows from this network.
UPSTREAM_NETWORK = ipaddress.ip_network("198.18.0.0/15")
UPSTREAM = "upstream"  # the expected answer: an address from the fake upstream
NO_ADDRESS = "no address"  # the expected answer: NOERROR or NXDOMAIN, no A record
QUERY_TIMEOUT_SECONDS = 1.0
FAILURE_EXAMPLES = 3


@dataclass(frozen=True, slots=True)
class Expectation:
    label: str  # "listed", "subdomains", "allowed"
    answer: str  # an IPv4 address, UPSTREAM or NO_ADDRESS
    names: Sequence[str]


@dataclass(frozen=True, slots=True)
class CheckResult:
    label: str
    answer: str
    asked: int
    passed: int
    planned: int
    failures: tuple[str, ...]  # the first few, as "name: what came back"

    @property
    def ok(self) -> bool:
        return self.passed == self.planned


def matches(answer: str, reply: ProbeReply | None) -> bool:
    if reply is None:
        return False
    if answer == UPSTREAM:
        return reply.rcode == "NOERROR" and any(
            ipaddress.ip_address(address) in UPSTREAM_NETWORK
            for address in reply.addresses
        )
    if answer == NO_ADDRESS:
        return reply.rcode in ("NOERROR", "NXDOMAIN") and not reply.addresses
    return reply.rcode == "NOERROR" and reply.addresses == (answer,)


def describe(reply: ProbeReply | None) -> str:
    if reply is None:
        return "no reply"
    return f"{reply.rcode} {', '.join(reply.addresses) or 'no A'}"


def check_answers(
    port: int,
    expectations: Sequence[Expectation],
    deadline_seconds: float,
    *,
    source: str | None = None,
    edns_options: bytes | None = None,
) -> list[CheckResult]:
    """Ask every name (once more after a timeout) until done or ``deadline_seconds`` pass.

    ``source`` and ``edns_options`` say who asks (see ``dns_probe.query_udp``).
    """

    def ask(name: str) -> ProbeReply | None:
        return query_udp(
            HOST,
            port,
            name,
            QUERY_TIMEOUT_SECONDS,
            source=source,
            edns_options=edns_options,
        )

    deadline = time.monotonic() + deadline_seconds
    results = []
    for expectation in expectations:
        asked = passed = 0
        failures: list[str] = []
        for name in expectation.names:
            if time.monotonic() >= deadline:
                break
            reply = ask(name)
            if reply is None:
                reply = ask(name)
            asked += 1
            if matches(expectation.answer, reply):
                passed += 1
            elif len(failures) < FAILURE_EXAMPLES:
                failures.append(f"{name}: {describe(reply)}")
        results.append(
            CheckResult(
                expectation.label,
                expectation.answer,
                asked,
                passed,
                len(expectation.names),
                tuple(failures),
            )
        )
    return results


def format_checks(server: str, results: Sequence[CheckResult]) -> list[str]:
    """One line per server, then a "!" line per group that did not all pass."""
    counts = "  ".join(
        f"{result.label} {result.passed}/{result.planned}" for result in results
    )
    lines = [f"  {server:<8} {counts}"]
    for result in results:
        if result.ok:
            continue
        unasked = result.planned - result.asked
        why = "; ".join(result.failures)
        if unasked:
            why += f"; {unasked} not asked (time limit)"
        lines.append(
            f"! {server} {result.label}: expected {result.answer}, "
            f"{result.planned - result.passed} did not get it ({why.lstrip('; ')})"
        )
    return lines
