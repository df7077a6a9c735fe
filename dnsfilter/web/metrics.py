"""/metrics: the filter's counters in the Prometheus text format.

Off unless ``web.metrics`` is on (404). Then open to the addresses of
``web.metrics_allow``, and to whoever sends ``web.metrics_token`` as
"Authorization: Bearer TOKEN", compared in constant time and never logged.
Like every path of the page, it answers only to the box's own names (the
Host allowlist of security.py), and needs no sign-in: Prometheus has none.
The settings are read at each request, so a reloaded config applies at once.
"""

from __future__ import annotations

import hmac
import ipaddress
from dataclasses import dataclass
from typing import Final

from aiohttp import web
from prometheus_client.exposition import choose_encoder
from prometheus_client.gc_collector import GCCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import CollectorRegistry

from dnsfilter.config import WebSettings
from dnsfilter.service.accounts import Accounts
from dnsfilter.service.health import LoopWatch
from dnsfilter.service.metrics import FilterCollector
from dnsfilter.web.context import WebContext
from dnsfilter.web.security import CONTEXT, client_address

PATH: Final = "/metrics"
REALM: Final = 'Bearer realm="dnsfilter metrics"'


@dataclass(frozen=True, slots=True)
class Scrapes:
    """What a scrape reads: the filter's collector, with the process's own metrics beside it."""

    collector: FilterCollector
    registry: CollectorRegistry


SCRAPES: Final = web.AppKey("metrics", Scrapes)


def add_metrics(app: web.Application, context: WebContext, watch: LoopWatch) -> None:
    """Route /metrics on ``app``, for the filter of ``context``."""

    def accounts() -> Accounts | None:
        # The sign-in checker the page uses, once the database is open (no database read here).
        return context.accounts if context.service.store is not None else None

    collector = FilterCollector(context.service, watch, accounts)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    ProcessCollector(registry=registry)  # memory, CPU time, open files: /proc, no database
    GCCollector(registry=registry)
    app[SCRAPES] = Scrapes(collector, registry)
    app.router.add_get(PATH, metrics)


async def metrics(request: web.Request) -> web.Response:
    settings = request.app[CONTEXT].service.config.web
    if not settings.metrics:
        return _text(404, "Metrics are off. To read them with Prometheus, set web.metrics: on in the configuration.")
    refusal = _refusal(request, settings)
    if refusal is not None:
        return refusal
    scrapes = request.app[SCRAPES]
    await scrapes.collector.refresh()
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    # Made on the loop, between two answers: every number of the scrape is from the same moment.
    body = encode(scrapes.registry)
    return web.Response(body=body, headers={"Content-Type": content_type, "Cache-Control": "no-store"})


def _refusal(request: web.Request, settings: WebSettings) -> web.Response | None:
    """None when the request may read the metrics; else the answer that says why not."""
    address = _peer(request)
    if address is not None and any(address in network for network in settings.metrics_allow):
        return None
    token = settings.metrics_token
    if token is None:
        return _text(403, "This address may not read the metrics: add it to web.metrics_allow in the configuration.")
    given = request.headers.get("Authorization")
    if given is not None:
        scheme, _, credentials = given.strip().partition(" ")
        sent = credentials.strip().encode("utf-8", "replace")
        if scheme.lower() == "bearer" and hmac.compare_digest(sent, token.encode("utf-8")):
            return None
    challenge = REALM if given is None else f'{REALM}, error="invalid_token"'
    return _text(
        401, "Send the token of web.metrics_token as the header Authorization: Bearer TOKEN.",
        {"WWW-Authenticate": challenge},
    )  # fmt: skip


def _peer(request: web.Request) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The connecting address (never a header), an IPv4 address mapped into IPv6 as itself."""
    try:
        address = ipaddress.ip_address(client_address(request))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _text(status: int, text: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, text=text + "\n", headers={"Cache-Control": "no-store", **(headers or {})})
