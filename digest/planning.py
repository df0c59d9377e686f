"""Plan each subscriber's digest: rank their new papers and say what the email holds."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from digest.candidates import Window, candidates, corpus, documents
from digest.compose import MOST_PAPERS, Digest, entry, make_digest, new_message_id
from digest.config import Settings
from digest.db import in_chunks
from digest.embeddings import Embedder, load_embedder
from digest.errors import NotFoundError
from digest.models import (
    Delivery,
    DeliveryItem,
    DeliveryStatus,
    Frequency,
    Paper,
    Subscriber,
)
from digest.pages import paper_key
from digest.ranking import Document, Interest, InterestModel, Pick

log = logging.getLogger(__name__)

# A paper sent and not disliked is a weak positive of the subscriber's interest; only the
# most recent ones count (interests drift, and the history of 100,000 subscribers is read
# every day).
SENT_WEIGHT = 0.3
HISTORY_LIMIT = 30
HISTORY_DAYS = 7


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
    session: Session,
    settings: Settings,
    digest_date: date,
    subscribers: Sequence[Subscriber],
    window: Window | None = None,
) -> list[Planned]:
    """Rank each subscriber's new papers in `window` (every paper of `digest_date` and
    before, if not given) and build their digests of `digest_date` (nothing is written)."""
    new = candidates(session, subscribers, digest_date, settings.lookback_days, window)
    picked = _rank(session, subscribers, new, digest_date, load_embedder(settings.embeddings))
    papers = _papers(session, sorted({p.paper_id for picks in picked.values() for p in picks}))
    planned: list[Planned] = []
    for subscriber in subscribers:
        picks = picked.get(subscriber.id, [])
        if not picks:
            log.info("%s: nothing new on %s, no email", subscriber.email, digest_date)
            continue
        entries = [entry(papers[p.paper_id], p.score, p.matched, p.because, p.terms) for p in picks]
        message_id = new_message_id(settings.id_domain)
        weekly = subscriber.frequency == Frequency.WEEKLY
        digest = make_digest(subscriber, digest_date, entries, message_id, weekly=weekly)
        planned.append(Planned(subscriber.id, digest, picks))
    return planned


def _rank(
    session: Session,
    subscribers: Sequence[Subscriber],
    new: Mapping[int, frozenset[int]],
    digest_date: date,
    embedder: Embedder | None,
) -> dict[int, list[Pick]]:
    """Each subscriber's picks among their new papers: one model fitted to the corpus, all
    subscribers scored together."""
    # Subscribers with the same window share one candidate set: each is read once.
    fresh = set().union(*{id(ids): ids for ids in new.values()}.values())
    if not fresh:
        return {}
    documents = corpus(session, digest_date, fresh)
    # Each distinct term once: thousands of subscribers share most of their keywords.
    terms = {t for s in subscribers for t in (*s.keywords, *s.exclude)}
    model = InterestModel(documents, terms, embedder)
    rows = [row for row, doc in enumerate(documents) if doc.id in fresh]
    pool = [documents[row] for row in rows]
    matrix = model.corpus_matrix[rows]
    position = {doc.id: row for row, doc in enumerate(pool)}
    seeds = _seed_documents(session, subscribers)
    history = history_positives(session, {doc.id: doc for doc in documents}, digest_date)
    interests: list[Interest] = []
    allowed: dict[int, list[int]] = {}
    for number, subscriber in enumerate(subscribers):
        interests.append(
            _interest(subscriber, seeds[subscriber.id], history.get(subscriber.id, []))
        )
        # A seed paper is one the subscriber knows: never a pick for them.
        mine = new[subscriber.id]
        if seeds[subscriber.id]:
            mine = mine - {doc.id for doc in seeds[subscriber.id]}
        if len(mine) < len(pool):
            allowed[number] = sorted(position[paper_id] for paper_id in mine)
    picked = model.rank_many(interests, pool, matrix, allowed)
    return {s.id: picks for s, picks in zip(subscribers, picked, strict=True)}


def _interest(
    subscriber: Subscriber,
    seeds: Sequence[Document],
    positives: Sequence[tuple[Document, float]],
) -> Interest:
    return Interest(
        keywords=subscriber.keywords,
        exclude=subscriber.exclude,
        # An email holds at most MOST_PAPERS, and says so; a paper picked is a paper sent.
        max_papers=min(subscriber.max_papers, MOST_PAPERS),
        min_score=subscriber.min_score,
        seeds=seeds,
        positives=positives,
    )


def _seed_documents(
    session: Session, subscribers: Sequence[Subscriber]
) -> dict[int, list[Document]]:
    """Each subscriber's seed papers: as given inline, or the stored paper of that title."""
    wanted = {paper_key(seed["title"]) for s in subscribers for seed in s.seeds or []}
    stored = {}
    if wanted:
        stored = {p.key: p for p in session.scalars(select(Paper).where(Paper.key.in_(wanted)))}
    documents: dict[int, list[Document]] = {}
    for subscriber in subscribers:
        found: list[Document] = []
        for number, seed in enumerate(subscriber.seeds or [], start=1):
            if seed.get("abstract"):
                found.append(Document(-number, seed["title"], seed["abstract"]))
            elif (paper := stored.get(paper_key(seed["title"]))) is not None:
                found.append(Document(paper.id, paper.title, paper.abstract))
            else:
                log.warning(
                    "%s: seed %r is not a stored paper; give its abstract in the profile",
                    subscriber.email,
                    seed["title"],
                )
        documents[subscriber.id] = found
    return documents


def history_positives(
    session: Session, papers: Mapping[int, Document], before: date
) -> dict[int, list[tuple[Document, float]]]:
    """Papers each subscriber was sent in the HISTORY_DAYS before `before`, newest first (at
    most HISTORY_LIMIT): weak positives of their interest. `papers` are stored ones already
    read (the model's corpus); the others are read here.

    The hook for feedback, which is not recorded yet: a paper marked as liked would count
    here as a strong positive (weight 1), one marked as disliked not at all.
    """
    rows = session.execute(
        select(DeliveryItem.subscriber_id, DeliveryItem.paper_id)
        .join(Delivery, DeliveryItem.delivery_id == Delivery.id)
        .where(
            Delivery.status == DeliveryStatus.SENT,
            Delivery.digest_date < before,
            Delivery.digest_date >= before - timedelta(days=HISTORY_DAYS),
        )
        .order_by(Delivery.digest_date.desc(), DeliveryItem.rank)
    )
    sent: dict[int, list[int]] = {}
    for subscriber_id, paper_id in rows:
        kept = sent.setdefault(subscriber_id, [])
        if len(kept) < HISTORY_LIMIT:
            kept.append(paper_id)
    wanted = {paper_id for ids in sent.values() for paper_id in ids}
    read = {doc.id: doc for doc in documents(session, sorted(wanted - papers.keys()))}
    return {
        subscriber_id: [
            (papers.get(paper_id) or read[paper_id], SENT_WEIGHT)
            for paper_id in ids
            if paper_id in papers or paper_id in read
        ]
        for subscriber_id, ids in sent.items()
    }


def _papers(session: Session, ids: Sequence[int]) -> dict[int, Paper]:
    """The stored papers `ids`, by id: every subscriber's picks read in one go."""
    return {
        paper.id: paper
        for chunk in in_chunks(ids)
        for paper in session.scalars(select(Paper).where(Paper.id.in_(chunk)))
    }
