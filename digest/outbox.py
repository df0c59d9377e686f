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

import json
import logging
import os
import socket
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from json.encoder import encode_basestring_ascii
from threading import Event
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Select,
    Text,
    and_,
    bindparam,
    cast,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from digest.compose import Composer, Digest, Entry, PaperFields, entry, make_digest
from digest.config import Settings
from digest.db import (
    Prepared,
    in_chunks,
    insert_ignoring_conflicts,
    read_only,
    reading,
    unit_of_work,
)
from digest.errors import TransportError
from digest.mime import Email
from digest.models import (
    Delivery,
    DeliveryItem,
    DeliveryStatus,
    Paper,
    Subscriber,
    as_utc,
    utcnow,
)
from digest.planning import Planned, plan_digests, receiving
from digest.transports import Outcome, SendingPool, Transport, rate_limiter

log = logging.getLogger(__name__)

_DUE = (DeliveryStatus.PENDING, DeliveryStatus.DEFERRED)
# The longest a deferred delivery waits before it is due again, in seconds.
MAX_BACKOFF = 3600.0
# A relay that reads whole messages and answers none of them is as good as down: after
# this many in a row the round stops, as it does for a relay that cannot be reached,
# instead of spending SMTP_TIMEOUT on every digest of the day.
UNANSWERED_IN_A_ROW = 3


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

    def as_json(self) -> dict[str, object]:
        """The round as plain data for scripts; the same shape from `run` and `worker`."""
        return {
            "sent": self.sent,
            "deferred": [{"email": email, "error": error} for email, error in self.deferred],
            "failed": [{"email": email, "error": error} for email, error in self.failed],
            "suspended": self.suspended,
            "stopped": self.stopped,
            "left_due": self.left,
        }

    def add(self, other: SendReport) -> None:
        """Count `other`'s round in too; its stop, if any, is the latest word."""
        self.sent += other.sent
        self.deferred += other.deferred
        self.failed += other.failed
        self.suspended += other.suspended
        self.papers += other.papers
        self.stopped, self.left = other.stopped, other.left


def enqueue(engine: Engine, settings: Settings, digest_date: date) -> list[str]:
    """Plan and record, as pending, the day's digest of every receiving subscriber without one.

    Returns the addresses that had nothing new. Ranking reads a snapshot and writes
    nothing, so it holds no lock: an unsubscribe, a status or a sender meanwhile goes
    ahead. The digests are then recorded a batch at a time, each batch in a short
    transaction that records only subscribers still receiving and still without a digest
    of the day (one unsubscribed meanwhile gets none; one another process recorded first,
    two runs at once, is left to it).
    """
    with read_only(engine) as session:
        waiting = session.scalars(
            select(Subscriber)
            .where(*receiving(), ~_has_digest_on(digest_date))
            .order_by(Subscriber.id)
        ).all()
        planned = plan_digests(session, settings, digest_date, waiting)
    for first in range(0, len(planned), RECORD_BATCH):
        batch = planned[first : first + RECORD_BATCH]
        with unit_of_work(engine) as session:
            still = set(
                session.scalars(
                    select(Subscriber.id).where(
                        Subscriber.id.in_([plan.subscriber_id for plan in batch]),
                        *receiving(),
                        ~_has_digest_on(digest_date),
                    )
                )
            )
            record_planned(session, digest_date, [p for p in batch if p.subscriber_id in still])
    chosen = {plan.subscriber_id for plan in planned}
    return [s.email for s in waiting if s.id not in chosen]


def _has_digest_on(digest_date: date) -> ColumnElement[bool]:
    """A condition on Subscriber: their digest of `digest_date` is recorded."""
    return Subscriber.id.in_(
        select(Delivery.subscriber_id).where(Delivery.digest_date == digest_date)
    )


# Digests recorded per savepoint; their deliveries and items go in a few statements each.
RECORD_BATCH = 1000


def record_planned(session: Session, digest_date: date, planned: Sequence[Planned]) -> set[int]:
    """Record `planned` as pending deliveries of `digest_date`; the subscribers recorded.

    Many rows per statement, a batch at a time. A subscriber whose digest of the day is
    already recorded (by another process) is skipped; a digest holding a paper already sent
    to its subscriber breaks the unique (subscriber, paper) constraint and is not recorded,
    the rest of its batch is.
    """
    recorded: set[int] = set()
    for first in range(0, len(planned), RECORD_BATCH):
        batch = planned[first : first + RECORD_BATCH]
        try:
            with session.begin_nested():
                recorded |= _insert_planned(session, digest_date, batch)
        except IntegrityError:
            # Rare (a paper sent twice by two runs at once): find the culprits one by one.
            for plan in batch:
                try:
                    with session.begin_nested():
                        recorded |= _insert_planned(session, digest_date, [plan])
                except IntegrityError:
                    log.warning(
                        "%s: digest of %s repeats a paper already sent, not recorded",
                        plan.digest.recipient.email,
                        digest_date,
                    )
    return recorded


