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
    MESSAGE_BYTES,
    MOST_PAPERS,
    SUBJECT_CHARS,
    SUMMARY_CHARS,
    Composer,
    Digest,
    Entry,
    Recipient,
    new_message_id,
    shorten,
    wrap,
)
from digest.feedback import Ballot, vote_signer
from digest.highlight import highlight
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
        """The text as a reader sees it: a <br> is a line break."""
        if self.tag == "br":
            return "\n"
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


def heading(paper: Node) -> Node:
    (title,) = paper.find_all("h2", "title")
    return title


def title_link(paper: Node) -> Node:
    (link,) = heading(paper).find_all("a")
    return link


def links(paper: Node) -> dict[str, str]:
    (row,) = paper.find_all("p", "links")
    return {a.text: a.attrs["href"] for a in row.find_all("a")}


def intro(html: str) -> str:
    (found,) = parse_html(html).find_all("h1", "intro")
    return found.text


def footer(html: str) -> Node:
    (found,) = parse_html(html).find_all("td", "footer")
    return found


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
    digest = make_digest([entry("One"), entry("Two")], message_id=new_message_id(SENDER.domain))
    message = roundtrip(composer.compose(digest, NOW))

    assert message["From"].addresses == (SENDER,)
    (to,) = message["To"].addresses
    assert to.display_name == "Zoë Ångström"
    assert to.addr_spec == "zoe@example.org"
    assert message["Subject"] == "One and 1 more paper · 1 Mar"
    assert message["Date"].datetime == NOW
    assert message["Message-ID"] == digest.message_id
    assert message["List-Id"] == "Lab Digest <digest.example.org>"
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
    assert f"Hello {name}, 1 new paper for you" in text
    assert f"Hello {name}, 1 new paper for you" in intro(html)


def test_recipient_without_name(composer: Composer) -> None:
    digest = make_digest([entry()], recipient=Recipient("anon@example.org"))
    message = roundtrip(composer.compose(digest, NOW))

    assert str(message["To"]) == "anon@example.org"
    text, html = bodies(composer, digest)
    assert text.startswith("1 new paper for you on Saturday, 1 March 2025.\n")
    assert intro(html) == "1 new paper for you"


def test_message_id_is_in_the_given_domain() -> None:
    first, second = new_message_id("example.org"), new_message_id("example.org")
    assert re.fullmatch(r"<[^<>@\s]+@example\.org>", first)
    assert first != second
    assert new_message_id("").endswith("@digest.invalid>")


def test_subject_names_the_top_paper_how_many_more_and_the_day(composer: Composer) -> None:
    one = make_digest([entry("NeRV++: An Enhanced Implicit Neural Video Representation")])
    assert one.subject_on(DAY) == "NeRV++: An Enhanced Implicit Neural Video Representation · 1 Mar"
    three = make_digest([entry("a"), entry("b"), entry("c")])
    assert three.subject_on(DAY) == "a and 2 more papers · 1 Mar"
    assert roundtrip(composer.compose(three, NOW))["Subject"] == "a and 2 more papers · 1 Mar"


def test_a_long_top_title_is_cut_at_a_word_within_what_clients_show() -> None:
    title = "NeRV++: An Enhanced Implicit Neural Video Representation for Everything Else"
    five = make_digest([entry(title)] + [entry(f"p{n}") for n in range(4)])
    subject = five.subject_on(DAY)
    assert subject == "NeRV++: An Enhanced Implicit Neural Video… and 4 more papers · 1 Mar"
    assert len(subject) <= SUBJECT_CHARS


def test_a_weekly_digest_names_its_week_in_the_subject_and_both_parts(
    composer: Composer,
) -> None:
    title = "NeRV++: An Enhanced Implicit Neural Video Representation for Everything Else"
    weekly = dataclasses.replace(
        make_digest([entry(title)] + [entry(f"p{n}") for n in range(4)]),
        recipient=Recipient("anon@example.org"),
        weekly=True,
    )
    subject = weekly.subject_on(DAY)
    assert subject == "NeRV++: An Enhanced Implicit Neural… and 4 more papers · week of 1 Mar"
    assert len(subject) <= SUBJECT_CHARS
    assert roundtrip(composer.compose(weekly, NOW))["Subject"] == subject
    text, html = bodies(composer, weekly)
    assert text.startswith("5 new papers for you in the week of Saturday, 1 March 2025.\n")
    (masthead,) = parse_html(html).find_all("p", "masthead")
    assert masthead.text == "Weekly paper digest · week of Saturday, 1 March 2025"
    assert dataclasses.replace(weekly, entries=[]).subject_on(DAY) == (
        "Your paper digest · week of 1 Mar"
    )


