"""Local errors are not upstream failures: with this process out of file
descriptors, a question fails at once (SERVFAIL to the client), the log says
what to do on this machine, and the upstream stays healthy."""

from __future__ import annotations

import errno
import logging
import os
import resource
import socket
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from dnslib import RCODE

from dnsfilter.config.settings import LAN_NETWORKS
from dnsfilter.dns.acl import ClientAcl
from dnsfilter.dns.cache import AnswerCache, CacheLimits
from dnsfilter.dns.localzones import LocalZones
from dnsfilter.dns.resolver import AnswerSettings, Resolver
from dnsfilter.dns.upstream.localerrors import LocalProblem
from dnsfilter.dns.upstream.pool import Backoff
from dnsfilter.policy.snapshot import PolicySnapshot
from tests.dns.test_resolver import CHILD, awaited, family  # noqa: F401 - a fixture
from tests.dns.upstream.test_pool import QUESTION, MakePool, addresses, make_pool, upstream  # noqa: F401 - fixtures
from tests.fakes import FakeUpstream, make_query
from tests.policy.test_snapshot import index  # noqa: F401 - a fixture

ADVICE = "raise the open-file limit"


@contextmanager
def out_of_descriptors() -> Iterator[None]:
    """No new file descriptor can be opened inside the block (EMFILE); all restored after."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    held: list[socket.socket] = []
    # A soft limit just above what is open keeps the number of sockets to fill it small.
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, len(os.listdir("/proc/self/fd")) + 16), hard))
    try:
        while True:
            try:
                held.append(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
            except OSError as error:
                assert error.errno == errno.EMFILE
                break
        yield
    finally:
        for sock in held:
            sock.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.mark.parametrize("scheme", ["", "tcp://"], ids=["udp", "tcp"])
async def test_running_out_of_descriptors_is_not_the_upstreams_fault(
    upstream: FakeUpstream, make_pool: MakePool, caplog: pytest.LogCaptureFixture, scheme: str  # noqa: F811
) -> None:
    caplog.set_level(logging.INFO, logger="dnsfilter")
    pool = make_pool([scheme + upstream.address], backoff=Backoff(failures_to_down=1))
    with out_of_descriptors():
        for _ in range(3):
            with pytest.raises(LocalProblem, match="Too many open files"):
                await pool.resolve(QUESTION)
    [status] = pool.status()
    assert status.healthy and status.consecutive_failures == 0 and status.last_error is None
    assert upstream.total_queries == 0
    problems = [record for record in caplog.records if ADVICE in record.getMessage()]
    assert len(problems) == 1 and "local problem" in problems[0].getMessage()
    assert not [record for record in caplog.records if "is down" in record.getMessage()]
    assert addresses(await pool.resolve(QUESTION)) == ["192.0.2.1"]


async def test_the_client_gets_servfail_at_once(
    upstream: FakeUpstream, make_pool: MakePool, family: PolicySnapshot  # noqa: F811
) -> None:
    pool = make_pool([upstream.address])
    resolver = Resolver(
        policy=family,
        cache=AnswerCache(CacheLimits(size=100)),
        upstreams=pool,
        local_zones=LocalZones("lan"),
        local_upstreams=None,
        acl=ClientAcl(LAN_NETWORKS),
        settings=AnswerSettings(),
    )
    with out_of_descriptors():
        reply = await awaited(resolver.handle(make_query("example.org"), CHILD, False))
    assert reply.header.rcode == RCODE.SERVFAIL
    assert pool.status()[0].consecutive_failures == 0
    reply = await awaited(resolver.handle(make_query("example.org"), CHILD, False))
    assert [str(rr.rdata) for rr in reply.rr] == ["192.0.2.1"]
