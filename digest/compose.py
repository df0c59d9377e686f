"""Turn a subscriber's picks into an email: Jinja templates, text and HTML alternatives."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from email.headerregistry import Address
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import NamedTuple, Protocol, cast
from urllib.parse import quote, quote_plus, urlsplit

import css_inline
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from digest.config import Settings
from digest.feedback import DOWN, UP, Ballot, vote_signer
from digest.mime import Email, address, alternative
from digest.ranking.analyzer import fold_plural
from digest.resources import resource_dir
from digest.tokens import Signer
from digest.unsubscribe import make_token

SUMMARY_CHARS = 600
# A liked paper's title in the "why" line: enough to recognize it, not a line of its own.
LIKED_TITLE_CHARS = 60
# The stylesheet of the HTML templates, in the templates folder.
STYLESHEET = "digest.css"
# A day brings about a thousand new papers; each one's parts are rendered once a run.
PAPERS_CACHED = 4096
# Rendered summaries, by their marked words: one per paper without marks, and one for each
# different set of marks that subscribers' terms make in it.
ABSTRACTS_CACHED = 16384


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
    # The papers the reader liked that it is most like.
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
    subscriber: RecipientFields, digest_date: date, entries: list[Entry], message_id: str
) -> Digest:
    """A subscriber's digest of `entries` for `digest_date`."""
    return Digest(
        recipient=Recipient(subscriber.email, subscriber.name),
        digest_date=digest_date,
        entries=entries,
        message_id=message_id,
        keywords=list(subscriber.keywords),
    )


