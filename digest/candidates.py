"""Which stored papers are new for which subscriber on a given day."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from digest.models import Delivery, DeliveryItem, Paper, Subscriber
from digest.ranking import Document


def corpus(session: Session, digest_date: date) -> list[Document]:
    """Every paper stored by `digest_date`: what the interest model learns term weights from."""
    rows = session.execute(
        select(Paper.id, Paper.title, Paper.abstract)
        .where(Paper.first_seen <= digest_date)
        .order_by(Paper.id)
    )
    return [Document(id=row.id, title=row.title, abstract=row.abstract) for row in rows]


def candidates(
    session: Session, subscribers: Sequence[Subscriber], digest_date: date, lookback_days: int
) -> dict[int, set[int]]:
    """For each subscriber's id, the ids of the papers that are new to them on `digest_date`.

    A paper is new when it was never sent to the subscriber, arrived (`first_seen`) by
    `digest_date`, after their previous digest and within the last `lookback_days` days.
    """
    earliest = digest_date - timedelta(days=lookback_days)
    previous = dict(
        session.execute(
            select(Delivery.subscriber_id, func.max(Delivery.digest_date))
            .where(Delivery.digest_date < digest_date)
            .group_by(Delivery.subscriber_id)
        ).all()
    )
    since = {s.id: max(earliest, previous.get(s.id, earliest)) for s in subscribers}
    in_window = (
        Paper.first_seen > min(since.values(), default=earliest),
        Paper.first_seen <= digest_date,
    )
    window = session.execute(select(Paper.id, Paper.first_seen).where(*in_window)).all()
    sent: defaultdict[int, set[int]] = defaultdict(set)
    for subscriber_id, paper_id in session.execute(
        select(DeliveryItem.subscriber_id, DeliveryItem.paper_id).join(Paper).where(*in_window)
    ):
        sent[subscriber_id].add(paper_id)
    return {
        subscriber_id: {
            row.id for row in window if row.first_seen > start and row.id not in sent[subscriber_id]
        }
        for subscriber_id, start in since.items()
    }
