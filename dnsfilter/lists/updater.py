"""Downloading blocklists: conditional GET, limits, checks, schedule, status.

``update_sources`` fetches each source with the machine's ordinary network
(aiohttp and the system resolver, never this filter's upstream pool),
checks that the body really is a list of about the usual size, and only
then replaces the stored copy. Anything wrong - a captive portal's login
page, a cut connection, a list suddenly 90% smaller - keeps the previous
good copy and records a plain message for the parent. ``ListUpdater`` runs
it on a schedule, and logs one warning for lists that failed alike
(offline, every list fails the same way).
"""

from __future__ import annotations

import asyncio
import enum
import logging
import os
import random
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, tzinfo
from http import HTTPStatus

import aiohttp
from yarl import URL

from dnsfilter import __version__
from dnsfilter.lists.catalog import Source
from dnsfilter.lists.checks import (
    CAPTIVE_PORTAL,
    ListRefused,
    MiB,
    entry_count_problem,
    examine,
    too_big_message,
    truncated_message,
)
from dnsfilter.lists.liststore import (
    KEPT_BUNDLED,
    KEPT_PREVIOUS,
    ListStore,
    SourceStatus,
    group_failures,
    time_text,
)

__all__ = [
    "ListRefused",
    "ListUpdater",
    "UpdateLimits",
    "UpdateOutcome",
    "UpdateResult",
    "anything_changed",
    "entry_count_problem",
    "new_session",
    "update_sources",
]

log = logging.getLogger(__name__)

USER_AGENT = f"dnsfilter/{__version__} (blocklist updater)"
_CHUNK = 64 * 1024


class UpdateOutcome(enum.StrEnum):
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class UpdateResult:
    source_id: str
    outcome: UpdateOutcome
    entries: int  # in the copy now in use; 0 while not counted (bundled copy)
    message: str

    @property
    def changed(self) -> bool:
        return self.outcome is UpdateOutcome.UPDATED


def anything_changed(results: Iterable[UpdateResult]) -> bool:
    """Whether the index must be compiled again."""
    return any(result.changed for result in results)


@dataclass(frozen=True, slots=True)
class UpdateLimits:
    timeout: float = 60.0  # seconds for one whole download
    max_bytes: int = 64 * MiB  # uncompressed
    max_shrink: float = 0.5  # refuse a list that lost more than this fraction of its entries
    max_growth: float = 10.0  # refuse a list more than this many times larger
    concurrency: int = 2  # downloads at once: a Pi has little memory for parsing

    def __post_init__(self) -> None:
        if self.timeout <= 0 or self.max_bytes <= 0 or self.concurrency < 1:
            raise ValueError("timeout, max_bytes and concurrency must be positive")
        if not 0 <= self.max_shrink < 1 or self.max_growth < 1:
            raise ValueError("max_shrink must be in [0, 1) and max_growth at least 1")


async def update_sources(
    sources: Sequence[Source],
    store: ListStore,
    *,
    session: aiohttp.ClientSession | None = None,
    timeout: float = 60.0,
    max_bytes: int = 64 * MiB,
    max_shrink: float = 0.5,
    max_growth: float = 10.0,
    concurrency: int = 2,
) -> list[UpdateResult]:
    """Try to download every source; one result per source, in order. Never raises for a bad list."""
    limits = UpdateLimits(timeout, max_bytes, max_shrink, max_growth, concurrency)
    return await _update_all(sources, store, session, limits)


def new_session() -> aiohttp.ClientSession:
    # trust_env: honour the machine's proxy settings, like any other program on it.
    return aiohttp.ClientSession(headers={"User-Agent": USER_AGENT}, trust_env=True)


