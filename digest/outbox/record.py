"""Recording the day's digests as pending deliveries, before any mail is sent.

Each digest is recorded with its papers, scores, matched terms and Message-ID; the
unique (subscriber, paper) constraint forbids recording a paper twice for one subscriber.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import date, datetime
from json.encoder import encode_basestring_ascii

from sqlalchemy import ColumnElement, Connection, Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from digest.candidates import Window
from digest.config import Settings
from digest.db import in_chunks, insert_ignoring_conflicts, read_only, unit_of_work
from digest.models import Delivery, DeliveryItem, DeliveryStatus, Subscriber, utcnow
from digest.planning import Planned, plan_digests, receiving
from digest.rhythm import due_now, logical_day, on_day

log = logging.getLogger(__name__)


# Who has a digest in a run, among the receiving subscribers: by the local day it is of.
Chooser = Callable[[Session, Sequence[Subscriber]], dict[date, list[Subscriber]]]


def enqueue(engine: Engine, settings: Settings, digest_date: date) -> list[str]:
    """Plan and record, as pending, the digest of the logical day `digest_date` of every
    receiving subscriber with one that day and none recorded yet, whatever the hour.

    Returns the addresses that had nothing new (see `enqueue_chosen`).
    """

    def everyone(session: Session, waiting: Sequence[Subscriber]) -> dict[date, list[Subscriber]]:
        return {digest_date: on_day(session, settings, waiting, digest_date)}

    return enqueue_chosen(engine, settings, Window.of_day(digest_date), everyone)


def enqueue_due(engine: Engine, settings: Settings, now: datetime) -> list[str]:
    """Plan and record, as pending, the digest of every receiving subscriber due at `now`
    (see digest.rhythm), from the papers stored by then.

    Returns the addresses that had nothing new (see `enqueue_chosen`).
    """

    def due(session: Session, waiting: Sequence[Subscriber]) -> dict[date, list[Subscriber]]:
        return due_now(session, settings, waiting, now)

    return enqueue_chosen(engine, settings, Window(logical_day(settings, now), now), due)


def enqueue_chosen(
    engine: Engine, settings: Settings, window: Window, choose: Chooser
) -> list[str]:
    """Plan and record, as pending, the digest of every receiving subscriber `choose` picks,
    each of the day `choose` says, from the papers of `window`.

    Returns the addresses that had nothing new. Ranking reads a snapshot and writes
    nothing, so it holds no lock: an unsubscribe, a status or a sender meanwhile goes
    ahead. The digests are then recorded a batch at a time, each batch in a short
    transaction that records only subscribers still receiving and still without a digest
    of the day (one unsubscribed meanwhile gets none; one another process recorded first,
    two runs at once, is left to it).
    """
    nothing_new: list[str] = []
    with read_only(engine) as session:
        receivers = session.scalars(
            select(Subscriber).where(*receiving()).order_by(Subscriber.id)
        ).all()
        chosen = choose(session, receivers)
        plans: list[tuple[date, list[Planned]]] = []
        for day, waiting in sorted(chosen.items()):
            planned = plan_digests(session, settings, day, waiting, window)
            plans.append((day, planned))
            with_digest = {plan.subscriber_id for plan in planned}
            nothing_new += [s.email for s in waiting if s.id not in with_digest]
    for day, planned in plans:
        for first in range(0, len(planned), RECORD_BATCH):
            batch = planned[first : first + RECORD_BATCH]
            with unit_of_work(engine) as session:
                still = set(
                    session.scalars(
                        select(Subscriber.id).where(
                            Subscriber.id.in_([plan.subscriber_id for plan in batch]),
                            *receiving(),
                            ~_has_digest_on(day),
                        )
                    )
                )
                record_planned(session, day, [p for p in batch if p.subscriber_id in still], window)
    empty = set(nothing_new)
    with unit_of_work(engine) as session:
        for day, waiting in chosen.items():
            quiet = [s.id for s in waiting if s.email in empty]
            for chunk in in_chunks(quiet):
                session.execute(
                    update(Subscriber).where(Subscriber.id.in_(chunk)).values(nothing_new_on=day)
                )
    return nothing_new


def _has_digest_on(digest_date: date) -> ColumnElement[bool]:
    """A condition on Subscriber: their digest of `digest_date` is recorded."""
    return Subscriber.id.in_(
        select(Delivery.subscriber_id).where(Delivery.digest_date == digest_date)
    )


# Digests recorded per savepoint; their deliveries and items go in a few statements each.
RECORD_BATCH = 1000


def record_planned(
    session: Session, digest_date: date, planned: Sequence[Planned], window: Window | None = None
) -> set[int]:
    """Record `planned`, chosen from `window` (every paper of `digest_date` stored by now,
    if not given), as pending deliveries of `digest_date`; the subscribers recorded.

    Many rows per statement, a batch at a time. A subscriber whose digest of the day is
    already recorded (by another process) is skipped; a digest holding a paper already sent
    to its subscriber breaks the unique (subscriber, paper) constraint and is not recorded,
    the rest of its batch is.
    """
    window = window or Window.of_day(digest_date)
    recorded: set[int] = set()
    for first in range(0, len(planned), RECORD_BATCH):
        batch = planned[first : first + RECORD_BATCH]
        try:
            with session.begin_nested():
                recorded |= _insert_planned(session, digest_date, batch, window)
        except IntegrityError:
            # Rare (a paper sent twice by two runs at once): find the culprits one by one.
            for plan in batch:
                try:
                    with session.begin_nested():
                        recorded |= _insert_planned(session, digest_date, [plan], window)
                except IntegrityError:
                    log.warning(
                        "%s: digest of %s repeats a paper already sent, not recorded",
                        plan.digest.recipient.email,
                        digest_date,
                    )
    return recorded


def _insert_planned(
    session: Session, digest_date: date, planned: Sequence[Planned], window: Window
) -> set[int]:
    """Insert the deliveries of `planned` not recorded yet and their items; their subscribers."""
    now = utcnow()
    inserted = session.connection().execute(
        insert_ignoring_conflicts(session, Delivery).returning(Delivery.id, Delivery.subscriber_id),
        [
            {
                "subscriber_id": plan.subscriber_id,
                "digest_date": digest_date,
                "status": DeliveryStatus.PENDING,
                "message_id": plan.digest.message_id,
                "subject": plan.digest.subject,
                "attempts": 0,
                "created_at": now,
                "papers_through": window.through,
                "papers_until": window.until,
            }
            for plan in planned
        ],
    )
    delivery_of = {subscriber_id: delivery_id for delivery_id, subscriber_id in inserted}
    for plan in planned:
        if plan.subscriber_id not in delivery_of:
            log.info("%s: digest of %s already recorded", plan.digest.recipient.email, digest_date)
    _take_back_failed(session, [plan for plan in planned if plan.subscriber_id in delivery_of])
    items = [
        {
            "delivery_id": delivery_of[plan.subscriber_id],
            "subscriber_id": plan.subscriber_id,
            "paper_id": pick.paper_id,
            "rank": rank,
            "score": pick.score,
            "matched": _json_strings(pick.matched),
            "because": _json_strings(pick.because),
            "terms": _json_strings(pick.terms),
            "liked": _json_strings(pick.liked),
        }
        for plan in planned
        if plan.subscriber_id in delivery_of
        for rank, pick in enumerate(plan.picks, start=1)
    ]
    if items:
        _insert_ready(session.connection(), items)
    return set(delivery_of)


def _take_back_failed(session: Session, planned: Sequence[Planned]) -> None:
    """Move the papers `planned` offers again out of their subscribers' failed deliveries.

    A paper is in one delivery per subscriber (the unique constraint that forbids sending
    it twice); one whose delivery failed for good is offered again (see
    digest.candidates), and now belongs to the new digest.
    """
    picks = {plan.subscriber_id: {pick.paper_id for pick in plan.picks} for plan in planned}
    failed = session.execute(
        select(Delivery.id, Delivery.subscriber_id).where(
            Delivery.status == DeliveryStatus.FAILED, Delivery.subscriber_id.in_(list(picks))
        )
    ).all()
    for delivery_id, subscriber_id in failed:
        session.execute(
            delete(DeliveryItem).where(
                DeliveryItem.delivery_id == delivery_id,
                DeliveryItem.paper_id.in_(picks[subscriber_id]),
            )
        )


def _json_strings(values: list[str]) -> str:
    """`json.dumps(values)` for a list of strings, with the encoder's C string escaper alone:
    a million items a day make the general encoder's per-call overhead count."""
    return "[" + ", ".join(map(encode_basestring_ascii, values)) + "]"


def _insert_ready(connection: Connection, items: list[dict[str, object]]) -> None:
    """Insert delivery items whose values are ready for the driver (JSON already encoded).

    SQLAlchemy's per-row processing of the bound values (four JSON columns) costs three
    times the database's own work on a day's million items, so the statement SQLAlchemy
    compiles for this dialect goes to the driver's executemany as it is.
    """
    compiled = insert(DeliveryItem).compile(dialect=connection.dialect, column_keys=list(items[0]))
    if compiled.positional:
        order = compiled.positiontup or []
        connection.exec_driver_sql(compiled.string, [tuple(i[k] for k in order) for i in items])
    else:
        connection.exec_driver_sql(compiled.string, items)
