"""List downloads against a real HTTP server on 127.0.0.1: good lists, bad ones, schedule, status."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import errno
import gzip
import json
import logging
import random
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult

from dnsfilter.lists.catalog import Source
from dnsfilter.lists.liststore import ListStore, SourceStatus, group_failures
from dnsfilter.lists.updater import (
    ListUpdater,
    UpdateLimits,
    UpdateOutcome,
    UpdateResult,
    anything_changed,
    entry_count_problem,
    update_sources,
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def names(count: int, start: int = 0) -> bytes:
    """A ``domains`` list of ``count`` distinct example names, with a comment and one bad line."""
    lines = ["# test list", *(f"host{i}.example.org" for i in range(start, start + count)), "not a name"]
    return ("\n".join(lines) + "\n").encode()


GOOD = names(1000)


class ListServer:
    """An aiohttp server on 127.0.0.1:0 answering each path with a handler the test picks."""

    def __init__(self) -> None:
        self.handlers: dict[str, Handler] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.active = 0
        self.most_active = 0
        self.release = asyncio.Event()  # ends handlers that stall on purpose
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def start(self) -> ListServer:
        app = web.Application()
        app.router.add_get("/{path:.*}", self._dispatch)
        self._runner = web.AppRunner(app, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def close(self) -> None:
        self.release.set()
        if self._runner is not None:
            await self._runner.cleanup()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path}"

    def requests_for(self, path: str) -> list[dict[str, str]]:
        return [headers for p, headers in self.requests if p == path]

    def serve(self, path: str, body: bytes, *, etag: str | None = None, **headers: str) -> None:
        """Answer 200 with ``body``, or 304 when the client already has ``etag``."""

        async def handler(request: web.Request) -> web.StreamResponse:
            if etag is not None and request.headers.get("If-None-Match") == etag:
                return web.Response(status=304, headers={"ETag": etag})
            extra = {"ETag": etag} if etag is not None else {}
            return web.Response(body=body, headers={"Content-Type": "text/plain", **extra, **headers})

        self.handlers[path] = handler

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.match_info["path"]
        self.requests.append((path, dict(request.headers)))
        self.active += 1
        self.most_active = max(self.most_active, self.active)
        try:
            handler = self.handlers.get(path)
            if handler is None:
                raise web.HTTPNotFound()
            return await handler(request)
        finally:
            self.active -= 1


@pytest.fixture
async def server() -> AsyncIterator[ListServer]:
    list_server = await ListServer().start()
    try:
        yield list_server
    finally:
        await list_server.close()


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class World:
    store: ListStore
    clock: Clock
    bundle: Path


@pytest.fixture
def world(tmp_path: Path) -> World:
    blocklists = tmp_path / "blocklists"
    bundle = blocklists / "lists" / "test" / "gambling.domains.txt.gz"
    bundle.parent.mkdir(parents=True)
    bundle.write_bytes(gzip.compress(names(900)))
    clock = Clock()
    return World(ListStore(tmp_path / "data", blocklists, clock=clock), clock, bundle)


def make_source(url: str, expected_entries: int = 1000, source_id: str = "test-gambling") -> Source:
    return Source(
        id=source_id,
        category="gambling",
        format="domains",
        subdomains=True,
        url=url,
        license="CC-BY-SA",
        attribution="Example lists",
        snapshot="lists/test/gambling.domains.txt.gz",
        expected_entries=expected_entries,
    )


async def update_one(source: Source, store: ListStore, **limits: Any) -> UpdateResult:
    limits.setdefault("timeout", 5.0)
    (result,) = await update_sources([source], store, **limits)
    return result


def stored_text(path: Path) -> bytes:
    return gzip.decompress(path.read_bytes())


async def test_first_download_replaces_the_bundle_then_304_keeps_it(server: ListServer, world: World) -> None:
    server.serve("list.txt", GOOD, etag='"v1"', **{"Last-Modified": "Wed, 01 May 2024 03:00:00 GMT"})
    source = make_source(server.url("list.txt"))
    assert world.store.path_for(source) == world.bundle
    assert world.store.status(source.id) == SourceStatus(source.id)

    first = await update_one(source, world.store)

    assert (first.outcome, first.entries, first.changed) == (UpdateOutcome.UPDATED, 1000, True)
    path = world.store.path_for(source)
    assert path == world.store.download_path(source.id) and stored_text(path) == GOOD
    status = world.store.status(source.id)
    assert (status.entries, status.rejected, status.size) == (1000, (("whitespace", 1),), len(GOOD))
    assert (status.etag, status.last_modified, status.bundled) == ('"v1"', "Wed, 01 May 2024 03:00:00 GMT", False)
    assert status.last_success == status.last_attempt == world.clock.now and status.last_error is None
    # Nothing to compare with yet: a bundled copy is not "the copy we have".
    assert "If-None-Match" not in server.requests_for("list.txt")[0]

    world.clock.now += 3600
    second = await update_one(source, world.store)

    assert (second.outcome, second.entries, second.changed) == (UpdateOutcome.UNCHANGED, 1000, False)
    sent = server.requests_for("list.txt")[1]
    assert sent["If-None-Match"] == '"v1"' and sent["If-Modified-Since"] == "Wed, 01 May 2024 03:00:00 GMT"
    after = world.store.status(source.id)
    assert after == dataclasses.replace(status, last_success=world.clock.now, last_attempt=world.clock.now)
    assert not anything_changed([second]) and anything_changed([second, first])


async def test_same_bytes_without_etag_count_as_unchanged(server: ListServer, world: World) -> None:
    server.serve("list.txt", GOOD)
    source = make_source(server.url("list.txt"))
    assert (await update_one(source, world.store)).outcome is UpdateOutcome.UPDATED
    assert (await update_one(source, world.store)).outcome is UpdateOutcome.UNCHANGED
    server.serve("list.txt", names(1001))
    assert (await update_one(source, world.store)).outcome is UpdateOutcome.UPDATED


@pytest.mark.parametrize("packing", ["content-encoding", "gz-file"], ids=["content-encoding", "gz-file"])
async def test_gzip_downloads_are_unpacked(server: ListServer, world: World, packing: str) -> None:
    packed = gzip.compress(GOOD)
    if packing == "content-encoding":
        server.serve("list.txt", packed, **{"Content-Encoding": "gzip"})
    else:
        server.serve("list.txt", packed, **{"Content-Type": "application/gzip"})
    source = make_source(server.url("list.txt"))

    result = await update_one(source, world.store)

    assert (result.outcome, result.entries) == (UpdateOutcome.UPDATED, 1000)
    assert stored_text(world.store.path_for(source)) == GOOD


# Each case breaks a source that already has a good download of GOOD.
# ``arrange`` sets the server up and returns the URL to fetch.
Arrange = Callable[[ListServer], str]


def _serve(body: bytes, **headers: str) -> Arrange:
    def arrange(server: ListServer) -> str:
        server.serve("list.txt", body, **headers)
        return server.url("list.txt")

    return arrange


def _status(code: int) -> Arrange:
    def arrange(server: ListServer) -> str:
        async def handler(request: web.Request) -> web.StreamResponse:
            return web.Response(status=code, text="<html><body>oops</body></html>", content_type="text/html")

        server.handlers["list.txt"] = handler
        return server.url("list.txt")

    return arrange


def _streamed(first_part: bytes, declared: int | None, then: str) -> Arrange:
    """Send ``first_part``, then close the connection, stall, or stream on forever."""

    def arrange(server: ListServer) -> str:
        async def handler(request: web.Request) -> web.StreamResponse:
            response = web.StreamResponse(headers={"Content-Type": "text/plain"})
            if declared is not None:
                response.content_length = declared
            await response.prepare(request)
            await response.write(first_part)
            if then == "close":
                assert request.transport is not None
                request.transport.close()
            elif then == "stall":
                await server.release.wait()
            else:
                while not server.release.is_set():
                    await response.write(names(100))
            return response

        server.handlers["list.txt"] = handler
        return server.url("list.txt")

    return arrange


def _closed_port(server: ListServer) -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/list.txt"


CAPTIVE_PAGE = b"""<!DOCTYPE html>
<html><head><title>Welcome to Hotel WiFi</title></head>
<body><form action="/login">Room number <input name="room"></form></body></html>
"""
GARBAGE = random.Random(7).randbytes(8192)

FAILURES = [
    ("captive-portal", _serve(CAPTIVE_PAGE), {}, "web page instead of a list — is this box behind a login page?"),
    ("binary", _serve(GARBAGE), {}, "not a text list"),
    ("empty", _serve(b""), {}, "The download was empty"),
    ("blank-lines", _serve(b"\n\n  \n"), {}, "The download was empty"),
    ("only-comments", _serve(b"# nothing here\n! nor here\n"), {}, "no usable entries"),
    ("only-rejected-lines", _serve(b"not a name\n" * 20), {}, "no usable entries (rejected: 20 whitespace)"),
    ("truncated", _streamed(GOOD[:5000], declared=len(GOOD), then="close"), {}, "cut off before the end"),
    ("ten-times-larger", _serve(names(12_000)), {}, "more than 10 times the 1,000 entries of the copy in use"),
    ("shrunk-to-10-percent", _serve(names(100)), {}, "only 100 entries, far fewer than the 1,000"),
    ("not-found", _status(404), {}, "answered 404 (Not Found)"),
    ("server-error", _status(500), {}, "answered 500 (Internal Server Error): a problem on its side"),
    ("slow-server", _streamed(GOOD[:100], None, then="stall"), {"timeout": 0.3}, "longer than 0.3 seconds"),
    ("unreachable", _closed_port, {}, "Could not connect to the list server 127.0.0.1"),
    ("too-large-declared", _serve(names(2000)), {"max_bytes": 30_000}, "larger than the"),
    ("too-large-streamed", _streamed(b"", None, then="stream"), {"max_bytes": 30_000}, "larger than the"),
    ("gzip-bomb", _serve(gzip.compress(names(5000))), {"max_bytes": 30_000}, "larger than the"),
    ("damaged-gzip", _serve(gzip.compress(GOOD)[:-200]), {}, "cut off before the end"),
]


@pytest.mark.parametrize(("arrange", "limits", "expected"), [f[1:] for f in FAILURES], ids=[f[0] for f in FAILURES])
async def test_a_bad_download_keeps_the_previous_good_copy(
    server: ListServer, world: World, arrange: Arrange, limits: dict[str, Any], expected: str
) -> None:
    server.serve("list.txt", GOOD, etag='"good"')
    source = make_source(server.url("list.txt"))
    assert (await update_one(source, world.store)).outcome is UpdateOutcome.UPDATED
    good = world.store.status(source.id)
    world.clock.now += 86400
    source = dataclasses.replace(source, url=arrange(server))

    result = await update_one(source, world.store, **limits)

    assert (result.outcome, result.entries, result.changed) == (UpdateOutcome.FAILED, 1000, False)
    assert expected in result.message and result.message.endswith("The previous copy stays in use.")
    assert stored_text(world.store.path_for(source)) == GOOD
    status = world.store.status(source.id)
    assert status == dataclasses.replace(good, last_attempt=world.clock.now, last_error=result.message)


async def test_first_download_far_smaller_than_expected_keeps_the_bundle(server: ListServer, world: World) -> None:
    server.serve("list.txt", names(100))
    source = make_source(server.url("list.txt"), expected_entries=1000)

    result = await update_one(source, world.store)

    assert result.outcome is UpdateOutcome.FAILED
    assert "far fewer than the 1,000 entries expected for this list" in result.message
    assert result.message.endswith("The list that came with dnsfilter stays in use.")
    assert world.store.path_for(source) == world.bundle
    status = world.store.status(source.id)
    assert status.bundled and status.last_success is None and status.last_error == result.message


class NoNames(AbstractResolver):
    """A resolver that knows no names, so a lookup fails without any network traffic."""

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        raise OSError(socket.EAI_NONAME, "Name or service not known")

    async def close(self) -> None:
        pass


async def test_a_failed_name_lookup_is_explained(world: World) -> None:
    source = make_source("http://lists.example.org/list.txt")
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(resolver=NoNames())) as session:
        (result,) = await update_sources([source], world.store, session=session, timeout=5.0)
    assert result.outcome is UpdateOutcome.FAILED
    assert result.message.startswith("Could not find the list server lists.example.org (the name lookup failed).")
    assert world.store.status(source.id).last_error == result.message


async def test_a_full_disk_keeps_the_previous_copy(
    server: ListServer, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.serve("list.txt", GOOD)
    source = make_source(server.url("list.txt"))
    await update_one(source, world.store)
    server.serve("list.txt", names(1200))

    def disk_full(*args: object, **kwargs: object) -> SourceStatus:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(world.store, "save_download", disk_full)
    result = await update_one(source, world.store)

    assert result.outcome is UpdateOutcome.FAILED
    assert "(No space left on device). Check that the memory card is not full" in result.message
    assert stored_text(world.store.path_for(source)) == GOOD
    assert world.store.status(source.id).last_error == result.message


async def test_a_failure_does_not_stop_the_other_sources(server: ListServer, world: World) -> None:
    server.serve("good.txt", GOOD)
    server.serve("portal.txt", CAPTIVE_PAGE)
    sources = [
        make_source(server.url("portal.txt"), source_id="portal"),
        make_source(server.url("good.txt"), source_id="good"),
        make_source("ftp://127.0.0.1/list.txt", source_id="bad-url"),
    ]

    results = await update_sources(sources, world.store, timeout=5.0)

    assert [(r.source_id, r.outcome) for r in results] == [
        ("portal", UpdateOutcome.FAILED),
        ("good", UpdateOutcome.UPDATED),
        ("bad-url", UpdateOutcome.FAILED),
    ]
    assert set(world.store.all_status()) == {"portal", "good", "bad-url"}


async def test_concurrency_is_bounded(server: ListServer, world: World) -> None:
    async def slow(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(0.1)  # long enough for every unbounded request to overlap
        return web.Response(body=GOOD)

    sources = []
    for number in range(6):
        server.handlers[f"list{number}.txt"] = slow
        sources.append(make_source(server.url(f"list{number}.txt"), source_id=f"list{number}"))

    results = await update_sources(sources, world.store, timeout=5.0, concurrency=2)

    assert [r.outcome for r in results] == [UpdateOutcome.UPDATED] * 6
    assert server.most_active == 2


@pytest.mark.parametrize(
    ("entries", "baseline", "problem"),
    [
        (500, 1000, None),
        (499, 1000, "far fewer"),
        (10_000, 1000, None),
        (10_001, 1000, "more than 10 times"),
        (1, 0, None),
        (1, 4, None),
        (1000, 4, None),
        (1001, 4, "more than 10 times"),
    ],
    ids=[
        "half-is-fine", "under-half", "ten-times-is-fine", "over-ten-times", "no-baseline",
        "small-list-may-shrink", "small-list-may-grow-to-1000", "small-list-not-past-1000",
    ],  # fmt: skip
)
def test_entry_count_limits(entries: int, baseline: int, problem: str | None) -> None:
    found = entry_count_problem(entries, baseline, "entries of the copy in use", 0.5, 10.0)
    assert (found is None) if problem is None else (found is not None and problem in found)


@pytest.mark.parametrize(
    "damage",
    [b"{not json", b"[]", b'{"version": 1, "sources": {"test-gambling": {"entries": "many"}}}', b"\xff\xfe\x00"],
    ids=["not-json", "not-a-mapping", "wrong-type", "binary"],
)
async def test_a_damaged_status_file_is_rebuilt(server: ListServer, world: World, damage: bytes) -> None:
    server.serve("list.txt", GOOD)
    source = make_source(server.url("list.txt"))
    assert (await update_one(source, world.store)).outcome is UpdateOutcome.UPDATED
    world.store.status_path.write_bytes(damage)

    status = world.store.status(source.id)

    # The download is still there and in use; only the bookkeeping was lost.
    assert status == SourceStatus(source.id, bundled=False)
    assert world.store.path_for(source) == world.store.download_path(source.id)
    assert world.store.notice is not None and "damaged and has been rebuilt" in world.store.notice
    assert json.loads(world.store.status_path.read_bytes()) == {"version": 1, "sources": {}}
    assert world.store.status_path.with_name("status.json.damaged").read_bytes() == damage
    # The next update fills the record in again.
    assert (await update_one(source, world.store)).outcome is UpdateOutcome.UPDATED
    assert world.store.status(source.id).entries == 1000


async def test_no_temporary_files_are_left_behind(server: ListServer, world: World) -> None:
    server.serve("list.txt", GOOD)
    source = make_source(server.url("list.txt"))
    await update_one(source, world.store)
    server.serve("list.txt", names(1200))
    await update_one(source, world.store)
    assert sorted(p.name for p in world.store.directory.iterdir()) == ["status.json", "test-gambling.txt.gz"]


def test_odd_source_ids_stay_inside_the_lists_folder(world: World) -> None:
    paths = {world.store.download_path(i) for i in ("../../etc/passwd", "a/b", "a_b", ".hidden")}
    assert len(paths) == 4 and all(p.parent == world.store.directory for p in paths)
    assert not any(p.name.startswith(".") for p in paths)


async def test_run_forever_recompiles_only_after_a_change_and_stops_on_cancel(
    server: ListServer, world: World
) -> None:
    server.serve("list.txt", GOOD, etag='"v1"')
    updater = ListUpdater(
        [make_source(server.url("list.txt"))], world.store,
        limits=UpdateLimits(timeout=5.0), first_delay=0.0, rng=random.Random(1),
    )  # fmt: skip
    recompiles: list[int] = []

    async def on_change() -> None:
        recompiles.append(len(server.requests_for("list.txt")))

    task = asyncio.create_task(updater.run_forever(0.02, on_change))
    await wait_for(lambda: len(server.requests_for("list.txt")) >= 4)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert recompiles == [1]  # the first download changed the list; the 304s did not


async def test_a_failed_recompile_is_retried_and_a_failed_run_does_not_stop_the_schedule(
    server: ListServer, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    server.serve("list.txt", GOOD, etag='"v1"')
    updater = ListUpdater(
        [make_source(server.url("list.txt"))], world.store, limits=UpdateLimits(timeout=5.0), first_delay=0.0
    )
    real_update_now = updater.update_now
    runs = 0

    async def flaky_update_now() -> list[UpdateResult]:
        nonlocal runs
        runs += 1
        if runs == 2:
            raise OSError("disk trouble")
        return await real_update_now()

    updater.update_now = flaky_update_now  # type: ignore[method-assign]
    calls = 0

    async def on_change() -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("index compiler crashed")

    task = asyncio.create_task(updater.run_forever(0.02, on_change))
    await wait_for(lambda: runs >= 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    # Run 1 changed the list but recompiling failed; run 2 failed; run 3 (a 304) retried the recompile.
    assert calls == 2
    at = datetime.datetime.fromtimestamp(world.clock.now, datetime.UTC)  # the interval is 0.02 s
    assert f"The blocklist update failed; it will be tried again at about {at:%Y-%m-%d %H:%M} (UTC)" in caplog.text


async def test_cancel_while_waiting_for_the_first_run(world: World) -> None:
    updater = ListUpdater([], world.store, first_delay=3600.0)

    async def on_change() -> None:
        raise AssertionError("no run expected")

    task = asyncio.create_task(updater.run_forever(3600.0, on_change))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, timeout=2.0)


def test_intervals_are_jittered_by_ten_percent(world: World) -> None:
    updater = ListUpdater([], world.store, rng=random.Random(3))
    delays = [updater.next_delay(1000.0) for _ in range(200)]
    assert all(900.0 <= d <= 1100.0 for d in delays)
    assert len({round(d) for d in delays}) > 50


async def test_update_now_reports_each_source(server: ListServer, world: World) -> None:
    server.serve("list.txt", GOOD)
    source = make_source(server.url("list.txt"))
    updater = ListUpdater([source], world.store, limits=UpdateLimits(timeout=5.0))
    (result,) = await updater.update_now()
    assert (result.source_id, result.outcome, result.entries) == (source.id, UpdateOutcome.UPDATED, 1000)


async def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.005)


KEPT = "The list that came with dnsfilter stays in use."
NO_NAME = "Could not find the list server {} (the name lookup failed). Check the DNS settings."
MOVED = "The list server answered 404 (Not Found) for {}. " + KEPT
GROUPING = {
    "the same problem on two servers": (
        [("a", "https://one.invalid/a", f"{NO_NAME.format('one.invalid')} {KEPT}"),
         ("b", "https://two.invalid/b", f"{NO_NAME.format('two.invalid')} The previous copy stays in use.")],
        [(("a", "b"), NO_NAME.format("one.invalid and two.invalid"))],
    ),
    "different problems stay apart, each with its own message": (
        [("a", "https://one.invalid/a", f"{NO_NAME.format('one.invalid')} {KEPT}"),
         ("b", "https://lists.example/b", MOVED.format("https://lists.example/b")),
         ("c", "https://lists.example/c", MOVED.format("https://lists.example/c"))],
        [(("a",), f"{NO_NAME.format('one.invalid')} {KEPT}"),
         (("b",), MOVED.format("https://lists.example/b")),
         (("c",), MOVED.format("https://lists.example/c"))],
    ),
    "three servers": (
        [(source_id, f"https://{source_id}.invalid/", NO_NAME.format(f"{source_id}.invalid")) for source_id in "abc"],
        [(("a", "b", "c"), NO_NAME.format("a.invalid, b.invalid and c.invalid"))],
    ),
}  # fmt: skip


@pytest.mark.parametrize(("failures", "expected"), GROUPING.values(), ids=GROUPING.keys())
def test_failures_are_grouped_by_problem(
    failures: list[tuple[str, str, str]], expected: list[tuple[tuple[str, ...], str]]
) -> None:
    assert [(group.source_ids, group.message) for group in group_failures(failures)] == expected


async def test_one_warning_per_problem_with_the_next_update_in_the_familys_zone(
    server: ListServer, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    server.serve("good.txt", GOOD)
    refused = _closed_port(server)
    sources = [
        *(make_source(refused.replace("list.txt", f"list{i}.txt"), source_id=f"refused-{i}") for i in range(7)),
        make_source("https://lists.invalid/list.txt", source_id="no-such-server"),
        make_source(server.url("good.txt"), source_id="good"),
    ]
    saigon = ZoneInfo("Asia/Ho_Chi_Minh")
    updater = ListUpdater(
        sources, world.store, limits=UpdateLimits(timeout=5.0), first_delay=0.0, jitter=0.0, zone=saigon
    )

    async def on_change() -> None:
        pass

    caplog.set_level(logging.INFO, logger="dnsfilter.lists.updater")
    task = asyncio.create_task(updater.run_forever(3600.0, on_change))
    await wait_for(lambda: any("List good updated" in record.getMessage() for record in caplog.records))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    next_run = datetime.datetime.fromtimestamp(world.clock.now + 3600.0, saigon)
    retry = f"The next update is at about {next_run:%Y-%m-%d %H:%M} (Asia/Ho_Chi_Minh)."
    assert warnings == [
        "7 lists not updated (refused-0, refused-1, refused-2, refused-3, refused-4 and 2 more): "
        "Could not connect to the list server 127.0.0.1 (Connection refused). "
        f"Check that this box is connected to the internet. Each keeps the copy it had. {retry}",
        "List no-such-server not updated: Could not find the list server lists.invalid (the name lookup failed). "
        "Check that this box is connected to the internet and its DNS settings work. "
        f"The list that came with dnsfilter stays in use. {retry}",
    ]
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.INFO] == ["List good updated (1000 entries)"]
    caplog.clear()
    await updater.update_now()  # asked for (the web page's button): no schedule to speak of
    assert caplog.records and not any("next update" in record.getMessage() for record in caplog.records)
