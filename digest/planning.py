"""Plan each subscriber's digest: rank their new papers and say what the email holds."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from digest.candidates import candidates, corpus
from digest.compose import Digest, Entry, Recipient, new_message_id
from digest.config import Settings
from digest.errors import NotFoundError
from digest.models import Paper, Subscriber
from digest.ranking import Interest, InterestModel, Pick

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Planned:
    """A digest ready to go out: the subscriber, what the email says, and the picks behind it."""

    subscriber_id: int
    digest: Digest
    picks: list[Pick]


def receiving() -> tuple[ColumnElement[bool], ...]:
    """Conditions on Subscriber for who gets mail: listed, not unsubscribed, not suspended."""
    return (
        Subscriber.active.is_(True),
        Subscriber.unsubscribed_at.is_(None),
        Subscriber.suspended_at.is_(None),
    )


def find_subscriber(session: Session, email: str) -> Subscriber:
    """The subscriber with this address, or NotFoundError."""
    subscriber = session.scalar(select(Subscriber).where(Subscriber.email == email.lower()))
    if subscriber is None:
        raise NotFoundError(f"no subscriber {email}; run 'digest subscribers sync' first")
    return subscriber


def plan_digests(
    session: Session, settings: Settings, digest_date: date, subscribers: Sequence[Subscriber]
) -> list[Planned]:
    """Rank the new papers for each subscriber and build their digests (nothing is written)."""
    new = candidates(session, subscribers, digest_date, settings.lookback_days)
    picked = _rank(session, subscribers, new, digest_date)
    planned: list[Planned] = []
    for subscriber in subscribers:
        picks = picked.get(subscriber.id, [])
        if not picks:
            log.info("%s: nothing new on %s, no email", subscriber.email, digest_date)
            continue
        papers = _papers(session, [pick.paper_id for pick in picks])
        entries = [entry(papers[pick.paper_id], pick.score, pick.matched) for pick in picks]
        message_id = new_message_id(settings.sender_address)
        planned.append(
            Planned(subscriber.id, make_digest(subscriber, digest_date, entries, message_id), picks)
        )
    return planned


def _rank(
    session: Session,
    subscribers: Sequence[Subscriber],
    new: dict[int, set[int]],
    digest_date: date,
) -> dict[int, list[Pick]]:
    """Each subscriber's picks among their new papers, on one model fitted to the corpus."""
    fresh = set().union(*new.values())
    if not fresh:
        return {}
    documents = corpus(session, digest_date)
    model = InterestModel(documents, [t for s in subscribers for t in (*s.keywords, *s.exclude)])
    pool = [doc for doc in documents if doc.id in fresh]
    matrix = model.transform(pool)
    position = {doc.id: row for row, doc in enumerate(pool)}
    picked: dict[int, list[Pick]] = {}
    for subscriber in subscribers:
        rows = sorted(position[paper_id] for paper_id in new[subscriber.id])
        picked[subscriber.id] = model.rank(
            _interest(subscriber), [pool[r] for r in rows], matrix[rows]
        )
    return picked


def _interest(subscriber: Subscriber) -> Interest:
    return Interest(
        keywords=subscriber.keywords,
        exclude=subscriber.exclude,
        max_papers=subscriber.max_papers,
        min_score=subscriber.min_score,
    )


def _papers(session: Session, ids: Sequence[int]) -> dict[int, Paper]:
    return {paper.id: paper for paper in session.scalars(select(Paper).where(Paper.id.in_(ids)))}


def entry(paper: Paper, score: float, matched: list[str]) -> Entry:
    """A paper as a digest shows it."""
    return Entry(
        title=paper.title,
        abstract=paper.abstract,
        score=score,
        matched=matched,
        code_url=paper.code_url,
        arxiv_id=paper.arxiv_id,
        authors=tuple(paper.authors or ()),
        upvotes=paper.upvotes,
        project_url=paper.project_url,
    )


def make_digest(
    subscriber: Subscriber, digest_date: date, entries: list[Entry], message_id: str
) -> Digest:
    """A subscriber's digest of `entries` for `digest_date`."""
    return Digest(
        recipient=Recipient(subscriber.email, subscriber.name),
        digest_date=digest_date,
        entries=entries,
        message_id=message_id,
        keywords=list(subscriber.keywords),
    )
