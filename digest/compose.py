"""Turn a subscriber's picks into an email: Jinja templates, text and HTML alternatives."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from urllib.parse import quote, quote_plus

import css_inline
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from digest.ranking import fold_plural
from digest.unsubscribe import make_token

SUMMARY_CHARS = 600


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
    code_url: str | None = None
    arxiv_id: str | None = None
    authors: tuple[str, ...] = ()
    upvotes: int | None = None
    project_url: str | None = None


@dataclass(frozen=True)
class Digest:
    """Everything one email says: to whom, for which day, which papers."""

    recipient: Recipient
    digest_date: date
    entries: list[Entry]
    message_id: str
    keywords: list[str] = field(default_factory=list)

    @property
    def subject(self) -> str:
        """The subject line: how many papers, for which day."""
        count = len(self.entries)
        return (
            f"Your paper digest for {self.digest_date:%d %b %Y}: "
            f"{count} new paper{'s' if count != 1 else ''}"
        )


def new_message_id(sender: Address) -> str:
    """A fresh Message-ID in the sender's domain."""
    return make_msgid(domain=sender.domain or "digest.invalid")


class _InliningLoader(FileSystemLoader):
    """Inlines an HTML template's CSS as it is loaded, so once per process, not per message.

    Mail clients drop <style> blocks; @media rules are kept for the ones that honour them.
    """

    _inliner = css_inline.CSSInliner(keep_at_rules=True)

    def get_source(
        self, environment: Environment, template: str
    ) -> tuple[str, str | None, Callable[[], bool] | None]:
        source, filename, uptodate = super().get_source(environment, template)
        if template.endswith(".html"):
            source = self._inliner.inline(source)
        return source, filename, uptodate


class Composer:
    """Renders digests; the templates are compiled and their CSS inlined once, here."""

    def __init__(
        self,
        templates: Path,
        sender: Address,
        *,
        secret: str | None = None,
        base_url: str | None = None,
    ) -> None:
        """`secret` signs unsubscribe links; `base_url` adds a one-click web link to them."""
        self._sender = sender
        self._secret = secret
        self._base_url = base_url
        environment = Environment(
            loader=_InliningLoader(templates),
            autoescape=select_autoescape(["html"], default_for_string=True),
            undefined=StrictUndefined,
            keep_trailing_newline=True,
        )
        self._text = environment.get_template("digest.txt")
        self._html = environment.get_template("digest.html")

    def render(self, digest: Digest) -> tuple[str, str]:
        """The plain-text and the HTML body of `digest`."""
        context = {
            "recipient": digest.recipient,
            "subject": digest.subject,
            "date_label": f"{digest.digest_date:%A, %d %B %Y}",
            "entries": [_entry_context(entry) for entry in digest.entries],
            "keywords": digest.keywords,
            **self._unsubscribe(digest.recipient.email),
        }
        return self._text.render(context), self._html.render(context)

    def compose(self, digest: Digest, now: datetime) -> EmailMessage:
        """The complete message: headers, then text and HTML as multipart/alternative."""
        text, html = self.render(digest)
        message = EmailMessage()
        message["From"] = self._sender
        message["To"] = Address(
            display_name=digest.recipient.name, addr_spec=digest.recipient.email
        )
        message["Subject"] = digest.subject
        message["Date"] = format_datetime(now)
        message["Message-ID"] = digest.message_id
        links = self._unsubscribe(digest.recipient.email)
        message["List-Unsubscribe"] = ", ".join(
            f"<{link}>" for link in (links["unsubscribe_mailto"], links["unsubscribe_web"]) if link
        )
        if links["unsubscribe_web"]:
            message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        message["Auto-Submitted"] = "auto-generated"
        # Transfer encodings named, so the email package does not encode each part both
        # ways to pick the shorter: quoted-printable keeps the text readable as it is sent,
        # base64 is done in C and the HTML's inlined styles make long lines anyway.
        message.set_content(text, cte="quoted-printable")
        message.add_alternative(html, subtype="html", cte="base64")
        return message

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


