"""The shapes of the API's JSON, as OpenAPI 3 schemas (the document's components)."""

from __future__ import annotations

from typing import Any, Final

Schema = dict[str, Any]

TEXT: Final[Schema] = {"type": "string"}
MAYBE_TEXT: Final[Schema] = {"type": ["string", "null"]}
INT: Final[Schema] = {"type": "integer"}
MAYBE_INT: Final[Schema] = {"type": ["integer", "null"]}
BOOL: Final[Schema] = {"type": "boolean"}
TIME: Final[Schema] = {"type": "string", "format": "date-time"}
MAYBE_TIME: Final[Schema] = {"type": ["string", "null"], "format": "date-time"}
TEXTS: Final[Schema] = {"type": "array", "items": TEXT}
INTS: Final[Schema] = {"type": "array", "items": INT}


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(properties: dict[str, Schema], required: tuple[str, ...] | None = None) -> Schema:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties if required is None else required),
    }


def array(item: Schema) -> Schema:
    return {"type": "array", "items": item}


def body(properties: dict[str, Schema], required: tuple[str, ...] = ()) -> Schema:
    """A request body: only these fields (others are refused), ``required`` ones must be there."""
    return {"type": "object", "properties": properties, "required": list(required), "additionalProperties": False}


COMPONENTS: Final[dict[str, Schema]] = {
    "Error": obj(
        {
            "error": obj(
                {"code": TEXT, "message": TEXT, "field": MAYBE_TEXT, "retry_after": {"type": "number"}},
                ("code", "message", "field"),
            )
        }
    ),
    "Session": obj(
        {
            "state": {"type": "string", "enum": ["setup", "login", "ready"]}, "csrf_token": MAYBE_TEXT,
            "time_zone": TEXT, "version": TEXT, "account": MAYBE_TEXT, "setup_hint": MAYBE_TEXT,
        }
    ),
    "SignedIn": obj(
        {"id": TEXT, "created_at": TIME, "last_seen_at": TIME, "address": TEXT, "user_agent": TEXT, "current": BOOL}
    ),
    "Rule": obj(
        {
            "id": INT, "profile_id": INT, "days": TEXT, "weekdays": INTS, "start": TEXT, "end": TEXT,
            "action": {"type": "string", "enum": ["block_tags", "allow_only"]}, "tags": TEXTS, "allow": TEXTS,
            "enabled": BOOL,
        }
    ),
    "Budget": obj(
        {
            "id": INT, "profile_id": INT, "tag": TEXT, "minutes": INT, "days": TEXT, "weekdays": INTS,
            "applies_today": {"type": ["boolean", "null"]}, "used_today": MAYBE_INT, "remaining_today": MAYBE_INT,
        }
    ),
    "Override": obj(
        {
            "id": INT, "profile_id": INT, "kind": {"type": "string", "enum": ["pause", "grant", "allow_name"]},
            "target": MAYBE_TEXT, "expires_at": TIME, "created_by": TEXT, "created_at": TIME, "note": TEXT,
        }
    ),
    "Profile": obj(
        {
            "id": INT, "name": TEXT, "is_default": BOOL, "is_new_devices_profile": BOOL,
            "safe_search": {"type": "string", "enum": ["off", "on", "strict"]}, "bypass_protection": BOOL,
            "block_mode": {"type": "string", "enum": ["null_ip", "nxdomain"]}, "blocked": TEXTS, "allow": TEXTS,
            "deny": TEXTS, "rules": array(ref("Rule")), "budgets": array(ref("Budget")),
            "overrides": array(ref("Override")), "devices": INTS, "created_at": TIME,
        }
    ),
    "Device": obj(
        {
            "id": INT, "key": TEXT, "mac": MAYBE_TEXT, "ip": MAYBE_TEXT, "name": MAYBE_TEXT, "label": MAYBE_TEXT,
            "profile_id": INT, "is_new": BOOL, "first_seen": TIME, "last_seen": TIME,
        }
    ),
    "LogRow": obj(
        {
            "id": INT, "at": TIME, "device": TEXT, "device_name": MAYBE_TEXT, "profile_id": MAYBE_INT,
            "profile_name": MAYBE_TEXT, "name": TEXT, "type": TEXT, "action": TEXT, "reason": TEXT,
            "category": MAYBE_TEXT, "tags": TEXTS, "list_id": MAYBE_TEXT, "rule": MAYBE_TEXT, "upstream": TEXT,
            "response_ms": {"type": "number"}, "rcode": INT, "answer": TEXT, "repeats": INT,
            "instance": TEXT,
        }
    ),
    "Catalog": obj(
        {
            "categories": array(
                obj({"id": TEXT, "kind": TEXT, "title": {"type": "object"}, "description": {"type": "object"}})
            ),
            "services": array(obj({"id": TEXT, "tag": TEXT, "name": TEXT, "category": TEXT})),
        }
    ),
    "Overview": obj(
        {
            "now": TIME, "day": TEXT, "totals": obj({"queries": INT, "blocked": INT}),
            "profiles": array({"type": "object"}), "new_devices": array(ref("Device")),
            "bypass_attempts": array(ref("LogRow")),
        }
    ),
    "LogPage": obj({"rows": array(ref("LogRow")), "more": BOOL, "since": MAYBE_TIME}),
    "LogTail": obj({"rows": array(ref("LogRow")), "last_id": INT}),
    "Explanation": obj(
        {
            "name": TEXT, "type": TEXT, "at": TIME, "subject": {"type": "object"},
            "answer": {"type": "string", "enum": ["allowed", "blocked", "rewritten", "nxdomain", "nodata"]},
            "answered_with": MAYBE_TEXT, "reason": TEXT, "category": MAYBE_TEXT, "rule": MAYBE_TEXT,
            "list_id": MAYBE_TEXT, "target": MAYBE_TEXT,
            "steps": array(obj({"step": TEXT, "matched": BOOL, "detail": TEXT})),
            "rules_in_force": array(ref("Rule")), "overrides_in_force": array(ref("Override")),
            "budgets": array(ref("Budget")), "tags": TEXTS,
            "matches": array(obj({"tag": TEXT, "list_id": TEXT, "line": INT, "rule": TEXT, "exception": BOOL})),
            "problems": TEXTS,
        }
    ),
    "Days": obj({"days": array(obj({"day": TEXT, "queries": INT, "blocked": INT, "minutes": {"type": "object"}}))}),
    "Hours": obj({"hours": array(obj({"hour": TIME, "queries": INT, "blocked": INT}))}),
    "Lists": obj(
        {
            "sources": array({"type": "object"}),
            "index": obj({"names": INT, "built_at": MAYBE_TIME, "current": BOOL}),
            "auto_update": BOOL, "update_interval_hours": {"type": "number"}, "updating": BOOL,
        }
    ),
    "Settings": obj(
        {
            "time_zone": TEXT, "time_zone_from": TEXT, "new_devices_profile_id": MAYBE_INT, "instance": TEXT,
            "database": TEXT, "version": TEXT,
        }
    ),
}
