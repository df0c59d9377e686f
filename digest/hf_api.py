"""Parse the Hugging Face daily-papers API (`/api/daily_papers?date=...`) into paper records.

The answer is a JSON list of entries; older archives wrap it as `{"data": [...]}`. Each
entry holds the paper in `paper` (`id`, `title`, `summary`, `authors`, `publishedAt`,
`submittedOnDailyAt`, `upvotes`, `githubRepo`, `projectPage`, ...) and repeats `title`,
`summary` and `publishedAt` at the top level. `papers_from_entries` reads those entries
for this parser and for the saved HTML page (`digest.hf_html`), which embeds the same list.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import re
from datetime import UTC, date, datetime
from urllib.parse import urlsplit

from digest.errors import PageError
from digest.limits import misfit
from digest.pages import PaperRecord, ParsedPage
from digest.sanitize import one_line

NOT_API = "not a Hugging Face daily-papers response"

# arXiv identifiers: YYMM.NNNN(N) since 2007, archive(.SC)/YYMMNNN before; either may carry
# a version. ASCII digits only: `\d` would also accept Arabic-Indic and other digits.
_NEW_ID = re.compile(r"(?P<id>[0-9]{2}(?:0[1-9]|1[0-2])\.[0-9]{4,5})(?:v[0-9]+)?", re.ASCII)
_OLD_ID = re.compile(
    r"(?P<id>[a-z]+(?:-[a-z]+)*(?:\.[A-Z]{2})?/[0-9]{2}(?:0[1-9]|1[0-2])[0-9]{3})(?:v[0-9]+)?",
    re.ASCII,
)


def parse_api(data: bytes, source: str) -> ParsedPage:
    """Parse the bytes of one daily-papers API answer (a list, or `{"data": [...]}`).

    `page_date` is the day every entry was put on the daily page (the UTC date of its
    `submittedOnDailyAt`, which is the `date` the API was asked for) when all entries
    carry the same one, else None. `publishedAt` is not used for it: that is the arXiv
    date, and one day's list holds papers up to two weeks older.

    Raises PageError naming `source` when the bytes are not UTF-8 JSON (with the line of
    a syntax error), not a list of entries, or an entry lacks a title or a summary (the
    message names the entry, counted from 1). An empty list is a day without papers (a
    weekend, a holiday): a page with none, not an error.
    """
    value = _load_json(data, source)
    if isinstance(value, dict):
        if "data" not in value:
            raise PageError(source, f"{NOT_API}: a JSON object without a 'data' list")
        value = value["data"]
    if not isinstance(value, list):
        raise PageError(source, f"{NOT_API}: expected a list of papers, got {_json_type(value)}")
    papers, skipped = papers_from_entries(value, source)
    return ParsedPage(
        source=source,
        sha256=hashlib.sha256(data).hexdigest(),
        page_date=_shared_day(value),
        papers=papers,
        skipped=skipped,
    )


def papers_from_entries(
    entries: list[object], source: str
) -> tuple[list[PaperRecord], list[PageError]]:
    """Turn daily-papers entries (API or HTML page) into records, `line` = position from 1;
    and the entries skipped, each a PageError naming `source`, the entry and why.

    Titles and summaries have their hard line breaks and runs of spaces folded to one
    space, and characters unsafe to show removed (see digest.sanitize); the `paper` fields
    win over the entry's top-level copies. Metadata that is malformed (an arXiv id, a
    non-http link, a negative upvote count, an unreadable date) is left empty. An entry
    without a title or a summary, one that is not an object with a `paper` object, and
    one with a field too long or too large to store (see digest.limits) is skipped; when
    every entry is, the input is not a daily-papers list and the first problem is raised.
    """
    papers: list[PaperRecord] = []
    problems: list[str] = []
    for number, entry in enumerate(entries, start=1):
        try:
            papers.append(_record(entry, number))
        except ValueError as problem:
            problems.append(f"entry {number}: {problem}")
    if problems and not papers:
        raise PageError(source, problems[0])
    return papers, [PageError(source, f"{problem}: paper skipped") for problem in problems]


def _record(entry: object, number: int) -> PaperRecord:
    """The record of one entry; ValueError says why there is none."""
    paper = entry.get("paper") if isinstance(entry, dict) else None
    if not isinstance(entry, dict) or not isinstance(paper, dict):
        raise ValueError("not a daily-papers entry (no 'paper' object)")
    title = _fold(paper.get("title")) or _fold(entry.get("title"))
    if not title:
        raise ValueError("no title")
    abstract = _fold(paper.get("summary")) or _fold(entry.get("summary"))
    if not abstract:
        raise ValueError("no summary")
    record = PaperRecord(
        title=title,
        abstract=abstract,
        line=number,
        code_url=_http_url(paper.get("githubRepo")),
        arxiv_id=arxiv_id(paper.get("id")),
        authors=_authors(paper.get("authors")),
        upvotes=_count(paper.get("upvotes")),
        project_url=_http_url(paper.get("projectPage")),
        published=iso_date(paper.get("publishedAt")) or iso_date(entry.get("publishedAt")),
    )
    problem = misfit(record)
    if problem is not None:
        raise ValueError(problem)
    return record


def arxiv_id(value: object) -> str | None:
    """The arXiv identifier without its version ("2503.07677v2" -> "2503.07677"), or None.

    Accepts the new scheme (YYMM.NNNN or YYMM.NNNNN) and the old one ("hep-th/9901001",
    "math.GT/0309136"); anything else, or a value that is not a string, gives None.
    """
    if not isinstance(value, str):
        return None
    text = value.strip()
    match = _NEW_ID.fullmatch(text) or _OLD_ID.fullmatch(text)
    return match["id"] if match else None


def iso_date(value: object) -> date | None:
    """The date of an ISO 8601 timestamp ("2025-03-17T00:44:05.364Z"), in UTC when it has
    an offset; None when `value` is not such a string."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
        if moment.tzinfo is not None:
            moment = moment.astimezone(UTC)
    except (ValueError, OverflowError):  # OverflowError: "0001-01-01T00:00+05:00" in UTC
        return None
    return moment.date()


