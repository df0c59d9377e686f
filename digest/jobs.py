"""The daily cycle: sync profiles, ingest the inbox, rank, compose, enqueue, send."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import Engine, Select, select
from sqlalchemy.orm import Session, selectinload

from digest.candidates import candidates, corpus
from digest.compose import Composer, Digest, Entry, Recipient, new_message_id
from digest.config import Settings
from digest.db import unit_of_work
from digest.errors import DigestError, NotFoundError, TransportError
from digest.models import Delivery, DeliveryItem, Paper, Subscriber, utcnow
from digest.profiles import SyncReport, sync_profiles
from digest.ranking import Interest, InterestModel, Pick
from digest.resources import resource_dir
from digest.store import IngestReport, ingest
from digest.transports import Transport

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Planned:
    """A digest ready to go out: the subscriber, what the email says, and the picks behind it."""

    subscriber_id: int
    digest: Digest
    picks: list[Pick]


@dataclass
class RunReport:
    """What one daily cycle did."""

    digest_date: date
    profiles: SyncReport | None = None
    ingest: IngestReport | None = None
    nothing_new: list[str] = field(default_factory=list)
    sent: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when everything went out and every input was read."""
        ingest_errors = self.ingest.errors if self.ingest else []
        return not (self.failed or self.problems or ingest_errors)

    def as_json(self) -> dict[str, object]:
        """The report as plain data for scripts."""
        return {
            "date": self.digest_date.isoformat(),
            "ingest": self.ingest.as_json() if self.ingest else None,
            "sent": self.sent,
            "failed": [{"email": email, "error": error} for email, error in self.failed],
            "nothing_new": self.nothing_new,
            "problems": self.problems,
        }


def today(settings: Settings) -> date:
    """The logical day now, in the configured time zone."""
    return datetime.now(settings.timezone).date()


def make_composer(settings: Settings) -> Composer:
    """The composer for the bundled templates and the configured sender."""
    return Composer(resource_dir("templates"), settings.sender_address)


def plan_digests(
    session: Session, settings: Settings, digest_date: date, subscribers: Sequence[Subscriber]
) -> list[Planned]:
    """Rank the new papers for each subscriber and build their digests (nothing is written)."""
    new = candidates(session, subscribers, digest_date, settings.lookback_days)
    picked = _rank(session, subscribers, new, digest_date)
    planned: list[Planned] = []
    for subscriber in subscribers:
        picks = picked.get(subscriber.id, [])
        if not picks:
            log.info("%s: nothing new on %s, no email", subscriber.email, digest_date)
            continue
        papers = _papers(session, [pick.paper_id for pick in picks])
        entries = [_entry(papers[pick.paper_id], pick.score, pick.matched) for pick in picks]
        digest = _digest(subscriber, digest_date, entries, new_message_id(settings.sender_address))
        planned.append(Planned(subscriber.id, digest, picks))
    return planned


def _rank(
    session: Session,
    subscribers: Sequence[Subscriber],
    new: dict[int, set[int]],
    digest_date: date,
) -> dict[int, list[Pick]]:
    """Each subscriber's picks among their new papers, on one model fitted to the corpus."""
    fresh = set().union(*new.values())
    if not fresh:
        return {}
    documents = corpus(session, digest_date)
    model = InterestModel(documents, [t for s in subscribers for t in (*s.keywords, *s.exclude)])
    pool = [doc for doc in documents if doc.id in fresh]
    matrix = model.transform(pool)
    position = {doc.id: row for row, doc in enumerate(pool)}
    picked: dict[int, list[Pick]] = {}
    for subscriber in subscribers:
        rows = sorted(position[paper_id] for paper_id in new[subscriber.id])
        picked[subscriber.id] = model.rank(
            _interest(subscriber), [pool[r] for r in rows], matrix[rows]
        )
    return picked


def _interest(subscriber: Subscriber) -> Interest:
    return Interest(
        keywords=subscriber.keywords,
        exclude=subscriber.exclude,
        max_papers=subscriber.max_papers,
        min_score=subscriber.min_score,
    )


def _papers(session: Session, ids: Sequence[int]) -> dict[int, Paper]:
    return {paper.id: paper for paper in session.scalars(select(Paper).where(Paper.id.in_(ids)))}


def _entry(paper: Paper, score: float, matched: list[str]) -> Entry:
    return Entry(
        title=paper.title,
        abstract=paper.abstract,
        score=score,
        matched=matched,
        code_url=paper.code_url,
    )


def _digest(
    subscriber: Subscriber, digest_date: date, entries: list[Entry], message_id: str
) -> Digest:
    return Digest(
        recipient=Recipient(subscriber.email, subscriber.name),
        digest_date=digest_date,
        entries=entries,
        message_id=message_id,
        keywords=list(subscriber.keywords),
    )


def stored_digest(delivery: Delivery) -> Digest:
    """The digest a recorded delivery holds, rebuilt from its items (same Message-ID)."""
    entries = [_entry(item.paper, item.score, item.matched) for item in delivery.items]
    return _digest(delivery.subscriber, delivery.digest_date, entries, delivery.message_id)


