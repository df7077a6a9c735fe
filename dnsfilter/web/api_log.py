"""The query log: search a page at a time, a live tail, and "why?" on a row
(the same explanation as ``dnsfilter explain``)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Final

from aiohttp import web

from dnsfilter.dns.rrtypes import type_name, type_number
from dnsfilter.errors import UsageError
from dnsfilter.policy.identity import normalise_device_key
from dnsfilter.service.explain import (
    NameExplanation,
    checked_name,
    device_subject,
    explain,
    new_device_subject,
    policy_at,
    profile_subject,
)
from dnsfilter.store.querylog.queries import LogFilter, search, tail
from dnsfilter.web.bodies import Body, query
from dnsfilter.web.errors import invalid, not_found
from dnsfilter.web.family import read_policy
from dnsfilter.web.json import json_response
from dnsfilter.web.logviews import row_views
from dnsfilter.web.security import CONTEXT
from dnsfilter.web.views import (
    Json,
    budget_view,
    device_view,
    override_view,
    rule_view,
    when,
    when_ms,
)

ACTIONS: Final = ("allow", "block", "rewrite", "local_nxdomain", "local_nodata")
FILTERS: Final = ("profile", "device", "action", "tag", "name", "since", "until")
NAME_SEARCH_REACH: Final = timedelta(days=1)


def _ms(moment: datetime | None) -> int | None:
    return int(moment.timestamp() * 1000) if moment is not None else None


def _device_key(body: Body) -> str | None:
    """The "device" given as a key in any spelling a person may write (AA-BB-..., mac:aa:bb:...)."""
    text = body.text("device", required=False, max_length=80)
    if text is None:
        return None
    try:
        return normalise_device_key(text)
    except ValueError as error:
        raise invalid("device", str(error)) from None


def _filter(body: Body) -> LogFilter:
    return LogFilter(
        since_ms=_ms(body.moment("since")),
        until_ms=_ms(body.moment("until")),
        device=_device_key(body),
        profile_id=body.integer("profile", 0, 10**9, required=False),
        action=body.choice("action", ACTIONS, required=False),
        tag=body.text("tag", required=False, max_length=80),
        name_contains=body.text("name", required=False, max_length=253),
    )


async def log_page(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    body = query(request, (*FILTERS, "before", "limit"))
    where = _filter(body)
    if where.name_contains and where.since_ms is None:
        # Looking for text in every name reads every row it covers: without a
        # "since", the last day (a week of a busy home is millions of rows).
        where = replace(where, since_ms=int((context.now() - NAME_SEARCH_REACH).timestamp() * 1000))
    limit = body.integer("limit", 1, 500, required=False) or 50
    before = body.integer("before", 1, 2**62, required=False)
    records = await asyncio.to_thread(search, context.store.database, where, limit=limit + 1, before_id=before)
    data = await read_policy(context)
    since = when_ms(where.since_ms) if where.since_ms is not None else None
    return json_response({"rows": row_views(records[:limit], data), "more": len(records) > limit, "since": since})


async def log_tail(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    body = query(request, (*FILTERS, "after"))
    after = body.integer("after", 0, 2**62, required=False) or 0
    records = await asyncio.to_thread(tail, context.store.database, after, where=_filter(body), limit=500)
    data = await read_policy(context)
    last_id = records[-1].id if records else after
    return json_response({"rows": row_views(records, data), "last_id": last_id})


async def explain_name(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    body = query(request, ("name", "type", "device", "profile", "at"))
    text = body.required_text("name", max_length=260)
    try:
        name = checked_name(text)
    except UsageError as error:
        raise invalid("name", str(error)) from None
    qtype = type_number(body.text("type", required=False, max_length=12) or "A")
    if qtype is None:
        raise invalid("type", '"type" is not a DNS record type; give one such as A, AAAA or HTTPS.')
    device_key = _device_key(body)
    profile_id = body.integer("profile", 1, 10**9, required=False)
    at = body.moment("at") or context.now()
    config = context.service.config
    blocklists = context.service.blocklists
    store = context.store
    data, snapshot = await asyncio.to_thread(
        policy_at, store, blocklists.index, config.zone, at, config.blocking.deny
    )
    if device_key is not None:
        device = next((item for item in data.devices if item.key == device_key), None)
        if device is None:
            raise not_found("device")
        subject = device_subject(data, snapshot, device)
    elif profile_id is not None:
        profile = next((item for item in data.profiles if item.id == profile_id), None)
        if profile is None:
            raise not_found("profile")
        subject = profile_subject(data, snapshot, profile)
    else:
        subject = new_device_subject(data, snapshot)
    explained = await asyncio.to_thread(explain, name, qtype, subject, snapshot, blocklists, config.zone)
    return json_response(explanation_view(explained))


def _answer(explained: NameExplanation) -> tuple[str, str | None]:
    action = explained.decided.decision.action.value
    if action == "allow":
        return "allowed", None
    if action == "rewrite":
        return "rewritten", explained.decided.decision.target
    if action == "local_nxdomain":
        return "nxdomain", None
    if action == "local_nodata":
        return "nodata", None
    if explained.subject.policy.block_mode == "nxdomain":
        return "blocked", None
    return "blocked", {1: "0.0.0.0", 28: "::"}.get(explained.qtype)


def explanation_view(explained: NameExplanation) -> Json:
    decision = explained.decided.decision
    subject = explained.subject
    answer, answered_with = _answer(explained)
    active_rules = set(subject.policy.active_rules)
    return {
        "name": explained.name, "type": type_name(explained.qtype), "at": when(explained.at),
        "subject": {
            "kind": subject.kind, "profile_id": subject.profile.id, "profile_name": subject.profile.name,
            "device": device_view(subject.device) if subject.device is not None else None,
        },
        "answer": answer, "answered_with": answered_with,
        "reason": decision.reason.value, "category": decision.category, "rule": decision.rule,
        "list_id": decision.list_id, "target": decision.target,
        "steps": [{"step": check.step, "matched": check.matched, "detail": check.detail} for check in explained.decided.checks],
        "rules_in_force": [rule_view(rule) for rule in subject.profile.rules if rule.id in active_rules],
        "overrides_in_force": [override_view(item) for item in subject.profile.overrides],
        "budgets": [budget_view(use.budget, use) for use in subject.policy.budgets],
        "tags": list(explained.tags),
        "matches": [
            {"tag": match.tag, "list_id": match.list_id, "line": match.line, "rule": match.rule, "exception": match.exception}
            for match in explained.matches
        ],
        "problems": list(explained.problems),
    }


