"""The outbox: every digest is recorded before it is sent, claimed while it is sent, and
ends `sent`, `deferred` (try again later) or `failed` (the relay said no for good).

A delivery moves pending -> sending -> sent | deferred | failed, one commit per step, so a
crash leaves at most the one message a process was sending in `sending`. That row is
ambiguous: the relay may or may not have taken it before the crash. It is sent again once
its claim is known to be dead (its process is gone, or the claim is older than
DIGEST_CLAIM_TIMEOUT), with the same Message-ID, which mail clients use to fold the rare
duplicate: a duplicate is better than a digest lost for good.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from email.errors import MessageError
from email.message import EmailMessage

from sqlalchemy import Engine, Select, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from digest.compose import Composer, Digest
from digest.config import Settings
from digest.db import unit_of_work
from digest.errors import TransportError
from digest.models import Delivery, DeliveryItem, Subscriber, as_utc, utcnow
from digest.planning import entry, make_digest, plan_digests, receiving
from digest.transports import Transport

log = logging.getLogger(__name__)

PENDING, SENDING, SENT, DEFERRED, FAILED = "pending", "sending", "sent", "deferred", "failed"
STATES = (PENDING, SENDING, SENT, DEFERRED, FAILED)
_DUE = (PENDING, DEFERRED)


@dataclass
class SendReport:
    """What a round of sending did, by subscriber address."""

    sent: list[str] = field(default_factory=list)
    deferred: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    suspended: list[str] = field(default_factory=list)
    papers: int = 0
    stopped: str | None = None
    left: int = 0


def enqueue(engine: Engine, settings: Settings, digest_date: date) -> list[str]:
    """Plan and record, as pending, the day's digest of every receiving subscriber without one.

    Returns the addresses that had nothing new. A digest another process recorded first
    (two runs at once) is left to it.
    """
    with unit_of_work(engine) as session:
        waiting = session.scalars(
            select(Subscriber)
            .where(
                *receiving(),
                ~Subscriber.id.in_(
                    select(Delivery.subscriber_id).where(Delivery.digest_date == digest_date)
                ),
            )
            .order_by(Subscriber.id)
        ).all()
        planned = plan_digests(session, settings, digest_date, waiting)
        for plan in planned:
            try:
                with session.begin_nested():
                    delivery = Delivery(
                        subscriber_id=plan.subscriber_id,
                        digest_date=digest_date,
                        status=PENDING,
                        message_id=plan.digest.message_id,
                        subject=plan.digest.subject,
                    )
                    session.add(delivery)
                    session.flush()
                    session.add_all(
                        DeliveryItem(
                            delivery_id=delivery.id,
                            subscriber_id=plan.subscriber_id,
                            paper_id=pick.paper_id,
                            rank=rank,
                            score=pick.score,
                            matched=pick.matched,
                        )
                        for rank, pick in enumerate(plan.picks, start=1)
                    )
            except IntegrityError:
                log.info(
                    "%s: digest of %s already recorded", plan.digest.recipient.email, digest_date
                )
        chosen = {plan.subscriber_id for plan in planned}
        return [s.email for s in waiting if s.id not in chosen]


def with_contents() -> Select[tuple[Delivery]]:
    """Deliveries with their subscriber and papers loaded."""
    return select(Delivery).options(
        selectinload(Delivery.subscriber),
        selectinload(Delivery.items).selectinload(DeliveryItem.paper),
    )


def stored_digest(delivery: Delivery) -> Digest:
    """The digest a recorded delivery holds, rebuilt from its items (same Message-ID)."""
    entries = [entry(item.paper, item.score, item.matched) for item in delivery.items]
    return make_digest(delivery.subscriber, delivery.digest_date, entries, delivery.message_id)


def send_due(
    engine: Engine,
    settings: Settings,
    transport: Transport,
    composer: Composer,
    up_to: date,
) -> SendReport:
    """Send every due delivery (pending or deferred) of receiving subscribers up to `up_to`.

    Each message is claimed in the database first, so two processes never send the same
    one; temporary failures are retried with exponential backoff, then deferred. When the
    relay itself cannot be used the round stops and the rest stays due for the next run.
    """
    report = SendReport()
    recover_interrupted(engine, settings)
    with unit_of_work(engine) as session:
        ids = session.scalars(
            select(Delivery.id)
            .join(Subscriber)
            .where(Delivery.status.in_(_DUE), Delivery.digest_date <= up_to, *receiving())
            .order_by(Delivery.id)
        ).all()
    me = _claimer()
    try:
        for position, delivery_id in enumerate(ids):
            claimed = _claim(engine, delivery_id, me)
            if claimed is None:
                continue
            email, digest = claimed
            tries = 0
            try:
                message = _compose(composer, digest, settings)
                for attempt in _retrying(settings):
                    with attempt:
                        tries += 1
                        transport.send(message)
            except TransportError as error:
                _record_failure(engine, delivery_id, error, tries, settings, report)
                if error.connection:
                    report.stopped = str(error)
                    report.left = len(ids) - position - 1
                    log.error("stopped sending, %d digest(s) left due: %s", report.left, error)
                    break
                continue
            _record_sent(engine, delivery_id, tries)
            report.sent.append(email)
            report.papers += len(digest.entries)
            log.info("%s: sent %s", email, digest.subject)
    finally:
        transport.close()
    return report


def _compose(composer: Composer, digest: Digest, settings: Settings) -> EmailMessage:
    """The message; an address or name the mail format cannot carry fails this one only."""
    try:
        return composer.compose(digest, datetime.now(settings.timezone))
    except (ValueError, MessageError) as exc:  # email's header defects are ValueErrors
        raise TransportError(
            f"cannot write a message to {digest.recipient.email!r}: {exc}", temporary=False
        ) from None


def _retrying(settings: Settings) -> Retrying:
    return Retrying(
        stop=stop_after_attempt(settings.retry_attempts),
        wait=wait_exponential(multiplier=settings.retry_backoff, max=300),
        retry=retry_if_exception(lambda e: isinstance(e, TransportError) and e.temporary),
        reraise=True,
    )


def _claimer() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _claim(engine: Engine, delivery_id: int, me: str) -> tuple[str, Digest] | None:
    """Take a due delivery for this process; None when another process has it or sent it."""
    with unit_of_work(engine) as session:
        taken = session.execute(
            update(Delivery)
            .where(Delivery.id == delivery_id, Delivery.status.in_(_DUE))
            .values(status=SENDING, claimed_by=me, claimed_at=utcnow())
        )
        if taken.rowcount != 1:
            return None
        delivery = session.scalars(with_contents().where(Delivery.id == delivery_id)).one()
        return delivery.subscriber.email, stored_digest(delivery)


def _record_sent(engine: Engine, delivery_id: int, tries: int) -> None:
    with unit_of_work(engine) as session:
        session.execute(
            update(Delivery)
            .where(Delivery.id == delivery_id)
            .values(
                status=SENT,
                sent_at=utcnow(),
                attempts=Delivery.attempts + tries,
                last_error=None,
                claimed_by=None,
                claimed_at=None,
            )
        )
        session.execute(
            update(Subscriber)
            .where(
                Subscriber.id
                == select(Delivery.subscriber_id)
                .where(Delivery.id == delivery_id)
                .scalar_subquery()
            )
            .values(consecutive_failures=0)
        )


def _record_failure(
    engine: Engine,
    delivery_id: int,
    error: TransportError,
    tries: int,
    settings: Settings,
    report: SendReport,
) -> None:
    # A relay that cannot be used (down, TLS or login refused) says nothing about this
    # recipient: the digest stays due and counts against nobody.
    status = DEFERRED if error.temporary or error.connection else FAILED
    with unit_of_work(engine) as session:
        session.execute(
            update(Delivery)
            .where(Delivery.id == delivery_id)
            .values(
                status=status,
                attempts=Delivery.attempts + tries,
                last_error=str(error),
                claimed_by=None,
                claimed_at=None,
            )
        )
        delivery = session.scalars(with_contents().where(Delivery.id == delivery_id)).one()
        subscriber = delivery.subscriber
        if status == DEFERRED:
            report.deferred.append((subscriber.email, str(error)))
            log.warning("%s: deferred: %s", subscriber.email, error)
            return
        report.failed.append((subscriber.email, str(error)))
        log.error("%s: failed: %s", subscriber.email, error)
        subscriber.consecutive_failures += 1
        if subscriber.consecutive_failures >= settings.suspend_after:
            subscriber.suspended_at = utcnow()
            report.suspended.append(subscriber.email)
            log.error(
                "%s: suspended after %d permanent failures in a row; 'digest retry --failed' "
                "resumes",
                subscriber.email,
                subscriber.consecutive_failures,
            )


def recover_interrupted(engine: Engine, settings: Settings) -> list[int]:
    """Put back deliveries whose sender died mid-send (see the module's note); their ids."""
    now = utcnow()
    recovered: list[int] = []
    with unit_of_work(engine) as session:
        for delivery in session.scalars(select(Delivery).where(Delivery.status == SENDING)):
            if not _is_dead(delivery.claimed_by, delivery.claimed_at, now, settings):
                continue
            delivery.status = PENDING
            delivery.last_error = (
                f"the send by {delivery.claimed_by} was interrupted; it may have been delivered"
            )
            delivery.claimed_by = delivery.claimed_at = None
            recovered.append(delivery.id)
            log.warning("delivery %d: interrupted send, sending again", delivery.id)
    return recovered


def _is_dead(
    claimed_by: str | None, claimed_at: datetime | None, now: datetime, settings: Settings
) -> bool:
    """A claim is dead when it is too old, or its process on this host is gone."""
    if claimed_by is None or claimed_at is None:
        return True
    if as_utc(claimed_at) < now - timedelta(seconds=settings.claim_timeout):
        return True
    host, _, rest = claimed_by.partition(":")
    pid = rest.partition(":")[0]
    return host == socket.gethostname() and pid.isdigit() and not _alive(int(pid))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


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
    with unit_of_work(engine) as session:
        query = with_contents().order_by(Delivery.digest_date, Delivery.id)
        if digest_date is not None:
            query = query.where(Delivery.digest_date == digest_date)
        rows = session.scalars(query).all()
        deliveries = [
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
    counts = dict.fromkeys(STATES, 0)
    for d in deliveries:
        counts[str(d["status"])] += 1
    return Status(counts, deliveries, list(suspended))


def retry(engine: Engine, *, failed: bool = False, digest_date: date | None = None) -> int:
    """Make deferred (and, with `failed`, failed) deliveries due again; how many.

    Retrying failed deliveries also lifts their subscribers' suspension.
    """
    states: Sequence[str] = (DEFERRED, FAILED) if failed else (DEFERRED,)
    with unit_of_work(engine) as session:
        query = select(Delivery).where(Delivery.status.in_(states))
        if digest_date is not None:
            query = query.where(Delivery.digest_date == digest_date)
        rows = session.scalars(query).all()
        for delivery in rows:
            delivery.status = PENDING
        if failed:
            session.execute(
                update(Subscriber)
                .where(Subscriber.id.in_({d.subscriber_id for d in rows}))
                .values(suspended_at=None, consecutive_failures=0)
            )
        return len(rows)