class _InliningLoader(FileSystemLoader):
    """Inlines the stylesheet into each HTML template as it is loaded, so once per process,
    not per message.

    Mail clients drop <style> blocks; @media rules are kept for the ones that honour them.
    A document (digest.html) names the stylesheet with a <link>, which inlining removes; a
    fragment (a file of macros) gets the same rules, so that parts rendered on their own
    are styled as they would be in place.
    """

    def __init__(self, searchpath: Path) -> None:
        super().__init__(searchpath)
        self._css = (searchpath / STYLESHEET).read_text(encoding="utf-8")
        self._document = css_inline.CSSInliner(
            keep_at_rules=True, load_remote_stylesheets=False, extra_css=self._css
        )
        self._fragment = css_inline.CSSInliner(keep_at_rules=True)

    def get_source(
        self, environment: Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        source, filename, uptodate = super().get_source(environment, template)
        if template.endswith(".html"):
            if _DOCUMENT.match(source):
                source = self._document.inline(source)
            else:
                source = self._fragment.inline_fragment(source, self._css)
        return source, filename, uptodate


_DOCUMENT = re.compile(r"\s*(<!doctype|<html)", re.IGNORECASE)


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
        """`secret` signs the links; `base_url` adds one-click unsubscribe and feedback links."""
        self._sender = sender
        self._from = address(sender.display_name, sender.addr_spec)
        self._secret = secret
        self._base_url = base_url
        self._votes: Signer | None = vote_signer(secret) if secret and base_url else None
        environment = Environment(
            loader=_InliningLoader(templates),
            autoescape=select_autoescape(["html"], default_for_string=True),
            undefined=StrictUndefined,
            keep_trailing_newline=True,
        )
        self._text = environment.get_template("digest.txt")
        self._html = environment.get_template("digest.html")
        # Per composer, not per module: the parts come from this composer's templates.
        html_parts = cast(_HtmlMacros, environment.get_template("paper.html").module)
        text_parts = cast(_TextMacros, environment.get_template("paper.txt").module)
        self._paper = functools.lru_cache(maxsize=PAPERS_CACHED)(
            functools.partial(_paper_parts, html_parts, text_parts)
        )
        # Keyed by the marked pieces, not by the terms: whatever the terms, most summaries
        # have no match and share one rendering.
        self._abstract = functools.lru_cache(maxsize=ABSTRACTS_CACHED)(html_parts.abstract)

    def render(self, digest: Digest) -> tuple[str, str]:
        """The plain-text and the HTML body of `digest`."""
        return self._render(digest, digest.subject, self._unsubscribe(digest.recipient.email))

    def _render(
        self, digest: Digest, subject: str, links: dict[str, str | None]
    ) -> tuple[str, str]:
        context = {
            "recipient": digest.recipient,
            "subject": subject,
            "date_label": _date_label(digest.digest_date),
            "entries": [
                self._entry_view(entry, digest.recipient.email) for entry in digest.entries
            ],
            "keywords": digest.keywords,
            **links,
        }
        return self._text.render(context), self._html.render(context)

    def _entry_view(self, entry: Entry, email: str) -> _EntryView:
        paper = self._paper(
            entry.title,
            entry.abstract,
            entry.arxiv_id,
            entry.authors,
            entry.upvotes,
            entry.code_url,
            entry.project_url,
        )
        matched = {m.casefold() for m in entry.matched}
        return _EntryView(
            title=entry.title,
            score=entry.score,
            matched=entry.matched,
            because=entry.because,
            liked=[shorten(title, LIKED_TITLE_CHARS) for title in entry.liked],
            terms=[t for t in entry.terms if t not in matched],
            title_link=paper.title_link,
            meta_html=paper.meta_html,
            abstract_html=self._abstract(
                tuple(highlight(paper.paper.summary, entry.matched or entry.terms))
            ),
            links_html=paper.links_html,
            about_text=paper.about_text,
            details_text=paper.details_text,
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

        Raises ValueError for an address or name the mail format cannot carry.
        """
        recipient = digest.recipient
        links = self._unsubscribe(recipient.email)
        subject = digest.subject
        text, html = self._render(digest, subject, links)
        headers = [
            ("From", self._from),
            ("To", address(recipient.name, recipient.email)),
            ("Subject", subject),
            ("Date", format_datetime(now)),
            ("Message-ID", digest.message_id),
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
            data=alternative(headers, text, html),
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
    )


class _EntryView(NamedTuple):
    """What the templates show of one entry: the subscriber's own parts, and the paper's
    parts rendered once per paper by the macros of paper.html and paper.txt.

    Attributes, not a dict: Jinja looks a name up as an attribute first, and failing that
    for each of a message's few hundred lookups was a tenth of rendering it. A named tuple,
    not a frozen dataclass: building one per entry costs a tuple, not a setattr per field.
    """

    title: str
    score: float
    matched: list[str]
    because: list[str]
    liked: list[str]
    terms: list[str]
    title_link: Markup
    meta_html: Markup
    abstract_html: Markup
    links_html: Markup
    about_text: str
    details_text: str
    # This reader's "More like this" and "Less like this" links, with a web side.
    more_url: str | None
    less_url: str | None


class _Paper(NamedTuple):
    """What the macros of paper.html and paper.txt show of one paper."""

    title: str
    summary: str
    summary_lines: tuple[str, ...]
    authors: str
    upvotes: int | None
    code_url: str | None
    code_label: str
    project_url: str | None
    title_url: str
    arxiv_url: str
    pdf_url: str | None
    hf_url: str


class _PaperParts(NamedTuple):
    """A paper's parts of an entry, the same in every digest it is in."""

    paper: _Paper
    title_link: Markup
    meta_html: Markup
    links_html: Markup
    about_text: str
    details_text: str


class _HtmlMacros(Protocol):
    """The macros of paper.html: Jinja makes them attributes of the template's module."""

    def title_link(self, paper: _Paper) -> Markup: ...
    def meta(self, paper: _Paper) -> Markup: ...
    def links(self, paper: _Paper) -> Markup: ...
    def abstract(self, pieces: tuple[tuple[str, bool], ...]) -> Markup: ...


class _TextMacros(Protocol):
    """The macros of paper.txt."""

    def about(self, paper: _Paper) -> str: ...
    def details(self, paper: _Paper) -> str: ...


def _paper_parts(
    html: _HtmlMacros,
    text: _TextMacros,
    title: str,
    abstract: str,
    arxiv_id: str | None,
    authors: tuple[str, ...],
    upvotes: int | None,
    code_url: str | None,
    project_url: str | None,
) -> _PaperParts:
    """A paper's parts rendered by the `html` and `text` macros (cached by the Composer)."""
    summary = shorten(abstract)
    links = _paper_links(arxiv_id, title)
    paper = _Paper(
        title=title,
        summary=summary,
        summary_lines=tuple(wrap(summary)),
        authors=_authors(authors),
        upvotes=upvotes,
        code_url=code_url if _is_web_link(code_url) else None,
        code_label=code_label(code_url) if code_url else "",
        project_url=project_url if _is_web_link(project_url) else None,
        title_url=links.title_url,
        arxiv_url=links.arxiv_url,
        pdf_url=links.pdf_url,
        hf_url=links.hf_url,
    )
    return _PaperParts(
        paper=paper,
        title_link=html.title_link(paper),
        meta_html=html.meta(paper),
        links_html=html.links(paper),
        about_text=text.about(paper),
        details_text=text.details(paper),
    )


@functools.lru_cache(maxsize=64)
def _date_label(day: date) -> str:
    # All of a run's digests are for the same day.
    return f"{day:%A, %d %B %Y}"


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
    # time; greedy filling at spaces is all a summary needs, and one regular expression
    # does it in C.
    return [short or long for short, long in _line_pattern(width).findall(text)]


@functools.cache
def _line_pattern(width: int) -> re.Pattern[str]:
    # The longest run of at most `width` characters that ends before a space or the end,
    # else one word longer than that.
    return re.compile(rf"(.{{1,{width}}})(?: |\Z)|([^ ]+)(?: |\Z)")


class _Links(NamedTuple):
    title_url: str
    arxiv_url: str
    pdf_url: str | None
    hf_url: str


def _paper_links(arxiv_id: str | None, title: str) -> _Links:
    """Where the paper is: its arXiv pages when the id is known, else a title search."""
    if arxiv_id:
        page = f"https://arxiv.org/abs/{quote(arxiv_id, safe='/.')}"
        return _Links(
            title_url=page,
            arxiv_url=page,
            pdf_url=f"https://arxiv.org/pdf/{quote(arxiv_id, safe='/.')}",
            hf_url=f"https://huggingface.co/papers/{quote(arxiv_id, safe='/.')}",
        )
    query = quote_plus(title)
    search = f"https://arxiv.org/search/?query={query}&searchtype=title"
    return _Links(
        title_url=search,
        arxiv_url=search,
        pdf_url=None,
        hf_url=f"https://huggingface.co/papers?q={query}",
    )


def _authors(names: tuple[str, ...], shown: int = 5) -> str:
    if len(names) <= shown:
        return ", ".join(names)
    return f"{', '.join(names[:shown])} et al. ({len(names)} authors)"


# Where a paper's code link is shown as "Code"; a link elsewhere is shown by its host.
CODE_HOSTS = frozenset({"github.com", "gitlab.com", "huggingface.co"})


def code_label(url: str) -> str:
    """ "Code" for a link to a known code host; else the link's host in ASCII (IDNA), so a
    look-alike (github.com with a Cyrillic i, U+0456) reads as what it is (xn--gthub-...)."""
    try:
        parts = urlsplit(url)
        port = parts.port
        host = (parts.hostname or "").encode("idna").decode("ascii")
    except (ValueError, UnicodeError):  # a malformed port or host
        return "link"
    if port is None and "@" not in parts.netloc and host.removeprefix("www.") in CODE_HOSTS:
        return "Code"
    return host or "link"


def _is_web_link(url: str | None) -> bool:
    return bool(url) and re.match(r"https?://", url or "", re.IGNORECASE) is not None


def highlight(text: str, terms: list[str]) -> list[tuple[str, bool]]:
    """Split `text` into (piece, is_match) runs, marking where any of `terms` occurs.

    A term matches its words in order, whole words only, in any case, each word also with
    a plural ending, with any punctuation or spaces between them. Where matches overlap,
    the one that starts first wins, and of those the longest.
    """
    # Matched word by word against the text's words (found once per summary, which many
    # digests share) rather than with a regular expression per term: compiling one took
    # longer than a message's rendering, and every subscriber brings terms of their own.
    words = _words(text)
    found = sorted(
        (words.spans[first][0], -words.spans[last][1])
        for term in terms
        for first, last in _occurrences(words, _term_words(term))
    )
    pieces: list[tuple[str, bool]] = []
    position = 0
    for start, negative_end in found:
        if start < position:
            continue
        if start > position:
            pieces.append((text[position:start], False))
        pieces.append((text[start:-negative_end], True))
        position = -negative_end
    if position < len(text) or not pieces:
        pieces.append((text[position:], False))
    return pieces


@dataclass(frozen=True)
class _Words:
    """A text's words (runs of letters and digits): where each is, lowercased, and whether
    it starts or ends a whole word (`\\w` run: an underscore joins words into one); and, by
    each word and each word less an -s or -es ending, where it and its plurals are."""

    spans: list[tuple[int, int]]
    lowered: list[str]
    opens: list[bool]
    closes: list[bool]
    forms: dict[str, list[int]]


@functools.lru_cache(maxsize=8192)
def _words(text: str) -> _Words:
    matches = list(_ALPHANUMERIC.finditer(text))
    spans = [match.span() for match in matches]
    lowered = [match.group().lower() for match in matches]
    if "_" in text:
        opens = [start == 0 or text[start - 1] != "_" for start, _ in spans]
        closes = [end == len(text) or text[end] != "_" for _, end in spans]
    else:
        # Without an underscore every word is whole: the usual case, and much cheaper.
        opens = closes = [True] * len(spans)
    # Found once per summary, so that a term's first word is looked up once, not as three
    # spellings for every subscriber's every term.
    forms: dict[str, list[int]] = {}
    for index, word in enumerate(lowered):
        forms.setdefault(word, []).append(index)
        if word[-1] == "s":
            forms.setdefault(word[:-1], []).append(index)
            if word[-2:] == "es":
                forms.setdefault(word[:-2], []).append(index)
    return _Words(spans, lowered, opens, closes, forms)


_ALPHANUMERIC = re.compile(r"[^\W_]+")


@functools.lru_cache(maxsize=65536)
def _term_words(term: str) -> tuple[str, ...]:
    """`term`'s words, lowercased and singular: what the text's words are compared with."""
    # lower(), not casefold(): the text's own spelling must still match ("ß").
    # The model folds plurals, so "representation" also marks "representations".
    return tuple(fold_plural(word) for word in _ALPHANUMERIC.findall(term.lower()))


def _is_form(word: str, singular: str) -> bool:
    """`word` is `singular` or its plural with -s or -es."""
    return word == singular or (word.startswith(singular) and word[len(singular) :] in _ENDINGS)


_ENDINGS = frozenset({"s", "es"})


def _occurrences(words: _Words, term: tuple[str, ...]) -> list[tuple[int, int]]:
    """Where `term` occurs in `words`: (first, last) word indices of each occurrence."""
    if not term:
        return []
    tail = term[1:]
    found: list[tuple[int, int]] = []
    for first in words.forms.get(term[0], ()):
        last = first + len(tail)
        if not words.opens[first] or last >= len(words.lowered) or not words.closes[last]:
            continue
        # Consecutive words always have something between them that the term's own
        # separators (any punctuation, spaces or underscores) allow.
        if all(map(_is_form, words.lowered[first + 1 : last + 1], tail)):
            found.append((first, last))
    return found
