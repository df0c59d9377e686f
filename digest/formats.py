"""Read any input digest accepts, recognizing its format by its content.

Three formats carry the same papers: the text dump of the papers page (`digest.pages`),
the daily-papers API's JSON (`digest.hf_api`) and the saved HTML page (`digest.hf_html`).
The file name plays no part: a `.txt` that holds JSON is read as JSON, and standard input
has no name to go by.
"""

from __future__ import annotations

import codecs
from datetime import date

from digest.hf_api import parse_api
from digest.hf_html import parse_html
from digest.pages import ParsedPage, parse_page

# The suffixes a folder scan picks up (compare with `Path.suffix.lower()`); one file
# given by name is read whatever its name.
SUFFIXES = frozenset({".txt", ".json", ".html", ".htm"})


def parse_input(data: bytes, source: str, today: date) -> ParsedPage:
    """Parse one input of any format; `today` is the day it is read (text dumps need it).

    The first byte after an optional UTF-8 byte order mark and leading whitespace decides:
    `[` or `{` is the API's JSON, `<` a saved HTML page, anything else a text dump. A text
    dump starts with none of the three: it begins with the page's header or a date line,
    and the text parser refuses anything else.

    Raises PageError naming `source` when the input cannot be read in its format; the
    `sha256` of the result is that of `data` as given, byte order mark included.
    """
    start = data.removeprefix(codecs.BOM_UTF8).lstrip()[:1]  # lstrip: ASCII whitespace
    if start in (b"[", b"{"):
        return parse_api(data, source)
    if start == b"<":
        return parse_html(data, source)
    return parse_page(data, source, today)
