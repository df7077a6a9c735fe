"""Bypass protection: answers that keep devices using this filter.

Browsers and phones have built-in ways to stop asking the home resolver; a
few of them first ask the home resolver whether they may. Answering those
questions "no" is all this module does:

- Firefox turns on DNS over HTTPS by itself only if the canary name
  ``use-application-dns.net`` resolves; NXDOMAIN (or an answer without
  A/AAAA) tells it the network filters and DoH stays off.
  https://support.mozilla.org/en-US/kb/canary-domain-use-application-dnsnet
- iCloud Private Relay (Safari and other Apple traffic) checks
  ``mask.icloud.com`` and ``mask-h2.icloud.com``; Apple's "Prepare your network
  or web server for iCloud Private Relay" (section "Allow for network traffic
  audits") asks networks that must not allow the relay to answer those names
  negatively, which lets the device tell its user at once rather than time out.
  https://developer.apple.com/support/prepare-your-network-for-icloud-private-relay/
- Apple, Windows and other stub resolvers ask ``_dns.resolver.arpa`` for SVCB
  records (RFC 9462, Discovery of Designated Resolvers, section 4) to find an
  encrypted resolver to upgrade to. An answer with no records means "none
  here", and the device keeps plain DNS to this filter.

What this cannot stop:

- Chrome and Edge upgrade to DoH only when the configured resolver is a known
  public one that offers DoH; devices here are configured with this filter's
  address, so they have nothing to upgrade to and need no answer from us.
- DoH or DoT switched on by hand, or hard-coded in an app, never asks the home
  resolver first. Blocking the public resolvers' names is the ``doh_bypass``
  category's job, and VPNs and proxies the ``proxy_vpn`` category's
  (blocklists/catalog.yaml). A device that already knows a resolver's name can
  also ask ``_dns.<that name>`` directly (RFC 9462 section 5); that name
  belongs to the resolver and is covered only by those lists.

``bypass_answer`` takes the query name already normalised: lower case, no
trailing dot.
"""

from __future__ import annotations

import enum

from dnsfilter.policy.domains import self_and_parents


class BypassAnswer(enum.Enum):
    NXDOMAIN = "nxdomain"  # the name does not exist
    NODATA = "nodata"  # NOERROR with an empty answer section


# Answered NXDOMAIN for every query type, subdomains included. Apple devices
# ask for HTTPS (65) records as well as A/AAAA, so stopping at A/AAAA would
# leave the relay reachable. Subdomains are covered because NXDOMAIN already
# says nothing exists below the name (RFC 8020); answering a subdomain from
# upstream would contradict our own answer.
#
# mask-canary.icloud.com is not in Apple's document; it is a relay-only name
# that blocklists maintained for this purpose (HaGeZi's Apple Private Relay
# list) answer the same way, and no other service uses it. mask-api.icloud.com
# is left out: Apple does not ask for it, and it also serves the relay's
# published egress address list, which servers and tools outside the family
# may need to fetch.
NXDOMAIN_DOMAINS: frozenset[str] = frozenset(
    {
        "use-application-dns.net",
        "mask.icloud.com",
        "mask-h2.icloud.com",
        "mask-canary.icloud.com",
    }
)

# Answered NODATA, exact name only, for every query type. NODATA rather than
# NXDOMAIN: resolver.arpa is a special-use name that exists to ask a resolver
# about itself, so "this resolver has no designated resolvers" is the truthful
# answer, the same one a resolver without DDR support gives. Every type, not
# just SVCB (64): no other type has a meaning here, and forwarding would only
# ask the upstream about itself.
NODATA_NAMES: frozenset[str] = frozenset({"_dns.resolver.arpa"})


def bypass_answer(qname: str, qtype: int) -> BypassAnswer | None:
    """The answer that keeps a device on this filter, or None if ``qname`` is unrelated.

    ``qtype`` does not change the answer today (see the tables above for why);
    it is taken so the decision can depend on it without changing callers.
    """
    if qname in NODATA_NAMES:
        return BypassAnswer.NODATA
    for name in self_and_parents(qname):
        if name in NXDOMAIN_DOMAINS:
            return BypassAnswer.NXDOMAIN
    return None
