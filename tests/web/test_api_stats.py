"""Charts: a day that has ended is read once and kept; today is always read afresh."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, insert

from dnsfilter.store.querylog.models import HourlyCount
from tests.web.conftest import Client
from tests.webpage import Page


def _count(page: Page, when: datetime, queries: int, blocked: int) -> None:
    """Hourly totals for ``when`` as the log writer adds them up (tag "": every query)."""
    hour = int(when.timestamp()) // 3600
    with page.store.database.writing() as session:
        session.execute(
            insert(HourlyCount),
            [
                {"hour": hour, "device": "ip:192.168.1.9", "profile_id": 1, "tag": "", "action": "allow", "count": queries - blocked},
                {"hour": hour, "device": "ip:192.168.1.9", "profile_id": 1, "tag": "", "action": "block", "count": blocked},
            ],
        )


async def test_past_days_are_kept_and_today_is_read_again(page: Page, parent: Client) -> None:
    now = datetime.now(UTC)
    zone = page.service.config.zone
    midnight = datetime.combine(now.astimezone(zone).date(), datetime.min.time(), zone)
    _count(page, midnight - timedelta(hours=5), queries=40, blocked=4)  # yesterday evening
    first = await parent.ok("GET", "/api/stats/days?days=2")
    yesterday, today = first["days"]
    assert (yesterday["queries"], yesterday["blocked"]) == (40, 4)
    # The day has ended: what the database holds now no longer changes it.
    with page.store.database.writing() as session:
        session.execute(delete(HourlyCount))
    # Today is read afresh on every request.
    _count(page, now, queries=7, blocked=2)
    again = await parent.ok("GET", "/api/stats/days?days=2")
    assert again["days"][0] == yesterday
    assert (again["days"][1]["queries"], again["days"][1]["blocked"]) == (today["queries"] + 7, today["blocked"] + 2)
    # Another person's (or another length's) days are their own.
    other = await parent.ok("GET", "/api/stats/days?days=2&profile=1")
    assert other["days"][0]["queries"] == 0


async def test_a_bad_number_of_days_names_the_field(parent: Client) -> None:
    answer = await parent.get("/api/stats/days?days=0")
    assert answer.status == 400 and answer.error["field"] == "days"
