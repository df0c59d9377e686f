"""Composing digests: MIME structure, headers, inlined CSS, escaping, links, highlighting."""

from __future__ import annotations

import dataclasses
import itertools
import re
import textwrap
from datetime import UTC, date, datetime
from email import message_from_bytes, policy
from email.headerregistry import Address
from email.message import EmailMessage
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from digest.compose import (
    SUMMARY_CHARS,
    Composer,
    Digest,
    Entry,
    Recipient,
    highlight,
    new_message_id,
    shorten,
    wrap,
)
from digest.feedback import Ballot, vote_signer
from digest.mime import Email
from digest.resources import resource_dir
from digest.unsubscribe import read_token

SENDER = Address(display_name="Lab Digest", username="digest", domain="example.org")
DAY = date(2025, 3, 1)
NOW = datetime(2025, 3, 1, 7, 0, tzinfo=UTC)
NASTY_TITLES = [
    "<script>alert(1)</script> Attention Is All You Need",
    "Tom &amp; Jerry: literal entities & ampersands",
    "He said \"hi\" & 'bye' <b>bold</b>",
    "Rockets 🚀 and brains 🧠: emoji in titles",
    "نماذج اللغة الكبيرة للترجمة",
    "שלום עולם: mixed RTL and LTR",
    "a/b?c=d#e+f%20g",
]


# --- a small HTML tree, parsed with the standard library -------------------------------------

_VOID = {"meta", "br", "img", "link", "hr", "input"}


class Node:
    def __init__(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tag = tag
        self.attrs = {name: value or "" for name, value in attrs}
        self.children: list[Node | str] = []

    @property
    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text for c in self.children)

    @property
    def classes(self) -> list[str]:
        return self.attrs.get("class", "").split()

    def iter(self):
        yield self
        for child in self.children:
            if isinstance(child, Node):
                yield from child.iter()

    def find_all(self, tag: str | None = None, cls: str | None = None) -> list[Node]:
        return [
            n
            for n in self.iter()
            if (tag is None or n.tag == tag) and (cls is None or cls in n.classes)
        ]


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#root", [])
        self.stack = [self.root]

    def handle_starttag(self, tag, attrs):
        node = Node(tag, attrs)
        self.stack[-1].children.append(node)
        if tag not in _VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag, attrs):
        self.stack[-1].children.append(Node(tag, attrs))

    def handle_endtag(self, tag):
        for index in range(len(self.stack) - 1, 0, -1):
            if self.stack[index].tag == tag:
                del self.stack[index:]
                return

    def handle_data(self, data):
        self.stack[-1].children.append(data)


def parse_html(html: str) -> Node:
    builder = _TreeBuilder()
    builder.feed(html)
    builder.close()
    return builder.root


# --- helpers ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def composer() -> Composer:
    return Composer(resource_dir("templates"), SENDER)


def make_digest(
    entries: list[Entry],
    recipient: Recipient | None = None,
    keywords: list[str] | None = None,
    message_id: str = "<digest-1@example.org>",
) -> Digest:
    return Digest(
        recipient=recipient or Recipient("zoe@example.org", "Zoë Ångström"),
        digest_date=DAY,
        entries=entries,
        message_id=message_id,
        keywords=keywords if keywords is not None else ["neural representation"],
    )


def entry(
    title: str = "A Paper",
    abstract: str = "We study things.",
    matched: list[str] | None = None,
    code_url: str | None = None,
    score: float = 0.5,
) -> Entry:
    return Entry(
        title=title,
        abstract=abstract,
        score=score,
        matched=matched if matched is not None else [],
        code_url=code_url,
    )


