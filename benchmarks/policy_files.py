"""Inputs of the policy benchmark: the names it asks and spares, both configs, the workloads.

Names come from the lists at run time (see blocked_files.py); the other
tags' names are made up under ``bench.example``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from blocked_files import CATEGORY_ID, NameSamples, write_queries
from dns_probe import TYPE_A, edns_option
from policy_family import ROUTER, MeasuredDevices

from dnsfilter.policy.bypass import bypass_answer
from dnsfilter.policy.domains import self_and_parents
from dnsfilter.policy.safesearch import SafeSearchLevel, safe_search_target

OTHER_TAGS = ("social", "games", "video", "gambling")
TAG_LIST_NAMES = 200  # made-up names per other tag
DATABASE_FILE = "policy.db"
EDNS_MAC_OPTION = 65001  # dnsmasq's add-mac: the device's MAC, 6 raw bytes


def answered_plainly(name: str) -> bool:
    """No safe-search rewrite at any level and no bypass answer: every profile
    that does not block the name forwards it as it is."""
    rewritten = any(safe_search_target(name, level) for level in SafeSearchLevel)
    return not rewritten and bypass_answer(name, TYPE_A) is None


def tag_names(tag: str) -> list[str]:
    return [f"site{i}.{tag}.bench.example" for i in range(TAG_LIST_NAMES)]


def spare_names(samples: NameSamples, asked: Iterable[str]) -> Iterator[str]:
    """Allowed names for allow and deny lists: none of them is asked, nor a
    parent of a name asked, so no list changes an answer the benchmark sees;
    and none is a parent of another, so an allowed name never covers a denied
    one (the deny list is checked)."""
    covering = {
        parent
        for name in itertools.chain(
            samples.queries, samples.check_listed, samples.check_subdomains, asked
        )
        for parent in self_and_parents(name)
    }
    given: set[str] = set()
    for name in samples.unlisted:
        parents = list(self_and_parents(name))
        if name in covering or given.intersection(parents):
            continue
        if answered_plainly(name):
            given.add(name)
            covering.update(parents)  # no later name under this one, nor above it
            yield name


def database_url(data_dir: Path) -> str:
    return f"sqlite:///{data_dir / DATABASE_FILE}"


def write_config(path: Path, data_dir: Path, *, router: bool) -> Path:
    """Ours' config: the database in ``data_dir``, the benchmark category
    blocked by the default profile, no list downloads; ``router`` trusts
    127.0.0.1's EDNS MAC option. ``blocking.max_answer_ttl`` keeps its default."""
    lines = [
        f'data_dir: "{data_dir}"',
        "database:",
        f'  url: "{database_url(data_dir)}"',
        "time_zone: UTC  # policy_family.py writes its rules in UTC",
        "lists:",
        "  auto_update: false",
        "blocking:",
        f"  categories: [{CATEGORY_ID}]",
    ]
    if router:
        lines += ["devices:", f"  trusted_forwarders: [{ROUTER}]"]
    path.write_text("\n".join(lines) + "\n")
    return path


@dataclass(frozen=True, slots=True)
class Workload:
    slug: str  # in file names
    title: str
    queries_file: Path
    dnsperf_options: tuple[str, ...]  # who dnsperf speaks as


def mac_option(mac: str) -> bytes:
    """The EDNS option a router adds for the device with ``mac``."""
    return edns_option(EDNS_MAC_OPTION, bytes.fromhex(mac.replace(":", "")))


def write_workloads(
    scratch: Path,
    samples: NameSamples,
    small_count: int,
    cached_file: Path,
    cached_count: int,
    measured: MeasuredDevices,
) -> list[Workload]:
    """Blocked (small and large) and cached loads from the measured device,
    then the large blocked and the cached loads through the router.

    Names bypass protection answers NXDOMAIN (www.mask.icloud.com is listed)
    are left out: every answer counted is a block.
    """
    queries = [name for name in samples.queries if answered_plainly(name)]
    small = write_queries(scratch / "blocked-small.txt", queries[:small_count])
    large = write_queries(scratch / "blocked.txt", queries)
    device = ("-a", measured.ip)
    router = ("-E", f"{EDNS_MAC_OPTION}:{measured.mac.replace(':', '')}")
    by_ip = f"device {measured.ip} by address"
    by_mac = f"device {measured.mac} by MAC through the router"
    blocked = f"blocked, {len(queries):,} names"
    cached = f"cached, {cached_count:,} names"
    return [
        Workload(
            "blocked-small",
            f"blocked, {len(queries[:small_count]):,} names, {by_ip}",
            small,
            device,
        ),
        Workload("blocked", f"{blocked}, {by_ip}", large, device),
        Workload("cached", f"{cached}, {by_ip}", cached_file, device),
        Workload("router-blocked", f"{blocked}, {by_mac}", large, router),
        Workload("router-cached", f"{cached}, {by_mac}", cached_file, router),
    ]