def _load_json(data: bytes, source: str) -> object:
    try:
        text = data.removeprefix(codecs.BOM_UTF8).decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise PageError(source, f"{NOT_API}: not UTF-8 text", line) from None
    return load_json_text(text, source, NOT_API)


def load_json_text(text: str, source: str, what: str, line: int | None = None) -> object:
    """`json.loads(text)`, with every failure a PageError: "<what>: invalid JSON (...)".

    The error's line is `line` when given (where the JSON sits in a larger file), else
    the line of the syntax error in `text`.
    """
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        where = exc.lineno if line is None else line
        raise PageError(source, f"{what}: invalid JSON ({exc.msg})", where) from None
    except RecursionError:
        # Thousands of nested brackets exhaust the decoder's recursion: not a real answer.
        raise PageError(source, f"{what}: invalid JSON (nested too deeply)", line) from None
    except ValueError as exc:  # an integer over Python's 4300-digit conversion limit
        raise PageError(source, f"{what}: invalid JSON ({exc})", line) from None


def _shared_day(entries: list[object]) -> date | None:
    days = set()
    for entry in entries:
        paper = entry.get("paper") if isinstance(entry, dict) else None
        submitted = paper.get("submittedOnDailyAt") if isinstance(paper, dict) else None
        days.add(iso_date(submitted))
    return days.pop() if len(days) == 1 else None


def _fold(value: object) -> str:
    """One line of text, safe to show (see digest.sanitize); "" for what is not a string."""
    return one_line(value) if isinstance(value, str) else ""


def _authors(value: object) -> tuple[str, ...]:
    # Every author is kept, `hidden` ones too: the flag is about their Hugging Face
    # account, while the name is part of the paper's author list.
    if not isinstance(value, list):
        return ()
    names = (_fold(author.get("name")) for author in value if isinstance(author, dict))
    return tuple(name for name in names if name)


def _count(value: object) -> int | None:
    # bool is an int subclass: `true` is not an upvote count.
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


def _http_url(value: object) -> str | None:
    """An absolute http(s) URL, trimmed (two real projectPage values start with a space)."""
    if not isinstance(value, str):
        return None
    url = value.strip()
    if not url or one_line(url) != url or " " in url:
        return None
    try:
        parts = urlsplit(url)
    except ValueError:  # "http://[" and other malformed hosts
        return None
    if parts.scheme.lower() not in {"http", "https"} or not parts.hostname:
        return None
    return url


def _json_type(value: object) -> str:
    names = {
        dict: "an object",
        list: "a list",
        str: "a string",
        int: "a number",
        float: "a number",
        bool: "true or false",
    }
    return "null" if value is None else names.get(type(value), type(value).__name__)
