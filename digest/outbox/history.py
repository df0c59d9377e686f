"""The outbox read back: a recorded digest, the status of every delivery, retrying."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Engine, Select, select, update
from sqlalchemy.orm import selectinload

from digest.compose import Digest, entry, make_digest
from digest.db import read_only, unit_of_work
from digest.models import Delivery, DeliveryItem, DeliveryStatus, Frequency, Subscriber, as_utc


def with_contents() -> Select[Delivery]:
    """Deliveries with their subscriber and papers loaded."""
    return select(Delivery).options(
        selectinload(Delivery.subscriber),
        selectinload(Delivery.items).selectinload(DeliveryItem.paper),
    )


def stored_digest(delivery: Delivery) -> Digest:
    """The digest a recorded delivery holds, rebuilt from its items (same Message-ID)."""
    entries = [
        entry(item.paper, item.score, item.matched, item.because, item.terms, liked=item.liked)
        for item in delivery.items
    ]
    weekly = delivery.subscriber.frequency == Frequency.WEEKLY
    return make_digest(
        delivery.subscriber, delivery.digest_date, entries, delivery.message_id, weekly=weekly
    )


@dataclass
class Status:
    """The outbox at a glance: a count per state and every delivery with its fate."""

    counts: dict[str, int]
    deliveries: list[dict[str, object]]
    suspended: list[str]

    def as_json(self) -> dict[str, object]:
        """Counts per state (and suspended subscribers), and the deliveries."""
        return {
            **self.counts,
            "suspended": len(self.suspended),
            "deliveries": self.deliveries,
            "suspended_subscribers": self.suspended,
        }


def status(engine: Engine, digest_date: date | None = None) -> Status:
    """What was sent, deferred, failed (with reasons), and who is suspended."""
    with read_only(engine) as session:
        query = with_contents().order_by(Delivery.digest_date, Delivery.id)
        if digest_date is not None:
            query = query.where(Delivery.digest_date == digest_date)
        rows = session.scalars(query).all()
        deliveries: list[dict[str, object]] = [
            {
                "email": d.subscriber.email,
                "date": d.digest_date.isoformat(),
                "status": d.status,
                "papers": len(d.items),
                "attempts": d.attempts,
                "message_id": d.message_id,
                "sent_at": as_utc(d.sent_at).isoformat() if d.sent_at else None,
                "error": d.last_error,
            }
            for d in rows
        ]
        suspended = session.scalars(
            select(Subscriber.email)
            .where(Subscriber.suspended_at.is_not(None))
            .order_by(Subscriber.email)
        ).all()
    counts: dict[str, int] = dict.fromkeys(DeliveryStatus, 0)
    for d in deliveries:
        counts[str(d["status"])] += 1
    return Status(counts, deliveries, list(suspended))


def retry(engine: Engine, *, failed: bool = False, digest_date: date | None = None) -> int:
    """Make deferred (and, with `failed`, failed) deliveries due again; how many.

    Retrying failed deliveries also lifts their subscribers' suspension.
    """
    states = (
        (DeliveryStatus.DEFERRED, DeliveryStatus.FAILED) if failed else (DeliveryStatus.DEFERRED,)
    )
    with unit_of_work(engine) as session:
        # A failed delivery whose papers all went into a later digest has nothing to send.
        query = select(Delivery).where(Delivery.status.in_(states), Delivery.items.any())
        if digest_date is not None:
            query = query.where(Delivery.digest_date == digest_date)
        rows = session.scalars(query).all()
        for delivery in rows:
            delivery.status = DeliveryStatus.PENDING
            delivery.next_attempt_at = None
        if failed:
            session.execute(
                update(Subscriber)
                .where(Subscriber.id.in_({d.subscriber_id for d in rows}))
                .values(suspended_at=None, consecutive_failures=0)
            )
        return len(rows)
