"""/healthz: whether the filter is well, as JSON, for a monitor or a parent.

200 when every part is well, 503 when one is not, each part said in plain
words. Cheap enough to ask every few seconds: it reads what the parts
already know (dnsfilter.service.health), never the database. No sign-in, no
secrets; like every path of the page, only under the box's own names (the
Host allowlist of security.py).
"""

from __future__ import annotations

from typing import Final

from aiohttp import web

from dnsfilter.service.health import LoopWatch, check_health
from dnsfilter.web.json import json_response
from dnsfilter.web.security import CONTEXT

PATH: Final = "/healthz"
WATCH: Final = web.AppKey("loop_watch", LoopWatch)


def add_health(app: web.Application) -> LoopWatch:
    """Route /healthz on ``app``; the loop's timer watch runs while the app does."""
    watch = app[WATCH] = LoopWatch()

    async def start(app: web.Application) -> None:
        watch.start()

    async def stop(app: web.Application) -> None:
        watch.stop()

    app.on_startup.append(start)
    app.on_cleanup.append(stop)
    app.router.add_get(PATH, healthz)
    return watch


async def healthz(request: web.Request) -> web.Response:
    health = check_health(request.app[CONTEXT].service, request.app[WATCH])
    body = {
        "healthy": health.healthy,
        "checks": {check.name: {"ok": check.ok, "says": check.says} for check in health.checks},
        "problems": health.problems,
    }
    return json_response(body, status=200 if health.healthy else 503, headers={"Cache-Control": "no-store"})
