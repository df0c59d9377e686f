"""Parsing a saved Hugging Face papers page: the real page of 2024-08-01, markup, broken props."""

from __future__ import annotations

import hashlib
import html
import json
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from digest.errors import PageError
from digest.hf_api import parse_api
from digest.hf_html import parse_html
from digest.pages import ParsedPage

PAGE = Path(__file__).parent / "data" / "hf-html" / "2024-08-01.html"

# The 13 papers of 2024-08-01 in page order, titles folded to one line.
PAPERS = [
    ("2407.21783", "The Llama 3 Herd of Models"),
    ("2407.21705", "Tora: Trajectory-oriented Diffusion Transformer for Video Generation"),
    (
        "2407.21770",
        "MoMa: Efficient Early-Fusion Pre-training with Mixture of Modality-Aware Experts",
    ),
    (
        "2407.21646",
        "Towards Achieving Human Parity on End-to-end Simultaneous Speech Translation via LLM "
        "Agent",
    ),
    ("2407.21772", "ShieldGemma: Generative AI Content Moderation Based on Gemma"),
    ("2407.21630", "TAROT: Task-Oriented Authorship Obfuscation Using Policy Optimization Methods"),
    ("2407.21721", "Open-Vocabulary Audio-Visual Semantic Segmentation"),
    ("2407.21530", "Data Contamination Report from the 2024 CONDA Shared Task"),
    ("2407.20229", "Improving 2D Feature Representations by 3D-Aware Fine-Tuning"),
    ("2407.21781", "Berkeley Humanoid: A Research Platform for Learning-based Control"),
    ("2407.21686", "Expressive Whole-Body 3D Gaussian Avatar"),
    ("2407.21475", "Fine-gained Zero-shot Video Sampling"),
    (
        "2404.01300",
        "NeRF-MAE: Masked AutoEncoders for Self-Supervised 3D Representation Learning for "
        "Neural Radiance Fields",
    ),
]
ELEMENT_LINE = 9  # of the trimmed fixture (118 in the page as served)


def parse(data: bytes, source: str = "papers.html") -> ParsedPage:
    return parse_html(data, source)


def html_error(data: bytes, source: str = "papers.html") -> PageError:
    with pytest.raises(PageError) as caught:
        parse_html(data, source)
    return caught.value


def props() -> dict:
    """The data-props of the real page, as JSON."""
    text = PAGE.read_text(encoding="utf-8")
    start = text.index('data-props="') + len('data-props="')
    return json.loads(html.unescape(text[start : text.index('"', start)]))


def page_with(value: object, before: str = "", after: str = "") -> bytes:
    """A minimal page whose DailyPapers element carries `value` (JSON, or a raw string)."""
    raw = value if isinstance(value, str) else json.dumps(value)
    return (
        f"<!doctype html>\n<html><body>{before}\n"
        f'<div class="SVELTE_HYDRATER contents" data-target="DailyPapers" '
        f'data-props="{html.escape(raw)}"></div>{after}\n</body></html>\n'
    ).encode()


# --- the real page ----------------------------------------------------------------------------


def test_real_page_lists_13_papers_with_their_ids_and_titles() -> None:
    data = PAGE.read_bytes()

    page = parse(data, "2024-08-01.html")

    assert page.source == "2024-08-01.html"
    assert page.sha256 == hashlib.sha256(data).hexdigest()
    assert page.page_date == date(2024, 8, 1)
    assert [(p.arxiv_id, p.title) for p in page.papers] == PAPERS
    assert [p.line for p in page.papers] == list(range(1, 14))


def test_real_page_records_in_detail() -> None:
    papers = parse(PAGE.read_bytes()).papers
    llama = papers[0]

    assert llama.upvotes == 94
    assert len(llama.authors) == 533
    assert llama.authors[:3] == ("Abhimanyu Dubey", "Abhinav Jauhri", "Abhinav Pandey")
    assert llama.published == date(2024, 7, 31)
    assert papers[12].published == date(2024, 4, 1)
    assert [p.upvotes for p in papers] == [94, 24, 19, 16, 11, 8, 8, 8, 7, 7, 7, 5, 3]
    assert sum(len(p.authors) for p in papers) == 630
    # Entries of 2024 carry no githubRepo or projectPage yet.
    assert all(p.code_url is None and p.project_url is None for p in papers)
    for paper in papers:
        assert "\n" not in paper.abstract
        assert "  " not in paper.abstract
        assert len(paper.abstract.split()) > 50


def test_html_and_api_read_the_same_entries_alike() -> None:
    entries = props()["dailyPapers"]

    from_api = parse_api(json.dumps(entries).encode(), "api.json")

    assert from_api.papers == parse(PAGE.read_bytes()).papers
    assert from_api.page_date is None  # 2024 entries have no submittedOnDailyAt


def test_the_element_found_by_markup_anywhere_in_the_page() -> None:
    real = props()
    variants = [
        # attributes in another order, single quotes, a self-closing tag, another element
        f"<section data-props='{html.escape(json.dumps(real))}' data-target=DailyPapers />",
        f"<DIV DATA-TARGET='DailyPapers' DATA-PROPS='{html.escape(json.dumps(real))}'></DIV>",
    ]
    for variant in variants:
        data = f"<html><body><p>x</p>\n\n{variant}</body></html>".encode()

        page = parse(data)

        assert [(p.arxiv_id, p.title) for p in page.papers] == PAPERS
        assert page.page_date == date(2024, 8, 1)


