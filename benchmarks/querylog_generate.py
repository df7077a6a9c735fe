"""A week of a home's query log, written through the writer's own code.

Entries like those the resolver buffers (who asked, the parsed query, the
decision, the reply bytes; the same answer object appended once per repeat
within its second) go through ``BatchBuilder.build`` and ``write_batch``, an
hour of the week per transaction, so every table the writer fills (rows,
hourly counts, per-hour name counts, screen-time minutes, counters) is
filled as a running filter would fill it. Drawn with a fixed seed:

- ``rows`` rows over ``days`` days ending at the last UTC midnight, more in
  the evening than at night (``HOUR_WEIGHTS``), the same every day;
- ``devices`` devices (three in four by address, the rest by MAC) spread over
  ``profiles`` profiles in turn, some far chattier than others (Zipf-like
  weights, exponent ``DEVICE_SKEW``, in a shuffled order);
- 90% of rows an allowed name, ranked as in the allowed list (its order is
  popularity) and drawn with weight 1/rank; 10% a blocked name sampled from
  the big list, also 1/rank; each name has the tags of ``ALLOWED_TAGS`` or
  ``BLOCKED_TAGS`` (drawn once per name), blocked rows name their category;
- A 60%, AAAA 30%, HTTPS 10%; allowed answers from the cache three times in
  four, else from one of two upstreams after 5-80 ms;
- repeats per row: 1 (60%), 2 (20%), 3 (10%), 5 (10%).
"""

from __future__ import annotations

import random
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from itertools import accumulate
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from dns_probe import build_query
from fake_upstream import address_for

from dnsfilter.dns import wire
from dnsfilter.dns.logbuffer import FROM_CACHE, FROM_FILTER, Entries, Entry
from dnsfilter.policy.decision import ALLOW, Action, Decision, Reason
from dnsfilter.service.logwriter import BatchBuilder, write_batch
from dnsfilter.store.database import open_database

SEED = 5
INSTANCE = "generated"
HOUR_WEIGHTS = (  # midnight to 23:00, local = UTC here
    2, 1, 1, 1, 1, 1, 3, 6, 6, 5, 5, 6, 7, 6, 6, 7, 9, 10, 11, 12, 12, 11, 8, 4,
)  # fmt: skip
DEVICE_SKEW = 0.8
ALLOWED_TAGS = (  # share of allowed names listed under each
    ("social", 0.05), ("video", 0.04), ("games", 0.03), ("shopping", 0.03),
    ("chat", 0.02), ("news", 0.02), ("ads", 0.08), ("tracking", 0.06),
)  # fmt: skip
BLOCKED_TAGS = (  # share of blocked names in each category (one each)
    ("adult", 0.45), ("gambling", 0.15), ("malware", 0.10), ("piracy", 0.10),
    ("proxy_vpn", 0.08), ("dating", 0.07), ("drugs", 0.05),
)  # fmt: skip
QTYPES = ((wire.TYPE_A, 0.6), (wire.TYPE_AAAA, 0.3), (wire.TYPE_HTTPS, 0.1))
REPEATS = ((1, 0.6), (2, 0.2), (3, 0.1), (5, 0.1))
UPSTREAMS = ("9.9.9.9:53", "1.1.1.1:53")
CACHED_SHARE = 0.75
TTL = 300
_UDP_SIZE = 1232
_TYPE_NAMES = {wire.TYPE_A: "A", wire.TYPE_AAAA: "AAAA", wire.TYPE_HTTPS: "HTTPS"}
_FILE_ENDS = ("", "-wal", "-shm")  # an SQLite database and its companions


@dataclass(frozen=True, slots=True)
class LogShape:
    rows: int
    days: int = 7
    devices: int = 200
    profiles: int = 20
    allowed_names: int = 50_000
    blocked_names: int = 20_000
    blocked_share: float = 0.10

    def describe(self, allowed_source: str, blocked_source: str) -> list[str]:
        """What the log holds, a line per aspect."""

        def shares(pairs: Sequence[tuple[object, float]]) -> str:
            return ", ".join(f"{what} {share:.0%}" for what, share in pairs)

        by_address = self.devices * 3 // 4
        types = [(_TYPE_NAMES[qtype], share) for qtype, share in QTYPES]
        hours = ",".join(map(str, HOUR_WEIGHTS))
        return [
            f"rows per hour in proportion to {hours} (midnight to 23:00 UTC), every day alike",
            (
                f"devices: {self.devices} ({by_address} by address, "
                f"{self.devices - by_address} by MAC) over {self.profiles} profiles "
                f"in turn; activity 1/rank^{DEVICE_SKEW} in a shuffled order"
            ),
            (
                f"names: {1 - self.blocked_share:.0%} allowed, 1/rank over the first "
                f"{self.allowed_names:,} of {allowed_source} (in popularity order); "
                f"{self.blocked_share:.0%} blocked, 1/rank over {self.blocked_names:,} "
                f"sampled from {blocked_source}"
            ),
            (
                f"tags of allowed names: {shares(ALLOWED_TAGS)}; blocked names: one "
                f"category each, {shares(BLOCKED_TAGS)}"
            ),
            (
                f"types: {shares(types)}; repeats per row: {shares(REPEATS)}; "
                f"allowed answers {CACHED_SHARE:.0%} from the cache"
            ),
        ]


