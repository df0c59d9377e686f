"""Claims: which deliveries are due, and one sender at a time for each.

A sender claims a batch of due deliveries (`SELECT ... FOR UPDATE SKIP LOCKED` on
PostgreSQL), so any number of processes send at once and none sends what another took;
it renews its claims while it works and gives back what it did not try. A claim whose
process is gone, or that is older than DIGEST_CLAIM_TIMEOUT, is dead: its delivery is due
again (see digest.outbox on the crash window).
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from datetime import date, datetime, timedelta

from sqlalchemy import Engine, Select, and_, func, or_, select, update

from digest.config import Settings
from digest.db import read_only, unit_of_work
from digest.models import Delivery, DeliveryStatus, Subscriber, as_utc, utcnow
from digest.planning import receiving

log = logging.getLogger(__name__)

_DUE = (DeliveryStatus.PENDING, DeliveryStatus.DEFERRED)


def claimer() -> str:
    """A name for this process's claims: host, process id and a nonce."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def due_queries(
    up_to: date | None, not_before: datetime | None, tried: set[str]
) -> tuple[Select[int], ...]:
    """The due deliveries of receiving subscribers: the pending ones, then the deferred
    ones, each oldest first.

    One query per state, so that each reads the index on (status, id) in order and stops
    at its limit; one over both states would sort every due delivery at each claim. A
    deferred one waits for its backoff when `not_before` is given; one deferred in this
    round (its subscriber in `tried`) waits for the next round in any case.
    """
    pending = Delivery.status == DeliveryStatus.PENDING
    deferred = Delivery.status == DeliveryStatus.DEFERRED
    if not_before is not None:
        deferred = and_(
            deferred,
            or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= not_before),
        )
    if tried:
        deferred = and_(deferred, Subscriber.email.not_in(tried))
    queries = []
    for state in (pending, deferred):
        query = select(Delivery.id).join(Subscriber).where(state, *receiving())
        if up_to is not None:
            query = query.where(Delivery.digest_date <= up_to)
        queries.append(query.order_by(Delivery.id))
    return tuple(queries)


def claim_batch(
    engine: Engine,
    me: str,
    size: int,
    up_to: date | None = None,
    not_before: datetime | None = None,
    tried: set[str] | None = None,
) -> list[int]:
    """Claim up to `size` due deliveries for this process, the oldest first; their ids.

    Core statements on a connection, not a session: the ORM's handling of them took as
    long again, with SQLite's write lock held.
    """
    with engine.begin() as connection:
        # SKIP LOCKED lets concurrent senders each take other rows; SQLite has no row locks
        # and serializes writers (BEGIN IMMEDIATE) instead, so the clause is left out there.
        # Rows of one state that a batch has no room for stay due, for the next claim.
        found = [
            delivery_id
            for query in due_queries(up_to, not_before, tried or set())
            for delivery_id in connection.scalars(
                query.limit(size).with_for_update(skip_locked=True, of=Delivery)
            )
        ]
        ids = sorted(found)[:size]
        if ids:
            connection.execute(
                update(Delivery)
                .where(Delivery.id.in_(ids))
                .values(status=DeliveryStatus.SENDING, claimed_by=me, claimed_at=utcnow())
            )
        return ids


def count_due(engine: Engine, up_to: date | None) -> int:
    """Deliveries still to send (of days up to `up_to`): pending or deferred, whatever
    their backoff."""
    query = select(func.count()).select_from(Delivery).where(Delivery.status.in_(_DUE))
    if up_to is not None:
        query = query.where(Delivery.digest_date <= up_to)
    with read_only(engine) as session:
        return session.scalar(query) or 0


def release(engine: Engine, me: str) -> None:
    """Give back what this process claimed and did not try (after a stop or an error)."""
    with unit_of_work(engine) as session:
        session.execute(
            update(Delivery)
            .where(Delivery.claimed_by == me, Delivery.status == DeliveryStatus.SENDING)
            .values(status=DeliveryStatus.PENDING, claimed_by=None, claimed_at=None)
        )


def release_after_error(engine: Engine, me: str) -> None:
    """`release`, while another error is on its way up: that error is the one to show.

    A full disk, say, fails the release too; its error would replace the first one. The
    claims it could not give back are taken over once stale (DIGEST_CLAIM_TIMEOUT), or at
    once by the next run on this host, since this process will be gone.
    """
    try:
        release(engine, me)
    except Exception as error:
        log.warning("could not give back this process's claims as well: %s", error)


def renew(engine: Engine, me: str) -> None:
    """Renew the lease of this process's claims: it is still working on them."""
    with unit_of_work(engine) as session:
        session.execute(
            update(Delivery)
            .where(Delivery.claimed_by == me, Delivery.status == DeliveryStatus.SENDING)
            .values(claimed_at=utcnow())
        )


def recover_interrupted(engine: Engine, settings: Settings) -> list[int]:
    """Put back deliveries whose sender died mid-send (see the module's note); their ids."""
    now = utcnow()
    recovered: list[int] = []
    with unit_of_work(engine) as session:
        for delivery in session.scalars(
            select(Delivery).where(Delivery.status == DeliveryStatus.SENDING)
        ):
            if not _is_dead(delivery.claimed_by, delivery.claimed_at, now, settings):
                continue
            delivery.status = DeliveryStatus.PENDING
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