async def _update_all(
    sources: Sequence[Source], store: ListStore, session: aiohttp.ClientSession | None, limits: UpdateLimits
) -> list[UpdateResult]:
    if session is None:
        async with new_session() as own:
            return await _update_all(sources, store, own, limits)
    gate = asyncio.Semaphore(limits.concurrency)

    async def update_one(source: Source, session: aiohttp.ClientSession) -> UpdateResult:
        async with gate:
            return await _update_one(source, store, session, limits)

    return list(await asyncio.gather(*(update_one(source, session) for source in sources)))


async def _update_one(
    source: Source, store: ListStore, session: aiohttp.ClientSession, limits: UpdateLimits
) -> UpdateResult:
    previous = SourceStatus(source.id)
    try:
        previous = await asyncio.to_thread(store.status, source.id)
        download = await _fetch(source, previous, session, limits)
        if download is None:
            await asyncio.to_thread(store.record_unchanged, source.id, etag=None, last_modified=None)
            return UpdateResult(source.id, UpdateOutcome.UNCHANGED, previous.entries, "The list has not changed.")
        text, report, digest = await asyncio.to_thread(examine, download.body, source, limits.max_bytes)
        baseline, of_what = _baseline(previous, source)
        problem = entry_count_problem(report.entries, baseline, of_what, limits.max_shrink, limits.max_growth)
        if problem is not None:
            raise ListRefused(problem)
        if not previous.bundled and previous.sha256 == digest:
            # Servers without ETag support send the same bytes again: no recompile needed.
            await asyncio.to_thread(
                store.record_unchanged, source.id, etag=download.etag, last_modified=download.last_modified
            )
            return UpdateResult(source.id, UpdateOutcome.UNCHANGED, previous.entries, "The list has not changed.")
        try:
            status = await asyncio.to_thread(
                store.save_download,
                source.id,
                text,
                entries=report.entries,
                rejected=report.rejected,
                etag=download.etag,
                last_modified=download.last_modified,
                sha256=digest,
            )
        except OSError as exc:
            raise ListRefused(
                f"Could not save the new list in {store.directory} ({exc.strerror or exc}). "
                "Check that the memory card is not full or read-only."
            ) from exc
        return UpdateResult(source.id, UpdateOutcome.UPDATED, status.entries, f"Updated: {status.entries:,} entries.")
    except ListRefused as exc:
        message = f"{exc} {_still_in_use(previous)}"
    except Exception as exc:  # one odd list must never stop the others or the schedule
        log.exception("Unexpected failure updating list %s", source.id)
        message = f"The update failed unexpectedly ({exc.__class__.__name__}: {exc}). {_still_in_use(previous)}"
    try:
        await asyncio.to_thread(store.record_failure, source.id, message)
    except OSError as exc:
        log.warning("Could not record the failure of list %s: %s", source.id, exc)
    return UpdateResult(source.id, UpdateOutcome.FAILED, previous.entries, message)


