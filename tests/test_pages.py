"""Parsing digest pages: the five real page variants, broken files, keys, and a round trip."""

from __future__ import annotations

import hashlib
import re
import string
from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from digest.errors import PageError
from digest.pages import PaperRecord, ParsedPage, paper_key, parse_page

TODAY = date(2026, 1, 5)

# The real pages: entries, page date read on TODAY, first title and the line it is on.
REAL = {
    "000_d067d0052f9a516d.txt": (
        63,
        date(2025, 4, 18),
        "SAILER: Structure-aware Pre-trained Language Model for Legal Case Retrieval",
        11,
    ),
    "001_3bb45698569393bd.txt": (
        224,
        None,
        "One-Shot Face Video Re-enactment using Hybrid Latent Spaces of StyleGAN2",
        3,
    ),
    "002_902aa772df44fb6a.txt": (
        76,
        date(2025, 3, 12),
        "Supervised domain adaptation for building extraction from off-nadir aerial images",
        11,
    ),
    "003_7a0eb3a62e6b80d7.txt": (
        105,
        date(2025, 3, 12),
        "NERV++: An Enhanced Implicit Neural Video Representation",
        11,
    ),
    "004_9ae350f601ced06d.txt": (
        67,
        date(2025, 3, 17),
        "Geographic Location Encoding with Spherical Harmonics and Sinusoidal "
        "Representation Networks",
        11,
    ),
}
BLANK_PAGE = "000_d067d0052f9a516d.txt"  # blank lines, header, "Apr 18"
COMPACT_PAGE = "001_3bb45698569393bd.txt"  # no blank lines, "Subscribe" glued, no date
ECOFORMER = "EcoFormer: Energy-Saving Attention with Linear Complexity"


def parse(data: bytes, source: str = "page.txt", today: date = TODAY) -> ParsedPage:
    return parse_page(data, source, today)


def parse_file(pages: Path, name: str, today: date = TODAY) -> ParsedPage:
    return parse_page((pages / name).read_bytes(), name, today)


def file_lines(pages: Path, name: str) -> list[str]:
    """The page's lines as an editor numbers them (line N is index N - 1)."""
    return (pages / name).read_text(encoding="utf-8").split("\n")


def page_error(data: bytes, source: str = "page.txt", today: date = TODAY) -> PageError:
    with pytest.raises(PageError) as caught:
        parse_page(data, source, today)
    return caught.value


# --- the real pages ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(REAL))
def test_every_real_page_parses(pages: Path, name: str) -> None:
    entries, page_date, first_title, first_line = REAL[name]
    data = (pages / name).read_bytes()

    page = parse_page(data, name, TODAY)

    assert page.source == name
    assert page.sha256 == hashlib.sha256(data).hexdigest()
    assert len(page.papers) == entries
    assert page.page_date == page_date
    assert page.papers[0].title == first_title
    assert page.papers[0].line == first_line
    assert all(len(p.abstract.split()) >= 30 for p in page.papers)


def test_real_pages_hold_535_entries_and_431_distinct_papers(pages: Path) -> None:
    parsed = [parse_file(pages, name) for name in sorted(REAL)]

    assert sum(len(p.papers) for p in parsed) == 535
    assert len({paper.key for page in parsed for paper in page.papers}) == 431


@pytest.mark.parametrize("name", sorted(REAL))
def test_entries_carry_the_line_of_their_title_and_abstract_follows(pages: Path, name: str) -> None:
    lines = file_lines(pages, name)

    for paper in parse_file(pages, name).papers:
        title_line = " ".join(lines[paper.line - 1].split())
        assert title_line.removeprefix("Subscribe") == paper.title
        following = [line for line in lines[paper.line :] if line.strip()]
        assert " ".join(following[0].split()) == paper.abstract


def test_subscribe_glued_to_the_first_title_is_removed(pages: Path) -> None:
    assert file_lines(pages, COMPACT_PAGE)[2].startswith("SubscribeOne-Shot Face")

    page = parse_file(pages, COMPACT_PAGE)

    assert page.papers[0].title == (
        "One-Shot Face Video Re-enactment using Hybrid Latent Spaces of StyleGAN2"
    )
    assert not any(p.title.startswith("Subscribe") for p in page.papers)


def test_compact_page_has_no_date(pages: Path) -> None:
    assert parse_file(pages, COMPACT_PAGE).page_date is None


