"""Delivery history for benchmarks, and the database's side of a day's run on top of it.

`fill_history` writes N days of what a real installation keeps: per day and subscriber, a
sent delivery with 10 papers first seen that day. It is bulk SQL (`INSERT ... SELECT`), so
30 days for 100,000 subscribers (30 million items) are written in minutes.

`measurements` times, on day 1 (no history) and on the day after `point.history_days` of
it, the two database steps of planning and recording a day's digests: `candidates()` for
every subscriber, and `record_planned` (the writing half of `enqueue`) of 10 papers each.
Ranking is left out: it is the run benchmark's.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import Date, DateTime, Engine, TextClause, bindparam, func, insert, select, text

from benchmarks.harness import Measurement, Point, Timing, isolated, line, scratch
from benchmarks.synthetic import Synthetic, write_pages
from digest.candidates import candidates
from digest.compose import Digest, Recipient
from digest.db import make_engine, unit_of_work, upgrade
from digest.models import Delivery, DeliveryItem, Subscriber, utcnow
from digest.outbox.record import record_planned
from digest.planning import Planned, receiving
from digest.ranking import Pick
from digest.store import ingest

FIRST_DAY = date(2026, 3, 2)
ITEMS = 10
LOOKBACK_DAYS = 7
DEFAULT_HISTORY_DAYS = 30

# The papers first seen on one day, numbered from 0: the items' picks index into it.
_DAY_PAPERS = """
CREATE TEMPORARY TABLE bench_day_papers (n INTEGER PRIMARY KEY, paper_id INTEGER NOT NULL)
"""
_NUMBER_DAY_PAPERS = """
INSERT INTO bench_day_papers (n, paper_id)
SELECT ROW_NUMBER() OVER (ORDER BY id) - 1, id FROM papers WHERE first_seen = :day
"""
_DELIVERIES = """
INSERT INTO deliveries (subscriber_id, digest_date, status, message_id, subject, attempts,
    created_at, sent_at)
SELECT id, :day, 'sent', '<bench.' || id || '.' || :label || '@bench.example>',
    'Papers for ' || :label, 1, :at, :at
FROM subscribers
"""
# Subscriber s gets papers (37 s + stride r) mod count for ranks r = 1..10: distinct for one
# subscriber (the stride is prime to the count, see _stride), spread across the day's papers.
_ITEMS = """
INSERT INTO delivery_items (delivery_id, subscriber_id, paper_id, rank, score, matched,
    because, terms)
