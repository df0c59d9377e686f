"""Plan each subscriber's digest: rank their new papers and say what the email holds."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from digest.candidates import Window, candidates, corpus, documents
from digest.compose import MOST_PAPERS, Digest, entry, make_digest, new_message_id
from digest.config import Settings
from digest.db import in_chunks
from digest.embeddings import Embedder, load_embedder
from digest.errors import NotFoundError
from digest.feedback import UP, recent_votes
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

# A paper sent and not voted on is a weak positive of the subscriber's interest; only the
# most recent ones count (interests drift, and the history of 100,000 subscribers is read
# every day).
SENT_WEIGHT = 0.3
HISTORY_LIMIT = 30
HISTORY_DAYS = 7
# A vote is the reader's own word on a paper, and rare: it counts whatever its age, where
# a paper merely sent counts for a week. Only the latest VOTE_LIMIT of each reader count,
# so that a profile stays a few dozen papers however long they vote and follows them
# when their interests move.
VOTE_LIMIT = 100


@dataclass(frozen=True)
class Votes:
    """A subscriber's latest votes, newest first: the papers they liked and disliked."""

    liked: list[Document]
    disliked: list[Document]

    @property
    def papers(self) -> set[int]:
        """The ids of the papers voted on."""
        return {doc.id for doc in (*self.liked, *self.disliked)}


NO_VOTES = Votes([], [])


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
        entries = [
            entry(papers[p.paper_id], p.score, p.matched, p.because, p.terms, liked=p.liked)
            for p in picks
        ]
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
    library = _library_documents(session, subscribers)
    stored = {doc.id: doc for doc in documents}
    history = history_positives(session, stored, digest_date)
    votes = reader_votes(session, stored)
    interests: list[Interest] = []
    allowed: dict[int, list[int]] = {}
    for number, subscriber in enumerate(subscribers):
        own = _with_library(seeds[subscriber.id], library.get(subscriber.id, []))
        voted = votes.get(subscriber.id, NO_VOTES)
        interests.append(_interest(subscriber, own, history.get(subscriber.id, []), voted))
        # A seed paper or a paper voted on is one the subscriber knows: never a pick for
        # them (a vote may come from a digest that then failed, or from a preview).
        known = {doc.id for doc, _ in own} | voted.papers
        mine = new[subscriber.id] - known if known else new[subscriber.id]
        if len(mine) < len(pool):
            allowed[number] = sorted(position[paper_id] for paper_id in mine)
    picked = model.rank_many(interests, pool, matrix, allowed)
    return {s.id: picks for s, picks in zip(subscribers, picked, strict=True)}


def _interest(
    subscriber: Subscriber,
    seeds: Sequence[tuple[Document, float]],
    positives: Sequence[tuple[Document, float]],
    votes: Votes,
) -> Interest:
    # A vote replaces the weak positive of a paper sent: a disliked paper counts as one
    # no more, a liked one counts as a liked paper.
    voted = votes.papers
    return Interest(
        keywords=subscriber.keywords,
        exclude=subscriber.exclude,
        # An email holds at most MOST_PAPERS, and says so; a paper picked is a paper sent.
        max_papers=min(subscriber.max_papers, MOST_PAPERS),
        min_score=subscriber.min_score,
        seeds=[doc for doc, _ in seeds],
        seed_weights=[weight for _, weight in seeds],
        positives=[(doc, weight) for doc, weight in positives if doc.id not in voted],
        liked=votes.liked,
        disliked=votes.disliked,
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


def _with_library(
    seeds: Sequence[Document], library: Sequence[tuple[Document, float]]
) -> list[tuple[Document, float]]:
    """The profile's own seeds (weight 1), then its library's papers that are not among them."""
    named = {paper_key(doc.title) for doc in seeds}
    return [(doc, 1.0) for doc in seeds] + [
        (doc, weight) for doc, weight in library if paper_key(doc.title) not in named
    ]


def _library_documents(
    session: Session, subscribers: Sequence[Subscriber]
) -> dict[int, list[tuple[Document, float]]]:
    """Each subscriber's library seeds (see digest.library) with their weights: the stored
    paper where one has the seed's arXiv id or title, so that it is never a pick and lends
    its abstract; else the title and abstract the export gave."""
    ids = [s.id for s in subscribers if s.library_sha256]
    read: dict[int, list[dict[str, Any]]] = {}
    for chunk in in_chunks(ids):
        query = select(Subscriber.id, Subscriber.library_seeds).where(Subscriber.id.in_(chunk))
        read.update(session.execute(query).all())
    seeds_read = [seed for seeds in read.values() for seed in seeds]
    by_id = _stored(session, Paper.arxiv_id, {s["arxiv_id"] for s in seeds_read if "arxiv_id" in s})
    by_key = _stored(session, Paper.key, {paper_key(seed["title"]) for seed in seeds_read})
    documents: dict[int, list[tuple[Document, float]]] = {}
    for subscriber_id, seeds in read.items():
        found: list[tuple[Document, float]] = []
        for number, seed in enumerate(seeds, start=1):
            paper = by_id.get(seed.get("arxiv_id", "")) or by_key.get(paper_key(seed["title"]))
            if paper is not None:
                doc = Document(paper.id, paper.title, paper.abstract)
            else:
                # Negative ids, as for a profile's own seeds: a paper that is not stored.
                doc = Document(-number, seed["title"], seed.get("abstract", ""))
            found.append((doc, float(seed["weight"])))
        documents[subscriber_id] = found
    return documents


def _stored(
    session: Session, column: InstrumentedAttribute[Any], values: set[str]
) -> dict[str, Paper]:
    """The stored papers whose `column` (a unique one) holds one of `values`, by that value."""
    return {
        getattr(paper, column.key): paper
        for chunk in in_chunks(sorted(values))
        for paper in session.scalars(select(Paper).where(column.in_(chunk)))
    }


def history_positives(
    session: Session, papers: Mapping[int, Document], before: date
) -> dict[int, list[tuple[Document, float]]]:
    """Papers each subscriber was sent in the HISTORY_DAYS before `before`, newest first (at
    most HISTORY_LIMIT): weak positives of their interest. `papers` are stored ones already
    read (the model's corpus); the others are read here."""
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


def reader_votes(session: Session, papers: Mapping[int, Document]) -> dict[int, Votes]:
    """Each subscriber's latest VOTE_LIMIT votes, by subscriber id. `papers` are stored ones
    already read (the model's corpus); the others are read here."""
    latest = recent_votes(session, VOTE_LIMIT)
    wanted = {paper_id for votes in latest.values() for paper_id, _ in votes}
    read = {doc.id: doc for doc in documents(session, sorted(wanted - papers.keys()))}
    found = {**read, **{paper_id: papers[paper_id] for paper_id in wanted & papers.keys()}}
    return {
        subscriber_id: Votes(
            liked=[found[paper_id] for paper_id, vote in votes if vote == UP],
            disliked=[found[paper_id] for paper_id, vote in votes if vote != UP],
        )
        for subscriber_id, votes in latest.items()
    }


def _papers(session: Session, ids: Sequence[int]) -> dict[int, Paper]:
    """The stored papers `ids`, by id: every subscriber's picks read in one go."""
    return {
        paper.id: paper
        for chunk in in_chunks(ids)
        for paper in session.scalars(select(Paper).where(Paper.id.in_(chunk)))
    }