def test_a_digest_of_another_year_says_its_year_in_the_subject(composer: Composer) -> None:
    digest = make_digest([entry("Old news")])
    later = datetime(2026, 1, 5, 7, 0, tzinfo=UTC)
    message = roundtrip(composer.compose(digest, later))
    assert message["Subject"] == "Old news · 1 Mar 2025"
    assert message["Date"].datetime == later


def test_counts_are_singular_or_plural_and_a_list_of_one_is_not_numbered(
    composer: Composer,
) -> None:
    one = dataclasses.replace(entry("Only"), upvotes=1, authors=("A. Author",))
    text, html = bodies(composer, make_digest([one]))
    assert "1 new paper for you" in text and "1 new papers" not in text
    assert intro(html).endswith("1 new paper for you")
    assert "A. Author · 1 upvote" in html and "1 upvotes" not in html
    assert "   1 upvote\n" in text
    assert heading(papers(html)[0]).text == "Only"
    assert "\nOnly\n" in text and "1. Only" not in text

    two = [dataclasses.replace(entry(f"P{n}"), upvotes=2) for n in (1, 2)]
    text, html = bodies(composer, make_digest(two))
    assert [heading(p).text for p in papers(html)] == ["1. P1", "2. P2"]
    assert "2 new papers for you" in intro(html)
    assert "2 upvotes" in html


def test_entries_keep_their_order_and_say_how_strong_a_match_they_are(
    composer: Composer,
) -> None:
    entries = [entry(f"Paper {n}", score=n / 10) for n in (9, 3, 1)]
    text, html = bodies(composer, make_digest(entries))

    assert [heading(p).text for p in papers(html)] == ["1. Paper 9", "2. Paper 3", "3. Paper 1"]
    assert [p.find_all("p", "why")[0].text for p in papers(html)] == [
        "Strong match",
        "Good match",
        "Weak match",
    ]
    assert text.index("1. Paper 9") < text.index("2. Paper 3") < text.index("3. Paper 1")
    assert "   Strong match\n" in text and "   Weak match\n" in text
    assert "score" not in text and "score" not in html


def test_footer_names_recipient_keywords_and_unsubscribe(composer: Composer) -> None:
    digest = make_digest([entry()], keywords=["NeRV", "video compression"])
    text, html = bodies(composer, digest)

    assert "zoe@example.org" in footer(html).text
    assert "with the keywords NeRV and video compression." in footer(html).text
    assert [a.attrs["href"] for a in footer(html).find_all("a")] == [
        "mailto:digest@example.org?subject=unsubscribe"
    ]
    assert "with the keywords NeRV and video compression." in text
    assert "Unsubscribe: mailto:digest@example.org?subject=unsubscribe" in text


def test_key_terms_say_what_the_keywords_matched_do_not(composer: Composer) -> None:
    picked = dataclasses.replace(
        entry(abstract="Implicit neural representations of video.", score=0.9),
        matched=["implicit neural representation"],
        terms=["implicit neural", "neural representations", "implicit", "INRs", "video codec"],
    )
    text, html = bodies(composer, make_digest([picked]))
    (why,) = papers(html)[0].find_all("p", "why")
    assert why.text == (
        "Strong match · matches implicit neural representation\nKey terms: INRs, video codec"
    )
    assert "   Key terms: INRs, video codec\n" in text


def test_a_reader_of_seed_papers_only_is_told_so_and_the_seed_that_counts_most(
    composer: Composer,
) -> None:
    seeds = ["NeRV: Neural Representations for Videos and a Great Many Other Things", "Other"]
    picked = dataclasses.replace(entry("A pick", score=0.3), because=seeds)
    text, html = bodies(composer, make_digest([picked], keywords=[]))

    assert "subscribed with papers they chose." in footer(html).text
    assert "keywords" not in footer(html).text and "keywords" not in text
    (why,) = papers(html)[0].find_all("p", "why")
    shortened = "NeRV: Neural Representations for Videos and a Great Many…"
    assert why.text == f"Good match\nClose to a paper you chose: {shortened}"
    assert "Other" not in why.text
    assert f"   Good match\n   Close to a paper you chose: {shortened}\n" in text


