"""A person's rules: profiles, blocked categories and apps, allow and deny
lists, safe search, bypass protection, schedule rules, budgets, overrides."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from aiohttp import web

from dnsfilter.policy.budgets import budget_uses
from dnsfilter.policy.domains import checked_name
from dnsfilter.policy.records import PolicyData
from dnsfilter.store import PolicyInputError
from dnsfilter.store.accounts import SessionData
from dnsfilter.store.policystore import BLOCK_MODES, SAFE_SEARCH
from dnsfilter.store.rules import RULE_ACTIONS
from dnsfilter.store.validation import clock_time
from dnsfilter.web.bodies import Body, json_body, path_id
from dnsfilter.web.context import WebContext
from dnsfilter.web.errors import ApiError, invalid
from dnsfilter.web.family import (
    at_midnight_tonight,
    changed,
    find_profile,
    new_devices_profile,
    profile_json,
    read_policy,
    sorted_profiles,
)
from dnsfilter.web.json import json_response
from dnsfilter.web.security import CONTEXT, SESSION
from dnsfilter.web.views import budget_view, override_view, profile_view, rule_view

_DAY_WORDS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


async def list_profiles(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    data = await read_policy(context)
    uses, chosen = budget_uses(data), new_devices_profile(data)
    return json_response([profile_view(profile, data.devices, uses, chosen) for profile in sorted_profiles(data)])


async def get_profile(request: web.Request) -> web.Response:
    return json_response(await profile_json(request.app[CONTEXT], path_id(request)))


def _refuse_taken_name(data: PolicyData, name: str, own_id: int | None) -> None:
    """A taken name is a conflict (409), as the contract says, not a mistake in the field."""
    for profile in data.profiles:
        if profile.id != own_id and profile.name.casefold() == name.casefold():
            raise ApiError(409, "conflict", f'There is already a profile called "{profile.name}"; choose another name.', "name")


async def create_profile(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    body = await json_body(request, ("name", "copy_from"))
    name = body.required_text("name", max_length=64)
    copy_from = body.integer("copy_from", 1, 10**9, required=False)
    store = context.store
    data = await read_policy(context)
    _refuse_taken_name(data, name, None)
    source = find_profile(data, copy_from) if copy_from is not None else None
    if source is None:
        created = await asyncio.to_thread(store.create_profile, name, now=context.now())
    else:
        created = await asyncio.to_thread(
            store.create_profile, name, now=context.now(), safe_search=source.safe_search,
            bypass_protection=source.bypass_protection, block_mode=source.block_mode,
        )
        await asyncio.to_thread(store.add_blocked_tags, created.id, sorted(source.blocked_tags))
        for name_allowed in sorted(source.allowed_names):
            await asyncio.to_thread(store.allow_domain, created.id, name_allowed)
        for name_denied in sorted(source.denied_names):
            await asyncio.to_thread(store.deny_domain, created.id, name_denied)
    await changed(context)
    return json_response(await profile_json(context, created.id), status=201)


async def change_profile(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    profile_id = path_id(request)
    body = await json_body(
        request, ("name", "safe_search", "bypass_protection", "block_mode", "is_default", "is_new_devices_profile")
    )
    # Every field is read (and refused) before anything is written.
    name = body.text("name", required=False, max_length=64)
    if "name" in body and not name:
        raise invalid("name", "A profile needs a name.")
    safe_search = body.choice("safe_search", SAFE_SEARCH, required=False)
    bypass = body.boolean("bypass_protection")
    block_mode = body.choice("block_mode", BLOCK_MODES, required=False)
    make_default = body.boolean("is_default")
    for_new_devices = body.boolean("is_new_devices_profile")
    if make_default is False:
        raise invalid("is_default", "Choose another profile as the default instead (is_default: true on it).")
    store = context.store
    data = await read_policy(context)
    find_profile(data, profile_id)
    if name is not None:
        _refuse_taken_name(data, name, profile_id)
        await asyncio.to_thread(store.rename_profile, profile_id, name)
    if safe_search is not None:
        await asyncio.to_thread(store.set_safe_search, profile_id, safe_search)
    if bypass is not None:
        await asyncio.to_thread(store.set_bypass_protection, profile_id, bypass)
    if block_mode is not None:
        await asyncio.to_thread(store.set_block_mode, profile_id, block_mode)
    if make_default:
        await asyncio.to_thread(store.make_default_profile, profile_id)
    if for_new_devices is True:
        await asyncio.to_thread(store.set_new_devices_profile, profile_id)
    elif for_new_devices is False and new_devices_profile(data) == profile_id:
        await asyncio.to_thread(store.set_new_devices_profile, None)
    await changed(context)
    return json_response(await profile_json(context, profile_id))


async def delete_profile(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    profile_id = path_id(request)
    profile = find_profile(await read_policy(context), profile_id)
    if profile.is_default:
        raise ApiError(409, "conflict", "The default profile cannot be removed; make another one the default first.")
    moved = await asyncio.to_thread(context.store.delete_profile, profile_id)
    await changed(context)
    return json_response({"devices_moved": moved})


async def change_blocked(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    profile_id = path_id(request)
    body = await json_body(request, ("add", "remove"))
    known = context.service.blocklists.catalog.tags
    add, remove = body.texts("add") or [], body.texts("remove") or []
    for field, tags in (("add", add), ("remove", remove)):
        unknown = [tag for tag in tags if tag not in known]
        if unknown:
            raise invalid(field, f'"{unknown[0]}" is not a category or app of the catalogue.')
    find_profile(await read_policy(context), profile_id)
    store = context.store
    if add:
        await asyncio.to_thread(store.add_blocked_tags, profile_id, add)
    if remove:
        await asyncio.to_thread(store.remove_blocked_tags, profile_id, remove)
    await changed(context)
    return json_response(await profile_json(context, profile_id))


def _name(body: Body, field: str = "name") -> str:
    text = body.required_text(field, max_length=260)
    try:
        return checked_name(text)
    except ValueError as error:
        raise invalid(field, f"{text[:100]}: {error}" if str(error).startswith("is ") else str(error)) from None


async def add_name(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    profile_id = path_id(request)
    body = await json_body(request, ("list", "name"))
    which = body.choice("list", ("allow", "deny"))
    name = _name(body)
    find_profile(await read_policy(context), profile_id)
    store = context.store
    await asyncio.to_thread(store.allow_domain if which == "allow" else store.deny_domain, profile_id, name)
    await changed(context)
    return json_response(await profile_json(context, profile_id))


async def remove_name(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    profile_id = path_id(request)
    try:
        name = checked_name(request.match_info["name"])
    except ValueError as error:
        raise invalid("name", str(error)) from None
    find_profile(await read_policy(context), profile_id)
    await asyncio.to_thread(context.store.remove_domain, profile_id, name)
    await changed(context)
    return json_response(await profile_json(context, profile_id))


def _days(body: Body, required: bool) -> str | None:
    """Days as the store keeps them ("mon,wed"), from "days" text or "weekdays" numbers."""
    weekdays = body.weekdays("weekdays")
    if weekdays is not None:
        return ",".join(_DAY_WORDS[day] for day in weekdays)
    days = body.text("days", required=False, max_length=60)
    if days is None and required:
        raise invalid("weekdays", 'Choose the days ("weekdays": [0, 1, 2, 3, 4] is Monday to Friday).')
    return days


def _clock(body: Body, field: str, required: bool) -> str | None:
    """A rule's start or end, HH:MM; a wrong one names its field (the store's check has no field)."""
    text = body.text(field, required=required, max_length=5)
    if text is None:
        return None
    try:
        return clock_time(text, f"{field} time")
    except PolicyInputError as error:
        raise invalid(field, str(error)) from None


_RULE_FIELDS = ("days", "weekdays", "start", "end", "action", "tags", "allow", "enabled")


def _checked_tags(context: WebContext, body: Body, field: str) -> list[str] | None:
    tags = body.texts(field)
    if tags is None:
        return None
    known = context.service.blocklists.catalog.tags
    unknown = [tag for tag in tags if tag not in known]
    if unknown:
        raise invalid(field, f'"{unknown[0]}" is not a category or app of the catalogue.')
    return tags


def _allow(body: Body) -> list[str] | None:
    names = body.texts("allow")
    if names is None:
        return None
    checked = []
    for text in names:
        try:
            checked.append(checked_name(text))
        except ValueError as error:
            raise invalid("allow", f"{text[:100]}: {error}") from None
    return checked


async def add_rule(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    profile_id = path_id(request)
    body = await json_body(request, _RULE_FIELDS)
    days = _days(body, required=True)
    assert days is not None
    start, end = _clock(body, "start", required=True), _clock(body, "end", required=True)
    assert start is not None and end is not None
    action = body.choice("action", RULE_ACTIONS)
    assert action is not None
    tags, allow = _checked_tags(context, body, "tags") or [], _allow(body) or []
    enabled = body.boolean("enabled")
    find_profile(await read_policy(context), profile_id)
    rule = await asyncio.to_thread(
        context.store.add_rule, profile_id, days=days, start=start, end=end, action=action, tags=tags, allow=allow,
        enabled=True if enabled is None else enabled,
    )
    await changed(context)
    return json_response(rule_view(rule), status=201)


async def change_rule(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    rule_id = path_id(request)
    body = await json_body(request, _RULE_FIELDS)
    rule = await asyncio.to_thread(
        context.store.update_rule, rule_id, days=_days(body, required=False),
        start=_clock(body, "start", required=False), end=_clock(body, "end", required=False),
        action=body.choice("action", RULE_ACTIONS, required=False), tags=_checked_tags(context, body, "tags"),
        allow=_allow(body), enabled=body.boolean("enabled"),
    )
    await changed(context)
    return json_response(rule_view(rule))


async def delete_rule(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    await asyncio.to_thread(context.store.delete_rule, path_id(request))
    await changed(context)
    return web.Response(status=204)


async def set_budget(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    profile_id = path_id(request)
    body = await json_body(request, ("tag", "minutes", "days", "weekdays"))
    tag = body.required_text("tag", 80)
    if tag not in context.service.blocklists.catalog.tags:
        raise invalid("tag", f'"{tag}" is not a category or app of the catalogue.')
    minutes = body.integer("minutes", 1, 24 * 60)
    assert minutes is not None
    days = _days(body, required=False) or "daily"
    find_profile(await read_policy(context), profile_id)
    budget = await asyncio.to_thread(context.store.set_budget, profile_id, tag, minutes, days)
    await changed(context)
    data = await read_policy(context)
    return json_response(budget_view(budget, budget_uses(data).get(budget.id)))


async def delete_budget(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    await asyncio.to_thread(context.store.remove_budget, path_id(request))
    await changed(context)
    return web.Response(status=204)


async def add_override(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    profile_id = path_id(request)
    body = await json_body(request, ("kind", "target", "minutes", "until", "note"))
    kind = body.choice("kind", ("pause", "grant", "allow_name"))
    minutes = body.integer("minutes", 1, 24 * 60, required=False)
    until_text = body.text("until", required=False, max_length=40)
    note = body.text("note", required=False, max_length=200) or ""
    now = context.now()
    until = None
    if until_text == "tonight":
        until = at_midnight_tonight(context)
    elif until_text:
        until = body.moment("until")
        if until is not None and not now < until <= now + timedelta(days=7):
            raise invalid("until", "Give a time in the next 7 days.")
    if (minutes is None) == (until is None):
        raise invalid("minutes", 'Give either "minutes" (1 to 1440) or "until" ("tonight" or a time).')
    target: str | None = None
    if kind == "grant":
        target = body.required_text("target", 80)
        if target not in context.service.blocklists.catalog.tags and not target.startswith("rule:"):
            raise invalid("target", f'"{target}" is not a category or app of the catalogue.')
    elif kind == "allow_name":
        target = _name(body, "target")
    find_profile(await read_policy(context), profile_id)
    session: SessionData = request[SESSION]
    who = f"web ({session.address})"
    store = context.store
    if kind == "pause":
        item = await asyncio.to_thread(
            store.pause_profile, profile_id, now=now, created_by=who, minutes=minutes, until=until, note=note
        )
    elif kind == "grant":
        assert target is not None
        item = await asyncio.to_thread(
            store.grant_tag, profile_id, target, now=now, created_by=who, minutes=minutes, until=until, note=note
        )
    else:
        assert target is not None
        item = await asyncio.to_thread(
            store.allow_name, profile_id, target, now=now, created_by=who, minutes=minutes, until=until, note=note
        )
    await changed(context)
    return json_response(override_view(item), status=201)


async def end_override(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    await asyncio.to_thread(context.store.cancel_override, path_id(request))
    await changed(context)
    return web.Response(status=204)


