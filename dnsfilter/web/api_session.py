"""Signing in: the session state, the first-run setup code, login, logout,
changing the password and the list of signed-in browsers."""

from __future__ import annotations

import asyncio

from aiohttp import web

from dnsfilter import __version__
from dnsfilter.errors import UsageError
from dnsfilter.service.accounts import (
    SESSION_LIFETIME,
    check_new_password,
    retry_after,
    same_setup_code,
)
from dnsfilter.store.accounts import SessionData
from dnsfilter.web.bodies import json_body
from dnsfilter.web.context import WebContext
from dnsfilter.web.errors import ApiError, invalid, not_found
from dnsfilter.web.json import json_response
from dnsfilter.web.security import CONTEXT, COOKIE, SESSION, client_address, public
from dnsfilter.web.views import when

SETUP_HINT = (
    "The setup code is printed in the filter's log (journalctl -u dnsfilter) and on the console of "
    "dnsfilter run. Or set the password on the box itself: sudo dnsfilter passwd."
)


def _session_body(context: WebContext, state: str, session: SessionData | None) -> dict[str, object]:
    return {
        "state": state,
        "csrf_token": session.csrf_token if session is not None else None,
        "time_zone": context.service.config.zone.key,
        "version": __version__,
        "account": session.account if session is not None else None,
        "setup_hint": SETUP_HINT if state == "setup" else None,
    }


@public
async def get_session(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    session = request.get(SESSION)
    if session is not None:
        return json_response(_session_body(context, "ready", session))
    has_password = await asyncio.to_thread(context.accounts.has_password)
    return json_response(_session_body(context, "login" if has_password else "setup", None))


def _signed_in(request: web.Request, context: WebContext, token: str, session: SessionData) -> web.Response:
    response = json_response(_session_body(context, "ready", session))
    response.set_cookie(
        COOKIE, token, max_age=int(SESSION_LIFETIME.total_seconds()), path="/", httponly=True,
        samesite="Strict", secure=context.tls,
    )
    return response


async def _start_session(request: web.Request, context: WebContext) -> web.Response:
    agent = request.headers.get("User-Agent", "")[:200]
    token, session = await asyncio.to_thread(
        context.accounts.start_session, client_address(request), agent, context.now()
    )
    return _signed_in(request, context, token, session)


@public
async def setup(request: web.Request) -> web.Response:
    """The first password, with the one-time code the service printed."""
    context = request.app[CONTEXT]
    body = await json_body(request, ("code", "password"))
    code = body.required_text("code", max_length=40)
    password = body.data.get("password")
    if not isinstance(password, str):
        raise invalid("password", '"password" is missing.')
    accounts = context.accounts
    if await asyncio.to_thread(accounts.has_password):
        raise ApiError(409, "conflict", "A password is already set: sign in with it.")
    key = f"setup-ip:{client_address(request)}"
    failures, last = await asyncio.to_thread(accounts.store.failures, key)
    wait = retry_after(failures, last, context.now())
    if wait > 0:
        raise ApiError(429, "throttled", "Too many wrong codes. Wait, then try again.", retry_after=wait)
    if context.setup_code is None or not same_setup_code(code, context.setup_code):
        await asyncio.to_thread(accounts.store.record_failure, key, context.now())
        raise ApiError(403, "wrong_code", "That is not the setup code. " + SETUP_HINT, "code")
    try:
        check_new_password(password)
    except UsageError as error:
        raise invalid("password", str(error)) from None
    await asyncio.to_thread(accounts.set_password, password, context.now())
    await asyncio.to_thread(accounts.store.clear_failures, key)
    context.setup_code = None
    return await _start_session(request, context)


@public
async def login(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    body = await json_body(request, ("password",))
    password = body.data.get("password")
    if not isinstance(password, str) or not password or len(password) > 1000:
        raise invalid("password", "Type the password.")
    accounts = context.accounts
    if not await asyncio.to_thread(accounts.has_password):
        raise ApiError(401, "setup_required", "No password is set yet: set one on the first-run page.")
    result = await asyncio.to_thread(accounts.check_login, password, client_address(request), context.now())
    if result.throttled:
        raise ApiError(
            429, "throttled", "Too many wrong passwords. Wait, then try again.", retry_after=result.retry_after
        )
    if not result.ok:
        raise ApiError(
            401, "wrong_password", "That password is not right.", "password",
            retry_after=result.retry_after or None,
        )
    return await _start_session(request, context)


async def logout(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    body = await json_body(request, ("everywhere",))
    session: SessionData = request[SESSION]
    token = request.cookies.get(COOKIE, "")
    if body.boolean("everywhere"):
        await asyncio.to_thread(context.accounts.store.end_all_sessions, session.account)
    else:
        await asyncio.to_thread(context.accounts.store.end_session, token)
    response = web.Response(status=204)
    response.del_cookie(COOKIE, path="/")
    return response


async def change_password(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    body = await json_body(request, ("current", "new"))
    current, new = body.data.get("current"), body.data.get("new")
    if not isinstance(current, str) or not current:
        raise invalid("current", "Type the password you use now.")
    if not isinstance(new, str):
        raise invalid("new", "Type the new password.")
    try:
        check_new_password(new)
    except UsageError as error:
        raise invalid("new", str(error)) from None
    accounts = context.accounts
    result = await asyncio.to_thread(accounts.check_login, current, client_address(request), context.now())
    if result.throttled:
        raise ApiError(429, "throttled", "Too many wrong passwords. Wait, then try again.", retry_after=result.retry_after)
    if not result.ok:
        raise ApiError(401, "wrong_password", "The password you use now is not right.", "current")
    await asyncio.to_thread(accounts.set_password, new, context.now())
    return await _start_session(request, context)


def _session_view(session: SessionData, current: SessionData) -> dict[str, object]:
    return {
        "id": session.id, "created_at": when(session.created_at), "last_seen_at": when(session.last_seen_at),
        "address": session.address, "user_agent": session.user_agent, "current": session.id == current.id,
    }


async def list_sessions(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    current: SessionData = request[SESSION]
    sessions = await asyncio.to_thread(context.accounts.store.list_sessions, context.now(), current.account)
    return json_response([_session_view(session, current) for session in sessions])


async def end_session(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    current: SessionData = request[SESSION]
    session_id = request.match_info["id"]
    if not session_id.isalnum() or len(session_id) > 64:
        raise invalid("id", '"id" in the address is not a session id.')
    if not await asyncio.to_thread(context.accounts.store.end_session_by_id, session_id, current.account):
        raise not_found("session")
    return web.Response(status=204)
