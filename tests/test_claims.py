"""Claiming due deliveries: which ones a batch takes, in which order, and that a claim
reads its batch alone however many deliveries are due."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, select, update
from sqlalchemy.dialects import sqlite

from digest.db import unit_of_work
from digest.models import Delivery, Subscriber, utcnow
from digest.outbox.claims import claim_batch, due_queries
from tests.support import PENDING_DAY, pending_deliveries, sqlite_only


def _set_status(engine: Engine, ids: list[int], status: str, **values: object) -> None:
    with unit_of_work(engine) as session:
        session.execute(
            update(Delivery).where(Delivery.id.in_(ids)).values(status=status, **values)
        )


def _ids(engine: Engine) -> list[int]:
    with unit_of_work(engine) as session:
        return list(session.scalars(select(Delivery.id).order_by(Delivery.id)))


def _claimed_by(engine: Engine, me: str) -> list[int]:
    with unit_of_work(engine) as session:
        return list(
            session.scalars(
                select(Delivery.id)
                .where(Delivery.claimed_by == me, Delivery.status == "sending")
                .order_by(Delivery.id)
            )
        )


def test_a_claim_takes_the_oldest_due_of_both_states_in_order(engine):
    pending_deliveries(engine, 10)
    ids = _ids(engine)
    _set_status(engine, [ids[0], ids[4]], "sent")
    _set_status(engine, [ids[1], ids[5], ids[8]], "deferred")
    _set_status(engine, [ids[2]], "failed")
    with unit_of_work(engine) as session:
        session.execute(
            update(Subscriber)
            .where(
                Subscriber.id
                == select(Delivery.subscriber_id).where(Delivery.id == ids[3]).scalar_subquery()
            )
            .values(suspended_at=utcnow())
        )

    first = claim_batch(engine, "me", 3, PENDING_DAY)
    assert first == [ids[1], ids[5], ids[6]]  # deferred, deferred, pending: by age alone
    assert _claimed_by(engine, "me") == first
    assert claim_batch(engine, "me", 3, PENDING_DAY) == [ids[7], ids[8], ids[9]]
    assert claim_batch(engine, "me", 3, PENDING_DAY) == []
    # Nothing of a later day when sending up to the day before.
    _set_status(engine, ids, "pending")
    assert claim_batch(engine, "other", 3, PENDING_DAY - timedelta(days=1)) == []


def test_a_claim_leaves_deferred_ones_to_their_backoff_and_to_the_next_round(engine):
    emails = pending_deliveries(engine, 4)
    ids = _ids(engine)
    later = utcnow() + timedelta(hours=1)
    _set_status(engine, [ids[0]], "deferred", next_attempt_at=later)
    _set_status(engine, [ids[1], ids[2]], "deferred", next_attempt_at=utcnow())
    # Deferred in this round: waits for the next; waiting for its backoff: waits for that.
    claimed = claim_batch(engine, "me", 10, PENDING_DAY, not_before=utcnow(), tried={emails[1]})
    assert claimed == [ids[2], ids[3]]
    _set_status(engine, claimed, "pending")
    # A run (no backoff) takes every deferred one at once, but still not this round's.
    assert claim_batch(engine, "me", 10, PENDING_DAY, tried={emails[1]}) == [ids[0], ids[2], ids[3]]


@sqlite_only
def test_each_claim_query_reads_its_index_in_order_without_sorting(engine):
    pending_deliveries(engine, 3)
    with engine.connect() as connection:
        for query in due_queries(PENDING_DAY, utcnow(), {"someone@example.org"}):
            sql = str(
                query.limit(50).compile(
                    dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}
                )
            )
            plan = " ".join(
                str(row[-1]) for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}")
            )
            assert "ix_deliveries_status_id (status=?)" in plan
            assert "TEMP B-TREE" not in plan
