"""Store parsed pages: one row per page, one row per distinct paper."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from digest.config import Settings
from digest.db import insert_ignoring_conflicts, unit_of_work
from digest.errors import PageError
from digest.formats import parse_input
from digest.limits import PAGE_SOURCE
from digest.models import Page, Paper, utcnow
from digest.pages import PaperRecord, ParsedPage
from digest.sources import find_inputs

log = logging.getLogger(__name__)
DEFAULT_MAX_PAGE_BYTES = Settings().max_page_bytes


@dataclass
class IngestReport:
    """What an ingest did, for people (`str`) and scripts (`as_json`)."""

    pages: int = 0
    pages_new: int = 0
    papers_seen: int = 0
    papers_new: int = 0
    errors: list[PageError] = field(default_factory=list)
    # Entries left out of pages that went in (a withdrawn paper, a field too long).
    skipped: list[PageError] = field(default_factory=list)

    def as_json(self) -> dict[str, object]:
        """The report as plain data; errors and skipped entries keep their file and line."""
        return {
            "pages": self.pages,
            "pages_new": self.pages_new,
            "papers_seen": self.papers_seen,
            "papers_new": self.papers_new,
            "errors": [_as_json(e) for e in self.errors],
            "skipped": [_as_json(e) for e in self.skipped],
        }

    def add_error(self, error: PageError) -> None:
        """Record, and log, an input that could not be ingested."""
        log.error("%s", error)
        self.errors.append(error)

    def __str__(self) -> str:
        skipped = f", {len(self.skipped)} entries skipped" if self.skipped else ""
        return (
            f"{self.pages} page(s) read ({self.pages_new} new), {self.papers_seen} paper "
            f"entries, {self.papers_new} new paper(s){skipped}, {len(self.errors)} error(s)"
        )


def _as_json(error: PageError) -> dict[str, object]:
    return {"source": error.source, "line": error.line, "error": error.problem}


def ingest(
    engine: Engine,
    paths: Iterable[str | Path],
    digest_date: date,
    max_bytes: int = DEFAULT_MAX_PAGE_BYTES,
) -> IngestReport:
    """Ingest every page under `paths` as of the logical day `digest_date`.

    Each page is parsed whole before anything is stored and stored in its own transaction,
    so a bad page is reported and skipped while the others still go in.
    """
    report = IngestReport()
    for item in find_inputs(paths):
        if isinstance(item, PageError):
            report.add_error(item)
            continue
        try:
            data = item.read(max_bytes)
        except PageError as error:
            report.add_error(error)
            continue
        ingest_data(engine, data, item.source, digest_date, report)
    return report


def ingest_data(
    engine: Engine, data: bytes, source: str, digest_date: date, report: IngestReport
) -> None:
    """Parse one input whole, then store it in one transaction; problems go to `report`."""
    try:
        parsed = parse_input(data, source, digest_date)
        with unit_of_work(engine) as session:
            new = store_page(session, parsed, digest_date)
    except PageError as error:
        report.add_error(error)
        return
    report.pages += 1
    report.pages_new += new is not None
    if new is not None:  # a page seen before had its entries reported then
        for skipped in parsed.skipped:
            log.warning("%s", skipped)
        report.skipped += parsed.skipped
    report.papers_seen += len(parsed.papers)
    report.papers_new += new or 0


def store_page(session: Session, page: ParsedPage, digest_date: date) -> int | None:
    """Record `page` and its papers not stored yet; the count of new papers, None if seen.

    A paper is known by its arXiv id when it has one, else by its normalized title; a
    paper first seen without an id (a text dump) gets it, and the other metadata it lacked,
    when a richer source lists it.
    """
    unique: dict[str, PaperRecord] = {}
    for record in page.papers:
        unique.setdefault(record.key, record)
    ids = {r.arxiv_id for r in unique.values() if r.arxiv_id}
    by_id = {
        p.arxiv_id: p
        for p in session.scalars(select(Paper).where(Paper.arxiv_id.in_(ids)))
        if p.arxiv_id is not None
    }
    by_key = {p.key: p for p in session.scalars(select(Paper).where(Paper.key.in_(unique)))}
    fresh: dict[str, PaperRecord] = {}
    claimed: set[str] = set(by_id)
    for key, record in unique.items():
        known = (by_id.get(record.arxiv_id) if record.arxiv_id else None) or by_key.get(key)
        if known is not None:
            _enrich(known, record, claimed)
            continue
        if record.arxiv_id in claimed:  # the id belongs to another title: leave it there
            record = replace(record, arxiv_id=None)
        elif record.arxiv_id:
            claimed.add(record.arxiv_id)
        fresh[key] = record
    now = utcnow()
    page_id = session.scalar(
        insert_ignoring_conflicts(session, Page)
        .values(
            # The source is only a label (a path, a URL): a longer one is cut to fit.
            source=page.source[:PAGE_SOURCE],
            sha256=page.sha256,
            page_date=page.page_date,
            digest_date=digest_date,
            entries=len(page.papers),
            papers_new=len(fresh),
            ingested_at=now,
        )
        .returning(Page.id)
    )
    if page_id is None:  # the same content was ingested before (or just now, elsewhere)
        log.info("%s: already ingested, skipped", page.source)
        return None
    if fresh:
        # One executemany through the core Connection: the ORM's bulk insert path costs
        # several times the database's own work on a page of a thousand papers.
        session.connection().execute(
            insert_ignoring_conflicts(session, Paper),
            [_row(key, record, digest_date, page_id, now) for key, record in fresh.items()],
        )
    log.info("%s: %d papers, %d new", page.source, len(page.papers), len(fresh))
    return len(fresh)


def _row(
    key: str, record: PaperRecord, digest_date: date, page_id: int, now: datetime
) -> dict[str, object]:
    return {
        "key": key,
        "title": record.title,
        "abstract": record.abstract,
        "code_url": record.code_url,
        "arxiv_id": record.arxiv_id,
        "authors": list(record.authors),
        "upvotes": record.upvotes,
        "project_url": record.project_url,
        "published": record.published,
        "first_seen": digest_date,
        "page_id": page_id,
        "created_at": now,
    }


def _enrich(paper: Paper, record: PaperRecord, claimed: set[str]) -> None:
    """Fill in what a stored paper lacks from another source's record of it."""
    if paper.arxiv_id is None and record.arxiv_id and record.arxiv_id not in claimed:
        paper.arxiv_id = record.arxiv_id
        claimed.add(record.arxiv_id)
    if not paper.authors and record.authors:
        paper.authors = list(record.authors)
    if record.upvotes is not None and (paper.upvotes or 0) < record.upvotes:
        paper.upvotes = record.upvotes
    paper.code_url = paper.code_url or record.code_url
    paper.project_url = paper.project_url or record.project_url
    paper.published = paper.published or record.published
