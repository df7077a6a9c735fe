"""From answers the resolver buffered to a batch of log rows, off the query path.

The buffer holds what the resolver already had (the parsed query, the
decision, the reply bytes); here they become values the store writes: the
answer's summary read from the reply, the name's tags from the list index,
the family's day and minute for screen time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from dnsfilter.dns.logbuffer import Answered, Entries
from dnsfilter.dns.replies import answer_summary, summary_key
from dnsfilter.policy.decision import Action
from dnsfilter.store.models import exact_text
from dnsfilter.store.querylog.writer import Batch

# Answers that mean the device reached the site: they count as screen time.
_USED = frozenset((Action.ALLOW, Action.REWRITE))
# Entries (or answers) per step: about half a millisecond of work for new
# names on a small machine, so a cached answer waits no longer than that.
STEP_SIZE = 32


class _Answer:
    """What every entry of one answer shares (repeats within the second share it)."""

    __slots__ = ("first_ms", "rest", "tags", "used_tags", "profile_id", "entries", "hours", "minutes")

    def __init__(self, first_ms: int, rest: tuple[Any, ...], tags: tuple[str, ...], used_tags: tuple[str, ...],
                 profile_id: int) -> None:
        self.first_ms = first_ms
        # The row after at_ms, without repeats: (instance, device, profile, name, ...,
        # see _answer); its counts add up under its device, profile, action and name.
        self.rest = rest
        self.tags = tags  # every tag the name is listed under
        self.used_tags = used_tags  # tags it counts screen time for
        self.profile_id = profile_id
        self.entries = 0
        self.hours: dict[int, int] | None = None  # entries per hour, when the batch spans two hours
        # Minutes it was used in; only answers that count screen time get a set.
        self.minutes: set[int] | None = set() if used_tags else None


class BatchBuilder:
    """Turns buffered entries into rows; names' tags come from ``tags_of``
    (the current list index), local days and minutes from ``zone``.

    Written for speed: at the filter's full rate the writer turns about a
    hundred thousand entries a second into rows, so what entries share (the
    answer, the device, the decision, the name) is worked out once.
    """

    def __init__(self, instance: str, zone: ZoneInfo, tags_of: Callable[[str], tuple[str, ...]]) -> None:
        self.instance = instance
        self.zone = zone
        self.tags_of = tags_of
        self._minutes: dict[int, tuple[int, int]] = {}  # POSIX minute -> (YYYYMMDD, minutes since midnight)

    def build(self, entries: Entries) -> Batch:
        """The batch of ``entries``, all at once."""
        for step in self.steps(entries):
            if step is not None:
                return step
        raise AssertionError("steps() ends with the batch")

    def steps(self, entries: Entries, size: int = STEP_SIZE) -> Iterator[Batch | None]:
        """The same work as ``build`` in steps of about ``size`` entries or answers:
        None after each, the batch last.

        The writer runs the steps on the event loop, letting DNS answer
        between two: work in another thread would hold the GIL in turns of
        5 ms against the loop, and each time the loop waits for it again
        (see ``LogWriter``).
        """
        times = entries.times
        memo = _BatchMemo()
        answers: dict[int, _Answer] = {}
        one_hour = bool(times) and int(times[0] // 3600) == int(times[-1] // 3600)
        for start in range(0, len(times), size):
            for at, answered in zip(times[start : start + size], entries.answers[start : start + size]):
                # One answer object is shared by the repeats served within its second.
                answer = answers.get(id(answered))
                if answer is None:
                    answer = answers[id(answered)] = self._answer(answered, int(at * 1000), memo)
                answer.entries += 1
                if answer.minutes is not None:
                    answer.minutes.add(int(at // 60))
                if not one_hour:
                    hours = answer.hours if answer.hours is not None else {}
                    answer.hours = hours
                    hour = int(at // 3600)
                    hours[hour] = hours.get(hour, 0) + 1
            yield None
        rows: list[tuple[Any, ...]] = []
        hourly: dict[tuple[int, str, int, str, str], int] = {}
        by_name: dict[tuple[int, int, str, str], int] = {}  # names as stored
        minutes: set[tuple[int, str, int, int]] = set()
        first_hour = int(times[0] // 3600) if times else 0
        for done, answer in enumerate(answers.values(), 1):
            rest = answer.rest
            rows.append((answer.first_ms, *rest, answer.entries))
            answer.rest = ()  # the row holds it now: the batch's peak memory is the lower
            device, profile_id, stored, action = rest[1], rest[2], rest[3], rest[5]
            per_hour = answer.hours or {first_hour: answer.entries}
            for hour, count in per_hour.items():
                named = (hour, profile_id, action, stored)
                by_name[named] = by_name.get(named, 0) + count
                for tag in ("", *answer.tags):
                    key = (hour, device, profile_id, tag, action)
                    hourly[key] = hourly.get(key, 0) + count
            for posix_minute in answer.minutes or ():
                day, minute = self._local_minute(posix_minute)
                minutes.update((profile_id, tag, day, minute) for tag in answer.used_tags)
            if done % size == 0:
                yield None
        answers.clear()  # what follows needs only the totals: the peak stays lower
        # Tuples in the statements' column order, text escaped for ExactText:
        # the writer hands them to the driver as they are.
        names: list[tuple[int, int, str, str, int]] = []
        home: dict[tuple[int, str, str], int] = {}
        for done, ((hour, profile_id, action, stored), count) in enumerate(by_name.items(), 1):
            names.append((hour, profile_id, action, stored, count))
            whole_home = (hour, action, stored)
            home[whole_home] = home.get(whole_home, 0) + count
            if done % size == 0:
                yield None
        by_name.clear()
        counts: list[tuple[Any, ...]] = []
        yield from _as_rows(hourly, counts, size)
        home_names: list[tuple[Any, ...]] = []
        yield from _as_rows(home, home_names, size)
        yield Batch(rows, counts, list(minutes), names=names, home_names=home_names)

    def _answer(self, answered: Answered, first_ms: int, memo: _BatchMemo) -> _Answer:
        device, profile_id, query, decision, upstream, response_us, reply = answered
        # Written straight to the driver (see write_batch), so ExactText columns are escaped here.
        key = summary_key(reply, query.question)
        summary = memo.summaries.get(key) if key is not None else None
        if summary is None:
            rcode, text = answer_summary(reply)
            summary = (rcode, exact_text(text))
            if key is not None:
                memo.summaries[key] = summary
        named = memo.names.get(query.qname)
        if named is None:
            tags = self.tags_of(query.qname)
            named = memo.names[query.qname] = (exact_text(query.qname), tags, ",".join(tags))
        decided = memo.decisions.get(id(decision))
        if decided is None:
            decided = memo.decisions[id(decision)] = (
                decision.action.value, decision.reason.value, decision.category, decision.list_id,
                exact_text(decision.rule), decision.action in _USED,
            )
        action, reason, category, list_id, rule, used = decided
        rest = (
            self.instance, device, profile_id, named[0], query.qtype, action, reason, category, named[2],
            list_id, rule, upstream, response_us, summary[0], summary[1],
        )
        tags = named[1]
        return _Answer(first_ms, rest, tags, tags if used else (), profile_id)

    def _local_minute(self, posix_minute: int) -> tuple[int, int]:
        """The family's day of a minute, and the real minutes since that day's midnight.

        Real minutes, not the clock's: on the night the clocks go back, the
        repeated hour is another 60 minutes of the day, used or not.
        """
        known = self._minutes.get(posix_minute)
        if known is None:
            local = datetime.fromtimestamp(posix_minute * 60, self.zone)
            midnight = datetime.combine(local.date(), time(), self.zone)
            since_midnight = posix_minute - int(midnight.timestamp()) // 60
            known = (local.year * 10000 + local.month * 100 + local.day, since_midnight)
            if len(self._minutes) > 4096:
                self._minutes.clear()
            self._minutes[posix_minute] = known
        return known


class _BatchMemo:
    """What entries of one batch share, worked out once (decisions by identity:
    they live as long as the entries that hold them)."""

    __slots__ = ("summaries", "names", "decisions")

    def __init__(self) -> None:
        self.summaries: dict[bytes, tuple[int, str]] = {}
        self.names: dict[str, tuple[str, tuple[str, ...], str]] = {}
        self.decisions: dict[int, tuple[str, str, str | None, str | None, str | None, bool]] = {}


def _as_rows(totals: dict[Any, int], rows: list[tuple[Any, ...]], size: int) -> Iterator[None]:
    """``rows`` filled with (*key, count) from ``totals``, None every ``size`` rows."""
    for done, (key, count) in enumerate(totals.items(), 1):
        rows.append((*key, count))
        if done % size == 0:
            yield None
