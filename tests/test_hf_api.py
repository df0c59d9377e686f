"""Parsing the Hugging Face daily-papers API: three real days, the record fields, broken input."""

from __future__ import annotations

import copy
import hashlib
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from digest.errors import PageError
from digest.hf_api import arxiv_id, iso_date, papers_from_entries, parse_api
from digest.pages import ParsedPage

API = Path(__file__).parent / "data" / "hf-api"

# The copied days (tests/data/hf-api/SOURCE.md): papers, papers with a GitHub link, with a
# project page, author names, upvotes, all summed over the day.
REAL = {
    "2025-03-17.json": (12, 3, 4, 83, 178),
    "2025-06-09.json": (8, 5, 2, 62, 42),
    "2025-06-13.json": (26, 11, 4, 329, 202),
}
MAR_17 = "2025-03-17.json"
JUN_13 = "2025-06-13.json"


def raw(name: str) -> bytes:
    return (API / name).read_bytes()


def entries(name: str) -> list[dict[str, Any]]:
    return json.loads(raw(name))


def parse(data: bytes, source: str = "api.json") -> ParsedPage:
    return parse_api(data, source)


def api_error(data: bytes, source: str = "api.json") -> PageError:
    with pytest.raises(PageError) as caught:
        parse_api(data, source)
    return caught.value


def dump(value: object) -> bytes:
    return json.dumps(value).encode()


def one_entry(**paper: object) -> list[dict[str, Any]]:
    """The first real entry of Mar 17 with `paper` fields replaced (None deletes one)."""
    entry = copy.deepcopy(entries(MAR_17)[0])
    for key, value in paper.items():
        if value is None:
            entry["paper"].pop(key, None)
        else:
            entry["paper"][key] = value
    return [entry]


# --- the real days ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(REAL))
def test_every_real_day_parses_with_its_counts(name: str) -> None:
    count, code, project, authors, upvotes = REAL[name]
    data = raw(name)

    page = parse(data, name)

    assert page.source == name
    assert page.sha256 == hashlib.sha256(data).hexdigest()
    assert page.page_date == date.fromisoformat(name.removesuffix(".json"))
    assert len(page.papers) == count
    assert [p.line for p in page.papers] == list(range(1, count + 1))
    assert sum(p.code_url is not None for p in page.papers) == code
    assert sum(p.project_url is not None for p in page.papers) == project
    assert sum(len(p.authors) for p in page.papers) == authors
    assert sum(p.upvotes or 0 for p in page.papers) == upvotes


@pytest.mark.parametrize("name", sorted(REAL))
def test_records_follow_the_paper_fields_in_order(name: str) -> None:
    page = parse(raw(name), name)

    for paper, entry in zip(page.papers, entries(name), strict=True):
        source = entry["paper"]
        assert paper.arxiv_id == source["id"]
        assert paper.title == " ".join(source["title"].split())
        assert paper.abstract == " ".join(source["summary"].split())
        assert paper.authors == tuple(a["name"] for a in source["authors"])
        assert paper.upvotes == source["upvotes"]
        assert paper.code_url == source.get("githubRepo")
        assert paper.published == date.fromisoformat(source["publishedAt"][:10])


@pytest.mark.parametrize("name", sorted(REAL))
def test_hard_line_breaks_are_folded(name: str) -> None:
    assert any("\n" in e["paper"]["title"] for e in entries(name))
    assert all("\n" in e["paper"]["summary"] for e in entries(name))

    for paper in parse(raw(name)).papers:
        for text in (paper.title, paper.abstract, *paper.authors):
            assert "\n" not in text
            assert "  " not in text
            assert text == text.strip()


def test_first_paper_of_mar_17_in_full() -> None:
    paper = parse(raw(MAR_17)).papers[0]

    assert paper.title == (
        "PLADIS: Pushing the Limits of Attention in Diffusion Models at Inference Time by "
        "Leveraging Sparsity"
    )
    assert paper.abstract.startswith(
        "Diffusion models have shown impressive results in generating high-quality "
        "conditional samples using guidance techniques such as Classifier-Free Guidance (CFG)."
    )
    assert paper.abstract.endswith(
        "offering a highly efficient and universally applicable solution."
    )
    assert paper.arxiv_id == "2503.07677"
    assert paper.authors == ("Kwanyoung Kim", "Byeongsu Sim")
    assert paper.upvotes == 46
    assert paper.code_url is None
    assert paper.project_url is None
    assert paper.published == date(2025, 3, 10)
    assert paper.line == 1


