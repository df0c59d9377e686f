"""Recognizing the input format by content: JSON, HTML or a text dump, whatever the name."""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from digest.errors import PageError
from digest.formats import SUFFIXES, parse_input
from digest.hf_api import parse_api
from digest.hf_html import parse_html
from digest.pages import parse_page

DATA = Path(__file__).parent / "data"
API_DAY = DATA / "hf-api" / "2025-06-09.json"
HTML_PAGE = DATA / "hf-html" / "2024-08-01.html"
TEXT_PAGE = "000_d067d0052f9a516d.txt"
TODAY = date(2026, 1, 5)
BOM = b"\xef\xbb\xbf"


def input_error(data: bytes, source: str = "input") -> PageError:
    with pytest.raises(PageError) as caught:
        parse_input(data, source, TODAY)
    return caught.value


def test_api_json_is_read_as_json() -> None:
    data = API_DAY.read_bytes()

    assert parse_input(data, "day.json", TODAY) == parse_api(data, "day.json")


def test_html_page_is_read_as_html() -> None:
    data = HTML_PAGE.read_bytes()

    assert parse_input(data, "page.html", TODAY) == parse_html(data, "page.html")


def test_text_dump_is_read_as_text(pages: Path) -> None:
    data = (pages / TEXT_PAGE).read_bytes()

    page = parse_input(data, TEXT_PAGE, TODAY)

    assert page == parse_page(data, TEXT_PAGE, TODAY)
    assert len(page.papers) == 63


def test_the_name_plays_no_part(pages: Path) -> None:
    json_data, text_data = API_DAY.read_bytes(), (pages / TEXT_PAGE).read_bytes()

    assert len(parse_input(json_data, "misnamed.txt", TODAY).papers) == 8
    assert len(parse_input(text_data, "misnamed.json", TODAY).papers) == 63
    assert len(parse_input(HTML_PAGE.read_bytes(), "-", TODAY).papers) == 13


@pytest.mark.parametrize("prefix", [b"", BOM, b"\n\n  \t", BOM + b" \r\n"])
def test_byte_order_mark_and_leading_whitespace_do_not_hide_the_format(prefix: bytes) -> None:
    for path, count in ((API_DAY, 8), (HTML_PAGE, 13)):
        data = prefix + path.read_bytes()

        page = parse_input(data, path.name, TODAY)

        assert len(page.papers) == count
        assert page.sha256 == hashlib.sha256(data).hexdigest()


def test_data_wrapped_json_starting_with_a_brace_is_json() -> None:
    data = b'{"data": ' + API_DAY.read_bytes() + b"}"

    assert len(parse_input(data, "archive.json", TODAY).papers) == 8


def test_sha256_is_of_the_bytes_as_given_for_every_format(pages: Path) -> None:
    for data in (
        API_DAY.read_bytes(),
        HTML_PAGE.read_bytes(),
        (pages / TEXT_PAGE).read_bytes(),
        BOM + (pages / TEXT_PAGE).read_bytes(),
    ):
        assert parse_input(data, "x", TODAY).sha256 == hashlib.sha256(data).hexdigest()


def test_errors_come_from_the_parser_of_the_format() -> None:
    assert "not a Hugging Face daily-papers response" in str(input_error(b'[{"paper": 1'))
    assert "not a Hugging Face daily-papers response" in str(input_error(b"  {}"))
    assert "not a Hugging Face papers page" in str(input_error(b"<html></html>"))
    assert "not a digest page" in str(input_error(b"Some notes\nabout papers\n"))
    assert "empty file" in str(input_error(b" \n\t "))
    assert "empty file" in str(input_error(b""))


def test_a_text_dump_starting_with_a_bracket_is_no_digest_page_anyway(pages: Path) -> None:
    # A text dump starts with the page's header or its date line: a file that starts with
    # "<", "[" or "{" is given to the HTML or JSON parser, and the text parser would have
    # refused it just the same.
    text = (pages / TEXT_PAGE).read_bytes()
    for start in (b"<", b"[", b"{"):
        data = start + b" " + text

        error = input_error(data, "page.txt")

        assert error.source == "page.txt"
        with pytest.raises(PageError, match="not a digest page"):
            parse_page(data, "page.txt", TODAY)


def test_no_real_text_dump_starts_like_json_or_html(pages: Path) -> None:
    for path in sorted(pages.glob("*.txt")):
        start = path.read_bytes().removeprefix(BOM).lstrip()[:1]
        assert start not in (b"<", b"[", b"{")
        assert parse_input(path.read_bytes(), path.name, TODAY).papers


def test_errors_name_the_source() -> None:
    for data in (b"[", b"<div>", b"\x00\x01binary", b"\xff\xfe<\x00h\x00"):
        assert input_error(data, "inbox/odd.bin").source == "inbox/odd.bin"


def test_suffixes_of_a_folder_scan() -> None:
    assert frozenset({".txt", ".json", ".html", ".htm"}) == SUFFIXES


# --- whatever the bytes, a page or a PageError -----------------------------------------------

starts = st.sampled_from([b"", b"[", b"{", b"<", BOM, BOM + b"<", b" \n{", b"new\n"])


@settings(max_examples=500, deadline=None)
@given(start=starts, rest=st.binary(max_size=300))
def test_any_bytes_give_a_page_or_a_page_error(start: bytes, rest: bytes) -> None:
    try:
        page = parse_input(start + rest, "fuzz", TODAY)
    except PageError as error:
        assert error.source == "fuzz"
        return
    assert page.sha256 == hashlib.sha256(start + rest).hexdigest()


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=300))
def test_any_text_gives_a_page_or_a_page_error(text: str) -> None:
    try:
        parse_input(text.encode("utf-8", "surrogatepass"), "fuzz", TODAY)
    except PageError as error:
        assert error.source == "fuzz"