def _insert_planned(session: Session, digest_date: date, planned: Sequence[Planned]) -> set[int]:
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

    SQLAlchemy's per-row processing of the bound values (three JSON columns) costs three
    times the database's own work on a day's million items, so the statement SQLAlchemy
    compiles for this dialect goes to the driver's executemany as it is.
    """
    compiled = insert(DeliveryItem).compile(dialect=connection.dialect, column_keys=list(items[0]))
    if compiled.positional:
        order = compiled.positiontup or []
        connection.exec_driver_sql(compiled.string, [tuple(i[k] for k in order) for i in items])
    else:
        connection.exec_driver_sql(compiled.string, items)


def with_contents() -> Select[Delivery]:
    """Deliveries with their subscriber and papers loaded."""
    return select(Delivery).options(
        selectinload(Delivery.subscriber),
        selectinload(Delivery.items).selectinload(DeliveryItem.paper),
    )


def stored_digest(delivery: Delivery) -> Digest:
    """The digest a recorded delivery holds, rebuilt from its items (same Message-ID)."""
    entries = [
        entry(item.paper, item.score, item.matched, item.because, item.terms)
        for item in delivery.items
    ]
    return make_digest(delivery.subscriber, delivery.digest_date, entries, delivery.message_id)


def send_due(
    engine: Engine,
    settings: Settings,
    transport: Transport,
    composer: Composer,
    up_to: date | None = None,
    batch: int = 50,
    stop: Event | None = None,
    *,
    backoff: bool = False,
    progress: Callable[[int], object] | None = None,
) -> SendReport:
    """Send every due delivery of receiving subscribers (of days up to `up_to`, if given).

    Due: pending, or deferred (with `backoff`, as workers polling all day do, only once
    its backoff has passed; a run takes it at once). Deliveries are claimed in the database
    in batches (`SELECT ... FOR UPDATE SKIP LOCKED` on PostgreSQL), so any number of
    processes can send at once and none sends what another took; each message is recorded
    in its own commit. Messages go out over DIGEST_SMTP_CONNECTIONS connections at once
    (`transport.parallel`), at most DIGEST_SMTP_RATE a minute. Temporary failures are
    retried with exponential backoff, then deferred. When the relay itself cannot be used
    the round stops, the rest stays due; so does it when `stop` is set (between messages).
    `progress` is told of every delivery tried (a progress bar's `update`).
    """
    report = SendReport()
    recover_interrupted(engine, settings)
    me = _claimer()
    started = utcnow() if backoff else None
    try:
        pool = SendingPool(
            transport.parallel(settings.smtp_connections),
            lambda: settings.retrying(TransportError, max_wait=300),
            rate_limiter(settings.smtp_rate),
        )
        with pool:
            _Round(engine, settings, composer, pool, me, report, progress).run(
                batch, up_to, started, stop
            )
    except BaseException:
        transport.close()
        _release_after_error(engine, me)
        raise
    transport.close()
    _release(engine, me)
    if report.stopped is not None:
        report.left = count_due(engine, up_to)
        log.error("stopped sending, %d digest(s) left due: %s", report.left, report.stopped)
    return report


@dataclass(frozen=True)
class _Claimed:
    """A claimed delivery, loaded: what sending and recording it need."""

    delivery_id: int
    subscriber_id: int
    digest: Digest


class _Round:
    """One round of `send_due`: claims, loads and composes in this thread, sends in the pool.

    Only this thread touches the database (SQLite has one writer at a time anyway); the
    pool's threads only talk SMTP. Messages are composed just before they are queued, a few
    per connection ahead, so sending never waits for a whole batch to be composed.
    """

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        composer: Composer,
        pool: SendingPool,
        me: str,
        report: SendReport,
        progress: Callable[[int], object] | None = None,
    ) -> None:
        self.engine, self.settings, self.composer = engine, settings, composer
        self.pool, self.me, self.report = pool, me, report
        self.progress = progress
        self.loader = _Loader(engine, me)
        self.recorder = _Recorder(engine)
        self.claimed: deque[_Claimed] = deque()
        self.flying: dict[int, _Claimed] = {}
        self.ahead = 2 * settings.smtp_connections
        # Claims older than DIGEST_CLAIM_TIMEOUT may be taken over: renew well before that.
        self.renew_every = settings.claim_timeout / 3
        self.renewed = time.monotonic()
        # Messages in a row that the relay did not answer once sent (see UNANSWERED_IN_A_ROW).
        self.unanswered = 0

    def run(
        self, batch: int, up_to: date | None, not_before: datetime | None, stop: Event | None
    ) -> None:
        """Send until nothing is due, the relay cannot be used, or `stop` is set."""
        try:
            self._send(batch, up_to, not_before, stop)
        finally:
            self.recorder.close()

    def _send(
        self, batch: int, up_to: date | None, not_before: datetime | None, stop: Event | None
    ) -> None:
        exhausted = False
        while True:
            if self.report.stopped is not None or (stop is not None and stop.is_set()):
                self.pool.stop()
            if not self.pool.stopped:
                if not self.claimed and not exhausted:
                    tried = {email for email, _ in self.report.deferred}
                    ids = claim_batch(self.engine, self.me, batch, up_to, not_before, tried)
                    exhausted = not ids
                    self.claimed.extend(self.loader.load(ids))
                self._feed()
            if not self.flying:
                if self.pool.stopped or (exhausted and not self.claimed):
                    return
                continue
            # A short wait, so that `stop` and the lease are looked at while a relay is slow.
            outcome = self.pool.outcome(timeout=1.0)
            if outcome is not None:
                try:
                    self._record(outcome)
                finally:
                    self.pool.settle()
            self._renew_lease()

    def _feed(self) -> None:
        while self.claimed and self.pool.waiting < self.ahead:
            item = self.claimed.popleft()
            try:
                message = _compose(self.composer, item.digest, self.settings)
            except TransportError as error:
                _record_failure(self.engine, item.delivery_id, error, 0, self.settings, self.report)
                continue
            self.flying[item.delivery_id] = item
            self.pool.submit(item.delivery_id, message)

    def _record(self, outcome: Outcome) -> None:
        item = self.flying.pop(outcome.key)
        if outcome.crash is not None:
            raise outcome.crash
        if outcome.skipped:  # the round stopped first: released, due again, at the end
            return
        if self.progress is not None:
            self.progress(1)
        if outcome.error is not None:
            _record_failure(
                self.engine,
                item.delivery_id,
                outcome.error,
                outcome.tries,
                self.settings,
                self.report,
            )
            self.unanswered = self.unanswered + 1 if outcome.error.unanswered else 0
            if outcome.error.connection:
                self.report.stopped = str(outcome.error)
            elif self.unanswered >= UNANSWERED_IN_A_ROW:
                self.report.stopped = (
                    f"{self.unanswered} messages in a row got no answer after they were "
                    f"sent, the last: {outcome.error}"
                )
            return
        self.unanswered = 0
        self.recorder.sent(item, outcome.tries)
        email = item.digest.recipient.email
        self.report.sent.append(email)
        self.report.papers += len(item.digest.entries)
        log.info("%s: sent %s", email, item.digest.subject)

    def _renew_lease(self) -> None:
        """The rest of this process's claims are still being worked on: renew their lease."""
        if time.monotonic() - self.renewed < self.renew_every:
            return
        with unit_of_work(self.engine) as session:
            session.execute(
                update(Delivery)
                .where(Delivery.claimed_by == self.me, Delivery.status == DeliveryStatus.SENDING)
                .values(claimed_at=utcnow())
            )
        self.renewed = time.monotonic()


# An item's JSON lists, read as their text: see _decode_lists.
_ITEM_LISTS = (DeliveryItem.matched, DeliveryItem.because, DeliveryItem.terms)


def _decode_lists(items: Sequence[Sequence[Any]]) -> list[list[Any]]:
    """Each item's three JSON lists, the last three columns of its row, as Python lists.

    All of a batch's in one `json.loads`: decoding them one value at a time, as the JSON
    type does, cost its per-call overhead three times per item, about 4% of a message.
    """
    texts = ",".join(f"[{m},{b},{t}]" for *_, m, b, t in items)
    return list(json.loads(f"[{texts}]"))


class _Loader:
    """Loads claimed deliveries as digests with plain SELECTs, each paper once a round.

    The ORM's objects for a batch (deliveries, subscribers, items and papers, their JSON
    decoded) cost a third of a message's time; a day's digests share the day's papers.
    """

    def __init__(self, engine: Engine, me: str) -> None:
        self.engine, self.me = engine, me
        self.papers: dict[int, PaperFields] = {}

    def load(self, ids: list[int]) -> list[_Claimed]:
        """The claimed deliveries `ids` with their contents (three SELECTs a batch)."""
        if not ids:
            return []
        with reading(self.engine) as connection:
            deliveries = connection.execute(
                select(
                    Delivery.id,
                    Delivery.subscriber_id,
                    Delivery.digest_date,
                    Delivery.message_id,
                    Subscriber.email,
                    Subscriber.name,
                    Subscriber.keywords,
                )
                .join(Subscriber)
                .where(
                    Delivery.id.in_(ids),
                    Delivery.claimed_by == self.me,
                    Delivery.status == DeliveryStatus.SENDING,
                )
                .order_by(Delivery.id)
            ).all()
            items = connection.execute(
                select(
                    DeliveryItem.delivery_id,
                    DeliveryItem.paper_id,
                    DeliveryItem.score,
                    *(cast(column, Text) for column in _ITEM_LISTS),
                )
                .where(DeliveryItem.delivery_id.in_(ids))
                .order_by(DeliveryItem.delivery_id, DeliveryItem.rank)
            ).all()
            self._fetch_papers(connection, {item.paper_id for item in items})
        entries: dict[int, list[Entry]] = {}
        for item, (matched, because, terms) in zip(items, _decode_lists(items), strict=True):
            entries.setdefault(item.delivery_id, []).append(
                entry(self.papers[item.paper_id], item.score, matched, because, terms)
            )
        # One missing was taken over after our claim went stale: it is the other's now.
        return [
            _Claimed(
                d.id,
                d.subscriber_id,
                make_digest(d, d.digest_date, entries.get(d.id, []), d.message_id),
            )
            for d in deliveries
        ]

    def _fetch_papers(self, connection: Connection, wanted: set[int]) -> None:
        missing = sorted(wanted - self.papers.keys())
        for chunk in in_chunks(missing):
            for paper in connection.execute(
                select(
                    Paper.id,
                    Paper.title,
                    Paper.abstract,
                    Paper.code_url,
                    Paper.arxiv_id,
                    Paper.authors,
                    Paper.upvotes,
                    Paper.project_url,
                ).where(Paper.id.in_(chunk))
            ):
                self.papers[paper.id] = paper


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


def _release(engine: Engine, me: str) -> None:
    """Give back what this process claimed and did not try (after a stop or an error)."""
    with unit_of_work(engine) as session:
        session.execute(
            update(Delivery)
            .where(Delivery.claimed_by == me, Delivery.status == DeliveryStatus.SENDING)
            .values(status=DeliveryStatus.PENDING, claimed_by=None, claimed_at=None)
        )


def _release_after_error(engine: Engine, me: str) -> None:
    """`_release`, while another error is on its way up: that error is the one to show.

    A full disk, say, fails the release too; its error would replace the first one. The
    claims it could not give back are taken over once stale (DIGEST_CLAIM_TIMEOUT), or at
    once by the next run on this host, since this process will be gone.
    """
    try:
        _release(engine, me)
    except Exception as error:
        log.warning("could not give back this process's claims as well: %s", error)


def _compose(composer: Composer, digest: Digest, settings: Settings) -> Email:
    """The message; an address or name the mail format cannot carry fails this one only."""
    try:
        return composer.compose(digest, datetime.now(settings.timezone))
    except ValueError as exc:
        raise TransportError(
            f"cannot write a message to {digest.recipient.email!r}: {exc}", temporary=False
        ) from None


def _claimer() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


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


class _Recorder:
    """Marks deliveries sent, each in its own commit, over one connection kept for the round.

    Taking a pooled connection and executing through SQLAlchemy per message cost five
    times the two single-row UPDATEs themselves, and the write lock was held meanwhile.
    """

    def __init__(self, engine: Engine) -> None:
        self.connection = engine.connect()
        dialect = self.connection.dialect
        self.mark_sent = Prepared(_MARK_SENT, dialect)
        self.reset_failures = Prepared(_RESET_FAILURES, dialect)

    def sent(self, item: _Claimed, tries: int) -> None:
        """Mark one delivery sent, and its subscriber's refusals reset, in one commit."""
        now = utcnow()
        with self.connection.begin():
            self.mark_sent.execute(self.connection, delivery=item.delivery_id, now=now, tries=tries)
            self.reset_failures.execute(self.connection, subscriber=item.subscriber_id, now=now)

    def close(self) -> None:
        """Give the connection back."""
        self.connection.close()


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
        if status == DeliveryStatus.DEFERRED:
            report.deferred.append((subscriber.email, str(error)))
            log.warning("%s: deferred: %s", subscriber.email, error)
            return
        report.failed.append((subscriber.email, str(error)))
        log.error("%s: failed: %s", subscriber.email, error)
        if error.content:  # the message was too large: nothing against the recipient
            return
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