@dataclass(frozen=True, slots=True)
class GeneratedLog:
    rows: int
    queries: int  # rows with their repeats
    seconds: float
    first_hour: datetime
    end: datetime


def _zipf(count: int, exponent: float = 1.0) -> list[float]:
    """Cumulative weights 1/rank^exponent of ranks 1 to ``count``."""
    return list(accumulate(1 / (rank**exponent) for rank in range(1, count + 1)))


def _device_keys(count: int) -> list[str]:
    by_address = count * 3 // 4
    keys = [f"ip:192.168.{1 + i // 250}.{10 + i % 250}" for i in range(by_address)]
    keys += [
        f"mac:02:00:00:00:{i // 256:02x}:{i % 256:02x}"
        for i in range(count - by_address)
    ]
    return keys


def _pick_tags(
    names: Sequence[str],
    shares: Sequence[tuple[str, float]],
    draw: random.Random,
    *,
    one: bool,
) -> dict[str, tuple[str, ...]]:
    """Each name's tags: every tag with its share (or exactly one, by share)."""
    tags: dict[str, tuple[str, ...]] = {}
    ids = [tag for tag, _ in shares]
    weights = [share for _, share in shares]
    for name in names:
        if one:
            tags[name] = tuple(draw.choices(ids, weights))
        else:
            tags[name] = tuple(tag for tag, share in shares if draw.random() < share)
    return tags


class _Answers:
    """The parsed query, reply and decision of each (name, type), made once
    (``made``, else ``make``)."""

    def __init__(self, tags: dict[str, tuple[str, ...]], blocked: set[str]) -> None:
        self.tags = tags
        self.blocked = blocked
        self.made: dict[tuple[str, int], tuple[wire.Query, bytes, Decision]] = {}

    def make(self, name: str, qtype: int) -> tuple[wire.Query, bytes, Decision]:
        made = self.made[(name, qtype)] = self._new(name, qtype)
        return made

    def _new(self, name: str, qtype: int) -> tuple[wire.Query, bytes, Decision]:
        query = wire.parse_query(build_query(name, 0, qtype))
        if name in self.blocked:
            category = self.tags[name][0]
            decision = Decision(
                Action.BLOCK, Reason.CATEGORY, category, f"bench-{category}", name
            )
            rdata = {wire.TYPE_A: bytes(4), wire.TYPE_AAAA: bytes(16)}.get(qtype)
        else:
            decision = ALLOW
            address = socket.inet_aton(address_for(name))
            rdata = {wire.TYPE_A: address, wire.TYPE_AAAA: bytes(12) + address}.get(
                qtype
            )
        if rdata is None:  # HTTPS: no data
            return query, wire.build_reply(b"\0\0", query, _UDP_SIZE), decision
        record = wire.address_record(qtype, TTL, rdata)
        reply = wire.build_reply(b"\0\0", query, _UDP_SIZE, answers=record, ancount=1)
        return query, reply, decision


