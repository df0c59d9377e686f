"""Which stored papers are new for which subscriber in a digest."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from operator import attrgetter

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from digest.db import in_chunks
from digest.models import (
    Delivery,
    DeliveryItem,
    DeliveryStatus,
    Frequency,
    Paper,
    Subscriber,
    as_utc,
    utcnow,
)
from digest.ranking import Document

# Up to this many subscribers are looked up by their ids; more, from the days and papers
# side (see `_previous_digests` and `_sent`).
LOOKUP_BY_ID = 1000
# The interest model learns from at most this many stored papers, the most recent: about
# a year of Hugging Face daily papers, plenty for term weights, while fitting, which is
# linear in the papers, stays the same size as the history grows.
MODEL_PAPERS = 20_000
DAYS_IN_A_WEEK = 7


def corpus(session: Session, digest_date: date, include: Collection[int] = ()) -> list[Document]:
    """The papers the interest model learns term weights from, in id order: the
    MODEL_PAPERS stored most recently by `digest_date`, and those of `include` (the day's
    candidates) whatever their age."""
    recent = session.execute(
        select(Paper.id, Paper.title, Paper.abstract)
        .where(Paper.first_seen <= digest_date)
        .order_by(Paper.first_seen.desc(), Paper.id.desc())
        .limit(MODEL_PAPERS)
    )
    papers = [Document(row.id, row.title, row.abstract) for row in recent]
    papers += documents(session, sorted(set(include) - {paper.id for paper in papers}))
    return sorted(papers, key=attrgetter("id"))


def documents(session: Session, ids: Sequence[int]) -> list[Document]:
    """The stored papers of `ids` (those that exist), as the interest model reads them."""
    return [
        Document(row.id, row.title, row.abstract)
        for chunk in in_chunks(ids)
        for row in session.execute(
            select(Paper.id, Paper.title, Paper.abstract).where(Paper.id.in_(chunk))
        )
    ]


@dataclass(frozen=True)
class Window:
    """The papers a digest is chosen from: stored by the instant `until`, of a logical day
    up to `through` (papers are stored as of a day, `Paper.first_seen`, at an instant,
    `Paper.created_at`). Recorded with each digest: the next one starts where it ends."""

    through: date
    until: datetime

    @classmethod
    def of_day(cls, day: date) -> Window:
        """Every paper of `day` and before, as stored now."""
        return cls(day, utcnow())


# A subscriber's previous digest: the logical day and the instant its papers ran up to (no
# instant in a digest recorded before windows were: it covered its day, whenever stored).
_Previous = tuple[date, datetime | None]


def first_lookback(subscriber: Subscriber, lookback_days: int) -> int:
    """How many days a digest with no previous one looks back: a weekly one, a week at least."""
    weekly = subscriber.frequency == Frequency.WEEKLY
    return max(lookback_days, DAYS_IN_A_WEEK) if weekly else lookback_days


def candidates(
    session: Session,
    subscribers: Sequence[Subscriber],
    digest_date: date,
    lookback_days: int,
    window: Window | None = None,
) -> dict[int, frozenset[int]]:
    """For each subscriber's id, the ids of the papers that are new to them in their digest
    of `digest_date`, chosen from `window` (all stored papers of `digest_date` and before,
    if not given).

    A paper is new when it was never sent to the subscriber, is in the window, within its
    last `lookback_days` days (a week at least for a weekly reader, see `first_lookback`),
    and outside their previous digest's window: stored after it, or of a later day. A
    digest that failed for good counts as neither: its papers are offered again.

    Subscribers whose window starts at the same place and who were sent none of its
    papers share one frozenset: with 100,000 subscribers, a set each would take gigabytes.
    """
    window = window or Window.of_day(digest_date)
    ids = [s.id for s in subscribers]
    earliest = {
        s.id: window.through - timedelta(days=first_lookback(s, lookback_days)) for s in subscribers
    }
    low = min(earliest.values(), default=window.through)
    previous = _previous_digests(session, ids, low, digest_date)
    stored = session.execute(
        select(Paper.id, Paper.first_seen, Paper.created_at).where(
            Paper.first_seen > low,
            Paper.first_seen <= window.through,
            Paper.created_at <= window.until,
        )
    ).all()
    starting: defaultdict[tuple[date, _Previous | None], list[int]] = defaultdict(list)
    for subscriber_id in ids:
        starting[earliest[subscriber_id], previous.get(subscriber_id)].append(subscriber_id)
    new: dict[int, frozenset[int]] = {}
    for (start, before), members in starting.items():
        papers = frozenset(
            paper_id
            for paper_id, first_seen, created_at in stored
            if first_seen > start and not _covered(before, first_seen, created_at)
        )
        sent = _sent(session, members, papers)
        for subscriber_id in members:
            new[subscriber_id] = papers - sent[subscriber_id] if subscriber_id in sent else papers
    return new


def _covered(previous: _Previous | None, first_seen: date, created_at: datetime) -> bool:
    """Whether a paper was in the window of the previous digest."""
    if previous is None:
        return False
    through, until = previous
    return first_seen <= through and (until is None or as_utc(created_at) <= as_utc(until))


def _previous_digests(
    session: Session, ids: Sequence[int], earliest: date, digest_date: date
) -> dict[int, _Previous]:
    """Each subscriber's latest digest between `earliest` and `digest_date` (both out): where
    its window ended.

    An older digest does not matter (its window ends before the lookback starts), so
    history beyond the lookback is never read. A few subscribers are looked up by id;
    many, a day at a time from the latest, until each has their day: most subscribers got
    yesterday's digest, so that is usually one day's rows read from the (digest_date,
    subscriber_id) index.
    """
    columns = (
        Delivery.subscriber_id,
        Delivery.digest_date,
        Delivery.papers_through,
        Delivery.papers_until,
    )
    found: dict[int, _Previous] = {}
    if len(ids) <= LOOKUP_BY_ID:
        for chunk in in_chunks(ids):
            rows = session.execute(
                select(*columns)
                .where(
                    Delivery.subscriber_id.in_(chunk),
                    Delivery.digest_date > earliest,
                    Delivery.digest_date < digest_date,
                    Delivery.status != DeliveryStatus.FAILED,
                )
                .order_by(Delivery.digest_date)
            )
            for subscriber_id, day, through, until in rows:
                found[subscriber_id] = (through or day, until)
        return found
    asked = set(ids)
    day = digest_date - timedelta(days=1)
    while day > earliest and len(found) < len(asked):
        for subscriber_id, _, through, until in session.execute(
            select(*columns).where(
                Delivery.digest_date == day, Delivery.status != DeliveryStatus.FAILED
            )
        ):
            if subscriber_id in asked:
                found.setdefault(subscriber_id, (through or day, until))
        day -= timedelta(days=1)
    return found


def _sent(session: Session, members: Sequence[int], papers: frozenset[int]) -> dict[int, set[int]]:
    """Which of `papers` were sent to which of `members` (only those sent any).

    A few subscribers are looked up through the unique (subscriber_id, paper_id) index,
    within the papers' id range; many, through the (paper_id, subscriber_id) index, the
    papers' items alone: either way the rest of the history is not read.
    """
    sent: defaultdict[int, set[int]] = defaultdict(set)
    if not papers or not members:
        return sent
    if len(members) <= LOOKUP_BY_ID:
        low, high = min(papers), max(papers)
        for chunk in in_chunks(members):
            rows = session.execute(
                select(DeliveryItem.subscriber_id, DeliveryItem.paper_id).where(
                    DeliveryItem.subscriber_id.in_(chunk),
                    DeliveryItem.paper_id.between(low, high),
                    _not_failed(),
                )
            )
            for subscriber_id, paper_id in rows:
                if paper_id in papers:
                    sent[subscriber_id].add(paper_id)
        return sent
    wanted = set(members)
    for chunk in in_chunks(sorted(papers)):
        rows = session.execute(
            select(DeliveryItem.subscriber_id, DeliveryItem.paper_id).where(
                DeliveryItem.paper_id.in_(chunk), _not_failed()
            )
        )
        for subscriber_id, paper_id in rows:
            if subscriber_id in wanted:
                sent[subscriber_id].add(paper_id)
    return sent


def _not_failed() -> ColumnElement[bool]:
    """A condition on DeliveryItem: its delivery did not fail for good (the failed ones are
    few, read through the (status, id) index)."""
    return DeliveryItem.delivery_id.not_in(
        select(Delivery.id).where(Delivery.status == DeliveryStatus.FAILED)
    )