@pytest.mark.parametrize(
    ("today", "expected"),
    [
        (date(2026, 1, 5), date(2025, 4, 18)),  # April is still ahead: last year
        (date(2025, 4, 18), date(2025, 4, 18)),  # the same day
        (date(2025, 4, 16), date(2025, 4, 18)),  # two days ahead: a clock skew, this year
        (date(2025, 4, 15), date(2024, 4, 18)),  # three days ahead: last year's
        (date(2025, 12, 31), date(2025, 4, 18)),
    ],
)
def test_apr_18_year_is_inferred_from_today(pages: Path, today: date, expected: date) -> None:
    assert file_lines(pages, BLANK_PAGE)[8] == "Apr 18"

    assert parse_file(pages, BLANK_PAGE, today).page_date == expected


@pytest.mark.parametrize(
    ("today", "expected"),
    [
        (date(2026, 1, 5), date(2025, 3, 12)),
        (date(2025, 3, 14), date(2025, 3, 12)),
        (date(2025, 3, 10), date(2025, 3, 12)),
        (date(2025, 3, 9), date(2024, 3, 12)),
    ],
)
def test_mar_12_year_is_inferred_from_today(pages: Path, today: date, expected: date) -> None:
    name = "003_7a0eb3a62e6b80d7.txt"
    assert file_lines(pages, name)[8] == "Mar 12"

    assert parse_file(pages, name, today).page_date == expected


def _with_date_line(pages: Path, line: str) -> bytes:
    lines = file_lines(pages, BLANK_PAGE)
    lines[8] = line
    return "\n".join(lines).encode()


def test_date_two_days_ahead_across_new_year_is_next_year(pages: Path) -> None:
    data = _with_date_line(pages, "Jan 2")

    assert parse(data, today=date(2025, 12, 31)).page_date == date(2026, 1, 2)
    assert parse(data, today=date(2025, 12, 30)).page_date == date(2025, 1, 2)


def test_full_month_name_is_a_date_line(pages: Path) -> None:
    page = parse(_with_date_line(pages, "March 5"), today=TODAY)

    assert page.page_date == date(2025, 3, 5)
    assert len(page.papers) == 63


@pytest.mark.parametrize(
    ("today", "expected"),
    [
        (date(2025, 3, 1), date(2024, 2, 29)),
        (date(2026, 1, 5), date(2024, 2, 29)),  # fails: the parser gives up on the page
        (date(2027, 1, 5), date(2024, 2, 29)),  # fails too
    ],
)
def test_feb_29_page_takes_the_latest_leap_year(pages: Path, today: date, expected: date) -> None:
    page = parse(_with_date_line(pages, "Feb 29"), today=today)

    assert page.page_date == expected
    assert len(page.papers) == 63


def test_code_links_are_extracted_without_trailing_period(pages: Path) -> None:
    found = []
    for name in sorted(REAL):
        for paper in parse_file(pages, name).papers:
            if paper.title == ECOFORMER:
                assert "https://github.com/ziplab/EcoFormer." in paper.abstract
                assert paper.code_url == "https://github.com/ziplab/EcoFormer"
                found.append(name)
    assert found == sorted(REAL)[:3]


def test_code_links_only_for_papers_that_name_one(pages: Path) -> None:
    link = re.compile(
        r"(?<![\w.])(?:https?://)?(?:www\.)?github\.com/([\w.-]+/[\w.-]+)", re.IGNORECASE
    )
    linked = 0
    for name in sorted(REAL):
        for paper in parse_file(pages, name).papers:
            first = link.search(paper.abstract)
            if first is None:
                assert paper.code_url is None
                continue
            linked += 1
            repo = first.group(1).rstrip(".")
            assert paper.code_url == f"https://github.com/{repo}"
            assert repo in paper.abstract
    assert linked > 100


@pytest.mark.parametrize(
    ("name", "title_start", "repo"),
    [
        ("001_3bb45698569393bd.txt", "High Fidelity Neural Audio", "facebookresearch/encodec"),
        ("001_3bb45698569393bd.txt", "SegFormer", "NVlabs/SegFormer"),
        ("004_9ae350f601ced06d.txt", "Geographic Location Encoding", "marccoru/locationencoder"),
    ],
)
def test_code_links_without_scheme_are_extracted(
    pages: Path, name: str, title_start: str, repo: str
) -> None:
    """Fails: "Code ... at github.com/owner/repo." (no https://) gives no code_url."""
    paper = next(p for p in parse_file(pages, name).papers if p.title.startswith(title_start))
    assert f"github.com/{repo}" in paper.abstract
    assert f"://github.com/{repo}" not in paper.abstract

    assert paper.code_url is not None
    assert paper.code_url.removeprefix("https://").removeprefix("www.") == f"github.com/{repo}"


