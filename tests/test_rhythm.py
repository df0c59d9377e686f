"""When a reader's digest is due, checked the way `serve` checks: at every fire time of
its real APScheduler trigger, across daylight-saving changes of real zones."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, select

from digest.config import Settings
from digest.db import unit_of_work
from digest.models import Frequency, Subscriber
from digest.rhythm import Rhythm, due_now, local_days, next_digests
from digest.schedule import check_trigger
from tests.support import add_delivery

EVERY = 5
TRIGGER = check_trigger(Settings(serve_every=EVERY))


def serve(
    rhythm: Rhythm,
    start: datetime,
    end: datetime,
    down: tuple[datetime, datetime] | None = None,
    earlier: Collection[date] = (),
) -> list[tuple[datetime, date]]:
    """The digests a server checking at TRIGGER's times from `start` to `end` records for
    `rhythm` (none while `down`), after the digests of the days `earlier`: when, and of
    which local day. The rules of `digest.rhythm.due_now`, without its database."""
    recorded: list[tuple[datetime, date]] = []
    check = TRIGGER.get_next_fire_time(None, start)
    while check is not None and check < end:
        day = rhythm.due_day(check)
        stopped = down is not None and down[0] <= check < down[1]
        done = {*earlier, *(d for _, d in recorded)}
        if (
            not stopped
            and day is not None
            and done.isdisjoint(rhythm.blocked_by(day))
            and not (rhythm.is_late(day, check) and all(d >= day for d in done))
        ):
            recorded.append((check, day))
        check = TRIGGER.get_next_fire_time(check, check + timedelta(seconds=1))
    return recorded


def daily(zone: str, at: time) -> Rhythm:
    return Rhythm(ZoneInfo(zone), at)


# Both changes of a zone on each side of UTC, and one of the southern hemisphere, where
# summer time ends in April.
TRANSITIONS = [
    ("Europe/Berlin", date(2026, 3, 29)),
    ("Europe/Berlin", date(2026, 10, 25)),
    ("America/Los_Angeles", date(2026, 3, 8)),
    ("America/Los_Angeles", date(2026, 11, 1)),
    ("Australia/Sydney", date(2026, 4, 5)),
    ("Australia/Sydney", date(2026, 10, 4)),
]


@pytest.mark.parametrize(("zone", "change"), TRANSITIONS)
@pytest.mark.parametrize("at", [time(7, 0), time(0, 0), time(23, 55)])
def test_one_digest_each_local_day_at_its_local_hour_across_a_dst_change(
    zone: str, change: date, at: time
) -> None:
    tz = ZoneInfo(zone)
    start = datetime.combine(change - timedelta(days=3), time(0, 0), tzinfo=tz)
    end = datetime.combine(change + timedelta(days=4), time(0, 0), tzinfo=tz)
    recorded = serve(daily(zone, at), start, end)

    days = [day for _, day in recorded]
    assert days == [change + timedelta(days=n) for n in range(-3, 4)]
    offsets = set()
    for moment, day in recorded:
        local = moment.astimezone(tz)
        # At the local send time itself (a multiple of the checks' minutes), on its day:
        # never an hour early or late for the change.
        assert (local.date(), local.time()) == (day, at)
        offsets.add(local.utcoffset())
    assert len(offsets) == 2, "the walk crosses the change"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        # 02:30 does not exist that day: taken with the offset before the change, 03:30.
        (date(2026, 3, 29), time(3, 30)),
        # 02:30 happens twice: the first one, and only once.
        (date(2026, 10, 25), time(2, 30)),
    ],
)
def test_a_send_time_the_change_skips_or_repeats_gives_one_digest_that_day(
    change: date, expected: time
) -> None:
    tz = ZoneInfo("Europe/Berlin")
    start = datetime.combine(change - timedelta(days=1), time(0, 0), tzinfo=tz)
    end = datetime.combine(change + timedelta(days=2), time(0, 0), tzinfo=tz)
    recorded = serve(daily("Europe/Berlin", time(2, 30)), start, end)

    assert [day for _, day in recorded] == [change + timedelta(days=n) for n in (-1, 0, 1)]
    moment, _ = recorded[1]
    assert moment.astimezone(tz).time().replace(tzinfo=None) == expected
    assert moment.astimezone(tz).fold == 0


def test_readers_in_zones_on_both_sides_of_utc_are_each_served_at_their_own_hour() -> None:
    start = datetime(2026, 1, 10, 15, 0, tzinfo=UTC)
    end = datetime(2026, 1, 13, tzinfo=UTC)
    for zone in ("Asia/Tokyo", "Europe/Berlin", "America/Los_Angeles", "Asia/Kathmandu"):
        (first, _), *rest = serve(daily(zone, time(7, 0)), start, end)
        local_start = start.astimezone(ZoneInfo(zone))
        if local_start.hour >= 7:  # its 07:00 had passed when the checks began: at once
            assert first == start, zone
        else:
            assert first.astimezone(ZoneInfo(zone)).time() == time(7, 0), zone
        assert len(rest) == 2, zone
        for moment, day in rest:
            local = moment.astimezone(ZoneInfo(zone))
            assert (local.date(), local.time()) == (day, time(7, 0)), zone


def test_a_weekly_reader_gets_one_digest_a_week_on_their_weekday_at_their_hour() -> None:
    rhythm = Rhythm(ZoneInfo("America/Los_Angeles"), time(8, 0), Frequency.WEEKLY, weekday=2)
    start = datetime(2026, 2, 23, tzinfo=UTC)  # a Monday
    recorded = serve(rhythm, start, start + timedelta(weeks=3))

    assert [day for _, day in recorded] == [date(2026, 2, 25), date(2026, 3, 4), date(2026, 3, 11)]
    for moment, _ in recorded:
        local = moment.astimezone(rhythm.zone)
        assert (local.weekday(), local.hour, local.minute) == (2, 8, 0)
    # 2026-03-08 moved Los Angeles from UTC-8 to UTC-7: the hour stayed 08:00 there.
    assert [moment.astimezone(UTC).hour for moment, _ in recorded] == [16, 16, 15]


def test_after_a_long_pause_today_is_served_late_and_the_missed_days_not_at_all() -> None:
    rhythm = daily("Europe/Berlin", time(7, 0))
    start = datetime(2026, 5, 1, tzinfo=UTC)
    down = (datetime(2026, 5, 2, 12, 0, tzinfo=UTC), datetime(2026, 5, 8, 14, 2, tzinfo=UTC))
    recorded = serve(rhythm, start, datetime(2026, 5, 10, tzinfo=UTC), down)

    days = [day for _, day in recorded]
    assert days == [date(2026, 5, d) for d in (1, 2, 8, 9)]
    back = dict((day, moment) for moment, day in recorded)[date(2026, 5, 8)]
    assert back == datetime(2026, 5, 8, 14, 5, tzinfo=UTC)  # the first check once back


def test_a_weekly_digest_missed_on_its_day_comes_once_later_that_week() -> None:
    rhythm = Rhythm(ZoneInfo("UTC"), time(8, 0), Frequency.WEEKLY, weekday=0)
    start = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday
    # Down all Monday and Tuesday: back on Wednesday morning.
    down = (start, datetime(2026, 1, 7, 6, 2, tzinfo=UTC))
    end = start + timedelta(weeks=2, days=1)
    recorded = serve(rhythm, start, end, down, [date(2025, 12, 29)])

    assert recorded == [
        (datetime(2026, 1, 7, 6, 5, tzinfo=UTC), date(2026, 1, 5)),  # named by its Monday
        (datetime(2026, 1, 12, 8, 0, tzinfo=UTC), date(2026, 1, 12)),
        (datetime(2026, 1, 19, 8, 0, tzinfo=UTC), date(2026, 1, 19)),
    ]


def test_a_weekly_digest_caught_up_across_a_dst_change_keeps_the_local_hour_after() -> None:
    tz = ZoneInfo("Europe/Berlin")
    rhythm = Rhythm(tz, time(8, 0), Frequency.WEEKLY, weekday=0)
    # Berlin moved to summer time on Sunday 2026-03-29; down from Saturday to Tuesday noon.
    start = datetime(2026, 3, 28, tzinfo=tz)
    down = (start, datetime(2026, 3, 31, 12, 0, tzinfo=tz))
    recorded = serve(rhythm, start, start + timedelta(weeks=2), down, [date(2026, 3, 23)])

    assert [day for _, day in recorded] == [date(2026, 3, 30), date(2026, 4, 6)]
    assert recorded[0][0] == datetime(2026, 3, 31, 10, 0, tzinfo=UTC)  # the first check back
    assert recorded[1][0].astimezone(tz).time() == time(8, 0)
    assert recorded[1][0] == datetime(2026, 4, 6, 6, 0, tzinfo=UTC)


def test_a_new_weekly_reader_starts_on_their_weekday_not_with_last_weeks_digest() -> None:
    rhythm = Rhythm(ZoneInfo("UTC"), time(8, 0), Frequency.WEEKLY, weekday=0)
    start = datetime(2026, 1, 10, tzinfo=UTC)  # a Saturday
    recorded = serve(rhythm, start, start + timedelta(days=9))
    assert [day for _, day in recorded] == [date(2026, 1, 12)]


@pytest.mark.parametrize(
    ("weekday", "next_day"),
    [
        # Sent Monday the 12th, moved to Tuesday on Wednesday: the 13th is within the week.
        (1, date(2026, 1, 20)),
        # Moved to Friday: the 16th is too, the first is the 23rd.
        (4, date(2026, 1, 23)),
        # Moved to Sunday: the 18th is six days after the last, the first is the 25th.
        (6, date(2026, 1, 25)),
    ],
)
def test_a_reader_who_changes_weekday_mid_week_gets_no_second_digest_that_week(
    weekday: int, next_day: date
) -> None:
    moved = Rhythm(ZoneInfo("UTC"), time(8, 0), Frequency.WEEKLY, weekday=weekday)
    wednesday = datetime(2026, 1, 14, 12, 0, tzinfo=UTC)
    recorded = serve(moved, wednesday, wednesday + timedelta(weeks=2), None, [date(2026, 1, 12)])

    assert recorded[0][1] == next_day
    assert moved.next_due(wednesday, {date(2026, 1, 12)}, date(2026, 1, 12)) == datetime.combine(
        next_day, time(8, 0), tzinfo=ZoneInfo("UTC")
    )


def test_the_next_due_time_skips_days_done_and_days_without_a_digest() -> None:
    tz = ZoneInfo("Asia/Tokyo")
    rhythm = Rhythm(tz, time(7, 0), Frequency.WEEKLY, weekday=4)
    thursday = datetime(2026, 1, 15, 12, 0, tzinfo=tz)
    assert rhythm.next_due(thursday, set(), None) == datetime(2026, 1, 16, 7, 0, tzinfo=tz)
    friday = datetime(2026, 1, 16, 9, 0, tzinfo=tz)
    # Due since 07:00 and not sent: due now, as of its hour.
    assert rhythm.next_due(friday, set(), None) == datetime(2026, 1, 16, 7, 0, tzinfo=tz)
    sent = {date(2026, 1, 16)}
    assert rhythm.next_due(friday, sent, min(sent)) == datetime(2026, 1, 23, 7, 0, tzinfo=tz)
    # Thursday, with last week's digest sent before: still due, late, until Thursday ends.
    assert rhythm.next_due(thursday, {date(2026, 1, 2)}, date(2026, 1, 2)) == datetime(
        2026, 1, 9, 7, 0, tzinfo=tz
    )
    every_day = Rhythm(tz, time(7, 0))
    assert every_day.next_due(friday, sent, min(sent)) == datetime(2026, 1, 17, 7, tzinfo=tz)


def test_local_days_cover_every_zone_at_an_instant() -> None:
    moment = datetime(2026, 1, 11, 12, 0, tzinfo=UTC)
    days = set(local_days(moment))
    for zone in ("Pacific/Kiritimati", "Pacific/Pago_Pago", "Etc/GMT+12", "Asia/Tokyo", "UTC"):
        assert moment.astimezone(ZoneInfo(zone)).date() in days


@pytest.mark.parametrize("by_id", [True, False], ids=["few readers", "many readers"])
def test_due_now_catches_up_a_weekly_week_once_and_only_for_a_reader_it_began_for(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, by_id: bool
) -> None:
    if not by_id:  # looked up by the days, as for more than LOOKUP_BY_ID readers
        monkeypatch.setattr("digest.rhythm.LOOKUP_BY_ID", 0)
    readers = {
        # Weekly on Mondays at 08:00 UTC: last week's sent, this week's missed.
        "missed": ("weekly", [date(2026, 1, 5)], None),
        "sent": ("weekly", [date(2026, 1, 5), date(2026, 1, 12)], None),
        "new": ("weekly", [], None),
        "quiet": ("weekly", [date(2026, 1, 5)], date(2026, 1, 12)),
        # Daily, its Wednesday not sent yet, though a week of digests was.
        "daily": ("daily", [date(2026, 1, 12), date(2026, 1, 13)], None),
    }
    ids = {}
    with unit_of_work(engine) as session:
        for name, (frequency, _, quiet) in readers.items():
            subscriber = Subscriber(
                email=f"{name}@example.org",
                keywords={"video": 1.0},
                timezone="UTC",
                send_time=time(8, 0),
                frequency=frequency,
                weekday=0,
                nothing_new_on=quiet,
            )
            session.add(subscriber)
            session.flush()
            ids[name] = subscriber.id
    for name, (_, days, _) in readers.items():
        for day in days:
            add_delivery(engine, ids[name], day, [])
    settings = Settings(timezone=ZoneInfo("UTC"))
    wednesday = datetime(2026, 1, 14, 9, 0, tzinfo=UTC)
    with unit_of_work(engine) as session:
        subscribers = session.scalars(select(Subscriber).order_by(Subscriber.id)).all()
        due = due_now(session, settings, subscribers, wednesday)
        upcoming = next_digests(session, settings, subscribers, wednesday)

    assert {day: sorted(s.email for s in who) for day, who in due.items()} == {
        date(2026, 1, 12): ["missed@example.org"],
        date(2026, 1, 14): ["daily@example.org"],
    }
    monday = datetime(2026, 1, 12, 8, 0, tzinfo=UTC)
    assert {name: upcoming[ids[name]] for name in readers} == {
        "missed": monday,
        "sent": monday + timedelta(weeks=1),
        "new": monday + timedelta(weeks=1),
        "quiet": monday + timedelta(weeks=1),
        "daily": datetime(2026, 1, 14, 8, 0, tzinfo=UTC),
    }
