"""The composer: a digest as a complete email, its headers (List-Unsubscribe, List-Id) and
its text and HTML bodies rendered from the templates, each paper with why it was picked.

What a message holds comes from digest.compose.digests; what the templates are shown of a
paper, from views; how it fits the size mail clients show whole, from fitting. The
composer keeps the caches that make a run fast: a paper's parts are rendered once a run,
and the parts many readers share (a strength, a set of keywords, a marked summary) once.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from datetime import date, datetime
from email.headerregistry import Address
from email.utils import format_datetime
from pathlib import Path
from typing import cast
from urllib.parse import quote

from digest.compose.digests import Digest, Entry
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
# Each title in the inbox preview is shown up to this length, the top papers' up to
# PREVIEW_CHARS in all.
PREVIEW_TITLE_CHARS = 80
PREVIEW_CHARS = 200
# A seed paper named as a reason is shortened to this length.
SEED_CHARS = 60
_STRENGTH_LABELS = {"strong": "Strong match", "good": "Good match", "weak": "Weak match"}


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