def find_subscriber(session: Session, email: str) -> Subscriber:
    """The subscriber with this address, or NotFoundError."""
    subscriber = session.scalar(select(Subscriber).where(Subscriber.email == email.lower()))
    if subscriber is None:
        raise NotFoundError(f"no subscriber {email}; run 'digest subscribers sync' first")
    return subscriber


def digest_for(engine: Engine, settings: Settings, email: str, digest_date: date) -> Digest | None:
    """What `run` would send `email` on `digest_date`: the recorded digest, else a fresh plan.

    Writes nothing. None when the subscriber has nothing new that day.
    """
    with unit_of_work(engine) as session:
        subscriber = find_subscriber(session, email)
        delivery = session.scalar(
            _deliveries().where(
                Delivery.subscriber_id == subscriber.id, Delivery.digest_date == digest_date
            )
        )
        if delivery is not None:
            return stored_digest(delivery)
        planned = plan_digests(session, settings, digest_date, [subscriber])
        return planned[0].digest if planned else None


def _deliveries() -> Select[tuple[Delivery]]:
    return select(Delivery).options(
        selectinload(Delivery.subscriber),
        selectinload(Delivery.items).selectinload(DeliveryItem.paper),
    )


def enqueue(engine: Engine, settings: Settings, digest_date: date) -> list[str]:
    """Plan and record (as pending) the day's digest of every active subscriber without one.

    Returns the addresses that had nothing new.
    """
    with unit_of_work(engine) as session:
        waiting = session.scalars(
            select(Subscriber)
            .where(
                Subscriber.active,
                ~Subscriber.id.in_(
                    select(Delivery.subscriber_id).where(Delivery.digest_date == digest_date)
                ),
            )
            .order_by(Subscriber.id)
        ).all()
        planned = plan_digests(session, settings, digest_date, waiting)
        for plan in planned:
            delivery = Delivery(
                subscriber_id=plan.subscriber_id,
                digest_date=digest_date,
                status="pending",
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
        chosen = {plan.subscriber_id for plan in planned}
        return [s.email for s in waiting if s.id not in chosen]


def send_pending(
    engine: Engine, settings: Settings, transport: Transport, up_to: date, report: RunReport
) -> None:
    """Send every unsent delivery of active subscribers up to `up_to`, committing each."""
    with unit_of_work(engine) as session:
        ids = session.scalars(
            select(Delivery.id)
            .join(Subscriber)
            .where(Delivery.status != "sent", Delivery.digest_date <= up_to, Subscriber.active)
            .order_by(Delivery.id)
        ).all()
    if not ids:
        return
    composer = make_composer(settings)
    try:
        transport.open()
    except TransportError as error:
        _fail(engine, ids, str(error), report)
        return
    try:
        for delivery_id in ids:
            with unit_of_work(engine) as session:
                delivery = session.scalars(_deliveries().where(Delivery.id == delivery_id)).one()
                delivery.attempts += 1
                email = delivery.subscriber.email
                try:
                    now = datetime.now(settings.timezone)
                    transport.send(composer.compose(stored_digest(delivery), now))
                except TransportError as error:
                    delivery.status, delivery.last_error = "failed", str(error)
                    report.failed.append((email, str(error)))
                    log.error("%s: not sent: %s", email, error)
                    continue
                delivery.status, delivery.sent_at, delivery.last_error = "sent", utcnow(), None
                report.sent.append(email)
                log.info("%s: sent %s", email, delivery.subject)
    finally:
        transport.close()


def _fail(engine: Engine, ids: Sequence[int], error: str, report: RunReport) -> None:
    with unit_of_work(engine) as session:
        for delivery in session.scalars(_deliveries().where(Delivery.id.in_(ids))):
            delivery.attempts += 1
            delivery.status, delivery.last_error = "failed", error
            report.failed.append((delivery.subscriber.email, error))
    log.error("nothing sent: %s", error)


def run_daily(
    engine: Engine, settings: Settings, digest_date: date, transport: Transport
) -> RunReport:
    """One daily cycle for the logical day `digest_date`.

    A broken profile file or page is reported and the rest goes on with what is stored;
    mail that cannot be sent stays in the outbox, marked failed, for the next run.
    """
    report = RunReport(digest_date)
    if settings.profiles is not None and settings.profiles.exists():
        try:
            report.profiles = sync_profiles(engine, settings.profiles)
        except DigestError as error:
            report.problems.append(str(error))
            log.error("profiles not synced, using the stored ones: %s", error)
    elif settings.profiles is not None:
        log.warning("no profile file %s: using the stored subscribers", settings.profiles)
    if settings.inbox.is_dir():
        report.ingest = ingest(engine, [settings.inbox], digest_date)
    else:
        log.warning("inbox %s is not a folder: no pages ingested", settings.inbox)
    report.nothing_new = enqueue(engine, settings, digest_date)
    send_pending(engine, settings, transport, digest_date, report)
    return report
