"""Turn a subscriber's picks into an email: Jinja templates, text and HTML alternatives,
within the size mail clients show whole."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from email.headerregistry import Address
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Protocol, cast
from urllib.parse import quote

from digest.compose.fitting import MOST_PAPERS, Bodies, Fitting, within_size
from digest.compose.templates import template_environment
from digest.compose.text import and_joined, clipped, counted, date_label
from digest.compose.views import (
    EntryHtml,
    EntryText,
    EntryView,
    HtmlMacros,
    TextMacros,
    paper_parts,
)
from digest.config import Settings
from digest.feedback import DOWN, UP, Ballot, vote_signer
from digest.highlight import highlight, term_words
from digest.mime import Email, address, alternative
from digest.ranking import match_strength
from digest.resources import resource_dir
from digest.tokens import Signer
from digest.typography import typeset
from digest.unsubscribe import make_token

# A day brings about a thousand new papers; each one's parts are rendered once a run.
PAPERS_CACHED = 4096
# Rendered summaries, by their marked words: one per paper without marks, and one for each
# different set of marks that subscribers' terms make in it.
ABSTRACTS_CACHED = 16384
# Sets of keywords matched: a reader's few keywords make a few sets, and readers share many.
MATCHES_CACHED = 16384
# What mail clients show of a subject: about 70 characters on a desktop, fewer on a phone,
# where the top paper's name comes first.
SUBJECT_CHARS = 70
# Each title in the inbox preview is shown up to this length, the top papers' up to
# PREVIEW_CHARS in all.
PREVIEW_TITLE_CHARS = 80
PREVIEW_CHARS = 200
# A seed paper named as a reason is shortened to this length.
SEED_CHARS = 60
_STRENGTH_LABELS = {"strong": "Strong match", "good": "Good match", "weak": "Weak match"}


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


class Composer:
    """Renders digests; the templates are compiled and their CSS inlined once, here."""

    def __init__(
        self,
        templates: Path,
        sender: Address,
        *,
        secret: str | None = None,
        base_url: str | None = None,
        domain: str | None = None,
    ) -> None:
        """`secret` signs the links; `base_url` adds one-click unsubscribe and feedback links;
        `domain` names the list in List-Id (default: the sender's)."""
        self._sender = sender
        self._from = address(sender.display_name, sender.addr_spec)
        self._list_id = _list_id(sender, domain or sender.domain)
        self._secret = secret
        self._base_url = base_url
        self._votes: Signer | None = vote_signer(secret) if secret and base_url else None
        environment = template_environment(templates)
        self._text = environment.get_template("digest.txt")
        self._html = environment.get_template("digest.html")
        self._entry_html = cast(EntryHtml, environment.get_template("entry.html").module)
        # A handful of each in a run, shared by every reader: the three strengths, and the
        # sets of keywords that readers' papers match.
        self._strength = functools.lru_cache(maxsize=len(_STRENGTH_LABELS))(
            self._entry_html.strength
        )
        self._matches = functools.lru_cache(maxsize=MATCHES_CACHED)(self._entry_html.matches)
        self._entry_text = cast(EntryText, environment.get_template("entry.txt").module)
        # Per composer, not per module: the parts come from this composer's templates.
        html_parts = cast(HtmlMacros, environment.get_template("paper.html").module)
        text_parts = cast(TextMacros, environment.get_template("paper.txt").module)
        self._paper = functools.lru_cache(maxsize=PAPERS_CACHED)(
            functools.partial(paper_parts, html_parts, text_parts)
        )
        # Keyed by the marked pieces, not by the terms: whatever the terms, most summaries
        # have no match and share one rendering.
        self._abstract = functools.lru_cache(maxsize=ABSTRACTS_CACHED)(html_parts.abstract)

    def render(self, digest: Digest, today: date | None = None) -> tuple[str, str]:
        """The plain-text and the HTML body of `digest`, as `compose` makes them on `today`
        (default: now)."""
        subject = digest.subject_on(today or date.today())
        bodies = self._render(digest, subject, self._unsubscribe(digest.recipient.email))
        return bodies.text, bodies.html

    def _render(self, digest: Digest, subject: str, links: dict[str, str | None]) -> Bodies:
        """The two bodies, each paper in the fullest form that keeps the message within
        MESSAGE_BYTES."""
        entries = digest.entries
        views = [
            self._entry_view(entry, rank, len(entries), digest.recipient.email)
            for rank, entry in enumerate(entries, start=1)
        ]
        context = {
            "recipient": digest.recipient,
            "subject": subject,
            "date_label": date_label(digest.digest_date, digest.weekly),
            "weekly": digest.weekly,
            "count_label": counted(len(entries), "new paper"),
            "preheader": _preview([view.title for view in views]),
            "interests": _interests(digest),
            "capped": MOST_PAPERS if len(entries) >= MOST_PAPERS else None,
            **links,
        }
        fitting = Fitting(views, self._entry_text, self._entry_html)
        return within_size(
            functools.partial(self._bodies, context), fitting, digest.recipient.email
        )

    def _bodies(self, context: Mapping[str, object], fitting: Fitting | None) -> Bodies:
        """The text and HTML bodies with the papers as `fitting` has them (None: none)."""
        text, html = fitting.parts() if fitting else ([], [])
        return Bodies.of(
            self._text.render(context, entries=text), self._html.render(context, entries=html)
        )

    def _entry_view(self, entry: Entry, rank: int, count: int, email: str) -> EntryView:
        paper = self._paper(
            entry.title,
            entry.abstract,
            entry.arxiv_id,
            entry.authors,
            entry.upvotes,
            entry.code_url,
            entry.project_url,
        )
        matched = tuple(entry.matched)
        said = _runs(matched)
        terms = [t for t in entry.terms if term_words(t) not in said]
        strength = match_strength(entry.score)
        # The liked paper and the seed that count most: the others are alike enough not to
        # be news.
        papers = [
            (kind, clipped(typeset(titles[0]), SEED_CHARS))
            for kind, titles in (("liked", entry.liked), ("seed", entry.because))
            if titles
        ]
        return EntryView(
            rank=f"{rank}. " if count > 1 else "",
            title=paper.paper.title,
            short_title=paper.paper.short_title,
            strength_label=_STRENGTH_LABELS[strength],
            strength_html=self._strength(strength, _STRENGTH_LABELS[strength]),
            matched=entry.matched,
            matched_html=self._matches(matched),
            matched_joined=", ".join(matched),
            papers=papers,
            terms=terms,
            terms_joined=", ".join(terms),
            linked=paper.paper.title_url is not None,
            heading_html=paper.heading_html,
            listed_html=paper.listed_html,
            meta_html=paper.meta_html,
            abstract_html=self._abstract(
                tuple(highlight(paper.paper.summary, entry.matched or entry.terms))
            ),
            links_html=paper.links_html,
            about_text=paper.about_text,
            summary_text=paper.summary_text,
            links_text=paper.links_text,
            first_link_text=paper.main_link_text,
            more_url=self._vote_link(email, entry.paper_id, UP),
            less_url=self._vote_link(email, entry.paper_id, DOWN),
        )

    def _vote_link(self, email: str, paper_id: int | None, vote: str) -> str | None:
        """A feedback link into the web side, signed for this reader, paper and vote."""
        if self._votes is None or paper_id is None:
            return None
        return f"{self._base_url}/feedback?token={Ballot(email, paper_id, vote).token(self._votes)}"

    def compose(self, digest: Digest, now: datetime) -> Email:
        """The complete message: headers, then text and HTML as multipart/alternative.

        The Date is `now`; the subject names the digest's own day, so a digest composed
        later (a replay, a resend) says which day it is for. Raises ValueError for an
        address or name the mail format cannot carry.
        """
        recipient = digest.recipient
        links = self._unsubscribe(recipient.email)
        subject = digest.subject_on(now.date())
        bodies = self._render(digest, subject, links)
        headers = [
            ("From", self._from),
            ("To", address(recipient.name, recipient.email)),
            ("Subject", subject),
            ("Date", format_datetime(now)),
            ("Message-ID", digest.message_id),
            ("List-Id", self._list_id),
            (
                "List-Unsubscribe",
                ", ".join(
                    f"<{link}>"
                    for link in (links["unsubscribe_mailto"], links["unsubscribe_web"])
                    if link
                ),
            ),
        ]
        if links["unsubscribe_web"]:
            headers.append(("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"))
        headers.append(("Auto-Submitted", "auto-generated"))
        return Email(
            sender=self._sender.addr_spec,
            recipient=recipient.email,
            message_id=digest.message_id,
            data=alternative(headers, bodies.text_part, bodies.html_part),
        )

    def _unsubscribe(self, email: str) -> dict[str, str | None]:
        """The unsubscribe links: a mailto always, a web link (RFC 8058) with a base URL.

        Without a secret (only the file outbox allows that) the mailto carries no token and
        the request is handled by hand.
        """
        token = make_token(self._secret, email) if self._secret else None
        subject = f"unsubscribe {token}" if token else "unsubscribe"
        mailto = f"mailto:{self._sender.addr_spec}?subject={quote(subject)}"
        web = (
            f"{self._base_url}/unsubscribe?token={quote(token)}"
            if token and self._base_url
            else None
        )
        return {
            "unsubscribe_mailto": mailto,
            "unsubscribe_web": web,
            "unsubscribe_url": web or mailto,
        }


def make_composer(settings: Settings, *, sending: bool = True) -> Composer:
    """The composer for the bundled templates, the configured sender and unsubscribe links.

    For `sending`, SMTP without DIGEST_SECRET is a ConfigError (see Settings.require_secret).
    """
    return Composer(
        resource_dir("templates"),
        settings.sender_address,
        secret=settings.require_secret() if sending else settings.secret,
        base_url=settings.base_url,
        domain=settings.id_domain,
    )


def _list_id(sender: Address, domain: str) -> str:
    """The List-Id (RFC 2919): the sender's name, and its mailbox as a label in `domain`."""
    label = re.sub(r"[^A-Za-z0-9-]+", "-", sender.username).strip("-") or "digest"
    return address(sender.display_name, f"{label}.{domain or 'digest.invalid'}")


@functools.lru_cache(maxsize=MATCHES_CACHED)
def _runs(keywords: tuple[str, ...]) -> frozenset[tuple[str, ...]]:
    """Every run of words of each of `keywords` (the empty one included): a key term whose
    words are one of them repeats a keyword matched, or a piece of one ("implicit neural"),
    and says nothing new."""
    return frozenset(
        words[start:end]
        for words in map(term_words, keywords)
        for start in range(len(words) + 1)
        for end in range(start, len(words) + 1)
    )


def _preview(titles: list[str]) -> str:
    """What the inbox shows after the subject: the top papers' titles."""
    shown: list[str] = []
    for title in titles:
        if shown and sum(map(len, shown)) + len(title) > PREVIEW_CHARS:
            break
        shown.append(clipped(title, PREVIEW_TITLE_CHARS))
    return " · ".join(shown)


def _interests(digest: Digest) -> str:
    """What the subscriber is subscribed with, in words: their keywords, papers they chose."""
    parts = []
    if digest.keywords:
        parts.append(
            f"the keyword{'s' if len(digest.keywords) > 1 else ''} {and_joined(digest.keywords)}"
        )
    if not digest.keywords or any(entry.because for entry in digest.entries):
        parts.append("papers they chose")
    return " and ".join(parts)