class ListUpdater:
    """Keeps the lists fresh: a first update soon after start, then one per interval.

    ``update_now`` also serves ``dnsfilter lists update`` and the web UI's
    button; runs never overlap. ``sources`` may be replaced when the catalog
    is reloaded; the next run uses the new ones.
    """

    def __init__(
        self,
        sources: Sequence[Source],
        store: ListStore,
        *,
        limits: UpdateLimits = UpdateLimits(),
        first_delay: float = 60.0,
        jitter: float = 0.1,
        session: aiohttp.ClientSession | None = None,
        rng: random.Random | None = None,
        zone: tzinfo = UTC,
    ) -> None:
        self.sources = tuple(sources)
        self.store = store
        self.limits = limits
        self.zone = zone  # the family's: the times in log lines are read in it
        # A Raspberry Pi has no clock battery: right after boot its time can be
        # wrong until NTP answers, and certificates then look invalid. Wait a bit.
        self.first_delay = first_delay
        self.jitter = jitter
        self._session = session
        self._rng = rng or random.Random()
        self._running = asyncio.Lock()
        self._next_delay: float | None = None  # seconds from the end of a scheduled run to the next one

    async def update_now(self) -> list[UpdateResult]:
        async with self._running:
            results = await _update_all(self.sources, self.store, self._session, self.limits)
        self._log(results)
        return results

    def _log(self, results: Sequence[UpdateResult]) -> None:
        """One line per problem, however many lists had it (offline, that is every list)."""
        urls = {source.id: source.url for source in self.sources}
        failed = [
            (result.source_id, urls.get(result.source_id, ""), result.message)
            for result in results
            if result.outcome is UpdateOutcome.FAILED
        ]
        retry = "" if self._next_delay is None else f" The next update is at {self._next_run_text()}."
        for group in group_failures(failed):
            if len(group.source_ids) == 1:
                log.warning("List %s not updated: %s%s", group.source_ids[0], group.message, retry)
            else:
                log.warning(
                    "%d lists not updated (%s): %s Each keeps the copy it had.%s",
                    len(group.source_ids), group.ids_text(), group.message, retry,
                )  # fmt: skip
        for result in results:
            if result.outcome is UpdateOutcome.UPDATED:
                log.info("List %s updated (%d entries)", result.source_id, result.entries)
        unchanged = sum(result.outcome is UpdateOutcome.UNCHANGED for result in results)
        if unchanged:
            log.info("%d lists unchanged", unchanged)

    def _next_run_text(self) -> str:
        """When the schedule updates next, in the family's zone: "about 2026-12-07 20:15 (Asia/Ho_Chi_Minh)"."""
        return "about " + time_text(self.store.clock() + (self._next_delay or 0.0), self.zone)

    def next_delay(self, interval: float) -> float:
        """``interval`` give or take ``jitter``: many boxes must not hit a list server at the same second."""
        return interval * self._rng.uniform(1 - self.jitter, 1 + self.jitter)

    async def run_forever(self, interval: float, on_change: Callable[[], Awaitable[None]]) -> None:
        """Update, and call ``on_change`` (recompile) after a run that changed a list. Stops on cancel."""
        if interval <= 0:
            raise ValueError("interval must be positive")
        delay = self.first_delay
        # Stays set until on_change succeeds: a failed recompile is retried after the next run.
        pending_change = False
        while True:
            await asyncio.sleep(delay)
            delay = self.next_delay(interval)
            self._next_delay = delay  # for this run's log lines only, not those of a run asked for
            try:
                results = await self.update_now()
            except Exception:  # retried at the next interval; the lists in use stay as they are
                log.exception("The blocklist update failed; it will be tried again at %s", self._next_run_text())
                continue
            finally:
                self._next_delay = None
            pending_change = pending_change or anything_changed(results)
            if not pending_change:
                continue
            try:
                await on_change()
            except Exception:
                log.exception("Applying the updated blocklists failed; it will be tried again after the next update")
            else:
                pending_change = False


def _still_in_use(previous: SourceStatus) -> str:
    return KEPT_BUNDLED if previous.bundled else KEPT_PREVIOUS


@dataclass(frozen=True, slots=True)
class _Download:
    body: bytes
    etag: str | None
    last_modified: str | None


