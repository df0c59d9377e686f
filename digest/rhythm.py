"""When each reader's digest is due: their zone, send time and frequency, against a clock.

A reader's digest is named by their own local day. A daily reader's digest of a day is
due once that day's send time has passed, there; a weekly reader's only on their weekday.
Only the digest of the reader's current day is ever due: one missed while the service was
down is not sent later, so a long pause ends in one digest, not a pile of them.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from digest.candidates import LOOKUP_BY_ID
from digest.config import Settings
from digest.db import in_chunks
from digest.models import Delivery, Frequency, Subscriber

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# Local days are at most this far from the UTC day (UTC-12 to UTC+14).
_ZONE_SPREAD = timedelta(hours=14)
# A weekly reader's next digest is at most a week after a recorded one.
DAYS_AHEAD = 8


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

    def due_day(self, now: datetime) -> date | None:
        """The local day whose digest is due at `now` if not sent yet, else None."""
        day = now.astimezone(self.zone).date()
        # In UTC: two datetimes of one zone compare by their wall clocks, blind to a repeated hour.
        if self.sends_on(day) and now.astimezone(UTC) >= self.send_instant(day):
            return day
        return None

    def next_due(self, now: datetime, done: Collection[date]) -> datetime:
        """When the next digest not in `done` (local days) is due: at or before `now` when
        today's is due already."""
        day = now.astimezone(self.zone).date()
        while not self.sends_on(day) or day in done:
            day += timedelta(days=1)
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
    session: Session, ids: Sequence[int], days: Iterable[date]
) -> set[tuple[int, date]]:
    """Which of `ids` have a digest recorded on which of `days`, as (subscriber id, day).

    A few subscribers are looked up by id; many, by the days alone (a few days' rows of the
    (digest_date, subscriber_id) index).
    """
    wanted = sorted(set(days))
    query = select(Delivery.subscriber_id, Delivery.digest_date).where(
        Delivery.digest_date.in_(wanted)
    )
    if len(ids) > LOOKUP_BY_ID:
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


def due_now(
    session: Session, settings: Settings, subscribers: Sequence[T], now: datetime
) -> dict[date, list[T]]:
    """The subscribers whose digest is due at `now`, by its local day: not recorded yet, nor
    found with nothing new earlier that day."""
    recorded = digest_days(session, [s.id for s in subscribers], local_days(now))
    due: dict[date, list[T]] = {}
    for subscriber in subscribers:
        day = rhythm_of(subscriber, settings).due_day(now)
        if day is None or day == subscriber.nothing_new_on or (subscriber.id, day) in recorded:
            continue
        due.setdefault(day, []).append(subscriber)
    return due


def next_digests(
    session: Session, settings: Settings, subscribers: Sequence[Timed], now: datetime
) -> dict[int, datetime]:
    """When each subscriber's next digest not recorded yet is due, in their zone: at or
    before `now` for one due already."""
    days = local_days(now)
    ahead = [days[-1] + timedelta(days=n) for n in range(1, DAYS_AHEAD + 1)]
    recorded = digest_days(session, [s.id for s in subscribers], [*days, *ahead])
    done: dict[int, set[date]] = {}
    for subscriber_id, day in recorded:
        done.setdefault(subscriber_id, set()).add(day)
    for subscriber in subscribers:
        if subscriber.nothing_new_on is not None:
            done.setdefault(subscriber.id, set()).add(subscriber.nothing_new_on)
    return {s.id: rhythm_of(s, settings).next_due(now, done.get(s.id, set())) for s in subscribers}


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