def test_crlf_and_bom_pages_parse_like_the_original(pages: Path) -> None:
    original = parse_file(pages, BLANK_PAGE)
    text = (pages / BLANK_PAGE).read_text(encoding="utf-8")

    for data in (text.replace("\n", "\r\n").encode(), text.encode("utf-8-sig")):
        page = parse(data)
        assert page.papers == original.papers
        assert page.page_date == original.page_date


# --- broken files -----------------------------------------------------------------------------


def assert_error(error: PageError, source: str, line: int | None, problem_start: str) -> None:
    assert error.source == source
    assert error.line == line
    assert error.problem.startswith(problem_start), error.problem
    where = source if line is None else f"{source}:{line}"
    assert str(error) == f"{where}: {error.problem}"


@pytest.mark.parametrize("data", [b"", b"   \n\n\t \r\n  \n"], ids=["empty", "whitespace"])
def test_empty_and_whitespace_only_files(data: bytes) -> None:
    error = page_error(data, "inbox/blank.txt")

    assert_error(error, "inbox/blank.txt", None, "empty file")


def test_nul_byte_is_a_binary_file(pages: Path) -> None:
    data = (pages / BLANK_PAGE).read_bytes()
    data = data[:500] + b"\x00" + data[500:]

    assert_error(page_error(data, "x.txt"), "x.txt", None, "binary file, not a digest page")


def test_utf16_page_is_a_binary_file(pages: Path) -> None:
    data = (pages / BLANK_PAGE).read_text(encoding="utf-8").encode("utf-16")

    assert_error(page_error(data, "u16.txt"), "u16.txt", None, "binary file")


def test_png_is_a_binary_file() -> None:
    data = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))

    assert_error(page_error(data, "cat.txt"), "cat.txt", None, "binary file")


@pytest.mark.parametrize("line", [11, 13, 201])
def test_a_stray_invalid_byte_is_kept_as_a_replacement_and_its_line_named(
    pages: Path, line: int, caplog: pytest.LogCaptureFixture
) -> None:
    lines = [s.encode() for s in file_lines(pages, BLANK_PAGE)]
    lines[line - 1] = b"Caf\xe9 " + lines[line - 1]  # a Latin-1 byte

    page = parse_page(b"\n".join(lines), "latin1.txt", TODAY)

    assert len(page.papers) == len(parse_file(pages, BLANK_PAGE).papers)
    assert any("Caf\ufffd " in p.title or "Caf\ufffd " in p.abstract for p in page.papers)
    assert f"latin1.txt:{line}: bytes that are not UTF-8" in caplog.text


def test_a_stray_invalid_byte_after_a_bom_is_named_on_its_own_line(
    pages: Path, caplog: pytest.LogCaptureFixture
) -> None:
    lines = [s.encode() for s in file_lines(pages, BLANK_PAGE)]
    lines[12] = b"\xe9" + lines[12]  # line 13 starts with a Latin-1 byte

    parse_page(b"\xef\xbb\xbf" + b"\n".join(lines), "bom.txt", TODAY)

    assert "bom.txt:13: bytes that are not UTF-8" in caplog.text


def test_text_that_is_mostly_not_utf8_is_refused_at_its_first_bad_byte(pages: Path) -> None:
    lines = [s.encode() for s in file_lines(pages, BLANK_PAGE)]
    latin1 = [line.decode().replace("e", "\xe9").encode("latin-1", "replace") for line in lines]
    latin1[:10] = lines[:10]

    error = page_error(b"\n".join(latin1), "latin1.txt")

    assert_error(error, "latin1.txt", 11, "not UTF-8 text")


def test_csv_is_not_a_digest_page() -> None:
    data = b"title,authors,year\nAttention Is All You Need,Vaswani et al.,2017\n"

    error = page_error(data, "papers.txt")

    assert_error(error, "papers.txt", 1, "not a digest page")