def _entry_context(entry: Entry) -> dict[str, object]:
    summary = shorten(entry.abstract)
    return {
        "title": entry.title,
        "score": entry.score,
        "matched": entry.matched,
        "because": entry.because,
        "terms": [t for t in entry.terms if t not in {m.casefold() for m in entry.matched}],
        "summary": summary,
        "summary_lines": wrap(summary),
        "segments": highlight(summary, entry.matched or entry.terms),
        "authors": _authors(entry.authors),
        "upvotes": entry.upvotes,
        "code_url": entry.code_url if _is_web_link(entry.code_url) else None,
        "project_url": entry.project_url if _is_web_link(entry.project_url) else None,
        **_paper_links(entry),
    }


def shorten(text: str, width: int = SUMMARY_CHARS, placeholder: str = " …") -> str:
    """`text` with its whitespace collapsed, cut after a whole word to at most `width`
    characters (the placeholder included), as `textwrap.shorten` does without breaking words.
    """
    # textwrap.shorten wraps the whole abstract into lines to find the first one, which
    # took most of a message's composing time; a cut at the last space is the same result.
    collapsed = " ".join(text.split())
    if len(collapsed) <= width:
        return collapsed
    cut = collapsed.rfind(" ", 0, width - len(placeholder) + 1)
    return collapsed[:cut] + placeholder if cut > 0 else placeholder.lstrip()


def wrap(text: str, width: int = 72) -> list[str]:
    """`text` (whitespace collapsed) in lines of at most `width` characters, breaking only
    between words; a longer word has a line of its own."""
    # textwrap (and Jinja's wordwrap filter over it) took a third of a message's rendering
    # time; greedy filling at spaces is all a summary needs.
    lines: list[str] = []
    line = ""
    for word in text.split(" "):
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    if line:
        lines.append(line)
    return lines


def _paper_links(entry: Entry) -> dict[str, str | None]:
    """Where the paper is: its arXiv pages when the id is known, else a title search."""
    if entry.arxiv_id:
        arxiv_id = quote(entry.arxiv_id, safe="/.")
        return {
            "title_url": f"https://arxiv.org/abs/{arxiv_id}",
            "arxiv_url": f"https://arxiv.org/abs/{arxiv_id}",
            "pdf_url": f"https://arxiv.org/pdf/{arxiv_id}",
            "hf_url": f"https://huggingface.co/papers/{arxiv_id}",
        }
    query = quote_plus(entry.title)
    search = f"https://arxiv.org/search/?query={query}&searchtype=title"
    return {
        "title_url": search,
        "arxiv_url": search,
        "pdf_url": None,
        "hf_url": f"https://huggingface.co/papers?q={query}",
    }


def _authors(names: tuple[str, ...], shown: int = 5) -> str:
    if len(names) <= shown:
        return ", ".join(names)
    return f"{', '.join(names[:shown])} et al. ({len(names)} authors)"


def _is_web_link(url: str | None) -> bool:
    return bool(url) and re.match(r"https?://", url or "", re.IGNORECASE) is not None


def highlight(text: str, terms: list[str]) -> list[tuple[str, bool]]:
    """Split `text` into (piece, is_match) runs, marking where any of `terms` occurs."""
    matcher = _matcher(tuple(terms))
    if matcher is None:
        return [(text, False)]
    pieces: list[tuple[str, bool]] = []
    position = 0
    for match in matcher.finditer(text):
        if match.start() > position:
            pieces.append((text[position : match.start()], False))
        pieces.append((match.group(0), True))
        position = match.end()
    if position < len(text):
        pieces.append((text[position:], False))
    return pieces


@functools.lru_cache(maxsize=4096)
def _matcher(terms: tuple[str, ...]) -> re.Pattern[str] | None:
    """One pattern for all of `terms`, longest first; None when none can match."""
    # Cached here: a digest's entries share their keyword lists, and re's own cache (512
    # patterns) is soon full when thousands of subscribers are composed in one run.
    patterns = [p for p in map(_term_pattern, terms) if p]
    if not patterns:
        return None
    return re.compile("|".join(sorted(patterns, key=len, reverse=True)), re.IGNORECASE)


def _term_pattern(term: str) -> str:
    # lower(), not casefold(): the pattern must still match the text's own spelling ("ß").
    words = re.findall(r"\w+", term.lower())
    if not words:
        return ""
    # The model folds plurals, so "representation" also marks "representations".
    parts = [re.escape(fold_plural(word)) + r"(?:e?s)?" for word in words]
    return r"\b" + r"[\W_]+".join(parts) + r"\b"