def test_a_pick_like_a_paper_the_reader_liked_says_so_before_the_seed(
    composer: Composer,
) -> None:
    picked = dataclasses.replace(
        entry("A pick", score=0.9),
        matched=["video"],
        because=["A seed paper"],
        liked=["Sparse VideoGen2: Accelerate Video Generation with Sparse Attention", "Other"],
    )
    text, html = bodies(composer, make_digest([picked]))
    (why,) = papers(html)[0].find_all("p", "why")
    liked = "Sparse VideoGen2: Accelerate Video Generation with Sparse…"
    assert why.text.splitlines() == [
        "Strong match · matches video",
        f"Because you liked: {liked}",
        "Close to a paper you chose: A seed paper",
    ]
    assert (
        f"   Strong match · matches video\n   Because you liked: {liked}\n"
        "   Close to a paper you chose: A seed paper\n"
    ) in text


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
    (unsubscribe,) = footer(html).find_all("a")
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


def test_css_is_inlined_and_media_queries_kept(composer: Composer) -> None:
    known = dataclasses.replace(
        entry(abstract="Neural representations.", matched=["neural representation"]),
        arxiv_id="2501.00001",
    )
    _, html = bodies(composer, make_digest([known]))
    tree = parse_html(html)

    (paper,) = tree.find_all("div", "paper")
    assert "border-top: 1px solid #e4e4e7" in paper.attrs["style"]
    assert "background: #f4f4f5" in tree.find_all("body")[0].attrs["style"]
    assert "color: #1d4ed8" in title_link(paper).attrs["style"]
    (mark,) = tree.find_all("mark")
    assert "background: #fef9c3" in mark.attrs["style"]
    assert "background: #fef08a" in tree.find_all("span", "term")[0].attrs["style"]
    # The fonts are on every cell, not only on <body>.
    assert all("sans-serif" in td.attrs["style"] for td in tree.find_all("td"))
    (container,) = tree.find_all("table", "container")
    assert container.attrs["width"] == "640"

    # The @media rules are kept, and only they: the rest is inlined. Outlook's own <style>
    # (in a conditional comment) is no element of the parsed page.
    styles = " ".join(s.text for s in tree.find_all("style"))
    assert "@media (max-width: 660px)" in styles
    assert "@media (prefers-color-scheme: dark)" in styles
    outside_media = re.sub(r"@media[^{]*\{(?:[^{}]*\{[^{}]*\})*[^{}]*\}", "", styles)
    assert "{" not in outside_media
    # A phone's rules beat the inlined ones.
    assert ".content { padding: 0 16px !important; }" in styles
    assert "<!--[if mso]><style>" in html


def test_dark_mode_is_declared_to_mail_clients(composer: Composer) -> None:
    _, html = bodies(composer, make_digest([entry()]))
    meta = {m.attrs.get("name"): m.attrs.get("content") for m in parse_html(html).find_all("meta")}
    assert meta["color-scheme"] == "light dark"
    assert meta["supported-color-schemes"] == "light dark"


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
    assert heading(paper).text == title
    assert parse_html(html).find_all("title")[0].text == f"{title} · 1 Mar"

    assert f"\n{title}\n" in text


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
def test_without_an_id_searches_are_labelled_as_searches_and_the_title_links_nothing(
    composer: Composer, title: str
) -> None:
    text, html = bodies(composer, make_digest([entry(title=title)]))
    (paper,) = papers(html)
    found = links(paper)

    assert heading(paper).find_all("a") == []
    arxiv = urlsplit(found["Find on arXiv"])
    assert (arxiv.scheme, arxiv.netloc, arxiv.path) == ("https", "arxiv.org", "/search/")
    assert parse_qs(arxiv.query) == {"query": [title], "searchtype": ["title"]}

    hf = urlsplit(found["Find on Hugging Face"])
    assert (hf.scheme, hf.netloc, hf.path) == ("https", "huggingface.co", "/papers")
    assert parse_qs(hf.query) == {"q": [title]}

    for label in ("Find on arXiv", "Find on Hugging Face"):
        url = found[label]
        assert re.search(r"\s", url) is None
        # Aligned by the longest label.
        assert f"   {label + ':':<21} {url}\n" in text


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
    assert f"   {label + ':':<21} {code_url}\n" in text


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
    assert list(links(paper)) == ["Find on arXiv", "Find on Hugging Face"]
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
    assert "   Strong match · matches neural representation, video compression\n" in text


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
        assert heading(papers(html)[-1]).text.endswith(title)
        assert summary_of_last(html) == f"About {title}."
    assert "Hello <b>Eve</b>," in intro(first_html)
    assert "Bob" not in first_html
    assert "Eve" not in second_html
    assert f"\n{title}\n" in first_text
    assert f"2. {title}\n" in second_text
    assert "   Strong match · matches about\n" in first_text
    assert "   Weak match\n" in second_text
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
        numbered = f"{position}. " if position > 1 else ""
        assert heading(shared).text == f"{numbered}Shared Paper"
        assert "color: #1d4ed8" in title_link(shared).attrs["style"]
        (meta,) = shared.find_all("p", "meta")
        assert meta.text == "A. Author · 3 upvotes"
        assert "font-size: 13px" in meta.attrs["style"]
        (row,) = shared.find_all("p", "links")
        assert all("margin-right: 14px" in a.attrs["style"] for a in row.find_all("a"))
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
    assert "   PDF:          https://arxiv.org/pdf/2503.07677\n" in text
    # Each link names its paper to a screen reader.
    (row,) = paper.find_all("p", "links")
    assert [a.attrs["aria-label"] for a in row.find_all("a")] == [
        "Project page of PLADIS",
        "arXiv page of PLADIS",
        "PDF of PLADIS",
        "Hugging Face page of PLADIS",
    ]


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


