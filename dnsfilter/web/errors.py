"""What an API request can go wrong with, as the JSON error the page shows."""

from __future__ import annotations

from aiohttp import web

from dnsfilter.web.json import json_response


class ApiError(Exception):
    """An answer other than success: HTTP ``status``, a stable ``code``, a
    sentence for a parent, and the request field it is about (if any)."""

    def __init__(
        self, status: int, code: str, message: str, field: str | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.retry_after = retry_after

    def response(self) -> web.Response:
        error: dict[str, object] = {"code": self.code, "message": self.message, "field": self.field}
        headers = {}
        if self.retry_after is not None:
            error["retry_after"] = round(self.retry_after, 1)
            headers["Retry-After"] = str(max(1, int(self.retry_after + 0.999)))
        return json_response({"error": error}, status=self.status, headers=headers)


def invalid(field: str, message: str) -> ApiError:
    return ApiError(400, "invalid", message, field)


def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"There is no such {what}; it may have been removed. Reload the page.")
