"""Parse a saved Hugging Face papers page (huggingface.co/papers, HTML) into paper records.

The page renders its list in the browser from JSON: the element with
`data-target="DailyPapers"` carries it, HTML-escaped, in its `data-props` attribute, with
the keys `date` and `dailyPapers` (entries shaped like the daily-papers API's). The rest
of the page (markup, scripts, client configuration) is not read.
"""

from __future__ import annotations

import codecs
import hashlib
from html.parser import HTMLParser

from digest.errors import PageError
from digest.hf_api import iso_date, load_json_text, papers_from_entries
from digest.pages import ParsedPage

NOT_HTML = "not a Hugging Face papers page"
_TARGET = "DailyPapers"


def parse_html(data: bytes, source: str) -> ParsedPage:
    """Parse the bytes of one saved papers page; `page_date` is the day the page lists.

    Raises PageError naming `source` when the page is not UTF-8, has no DailyPapers
    element, its `data-props` is not JSON (with the element's line) or holds no papers,
    or an entry lacks a title or a summary (the message names the entry, from 1).
    """
    try:
        text = data.removeprefix(codecs.BOM_UTF8).decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise PageError(source, f"{NOT_HTML}: not UTF-8 text", line) from None
    finder = _DailyPapersFinder()
    try:
        finder.feed(text)
        finder.close()
    except _Found:
        pass
    if finder.line is None:
        raise PageError(source, f"{NOT_HTML}: no {_TARGET} element")
    if finder.props is None:
        raise PageError(source, f"{NOT_HTML}: the {_TARGET} element has no data-props", finder.line)
    props = load_json_text(finder.props, source, f"{NOT_HTML}: {_TARGET} data-props", finder.line)
    entries = props.get("dailyPapers") if isinstance(props, dict) else None
    if not isinstance(entries, list):
        raise PageError(
            source, f"{NOT_HTML}: {_TARGET} data-props has no 'dailyPapers' list", finder.line
        )
    if not entries:
        raise PageError(source, f"{NOT_HTML}: the list of papers is empty", finder.line)
    return ParsedPage(
        source=source,
        sha256=hashlib.sha256(data).hexdigest(),
        page_date=iso_date(props.get("date")),
        papers=papers_from_entries(entries, source),
    )


class _Found(Exception):
    """Raised from the parser's callback to stop reading the page at the element."""


class _DailyPapersFinder(HTMLParser):
    """Finds the first element whose `data-target` is exactly DailyPapers.

    `line` is its line in the page once found; `props` its `data-props`, unescaped by the
    parser, or None when the attribute is absent or has no value.
    """

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.line: int | None = None
        self.props: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Record the DailyPapers element, then stop: the rest of the page is not needed."""
        # An attribute written twice counts once, the first time, as browsers read it.
        first: dict[str, str | None] = {}
        for name, value in attrs:
            first.setdefault(name, value)
        if first.get("data-target") != _TARGET:
            return
        self.line = self.getpos()[0]
        self.props = first.get("data-props")
        raise _Found

    def parse_marked_section(self, i: int, report: int = 1) -> int:
        """Read `<![...` as the standard does; a malformed one is a bogus comment.

        Python before 3.13 raises AssertionError at a marked section it does not know
        ("<![foo[", "<![ x"); HTML reads any `<![` outside SVG and MathML as a bogus
        comment up to the next `>`, and so does this parser then.
        """
        try:
            return super().parse_marked_section(i, report)
        except AssertionError:
            end = self.rawdata.find(">", i + 3)
            return -1 if end < 0 else end + 1
