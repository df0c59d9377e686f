"""Parse a saved Hugging Face papers page (huggingface.co/papers, HTML) into paper records.

The page renders its list in the browser from JSON: the element with
`data-target="DailyPapers"` carries it, HTML-escaped, in its `data-props` attribute, with
the keys `date` and `dailyPapers` (entries shaped like the daily-papers API's). The rest
of the page (markup, scripts, client configuration) is not read.
"""

from __future__ import annotations

import codecs
import hashlib

from lxml import etree

from digest.errors import PageError
from digest.hf_api import iso_date, load_json_text, papers_from_entries
from digest.pages import ParsedPage

NOT_HTML = "not a Hugging Face papers page"
_TARGET = "DailyPapers"


def parse_html(data: bytes, source: str) -> ParsedPage:
    """Parse the bytes of one saved papers page; `page_date` is the day the page lists.

    Raises PageError naming `source` when the page is not UTF-8, has no DailyPapers
    element, its `data-props` is not JSON (with the element's line) or holds no papers,
    or none of its entries is a paper (the message names the first, from 1); entries
    that are not papers are skipped and named in the result.
    """
    try:
        text = data.removeprefix(codecs.BOM_UTF8).decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise PageError(source, f"{NOT_HTML}: not UTF-8 text", line) from None
    found = find_daily_papers(text)
    if found is None:
        raise PageError(source, f"{NOT_HTML}: no {_TARGET} element")
    line, raw_props = found
    if raw_props is None:
        raise PageError(source, f"{NOT_HTML}: the {_TARGET} element has no data-props", line)
    props = load_json_text(raw_props, source, f"{NOT_HTML}: {_TARGET} data-props", line)
    if not isinstance(props, dict) or not isinstance(props.get("dailyPapers"), list):
        raise PageError(source, f"{NOT_HTML}: {_TARGET} data-props has no 'dailyPapers' list", line)
    entries = props["dailyPapers"]
    if not entries:
        raise PageError(source, f"{NOT_HTML}: the list of papers is empty", line)
    papers, skipped = papers_from_entries(entries, source)
    return ParsedPage(
        source=source,
        sha256=hashlib.sha256(data).hexdigest(),
        page_date=iso_date(props.get("date")),
        papers=papers,
        skipped=skipped,
    )


def find_daily_papers(text: str) -> tuple[int, str | None] | None:
    """The line of the first element whose `data-target` is exactly DailyPapers, and its
    `data-props` unescaped (None when absent or empty); None when there is no such element.

    libxml2's HTML parser (lxml) reads the page in time linear in its size, whatever the
    markup: the standard library's html.parser takes time quadratic in the length of some
    malformed inputs ("<a " repeated: 16 s of CPU for 40 KB), and any input that starts
    with "<" reaches this parser. `huge_tree` lets a text node or attribute exceed 10 MB,
    as a page up to DIGEST_MAX_PAGE_MB may need.
    """
    parser = etree.HTMLParser(huge_tree=True, no_network=True, remove_comments=True)
    root = etree.fromstring(text, parser)
    if root is None:
        return None
    for element in root.iter(etree.Element):
        if element.get("data-target") == _TARGET:
            line = element.sourceline
            return line if isinstance(line, int) else 1, element.get("data-props") or None
    return None
