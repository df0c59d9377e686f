"""Feedback on papers: the signed "more / less like this" links, the votes they record.

Each link is signed for one subscriber, one paper and one vote, so it can cast nothing
else. The last vote per subscriber and paper stands; casting the same one again changes
nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from digest.errors import NotFoundError
from digest.models import Paper, Subscriber, Vote, as_utc, utcnow
from digest.tokens import Signer, TokenError

UP, DOWN = "up", "down"
VOTES = (UP, DOWN)


def vote_signer(secret: str, previous: str | None = None) -> Signer:
    """The signer of vote links (`previous` only checks)."""
    return Signer("vote", secret, previous)


@dataclass(frozen=True)
class Ballot:
    """What one vote link casts: this subscriber's vote on this paper."""

    email: str
    paper_id: int
    vote: str

    def token(self, signer: Signer) -> str:
        """The signed token of this ballot, for a link."""
        return signer.sign(f"{self.vote}:{self.paper_id}:{self.email}".encode())

    @classmethod
    def read(cls, signer: Signer, token: str) -> Ballot:
        """The ballot a token casts; TokenError unless a vote link of ours."""
        vote, _, rest = signer.check(token).decode("utf-8").partition(":")
        paper_id, _, email = rest.partition(":")
        if vote not in VOTES or not paper_id.isdigit() or not email:
            raise TokenError("not a vote token")
        return cls(email, int(paper_id), vote)


@dataclass(frozen=True)
class Standing:
    """A paper as a subscriber's vote link shows it, and their vote on it so far."""

    paper: Paper
    vote: str | None
    voted_at: datetime | None


@dataclass(frozen=True)
class VoteRecord:
    """One stored vote, as `digest feedback list` shows it."""

    email: str
    title: str
    arxiv_id: str | None
    vote: str
    at: datetime

    def as_json(self) -> dict[str, str | None]:
        """The vote as plain data for scripts."""
        return {
            "email": self.email,
            "title": self.title,
            "arxiv_id": self.arxiv_id,
            "vote": self.vote,
            "at": self.at.isoformat(),
        }


def standing(session: Session, ballot: Ballot) -> Standing:
    """The ballot's paper and the subscriber's vote on it; NotFoundError if either is gone."""
    subscriber_id, paper = _subscriber_and_paper(session, ballot)
    vote = session.scalar(
        select(Vote).where(Vote.subscriber_id == subscriber_id, Vote.paper_id == paper.id)
    )
    if vote is None:
        return Standing(paper, None, None)
    return Standing(paper, vote.vote, as_utc(vote.voted_at))


def record_vote(session: Session, ballot: Ballot) -> bool:
    """Cast the ballot's vote, replacing any other on the paper; True if that changed it.

    NotFoundError when the subscriber or the paper is no longer stored.
    """
    subscriber_id, paper = _subscriber_and_paper(session, ballot)
    current = session.scalar(
        select(Vote.vote).where(Vote.subscriber_id == subscriber_id, Vote.paper_id == paper.id)
    )
    if current == ballot.vote:
        return False
    statement = _insert(session).values(
        subscriber_id=subscriber_id, paper_id=paper.id, vote=ballot.vote, voted_at=utcnow()
    )
    # An upsert, not a read then a write: two clicks at once must not collide on the
    # unique (subscriber, paper) constraint.
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[Vote.subscriber_id, Vote.paper_id],
            set_={"vote": statement.excluded.vote, "voted_at": statement.excluded.voted_at},
        )
    )
    return True


def recent_votes(session: Session, limit: int) -> dict[int, list[tuple[int, str]]]:
    """Each subscriber's `limit` latest votes, newest first, as (paper id, vote), by
    subscriber id: one read of the votes table for every subscriber."""
    newest = (
        func.row_number()
        .over(partition_by=Vote.subscriber_id, order_by=(Vote.voted_at.desc(), Vote.id.desc()))
        .label("newest")
    )
    ranked = select(Vote.subscriber_id, Vote.paper_id, Vote.vote, newest).subquery()
    rows = session.execute(
        select(ranked.c.subscriber_id, ranked.c.paper_id, ranked.c.vote)
        .where(ranked.c.newest <= limit)
        .order_by(ranked.c.subscriber_id, ranked.c.newest)
    )
    votes: dict[int, list[tuple[int, str]]] = {}
    for subscriber_id, paper_id, vote in rows:
        votes.setdefault(subscriber_id, []).append((paper_id, vote))
    return votes


def list_votes(session: Session, email: str | None = None) -> list[VoteRecord]:
    """Every stored vote (or `email`'s), oldest first; NotFoundError for an unknown address."""
    query = (
        select(Subscriber.email, Paper.title, Paper.arxiv_id, Vote.vote, Vote.voted_at)
        .join(Subscriber, Vote.subscriber_id == Subscriber.id)
        .join(Paper, Vote.paper_id == Paper.id)
        .order_by(Vote.voted_at, Vote.id)
    )
    if email is not None:
        if session.scalar(select(Subscriber.id).where(Subscriber.email == email.lower())) is None:
            raise NotFoundError(f"no subscriber {email}")
        query = query.where(Subscriber.email == email.lower())
    return [
        VoteRecord(row.email, row.title, row.arxiv_id, row.vote, as_utc(row.voted_at))
        for row in session.execute(query)
    ]


def _subscriber_and_paper(session: Session, ballot: Ballot) -> tuple[int, Paper]:
    subscriber_id = session.scalar(
        select(Subscriber.id).where(Subscriber.email == ballot.email.lower())
    )
    paper = session.get(Paper, ballot.paper_id)
    if subscriber_id is None or paper is None:
        raise NotFoundError("the subscriber or the paper of this vote link is no longer stored")
    return subscriber_id, paper


def _insert(session: Session) -> postgresql.Insert | sqlite.Insert:
    # Both dialects spell the upsert alike, but each has its own Insert.
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(Vote)
    return sqlite.insert(Vote)
