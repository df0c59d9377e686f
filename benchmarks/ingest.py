"""Ingest: `point.papers` synthetic papers, as text-dump pages of 1,000, into SQLite.

Lines, each in a fresh process on its own files:
- digest ingest: `digest.store.ingest` into a freshly migrated SQLite file (parse + store);
- baseline: the same pages parsed by the same parser, their rows written with plain
  `sqlite3` `executemany` into tables with the same unique keys, one transaction per page
  (what the hardware allows for the same work, without SQLAlchemy or enrichment);
- parse only: the parser alone, to show how much of either line is parsing.
"""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, date, datetime
from pathlib import Path

from benchmarks.harness import Measurement, Point, Timing, measure, scratch
from benchmarks.synthetic import Synthetic, write_pages
from digest.db import make_engine, upgrade
from digest.formats import parse_input
from digest.pages import PaperRecord
from digest.store import ingest

STAGE = "ingest"
DAY = date(2026, 3, 2)
PER_PAGE = 1000
# Tables with the keys `papers` and `pages` have: what a plain upsert must check too.
_BASELINE_SCHEMA = """
CREATE TABLE pages (id INTEGER PRIMARY KEY, source TEXT, sha256 TEXT UNIQUE, page_date DATE,
    digest_date DATE, entries INTEGER, papers_new INTEGER, ingested_at TIMESTAMP);
CREATE TABLE papers (id INTEGER PRIMARY KEY, key TEXT UNIQUE, title TEXT, abstract TEXT,
    code_url TEXT, arxiv_id TEXT UNIQUE, authors TEXT, upvotes INTEGER, project_url TEXT,
    published DATE, first_seen DATE, page_id INTEGER REFERENCES pages (id),
    created_at TIMESTAMP);
CREATE INDEX ix_papers_first_seen ON papers (first_seen);
"""


def _pages(point: Point, folder: Path) -> list[Path]:
    return write_pages(folder, Synthetic(point.seed).papers(point.papers), DAY, PER_PAGE)


def digest_ingest(point: Point, folder: Path) -> Timing:
    """`digest.store.ingest` of the pages into a freshly migrated SQLite file."""
    paths = _pages(point, folder / "pages")
    engine = make_engine(f"sqlite:///{folder / 'digest.sqlite3'}")
    upgrade(engine)
    started = time.perf_counter()
    report = ingest(engine, paths, DAY)
    seconds = time.perf_counter() - started
    engine.dispose()
    if report.errors or report.papers_new != point.papers:
        raise RuntimeError(f"ingest went wrong: {report}")
    return Timing(seconds, report.papers_seen, {"pages": report.pages})


def sqlite_executemany(point: Point, folder: Path) -> Timing:
    """Parse each page, then insert its rows with `executemany`, one transaction per page."""
    paths = _pages(point, folder / "pages")
    connection = sqlite3.connect(folder / "plain.sqlite3", isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.executescript(_BASELINE_SCHEMA)
    started = time.perf_counter()
    stored = 0
    for path in paths:
        page = parse_input(path.read_bytes(), path.name, DAY)
        now = datetime.now(UTC).isoformat()
        connection.execute("BEGIN IMMEDIATE")
        page_id = connection.execute(
            "INSERT INTO pages (source, sha256, page_date, digest_date, entries, papers_new,"
            " ingested_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id",
            (
                page.source,
                page.sha256,
                _iso(page.page_date),
                DAY.isoformat(),
                len(page.papers),
                0,
                now,
            ),
        ).fetchone()[0]
        cursor = connection.executemany(
            "INSERT INTO papers (key, title, abstract, code_url, arxiv_id, authors, upvotes,"
            " project_url, published, first_seen, page_id, created_at)"
            " VALUES (?, ?, ?, ?, ?, '[]', ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            [_paper_row(record, page_id, now) for record in page.papers],
        )
        stored += cursor.rowcount
        connection.execute("COMMIT")
    seconds = time.perf_counter() - started
    connection.close()
    if stored != point.papers:
        raise RuntimeError(f"baseline stored {stored} papers, not {point.papers}")
    return Timing(seconds, stored)


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


def _paper_row(record: PaperRecord, page_id: int, now: str) -> tuple[object, ...]:
    return (
        record.key,
        record.title,
        record.abstract,
        record.code_url,
        record.arxiv_id,
        record.upvotes,
        record.project_url,
        _iso(record.published),
        DAY.isoformat(),
        page_id,
        now,
    )


def parse_only(point: Point, folder: Path) -> Timing:
    """The text-dump parser over the same pages, nothing stored."""
    paths = _pages(point, folder / "pages")
    started = time.perf_counter()
    parsed = sum(len(parse_input(p.read_bytes(), p.name, DAY).papers) for p in paths)
    # A part of the stage, not its figure in the JSON summary.
    return Timing(time.perf_counter() - started, parsed, {"headline": False})


def measurements(point: Point, root: Path) -> list[Measurement]:
    """The ingest table's lines at `point` (its papers; subscribers play no part)."""
    scale = f"{point.papers:,} papers"
    lines = [
        ("plain sqlite3 executemany, parse included", sqlite_executemany, True),
        ("digest ingest (parse + store)", digest_ingest, False),
        ("parse only (text dump parser)", parse_only, False),
    ]
    return [
        measure(STAGE, name, scale, "papers", work, point, scratch(root, work.__name__), baseline=b)
        for name, work, b in lines
    ]
