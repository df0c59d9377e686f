"""When each reader's digest is due: their zone, send time and frequency, against a clock.

A reader's digest is named by their own local day. A daily reader's digest of a day is
due once that day's send time has passed, there, until that day ends: one missed while the
service was down is not sent later, so a long pause ends in one digest, not a pile of them.

A weekly reader's digest is named by their weekday's date and due from its send time until
the day before the next weekday: a week missed on its weekday comes late, once. Two rules
keep it to one a week. It is not due when any digest of the reader's is recorded on it or
on the six days before, so a reader who changes weekday waits at least seven days since
their last digest, never gets a second one that week. And a reader with no digest recorded
before it starts on their weekday: subscribing on a Sunday does not bring last Monday's.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from digest.candidates import LOOKUP_BY_ID
from digest.config import Settings
from digest.db import in_chunks
from digest.models import Delivery, Frequency, Subscriber

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# Local days are at most this far from the UTC day (UTC-12 to UTC+14).
_ZONE_SPREAD = timedelta(hours=14)
# A weekly reader's next digest is at most a week after a recorded one, or two after a
# weekday change (see `Rhythm.blocked_by`).
DAYS_AHEAD = 14
# Days before a weekly digest's own on which a recorded digest means it is not due.
WEEK_SPACING = 6


@dataclass(frozen=True)
class Rhythm:
    """When a reader wants their digest: in their zone, at their time, daily or weekly."""

    zone: ZoneInfo
    send_time: time
    frequency: Frequency = Frequency.DAILY
    weekday: int = 0

    def sends_on(self, day: date) -> bool:
        """Whether `day` (a local day) has a digest: every day, or the weekly reader's weekday."""
        return self.frequency is Frequency.DAILY or day.weekday() == self.weekday

    def send_instant(self, day: date) -> datetime:
        """The instant of the send time on the local `day`, in the reader's zone.

        A send time that a spring-forward skips is taken with the offset before the change
        (02:30 becomes 03:30); one a fall-back repeats, at its first occurrence.
        """
        return datetime.combine(day, self.send_time, tzinfo=self.zone)

    def latest_day(self, now: datetime) -> date:
        """The local day naming the digest of the period `now` is in: today for a daily
        reader, the latest weekday up to today for a weekly one."""
        today = now.astimezone(self.zone).date()
        if self.frequency is Frequency.DAILY:
            return today
        return today - timedelta(days=(today.weekday() - self.weekday) % 7)

    def due_day(self, now: datetime) -> date | None:
        """The local day whose digest is due at `now` unless `blocked_by` a recorded one (or,
        late, without an earlier one: see `is_late`), else None."""
        day = self.latest_day(now)
        # In UTC: two datetimes of one zone compare by their wall clocks, blind to a repeated hour.
        return day if now.astimezone(UTC) >= self.send_instant(day) else None

    def is_late(self, day: date, now: datetime) -> bool:
        """Whether `day`'s digest is due after its own day: a weekly one caught up."""
        return day < now.astimezone(self.zone).date()

    def blocked_by(self, day: date) -> list[date]:
        """The local days whose recorded digest means `day`'s is not due: `day`, and for a
        weekly reader the WEEK_SPACING before it (never two weekly digests within a week)."""
        if self.frequency is Frequency.DAILY:
            return [day]
        return [day - timedelta(days=n) for n in range(WEEK_SPACING, -1, -1)]

    def next_due(self, now: datetime, done: Collection[date], first: date | None) -> datetime:
        """When the next digest is due, given the days `done` (recorded) and the `first` one
        ever recorded: at or before `now` when one is due already."""
        day = self.latest_day(now)
        late = self.frequency is Frequency.WEEKLY and self.is_late(day, now)
        if late and (first is None or first >= day):
            day += timedelta(weeks=1)
        step = timedelta(days=1 if self.frequency is Frequency.DAILY else 7)
        while any(d in done for d in self.blocked_by(day)):
            day += step
        return self.send_instant(day)

    def describe(self) -> str:
        """How a person says it: "daily at 07:00 Europe/Berlin", "mondays at 08:00 UTC"."""
        when = "daily" if self.frequency is Frequency.DAILY else f"{WEEKDAYS[self.weekday]}s"
        return f"{when} at {self.send_time:%H:%M} {self.zone.key}"


def logical_day(settings: Settings, now: datetime) -> date:
    """The logical day at `now` in DIGEST_TIMEZONE: the day pages are stored as of."""
    return now.astimezone(settings.timezone).date()


class Timed(Protocol):
    """What due-ness reads of a subscriber: a stored one, or those columns alone."""

    @property
    def id(self) -> int: ...
    @property
    def timezone(self) -> str | None: ...
    @property
    def send_time(self) -> time | None: ...
    @property
    def frequency(self) -> str: ...
    @property
    def weekday(self) -> int | None: ...
    @property
    def nothing_new_on(self) -> date | None: ...


@dataclass(frozen=True)
class TimedRow:
    """A subscriber's columns that due-ness reads, without the rest of the row."""

    id: int
    timezone: str | None
    send_time: time | None
    frequency: str
    weekday: int | None
    nothing_new_on: date | None


TIMED_COLUMNS = (
    Subscriber.id,
    Subscriber.timezone,
    Subscriber.send_time,
    Subscriber.frequency,
    Subscriber.weekday,
    Subscriber.nothing_new_on,
)
T = TypeVar("T", bound=Timed)


def rhythm_of(subscriber: Timed, settings: Settings) -> Rhythm:
    """The subscriber's rhythm, DIGEST_TIMEZONE and DIGEST_SEND_TIME where they give none."""
    return Rhythm(
        zone=ZoneInfo(subscriber.timezone) if subscriber.timezone else settings.timezone,
        send_time=subscriber.send_time or settings.send_time,
        frequency=Frequency(subscriber.frequency),
        weekday=subscriber.weekday or 0,
    )


