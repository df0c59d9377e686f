"""What a digest says: to whom, for which day, which papers and why each was picked; built
from stored rows or from plain values alike, and the subject line that names it.

Plain frozen data between the stages: planning and the outbox build digests, the composer
turns them into messages, and none of them needs the others' machinery to do so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from email.utils import make_msgid
from typing import Protocol

from digest.compose.text import clipped
from digest.typography import typeset

# What mail clients show of a subject: about 70 characters on a desktop, fewer on a phone,
# where the top paper's name comes first.
SUBJECT_CHARS = 70


@dataclass(frozen=True)
class Recipient:
    """Who a digest goes to."""

    email: str
    name: str = ""


@dataclass(frozen=True)
class Entry:
    """One paper in a digest, with why it was picked."""

    title: str
    abstract: str
    score: float
    matched: list[str]
    because: list[str] = field(default_factory=list)
    terms: list[str] = field(default_factory=list)
    # The papers the reader liked ("More like this") most like it, most similar first.
    liked: list[str] = field(default_factory=list)
    code_url: str | None = None
    arxiv_id: str | None = None
    authors: tuple[str, ...] = ()
    upvotes: int | None = None
    project_url: str | None = None
    # The stored paper: its feedback links name it. None for a paper not stored.
    paper_id: int | None = None


@dataclass(frozen=True)
class Digest:
    """Everything one email says: to whom, for which day, which papers; a `weekly` digest
    names the week its day (the reader's weekday) ends."""

    recipient: Recipient
    digest_date: date
    entries: list[Entry]
    message_id: str
    keywords: list[str] = field(default_factory=list)
    weekly: bool = False

    @property
    def subject(self) -> str:
        """The subject line as of today (see `subject_on`)."""
        return self.subject_on(date.today())

    def subject_on(self, today: date) -> str:
        """The subject line: the top paper, how many more, and the digest's day or week
        (with its year when that is not `today`'s), within what mail clients show."""
        day = f"{self.digest_date.day} {self.digest_date:%b}"
        if self.digest_date.year != today.year:
            day += f" {self.digest_date.year}"
        if self.weekly:
            day = f"week of {day}"
        more = len(self.entries) - 1
        tail = f" and {more} more paper{'s' if more != 1 else ''}" if more > 0 else ""
        if not self.entries:
            return f"Your paper digest · {day}"
        title = typeset(self.entries[0].title)
        return f"{clipped(title, SUBJECT_CHARS - len(tail) - len(day) - 3)}{tail} · {day}"


def new_message_id(domain: str) -> str:
    """A fresh Message-ID in `domain` (see Settings.id_domain)."""
    return make_msgid(domain=domain or "digest.invalid")


class PaperFields(Protocol):
    """What a digest shows of a paper: a stored `Paper`, or a row of its columns."""

    @property
    def id(self) -> int: ...
    @property
    def title(self) -> str: ...
    @property
    def abstract(self) -> str: ...
    @property
    def code_url(self) -> str | None: ...
    @property
    def arxiv_id(self) -> str | None: ...
    @property
    def authors(self) -> list[str]: ...
    @property
    def upvotes(self) -> int | None: ...
    @property
    def project_url(self) -> str | None: ...


class RecipientFields(Protocol):
    """Whom a digest goes to: a stored `Subscriber`, or a row of its columns."""

    @property
    def email(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def keywords(self) -> dict[str, float]: ...


def entry(
    paper: PaperFields,
    score: float,
    matched: list[str],
    because: list[str] | None = None,
    terms: list[str] | None = None,
    *,
    liked: list[str] | None = None,
) -> Entry:
    """A paper as a digest shows it."""
    return Entry(
        title=paper.title,
        abstract=paper.abstract,
        score=score,
        matched=matched,
        because=because or [],
        terms=terms or [],
        liked=liked or [],
        code_url=paper.code_url,
        arxiv_id=paper.arxiv_id,
        authors=tuple(paper.authors or ()),
        upvotes=paper.upvotes,
        project_url=paper.project_url,
        paper_id=paper.id,
    )


def make_digest(
    subscriber: RecipientFields,
    digest_date: date,
    entries: list[Entry],
    message_id: str,
    *,
    weekly: bool = False,
) -> Digest:
    """A subscriber's digest of `entries` for `digest_date` (a weekly reader's, `weekly`)."""
    return Digest(
        recipient=Recipient(subscriber.email, subscriber.name),
        digest_date=digest_date,
        entries=entries,
        message_id=message_id,
        keywords=list(subscriber.keywords),
        weekly=weekly,
    )
