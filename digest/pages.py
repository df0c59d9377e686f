"""Parse digest pages (text dumps of Hugging Face daily-papers pages) into paper records."""

from __future__ import annotations

import codecs
import hashlib
import logging
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import NamedTuple

from digest.errors import PageError
from digest.limits import MAX_TITLE_CHARS, misfit
from digest.sanitize import excerpt, one_line

log = logging.getLogger(__name__)
# Lines the page carries above the papers, compared case-insensitively.
_HEADER_LINES = frozenset(
    {
        "new",
        "subscribe",
        "get trending papers in your email inbox!",
        "get trending papers in your email inbox once a day!",
        "byak and the research community",
    }
)
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_DATE_LINE = re.compile(r"(?P<month>[A-Z][a-z]{2})[a-z]*\.? (?P<day>\d{1,2})")
_SUBSCRIBE = "Subscribe"
# Abstracts write repositories with or without the scheme ("github.com/NVlabs/SegFormer.").
_CODE_LINK = re.compile(
    r"(?<![\w.])(?:https?://)?(?:www\.)?github\.com/(?P<repo>[\w.-]+/[\w.-]+)", re.IGNORECASE
)

MAX_TITLE_WORDS = 40
# Real titles run to 23 words and 176 characters, real abstracts from 68 words and 537
# characters up. A shorter line after a title is no abstract: a withdrawn paper's one
# sentence, or a title whose abstract is missing.
MIN_ABSTRACT_WORDS = 30
# A page date later than the day it is read by more than this is taken from the year before.
_FUTURE_SLACK = timedelta(days=2)


@dataclass(frozen=True)
class PaperRecord:
    """One paper as a source lists it; what a text dump lacks stays empty.

    `line` is where the paper starts in its source: the line of a text page, the
    position (from 1) of the entry in a JSON or HTML list.
    """

    title: str
    abstract: str
    line: int
    code_url: str | None = None
    arxiv_id: str | None = None
    authors: tuple[str, ...] = ()
    upvotes: int | None = None
    project_url: str | None = None
    published: date | None = None

    @property
    def key(self) -> str:
        """The identity of the paper across pages: its normalized title."""
        return paper_key(self.title)


@dataclass(frozen=True)
class ParsedPage:
    """A whole page: where it came from, its hash, its date and its papers.

    `skipped` names the entries left out (their source, line or entry, and why): the
    page's other papers still go in.
    """

    source: str
    sha256: str
    page_date: date | None
    papers: list[PaperRecord] = field(default_factory=list)
    skipped: list[PageError] = field(default_factory=list)


def paper_key(title: str) -> str:
    """Normalize a title so that case, punctuation and spacing do not split one paper in two."""
    folded = unicodedata.normalize("NFKC", title).casefold()
    return " ".join(re.findall(r"\w+", folded))


