"""A parent's browser, reduced to what web_ui.py needs: sign in, then timed GETs.

One kept-alive HTTP/1.1 connection to 127.0.0.1, as a browser keeps one; every
request carries ``Host: 127.0.0.1:PORT`` (the page refuses other hosts) and,
once signed in, the ``dnsfilter_session`` cookie. Standard library only, so
the loader process (web_loader.py) starts fast and adds no dependency.
"""

from __future__ import annotations

import http.client
import json
import time
from dataclasses import dataclass

HOST = "127.0.0.1"
COOKIE = "dnsfilter_session"
TIMEOUT_SECONDS = 60.0  # a page slower than this is a failure, not a timing


class WebError(RuntimeError):
    """The page did not answer as expected; the message says what came back."""


@dataclass(frozen=True, slots=True)
class Fetched:
    status: int
    body: bytes
    seconds: float  # request sent to the whole body read (wall time)

    def json(self) -> object:
        return json.loads(self.body)


class WebClient:
    def __init__(self, port: int, timeout: float = TIMEOUT_SECONDS) -> None:
        self.port = port
        self.timeout = timeout
        self.cookie: str | None = None
        self._connection: http.client.HTTPConnection | None = None

    @property
    def origin(self) -> str:
        return f"http://{HOST}:{self.port}"

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def request(
        self, method: str, path: str, body: object | None = None
    ) -> Fetched:
        """One request; a connection the server closed meanwhile is opened again once."""
        headers = {"Host": f"{HOST}:{self.port}", "Accept": "application/json"}
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
            headers["Origin"] = self.origin  # changes must come from the page itself
        if self.cookie is not None:
            headers["Cookie"] = f"{COOKIE}={self.cookie}"
        for attempt in (1, 2):
            if self._connection is None:
                self._connection = http.client.HTTPConnection(
                    HOST, self.port, timeout=self.timeout
                )
            started = time.perf_counter()
            try:
                self._connection.request(method, path, body=payload, headers=headers)
                response = self._connection.getresponse()
                data = response.read()
            except (http.client.HTTPException, OSError) as error:
                self.close()
                if attempt == 2:
                    raise WebError(f"{method} {path}: {error!r}") from error
                continue
            seconds = time.perf_counter() - started
            if response.getheader("Connection", "").lower() == "close":
                self.close()
            self._keep_cookie(response.getheader("Set-Cookie"))
            return Fetched(response.status, data, seconds)
        raise AssertionError("unreachable")

    def get(self, path: str) -> Fetched:
        return self.request("GET", path)

    def login(self, password: str) -> None:
        answer = self.request("POST", "/api/login", {"password": password})
        if answer.status != 200 or self.cookie is None:
            raise WebError(
                f"POST /api/login answered {answer.status}: {answer.body[:300]!r}"
            )

    def _keep_cookie(self, header: str | None) -> None:
        if not header:
            return
        for part in header.split(";"):
            name, _, value = part.strip().partition("=")
            if name == COOKIE and value:
                self.cookie = value


def wait_until_serving(client: WebClient, deadline_seconds: float) -> float:
    """Poll GET /api/session until it answers 200; the seconds it took."""
    started = time.monotonic()
    last = "no answer"
    while time.monotonic() - started < deadline_seconds:
        try:
            answer = client.get("/api/session")
        except (WebError, OSError) as error:
            last = repr(error)
            client.close()
        else:
            if answer.status == 200:
                return time.monotonic() - started
            last = f"status {answer.status}"
        time.sleep(0.1)
    raise WebError(
        f"the web page on {client.origin} did not answer within "
        f"{deadline_seconds:.0f} s ({last})"
    )