def generate_log(
    path: Path,
    shape: LogShape,
    allowed: Sequence[str],
    blocked: Sequence[str],
    progress: Callable[[str], None],
) -> GeneratedLog:
    """Write ``shape`` into a new SQLite database at ``path``.

    It is written as ``<path>.partial`` and renamed once complete, so an
    interrupted run leaves nothing a later one would take for a whole log.
    """
    started = time.monotonic()
    partial = path.with_name(path.name + ".partial")
    for end in _FILE_ENDS:
        partial.with_name(partial.name + end).unlink(missing_ok=True)
    draw = random.Random(SEED)
    tags = _pick_tags(allowed, ALLOWED_TAGS, draw, one=False)
    tags.update(_pick_tags(blocked, BLOCKED_TAGS, draw, one=True))
    answers = _Answers(tags, set(blocked))
    devices = _device_keys(shape.devices)
    profile_of = {key: 1 + i % shape.profiles for i, key in enumerate(devices)}
    chatty = devices.copy()
    draw.shuffle(chatty)
    device_weights = _zipf(len(chatty), DEVICE_SKEW)
    allowed_weights, blocked_weights = _zipf(len(allowed)), _zipf(len(blocked))
    end_day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    end_hour = int(end_day.timestamp()) // 3600
    hours = list(range(end_hour - 24 * shape.days, end_hour))
    per_hour = _spread(shape.rows, [HOUR_WEIGHTS[hour % 24] for hour in hours])
    builder = BatchBuilder(INSTANCE, ZoneInfo("UTC"), lambda name: tags.get(name, ()))
    database = open_database(f"sqlite:///{partial}")
    rows = queries = 0
    try:
        for number, (hour, count) in enumerate(zip(hours, per_hour, strict=True)):
            entries = _hour_entries(
                draw, hour, count, shape.blocked_share, answers, profile_of,
                (chatty, device_weights), (allowed, allowed_weights), (blocked, blocked_weights),
            )  # fmt: skip
            batch = builder.build(Entries.of(entries))
            counter = {"instance": INSTANCE, "written": len(entries), "dropped": 0,
                       "updated_ms": int(entries[-1][0] * 1000) if entries else 0}  # fmt: skip
            write_batch(database, replace(batch, counter=counter))
            rows += len(batch.rows)
            queries += len(entries)
            if number % 24 == 23:
                elapsed = time.monotonic() - started
                progress(
                    f"  day {(number + 1) // 24} of {shape.days}: {rows:,} rows, {elapsed:.0f} s"
                )
    finally:
        database.close()  # the last connection: the WAL goes into the file
    for end in reversed(_FILE_ENDS):  # the database itself last: it says "done"
        piece = partial.with_name(partial.name + end)
        if piece.exists():
            piece.rename(path.with_name(path.name + end))
    return GeneratedLog(
        rows=rows,
        queries=queries,
        seconds=time.monotonic() - started,
        first_hour=datetime.fromtimestamp(hours[0] * 3600, UTC),
        end=end_day,
    )


def _spread(total: int, weights: Sequence[int]) -> list[int]:
    """``total`` split in proportion to ``weights``, adding up exactly."""
    whole = sum(weights)
    shares = [total * weight // whole for weight in weights]
    for i in range(total - sum(shares)):
        shares[i % len(shares)] += 1
    return shares


def _hour_entries(
    draw: random.Random,
    hour: int,
    count: int,
    blocked_share: float,
    answers: _Answers,
    profile_of: dict[str, int],
    devices: tuple[list[str], list[float]],
    allowed: tuple[Sequence[str], list[float]],
    blocked: tuple[Sequence[str], list[float]],
) -> list[Entry]:
    """``count`` rows of one hour as buffered entries, oldest first."""
    start = hour * 3600
    times = sorted(start + draw.random() * 3600 for _ in range(count))
    who = draw.choices(devices[0], cum_weights=devices[1], k=count)
    blocked_rows = sum(1 for _ in range(count) if draw.random() < blocked_share)
    names = draw.choices(allowed[0], cum_weights=allowed[1], k=count - blocked_rows)
    names += draw.choices(blocked[0], cum_weights=blocked[1], k=blocked_rows)
    draw.shuffle(names)
    qtypes = draw.choices(
        [qtype for qtype, _ in QTYPES], [share for _, share in QTYPES], k=count
    )
    repeats = draw.choices(
        [n for n, _ in REPEATS], [share for _, share in REPEATS], k=count
    )
    entries: list[Entry] = []
    made, make = answers.made, answers.make
    for at, device, name, qtype, repeated in zip(
        times, who, names, qtypes, repeats, strict=True
    ):
        known = made.get((name, qtype))
        query, reply, decision = known if known is not None else make(name, qtype)
        upstream: str
        response_us = 0
        if decision is not ALLOW:
            upstream = FROM_FILTER
        elif draw.random() < CACHED_SHARE:
            upstream = FROM_CACHE
        else:
            upstream = UPSTREAMS[draw.random() < 0.5]
            response_us = draw.randrange(5_000, 80_000)
        answered: Any = (
            device,
            profile_of[device],
            query,
            decision,
            upstream,
            response_us,
            reply,
        )
        # Repeats within the row's second share the answer, as the resolver's do.
        entries += [(at, answered)] * repeated
    return entries