WITH RECURSIVE ranks (r) AS (SELECT 1 UNION ALL SELECT r + 1 FROM ranks WHERE r < :items)
SELECT d.id, d.subscriber_id, p.paper_id, ranks.r, 1.0 / ranks.r, {empty}, {empty}, {empty}
FROM deliveries AS d
CROSS JOIN ranks
JOIN bench_day_papers AS p ON p.n = (d.subscriber_id * 37 + ranks.r * :stride) % :count
WHERE d.digest_date = :day
"""


def fill_history(engine: Engine, days: Sequence[date], items: int = ITEMS) -> int:
    """Record, for each of `days`, a sent delivery of `items` papers first seen that day for
    every subscriber; the number of items written. Papers and subscribers must be stored.
    """
    empty = "'[]'" if engine.dialect.name == "sqlite" else "CAST('[]' AS JSON)"
    typed = {"day": Date(), "at": DateTime(timezone=True)}
    written = 0
    with engine.begin() as connection:
        if engine.dialect.name == "sqlite":
            # The indexes of a growing history then mostly stay in memory (1 GB of pages).
            connection.exec_driver_sql("PRAGMA cache_size=-1048576")
        connection.execute(text(_DAY_PAPERS))
        for day in days:
            connection.execute(text("DELETE FROM bench_day_papers"))
            connection.execute(
                text(_NUMBER_DAY_PAPERS).bindparams(bindparam("day", type_=Date())), {"day": day}
            )
            count = connection.scalar(text("SELECT COUNT(*) FROM bench_day_papers")) or 0
            if count < items:
                raise ValueError(f"{day}: {count} papers stored, {items} needed per delivery")
            at = {"day": day, "label": day.isoformat(), "at": utcnow()}
            connection.execute(_typed(_DELIVERIES, typed), at)
            result = connection.execute(
                _typed(_ITEMS.format(empty=empty), typed),
                {"day": day, "items": items, "count": count, "stride": _stride(count)},
            )
            written += result.rowcount
        connection.execute(text("DROP TABLE bench_day_papers"))
    return written


def _stride(count: int) -> int:
    """The first number from 101 prime to `count`: ranks that many papers apart never meet.

    (101 alone is not: a day of 909 distinct papers gave one subscriber a paper twice.)
    """
    stride = 101
    while math.gcd(stride, count) != 1:
        stride += 1
    return stride


def _typed(sql: str, types: dict[str, Date | DateTime]) -> TextClause:
    statement = text(sql)
    return statement.bindparams(
        *(bindparam(name, type_=kind) for name, kind in types.items() if f":{name}" in sql)
    )


def store_papers(
    engine: Engine, folder: Path, days: Sequence[date], per_day: int, seed: int
) -> int:
    """Ingest `per_day` synthetic papers on each of `days`, as pages; how many were new."""
    synthetic = Synthetic(seed)
    stored = 0
    for number, day in enumerate(days):
        papers = synthetic.papers(per_day, start=number * per_day)
        report = ingest(engine, write_pages(folder / day.isoformat(), papers, day), day)
        if report.errors:
            raise RuntimeError(f"{day}: {report}")
        stored += report.papers_new
    return stored


def store_subscribers(engine: Engine, count: int, seed: int) -> None:
    """`count` synthetic subscribers, written in bulk (a profile sync does one by one)."""
    now = utcnow()
    rows = [
        {
            "email": profile.email,
            "name": "",
            "keywords": dict.fromkeys(profile.keywords, 1.0),
            "exclude": [],
            "seeds": [],
            "max_papers": ITEMS,
            "min_score": 0.0,
            "active": True,
            "consecutive_failures": 0,
            "created_at": now,
            "updated_at": now,
        }
        for profile in Synthetic(seed).profiles(count)
    ]
    with engine.begin() as connection:
        connection.execute(insert(Subscriber), rows)


def build(point: Point, folder: Path) -> Timing:
    """A migrated SQLite file in `folder`: `point.history_days + 1` days of papers, the
    subscribers, and the history of all days but the last; times the history alone."""
    engine = make_engine(f"sqlite:///{folder / 'digest.sqlite3'}")
    upgrade(engine)
    days = [FIRST_DAY + timedelta(days=n) for n in range(point.history_days + 1)]
    store_papers(engine, folder / "pages", days, point.papers, point.seed)
    store_subscribers(engine, point.subscribers, point.seed)
    started = time.perf_counter()
    written = fill_history(engine, days[:-1])
    seconds = time.perf_counter() - started
    engine.dispose()
    return Timing(seconds, written)


def _measured_day(point: Point) -> date:
    return FIRST_DAY + timedelta(days=point.history_days)


def time_candidates(point: Point, folder: Path) -> Timing:
    """`candidates()` for every receiving subscriber on the measured day."""
    engine = make_engine(f"sqlite:///{folder / 'digest.sqlite3'}")
    with unit_of_work(engine) as session:
        subscribers = session.scalars(select(Subscriber).where(*receiving())).all()
        started = time.perf_counter()
        new = candidates(session, subscribers, _measured_day(point), LOOKBACK_DAYS)
        seconds = time.perf_counter() - started
    engine.dispose()
    per = sorted(len(papers) for papers in new.values())
    return Timing(seconds, len(subscribers), {"median_candidates": per[len(per) // 2]})


def time_record(point: Point, folder: Path) -> Timing:
    """`record_planned` of a digest of 10 new papers for every subscriber, measured day."""
    engine = make_engine(f"sqlite:///{folder / 'digest.sqlite3'}")
    day = _measured_day(point)
    with unit_of_work(engine) as session:
        subscribers = session.scalars(select(Subscriber).where(*receiving())).all()
        new = candidates(session, subscribers, day, LOOKBACK_DAYS)
        planned = [_planned(s, day, sorted(new[s.id])[:ITEMS]) for s in subscribers]
        started = time.perf_counter()
        recorded = record_planned(session, day, planned)
        seconds = time.perf_counter() - started
    with unit_of_work(engine) as session:
        items = session.scalar(
            select(func.count())
            .select_from(DeliveryItem)
            .join(Delivery)
            .where(Delivery.digest_date == day)
        )
    engine.dispose()
    if len(recorded) != len(subscribers):
        raise RuntimeError(f"recorded {len(recorded)} of {len(subscribers)} digests")
    return Timing(seconds, len(recorded), {"items": items})


def _planned(subscriber: Subscriber, day: date, papers: list[int]) -> Planned:
    digest = Digest(
        recipient=Recipient(subscriber.email, subscriber.name),
        digest_date=day,
        entries=[],
        message_id=f"<bench.{subscriber.id}.{day}@bench.example>",
        keywords=list(subscriber.keywords),
    )
    picks = [Pick(paper_id=p, score=0.5, matched=["bench"]) for p in papers]
    return Planned(subscriber.id, digest, picks)


def measurements(point: Point, root: Path) -> list[Measurement]:
    """Day 1 against the day after `point.history_days` (30 if 0) days of history: the
    candidate query and the recording of the day's digests, and the history filler."""
    days = point.history_days or DEFAULT_HISTORY_DAYS
    scale = f"{point.subscribers:,} subscribers x {point.papers:,} papers/day"
    lines: list[Measurement] = []
    for history in (0, days):
        at = Point(point.papers, point.subscribers, point.seed, history)
        folder = scratch(root, f"history-{history}")
        filled, peak = isolated(build, at, folder)
        if history:
            lines.append(
                line("history", f"fill {history} days (bulk SQL)", scale, "items", filled, peak)
            )
        day = f"day {history + 1}"
        for stage, work, unit in (
            ("candidates", time_candidates, "subscribers"),
            ("enqueue", time_record, "digests"),
        ):
            timing, peak = isolated(work, at, folder)
            name = f"{work.__name__.removeprefix('time_')}, {day}"
            lines.append(line(stage, name, scale, unit, timing, peak, baseline=not history))
    return lines
