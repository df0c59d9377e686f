"""The whole daily cycle: `digest run` for S subscribers and a day of new papers, into the
file transport (one .eml per digest), as the quickstart runs it: a large day is sent from
one process per core (digest.sending.processes). The peak memory is this process's: the other
senders are fresh interpreters of their own.

Each point starts from a migrated SQLite file holding the subscribers (synced from a
profile file) and, for a point with `history_days`, that many earlier days of papers and
sent digests (`benchmarks.history`); then one `run_daily` is timed: sync, ingest the day's
pages, rank, record, compose and write every digest. The first day is the baseline of a
later one: the ratio says what the history costs.
"""

from __future__ import annotations

import time
from datetime import date, timedelta
from pathlib import Path

from benchmarks.harness import Measurement, Point, Timing, measure
from benchmarks.history import fill_history, store_papers
from benchmarks.synthetic import Synthetic, profiles_toml, write_pages
from digest.config import Settings
from digest.db import make_engine, upgrade
from digest.jobs import run_daily
from digest.profiles import sync_profiles
from digest.transports import FileTransport

FIRST_DAY = date(2026, 3, 2)


def _run(point: Point, folder: Path) -> Timing:
    synthetic = Synthetic(point.seed)
    profiles = folder / "profiles.toml"
    profiles.write_text(profiles_toml(synthetic.profiles(point.subscribers)))
    database = f"sqlite:///{folder / 'digest.sqlite3'}"
    engine = make_engine(database)
    upgrade(engine)
    sync_profiles(engine, profiles)
    day = FIRST_DAY + timedelta(days=point.history_days)
    if point.history_days:
        history = [FIRST_DAY + timedelta(days=n) for n in range(point.history_days)]
        store_papers(engine, folder / "history", history, point.papers, point.seed)
        fill_history(engine, history)
    papers = synthetic.papers(point.papers, start=point.history_days * point.papers)
    inbox = folder / "inbox"
    write_pages(inbox, papers, day)
    settings = Settings(
        database_url=database, profiles=profiles, inbox=inbox, outbox=folder / "outbox"
    )
    transport = FileTransport(settings.outbox)
    started = time.perf_counter()
    report = run_daily(engine, settings, day, transport, parallel=True)
    seconds = time.perf_counter() - started
    if not report.ok:
        raise RuntimeError(f"the run did not go well: {report.as_json()}")
    return Timing(
        seconds,
        point.subscribers,
        {"sent": len(report.sending.sent), "papers": report.sending.papers},
    )


def measurements(point: Point, root: Path) -> list[Measurement]:
    """One daily cycle at `point`; a point with history is its own day-1 baseline's pair."""
    unit = "subscribers"
    if not point.history_days:
        return [measure("run", "digest run, day 1", point.label, unit, _run, point, root)]
    first = Point(point.papers, point.subscribers, point.seed)
    later = root / "later"
    later.mkdir()
    return [
        measure("run", "digest run, day 1", point.label, unit, _run, first, root, baseline=True),
        measure(
            "run",
            f"digest run, day {point.history_days + 1} of history",
            point.label,
            unit,
            _run,
            point,
            later,
        ),
    ]