def digest_days(
    session: Session, ids: Sequence[int], days: Iterable[date], *, weekly: bool = False
) -> set[tuple[int, date]]:
    """Which of `ids` have a digest recorded on which of `days`, as (subscriber id, day).

    A few subscribers are looked up by id; many, by the days alone (a few days' rows of the
    (digest_date, subscriber_id) index), of weekly readers' alone when `ids` are weekly
    readers: their week of days would otherwise read a week of every reader's rows.
    """
    wanted = sorted(set(days))
    query = select(Delivery.subscriber_id, Delivery.digest_date).where(
        Delivery.digest_date.in_(wanted)
    )
    if len(ids) > LOOKUP_BY_ID:
        if weekly:
            query = query.join(Subscriber).where(Subscriber.frequency == Frequency.WEEKLY)
        asked = set(ids)
        return {(i, day) for i, day in session.execute(query) if i in asked}
    recorded: set[tuple[int, date]] = set()
    for chunk in in_chunks(list(ids)):
        rows = session.execute(query.where(Delivery.subscriber_id.in_(chunk)))
        recorded.update((i, day) for i, day in rows)
    return recorded


def local_days(now: datetime) -> list[date]:
    """Every day that is the local day somewhere on Earth at `now`."""
    utc = now.astimezone(UTC)
    first, last = (utc - _ZONE_SPREAD).date(), (utc + _ZONE_SPREAD).date()
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def first_digests(session: Session, ids: Sequence[int]) -> dict[int, date]:
    """The day of each of `ids`' first recorded digest, for those with one."""
    first: dict[int, date] = {}
    for chunk in in_chunks(list(ids)):
        rows = session.execute(
            select(Delivery.subscriber_id, func.min(Delivery.digest_date))
            .where(Delivery.subscriber_id.in_(chunk))
            .group_by(Delivery.subscriber_id)
        )
        first.update((i, day) for i, day in rows)
    return first


def due_now(
    session: Session, settings: Settings, subscribers: Sequence[T], now: datetime
) -> dict[date, list[T]]:
    """The subscribers whose digest is due at `now`, by its local day: not blocked by a
    recorded one, nor found with nothing new earlier (see digest.rhythm)."""
    candidates: list[tuple[T, Rhythm, date]] = []
    for subscriber in subscribers:
        rhythm = rhythm_of(subscriber, settings)
        day = rhythm.due_day(now)
        if day is not None:
            candidates.append((subscriber, rhythm, day))
    # Daily readers' days are among `local_days`, read as before; weekly readers' spans
    # apart, so a few weekly readers do not make every reader's week read.
    daily = [c for c in candidates if c[1].frequency is Frequency.DAILY]
    weekly = [c for c in candidates if c[1].frequency is Frequency.WEEKLY]
    recorded = digest_days(session, [s.id for s, _, _ in daily], local_days(now))
    spans = {d for _, rhythm, day in weekly for d in rhythm.blocked_by(day)}
    recorded |= digest_days(session, [s.id for s, _, _ in weekly], spans, weekly=True)
    # A day found with nothing new counts as one with a digest, as in `next_digests`.
    open_ = [
        (s, rhythm, day)
        for s, rhythm, day in candidates
        if not any((s.id, d) in recorded or d == s.nothing_new_on for d in rhythm.blocked_by(day))
    ]
    late = [s.id for s, rhythm, day in open_ if rhythm.is_late(day, now)]
    first = first_digests(session, late) if late else {}
    due: dict[date, list[T]] = {}
    for subscriber, rhythm, day in open_:
        if rhythm.is_late(day, now) and first.get(subscriber.id, day) >= day:
            continue
        due.setdefault(day, []).append(subscriber)
    return due


def next_digests(
    session: Session, settings: Settings, subscribers: Sequence[Timed], now: datetime
) -> dict[int, datetime]:
    """When each subscriber's next digest is due, in their zone: at or before `now` for
    one due already."""
    days = local_days(now)
    behind = [days[0] - timedelta(days=n) for n in range(1, 2 * WEEK_SPACING + 1)]
    ahead = [days[-1] + timedelta(days=n) for n in range(1, DAYS_AHEAD + 1)]
    rhythms = {s.id: rhythm_of(s, settings) for s in subscribers}
    recorded = digest_days(session, list(rhythms), [*behind, *days, *ahead])
    # Only a week late to catch up needs the first digest: not every reader's whole history.
    late = [i for i, r in rhythms.items() if r.is_late(r.latest_day(now), now)]
    first = first_digests(session, late)
    done: dict[int, set[date]] = {}
    for subscriber_id, day in recorded:
        done.setdefault(subscriber_id, set()).add(day)
    for subscriber in subscribers:
        if subscriber.nothing_new_on is not None:
            done.setdefault(subscriber.id, set()).add(subscriber.nothing_new_on)
    return {
        s.id: rhythms[s.id].next_due(now, done.get(s.id, set()), first.get(s.id))
        for s in subscribers
    }


def on_day(
    session: Session, settings: Settings, subscribers: Sequence[Subscriber], day: date
) -> list[Subscriber]:
    """The subscribers with a digest on the logical `day`, whatever the hour, not recorded
    yet: every daily reader, and the weekly ones whose weekday it is."""
    recorded = digest_days(session, [s.id for s in subscribers], [day])
    return [
        s
        for s in subscribers
        if rhythm_of(s, settings).sends_on(day) and (s.id, day) not in recorded
    ]