def test_github_and_project_links_of_mar_17() -> None:
    papers = parse(raw(MAR_17)).papers

    assert [(p.line, p.code_url) for p in papers if p.code_url] == [
        (8, "https://github.com/bytedance/1d-tokenizer/"),
        (9, "https://github.com/MaitySubhajit/KArAt"),
        (11, "https://github.com/Luo-Yihong/TDM"),
    ]
    assert papers[7].project_url == "https://tacju.github.io/projects/flowtok.html"


def test_project_page_with_a_leading_space_is_trimmed() -> None:
    assert entries(MAR_17)[2]["paper"]["projectPage"] == " https://sites.google.com/view/adc-robot"

    assert parse(raw(MAR_17)).papers[2].project_url == "https://sites.google.com/view/adc-robot"


def test_jun_13_hidden_author_many_authors_and_zero_upvotes() -> None:
    papers = parse(raw(JUN_13)).papers
    creatiposter, magistral, last = papers[8], papers[17], papers[25]

    assert creatiposter.arxiv_id == "2506.10890"
    # "hidden" concerns the author's Hugging Face account; the name is on the paper.
    assert [a["hidden"] for a in entries(JUN_13)[8]["paper"]["authors"]].count(True) == 1
    assert "Gonglei Shi" in creatiposter.authors
    assert len(creatiposter.authors) == 9
    assert magistral.title == "Magistral"
    assert len(magistral.authors) == 100
    assert last.upvotes == 0


def test_three_days_share_no_paper() -> None:
    ids = [p.arxiv_id for name in sorted(REAL) for p in parse(raw(name)).papers]

    assert len(ids) == len(set(ids)) == 46


def test_published_is_the_paper_date_not_the_shifted_top_level_one() -> None:
    entry = entries(MAR_17)[6]
    # The top-level copy is the same instant moved four or five hours back, still marked
    # UTC: here it falls on the day before.
    assert entry["paper"]["publishedAt"] == "2025-03-14T00:28:15.000Z"
    assert entry["publishedAt"] == "2025-03-13T20:28:15.000Z"

    assert parse(raw(MAR_17)).papers[6].published == date(2025, 3, 14)


# --- the other shapes of the answer ---------------------------------------------------------


def test_data_wrapped_archive_gives_the_same_papers(tmp_path: Path) -> None:
    wrapped = tmp_path / "2025-06-09.json"
    wrapped.write_text(json.dumps({"data": entries("2025-06-09.json")}, indent=1))
    data = wrapped.read_bytes()

    page = parse(data, str(wrapped))
    plain = parse(raw("2025-06-09.json"))

    assert page.papers == plain.papers
    assert page.page_date == plain.page_date == date(2025, 6, 9)
    assert page.sha256 == hashlib.sha256(data).hexdigest() != plain.sha256


def test_byte_order_mark_is_accepted() -> None:
    data = b"\xef\xbb\xbf" + raw("2025-06-09.json")

    page = parse(data)

    assert len(page.papers) == 8
    assert page.sha256 == hashlib.sha256(data).hexdigest()


def test_top_level_fields_stand_in_for_missing_paper_ones() -> None:
    [entry] = one_entry(title=None, summary="  ", publishedAt=None)
    entry["title"] = "Top-level\n  title"

    paper = parse(dump([entry])).papers[0]

    assert paper.title == "Top-level title"
    assert paper.abstract == " ".join(entry["summary"].split())
    assert paper.published == date(2025, 3, 10)  # "2025-03-10T03:23:19.000Z"


def test_page_date_is_none_unless_every_entry_shares_one_day() -> None:
    days = entries(MAR_17)[:2]
    days[1]["paper"]["submittedOnDailyAt"] = "2025-03-18T00:10:00.000Z"
    assert parse(dump(days)).page_date is None

    del days[1]["paper"]["submittedOnDailyAt"]
    assert parse(dump(days)).page_date is None

    del days[0]["paper"]["submittedOnDailyAt"]
    assert parse(dump(days)).page_date is None


def test_papers_from_entries_reads_a_list_directly() -> None:
    papers, skipped = papers_from_entries(entries(MAR_17), "somewhere")

    assert papers == parse(raw(MAR_17)).papers
    assert skipped == []


