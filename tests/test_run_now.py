"""`digest run --now`: each reader at their own hour and in their own rhythm, through the
CLI with real pages arriving between runs and a real SMTP server on 127.0.0.1."""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
import time_machine
from click.testing import Result
from sqlalchemy import select

from digest.config import Settings
from digest.db import make_engine, unit_of_work
from digest.models import Delivery, DeliveryItem, Paper, Subscriber, as_utc
from tests.smtp_servers import SmtpServer
from tests.support import PAGES, ROOT

# Six pages, one arriving before each moment.
ARRIVALS = [*sorted(PAGES.glob("*.txt")), ROOT / "tests" / "data" / "hf-api" / "2025-03-17.json"]
KEYWORDS = '["language model", "diffusion", "video", "benchmark", "image", "agent", "learning"]'
READERS = f"""
[[subscriber]]
email = "tokyo@example.org"
keywords = {KEYWORDS}
timezone = "Asia/Tokyo"
send_time = "07:00"

[[subscriber]]
email = "berlin@example.org"
keywords = {KEYWORDS}
timezone = "Europe/Berlin"
send_time = "07:00"

[[subscriber]]
email = "la@example.org"
keywords = {KEYWORDS}
timezone = "America/Los_Angeles"
send_time = "07:00"

[[subscriber]]
email = "weekly@example.org"
keywords = {KEYWORDS}
timezone = "UTC"
send_time = "08:00"
frequency = "weekly"
weekday = "monday"
max_papers = 5
"""
# January: Tokyo is UTC+9, Berlin UTC+1, Los Angeles UTC-8. 2026-01-12 is a Monday.
MOMENTS: list[tuple[str, dict[str, date]]] = [
    # The first run, Sunday 14:30 UTC. Tokyo is at Sun 23:30 and Berlin at Sun 15:30: their
    # hour passed, Sunday's digest comes late. Los Angeles is at Sun 06:30: not yet.
    ("2026-01-11T14:30:00Z", {"tokyo": date(2026, 1, 11), "berlin": date(2026, 1, 11)}),
    # Los Angeles Sun 07:05. Tokyo is at Mon 00:05: Monday's hour is still to come.
    ("2026-01-11T15:05:00Z", {"la": date(2026, 1, 11)}),
    # Tokyo Mon 07:10, while it is still Sunday in Berlin and Los Angeles.
    ("2026-01-11T22:10:00Z", {"tokyo": date(2026, 1, 12)}),
    # Berlin Mon 07:05; the weekly reader's Monday 08:00 UTC is not yet.
    ("2026-01-12T07:05:00+01:00", {"berlin": date(2026, 1, 12)}),
    # Monday 08:00 UTC on the dot: the weekly reader; Los Angeles is at Mon 00:00.
    ("2026-01-12T00:00:00-08:00", {"weekly": date(2026, 1, 12)}),
    # Three days without a run. Thursday 15:30 UTC: Berlin (Thu 16:30) and Los Angeles
    # (Thu 07:30) get one digest each, not one a missed day; Tokyo is at Fri 00:30, and
    # its Thursday is over: nothing until Friday 07:00.
    ("2026-01-15T15:30:00Z", {"berlin": date(2026, 1, 15), "la": date(2026, 1, 15)}),
]


def address(reader: str) -> str:
    return f"{reader}@example.org"


@pytest.fixture
def readers(tmp_path: Path, settings: Settings, smtp_server: SmtpServer) -> Settings:
    profiles = tmp_path / "readers.toml"
    profiles.write_text(READERS, encoding="utf-8")
    settings.inbox.mkdir()
    return dataclasses.replace(smtp_server.settings(settings), profiles=profiles)


def run_at(cli: Callable[..., Result], settings: Settings, instant: str) -> dict[str, Any]:
    result = cli("run", "--now", instant, "--json", settings_=settings)
    assert result.exit_code == 0, result.output
    report: dict[str, Any] = json.loads(result.stdout.splitlines()[-1])
    return report


