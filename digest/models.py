"""The data model (SQLAlchemy 2.0). The schema itself is created only by alembic migrations."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from enum import StrEnum

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    Time,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Named constraints keep migrations identical on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """The current time in UTC, the only zone timestamps are stored in."""
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """A stored timestamp as an aware UTC datetime (SQLite hands them back naive)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Page(Base):
    """One ingested digest page, known by the hash of its content."""

    __tablename__ = "pages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(1024))
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    page_date: Mapped[date | None] = mapped_column(Date)
    digest_date: Mapped[date] = mapped_column(Date)
    entries: Mapped[int] = mapped_column(Integer)
    papers_new: Mapped[int] = mapped_column(Integer)
    ingested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Paper(Base):
    """One distinct paper, whatever pages listed it."""

    __tablename__ = "papers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(512), unique=True)
    title: Mapped[str] = mapped_column(Text)
    abstract: Mapped[str] = mapped_column(Text)
    code_url: Mapped[str | None] = mapped_column(String(512))
    # What richer sources (the API, the saved HTML page) add; a text dump leaves them empty
    # and a later source fills them in.
    arxiv_id: Mapped[str | None] = mapped_column(String(32), unique=True)
    authors: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    upvotes: Mapped[int | None] = mapped_column(Integer)
    project_url: Mapped[str | None] = mapped_column(String(512))
    published: Mapped[date | None] = mapped_column(Date)
    first_seen: Mapped[date] = mapped_column(Date, index=True)
    page_id: Mapped[int] = mapped_column(ForeignKey("pages.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Frequency(StrEnum):
    """How often a subscriber gets a digest."""

    DAILY = "daily"
    WEEKLY = "weekly"


class Subscriber(Base):
    """A person who receives digests, as their profile last said."""

    __tablename__ = "subscribers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    keywords: Mapped[dict[str, float]] = mapped_column(JSON)
    exclude: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Papers the subscriber liked: {"title": ..., "abstract": ...} (abstract optional).
    seeds: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list, server_default="[]")
    max_papers: Mapped[int] = mapped_column(Integer, default=10)
    min_score: Mapped[float] = mapped_column(Float, default=0.0)
    # When the digest is due, in the subscriber's own zone; None: DIGEST_TIMEZONE and
    # DIGEST_SEND_TIME as they are at each run.
    timezone: Mapped[str | None] = mapped_column(String(64))
    send_time: Mapped[time | None] = mapped_column(Time)
    frequency: Mapped[str] = mapped_column(
        String(8), default=Frequency.DAILY, server_default=Frequency.DAILY.value
    )
    # A weekly digest's day, 0 for Monday as in `date.weekday()`.
    weekday: Mapped[int | None] = mapped_column(Integer)
    # The last local day whose digest was planned and had nothing new: no email, and not
    # planned again that day (serve checks every few minutes).
    nothing_new_on: Mapped[date | None] = mapped_column(Date)
    # A reference library export whose papers are seeds (digest.library): its path as the
    # profile resolved it, the hash of the content last read, and the seeds read from it
    # ({"title", "abstract", "weight", "arxiv_id"}), so an unchanged file is not parsed
    # again. Read by planning alone: a listing of subscribers leaves the seeds unread.
    library: Mapped[str | None] = mapped_column(String(1024))
    library_sha256: Mapped[str | None] = mapped_column(String(64))
    library_seeds: Mapped[list[dict[str, object]]] = mapped_column(
        JSON, default=list, server_default="[]", deferred=True
    )
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Set by the subscriber's own signed request; a profile sync never clears it.
    unsubscribed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Permanent failures in a row; too many suspend the subscriber until an operator retries.
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    suspended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class DeliveryStatus(StrEnum):
    """Where a delivery stands: pending, then sending, then sent, deferred or failed."""

    PENDING = "pending"  # recorded, waiting for a sender
    SENDING = "sending"  # claimed by a sender, which is handing it to the relay
    SENT = "sent"
    DEFERRED = "deferred"  # a temporary failure: due again after its backoff
    FAILED = "failed"  # refused for good: not tried again


class Delivery(Base):
    """One subscriber's digest for one day: the outbox entry and the history at once."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("subscriber_id", "digest_date"),
        # The due ones in the order they are claimed, oldest first (see digest.outbox.claims).
        Index(None, "status", "id"),
        # Who got a digest on a given day: the previous-digest lookup, a day at a time.
        Index(None, "digest_date", "subscriber_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id"))
    digest_date: Mapped[date] = mapped_column(Date)
    # Stored as its value in a VARCHAR, on SQLite and PostgreSQL alike.
    status: Mapped[DeliveryStatus] = mapped_column(
        Enum(
            DeliveryStatus,
            native_enum=False,
            length=16,
            values_callable=lambda statuses: [status.value for status in statuses],
        ),
        default=DeliveryStatus.PENDING,
    )
    # Who is sending it right now (host:pid:nonce) and since when; see digest.outbox.claims.
    claimed_by: Mapped[str | None] = mapped_column(String(255))
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # A deferred delivery is not tried again before this moment (exponential backoff).
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    message_id: Mapped[str] = mapped_column(String(255))
    subject: Mapped[str] = mapped_column(String(255))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # The papers this digest was chosen from (digest.candidates.Window): those with
    # `first_seen` up to `papers_through` and stored (`Paper.created_at`) by `papers_until`.
    # The next digest's are the papers outside: an instant, because readers in other zones
    # are served at other hours of one logical day. None in a delivery recorded before
    # these columns: it covered its own day, whenever a paper of it was stored.
    papers_through: Mapped[date | None] = mapped_column(Date)
    papers_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    subscriber: Mapped[Subscriber] = relationship()
    items: Mapped[list[DeliveryItem]] = relationship(
        back_populates="delivery", order_by="DeliveryItem.rank"
    )


class DeliveryItem(Base):
    """A paper in a delivery; unique per subscriber, so the database forbids sending it twice."""

    __tablename__ = "delivery_items"
    __table_args__ = (
        UniqueConstraint("subscriber_id", "paper_id"),
        # Who was sent a given paper: the "never sent before" check over a day's papers.
        Index(None, "paper_id", "subscriber_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id"), index=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id"))
    paper_id: Mapped[int] = mapped_column(ForeignKey("papers.id"))
    rank: Mapped[int] = mapped_column(Integer)
    score: Mapped[float] = mapped_column(Float)
    matched: Mapped[list[str]] = mapped_column(JSON)
    # The seed papers it resembles and the terms that weighed most: the email's "why".
    because: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    terms: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    # The papers the reader liked that it resembles: "because you liked".
    liked: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")

    delivery: Mapped[Delivery] = relationship(back_populates="items")
    paper: Mapped[Paper] = relationship()


class Vote(Base):
    """A reader's say on a paper from their digest: more like it (up) or less (down).

    One per subscriber and paper, the last one cast. A subscriber's liked and disliked
    papers are one read through the unique (subscriber, paper) index.
    """

    __tablename__ = "votes"
    __table_args__ = (
        UniqueConstraint("subscriber_id", "paper_id"),
        CheckConstraint("vote IN ('up', 'down')", name="vote"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id"))
    paper_id: Mapped[int] = mapped_column(ForeignKey("papers.id"))
    vote: Mapped[str] = mapped_column(String(4))
    # When the vote now standing was cast.
    voted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    subscriber: Mapped[Subscriber] = relationship()
    paper: Mapped[Paper] = relationship()