def test_short_readme_is_not_a_digest_page() -> None:
    data = (
        b"# digest\n\nPersonalized research-paper digests by email.\n\n"
        b"## Install\n\n    pip install digest\n"
    )

    assert_error(page_error(data, "README.txt"), "README.txt", 1, "not a digest page")


def test_readme_with_long_paragraphs_is_not_a_digest_page() -> None:
    """Fails: with no header line at all, heading + paragraph pairs pass for papers."""
    intro = (
        "digest reads the daily Hugging Face papers pages that land in your inbox folder, "
        "stores every paper once, ranks the new ones against each subscriber's keywords "
        "with TF-IDF and sends everyone a short personal email with their best matches "
        "of the day."
    )
    usage = (
        "Run digest ingest with the folder of pages, then digest run once a day, or digest "
        "serve to keep it running; every command takes --date to work on another day and "
        "--json to end with one JSON object that scripts can read back."
    )
    data = f"# digest\n\n{intro}\n\n## Usage\n\n{usage}\n".encode()

    assert_error(page_error(data, "README.txt"), "README.txt", 1, "not a digest page")


def skipped_one(data: bytes, source: str, original: ParsedPage) -> PageError:
    """The one entry skipped in `data`; every other paper of `original` is still read."""
    page = parse_page(data, source, TODAY)
    (skipped,) = page.skipped
    assert skipped.source == source
    assert len(page.papers) == len(original.papers) - 1
    return skipped


def test_title_without_abstract_in_the_middle_blank_layout(pages: Path) -> None:
    lines = file_lines(pages, BLANK_PAGE)
    original = parse_file(pages, BLANK_PAGE)
    third = original.papers[2]
    lines[third.line + 1] = ""  # drop its abstract, keep the line count

    error = skipped_one("\n".join(lines).encode(), "cut.txt", original)

    assert error.line == third.line
    assert error.problem.startswith("title ")
    assert error.problem.endswith("has no abstract")
    assert third.title[:20] in error.problem


def test_title_without_abstract_in_the_middle_compact_layout(pages: Path) -> None:
    lines = file_lines(pages, COMPACT_PAGE)
    original = parse_file(pages, COMPACT_PAGE)
    paper = original.papers[100]
    del lines[paper.line]  # its abstract

    error = skipped_one("\n".join(lines).encode(), "cut.txt", original)

    assert error.line == paper.line
    assert error.problem.endswith("has no abstract")


def test_title_at_end_of_file_without_abstract(pages: Path) -> None:
    lines = file_lines(pages, BLANK_PAGE)
    lines += ["", "A Dangling Title With No Abstract", ""]

    page = parse("\n".join(lines).encode())

    (error,) = page.skipped
    assert error.line == len(lines) - 1
    assert error.problem == (
        "title 'A Dangling Title With No Abstract' has no abstract (end of file)"
    )
    assert len(page.papers) == len(parse_file(pages, BLANK_PAGE).papers)


def test_abstract_without_title(pages: Path) -> None:
    lines = file_lines(pages, BLANK_PAGE)
    original = parse_file(pages, BLANK_PAGE)
    fifth = original.papers[4]
    lines[fifth.line - 1] = ""  # drop its title

    error = skipped_one("\n".join(lines).encode(), "orphan.txt", original)

    assert error.line == fifth.line + 2
    assert error.problem.startswith("text with no title before it")


def test_abstract_without_title_right_after_the_header(pages: Path) -> None:
    lines = file_lines(pages, COMPACT_PAGE)
    original = parse_file(pages, COMPACT_PAGE)
    lines[2] = "Subscribe"  # the glued first title is gone

    error = skipped_one("\n".join(lines).encode(), "orphan.txt", original)

    assert error.line == 4
    assert error.problem.startswith("text with no title before it")


WITHDRAWN = "This paper has been withdrawn by the author due to a crucial error in the proof."


def test_a_withdrawn_paper_is_skipped_and_the_others_kept(pages: Path) -> None:
    """Fails before: one abstract of one sentence refused the whole page of 224 papers."""
    lines = file_lines(pages, COMPACT_PAGE)
    original = parse_file(pages, COMPACT_PAGE)
    withdrawn = original.papers[57]
    lines[withdrawn.line] = WITHDRAWN  # the line after its title: its abstract

    page = parse_page("\n".join(lines).encode(), "withdrawn.txt", TODAY)

    assert len(original.papers) == 224
    assert page.papers == [p for p in original.papers if p != withdrawn]
    (error,) = page.skipped
    assert error.line == withdrawn.line
    assert withdrawn.title[:20] in error.problem
    assert "is 16 words, too short for a paper's: paper skipped" in error.problem