@pytest.mark.slow
def test_four_readers_get_mail_at_their_own_hour_over_six_moments(
    cli: Callable[..., Result], readers: Settings, smtp_server: SmtpServer
) -> None:
    received_before = 0
    for (instant, expected), page in zip(MOMENTS, ARRIVALS, strict=True):
        shutil.copy(page, readers.inbox / page.name)
        report = run_at(cli, readers, instant)

        assert datetime.fromisoformat(report["now"]) == datetime.fromisoformat(instant)
        assert sorted(report["sent"]) == sorted(map(address, expected)), instant
        assert report["nothing_new"] == []
        accepted = smtp_server.log.accepted[received_before:]
        received_before = len(smtp_server.log.accepted)
        assert sorted(a.recipient for a in accepted) == sorted(map(address, expected)), instant
        for mail in accepted:
            # Each digest is of the reader's own local day.
            reader = mail.recipient.partition("@")[0]
            day = expected[reader]
            week = "week of " if reader == "weekly" else ""
            assert f"· {week}{day.day} {day:%b}" in str(mail.message["Subject"]), instant

    engine = make_engine(readers.database_url)
    try:
        with unit_of_work(engine) as session:
            rows = session.execute(
                select(Subscriber.email, Delivery.digest_date, Paper.created_at, Paper.id)
                .join(Delivery, Delivery.subscriber_id == Subscriber.id)
                .join(DeliveryItem, DeliveryItem.delivery_id == Delivery.id)
                .join(Paper, Paper.id == DeliveryItem.paper_id)
            ).all()
    finally:
        engine.dispose()
    served = {
        address(reader): [
            (datetime.fromisoformat(at), day)
            for at, e in MOMENTS
            for r, day in e.items()
            if r == reader
        ]
        for reader in ("tokyo", "berlin", "la", "weekly")
    }
    for email, moments in served.items():
        papers = [(day, as_utc(arrived), paper) for e, day, arrived, paper in rows if e == email]
        ids = [paper for _, _, paper in papers]
        assert len(ids) == len(set(ids)), f"{email} got a paper twice"
        for number, (at, day) in enumerate(moments):
            mine = [arrived for d, arrived, _ in papers if d == day]
            assert mine, (email, day)
            # Only papers that arrived since the reader's previous digest, and by now.
            assert max(mine) <= at
            if number:
                assert min(mine) > moments[number - 1][0]
    weekly = [(arrived, paper) for e, _, arrived, paper in rows if e == address("weekly")]
    # The best of the week, within max_papers, ranked across the week's four pages: not
    # the last page's papers alone.
    assert len(weekly) == 5
    assert len({arrived for arrived, _ in weekly}) > 1


def test_preview_and_rank_show_each_readers_own_day_without_a_date(
    cli: Callable[..., Result], readers: Settings, tmp_path: Path
) -> None:
    """Sunday 22:10 UTC: Monday in Tokyo, still Sunday in Los Angeles, and the weekly
    reader's week began last Monday. Each preview is the digest just sent of the reader's day."""
    shutil.copy(ARRIVALS[0], readers.inbox)
    instant = "2026-01-11T22:10:00Z"
    run_at(cli, readers, instant)
    expected = {"tokyo": "2026-01-12", "la": "2026-01-11", "weekly": "2026-01-05"}
    with time_machine.travel(datetime.fromisoformat(instant), tick=False):
        for reader, day in expected.items():
            result = cli("rank", address(reader), "--json", settings_=readers)
            assert result.exit_code == 0, result.output
            assert json.loads(result.stdout.splitlines()[-1])["date"] == day, reader
        shown = {
            reader: cli(
                "preview", address(reader), "--out", str(tmp_path / reader), settings_=readers
            )
            for reader in ("tokyo", "la")
        }
    # `--out` prints the subject, which names the digest's day.
    assert "· 12 Jan ->" in shown["tokyo"].stdout
    assert "· 11 Jan ->" in shown["la"].stdout


@pytest.mark.slow
def test_a_reader_who_moves_from_los_angeles_to_tokyo_keeps_tokyo_hours_from_the_next_sync(
    cli: Callable[..., Result], readers: Settings, smtp_server: SmtpServer
) -> None:
    assert readers.profiles is not None
    profile = (
        '[[subscriber]]\nemail = "ada@example.org"\nkeywords = {keywords}\ntimezone = "{zone}"\n'
    )
    readers.profiles.write_text(
        profile.format(keywords=KEYWORDS, zone="America/Los_Angeles"), encoding="utf-8"
    )
    shutil.copy(ARRIVALS[0], readers.inbox)
    # Los Angeles, Mon 07:05 (DIGEST_SEND_TIME is 07:00).
    assert run_at(cli, readers, "2026-01-12T15:05:00Z")["sent"] == ["ada@example.org"]

    readers.profiles.write_text(
        profile.format(keywords=KEYWORDS, zone="Asia/Tokyo"), encoding="utf-8"
    )
    shutil.copy(ARRIVALS[1], readers.inbox)
    # Tokyo, Tue 06:00: not yet.
    result = cli("run", "--now", "2026-01-12T21:00:00Z", settings_=readers)
    assert result.exit_code == 0, result.output
    assert "2026-01-12 21:00 UTC: 0 digest(s) sent" in result.stdout
    assert "nobody is due now; 'digest subscribers list' shows when each reader is" in result.stdout
    # Tokyo, Tue 07:05 (Mon 14:05 in Los Angeles, whose digest of Monday was sent).
    assert run_at(cli, readers, "2026-01-12T22:05:00Z")["sent"] == ["ada@example.org"]
    # Los Angeles, Tue 07:05: no longer the reader's hour.
    assert run_at(cli, readers, "2026-01-13T15:05:00Z")["sent"] == []

    first, second = (a.message for a in smtp_server.log.accepted)
    assert "· 12 Jan" in str(first["Subject"])
    assert "· 13 Jan" in str(second["Subject"])


