"""``dnsfilter explain NAME``: what the running filter answers a device, and why.

``explain_text`` reads the policy the way the running filter does (the
database, with a new one's default profile set up first) and builds the
snapshot for the moment asked about; ``--device``, ``--profile``, ``--at``
and ``--type`` are read with the lookups and the time parser all commands share.
"""

from __future__ import annotations

import datetime
from pathlib import Path

from dnsfilter.cli.explanation import format_explanation
from dnsfilter.cli.lookup import find_device, find_profile
from dnsfilter.cli.times import parse_time
from dnsfilter.config import Config
from dnsfilter.dns.rrtypes import type_number
from dnsfilter.errors import UsageError, shown
from dnsfilter.lists.blocklists import Blocklists
from dnsfilter.lists.catalog import BLOCKLISTS_DIR
from dnsfilter.policy.records import DEFAULT_PROFILE_SET_UP, PolicyData
from dnsfilter.policy.snapshot import PolicySnapshot
from dnsfilter.service.defaultprofile import default_profile_tags, set_up_default_profile
from dnsfilter.service.explain import (
    Subject,
    checked_name,
    device_subject,
    explain,
    new_device_subject,
    policy_at,
    profile_subject,
)
from dnsfilter.store import PolicyStore, open_database


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
    moment = now if at is None else parse_time(at, "--at", zone, now)
    # The database first: a command pointed at the wrong place compiles nothing there.
    database = open_database(config.database_url, data_dir=config.data_dir, create=False)
    try:
        blocklists = Blocklists(config.data_dir, catalog_dir)
        blocklists.open_blocking()
        blocked = default_profile_tags(config.blocking, blocklists.catalog, config_source)
        store = PolicyStore(database)
        # What the service does when it starts: on a new box, explain must
        # show the default profile the filter is about to use. Asked first so
        # that explaining writes nothing to a database already set up.
        if store.get_setting(DEFAULT_PROFILE_SET_UP) is None:
            set_up_default_profile(store, blocked, config.blocking)
        data, snapshot = policy_at(store, blocklists.index, zone, moment, config.blocking.deny)
    finally:
        database.close()
    subject = choose_subject(data, snapshot, device=device, profile=profile)
    return format_explanation(explain(name, number, subject, snapshot, blocklists, zone))


def query_type(text: str) -> int:
    """``--type``: a record type by name (A, AAAA, HTTPS...) or as TYPE65."""
    number = type_number(text)
    if number is None:
        raise UsageError(f'--type "{shown(text)}" is not a DNS record type; give one such as A, AAAA or HTTPS.')
    return number


def choose_subject(
    data: PolicyData, snapshot: PolicySnapshot, *, device: str | None = None, profile: str | None = None
) -> Subject:
    """Whom to explain for: the ``--device``, the ``--profile``, or else a device not seen yet."""
    if device is not None:
        return device_subject(data, snapshot, find_device(data.devices, device, {item.id: item for item in data.profiles}))
    if profile is not None:
        return profile_subject(data, snapshot, find_profile(data.profiles, profile))
    return new_device_subject(data, snapshot)
