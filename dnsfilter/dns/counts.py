"""What the resolver's plain counters add up to, for metrics.

The query path only adds one to plain integers, and only where nothing
counts already: an allowed answer from the cache is a cache hit, so it is
not counted a second time. Here, off the query path, the counters are
turned into the numbers people ask for:

- every query is counted once in ``queries``, and once by the decision made
  for it (``decisions``) as soon as that is final: at once for what is
  answered from the filter or the cache, once answered for what waits on an
  upstream (a name its CNAMEs lead to may still be blocked). The decisions
  trail ``queries`` by the answers in flight;
- every query that could be read is counted once by its type (``by_type``);
- every query came over UDP or TCP (``by_transport``).

Each number only grows while the filter runs, so Prometheus can take it for
a counter: the parts of a difference are counted in the same step.
"""

from __future__ import annotations

from itertools import compress

from dnsfilter.dns.cache import AnswerCache
from dnsfilter.dns.resolver import ResolverStats
from dnsfilter.dns.rrtypes import type_name

_RUN = 1024
_ZEROS = [0] * _RUN


def decisions(stats: ResolverStats, cache: AnswerCache) -> dict[str, int]:
    """Queries by what was decided: allowed, blocked, safe_search (rewritten to the
    engine's filtered host), bypass (answered here by bypass protection), refused
    (a client outside dns.allow_clients), malformed, unsupported."""
    allowed_hits = cache.hits - stats.rewrite_hits - stats.chain_blocked_hits
    return {
        "allowed": allowed_hits + stats.allowed_uncached,
        "blocked": stats.blocked,
        "safe_search": stats.rewritten,
        "bypass": stats.answered_locally,
        "refused": stats.refused,
        "malformed": stats.malformed,
        "unsupported": stats.unsupported,
    }


def by_transport(stats: ResolverStats) -> dict[str, int]:
    return {"udp": stats.queries - stats.tcp_queries, "tcp": stats.tcp_queries}


def by_type(stats: ResolverStats) -> dict[str, int]:
    """Queries by record type name (A, AAAA, HTTPS...); types without a name are
    summed as "other", so a client sending every number cannot make thousands of series."""
    counts = stats.by_type
    counted: dict[str, int] = {}
    # A few types among 65536: whole runs of zeros are passed over at C speed.
    for start in range(0, len(counts), _RUN):
        run = counts[start : start + _RUN]
        if run == _ZEROS:
            continue
        for qtype in compress(range(start, start + _RUN), run):
            name = type_name(qtype)
            if name.startswith("TYPE"):
                name = "other"
            counted[name] = counted.get(name, 0) + counts[qtype]
    return counted
