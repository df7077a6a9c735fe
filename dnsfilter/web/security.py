"""The defences of the page, applied to every request before any handler:

- the Host allowlist (DNS rebinding), answered 421;
- headers: a strict Content-Security-Policy (no inline script or style, no
  eval), no framing, no sniffing, no referrer, no caching of the API;
- for the API: a signed-in session (a random token in an HttpOnly,
  SameSite=Strict cookie, looked up in the database), and on every change a
  same-origin ``Origin`` and the session's CSRF token in ``X-CSRF-Token``;
- errors as JSON a parent can read, never a traceback.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Final

from aiohttp import web

from dnsfilter.errors import DnsFilterError, StoreError, UsageError
from dnsfilter.store import ConflictError, NotFoundError, PolicyInputError
from dnsfilter.store.accounts import SessionData
from dnsfilter.web.context import WebContext
from dnsfilter.web.errors import ApiError
from dnsfilter.web.hosts import HostAllowlist

log = logging.getLogger(__name__)

COOKIE: Final = "dnsfilter_session"
CSRF_HEADER: Final = "X-CSRF-Token"
CONTEXT: Final = web.AppKey("context", WebContext)
HOSTS: Final = web.AppKey("hosts", HostAllowlist)
SESSION: Final = web.RequestKey("session", SessionData)  # set only for a signed-in browser
CHANGES: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})

CONTENT_SECURITY_POLICY: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
HEADERS: Final = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.app[HOSTS].allows(request.headers.get("Host")):
        response: web.StreamResponse = web.Response(
            status=421,
            text="This page answers only at the filter's own address (or a name set in web.hosts).\n",
        )
    else:
        try:
            response = await handler(request)
        except ApiError as error:
            response = error.response()
        except web.HTTPException as error:
            if not request.path.startswith("/api/"):
                raise
            response = ApiError(error.status, "not_found" if error.status == 404 else "invalid", error.reason).response()
        except PolicyInputError as error:
            response = ApiError(400, "invalid", str(error)).response()
        except UsageError as error:
            response = ApiError(400, "invalid", str(error)).response()
        except NotFoundError as error:
            response = ApiError(404, "not_found", str(error)).response()
        except ConflictError as error:
            response = ApiError(409, "conflict", str(error)).response()
        except StoreError as error:
            log.warning("web request %s %s: %s", request.method, request.path, error)
            response = ApiError(
                503, "unavailable",
                "The filter's database did not answer; nothing was changed. Try again in a minute.",
            ).response()
        except DnsFilterError as error:
            response = ApiError(400, "invalid", str(error)).response()
    response.headers.update(HEADERS)
    if request.path.startswith("/api/"):
        response.headers["Cache-Control"] = "no-store"
    return response


def public(handler: Handler) -> Handler:
    """Mark a handler reachable without signing in (session state, login, setup)."""
    handler.dnsfilter_public = True  # type: ignore[attr-defined]
    return handler


@web.middleware
async def require_session(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.path.startswith("/api/"):
        return await handler(request)
    if request.method in CHANGES:
        check_origin(request)
    session = await current_session(request)
    if session is not None:
        request[SESSION] = session
    if getattr(handler, "dnsfilter_public", False):
        return await handler(request)
    if session is None:
        context = request.app[CONTEXT]
        if not await _has_password(context):
            raise ApiError(401, "setup_required", "No password is set yet: set one on the first-run page.")
        raise ApiError(401, "unauthenticated", "You are signed out; sign in again.")
    if request.method in CHANGES and not hmac.compare_digest(
        request.headers.get(CSRF_HEADER, ""), session.csrf_token
    ):
        raise ApiError(403, "forbidden", "This change was refused: reload the page and try again.")
    return await handler(request)


def check_origin(request: web.Request) -> None:
    """A change must come from the page itself: a browser says where from in Origin."""
    origin = request.headers.get("Origin")
    host = request.headers.get("Host", "")
    scheme = "https" if request.app[CONTEXT].tls else "http"
    if origin is None or not hmac.compare_digest(origin.lower(), f"{scheme}://{host}".lower()):
        raise ApiError(403, "forbidden", "This change was refused: it did not come from the filter's own page.")


async def current_session(request: web.Request) -> SessionData | None:
    token = request.cookies.get(COOKIE)
    if not token or len(token) > 100:
        return None
    context = request.app[CONTEXT]
    accounts = context.accounts
    return await asyncio.to_thread(accounts.store.find_session, token, context.now())


async def _has_password(context: WebContext) -> bool:
    return await asyncio.to_thread(context.accounts.has_password)


def client_address(request: web.Request) -> str:
    # The peer's own address: never a header a client could write (X-Forwarded-For).
    peer = request.transport.get_extra_info("peername") if request.transport is not None else None
    return str(peer[0]) if peer else "unknown"
