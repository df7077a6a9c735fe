"""``dnsfilter lists update|status`` and ``dnsfilter explain``, for the CLI.

``explain_text`` reads the policy the way the running filter does (the
database, with a new one's default profile set up first) and builds the
snapshot for the moment asked about; the helpers below it turn the
command line's ``--device``, ``--profile``, ``--at`` and ``--type`` into
what ``dnsfilter.policy.explain`` needs.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from zoneinfo import ZoneInfo

from dnslib import QTYPE

from dnsfilter.config import Config
from dnsfilter.policy.blocklists import Blocklists
from dnsfilter.policy.catalog import BLOCKLISTS_DIR
from dnsfilter.policy.clients import ClientId
from dnsfilter.policy.compiler import compile_index
from dnsfilter.policy.defaultprofile import default_profile_tags
from dnsfilter.policy.explain import (
    ExplainError,
    Subject,
    checked_name,
    describe_device,
    explain,
    format_explanation,
    shown,
)
from dnsfilter.policy.liststore import format_status
from dnsfilter.policy.snapshot import PolicySnapshot, build_snapshot
from dnsfilter.policy.updater import ListUpdater, UpdateLimits, UpdateOutcome
from dnsfilter.naming import cleaned, device_matches, find_profile
from dnsfilter.store import DeviceData, PolicyData, PolicyStore, ProfileData, open_database
from dnsfilter.store.budgets import local_day
from dnsfilter.store.records import DEFAULT_PROFILE_SET_UP


def status_text(config: Config, catalog_dir: Path = BLOCKLISTS_DIR) -> str:
    blocklists = Blocklists(config.data_dir, catalog_dir)
    try:
        index = blocklists.open_existing()
    except FileNotFoundError:
        table = format_status(blocklists.catalog.sources, blocklists.store)
        return table + "\n\nThe lists have not been compiled yet: they will be when the filter starts."
    # Lists never downloaded were counted when the index was compiled.
    counts = index.metadata.get("sources")
    compiled = counts if isinstance(counts, dict) else None
    lines = [format_status(blocklists.catalog.sources, blocklists.store, compiled), ""]
    built = index.metadata.get("built_at")
    when = datetime.datetime.fromtimestamp(built).strftime("%Y-%m-%d %H:%M") if isinstance(built, float) else "?"
    state = "up to date" if blocklists.is_current() else "older than the lists on disk; it is rebuilt soon"
    lines.append(f"Compiled index: {len(index):,} names, built {when}, {state}.")
    return "\n".join(lines)


def update(config: Config, catalog_dir: Path = BLOCKLISTS_DIR) -> int:
    """Download every list now and recompile; the running filter picks the result up by itself."""
    config.data_dir.mkdir(parents=True, exist_ok=True)
    blocklists = Blocklists(config.data_dir, catalog_dir)
    limits = UpdateLimits(timeout=config.lists.download_timeout, max_shrink=config.lists.max_shrink)
    updater = ListUpdater(blocklists.blocking_sources, blocklists.store, limits=limits)
    results = asyncio.run(updater.update_now())
    failed = 0
    for result in results:
        if result.outcome is UpdateOutcome.FAILED:
            failed += 1
            print(f"  {result.source_id}: not updated. {result.message}")
        else:
            print(f"  {result.source_id}: {result.outcome} ({result.entries:,} entries)")
    report = compile_index(blocklists.catalog_dir, blocklists.source_paths(), blocklists.index_path)
    print(f"Compiled {report.entries:,} names in {report.seconds:.1f} s; the running filter uses them within a minute.")
    if failed:
        print(f"{failed} list(s) could not be downloaded; their previous copies stay in use.")
    return 1 if failed == len(results) and results else 0


def explain_text(
    config: Config,
    name: str,
    config_source: str,
    catalog_dir: Path = BLOCKLISTS_DIR,
    *,
    device: str | None = None,
    profile: str | None = None,
    at: str | None = None,
    qtype: str = "A",
    now: datetime.datetime | None = None,
) -> str:
    """``dnsfilter explain``: what the running filter answers ``name`` for
    ``device`` (or ``profile``'s devices, or a device not seen yet) at ``at``,
    and why. Without ``at``, the moment is ``now`` (default: the clock)."""
    checked_name(name)  # before anything is opened or compiled
    number = query_type(qtype)
    zone = config.zone
    now = now or datetime.datetime.now(datetime.UTC)
    moment = now if at is None else parse_moment(at, zone, now)
    blocklists = Blocklists(config.data_dir, catalog_dir)
    config.data_dir.mkdir(parents=True, exist_ok=True)
    blocklists.open_blocking()
    blocked = default_profile_tags(config.blocking, blocklists.catalog, config_source)
    database = open_database(config.database_url, data_dir=config.data_dir)
    try:
        store = PolicyStore(database)
        # What the service does when it starts: on a new box, explain must
        # show the default profile the filter is about to use. Asked first so
        # that explaining writes nothing to a database already set up.
        if store.get_setting(DEFAULT_PROFILE_SET_UP) is None:
            store.set_up_default_profile(blocked, config.blocking.mode)
        data = _as_of(store.load_all(moment, local_day(moment, zone)), moment)
    finally:
        database.close()
    snapshot = build_snapshot(data, blocklists.index, zone, moment, config.blocking.deny)
    subject = choose_subject(data, snapshot, device=device, profile=profile)
    return format_explanation(explain(name, number, subject, snapshot, blocklists, zone))


def _as_of(data: PolicyData, moment: datetime.datetime) -> PolicyData:
    """``data`` without the overrides made after ``moment``: they were not in force then."""
    profiles = tuple(
        dataclasses.replace(
            profile, overrides=tuple(item for item in profile.overrides if _utc(item.created_at) <= moment)
        )
        for profile in data.profiles
    )
    return dataclasses.replace(data, profiles=profiles)


def _utc(moment: datetime.datetime) -> datetime.datetime:
    # Some SQLite drivers hand back naive times; the store writes UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=datetime.UTC)


# --- reading the command line ----------------------------------------------------

_CLOCK = re.compile(r"(\d{1,2}):(\d{2})")
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}(:?\d{2})?)?")


def parse_moment(text: str, zone: ZoneInfo, now: datetime.datetime) -> datetime.datetime:
    """``--at``: "21:30" (today in ``zone``), "2026-03-02 21:30" (in ``zone``), ISO 8601
    with an offset ("2026-03-02T21:30+01:00"), or "now"; an aware UTC datetime."""
    cleaned = text.strip()
    if cleaned.lower() == "now":
        return now
    clock = _CLOCK.fullmatch(cleaned)
    try:
        if clock is not None:
            today = now.astimezone(zone).date()
            wall = datetime.datetime.combine(today, datetime.time(int(clock[1]), int(clock[2])))
        elif _DATE_TIME.fullmatch(cleaned):
            wall = datetime.datetime.fromisoformat(cleaned)
        else:
            raise ValueError(cleaned)
    except ValueError:
        raise ExplainError(
            f'--at "{shown(text)}" is not a time. Write it as 21:30 (today), 2026-03-02 21:30 '
            f"(both in the family's time zone, {zone.key}) or 2026-03-02T21:30+01:00 (with an offset from UTC)."
        ) from None
    if wall.tzinfo is None:
        wall = wall.replace(tzinfo=zone)
    return wall.astimezone(datetime.UTC)


def query_type(text: str) -> int:
    """``--type``: a record type by name (A, AAAA, HTTPS...) or as TYPE65."""
    cleaned = text.strip().upper()
    number = QTYPE.reverse.get(cleaned)
    if isinstance(number, int):
        return number
    digits = cleaned.removeprefix("TYPE")
    if digits.isdigit() and 0 < int(digits) < 65536:
        return int(digits)
    raise ExplainError(f'--type "{shown(text)}" is not a DNS record type; give one such as A, AAAA or HTTPS.')


def choose_subject(
    data: PolicyData, snapshot: PolicySnapshot, *, device: str | None = None, profile: str | None = None
) -> Subject:
    """Whom to explain for: the ``--device``, the ``--profile``, or else a device not seen yet."""
    profiles = {item.id: item for item in data.profiles}
    if device is not None:
        chosen = find_device(data.devices, device, profiles)
        # Only the key picks the profile, as on the query path.
        client = ClientId(chosen.key, chosen.ip or "", chosen.mac, chosen.name, "recorded")
        policy = snapshot.profile_for(client)
        return Subject("device", profiles[policy.id], policy, device=chosen)
    if profile is not None:
        wanted = find_profile(data.profiles, profile, ExplainError)
        members = tuple(item for item in data.devices if item.profile_id == wanted.id)
        return Subject("profile", wanted, snapshot.profiles[wanted.id], members=members)
    policy = snapshot.new_device_profile
    return Subject("new device", profiles[policy.id], policy)


def find_device(devices: Sequence[DeviceData], text: str, profiles: Mapping[int, ProfileData]) -> DeviceData:
    """The one known device ``text`` names: its key, MAC or IP address, the
    parent's label, or the name it gave itself (case-insensitive), tried in
    that order."""
    wanted = cleaned(text)
    for match in device_matches(devices, wanted):
        # An address no device has is no answer here: explain needs a device's policy.
        if len(match.devices) == 1:
            return match.devices[0]
        if match.devices:
            raise ExplainError(
                f'"{shown(wanted)}" matches {len(match.devices)} devices; give the key of the one you mean '
                f"(mac:... or ip:...).\n{_device_table(match.devices, profiles)}"
            )
    if not devices:
        raise ExplainError(
            f'No device matches "{shown(wanted)}": the filter has not recorded any device yet (it records '
            "each device when it first asks something). Leave --device out to see what a new device gets."
        )
    raise ExplainError(
        f'No device matches "{shown(wanted)}". The devices the filter knows:\n{_device_table(devices, profiles)}\n'
        "Give one of these names, keys or addresses with --device, "
        "or leave --device out to see what a device not seen yet gets."
    )


def _device_table(devices: Sequence[DeviceData], profiles: Mapping[int, ProfileData]) -> str:
    rows = [
        (describe_device(device), shown(device.key), shown(profiles[device.profile_id].name))
        for device in devices
    ]
    width = max(len(row[0]) for row in rows)
    keys = max(len(row[1]) for row in rows)
    return "\n".join(f'  {name:<{width}}  {key:<{keys}}  profile "{profile}"' for name, key, profile in rows)
