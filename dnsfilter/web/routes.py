"""Every route of the API in one table; the aiohttp router and the OpenAPI
document are both made from it, so they cannot differ."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

from dnsfilter.web import (
    api_devices,
    api_home,
    api_log,
    api_profiles,
    api_session,
    api_stats,
)
from dnsfilter.web.bodies import MAX_ID
from dnsfilter.web.schemas import (
    BOOL,
    INT,
    INTS,
    MAYBE_INT,
    TEXT,
    TEXTS,
    Schema,
    array,
    body,
    obj,
    ref,
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    schema: Schema
    description: str = ""
    where: str = "query"  # or "path"


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str
    handler: Handler
    summary: str
    answer: tuple[int, Schema | None]  # success status and body (None: no body)
    request: Schema | None = None
    params: tuple[Param, ...] = field(default=())


ID = Param("id", {"type": "integer", "minimum": 1, "maximum": MAX_ID}, where="path")
LOG_FILTERS = (
    Param("profile", INT, "a profile id"),
    Param("device", TEXT, "a device key such as mac:aa:bb:cc:dd:ee:ff"),
    Param("action", {"type": "string", "enum": list(api_log.ACTIONS)}),
    Param("tag", TEXT, "a category or service:NAME"),
    Param("name", TEXT, "names containing this text"),
    Param("since", {"type": "string", "format": "date-time"}),
    Param("until", {"type": "string", "format": "date-time"}),
)
RULE = {
    "days": TEXT, "weekdays": INTS, "start": TEXT, "end": TEXT,
    "action": {"type": "string", "enum": ["block_tags", "allow_only"]}, "tags": TEXTS, "allow": TEXTS, "enabled": BOOL,
}

ROUTES: tuple[Route, ...] = (
    Route("GET", "/api/session", api_session.get_session, "Whether a password is set and this browser signed in", (200, ref("Session"))),
    Route("POST", "/api/setup", api_session.setup, "Set the first password with the setup code", (200, ref("Session")),
          body({"code": TEXT, "password": TEXT}, ("code", "password"))),
    Route("POST", "/api/login", api_session.login, "Sign in", (200, ref("Session")), body({"password": TEXT}, ("password",))),
    Route("POST", "/api/logout", api_session.logout, "Sign out this browser, or every browser", (204, None),
          body({"everywhere": BOOL})),
    Route("POST", "/api/password", api_session.change_password, "Change the password (every other browser is signed out)",
          (200, ref("Session")), body({"current": TEXT, "new": TEXT}, ("current", "new"))),
    Route("GET", "/api/sessions", api_session.list_sessions, "The signed-in browsers", (200, array(ref("SignedIn")))),
    Route("DELETE", "/api/sessions/{id}", api_session.end_session, "Sign out one browser", (204, None),
          params=(Param("id", {"type": "string", "pattern": "^[a-z0-9]{1,64}$"}, where="path"),)),
    Route("GET", "/api/overview", api_home.overview, "What is happening now, per person", (200, ref("Overview"))),
    Route("GET", "/api/catalog", api_devices.catalog, "The categories and apps that can be blocked", (200, ref("Catalog"))),
    Route("GET", "/api/profiles", api_profiles.list_profiles, "Every profile", (200, array(ref("Profile")))),
    Route("POST", "/api/profiles", api_profiles.create_profile, "A new profile", (201, ref("Profile")),
          body({"name": TEXT, "copy_from": MAYBE_INT}, ("name",))),
    Route("GET", "/api/profiles/{id}", api_profiles.get_profile, "One profile", (200, ref("Profile")), params=(ID,)),
    Route("PATCH", "/api/profiles/{id}", api_profiles.change_profile, "Change a profile's settings", (200, ref("Profile")),
          body({"name": TEXT, "safe_search": {"type": "string", "enum": ["off", "on", "strict"]}, "bypass_protection": BOOL,
                "block_mode": {"type": "string", "enum": ["null_ip", "nxdomain"]}, "is_default": BOOL,
                "is_new_devices_profile": BOOL}), params=(ID,)),
    Route("DELETE", "/api/profiles/{id}", api_profiles.delete_profile, "Remove a profile (its devices go to the default)",
          (200, obj({"devices_moved": INT})), params=(ID,)),
    Route("PATCH", "/api/profiles/{id}/blocked", api_profiles.change_blocked, "Block or unblock categories and apps",
          (200, ref("Profile")), body({"add": TEXTS, "remove": TEXTS}), params=(ID,)),
    Route("POST", "/api/profiles/{id}/names", api_profiles.add_name, "Add a name to the allow or deny list", (200, ref("Profile")),
          body({"list": {"type": "string", "enum": ["allow", "deny"]}, "name": TEXT}, ("list", "name")), params=(ID,)),
    Route("DELETE", "/api/profiles/{id}/names/{name}", api_profiles.remove_name, "Remove a name from the allow or deny list",
          (200, ref("Profile")), params=(ID, Param("name", TEXT, where="path"))),
    Route("POST", "/api/profiles/{id}/rules", api_profiles.add_rule, "A new schedule window", (201, ref("Rule")),
          body(RULE, ("start", "end", "action")), params=(ID,)),
    Route("PATCH", "/api/rules/{id}", api_profiles.change_rule, "Change a schedule window", (200, ref("Rule")), body(RULE), params=(ID,)),
    Route("DELETE", "/api/rules/{id}", api_profiles.delete_rule, "Remove a schedule window", (204, None), params=(ID,)),
    Route("PUT", "/api/profiles/{id}/budgets", api_profiles.set_budget, "Set a daily budget for a category or app",
          (200, ref("Budget")), body({"tag": TEXT, "minutes": INT, "days": TEXT, "weekdays": INTS}, ("tag", "minutes")),
          params=(ID,)),
    Route("DELETE", "/api/budgets/{id}", api_profiles.delete_budget, "Remove a daily budget", (204, None), params=(ID,)),
    Route("POST", "/api/profiles/{id}/overrides", api_profiles.add_override, "Pause, give extra time, or allow a site for a while",
          (201, ref("Override")),
          body({"kind": {"type": "string", "enum": ["pause", "grant", "allow_name"]}, "target": TEXT, "minutes": INT,
                "until": TEXT, "note": TEXT}, ("kind",)), params=(ID,)),
    Route("DELETE", "/api/overrides/{id}", api_profiles.end_override, "End an override now", (204, None), params=(ID,)),
    Route("GET", "/api/devices", api_devices.list_devices, "Every device", (200, array(ref("Device")))),
    Route("PATCH", "/api/devices/{id}", api_devices.change_device, "Name a device or give it to a person", (200, ref("Device")),
          body({"label": {"type": ["string", "null"]}, "profile_id": INT}), params=(ID,)),
    Route("DELETE", "/api/devices/{id}", api_devices.forget_device, "Forget a device", (204, None), params=(ID,)),
    Route("GET", "/api/log", api_log.log_page, "Queries, newest first, a page at a time", (200, ref("LogPage")),
          params=(*LOG_FILTERS, Param("before", INT, "the id of the last row shown"), Param("limit", INT))),
    Route("GET", "/api/log/tail", api_log.log_tail, "Queries answered after a row (the live tail)", (200, ref("LogTail")),
          params=(*LOG_FILTERS, Param("after", INT))),
    Route("GET", "/api/explain", api_log.explain_name, "Why a name gets its answer", (200, ref("Explanation")),
          params=(Param("name", TEXT), Param("type", TEXT), Param("device", TEXT), Param("profile", INT),
                  Param("at", {"type": "string", "format": "date-time"}))),
    Route("GET", "/api/stats/days", api_stats.days, "Queries, blocks and screen time per day", (200, ref("Days")),
          params=(Param("days", INT), Param("profile", INT), Param("device", TEXT))),
    Route("GET", "/api/stats/hours", api_stats.hours, "Queries and blocks per hour of a day", (200, ref("Hours")),
          params=(Param("day", TEXT), Param("profile", INT), Param("device", TEXT))),
    Route("GET", "/api/lists", api_home.lists_status, "Each blocklist's state", (200, ref("Lists"))),
    Route("POST", "/api/lists/update", api_home.update_lists, "Download every list now", (202, obj({"updating": BOOL}))),
    Route("GET", "/api/settings", api_devices.get_settings, "Settings", (200, ref("Settings"))),
    Route("PATCH", "/api/settings", api_devices.change_settings, "Change settings", (200, ref("Settings")),
          body({"new_devices_profile_id": MAYBE_INT, "time_zone": {"type": ["string", "null"]}})),
)


def add_routes(app: web.Application, routes: tuple[Route, ...] = ROUTES) -> None:
    for route in routes:
        app.router.add_route(route.method, route.path, route.handler)