def parse_page(data: bytes, source: str, today: date) -> ParsedPage:
    """Parse the bytes of one page; `today` is the day it is read, to infer the page's year.

    Raises PageError naming `source` and the line when the page is empty, binary, not a
    digest page, or lists a title without an abstract.
    """
    if not data.strip():
        raise PageError(source, "empty file: no digest page in it")
    if b"\x00" in data:
        raise PageError(source, "binary file, not a digest page")
    body = data.removeprefix(codecs.BOM_UTF8)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = body[: exc.start].count(b"\n") + 1
        text = body.decode("utf-8", errors="replace")
        # A few stray bytes in a real page (a mangled accent) are kept as U+FFFD; a file
        # that is mostly not UTF-8 is not a page.
        if text.count("\ufffd") > max(3, len(text) // 100):
            raise PageError(source, "not UTF-8 text, not a digest page", line) from None
        log.warning("%s:%d: bytes that are not UTF-8, shown as \ufffd", source, line)
    # Lines end at "\n" alone: str.splitlines() would also break inside an abstract at a
    # U+2028 or a form feed, and the line numbers would no longer be the file's.
    return _parse_lines(text.split("\n"), source, hashlib.sha256(data).hexdigest(), today)


class _Line(NamedTuple):
    """A line of a page; a tuple, not a frozen dataclass, since a page may hold millions."""

    number: int
    text: str

    @property
    def title(self) -> bool:
        """Whether it could be a paper's title."""
        return _looks_like_title(self.text, self.text.split())


class _Pending:
    """The lines since the last paper, as much of them as is ever said: the first two, the
    last two, and how many. A run of a million short lines (a hostile page) then costs
    no million objects, and a line is judged a title only when it matters."""

    def __init__(self) -> None:
        self.count = 0
        self.head: list[_Line] = []
        self.before_last: _Line | None = None
        self.last: _Line | None = None

    def add(self, line: _Line) -> None:
        self.count += 1
        if len(self.head) < 2:
            self.head.append(line)
        self.before_last, self.last = self.last, line

    def unpaired(self, source: str, *, end: bool = False) -> list[PageError]:
        """What to say of these lines when no paper follows them (see `_unpaired`)."""
        if self.last is None:
            return []
        return _unpaired(self.head, self.count, self.last.number, source, end=end)

    def unpaired_before_last(self, source: str) -> list[PageError]:
        """What to say of the lines before the last, which is a paper's title."""
        if self.before_last is None:
            return []
        head = self.head[: self.count - 1]
        return _unpaired(head, self.count - 1, self.before_last.number, source)


def _parse_lines(lines: list[str], source: str, sha256: str, today: date) -> ParsedPage:
    """Read the header, then pair each abstract with the title line just before it.

    Lines that make no such pair (a title without an abstract, an abstract without a
    title, a withdrawn paper's one sentence) are skipped and named; only a file without
    the header or without any paper is refused.
    """
    page_date: date | None = None
    saw_header = saw_subscribe_line = False
    in_header = True
    papers: list[PaperRecord] = []
    skipped: list[PageError] = []
    pending = _Pending()
    for number, raw in enumerate(lines, start=1):
        text = one_line(raw)
        if not text:
            continue
        if in_header:
            if text.casefold() in _HEADER_LINES:
                saw_header = True
                saw_subscribe_line |= text.casefold() == _SUBSCRIBE.casefold()
                continue
            if page_date is None and (found := _page_date(text, today)):
                page_date = found
                continue
            if not saw_header:
                # The line itself is not quoted: a file that is no page may hold anything.
                raise PageError(
                    source, "not a digest page: no 'Get trending papers' header above", number
                )
            # Pages saved without line breaks glue the button's label to the first title
            # ("SubscribeOne-Shot ..."); they have no "Subscribe" line of its own.
            if not saw_subscribe_line and text.startswith(_SUBSCRIBE) and text != _SUBSCRIBE:
                text = text.removeprefix(_SUBSCRIBE)
            in_header = False
        last = pending.last
        if last is not None and _looks_like_abstract(text.split()) and last.title:
            skipped += pending.unpaired_before_last(source)
            pending = _Pending()
            record = _record(last, text)
            problem = misfit(record)
            if problem is None:
                papers.append(record)
            else:
                skipped.append(PageError(source, f"{problem}: paper skipped", last.number))
            continue
        pending.add(_Line(number, text))
    skipped += pending.unpaired(source, end=True)
    if not papers:
        if skipped:
            raise skipped[0]
        raise PageError(source, "not a digest page: no papers found")
    return ParsedPage(
        source=source, sha256=sha256, page_date=page_date, papers=papers, skipped=skipped
    )


def _unpaired(
    head: list[_Line], count: int, last_number: int, source: str, *, end: bool = False
) -> list[PageError]:
    """What to say of `count` lines between two papers that make no paper of their own:
    `head` are the first two (or fewer), `last_number` the last one's line."""
    if not count:
        return []
    first = head[0]
    shown = excerpt(first.text)
    if count == 1 and first.title:
        problem = f"title {shown!r} has no abstract{' (end of file)' if end else ''}"
    elif count == 1:
        problem = f"text with no title before it: {shown!r}"
    elif count == 2 and first.title:
        short = head[1].text
        problem = (
            f"title {shown!r}: its abstract {excerpt(short)!r} is {len(short.split())} words, "
            "too short for a paper's: paper skipped"
        )
    else:
        problem = (
            f"{count} lines up to line {last_number} are not a title followed by "
            "an abstract: skipped"
        )
    return [PageError(source, problem, first.number)]


def _record(title: _Line, abstract: str) -> PaperRecord:
    # Every link the pattern matches holds ".com/" (in any case); most abstracts have none,
    # and the pattern, tried at each position, is the parser's costliest step.
    code = _CODE_LINK.search(abstract) if ".com/" in abstract.lower() else None
    code_url = f"https://github.com/{code['repo'].rstrip('.')}" if code else None
    return PaperRecord(title=title.text, abstract=abstract, line=title.number, code_url=code_url)


def _page_date(text: str, today: date) -> date | None:
    """Read a `Mon DD` date line; the year is the latest that does not put it in the future."""
    match = _DATE_LINE.fullmatch(text)
    if not match or match["month"] not in _MONTHS:
        return None
    month, day = _MONTHS.index(match["month"]) + 1, int(match["day"])
    # Back from next year until the date exists and is not in the future: "Feb 29" may
    # need up to eight years (1900-style century gaps aside).
    for year in range(today.year + 1, today.year - 9, -1):
        try:
            candidate = date(year, month, day)
        except ValueError:  # Feb 29 outside a leap year, or "Apr 31"
            continue
        if candidate <= today + _FUTURE_SLACK:
            return candidate
    return None


def _looks_like_title(text: str, words: list[str]) -> bool:
    return (
        len(text) <= MAX_TITLE_CHARS
        and len(words) <= MAX_TITLE_WORDS
        and any(c.isalpha() for c in text)
    )


def _looks_like_abstract(words: list[str]) -> bool:
    return len(words) >= MIN_ABSTRACT_WORDS
