"""Overrides: temporary exceptions with an expiry (pause, grant a tag, allow a name).

Part of ``PolicyStore`` (mixed in). Expiry is always judged against the ``now``
passed in; an expired override is simply never returned.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select

from dnsfilter.policy.records import OverrideData
from dnsfilter.store import validation as check
from dnsfilter.store.database import Database
from dnsfilter.store.models import Override, Profile
from dnsfilter.store.queries import bump_version, find, override_data, rowcount
from dnsfilter.store.validation import PolicyInputError


class OverrideMethods:
    database: Database

    def pause_profile(
        self,
        profile_id: int,
        *,
        now: datetime,
        created_by: str,
        minutes: int | None = None,
        until: datetime | None = None,
        note: str = "",
    ) -> OverrideData:
        """Internet off for this profile for ``minutes`` or until ``until``."""
        return self._add_override(profile_id, "pause", None, now, created_by, minutes, until, note)

    def grant_tag(
        self,
        profile_id: int,
        tag: str,
        *,
        now: datetime,
        created_by: str,
        minutes: int | None = None,
        until: datetime | None = None,
        note: str = "",
    ) -> OverrideData:
        """Unblock a category or service (``service:roblox``) for a while, whatever blocks it."""
        return self._add_override(profile_id, "grant", check.tag(tag), now, created_by, minutes, until, note)

    def allow_name(
        self,
        profile_id: int,
        name: str,
        *,
        now: datetime,
        created_by: str,
        minutes: int | None = None,
        until: datetime | None = None,
        note: str = "",
    ) -> OverrideData:
        """Allow one name (and its subdomains) for a while."""
        return self._add_override(profile_id, "allow_name", check.domain(name), now, created_by, minutes, until, note)

    def cancel_override(self, override_id: int) -> None:
        with self.database.writing() as session:
            session.delete(find(session, Override, override_id, "override"))
            bump_version(session, self.database.is_postgresql)

    def list_overrides(self, now: datetime, profile_id: int | None = None) -> tuple[OverrideData, ...]:
        """Overrides still active at ``now``, soonest to end first."""
        with self.database.reading() as session:
            query = select(Override).where(Override.expires_at > now).order_by(Override.expires_at, Override.id)
            if profile_id is not None:
                find(session, Profile, profile_id, "profile")
                query = query.where(Override.profile_id == profile_id)
            return tuple(override_data(item) for item in session.scalars(query))

    def delete_expired_overrides(self, now: datetime) -> int:
        """Housekeeping; does not bump the version, as expired overrides already do nothing."""
        with self.database.writing() as session:
            return rowcount(session.execute(delete(Override).where(Override.expires_at <= now)))

    def _add_override(
        self,
        profile_id: int,
        kind: str,
        target: str | None,
        now: datetime,
        created_by: str,
        minutes: int | None,
        until: datetime | None,
        note: str,
    ) -> OverrideData:
        expires_at = _expiry(now, minutes, until)
        who = check.person_name(created_by, "name of who made the change")
        note = check.note(note)
        with self.database.writing() as session:
            find(session, Profile, profile_id, "profile")
            item = Override(
                profile_id=profile_id,
                kind=kind,
                target=target,
                expires_at=expires_at,
                created_by=who,
                created_at=now,
                note=note,
            )
            session.add(item)
            session.flush()
            bump_version(session, self.database.is_postgresql)
            return override_data(item)


def _expiry(now: datetime, minutes: int | None, until: datetime | None) -> datetime:
    if (minutes is None) == (until is None):
        raise PolicyInputError("Say how long: a number of minutes or an end time (one of them).")
    if minutes is not None:
        return now + timedelta(minutes=check.minutes(minutes))
    assert until is not None
    return check.until(until, now)
