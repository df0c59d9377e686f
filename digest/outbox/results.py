"""What became of a claimed delivery, recorded: sent, deferred or failed.

A delivery deferred waits out an exponential backoff; permanent refusals in a row
suspend its subscriber (DIGEST_SUSPEND_AFTER) until `digest retry --failed`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Engine, bindparam, select, update

from digest.config import Settings
from digest.db import Prepared, unit_of_work
from digest.errors import TransportError
from digest.models import Delivery, DeliveryStatus, Subscriber, utcnow

log = logging.getLogger(__name__)

# The longest a deferred delivery waits before it is due again, in seconds.
MAX_BACKOFF = 3600.0


# Recording a message is the one write per message: prebuilt, and compiled once a round.
_MARK_SENT = (
    update(Delivery)
    .where(Delivery.id == bindparam("delivery"))
    .values(
        status=DeliveryStatus.SENT,
        sent_at=bindparam("now"),
        attempts=Delivery.attempts + bindparam("tries"),
        last_error=None,
        claimed_by=None,
        claimed_at=None,
    )
)
# Usually nothing to reset: the condition makes that a read, not a write.
_RESET_FAILURES = (
    update(Subscriber)
    .where(Subscriber.id == bindparam("subscriber"), Subscriber.consecutive_failures != 0)
    .values(consecutive_failures=0, updated_at=bindparam("now"))
)


class Recorder:
    """Marks deliveries sent, each in its own commit, over one connection kept for the round.

    Taking a pooled connection and executing through SQLAlchemy per message cost five
    times the two single-row UPDATEs themselves, and the write lock was held meanwhile.
    """

    def __init__(self, engine: Engine) -> None:
        self.connection = engine.connect()
        dialect = self.connection.dialect
        self.mark_sent = Prepared(_MARK_SENT, dialect)
        self.reset_failures = Prepared(_RESET_FAILURES, dialect)

    def sent(self, delivery_id: int, subscriber_id: int, tries: int) -> None:
        """Mark one delivery sent, and its subscriber's refusals reset, in one commit."""
        now = utcnow()
        with self.connection.begin():
            self.mark_sent.execute(self.connection, delivery=delivery_id, now=now, tries=tries)
            self.reset_failures.execute(self.connection, subscriber=subscriber_id, now=now)

    def close(self) -> None:
        """Give the connection back."""
        self.connection.close()


@dataclass(frozen=True)
class Failure:
    """A delivery that was not sent, as recorded: deferred or failed, and why."""

    email: str
    error: str
    status: DeliveryStatus
    # Its subscriber reached DIGEST_SUSPEND_AFTER permanent failures in a row with it.
    suspended: bool = False


def record_failure(
    engine: Engine, delivery_id: int, error: TransportError, tries: int, settings: Settings
) -> Failure:
    """Record that delivery `delivery_id` was not sent after `tries`: deferred or failed.

    Deferred on a temporary error, failed on a permanent one; a failure counts towards
    its subscriber's suspension unless the message itself was at fault (too large).
    """
    # A relay that cannot be used (down, TLS or login refused) says nothing about this
    # recipient: the digest stays due and counts against nobody.
    status = (
        DeliveryStatus.DEFERRED if error.temporary or error.connection else DeliveryStatus.FAILED
    )
    with unit_of_work(engine) as session:
        attempts = session.scalar(select(Delivery.attempts).where(Delivery.id == delivery_id))
        attempts = (attempts or 0) + tries
        wait = min(MAX_BACKOFF, settings.retry_backoff * 2 ** min(attempts, 16))
        session.execute(
            update(Delivery)
            .where(Delivery.id == delivery_id)
            .values(
                status=status,
                attempts=attempts,
                last_error=str(error),
                claimed_by=None,
                claimed_at=None,
                next_attempt_at=utcnow() + timedelta(seconds=wait)
                if status == DeliveryStatus.DEFERRED
                else None,
            )
        )
        subscriber = session.scalars(
            select(Subscriber).join(Delivery).where(Delivery.id == delivery_id)
        ).one()
        failure = Failure(subscriber.email, str(error), status)
        if status == DeliveryStatus.DEFERRED:
            log.warning("%s: deferred: %s", subscriber.email, error)
            return failure
        log.error("%s: failed: %s", subscriber.email, error)
        if error.content:  # the message was too large: nothing against the recipient
            return failure
        subscriber.consecutive_failures += 1
        if subscriber.consecutive_failures < settings.suspend_after:
            return failure
        subscriber.suspended_at = utcnow()
        log.error(
            "%s: suspended after %d permanent failures in a row; 'digest retry --failed' resumes",
            subscriber.email,
            subscriber.consecutive_failures,
        )
        return Failure(subscriber.email, str(error), status, suspended=True)