def test_lines_that_make_no_paper_are_skipped_as_one_run(pages: Path) -> None:
    lines = file_lines(pages, BLANK_PAGE)
    original = parse_file(pages, BLANK_PAGE)
    third = original.papers[2]
    lines[third.line - 1 : third.line - 1] = ["----", "Short", "Lines", "Here", ""]

    page = parse_page("\n".join(lines).encode(), "runs.txt", TODAY)

    assert [p.title for p in page.papers] == [p.title for p in original.papers]
    (error,) = page.skipped
    assert (error.line, error.problem) == (
        third.line,
        f"4 lines up to line {third.line + 3} are not a title followed by an abstract: skipped",
    )


def test_a_page_whose_entries_are_all_skipped_is_refused() -> None:
    data = b"Get trending papers in your email inbox!\n\nJust A Title\n\nAnother Title\n"

    error = page_error(data, "titles.txt")

    assert error.line == 3
    assert "too short for a paper's" in error.problem


def test_escapes_and_bidi_overrides_are_removed_from_titles_and_abstracts(pages: Path) -> None:
    lines = file_lines(pages, BLANK_PAGE)
    original = parse_file(pages, BLANK_PAGE)
    first = original.papers[0]
    lines[first.line - 1] = f"\x1b]0;owned\x07\x1b[31m{first.title}\u202e\u2066\u200b\x9b"
    lines[first.line + 1] = f"\u202e{lines[first.line + 1]}\x1b[0m"

    page = parse("\n".join(lines).encode())

    assert page.papers[0].title == f"]0;owned [31m{first.title}"
    assert page.papers[0].abstract == f"{first.abstract} [0m"
    assert page.papers[1:] == original.papers[1:]


def test_right_to_left_text_and_joiners_are_kept() -> None:
    title = (
        "\u0646\u0645\u0648\u0630\u062c \u200c\u05e2\u05d1\u05e8\u05d9\u05ea "
        "Models \U0001f469\u200d\U0001f52c"
    )
    data = f"Get trending papers in your email inbox!\n\n{title}\n\n{' '.join(['word'] * 40)}\n"

    assert parse(data.encode()).papers[0].title == title


def test_line_separator_inside_an_abstract_is_not_a_new_line(pages: Path) -> None:
    """Fails: str.splitlines() also splits on U+2028 (and \\f, \\x1c, \\x85, ...).

    The file still has one title line then one abstract line, so it should parse and keep
    the line numbers an editor shows.
    """
    lines = file_lines(pages, BLANK_PAGE)
    original = parse_file(pages, BLANK_PAGE).papers
    second = original[1]
    abstract = lines[second.line + 1]
    cut = abstract.index(". ", 100)
    lines[second.line + 1] = abstract[: cut + 1] + "\u2028" + abstract[cut + 2 :]

    page = parse("\n".join(lines).encode())

    assert [p.line for p in page.papers] == [p.line for p in original]
    assert page.papers[1].abstract == second.abstract


def test_lowercase_title_glued_to_subscribe_is_unglued(pages: Path) -> None:
    """Fails: real titles start in lowercase ("xCOMET-lite", "k-Sparse", "sharpDARTS").

    Put "xCOMET-lite: ..." (a paper of the compact page) first, glued to "Subscribe" as the
    compact layout always does: its title must not become "SubscribexCOMET-lite: ...", or
    the paper gets a new key and is stored twice.
    """
    lines = file_lines(pages, COMPACT_PAGE)
    paper = next(p for p in parse_file(pages, COMPACT_PAGE).papers if p.title[0] == "x")
    assert paper.title.startswith("xCOMET-lite:")
    data = "\n".join([*lines[:2], "Subscribe" + paper.title, paper.abstract, *lines[2:]]).encode()

    page = parse(data)

    assert page.papers[0].title == paper.title
    assert page.papers[0].key == paper.key


# --- paper keys -------------------------------------------------------------------------------