# --- within the size that mail clients show whole -------------------------------------------


def long_entry(n: int, title: str | None = None) -> Entry:
    return dataclasses.replace(
        entry(
            title or f"Paper {n}: a study of neural representations for video compression",
            abstract=" ".join(f"word{k} of the abstract" for k in range(200)),
            matched=["neural representation", "video compression"],
            score=0.9 - n / 100,
        ),
        arxiv_id=f"2505.{n:05d}",
        paper_id=n,
        authors=tuple(f"Author Number {k}" for k in range(12)),
        upvotes=n,
        code_url=f"https://github.com/lab/paper-{n}",
        project_url=f"https://lab.example.org/paper-{n}/",
    )


def test_a_long_digest_keeps_every_paper_within_the_size_gmail_shows_whole() -> None:
    composer = Composer(resource_dir("templates"), SENDER, secret=SECRET, base_url=WEB)
    digest = make_digest([long_entry(n) for n in range(1, 41)])
    email = composer.compose(digest, NOW)
    text, html = bodies(composer, digest)

    assert len(email.data) <= MESSAGE_BYTES
    # Every paper is there, with its feedback links; the first ones with their summaries.
    assert len(re.findall(r">More like this</a>", html)) == 40
    for n in range(1, 41):
        assert f"{n}. Paper {n}: a study" in text
        assert f"Paper {n}: a study" in html
    full = papers(html)
    assert len(full) >= 5
    assert all(p.find_all("p", "abstract") for p in full[:5])
    # And the email says what it left out.
    notes = [p.text for p in parse_html(html).find_all("p", "gap")]
    assert notes and all("so that mail apps show this email whole" in n for n in notes)
    assert notes[-1].endswith("by title, so that mail apps show this email whole.")
    assert notes[-1].startswith("Papers ") and " to 40," in notes[-1]
    assert "-- Papers " in text


def test_the_most_papers_with_titles_as_long_as_real_ones_still_fit() -> None:
    composer = Composer(resource_dir("templates"), SENDER, secret=SECRET, base_url=WEB)
    # Real titles run to 176 characters; these escape to more in HTML.
    title = ("R&D of <neural> video & Ångström's codecs " * 5)[:176]
    digest = make_digest([long_entry(n, f"{n} {title}") for n in range(1, MOST_PAPERS + 1)])

    assert len(composer.compose(digest, NOW).data) <= MESSAGE_BYTES
    _, html = bodies(composer, digest)
    assert html.count(">Less like this</a>") == MOST_PAPERS


def test_a_digest_that_cannot_fit_is_still_sent_whole_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    composer = Composer(resource_dir("templates"), SENDER, secret=SECRET, base_url=WEB)
    title = "“Ünïcödé” " * 30  # three times its length once encoded
    digest = make_digest([long_entry(n, f"{n} {title}") for n in range(1, MOST_PAPERS + 1)])

    _, html = bodies(composer, digest)
    assert html.count(">Less like this</a>") == MOST_PAPERS
    assert len(parse_html(html).find_all("div", "listed")) == MOST_PAPERS
    assert "zoe@example.org: a digest takes " in caplog.text
    assert "more than the 90000 that Gmail shows whole" in caplog.text


def test_a_short_digest_is_whole_and_says_nothing_of_size(composer: Composer) -> None:
    text, html = bodies(composer, make_digest([long_entry(n) for n in range(1, 6)]))
    assert len(papers(html)) == 5
    assert all(p.find_all("p", "abstract") for p in papers(html))
    assert "mail apps show this email whole" not in text + html
    assert "An email holds at most" not in text + html


def test_an_email_of_the_most_papers_says_it_is_capped(composer: Composer) -> None:
    text, html = bodies(composer, make_digest([entry(f"P{n}") for n in range(MOST_PAPERS)]))
    note = f"An email holds at most {MOST_PAPERS} papers: these are the best {MOST_PAPERS}."
    assert note in text
    assert note in html
