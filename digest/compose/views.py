"""What the templates show of a paper: its parts, rendered once per paper and the same in
every digest it is in, and an entry's view, the paper as one reader gets it; with the
templates' macros that render them, as Python sees them.

The composer builds these and the templates read them: keeping them apart from both lets
the size fitting and the composer share one description of an entry.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

from markupsafe import Markup

from digest.compose.links import Link, paper_links, paper_page
from digest.compose.text import clipped, shorten, wrap
from digest.typography import typeset

# A paper listed by title has its title shortened to this length.
LISTED_TITLE_CHARS = 100


class EntryView(NamedTuple):
    """What the templates show of one entry: the subscriber's own parts, and the paper's
    parts rendered once per paper by the macros of paper.html and paper.txt.

    Attributes, not a dict: Jinja looks a name up as an attribute first, and failing that
    for each of a message's few hundred lookups was a tenth of rendering it. A named tuple,
    not a frozen dataclass: building one per entry costs a tuple, not a setattr per field.
    """

    rank: str
    title: str
    short_title: str
    strength_label: str
    strength_html: Markup
    # Why it was picked: the keywords it holds, and the papers it is like, each a (kind,
    # shortened title) pair: ("liked", a paper the reader liked), ("seed", one they chose).
    # The lists are also joined as both parts write them: once here, not by a filter call
    # in every form of every part, which cost more than the join.
    matched: list[str]
    matched_html: Markup
    matched_joined: str
    papers: list[tuple[str, str]]
    terms: list[str]
    terms_joined: str
    # Whether the title links the paper itself.
    linked: bool
    heading_html: Markup
    listed_html: Markup
    meta_html: Markup
    abstract_html: Markup
    links_html: Markup
    about_text: str
    summary_text: str
    links_text: str
    first_link_text: str
    # This reader's "More like this" and "Less like this" links, with a web side.
    more_url: str | None
    less_url: str | None


class Paper(NamedTuple):
    """What the macros of paper.html and paper.txt show of one paper."""

    title: str
    short_title: str
    summary: str
    summary_lines: tuple[str, ...]
    authors: str
    upvotes: int | None
    # The paper itself when its id is known; None rather than a search.
    title_url: str | None
    links: tuple[Link, ...]
    # Its arXiv page, or a search for it there: the one link of a short entry.
    main_link: Link
    # The text part's labels are padded to this width, so that the addresses align.
    label_width: int


class PaperParts(NamedTuple):
    """A paper's parts of an entry, the same in every digest it is in."""

    paper: Paper
    heading_html: Markup
    listed_html: Markup
    meta_html: Markup
    links_html: Markup
    about_text: str
    summary_text: str
    links_text: str
    main_link_text: str


class HtmlMacros(Protocol):
    """The macros of paper.html: Jinja makes them attributes of the template's module."""

    def heading(self, paper: Paper) -> Markup: ...
    def listed(self, paper: Paper) -> Markup: ...
    def meta(self, paper: Paper) -> Markup: ...
    def links(self, paper: Paper) -> Markup: ...
    def abstract(self, pieces: tuple[tuple[str, bool], ...]) -> Markup: ...


class TextMacros(Protocol):
    """The macros of paper.txt."""

    def about(self, paper: Paper) -> str: ...
    def summary(self, paper: Paper) -> str: ...
    def links(self, paper: Paper) -> str: ...
    def main_link(self, paper: Paper) -> str: ...


class EntryHtml(Protocol):
    """The macros of entry.html: a paper in a form, and a note where the form changes."""

    def entry(self, view: EntryView, form: str) -> Markup: ...
    def gap(self, note: str) -> Markup: ...
    def strength(self, kind: str, label: str) -> Markup: ...
    def matches(self, terms: tuple[str, ...]) -> Markup: ...


class EntryText(Protocol):
    """The macros of entry.txt, as entry.html's."""

    def entry(self, view: EntryView, form: str) -> str: ...
    def gap(self, note: str) -> str: ...


def paper_parts(
    html: HtmlMacros,
    text: TextMacros,
    title: str,
    abstract: str,
    arxiv_id: str | None,
    authors: tuple[str, ...],
    upvotes: int | None,
    code_url: str | None,
    project_url: str | None,
) -> PaperParts:
    """A paper's parts rendered by the `html` and `text` macros (cached by the Composer)."""
    title = typeset(title)
    summary = shorten(typeset(abstract))
    links = paper_links(title, arxiv_id, code_url, project_url)
    paper = Paper(
        title=title,
        short_title=clipped(title, LISTED_TITLE_CHARS),
        summary=summary,
        summary_lines=tuple(wrap(summary)),
        authors=_authors(authors),
        upvotes=upvotes,
        title_url=paper_page(arxiv_id),
        links=links,
        main_link=next(link for link in links if "arXiv" in link.label),
        label_width=max(len(link.label) + 1 for link in links),
    )
    return PaperParts(
        paper=paper,
        heading_html=html.heading(paper),
        listed_html=html.listed(paper),
        meta_html=html.meta(paper),
        links_html=html.links(paper),
        about_text=text.about(paper),
        summary_text=text.summary(paper),
        links_text=text.links(paper),
        main_link_text=text.main_link(paper),
    )


def _authors(names: tuple[str, ...], shown: int = 5) -> str:
    if len(names) <= shown:
        return ", ".join(names)
    return f"{', '.join(names[:shown])} et al. ({len(names)} authors)"
