"""A profile's timezone, send_time, frequency and weekday: validated, synced, and in force
from the next sync."""

from __future__ import annotations

from datetime import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from digest.db import unit_of_work
from digest.errors import ProfileError
from digest.models import Frequency, Subscriber
from digest.profiles import Timing, load_profiles, sync_profiles


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