def test_a_reader_with_nothing_new_is_not_planned_again_at_every_check_that_day(
    cli: Callable[..., Result], readers: Settings, smtp_server: SmtpServer
) -> None:
    assert readers.profiles is not None
    readers.profiles.write_text(
        '[[subscriber]]\nemail = "ada@example.org"\nkeywords = ["quasicrystal"]\n'
        'timezone = "Europe/Berlin"\n',
        encoding="utf-8",
    )
    shutil.copy(ARRIVALS[0], readers.inbox)
    # Berlin, 07:05 and 07:10 (DIGEST_SEND_TIME is 07:00), then 07:05 the next day.
    first = run_at(cli, readers, "2026-01-12T06:05:00Z")
    assert (first["sent"], first["nothing_new"]) == ([], ["ada@example.org"])
    assert first["ingest"]["papers_new"] > 0

    shutil.copy(ARRIVALS[1], readers.inbox)
    again = run_at(cli, readers, "2026-01-12T06:10:00Z")
    # Nobody is due: the new page waits for a run where someone is.
    assert (again["nothing_new"], again["ingest"]) == ([], None)

    readers.profiles.write_text(
        readers.profiles.read_text(encoding="utf-8").replace("quasicrystal", "diffusion"),
        encoding="utf-8",
    )
    tomorrow = run_at(cli, readers, "2026-01-13T06:05:00Z")
    assert tomorrow["sent"] == ["ada@example.org"]
    assert tomorrow["ingest"]["pages_new"] == 1
    assert len(smtp_server.log.accepted) == 1


def test_a_weekly_reader_whose_monday_the_service_missed_gets_it_on_wednesday_once(
    cli: Callable[..., Result], readers: Settings, smtp_server: SmtpServer
) -> None:
    assert readers.profiles is not None
    readers.profiles.write_text(
        f'[[subscriber]]\nemail = "ada@example.org"\nkeywords = {KEYWORDS}\n'
        'timezone = "UTC"\nsend_time = "08:00"\nfrequency = "weekly"\n',
        encoding="utf-8",
    )
    shutil.copy(ARRIVALS[0], readers.inbox)
    assert run_at(cli, readers, "2026-01-05T08:05:00Z")["sent"] == ["ada@example.org"]

    # Down from Monday the 12th to Wednesday the 14th at 09:00: that week's digest, late.
    shutil.copy(ARRIVALS[1], readers.inbox)
    assert run_at(cli, readers, "2026-01-14T09:00:00Z")["sent"] == ["ada@example.org"]
    listed = cli("subscribers", "list", "--now", "2026-01-14T09:05:00Z", "--json")
    assert json.loads(listed.stdout.splitlines()[-1])[0]["next_due"] == "2026-01-19T08:00:00+00:00"
    shutil.copy(ARRIVALS[2], readers.inbox)
    # Once: not again that week, however often `serve` looks.
    for instant in ("2026-01-14T09:05:00Z", "2026-01-17T12:00:00Z", "2026-01-19T07:55:00Z"):
        assert run_at(cli, readers, instant)["sent"] == [], instant
    assert run_at(cli, readers, "2026-01-19T08:00:00Z")["sent"] == ["ada@example.org"]

    _, late, next_ = (a.message for a in smtp_server.log.accepted)
    assert "· week of 12 Jan" in str(late["Subject"])
    assert "· week of 19 Jan" in str(next_["Subject"])


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        (["--now", "2026-01-12T07:00"], "has no offset: end it with Z or one like +01:00"),
        (["--now", "tomorrow at 7"], "is not an ISO 8601 date and time"),
        (["--now", "2026-01-12T07:00Z", "--date", "2026-01-12"], "give --date or --now, not both"),
    ],
)
def test_a_bad_instant_is_a_usage_error_and_nothing_runs(
    cli: Callable[..., Result],
    readers: Settings,
    smtp_server: SmtpServer,
    options: list[str],
    problem: str,
) -> None:
    shutil.copy(ARRIVALS[0], readers.inbox)
    result = cli("run", *options, settings_=readers)
    assert result.exit_code == 2
    assert problem in result.output
    assert "digest(s) sent" not in result.output
    assert smtp_server.log.accepted == []