def test_paper_key_ignores_case_punctuation_and_spacing(pages: Path) -> None:
    fullwidth = "".join(chr(ord(c) + 0xFEE0) for c in "EcoFormer")  # NFKC folds it back
    keys = {p.key for p in parse_file(pages, BLANK_PAGE).papers}
    variants = [
        "EcoFormer: Energy-Saving Attention with Linear Complexity",
        "ecoformer energy saving attention with linear complexity",
        "  ECOFORMER —  Energy Saving Attention, with LINEAR complexity!  ",
        "EcoFormer:\tEnergy\u2013Saving Attention\nwith Linear Complexity.",  # en dash
        fullwidth + ": Energy-Saving Attention with Linear Complexity",
    ]

    assert {paper_key(v) for v in variants} == {
        "ecoformer energy saving attention with linear complexity"
    }
    assert paper_key(variants[2]) in keys


def test_paper_key_keeps_distinct_titles_apart() -> None:
    assert paper_key("NERV++: An Enhanced Implicit Neural Video Representation") != paper_key(
        "NERV: An Enhanced Implicit Neural Video Representation v2"
    )
    assert paper_key("GPT-4 Technical Report") != paper_key("GPT-3 Technical Report")
    assert PaperRecord("A b", "x", 1).key == "a b"


# --- round trip -------------------------------------------------------------------------------

_LETTERS = string.ascii_letters + "éüößñçøÉÜ"
_HEADER_WORDS = {"new", "subscribe"}
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

title_words = st.text(_LETTERS, min_size=1, max_size=12)
titles = (
    st.lists(title_words, min_size=1, max_size=20)
    .map(" ".join)
    .filter(lambda t: not t.startswith("Subscribe"))
    # A one-word title "New" right after the header is the header's own "new" line.
    .filter(lambda t: t.casefold() not in _HEADER_WORDS)
)
abstract_word = st.text(string.ascii_letters + string.digits + ",.;:()'-", min_size=1, max_size=12)
repos = st.from_regex(r"[A-Za-z0-9_-]{1,12}/[A-Za-z0-9_-]{1,12}", fullmatch=True)


@st.composite
def papers(draw: st.DrawFn) -> tuple[str, str, str | None]:
    title = draw(titles)
    words = draw(st.lists(abstract_word, min_size=30, max_size=120))
    repo = draw(st.none() | repos)
    if repo is not None:
        words.insert(draw(st.integers(0, len(words))), f"https://github.com/{repo}.")
    return title, " ".join(words), None if repo is None else f"https://github.com/{repo}"


paper_lists = st.lists(papers(), min_size=1, max_size=8)


def check_round_trip(
    page: ParsedPage, drawn: list[tuple[str, str, str | None]], lines: list[int]
) -> None:
    assert [(p.title, p.abstract, p.code_url) for p in page.papers] == drawn
    assert [p.line for p in page.papers] == lines


@settings(max_examples=50, deadline=None)
@given(
    drawn=paper_lists,
    today=st.dates(date(2001, 1, 1), date(2099, 12, 31)),
    month=st.integers(1, 12),
    day=st.integers(1, 28),
)
def test_round_trip_blank_line_layout(
    drawn: list[tuple[str, str, str | None]], today: date, month: int, day: int
) -> None:
    header = [
        "new",
        "Get trending papers in your email inbox!",
        "Subscribe",
        "byAK and the research community",
        f"{_MONTHS[month - 1]} {day}",
    ]
    body = [text for title, abstract, _ in drawn for text in (title, abstract)]
    data = "\n\n".join(header + body).encode()

    page = parse(data, today=today)

    check_round_trip(page, drawn, [11 + 4 * i for i in range(len(drawn))])
    assert page.page_date is not None
    assert (page.page_date.month, page.page_date.day) == (month, day)
    assert today - timedelta(days=366) < page.page_date <= today + timedelta(days=2)


@settings(max_examples=50, deadline=None)
@given(drawn=paper_lists)
def test_round_trip_compact_layout(drawn: list[tuple[str, str, str | None]]) -> None:
    header = [
        "Get trending papers in your email inbox once a day!",
        "Get trending papers in your email inbox!",
    ]
    body = [text for title, abstract, _ in drawn for text in (title, abstract)]
    body[0] = "Subscribe" + body[0]
    data = "\n".join(header + body).encode()

    page = parse(data)

    check_round_trip(page, drawn, [3 + 2 * i for i in range(len(drawn))])
    assert page.page_date is None