def test_first_dailypapers_element_wins() -> None:
    first = props()
    second = {"date": "2024-08-02", "dailyPapers": first["dailyPapers"][:1]}

    page = parse(page_with(first, after=page_with(second).decode()))

    assert len(page.papers) == 13


def test_a_similar_name_or_markup_in_a_comment_or_script_is_not_the_element() -> None:
    real = html.escape(json.dumps(props()))
    lookalikes = [
        f'<div data-target="DailyPapersBannerSubscribe" data-props="{real}"></div>',
        f'<div data-target="dailypapers" data-props="{real}"></div>',
        f'<!-- <div data-target="DailyPapers" data-props="{real}"></div> -->',
        f'<script>const s = \'<div data-target="DailyPapers" data-props="{real}">\';</script>',
        f'<p>data-target="DailyPapers" data-props="{real}"</p>',
    ]
    for lookalike in lookalikes:
        error = html_error(f"<html><body>{lookalike}</body></html>".encode(), "saved.html")

        assert str(error) == "saved.html: not a Hugging Face papers page: no DailyPapers element"


def test_date_in_another_form_or_missing() -> None:
    real = props()
    assert parse(page_with({**real, "date": "2024-08-01"})).page_date == date(2024, 8, 1)
    assert parse(page_with({**real, "date": "Aug 1"})).page_date is None
    assert parse(page_with({"dailyPapers": real["dailyPapers"]})).page_date is None


# --- what is refused -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"<!doctype html><html><head><title>Daily Papers</title></head><body></body></html>",
        b"<html>",
        b"<",
        b"",
    ],
)
def test_page_without_the_element_is_refused(data: bytes) -> None:
    error = html_error(data, "saved.html")

    assert str(error) == "saved.html: not a Hugging Face papers page: no DailyPapers element"


def test_broken_data_props_json_names_the_element_line() -> None:
    text = PAGE.read_text(encoding="utf-8")
    broken = text.replace('}}"></div>', '}"></div>')  # one closing brace short
    assert broken != text

    error = html_error(broken.encode(), "2024-08-01.html")

    assert error.line == ELEMENT_LINE
    assert str(error).startswith(
        f"2024-08-01.html:{ELEMENT_LINE}: not a Hugging Face papers page: "
        "DailyPapers data-props: invalid JSON ("
    )


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (page_with("not json"), "DailyPapers data-props: invalid JSON (Expecting value)"),
        (page_with({"date": "2024-08-01"}), "DailyPapers data-props has no 'dailyPapers' list"),
        (page_with([1, 2]), "DailyPapers data-props has no 'dailyPapers' list"),
        (page_with({"dailyPapers": {}}), "DailyPapers data-props has no 'dailyPapers' list"),
        (page_with({"dailyPapers": []}), "the list of papers is empty"),
        (b'<div data-target="DailyPapers"></div>', "the DailyPapers element has no data-props"),
        (
            b'<div data-target="DailyPapers" data-props></div>',
            "the DailyPapers element has no data-props",
        ),
    ],
)
def test_element_without_usable_papers_is_refused(data: bytes, problem: str) -> None:
    error = html_error(data)

    assert error.problem == f"not a Hugging Face papers page: {problem}"
    assert error.line is not None


def test_entry_without_summary_is_skipped_by_its_number() -> None:
    real = props()
    del real["dailyPapers"][1]["paper"]["summary"]  # entries of 2024 have no top-level copy

    page = parse_html(page_with(real), "2024-08-01.html")

    assert [str(e) for e in page.skipped] == ["2024-08-01.html: entry 2: no summary: paper skipped"]
    assert len(page.papers) == len(real["dailyPapers"]) - 1


def test_not_utf8_is_refused() -> None:
    error = html_error(b"<html>\n<body>\n<p>caf\xe9</p>")

    assert error.line == 3
    assert "not UTF-8" in str(error)


@pytest.mark.parametrize("section", ["<![foo[ x ]]>", "<![ x >", "<![if x]>", "<![CDATA[ x ]]>"])
def test_odd_marked_sections_do_not_stop_the_search(section: str) -> None:
    # Python before 3.13 raises AssertionError at some of these; they are bogus comments.
    page = parse(page_with(props(), before=section))

    assert len(page.papers) == 13


# --- whatever the markup, a page or a PageError ---------------------------------------------

MARKUP = [
    "<",
    ">",
    "</",
    "/>",
    "<!",
    "<!--",
    "-->",
    "<![",
    "]]>",
    "<!doctype ",
    "<div ",
    "<script>",
    "</script>",
    "data-target=",
    '"DailyPapers"',
    "DailyPapers",
    "data-props=",
    '"',
    "'",
    "&quot;",
    "&#",
    ";",
    "{",
    "}",
    "[",
    "]",
    ":",
    ",",
    "dailyPapers",
    "paper",
    "\n",
    " ",
    "x",
]


@settings(max_examples=300, deadline=None)
@given(parts=st.lists(st.sampled_from(MARKUP), max_size=40))
def test_any_markup_gives_a_page_or_a_page_error(parts: list[str]) -> None:
    try:
        parse("".join(parts).encode())
    except PageError as error:
        assert error.source == "papers.html"
