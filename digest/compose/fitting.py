"""Fitting a message within the size mail clients show whole: each paper's form (in full,
brief, or listed by title), the notes where the form changes, and the bytes the two bodies
take as the message encodes them.

Apart from the composer because the rule is its own: which papers give up what, in which
order, is decided here and nowhere else, on parts rendered once and measured once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import NamedTuple

from markupsafe import Markup

from digest.compose.views import EntryHtml, EntryText, EntryView
from digest.mime import quoted_printable

log = logging.getLogger(__name__)

# Gmail clips a message over 102 KB, and the unsubscribe link with it. Every message stays
# within MESSAGE_BYTES, headers included (HEADER_BYTES is more than they ever take): papers
# lose their summaries from the last up, then are listed by title, until it fits.
MESSAGE_BYTES = 90_000
HEADER_BYTES = 4_000
# The most papers one email holds: listed by title with their feedback links, this many
# still fit, titles as long as real ones (176 characters). Planning picks no more.
MOST_PAPERS = 40
# The forms of a paper in a message: with its summary; without it or links but the title's;
# one line. A note where the form changes takes at most GAP_BYTES.
FULL, BRIEF, LISTED = "full", "brief", "listed"
_FORMS = (FULL, BRIEF, LISTED)
_SHORTER = {FULL: BRIEF, BRIEF: LISTED}
GAP_BYTES = 400


def within_size(render: Callable[[Fitting | None], Bodies], fitting: Fitting, email: str) -> Bodies:
    """The bodies with every paper in full; when that is too large for MESSAGE_BYTES,
    with the papers in the forms that fit (see `Fitting`).

    `render` renders the two bodies with the papers as a fitting has them (None: none);
    `email`, the recipient's address, names the digest in a warning.
    """
    budget = MESSAGE_BYTES - HEADER_BYTES
    bodies = render(fitting)
    if bodies.size <= budget:
        return bodies
    fitting.fit(budget - render(None).size)
    bodies = render(fitting)
    # The sizes fitted are the papers' alone; the notes between forms, and lines
    # encoded across a paper's edges, may still take a few bytes too many.
    while bodies.size > budget and fitting.shorten_last():
        bodies = render(fitting)
    if bodies.size > budget:
        log.warning(
            "%s: a digest takes %d bytes with every paper listed by title, more than "
            "the %d that Gmail shows whole",
            email,
            bodies.size + HEADER_BYTES,
            MESSAGE_BYTES,
        )
    return bodies


class Fitting:
    """Each paper's form in a message and its parts in that form: all full at first; to fit
    a size, as many papers as fit in full from the top, then as many more in brief, and
    the rest listed, each with a note where the form changes."""

    def __init__(self, views: Sequence[EntryView], text: EntryText, html: EntryHtml) -> None:
        """`text` and `html`: the macros of entry.txt and entry.html."""
        self._views = views
        self._text = text
        self._html = html
        self._forms = [FULL] * len(views)
        self._rendered: dict[tuple[int, str], tuple[str, Markup]] = {}

    def parts(self) -> tuple[list[str], list[Markup]]:
        """The text and the HTML of every paper in its form, with a note where the form
        changes."""
        text: list[str] = []
        html: list[Markup] = []
        for number, form in enumerate(self._forms):
            if number and form != self._forms[number - 1]:
                last = number + self._forms[number:].count(form)
                note = _gap_note(form, number + 1, last)
                text.append(self._text.gap(note))
                html.append(self._html.gap(note))
            entry_text, entry_html = self._part(number, form)
            text.append(entry_text)
            html.append(entry_html)
        return text, html

    def fit(self, room: int) -> None:
        """The forms whose papers take at most `room` bytes, notes included: the most papers
        in full from the top, then the most in brief, the rest listed (all listed when
        even that is too much)."""
        count = len(self._views)
        sizes = {form: [self._size(n, form) for n in range(count)] for form in _FORMS}
        room -= 2 * GAP_BYTES

        def taken(full: int, brief: int) -> int:
            return (
                sum(sizes[FULL][:full])
                + sum(sizes[BRIEF][full : full + brief])
                + sum(sizes[LISTED][full + brief :])
            )

        full = next((n for n in range(count, -1, -1) if taken(n, 0) <= room), 0)
        brief = next((n for n in range(count - full, -1, -1) if taken(full, n) <= room), 0)
        self._forms = [FULL] * full + [BRIEF] * brief + [LISTED] * (count - full - brief)

    def shorten_last(self) -> bool:
        """The last paper not listed one form shorter; False when all are listed."""
        for number in reversed(range(len(self._forms))):
            if self._forms[number] != LISTED:
                self._forms[number] = _SHORTER[self._forms[number]]
                return True
        return False

    def _part(self, number: int, form: str) -> tuple[str, Markup]:
        key = (number, form)
        if key not in self._rendered:
            view = self._views[number]
            self._rendered[key] = (self._text.entry(view, form), self._html.entry(view, form))
        return self._rendered[key]

    def _size(self, number: int, form: str) -> int:
        return _size(*self._part(number, form))


def _size(text: str, html: str) -> int:
    """The bytes of the two bodies as encoded in the message."""
    return len(quoted_printable(text)) + len(quoted_printable(html))


class Bodies(NamedTuple):
    """A message's two bodies, and each as its part of the message writes it: encoded once
    to measure the message, and the message made of the same bytes."""

    text: str
    html: str
    text_part: bytes
    html_part: bytes

    @classmethod
    def of(cls, text: str, html: str) -> Bodies:
        return cls(text, html, quoted_printable(text), quoted_printable(html))

    @property
    def size(self) -> int:
        """The bytes the two bodies take in the message."""
        return len(self.text_part) + len(self.html_part)


def _gap_note(form: str, first: int, last: int) -> str:
    papers = f"Paper {first}" if first == last else f"Papers {first} to {last}"
    how = "without summaries" if form == BRIEF else "by title"
    return f"{papers}, {how}, so that mail apps show this email whole."
