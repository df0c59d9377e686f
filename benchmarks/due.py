"""What `serve` pays to look for due readers, against the run that serves them.

One process builds a SQLite file of S daily readers spread over six zones on both sides
of UTC, with a day of pages in the inbox, and times three things: `run_due` at an instant
when every reader is due (the baseline: sync, ingest, rank, record, write every digest);
then, five minutes later, when nobody is, the check each of serve's ticks makes
(`anyone_due`) and the whole idle cycle (`run_due`), both as before, syncing the
unchanged profile file at every check, and as `serve` now runs it, syncing it only once
its content changed.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from benchmarks.harness import Measurement, Point, Timing, isolated, line
from benchmarks.synthetic import Synthetic, profiles_toml, write_pages
from digest.config import Settings
from digest.db import make_engine, upgrade
from digest.jobs import ProfilesSeen, anyone_due, run_due
from digest.profiles import sync_profiles
from digest.transports import FileTransport

ZONES = (
    "Asia/Tokyo",
    "Europe/Berlin",
    "America/Los_Angeles",
    "UTC",
    "Asia/Kolkata",
    "Australia/Sydney",
)
DAY = date(2026, 3, 2)
# 15:00 UTC: in every zone above, the local day's 00:00 (the readers' send time) has passed.
EVERYONE_DUE = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def _day(point: Point, folder: Path) -> Timing:
    synthetic = Synthetic(point.seed)
    entries = profiles_toml(synthetic.profiles(point.subscribers)).split("[[subscriber]]\n")[1:]
    profiles = folder / "profiles.toml"
    profiles.write_text(
        "\n".join(
            f'[[subscriber]]\n{entry}timezone = "{ZONES[number % len(ZONES)]}"\n'
            for number, entry in enumerate(entries)
        )
    )
    database = f"sqlite:///{folder / 'digest.sqlite3'}"
    engine = make_engine(database)
    upgrade(engine)
    sync_profiles(engine, profiles)
    inbox = folder / "inbox"
    write_pages(inbox, synthetic.papers(point.papers), DAY)
    settings = Settings(
        database_url=database,
        profiles=profiles,
        inbox=inbox,
        outbox=folder / "outbox",
        send_time=datetime.min.time(),
    )
    transport = FileTransport(settings.outbox)
    seen = ProfilesSeen()
    started = time.perf_counter()
    report = run_due(engine, settings, EVERYONE_DUE, transport, parallel=True, seen=seen)
    run_seconds = time.perf_counter() - started
    later = EVERYONE_DUE + timedelta(minutes=5)
    started = time.perf_counter()
    due = anyone_due(engine, settings, later)
    check_seconds = time.perf_counter() - started
    started = time.perf_counter()
    idle = run_due(engine, settings, later, transport)
    idle_seconds = time.perf_counter() - started
    started = time.perf_counter()
    unchanged = run_due(engine, settings, later + timedelta(minutes=5), transport, seen=seen)
    unchanged_seconds = time.perf_counter() - started
    if unchanged.profiles is not None:
        raise RuntimeError("the unchanged profile file should not have been synced again")
    if due or idle.sending.sent or not report.sending.sent:
        raise RuntimeError(f"everyone should have been served once: {report.as_json()}")
    return Timing(
        run_seconds,
        point.subscribers,
        {
            "sent": len(report.sending.sent),
            "check": check_seconds,
            "idle": idle_seconds,
            "unchanged": unchanged_seconds,
        },
    )


def measurements(point: Point, root: Path) -> list[Measurement]:
    """The run that serves everyone, and serve's check and idle cycle after it."""
    timing, peak = isolated(_day, point, root)
    unit = "subscribers"
    run = line("due", "run_due, everyone due", point.label, unit, timing, peak, baseline=True)
    parts = [
        ("check", "serve's check, nobody due"),
        ("idle", "idle cycle syncing the profiles at every check (before)"),
        ("unchanged", "serve's idle cycle, profile file unchanged (hash, check)"),
    ]
    lines = [run]
    for key, variant in parts:
        seconds = timing.extra[key]
        extra = {"of_the_run": round(seconds / timing.seconds, 4), "headline": False}
        lines.append(
            line("due", variant, point.label, unit, Timing(seconds, point.subscribers, extra), peak)
        )
    return lines
