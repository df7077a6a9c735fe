"""Daily budgets in the store, and the screen-time minutes they are counted
against (SQLite file and PostgreSQL schema)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from dnsfilter.policy.budgets import local_day
from dnsfilter.policy.records import BudgetData, BudgetUse
from dnsfilter.service.logwriter import write_batch
from dnsfilter.store import Database, NotFoundError, PolicyInputError, PolicyStore
from dnsfilter.store.querylog.writer import Batch
from tests.store.conftest import NOW

BERLIN = ZoneInfo("Europe/Berlin")
WEDNESDAY = 20260311
THURSDAY = 20260312
SATURDAY = 20260314


def note_minutes(database: Database, profile_id: int, tag: str, day: int, minutes: Iterable[int]) -> None:
    """What the query-log writer stores for answers in these minutes (one batch)."""
    rows = [(profile_id, tag, day, minute) for minute in minutes]
    write_batch(database, Batch([], [], rows))


@pytest.fixture
def mia(store: PolicyStore) -> int:
    return store.create_profile("Mia", now=NOW).id


# --- setting, replacing, removing ------------------------------------------------------


def test_set_list_and_load_budgets(store: PolicyStore, mia: int) -> None:
    ben = store.create_profile("Ben", now=NOW).id
    games = store.set_budget(mia, "games", 60, "mon-fri")
    roblox = store.set_budget(mia, "service:roblox", 30)
    social = store.set_budget(ben, "social", 45, " Sat,Sun ")
    assert games == BudgetData(games.id, mia, "games", 60, "mon-fri")
    assert (roblox.days, social.days) == ("daily", "sat,sun")
    assert store.list_budgets() == (games, roblox, social)
    assert store.list_budgets(mia) == (games, roblox)
    assert store.get_profile(mia).budgets == (games, roblox)
    assert store.load_all(NOW).profiles[2].budgets == (social,)
    assert store.load_all(NOW).profiles[0].budgets == ()


def test_a_budget_for_the_same_tag_replaces_the_old_one(store: PolicyStore, mia: int) -> None:
    first = store.set_budget(mia, "games", 60, "mon-fri")
    other = store.set_budget(mia, "social", 20)
    second = store.set_budget(mia, "games", 90, "weekends")
    assert second == BudgetData(first.id, mia, "games", 90, "weekends")  # the same budget, changed
    assert store.list_budgets(mia) == (second, other)


def test_remove_budget(store: PolicyStore, mia: int) -> None:
    games = store.set_budget(mia, "games", 60)
    social = store.set_budget(mia, "social", 20)
    store.remove_budget(games.id)
    assert store.list_budgets() == (social,)
    with pytest.raises(NotFoundError, match=f"no budget number {games.id}"):
        store.remove_budget(games.id)


def test_a_deleted_profile_takes_its_budgets_along(store: PolicyStore, mia: int) -> None:
    store.set_budget(mia, "games", 60)
    store.delete_profile(mia)
    assert store.list_budgets() == ()


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda s, pid: s.set_budget(pid, "games", 60), 1),
        (lambda s, pid: s.set_budget(pid, "games", 60) and s.set_budget(pid, "games", 30), 2),
        (lambda s, pid: s.remove_budget(s.set_budget(pid, "games", 60).id), 2),
    ],
    ids=["set", "replace", "remove"],
)
def test_every_budget_change_bumps_the_version(
    store: PolicyStore, mia: int, change: Callable[[PolicyStore, int], object], expected: int
) -> None:
    before = store.policy_version()
    change(store, mia)
    assert store.policy_version() == before + expected


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("games", 0, "daily"), "0 is not a number of minutes a day; give a whole number from 1 to 1440"),
        (("games", 1441, "daily"), "1441 is not a number of minutes"),
        (("games", True, "daily"), "True is not a number of minutes"),
        (("games", "60", "daily"), "60 is not a number of minutes"),
        (("", 60, "daily"), "is not a category or service name"),
        (("video games", 60, "daily"), "is not a category or service name"),
        (("rule:3", 60, "daily"), "a budget limits one such as games"),
        (("games", 60, "mon-fry"), "'fry' in 'mon-fry' is not a day"),
        (("games", 60, ""), "No days given"),
        (("games", 60, "mon-mon"), "starts and ends on the same day"),
    ],
    ids=[
        "zero", "more-than-a-day", "bool", "text-minutes", "empty-tag", "spaced-tag", "rule", "bad-day", "no-days",
        "same-day",
    ],
)  # fmt: skip
def test_bad_budgets_are_refused(store: PolicyStore, mia: int, arguments: tuple[Any, ...], message: str) -> None:
    before = store.policy_version()
    with pytest.raises(PolicyInputError, match=message):
        store.set_budget(mia, *arguments)
    assert store.list_budgets() == ()
    assert store.policy_version() == before


def test_whole_day_and_one_minute_are_fine(store: PolicyStore, mia: int) -> None:
    assert store.set_budget(mia, "games", 1).minutes == 1
    assert store.set_budget(mia, "social", 1440).minutes == 1440


def test_unknown_profile(store: PolicyStore) -> None:
    with pytest.raises(NotFoundError, match="no profile number 99"):
        store.set_budget(99, "games", 60)
    with pytest.raises(NotFoundError):
        store.list_budgets(99)
    with pytest.raises(NotFoundError):
        store.minutes_used(99, WEDNESDAY)


# --- minutes used and left ---------------------------------------------------------------


def test_minutes_used_are_distinct_minutes_per_profile_tag_and_day(
    store: PolicyStore, database: Database, mia: int
) -> None:
    ben = store.create_profile("Ben", now=NOW).id
    note_minutes(database, mia, "games", WEDNESDAY, [600, 601, 602])
    note_minutes(database, mia, "games", WEDNESDAY, [601, 602, 603])  # a later flush, the same minutes again
    note_minutes(database, mia, "social", WEDNESDAY, [600])
    note_minutes(database, mia, "games", THURSDAY, [0, 1])
    note_minutes(database, ben, "games", WEDNESDAY, range(50))
    assert store.minutes_used(mia, WEDNESDAY) == {"games": 4, "social": 1}
    assert store.minutes_used(mia, THURSDAY) == {"games": 2}
    assert store.minutes_used(mia, SATURDAY) == {}
    assert store.minutes_used(ben, WEDNESDAY) == {"games": 50}


def test_two_writers_count_a_minute_once(open_db: Callable[..., Database], store: PolicyStore, mia: int) -> None:
    """Two filters sharing the database see the child in the same minutes."""
    writers = [open_db(), open_db()]
    errors: list[BaseException] = []

    def write(database: Database) -> None:
        try:
            for minute in range(600, 630):
                note_minutes(database, mia, "games", WEDNESDAY, [minute, minute + 1])
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=write, args=(writer,)) for writer in writers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert store.minutes_used(mia, WEDNESDAY) == {"games": 31}


def test_budget_use_on_a_day(store: PolicyStore, database: Database, mia: int) -> None:
    games = store.set_budget(mia, "games", 60, "mon-fri")
    social = store.set_budget(mia, "social", 20, "daily")
    weekend = store.set_budget(mia, "video", 90, "weekends")
    note_minutes(database, mia, "games", WEDNESDAY, range(600, 645))
    note_minutes(database, mia, "social", WEDNESDAY, range(700, 730))
    note_minutes(database, mia, "video", WEDNESDAY, range(10))
    uses = store.budget_use(mia, WEDNESDAY)
    assert uses == (
        BudgetUse(games, WEDNESDAY, True, 45),
        BudgetUse(social, WEDNESDAY, True, 30),
        BudgetUse(weekend, WEDNESDAY, False, 10),
    )
    assert [(use.remaining, use.spent) for use in uses] == [(15, False), (0, True), (None, False)]
    saturday = store.budget_use(mia, SATURDAY)
    assert [(use.applies, use.used, use.remaining) for use in saturday] == [
        (False, 0, None), (True, 0, 20), (True, 0, 90)
    ]  # fmt: skip


def test_exactly_the_budget_is_spent() -> None:
    budget = BudgetData(1, 2, "games", 60, "daily")
    assert [BudgetUse(budget, WEDNESDAY, True, used).spent for used in (59, 60, 61)] == [False, True, True]
    assert BudgetUse(budget, WEDNESDAY, True, None).spent is False  # not read: nothing known, nothing blocked


def test_load_all_reads_the_minutes_of_budgeted_tags_for_the_day_asked(
    store: PolicyStore, database: Database, mia: int
) -> None:
    ben = store.create_profile("Ben", now=NOW).id
    store.set_budget(mia, "games", 60)
    store.set_budget(ben, "social", 30)
    note_minutes(database, mia, "games", WEDNESDAY, range(12))
    note_minutes(database, mia, "social", WEDNESDAY, range(5))  # no budget for Mia: not read
    note_minutes(database, ben, "social", WEDNESDAY, range(7))
    note_minutes(database, ben, "social", THURSDAY, range(3))
    policy = store.load_all(NOW, usage_day=WEDNESDAY)
    assert (policy.usage_day, dict(policy.used_minutes)) == (WEDNESDAY, {(mia, "games"): 12, (ben, "social"): 7})
    assert dict(store.load_all(NOW, usage_day=THURSDAY).used_minutes) == {(ben, "social"): 3}
    unread = store.load_all(NOW)
    assert (unread.usage_day, dict(unread.used_minutes)) == (None, {})


@pytest.mark.parametrize("day", [2026_13_01, 20260230, 0], ids=["month-13", "february-30", "zero"])
def test_a_day_that_is_not_a_date_is_refused(store: PolicyStore, mia: int, day: int) -> None:
    with pytest.raises(PolicyInputError, match="is not a day; write it as YYYYMMDD"):
        store.minutes_used(mia, day)


@pytest.mark.parametrize(
    ("utc", "day"),
    [
        (datetime(2026, 3, 11, 22, 59, tzinfo=UTC), 20260311),  # 23:59 in Berlin
        (datetime(2026, 3, 11, 23, 0, tzinfo=UTC), 20260312),  # midnight in Berlin
        (datetime(2026, 3, 29, 21, 59, tzinfo=UTC), 20260329),  # summer time: UTC+2
        (datetime(2026, 3, 29, 22, 0, tzinfo=UTC), 20260330),
    ],
    ids=["before-midnight", "midnight", "summer-before", "summer-midnight"],
)
def test_local_day_is_the_family_calendar_day(utc: datetime, day: int) -> None:
    assert local_day(utc, BERLIN) == day


# --- import ------------------------------------------------------------------------------


def test_replacing_the_policy_replaces_the_budgets_in_the_same_step(store: PolicyStore, mia: int) -> None:
    store.set_budget(mia, "video", 10)
    profile = store.get_profile(mia)
    budgets = (BudgetData(0, 0, "games", 60, "Mon-Fri"), BudgetData(0, 0, "social", 5, "daily"))
    wanted = replace(profile, is_default=True, budgets=budgets)
    before = store.policy_version()
    store.replace_policy([wanted], [], {}, new_devices_profile=None, now=NOW)
    [mia_again] = store.list_profiles()
    assert [(b.profile_id, b.tag, b.minutes, b.days) for b in store.list_budgets()] == [
        (mia_again.id, "games", 60, "mon-fri"), (mia_again.id, "social", 5, "daily")
    ]  # fmt: skip
    assert store.policy_version() == before + 1


@pytest.mark.parametrize(
    "budgets",
    [
        (BudgetData(0, 0, "games", 0, "daily"),),
        (BudgetData(0, 0, "games", 60, "daily"), BudgetData(0, 0, "games", 30, "sat")),
        (BudgetData(0, 0, "games", 60, "someday"),),
    ],
    ids=["bad-minutes", "same-tag-twice", "bad-days"],
)
def test_a_bad_budget_leaves_the_whole_policy_as_it_was(
    store: PolicyStore, mia: int, budgets: tuple[BudgetData, ...]
) -> None:
    kept = store.set_budget(mia, "video", 10)
    before = store.policy_version()
    profiles = store.list_profiles()
    with pytest.raises(PolicyInputError):
        store.replace_policy(
            [replace(store.get_profile(mia), is_default=True, budgets=budgets)], [], {}, new_devices_profile=None,
            now=NOW,
        )
    assert store.list_budgets() == (kept,)
    assert store.list_profiles() == profiles
    assert store.policy_version() == before
