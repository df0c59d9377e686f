"""Store parsed pages: one row per page, one row per distinct paper."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from sqlalchemy import Engine, insert, select
from sqlalchemy.orm import Session

from digest.config import Settings
from digest.db import unit_of_work
from digest.errors import PageError
from digest.formats import parse_input
from digest.models import Page, Paper
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

    def as_json(self) -> dict[str, object]:
        """The report as plain data; errors keep their file and line."""
        return {
            "pages": self.pages,
            "pages_new": self.pages_new,
            "papers_seen": self.papers_seen,
            "papers_new": self.papers_new,
            "errors": [
                {"source": e.source, "line": e.line, "error": e.problem} for e in self.errors
            ],
        }

    def __str__(self) -> str:
        return (
            f"{self.pages} page(s) read ({self.pages_new} new), {self.papers_seen} paper "
            f"entries, {self.papers_new} new paper(s), {len(self.errors)} error(s)"
        )


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
        try:
            if isinstance(item, PageError):
                raise item
            parsed = parse_input(item.read(max_bytes), item.source, digest_date)
            with unit_of_work(engine) as session:
                new = store_page(session, parsed, digest_date)
        except PageError as error:
            log.error("%s", error)
            report.errors.append(error)
            continue
        report.pages += 1
        report.pages_new += new is not None
        report.papers_seen += len(parsed.papers)
        report.papers_new += new or 0
    return report


def store_page(session: Session, page: ParsedPage, digest_date: date) -> int | None:
    """Record `page` and its papers not stored yet; the count of new papers, None if seen."""
    if session.scalar(select(Page.id).where(Page.sha256 == page.sha256)) is not None:
        log.info("%s: already ingested, skipped", page.source)
        return None
    unique: dict[str, PaperRecord] = {}
    for paper in page.papers:
        unique.setdefault(paper.key, paper)
    known = set(session.scalars(select(Paper.key).where(Paper.key.in_(unique))))
    fresh = [paper for key, paper in unique.items() if key not in known]
    row = Page(
        source=page.source,
        sha256=page.sha256,
        page_date=page.page_date,
        digest_date=digest_date,
        entries=len(page.papers),
        papers_new=len(fresh),
    )
    session.add(row)
    session.flush()
    if fresh:
        session.execute(
            insert(Paper),
            [
                {
                    "key": paper.key,
                    "title": paper.title,
                    "abstract": paper.abstract,
                    "code_url": paper.code_url,
                    "first_seen": digest_date,
                    "page_id": row.id,
                }
                for paper in fresh
            ],
        )
    log.info("%s: %d papers, %d new", page.source, len(page.papers), len(fresh))
    return len(fresh)
