"""A profile's timezone, send_time, frequency and weekday: validated, synced, in force
from the next sync, and shown by `subscribers list`."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, time
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from sqlalchemy import Engine, select

from digest.db import unit_of_work
from digest.errors import ProfileError
from digest.models import Frequency, Subscriber, utcnow
from digest.profiles import Timing, load_profiles, sync_profiles
from tests.support import add_delivery


def entry(extra: str) -> str:
    return f'[[subscriber]]\nemail = "ada@example.org"\nkeywords = ["video"]\n{extra}\n'


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "profiles.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_without_timing_fields_a_profile_takes_the_defaults_at_each_run(tmp_path: Path) -> None:
    (profile,) = load_profiles(write(tmp_path, entry("")))
    assert profile.timing == Timing(None, None, Frequency.DAILY, None)


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ('timezone = "Asia/Tokyo"', Timing("Asia/Tokyo", None, Frequency.DAILY, None)),
        ('send_time = "7:05"', Timing(None, time(7, 5), Frequency.DAILY, None)),
        ("send_time = 18:30:00", Timing(None, time(18, 30), Frequency.DAILY, None)),
        ('frequency = "weekly"', Timing(None, None, Frequency.WEEKLY, 0)),
        (
            'frequency = "weekly"\nweekday = "Friday"\nsend_time = "08:00"',
            Timing(None, time(8, 0), Frequency.WEEKLY, 4),
        ),
        ('frequency = "daily"', Timing(None, None, Frequency.DAILY, None)),
    ],
)
def test_timing_fields_are_read(tmp_path: Path, extra: str, expected: Timing) -> None:
    (profile,) = load_profiles(write(tmp_path, entry(extra)))
    assert profile.timing == expected


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ('timezone = "Mars/Olympus_Mons"', "timezone: 'Mars/Olympus_Mons' is not an IANA"),
        ('timezone = "/etc/passwd"', "timezone: '/etc/passwd' is not an IANA"),
        ("timezone = 9", "timezone: 9 is not an IANA"),
        ('timezone = ""', "timezone: '' is not an IANA"),
        ('send_time = "7am"', 'send_time: must be a time of day as "HH:MM"'),
        ('send_time = "24:00"', "not '24:00'"),
        ('send_time = "07:60"', "not '07:60'"),
        ("send_time = 730", "send_time: must be a time of day"),
        ("send_time = 07:30:15", "send_time: must be a time of day"),
        ('frequency = "monthly"', 'frequency: must be "daily" or "weekly", not \'monthly\''),
        ('weekday = "monday"', 'weekday: only for frequency = "weekly"'),
        ('frequency = "weekly"\nweekday = "mon"', "weekday: must be a day's name, monday"),
        ('frequency = "weekly"\nweekday = 1', "not 1"),
    ],
)
def test_bad_timing_names_the_file_the_entry_and_the_field(
    tmp_path: Path, extra: str, problem: str
) -> None:
    path = write(tmp_path, entry(extra))
    with pytest.raises(ProfileError) as caught:
        load_profiles(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: subscriber #1 (ada@example.org): ")
    assert problem in message


def test_a_bad_timing_field_leaves_that_subscriber_as_stored(
    engine: Engine, tmp_path: Path
) -> None:
    path = write(tmp_path, entry('timezone = "Europe/Berlin"'))
    sync_profiles(engine, path)
    path.write_text(entry('timezone = "Europe/Berlinn"'), encoding="utf-8")
    report = sync_profiles(engine, path)
    assert [str(e) for e in report.errors] == [
        f"{path}: subscriber #1 (ada@example.org): timezone: 'Europe/Berlinn' is not an IANA "
        "time zone like 'Europe/Berlin'"
    ]
    with unit_of_work(engine) as session:
        assert session.scalar(select(Subscriber.timezone)) == "Europe/Berlin"


def test_changed_timing_is_stored_at_the_next_sync_and_removed_ones_go_back_to_defaults(
    engine: Engine, tmp_path: Path
) -> None:
    path = write(tmp_path, entry(""))
    assert sync_profiles(engine, path).added == ["ada@example.org"]
    weekly = 'timezone = "America/Los_Angeles"\nsend_time = "06:15"\nfrequency = "weekly"\n'
    path.write_text(entry(weekly + 'weekday = "sunday"'), encoding="utf-8")
    assert sync_profiles(engine, path).updated == ["ada@example.org"]
    with unit_of_work(engine) as session:
        ada = session.scalars(select(Subscriber)).one()
        assert (ada.timezone, ada.send_time, ada.frequency, ada.weekday) == (
            "America/Los_Angeles",
            time(6, 15),
            "weekly",
            6,
        )
    assert sync_profiles(engine, path).unchanged == ["ada@example.org"]
    path.write_text(entry(""), encoding="utf-8")
    assert sync_profiles(engine, path).updated == ["ada@example.org"]
    with unit_of_work(engine) as session:
        ada = session.scalars(select(Subscriber)).one()
        assert (ada.timezone, ada.send_time, ada.frequency, ada.weekday) == (
            None,
            None,
            "daily",
            None,
        )


READERS = """
[[subscriber]]
email = "berlin@example.org"
keywords = ["video"]
timezone = "Europe/Berlin"

