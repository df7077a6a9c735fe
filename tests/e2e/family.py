"""A realistic family on the running filter, for the phone, accessibility and
screenshot tests: three people, their devices (and one new one), a bedtime,
a games window, a budget, and queries from each device in the log."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from dnsfilter.store import PolicyStore
from tests.e2e.conftest import api
from tests.webpage import BLOCKED, Page, until, utcnow

MIA_IPAD = "02:16:3e:00:00:11"
TOM_PHONE = "02:16:3e:00:00:12"
DAD_LAPTOP = "02:16:3e:00:00:13"
NEW_TV = "02:16:3e:00:00:14"


@dataclass(frozen=True)
class Family:
    mia: int
    tom: int
    parents: int


def _seed(store: PolicyStore) -> Family:
    now = utcnow()
    mia = store.create_profile("Mia, 9", now=now, safe_search="strict").id
    tom = store.create_profile("Tom, 14", now=now, safe_search="on").id
    parents = store.create_profile("Parents", now=now).id
    store.add_blocked_tags(mia, ["adult", "malware", "games", "social"])
    store.add_blocked_tags(tom, ["adult", "malware", "service:chatapp"])
    store.allow_domain(mia, "kids.example")
    store.deny_domain(tom, "play.example")
    store.add_rule(mia, days="mon-fri", start="20:00", end="07:00", action="allow_only", allow=["kids.example"])
    store.add_rule(mia, days="sat-sun", start="21:00", end="08:00", action="allow_only", allow=["kids.example"])
    store.add_rule(tom, days="mon-fri", start="16:00", end="18:00", action="block_tags", tags=["games", "social"])
    store.set_budget(tom, "games", 60, "daily")
    for mac, name, label, profile in (
        (MIA_IPAD, "Mias-iPad", "Mia's iPad", mia),
        (TOM_PHONE, "android-7f3e2a", "Tom's phone", tom),
        (DAD_LAPTOP, "dads-thinkpad", "Dad's laptop", parents),
    ):
        seen = store.record_seen(f"mac:{mac}", ip=f"192.168.1.{int(mac[-2:], 16) + 20}", mac=mac, name=name, now=now)
        store.label_device(seen.device_id, label)
        store.assign_device(seen.device_id, profile)
    store.record_seen(f"mac:{NEW_TV}", ip="192.168.1.40", mac=NEW_TV, name="LivingRoom-TV", now=now)
    return Family(mia, tom, parents)


QUERIES = {
    MIA_IPAD: ["kids.example", "kids.example", "example.net", "games.example", "chatapp.example", "adult.example"],
    TOM_PHONE: ["games.example", "games.example", "play.example", "chatapp.example", "example.net", "example.net"],
    DAD_LAPTOP: ["example.net", "example.net", "example.net", "chatapp.example", "adult.example"],
    NEW_TV: ["example.net"],
}


async def seed_family(site: Page, tab: object) -> Family:
    """Store the family and send its queries; returns once they are all in the log."""
    family = await asyncio.to_thread(_seed, site.store)
    # The filter reads the new policy within a couple of seconds: wait for it, so the
    # queries below are counted for their people, not for the default profile.
    mia_ipad = bytes.fromhex(MIA_IPAD.replace(":", ""))
    await until(lambda: site.ask("games.example", mac=mia_ipad), lambda answer: answer == BLOCKED,
                "the filter to apply the family's policy")  # fmt: skip
    sent = 1
    for mac, names in QUERIES.items():
        for name in names:
            await site.ask(name, mac=bytes.fromhex(mac.replace(":", "")))
            sent += 1
    await until(
        lambda: api(tab, "/api/log?limit=100"),  # type: ignore[arg-type]
        lambda body: sum(row["repeats"] for row in body["rows"]) >= sent, "the family's queries in the log",
    )
    return family