# --- fields one by one ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2503.07677", "2503.07677"),
        ("2503.07677v2", "2503.07677"),
        (" 2412.1234 ", "2412.1234"),  # four digits after the dot until 2014
        ("0704.0001v1", "0704.0001"),
        ("hep-th/9901001", "hep-th/9901001"),
        ("hep-th/9901001v3", "hep-th/9901001"),
        ("math.GT/0309136", "math.GT/0309136"),
        ("2513.07677", None),  # month 13
        ("2503.076", None),
        ("2503.0767789", None),
        ("2503.07677v", None),
        ("arXiv:2503.07677", None),
        ("2503.07677 and more", None),
        ("\u0662\u0665\u0660\u0663.\u0660\u0667\u0666\u0667\u0667", None),  # Arabic-Indic digits
        ("HEP-TH/9901001", None),
        ("hep-th/990100", None),
        ("", None),
        (None, None),
        (2503.07677, None),
    ],
)
def test_arxiv_ids(value: object, expected: str | None) -> None:
    assert arxiv_id(value) == expected


def test_an_invalid_arxiv_id_is_dropped_but_the_paper_kept() -> None:
    page = parse(dump(one_entry(id="not-an-id")))

    assert page.papers[0].arxiv_id is None
    assert page.papers[0].title.startswith("PLADIS")


@pytest.mark.parametrize(
    "link",
    [
        "javascript:alert(1)",
        "JavaScript:alert(document.cookie)",
        "data:text/html,<script>alert(1)</script>",
        "ftp://github.com/a/b",
        "github.com/a/b",
        "//github.com/a/b",
        "https://",
        "https://github.com/a b",
        "https://github.com/a\x00b",
        "http://[::1",
        "",
        7,
        ["https://github.com/a/b"],
    ],
)
def test_links_other_than_http_are_dropped(link: object) -> None:
    page = parse(dump(one_entry(githubRepo=link, projectPage=link)))

    assert page.papers[0].code_url is None
    assert page.papers[0].project_url is None


def test_null_or_absent_links_are_none() -> None:
    absent = one_entry(githubRepo=None, projectPage=None)
    null = one_entry()
    null[0]["paper"].update(githubRepo=None, projectPage=None)  # JSON null

    for days in (absent, null):
        paper = parse(dump(days)).papers[0]
        assert paper.code_url is None
        assert paper.project_url is None


def test_http_links_are_kept() -> None:
    paper = parse(
        dump(one_entry(githubRepo="http://github.com/a/b", projectPage="HTTPS://a.example/x"))
    ).papers[0]

    assert paper.code_url == "http://github.com/a/b"
    assert paper.project_url == "HTTPS://a.example/x"


@pytest.mark.parametrize(("value", "expected"), [(0, 0), (7, 7), (-1, None), (True, None)])
def test_upvotes_are_a_count_or_none(value: object, expected: int | None) -> None:
    assert parse(dump(one_entry(upvotes=value))).papers[0].upvotes == expected


@pytest.mark.parametrize("value", ["5", 5.0, [], {}])
def test_upvotes_of_another_type_are_none(value: object) -> None:
    assert parse(dump(one_entry(upvotes=value))).papers[0].upvotes is None


def test_malformed_authors_are_skipped() -> None:
    authors = [
        {"name": "  Ada\n  Lovelace "},
        {"name": ""},
        {"fullname": "no name key"},
        "Alan Turing",
        {"name": 3},
        {"name": "Grace Hopper", "hidden": True},
    ]

    assert parse(dump(one_entry(authors=authors))).papers[0].authors == (
        "Ada Lovelace",
        "Grace Hopper",
    )
    assert parse(dump(one_entry(authors="Ada"))).papers[0].authors == ()


def test_control_characters_and_lone_surrogates_are_cleaned() -> None:
    # json.dumps writes "\ud800" as an escape; json.loads gives back a lone surrogate.
    paper = parse(dump(one_entry(title="A\x00B\x1b[31mC\tD \ud800 E"))).papers[0]

    assert paper.title == "A B [31mC D \ufffd E"
    paper.title.encode("utf-8")  # storable and sendable


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025-03-17T00:44:05.364Z", date(2025, 3, 17)),
        ("2025-03-17T23:30:00-05:00", date(2025, 3, 18)),  # in UTC
        ("2025-03-17", date(2025, 3, 17)),
        ("0001-01-01T00:00:00+05:00", None),  # before year 1 in UTC
        ("2025-02-30T00:00:00Z", None),
        ("yesterday", None),
        (20250317, None),
        (None, None),
    ],
)
def test_iso_dates(value: object, expected: date | None) -> None:
    assert iso_date(value) == expected


# --- what is refused -------------------------------------------------------------------------