[[subscriber]]
email = "tokyo@example.org"
keywords = ["video"]
timezone = "Asia/Tokyo"
send_time = "08:30"
frequency = "weekly"
weekday = "friday"

[[subscriber]]
email = "utc@example.org"
keywords = ["video"]
"""


def listing(cli: Callable[..., Result], now: str) -> tuple[list[str], dict[str, Any]]:
    result = cli("subscribers", "list", "--now", now, "--json")
    assert result.exit_code == 0, result.output
    *lines, last = result.stdout.strip().splitlines()
    return lines, {item["email"]: item for item in json.loads(last)}


def test_the_listing_shows_each_next_digest_in_the_readers_zone_and_in_utc(
    cli: Callable[..., Result], engine: Engine, tmp_path: Path
) -> None:
    path = write(tmp_path, READERS)
    assert cli("subscribers", "sync", str(path)).exit_code == 0

    # Sunday 29 March 2026, 06:00 UTC: Berlin went to summer time (UTC+2) at 01:00 UTC.
    lines, readers = listing(cli, "2026-03-29T06:00:00Z")
    berlin = readers["berlin@example.org"]
    assert berlin["schedule"] == "daily at 07:00 Europe/Berlin"
    assert (berlin["next_due"], berlin["next_due_utc"], berlin["due_now"]) == (
        "2026-03-29T07:00:00+02:00",
        "2026-03-29T05:00:00+00:00",
        True,
    )
    tokyo = readers["tokyo@example.org"]
    assert (tokyo["frequency"], tokyo["weekday"], tokyo["send_time"]) == (
        "weekly",
        "friday",
        "08:30",
    )
    assert (tokyo["next_due"], tokyo["next_due_utc"], tokyo["due_now"]) == (
        "2026-04-03T08:30:00+09:00",
        "2026-04-02T23:30:00+00:00",
        False,
    )
    utc = readers["utc@example.org"]
    assert (utc["next_due"], utc["due_now"]) == ("2026-03-29T07:00:00+00:00", False)
    assert lines[:2] == [
        "berlin@example.org: video",
        "    daily at 07:00 Europe/Berlin; due now, since 2026-03-29 07:00 CEST "
        "(2026-03-29 05:00 UTC)",
    ]
    assert lines[3] == (
        "    fridays at 08:30 Asia/Tokyo; next 2026-04-03 08:30 JST (2026-04-02 23:30 UTC)"
    )

    # Once the day's digest is recorded, the next is tomorrow's; a reader who gets no mail
    # has none.
    with unit_of_work(engine) as session:
        ids = {
            email: id_ for email, id_ in session.execute(select(Subscriber.email, Subscriber.id))
        }
        session.get(Subscriber, ids["utc@example.org"]).unsubscribed_at = utcnow()
    add_delivery(engine, ids["berlin@example.org"], date(2026, 3, 29), [])
    lines, readers = listing(cli, "2026-03-29T06:00:00Z")
    assert readers["berlin@example.org"]["next_due"] == "2026-03-30T07:00:00+02:00"
    assert readers["berlin@example.org"]["due_now"] is False
    assert (readers["utc@example.org"]["next_due"], readers["utc@example.org"]["due_now"]) == (
        None,
        False,
    )
    assert lines[-1] == "    daily at 07:00 UTC; no digests"


def test_a_listing_instant_without_an_offset_is_refused(cli: Callable[..., Result]) -> None:
    result = cli("subscribers", "list", "--now", "2026-03-29T06:00")
    assert result.exit_code == 2
    assert "has no offset: end it with Z or one like +01:00" in result.output
