"""JSON responses that no browser would ever read as HTML."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aiohttp import web


def json_response(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    # ensure_ascii keeps "<" and every non-ASCII character out of the bytes as
    # themselves: a name like "<script>" is sent as text no sniffer takes for markup.
    text = json.dumps(body, ensure_ascii=True, separators=(",", ":")).replace("<", "\\u003c").replace(">", "\\u003e")
    return web.Response(
        text=text, status=status, content_type="application/json", charset="utf-8", headers=dict(headers or {})
    )
