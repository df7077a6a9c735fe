"""The family's devices, the catalogue of what can be blocked, and the settings."""

from __future__ import annotations

import asyncio

from aiohttp import web

from dnsfilter import __version__
from dnsfilter.config.values import parse_time_zone
from dnsfilter.policy.records import TIME_ZONE, PolicyData
from dnsfilter.policy.tags import service_tag
from dnsfilter.web.bodies import json_body, path_id
from dnsfilter.web.errors import invalid, not_found
from dnsfilter.web.family import changed, find_profile, new_devices_profile, read_policy
from dnsfilter.web.json import json_response
from dnsfilter.web.security import CONTEXT
from dnsfilter.web.views import device_view


async def list_devices(request: web.Request) -> web.Response:
    data = await read_policy(request.app[CONTEXT])
    ordered = sorted(data.devices, key=lambda d: (not d.is_new, (d.label or d.name or d.key).casefold()))
    return json_response([device_view(device) for device in ordered])


async def change_device(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    device_id = path_id(request)
    body = await json_body(request, ("label", "profile_id"))
    label = body.text("label", required=False, max_length=64)
    profile_id = body.integer("profile_id", 1, 10**9, required=False)
    data = await read_policy(context)
    if not any(device.id == device_id for device in data.devices):
        raise not_found("device")
    if profile_id is not None:
        find_profile(data, profile_id)
    store = context.store
    if "label" in body.data:
        await asyncio.to_thread(store.label_device, device_id, label or None)
    if profile_id is not None:
        await asyncio.to_thread(store.assign_device, device_id, profile_id)
    await changed(context)
    device = next(item for item in (await read_policy(context)).devices if item.id == device_id)
    return json_response(device_view(device))


async def forget_device(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    await asyncio.to_thread(context.store.forget_device, path_id(request))
    await changed(context)
    return web.Response(status=204)


async def catalog(request: web.Request) -> web.Response:
    catalogue = request.app[CONTEXT].service.blocklists.catalog
    return json_response(
        {
            "categories": [
                {
                    "id": category.id, "kind": category.kind,
                    "title": dict(category.title),
                    "description": dict(category.description),
                }
                for category in catalogue.categories
            ],
            "services": [
                {"id": service.id, "tag": service_tag(service.id), "name": service.name, "category": service.category}
                for service in sorted(catalogue.services, key=lambda item: item.name.casefold())
            ],
        }
    )


def _settings(request: web.Request, data: PolicyData, chosen: int | None) -> dict[str, object]:
    context = request.app[CONTEXT]
    config = context.service.config
    database = context.store.database
    if data.settings.get(TIME_ZONE) is not None:
        source = "settings"
    else:
        source = "config" if config.time_zone is not None else "machine"
    return {
        "time_zone": config.zone.key,
        "time_zone_from": source,
        "new_devices_profile_id": chosen,
        "instance": config.instance_name,
        "database": "postgresql" if database.is_postgresql else "sqlite",
        "version": __version__,
    }


async def get_settings(request: web.Request) -> web.Response:
    data = await read_policy(request.app[CONTEXT])
    return json_response(_settings(request, data, new_devices_profile(data)))


async def change_settings(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    body = await json_body(request, ("new_devices_profile_id", "time_zone"))
    if not body.data:
        raise invalid("body", 'Send "new_devices_profile_id" (a profile id, or null) or "time_zone".')
    zone: str | None = None
    if "time_zone" in body.data and body.data["time_zone"] is not None:
        try:
            zone = parse_time_zone(body.required_text("time_zone", max_length=64))
        except ValueError as error:
            raise invalid("time_zone", str(error)) from None
    chosen = body.integer("new_devices_profile_id", 1, 10**9, required=False)
    data = await read_policy(context)
    if chosen is not None:
        find_profile(data, chosen)
    if "new_devices_profile_id" in body.data:
        await asyncio.to_thread(context.store.set_new_devices_profile, chosen)
        await changed(context)
    if "time_zone" in body.data:
        await context.service.use_time_zone(zone)
    data = await read_policy(context)
    return json_response(_settings(request, data, new_devices_profile(data)))