def test_truncated_json_names_the_source_and_line() -> None:
    data = raw(MAR_17)[:5000]

    error = api_error(data, "feeds/2025-03-17.json")

    assert error.source == "feeds/2025-03-17.json"
    assert error.line == data.count(b"\n") + 1
    assert str(error).startswith(f"feeds/2025-03-17.json:{error.line}: ")
    assert "not a Hugging Face daily-papers response: invalid JSON" in str(error)


@pytest.mark.parametrize("data", [b"[]", b'{"data": []}', b" [ ]\n"])
def test_an_empty_list_is_a_day_without_papers(data: bytes) -> None:
    page = parse_api(data, "2025-03-22.json")

    assert page.papers == []
    assert page.page_date is None


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"{}", "a JSON object without a 'data' list"),
        (b'{"papers": []}', "a JSON object without a 'data' list"),
        (b'{"data": {"paper": {}}}', "expected a list of papers, got an object"),
        (b'"2503.07677"', "expected a list of papers, got a string"),
        (b"42", "expected a list of papers, got a number"),
        (b"null", "expected a list of papers, got null"),
        (b"true", "expected a list of papers, got true or false"),
    ],
)
def test_json_of_the_wrong_shape_is_refused(data: bytes, problem: str) -> None:
    error = api_error(data, "odd.json")

    assert str(error) == f"odd.json: not a Hugging Face daily-papers response: {problem}"


@pytest.mark.parametrize(
    "data",
    [b"[1, 2]", b'["2503.07677"]', b'[{"title": "T", "summary": "S"}]', b'[{"paper": "x"}]'],
)
def test_entries_without_a_paper_object_are_refused(data: bytes) -> None:
    error = api_error(data, "odd.json")

    assert str(error) == "odd.json: entry 1: not a daily-papers entry (no 'paper' object)"


def test_entry_without_summary_is_skipped_by_its_number() -> None:
    days = entries(MAR_17)
    del days[2]["paper"]["summary"]
    del days[2]["summary"]

    page = parse(dump(days), "2025-03-17.json")

    (skipped,) = page.skipped
    assert str(skipped) == "2025-03-17.json: entry 3: no summary: paper skipped"
    assert skipped.line is None
    assert [p.line for p in page.papers] == [n for n in range(1, len(days) + 1) if n != 3]


@pytest.mark.parametrize("blank", ["", " \n  ", None, 12])
def test_blank_or_non_text_title_is_no_title(blank: object) -> None:
    days = entries(MAR_17)
    days[1]["paper"]["title"] = blank
    days[1]["title"] = blank

    assert [str(e) for e in parse(dump(days)).skipped] == [
        "api.json: entry 2: no title: paper skipped"
    ]
    assert str(api_error(dump(days[1:2]))) == "api.json: entry 1: no title"


def test_not_utf8_is_refused_with_its_line() -> None:
    error = api_error(b'[\n{"paper": {"title": "caf\xe9"}}]')

    assert error.line == 2
    assert "not UTF-8" in str(error)


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"[" * 100_000, "nested too deeply"),
        (b"[" + b"1" * 5000 + b"]", "invalid JSON"),
        (b"", "invalid JSON"),
        (b"[1,]", "invalid JSON"),
        (b"\x00", "invalid JSON"),
    ],
)
def test_pathological_json_is_a_page_error(data: bytes, problem: str) -> None:
    assert problem in str(api_error(data))


# --- whatever the JSON, a page or a PageError -----------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=20,
)
field_values = st.one_of(json_values, st.text(), st.just("https://github.com/a/b"))
paper_fields = st.fixed_dictionaries(
    {},
    optional={
        key: field_values
        for key in (
            "id",
            "title",
            "summary",
            "authors",
            "publishedAt",
            "submittedOnDailyAt",
            "upvotes",
            "githubRepo",
            "projectPage",
        )
    },
)
shaped_entries = st.lists(
    st.fixed_dictionaries(
        {"paper": paper_fields},
        optional={"title": field_values, "summary": field_values, "publishedAt": field_values},
    ),
    max_size=4,
)


@settings(max_examples=300, deadline=None)
@given(value=st.one_of(json_values, shaped_entries, shaped_entries.map(lambda e: {"data": e})))
def test_any_json_gives_a_page_or_a_page_error(value: object) -> None:
    data = json.dumps(value).encode()
    try:
        page = parse(data)
    except PageError as error:
        assert error.source == "api.json"
        return
    assert page.papers or value in ([], {"data": []})
    for paper in page.papers:
        assert paper.title and paper.abstract
        assert paper.title == " ".join(paper.title.split())
        (paper.title + paper.abstract + "".join(paper.authors)).encode("utf-8")
        assert paper.code_url is None or paper.code_url.startswith(("http://", "https://"))
