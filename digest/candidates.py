"""Which stored papers are new for which subscriber on a given day."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import date, timedelta
from operator import attrgetter

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from digest.db import in_chunks
from digest.models import Delivery, DeliveryItem, DeliveryStatus, Paper, Subscriber
from digest.ranking import Document

# Up to this many subscribers are looked up by their ids; more, from the days and papers
# side (see `_previous_digests` and `_sent`).
LOOKUP_BY_ID = 1000
# The interest model learns from at most this many stored papers, the most recent: about
# a year of Hugging Face daily papers, plenty for term weights, while fitting, which is
# linear in the papers, stays the same size as the history grows.
MODEL_PAPERS = 20_000


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


def candidates(
    session: Session, subscribers: Sequence[Subscriber], digest_date: date, lookback_days: int
) -> dict[int, frozenset[int]]:
    """For each subscriber's id, the ids of the papers that are new to them on `digest_date`.

    A paper is new when it was never sent to the subscriber, arrived (`first_seen`) by
    `digest_date`, after their previous digest and within the last `lookback_days` days.
    A digest that failed for good counts as neither: its papers are offered again.

    Subscribers whose window starts on the same day and who were sent none of its papers
    share one frozenset: with 100,000 subscribers, a set each would take gigabytes.
    """
    earliest = digest_date - timedelta(days=lookback_days)
    ids = [s.id for s in subscribers]
    previous = _previous_digests(session, ids, earliest, digest_date)
    since = {subscriber_id: previous.get(subscriber_id, earliest) for subscriber_id in ids}
    window = session.execute(
        select(Paper.id, Paper.first_seen).where(
            Paper.first_seen > min(since.values(), default=earliest),
            Paper.first_seen <= digest_date,
        )
    ).all()
    starting: defaultdict[date, list[int]] = defaultdict(list)
    for subscriber_id, start in since.items():
        starting[start].append(subscriber_id)
    new: dict[int, frozenset[int]] = {}
    for start, members in starting.items():
        papers = frozenset(paper_id for paper_id, first_seen in window if first_seen > start)
        sent = _sent(session, members, papers)
        for subscriber_id in members:
            new[subscriber_id] = papers - sent[subscriber_id] if subscriber_id in sent else papers
    return new


def _previous_digests(
    session: Session, ids: Sequence[int], earliest: date, digest_date: date
) -> dict[int, date]:
    """Each subscriber's latest digest date between `earliest` and `digest_date` (both out).

    An older digest does not matter (the lookback starts later), so history beyond the
    lookback is never read. A few subscribers are looked up by id; many, a day at a time
    from the latest, until each has their day: most subscribers got yesterday's digest,
    so that is usually one day's rows read from the (digest_date, subscriber_id) index.
    """
    found: dict[int, date] = {}
    if len(ids) <= LOOKUP_BY_ID:
        for chunk in in_chunks(ids):
            found.update(
                session.execute(
                    select(Delivery.subscriber_id, func.max(Delivery.digest_date))
                    .where(
                        Delivery.subscriber_id.in_(chunk),
                        Delivery.digest_date > earliest,
                        Delivery.digest_date < digest_date,
                        Delivery.status != DeliveryStatus.FAILED,
                    )
                    .group_by(Delivery.subscriber_id)
                ).all()
            )
        return found
    asked = set(ids)
    day = digest_date - timedelta(days=1)
    while day > earliest and len(found) < len(asked):
        for subscriber_id in session.scalars(
            select(Delivery.subscriber_id).where(
                Delivery.digest_date == day, Delivery.status != DeliveryStatus.FAILED
            )
        ):
            if subscriber_id in asked:
                found.setdefault(subscriber_id, day)
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