def roundtrip(email: Email) -> EmailMessage:
    """`email` as bytes on the wire, parsed back."""
    parsed = message_from_bytes(email.data, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def bodies(composer: Composer, digest: Digest) -> tuple[str, str]:
    """The text and the HTML part of the composed message, after a trip through bytes, with
    line ends as a mail client shows them (CRLF on the wire)."""
    message = roundtrip(composer.compose(digest, NOW))
    text_part = message.get_body(("plain",))
    html_part = message.get_body(("html",))
    assert text_part is not None
    assert html_part is not None
    text, html = (p.get_content().replace("\r\n", "\n") for p in (text_part, html_part))
    return text, html


def squash(text: str) -> str:
    """`text` without any whitespace, to compare through word wrapping and indentation."""
    return "".join(text.split())


def papers(html: str) -> list[Node]:
    return parse_html(html).find_all("div", "paper")


def title_link(paper: Node) -> Node:
    (title,) = paper.find_all("p", "title")
    (link,) = title.find_all("a")
    return link


def links(paper: Node) -> dict[str, str]:
    (row,) = paper.find_all("p", "links")
    return {a.text: a.attrs["href"] for a in row.find_all("a")}


def summary_of(html: str) -> str:
    (paper,) = papers(html)
    (abstract,) = paper.find_all("p", "abstract")
    return abstract.text


# --- MIME structure and headers ---------------------------------------------------------------


def test_message_is_multipart_alternative_text_first_html_last(composer: Composer) -> None:
    message = roundtrip(composer.compose(make_digest([entry()]), NOW))

    assert message.get_content_type() == "multipart/alternative"
    parts = list(message.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert all(p.get_content_charset() == "utf-8" for p in parts)
    assert not message.is_attachment()


def test_headers(composer: Composer) -> None:
    digest = make_digest([entry("One"), entry("Two")], message_id=new_message_id(SENDER))
    message = roundtrip(composer.compose(digest, NOW))

    assert message["From"].addresses == (SENDER,)
    (to,) = message["To"].addresses
    assert to.display_name == "Zoë Ångström"
    assert to.addr_spec == "zoe@example.org"
    assert message["Subject"] == "Your paper digest for 01 Mar 2025: 2 new papers"
    assert message["Date"].datetime == NOW
    assert message["Message-ID"] == digest.message_id
    assert message["List-Unsubscribe"] == "<mailto:digest@example.org?subject=unsubscribe>"
    assert message["Auto-Submitted"] == "auto-generated"


def test_non_ascii_display_name_is_encoded_on_the_wire(composer: Composer) -> None:
    raw = composer.compose(make_digest([entry()]), NOW).data

    assert raw.isascii()
    to_line = next(line for line in raw.splitlines() if line.startswith(b"To:"))
    assert to_line.lower().startswith(b"to: =?utf-8?")
    assert to_line.endswith(b" <zoe@example.org>")
    (to,) = message_from_bytes(raw, policy=policy.default)["To"].addresses
    assert (to.display_name, to.addr_spec) == ("Zoë Ångström", "zoe@example.org")


@pytest.mark.parametrize(
    "name", ['Doe, Jane "JD"', "Zoë Ångström", "김민준", "O'Brien (lab)", "a@b <evil>"]
)
def test_awkward_display_names_round_trip(composer: Composer, name: str) -> None:
    digest = make_digest([entry()], recipient=Recipient("jane@example.org", name))
    message = roundtrip(composer.compose(digest, NOW))

    (to,) = message["To"].addresses
    assert (to.display_name, to.addr_spec) == (name, "jane@example.org")
    text, html = bodies(composer, digest)
    assert f"Hello {name}," in text
    assert f"Hello {name}," in parse_html(html).find_all("p", "intro")[0].text


def test_recipient_without_name(composer: Composer) -> None:
    digest = make_digest([entry()], recipient=Recipient("anon@example.org"))
    message = roundtrip(composer.compose(digest, NOW))

    assert str(message["To"]) == "anon@example.org"
    text, html = bodies(composer, digest)
    assert text.startswith("Hello,\n")
    assert parse_html(html).find_all("p", "intro")[0].text.startswith("Hello, 1 new paper ")


def test_message_id_is_in_the_senders_domain() -> None:
    first, second = new_message_id(SENDER), new_message_id(SENDER)
    assert re.fullmatch(r"<[^<>@\s]+@example\.org>", first)
    assert first != second
    assert new_message_id(Address(username="digest")).endswith("@digest.invalid>")


def test_subject_singular_and_plural(composer: Composer) -> None:
    one = make_digest([entry()])
    assert one.subject == "Your paper digest for 01 Mar 2025: 1 new paper"
    assert roundtrip(composer.compose(one, NOW))["Subject"].endswith(": 1 new paper")
    text, html = bodies(composer, one)
    assert "1 new paper for you on Saturday, 01 March 2025" in text
    assert "1 new paper for you" in parse_html(html).find_all("p", "intro")[0].text

    three = make_digest([entry("a"), entry("b"), entry("c")])
    assert three.subject.endswith(": 3 new papers")
    assert "3 new papers for you" in composer.render(three)[0]


def test_entries_keep_their_order_and_score(composer: Composer) -> None:
    entries = [entry(f"Paper {n}", score=n / 10) for n in (9, 3, 5)]
    text, html = bodies(composer, make_digest(entries))

    assert [title_link(p).text for p in papers(html)] == ["Paper 9", "Paper 3", "Paper 5"]
    assert [p.find_all("span", "score")[0].text for p in papers(html)] == [
        "(score 0.90)",
        "(score 0.30)",
        "(score 0.50)",
    ]
    assert text.index("1. Paper 9") < text.index("2. Paper 3") < text.index("3. Paper 5")


def test_a_pick_like_a_liked_paper_says_so_in_a_short_title(composer: Composer) -> None:
    liked = "Shorter Titles: " + "a very long subtitle that goes on " * 3
    picked = dataclasses.replace(entry(), because=["A seed paper"], liked=[liked, "<Tiny>"])
    text, html = bodies(composer, make_digest([picked, entry("Another paper")]))

    short = "Shorter Titles: a very long subtitle that goes on a very …"
    assert f"Because you liked: {short}; <Tiny>" in text
    assert "like A seed paper" in text
    (why, other) = [p.find_all("p", "why")[0] for p in papers(html)]
    assert f"Because you liked: {short}; <Tiny>" in why.text
    assert [em.text for em in why.find_all("em")] == ["A seed paper", short, "<Tiny>"]
    assert "liked" not in other.text
    assert text.count("Because you liked") == 1


def test_footer_names_recipient_keywords_and_unsubscribe(composer: Composer) -> None:
    digest = make_digest([entry()], keywords=["NeRV", "video compression"])
    text, html = bodies(composer, digest)

    (footer,) = parse_html(html).find_all("p", "footer")
    assert "zoe@example.org" in footer.text
    assert "NeRV, video compression" in footer.text
    assert [a.attrs["href"] for a in footer.find_all("a")] == [
        "mailto:digest@example.org?subject=unsubscribe"
    ]
    assert "NeRV, video compression" in text
    assert "Unsubscribe: mailto:digest@example.org?subject=unsubscribe" in text


# --- links into the web side ------------------------------------------------------------------

WEB = "https://digest.lab.example"
SECRET = "test-secret-not-for-production"


def feedback_links(paper: Node) -> dict[str, str]:
    (row,) = paper.find_all("p", "feedback")
    return {a.text: a.attrs["href"] for a in row.find_all("a")}


def test_every_stored_paper_has_feedback_links_signed_for_its_reader_and_vote() -> None:
    composer = Composer(resource_dir("templates"), SENDER, secret=SECRET, base_url=WEB)
    entries = [dataclasses.replace(entry(f"Paper {n}"), paper_id=n) for n in (7, 9)]
    text, html = bodies(composer, make_digest(entries))

    signer = vote_signer(SECRET)
    for paper_id, paper in zip((7, 9), papers(html), strict=True):
        found = feedback_links(paper)
        assert list(found) == ["More like this", "Less like this"]
        ballots = [Ballot.read(signer, token_in(url, f"{WEB}/feedback")) for url in found.values()]
        assert ballots == [
            Ballot("zoe@example.org", paper_id, "up"),
            Ballot("zoe@example.org", paper_id, "down"),
        ]
        for label, url in found.items():
            assert f"   {label}: {url}\n" in text
    # The visible unsubscribe link goes to the same page as the one-click header.
    (footer,) = parse_html(html).find_all("p", "footer")
    (unsubscribe,) = footer.find_all("a")
    token = token_in(unsubscribe.attrs["href"], f"{WEB}/unsubscribe")
    assert read_token(SECRET, token) == "zoe@example.org"
    assert f"Unsubscribe: {WEB}/unsubscribe?token={token}" in text


def token_in(url: str, page: str) -> str:
    assert url.startswith(f"{page}?token=")
    (token,) = parse_qs(urlsplit(url).query)["token"]
    return token


def test_no_feedback_links_without_a_web_side_or_a_stored_paper() -> None:
    stored = dataclasses.replace(entry("Stored"), paper_id=7)
    for composer in (
        Composer(resource_dir("templates"), SENDER, secret=SECRET),
        Composer(resource_dir("templates"), SENDER, base_url=WEB),
    ):
        text, html = bodies(composer, make_digest([stored]))
        assert papers(html)[0].find_all("p", "feedback") == []
        assert "like this" not in text
    with_web = Composer(resource_dir("templates"), SENDER, secret=SECRET, base_url=WEB)
    text, html = bodies(with_web, make_digest([entry("Not stored")]))
    assert papers(html)[0].find_all("p", "feedback") == []
    assert "like this" not in text


# --- CSS --------------------------------------------------------------------------------------


def test_css_is_inlined_and_media_query_kept(composer: Composer) -> None:
    digest = make_digest(
        [entry(abstract="Neural representations.", matched=["neural representation"])]
    )
    _, html = bodies(composer, digest)
    tree = parse_html(html)

    (paper,) = tree.find_all("div", "paper")
    assert "border-radius: 8px" in paper.attrs["style"]
    assert "background: #f4f4f5" in tree.find_all("body")[0].attrs["style"]
    assert "color: #1d4ed8" in title_link(paper).attrs["style"]
    (mark,) = tree.find_all("mark")
    assert "background: #fef9c3" in mark.attrs["style"]
    assert "background: #fef08a" in tree.find_all("span", "term")[0].attrs["style"]

    styles = " ".join(s.text for s in tree.find_all("style"))
    assert "@media (max-width: 480px)" in styles
    outside_media = re.sub(r"@media[^{]*\{(?:[^{}]*\{[^{}]*\})*[^{}]*\}", "", styles)
    assert ".paper {" not in outside_media
    assert "{" not in outside_media


# --- escaping ---------------------------------------------------------------------------------


@pytest.mark.parametrize("title", NASTY_TITLES)
def test_titles_are_escaped_in_html_and_intact_in_text(composer: Composer, title: str) -> None:
    text, html = bodies(composer, make_digest([entry(title=title)]))

    assert "<script" not in html.lower()
    assert "<b>" not in html
    tree = parse_html(html)
    assert not tree.find_all("script")
    assert not tree.find_all("b")
    (paper,) = papers(html)
    assert title_link(paper).text == title
    assert parse_html(html).find_all("title")[0].text.endswith("1 new paper")

    assert f"1. {title}\n" in text


@pytest.mark.parametrize("abstract", NASTY_TITLES)
def test_abstracts_are_escaped_in_html_and_intact_in_text(
    composer: Composer, abstract: str
) -> None:
    text, html = bodies(composer, make_digest([entry(abstract=abstract, matched=["script"])]))

    assert "<script" not in html.lower()
    assert not parse_html(html).find_all("script")
    assert summary_of(html) == abstract
    assert squash(abstract) in squash(text)


def test_matching_a_term_inside_markup_does_not_unescape_it(composer: Composer) -> None:
    abstract = "A <script>alert(1)</script> payload & a script kiddie."
    _, html = bodies(composer, make_digest([entry(abstract=abstract, matched=["script"])]))

    assert "<script" not in html.lower()
    tree = parse_html(html)
    assert [m.text for m in tree.find_all("mark")] == ["script", "script", "script"]
    assert summary_of(html) == abstract


# --- links ------------------------------------------------------------------------------------


@pytest.mark.parametrize("title", NASTY_TITLES)
def test_title_links_search_arxiv_and_hugging_face_for_the_title(
    composer: Composer, title: str
) -> None:
    text, html = bodies(composer, make_digest([entry(title=title)]))
    (paper,) = papers(html)
    found = links(paper)

    arxiv = urlsplit(title_link(paper).attrs["href"])
    assert (arxiv.scheme, arxiv.netloc, arxiv.path) == ("https", "arxiv.org", "/search/")
    assert parse_qs(arxiv.query) == {"query": [title], "searchtype": ["title"]}
    assert found["arXiv"] == title_link(paper).attrs["href"]

    hf = urlsplit(found["Hugging Face"])
    assert (hf.scheme, hf.netloc, hf.path) == ("https", "huggingface.co", "/papers")
    assert parse_qs(hf.query) == {"q": [title]}

    for label, url in (("arXiv:  ", found["arXiv"]), ("HF:     ", found["Hugging Face"])):
        assert re.search(r"\s", url) is None
        assert f"   {label} {url}\n" in text


@pytest.mark.parametrize(
    ("code_url", "label"),
    [
        ("https://github.com/lab/nerv", "Code"),
        ("http://example.org/code?a=1&b=2", "example.org"),
        ("HTTPS://GitHub.com/x/y", "Code"),
    ],
)
def test_web_code_links_are_shown(composer: Composer, code_url: str, label: str) -> None:
    text, html = bodies(composer, make_digest([entry(code_url=code_url)]))

    (paper,) = papers(html)
    assert links(paper)[label] == code_url
    assert f"   {label + ':':<8} {code_url}\n" in text


@pytest.mark.parametrize(
    "code_url",
    [
        "javascript:alert(1)",
        "JaVaScRiPt:alert(document.cookie)",
        " javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "ftp://example.org/code.tar",
        "//evil.example/x",
        "",
        None,
    ],
)
def test_other_code_links_are_dropped(composer: Composer, code_url: str | None) -> None:
    text, html = bodies(composer, make_digest([entry(code_url=code_url)]))

    (paper,) = papers(html)
    assert list(links(paper)) == ["arXiv", "Hugging Face"]
    assert "Code:" not in text
    if code_url:
        assert code_url.strip() not in html
        assert code_url.strip() not in text
    assert "javascript" not in html.lower()


def test_quotes_in_a_code_url_cannot_break_out_of_the_attribute(composer: Composer) -> None:
    code_url = 'https://example.org/x" onmouseover="alert(1)'
    _, html = bodies(composer, make_digest([entry(code_url=code_url)]))

    (paper,) = papers(html)
    assert links(paper)["example.org"] == code_url
    assert not any("onmouseover" in node.attrs for node in parse_html(html).iter())


# --- highlighting in the message --------------------------------------------------------------


def test_matched_terms_are_marked_in_the_abstract(composer: Composer) -> None:
    abstract = (
        "We learn Neural Representations of video. A neural representation, or NEURAL "
        "REPRESENTATION, beats codecs; neural representationalism is not a term. "
        "Video compression matters."
    )
    digest = make_digest(
        [entry(abstract=abstract, matched=["neural representation", "video compression"])]
    )
    text, html = bodies(composer, digest)

    tree = parse_html(html)
    assert [m.text for m in tree.find_all("mark")] == [
        "Neural Representations",
        "neural representation",
        "NEURAL REPRESENTATION",
        "Video compression",
    ]
    assert summary_of(html) == abstract
    (why,) = tree.find_all("p", "why")
    assert [s.text for s in why.find_all("span", "term")] == [
        "neural representation",
        "video compression",
    ]
    assert "<mark>" not in text
    assert "Why: matches neural representation, video compression (score 0.50)" in text


# --- a paper's parts, rendered once and shared by every digest it is in ------------------------


def test_a_paper_shared_by_two_subscribers_is_marked_with_each_ones_terms(
    composer: Composer,
) -> None:
    abstract = "Graph networks learn a neural representation of molecules."
    first = make_digest([entry(abstract=abstract, matched=["neural representation"])])
    second = make_digest(
        [entry(abstract=abstract, matched=["graph network"])],
        recipient=Recipient("yan@example.org", "Yan"),
    )
    unmarked = make_digest(
        [entry(abstract=abstract, matched=["protein"])],
        recipient=Recipient("xu@example.org", "Xu"),
    )

    def marks(digest: Digest) -> list[str]:
        _, html = bodies(composer, digest)
        assert summary_of(html) == abstract
        return [m.text for m in parse_html(html).find_all("mark")]

    assert marks(first) == ["neural representation"]
    assert marks(second) == ["Graph networks"]
    assert marks(unmarked) == []
    assert marks(first) == ["neural representation"]


@pytest.mark.parametrize("title", NASTY_TITLES)
def test_a_hostile_paper_in_two_digests_is_escaped_in_each_with_each_ones_own_parts(
    composer: Composer, title: str
) -> None:
    hostile = entry(title=title, abstract=f"About {title}.", matched=["about"])
    other = entry(title="Another Paper", abstract="Other things.")
    first = make_digest(
        [hostile], recipient=Recipient("eve@example.org", "<b>Eve</b>"), keywords=["about"]
    )
    second = make_digest(
        [other, dataclasses.replace(hostile, score=0.25, matched=[])],
        recipient=Recipient("bob@example.org", "Bob"),
        keywords=["things"],
    )

    first_text, first_html = bodies(composer, first)
    second_text, second_html = bodies(composer, second)

    for html in (first_html, second_html):
        tree = parse_html(html)
        assert not tree.find_all("script")
        assert not tree.find_all("b")
        assert title_link(papers(html)[-1]).text == title
        assert summary_of_last(html) == f"About {title}."
    assert "Hello <b>Eve</b>," in parse_html(first_html).find_all("p", "intro")[0].text
    assert "Bob" not in first_html
    assert "Eve" not in second_html
    assert f"1. {title}\n" in first_text
    assert f"2. {title}\n" in second_text
    assert "Why: matches about (score 0.50)" in first_text
    assert "Why: close to your interests (score 0.25)" in second_text
    assert [m.text for m in parse_html(second_html).find_all("mark")] == []


def test_a_papers_parts_are_styled_and_numbered_wherever_it_stands(composer: Composer) -> None:
    paper = Entry(
        title="Shared Paper",
        abstract="We share.",
        score=0.5,
        matched=[],
        arxiv_id="2501.00001",
        authors=("A. Author",),
        upvotes=3,
    )
    for position in (1, 2, 3):
        others = [entry(title=f"Other {n}") for n in range(1, position)]
        _, html = bodies(composer, make_digest([*others, paper]))
        shared = papers(html)[-1]
        (heading,) = shared.find_all("p", "title")
        assert heading.text == f"{position}. Shared Paper"
        assert "color: #1d4ed8" in title_link(shared).attrs["style"]
        (meta,) = shared.find_all("p", "meta")
        assert meta.text == "A. Author · 3 upvotes"
        assert "font-size: 13px" in meta.attrs["style"]
        (row,) = shared.find_all("p", "links")
        assert all("margin-right: 12px" in a.attrs["style"] for a in row.find_all("a"))
        assert links(shared)["PDF"] == "https://arxiv.org/pdf/2501.00001"


def summary_of_last(html: str) -> str:
    (abstract,) = papers(html)[-1].find_all("p", "abstract")
    return abstract.text


# --- shortening -------------------------------------------------------------------------------


def assert_whole_word_prefix(summary: str, abstract: str) -> None:
    assert len(summary) <= SUMMARY_CHARS
    assert summary.endswith(" …")
    kept = summary.split()[:-1]
    assert kept, "nothing of the abstract was kept"
    original = abstract.split()
    assert kept == original[: len(kept)], "the summary is not the start of the abstract"
    assert all(word in original for word in kept)
    assert kept[-1] == original[len(kept) - 1]


def test_short_abstract_is_kept_whole(composer: Composer) -> None:
    abstract = "A short abstract\nwith a line break   and spaces."
    _, html = bodies(composer, make_digest([entry(abstract=abstract)]))

    assert summary_of(html) == "A short abstract with a line break and spaces."
    assert "…" not in html


@pytest.mark.parametrize("offset", range(0, 12))
def test_long_abstract_is_shortened_at_a_word_boundary(composer: Composer, offset: int) -> None:
    words = ["representation", "of", "videos", "compressed", "implicitly,", "quickly."]
    abstract = "x" * offset + " " + " ".join(words[i % len(words)] for i in range(200))
    text, html = bodies(composer, make_digest([entry(abstract=abstract)]))

    summary = summary_of(html)
    assert_whole_word_prefix(summary, abstract)
    assert len(summary) > SUMMARY_CHARS - 20
    assert squash(summary) in squash(text)
    assert squash(abstract) not in squash(text)


def test_long_abstract_is_not_cut_inside_a_hyphenated_word(composer: Composer) -> None:
    # textwrap.shorten breaks on hyphens by default, so the 600-character cut can fall inside
    # "state-of-the-art" and the summary ends "... compression state- …".
    abstract = "state-of-the-art neural video compression " * 30
    _, html = bodies(composer, make_digest([entry(abstract=abstract)]))

    assert_whole_word_prefix(summary_of(html), abstract)


# --- highlight() ------------------------------------------------------------------------------


def marked(pieces: list[tuple[str, bool]]) -> list[str]:
    return [piece for piece, is_match in pieces if is_match]


def test_highlight_without_terms_returns_the_text_unmarked() -> None:
    assert highlight("Plain text.", []) == [("Plain text.", False)]
    assert highlight("Plain text.", ["", "  ", "!!", "—"]) == [("Plain text.", False)]


def test_highlight_splits_into_runs() -> None:
    assert highlight("We use transformers for speech.", ["transformer"]) == [
        ("We use ", False),
        ("transformers", True),
        (" for speech.", False),
    ]
    assert highlight("Transformers!", ["transformer"]) == [("Transformers", True), ("!", False)]


def test_highlight_folds_case_and_plurals() -> None:
    text = "Neural Representations, a neural representation, NEURAL REPRESENTATION."
    assert marked(highlight(text, ["neural representation"])) == [
        "Neural Representations",
        "neural representation",
        "NEURAL REPRESENTATION",
    ]
    # A plural term marks the singular too, as the ranking model folds it.
    assert marked(highlight("one representation", ["Representations"])) == ["representation"]
    assert marked(highlight("two processes, one process", ["process"])) == [
        "processes",
        "process",
    ]


def test_highlight_matches_phrases_across_punctuation() -> None:
    assert marked(
        highlight("neural-representations and neural_representation", ["neural representation"])
    ) == [
        "neural-representations",
        "neural_representation",
    ]
    assert marked(highlight("text-to-speech and text to speech", ["text-to-speech"])) == [
        "text-to-speech",
        "text to speech",
    ]


def test_highlight_only_marks_whole_words() -> None:
    assert highlight("network and subnet", ["net"]) == [("network and subnet", False)]
    assert marked(highlight("the net, the nets", ["net"])) == ["net", "nets"]
    assert highlight("a neural representationalism", ["neural representation"]) == [
        ("a neural representationalism", False)
    ]


def test_highlight_prefers_the_longest_term() -> None:
    pieces = highlight("deep neural networks and neural codes", ["neural", "neural network"])
    assert marked(pieces) == ["neural networks", "neural"]


def test_highlight_escapes_regex_syntax_in_terms() -> None:
    assert marked(highlight("k-means (clustering) works", ["k-means (clustering)"])) == [
        "k-means (clustering"
    ]
    assert marked(highlight("a.b and axb", ["a.b"])) == ["a.b"]


def test_highlight_marks_a_term_written_exactly_as_in_the_text() -> None:
    # The pattern is built from term.casefold() ("strasse") but matched with re.IGNORECASE,
    # which does not expand "ß", so the word itself is not marked.
    assert marked(highlight("Die Straße ist lang", ["Straße"])) == ["Straße"]


@hypothesis_settings(max_examples=200, deadline=None)
@given(
    text=st.text(max_size=80),
    terms=st.lists(st.text(alphabet="abcXYZ -s", max_size=8), max_size=3),
)
def test_highlight_pieces_always_rebuild_the_text(text: str, terms: list[str]) -> None:
    pieces = highlight(text, terms)
    assert "".join(piece for piece, _ in pieces) == text
    for (_, first), (_, second) in itertools.pairwise(pieces):
        assert first or second, "two unmarked runs in a row"
    assert all(piece for piece, is_match in pieces if is_match)


# --- papers with an arXiv id --------------------------------------------------------------


def test_a_known_arxiv_id_links_the_abstract_pdf_and_hugging_face_pages(
    composer: Composer,
) -> None:
    known = dataclasses.replace(
        entry(title="PLADIS"),
        arxiv_id="2503.07677",
        authors=("Kwanyoung Kim", "Byeongsu Sim"),
        upvotes=46,
        project_url="https://cubeyoung.github.io/pladis-proejct/",
    )
    text, html = bodies(composer, make_digest([known]))
    (paper,) = papers(html)

    assert title_link(paper).attrs["href"] == "https://arxiv.org/abs/2503.07677"
    assert links(paper) == {
        "Project page": "https://cubeyoung.github.io/pladis-proejct/",
        "arXiv": "https://arxiv.org/abs/2503.07677",
        "PDF": "https://arxiv.org/pdf/2503.07677",
        "Hugging Face": "https://huggingface.co/papers/2503.07677",
    }
    assert "Kwanyoung Kim, Byeongsu Sim · 46 upvotes" in html
    assert "   Kwanyoung Kim, Byeongsu Sim\n   46 upvotes\n" in text
    assert "   PDF:     https://arxiv.org/pdf/2503.07677\n" in text


def test_a_long_author_list_is_shortened_with_the_count(composer: Composer) -> None:
    many = dataclasses.replace(entry(), authors=tuple(f"Author {n}" for n in range(1, 227)))
    text, _ = bodies(composer, make_digest([many]))
    assert "Author 1, Author 2, Author 3, Author 4, Author 5 et al. (226 authors)" in text
    assert "Author 6" not in text


def test_a_project_page_that_is_not_http_is_dropped(composer: Composer) -> None:
    sneaky = dataclasses.replace(entry(), project_url="javascript:alert(1)")
    text, html = bodies(composer, make_digest([sneaky]))
    assert "javascript:" not in html
    assert "javascript:" not in text


# --- summaries ------------------------------------------------------------------------------

prose = st.lists(
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=30),
    max_size=80,
).map(" \n\t ".join)


@given(text=prose, width=st.integers(min_value=3, max_value=700))
def test_shorten_cuts_as_textwrap_does_without_breaking_words(text, width):
    expected = textwrap.shorten(
        text, width=width, placeholder=" …", break_on_hyphens=False, break_long_words=False
    )
    assert shorten(text, width) == expected


@given(text=prose.map(lambda t: " ".join(t.split())), width=st.integers(1, 100))
def test_wrap_keeps_every_word_in_order_and_lines_within_width(text, width):
    lines = wrap(text, width)
    assert " ".join(lines) == text
    assert all(len(line) <= width or " " not in line for line in lines)
    # Greedy: the next line's first word would not have fitted on this one.
    for line, after in itertools.pairwise(lines):
        assert len(line) + 1 + len(after.split(" ")[0]) > width