async def _fetch(
    source: Source, previous: SourceStatus, session: aiohttp.ClientSession, limits: UpdateLimits
) -> _Download | None:
    """The body of a 200 answer, or None for 304 Not Modified."""
    headers: dict[str, str] = {}
    # Only ask "has it changed?" about a copy we actually have on disk.
    if not previous.bundled and previous.etag:
        headers["If-None-Match"] = previous.etag
    if not previous.bundled and previous.last_modified:
        headers["If-Modified-Since"] = previous.last_modified
    host = _host_of(source.url)
    try:
        async with session.get(
            source.url, headers=headers, timeout=aiohttp.ClientTimeout(total=limits.timeout)
        ) as response:
            if response.status == HTTPStatus.NOT_MODIFIED:
                return None
            if response.status != HTTPStatus.OK:
                raise ListRefused(_http_problem(response.status, response.reason, source.url))
            body = await _read_capped(response, limits.max_bytes)
            return _Download(body, response.headers.get("ETag"), response.headers.get("Last-Modified"))
    except aiohttp.ClientConnectorDNSError as exc:
        raise ListRefused(
            f"Could not find the list server {host} (the name lookup failed). "
            "Check that this box is connected to the internet and its DNS settings work."
        ) from exc
    except aiohttp.ClientSSLError as exc:
        raise ListRefused(
            f"The secure connection to {host} failed ({exc}). "
            "Check that this box's date and time are correct; a wrong clock breaks certificates."
        ) from exc
    except aiohttp.ClientConnectorError as exc:
        raise ListRefused(
            f"Could not connect to the list server {host} ({_os_reason(exc.os_error)}). "
            "Check that this box is connected to the internet."
        ) from exc
    except (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError) as exc:
        raise ListRefused(truncated_message(None, None)) from exc
    except TimeoutError as exc:  # aiohttp's total timeout, and its read/connect timeouts
        raise ListRefused(
            f"The download took longer than {limits.timeout:g} seconds and was stopped. "
            "The connection may be slow or the server busy; the next update will try again."
        ) from exc
    except aiohttp.TooManyRedirects as exc:
        raise ListRefused(
            f"The list address {source.url} keeps redirecting. The list may have moved; updating dnsfilter "
            "brings a newer catalog."
        ) from exc
    except (aiohttp.InvalidURL, aiohttp.NonHttpUrlClientError) as exc:
        raise ListRefused(f"The list address {source.url!r} in the catalog is not a web address.") from exc
    except aiohttp.ClientError as exc:
        raise ListRefused(
            f"The download from {host} failed ({exc.__class__.__name__}: {exc}). "
            "Check that this box is connected to the internet."
        ) from exc


async def _read_capped(response: aiohttp.ClientResponse, max_bytes: int) -> bytes:
    # Content-Length counts encoded bytes: only comparable when the body is not compressed.
    declared = response.content_length
    plain = response.headers.get("Content-Encoding", "identity").lower() == "identity"
    if declared is not None and plain and declared > max_bytes:
        raise ListRefused(too_big_message(max_bytes))
    body = bytearray()
    async for chunk in response.content.iter_chunked(_CHUNK):
        body += chunk
        if len(body) > max_bytes:  # stop reading: a runaway server must not fill the memory
            raise ListRefused(too_big_message(max_bytes))
    if declared is not None and plain and len(body) != declared:
        raise ListRefused(truncated_message(len(body), declared))
    return bytes(body)


def _baseline(previous: SourceStatus, source: Source) -> tuple[int, str]:
    if not previous.bundled and previous.entries > 0:
        return previous.entries, "entries of the copy in use"
    return source.expected_entries, "entries expected for this list"


def _http_problem(status: int, reason: str | None, url: str) -> str:
    said = f"{status} ({reason})" if reason else str(status)
    if status in (HTTPStatus.NOT_FOUND, HTTPStatus.GONE):
        return (
            f"The list server answered {said} for {url}. "
            "The list may have moved; updating dnsfilter brings a newer catalog."
        )
    if status in (HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN, HTTPStatus.PROXY_AUTHENTICATION_REQUIRED):
        return f"The list server answered {said}: it refused the download. {CAPTIVE_PORTAL}"
    if status >= 500 or status == HTTPStatus.TOO_MANY_REQUESTS:
        return f"The list server answered {said}: a problem on its side. The next update will try again."
    return f"The list server answered {said} instead of the list. The next update will try again."


def _os_reason(error: OSError) -> str:
    # "Connection refused" rather than aiohttp's "Connect call failed ('1.2.3.4', 443)".
    return os.strerror(error.errno) if error.errno else str(error)


def _host_of(url: str) -> str:
    try:
        return URL(url).host or url
    except ValueError:
        return url

