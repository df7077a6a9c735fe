"""Safe-search answers: the name asked, as a CNAME to the engine's filtered
host, followed by that host's records as the upstream gave them.

Built once per cache lifetime (a miss), with dnslib, so it enters the cache
like any upstream answer and every later hit is served by patching bytes.
"""

from __future__ import annotations

from dnslib import (
    CNAME,
    QTYPE,
    RR,
    DNSBuffer,
    DNSError,
    DNSHeader,
    DNSQuestion,
    DNSRecord,
)

from dnsfilter.dns.wire import MalformedPacket

# The CNAME's TTL when the target has no records to take one from.
EMPTY_TARGET_TTL = 60


def rewrite_response(question: bytes, target: str, target_response: bytes) -> bytes:
    """An upstream-style response to ``question``: ``CNAME target`` then the
    answer (and, for a negative answer, authority) records of ``target_response``.

    Raises MalformedPacket when the upstream response cannot be read.
    """
    try:
        upstream = DNSRecord.parse(target_response)
        asked = DNSQuestion.parse(DNSBuffer(question))
    except (DNSError, ValueError, IndexError) as error:
        raise MalformedPacket(f"cannot read the answer for {target}: {error}") from None
    ttl = min((record.ttl for record in upstream.rr), default=EMPTY_TARGET_TTL)
    header = DNSHeader(id=0, qr=1, ra=1, rd=1, rcode=upstream.header.rcode)
    reply = DNSRecord(header, q=asked)
    reply.add_answer(RR(asked.qname, QTYPE.CNAME, ttl=ttl, rdata=CNAME(target)))
    for record in upstream.rr:
        reply.add_answer(record)
    for record in upstream.auth:
        reply.add_auth(record)  # the SOA that lets a negative answer be cached
    return bytes(reply.pack())
