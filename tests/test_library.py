"""Reference library exports read as seeds: BibTeX, RIS and CSL-JSON, and their quirks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from digest.errors import LibraryError
from digest.library import (
    HALF_LIFE_YEARS,
    MAX_SEEDS,
    MIN_WEIGHT,
    Library,
    parse_export,
    read_export,
)
from tests.support import ROOT

EXAMPLE = ROOT / "examples" / "library" / "ada.bib"
FIXTURES = ROOT / "tests" / "data" / "library"


def parsed(path: Path) -> Library:
    return parse_export(read_export(path), path)


def written(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Library:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return parsed(path)


def titles(library: Library) -> list[str]:
    return [seed["title"] for seed in library.seeds]


def error(tmp_path: Path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(LibraryError) as caught:
        parsed(path)
    return str(caught.value)


# --- the three formats ----------------------------------------------------------------------


def test_the_example_bibtex_export_gives_its_papers_newest_first() -> None:
    library = parsed(EXAMPLE)

    assert (library.entries, library.duplicates, library.skipped) == (9, 1, [])
    assert titles(library) == [
        "NERV++: An Enhanced Implicit Neural Video Representation",
        "HNeRV: A Hybrid Neural Representation for Videos",
        "E-NeRV: Expedite Neural Video Representation with Disentangled Spatial-Temporal Context",
        "Instant Neural Graphics Primitives with a Multiresolution Hash Encoding",
        "NeRV: Neural Representations for Videos",
        "COIN: COmpression with Implicit Neural representations",
        "Implicit Neural Representations with Periodic Activation Functions",
        "DVC: An End-to-end Deep Video Compression Framework",
    ]
    newest, hnerv = library.seeds[:2]
    assert newest["weight"] == 1.0
    assert newest["abstract"].startswith("Neural fields, also known as implicit neural")
    # June 2023 is seven months before the newest paper (2024, no month: January).
    assert hnerv["weight"] == pytest.approx(0.5 ** ((7 / 12) / HALF_LIFE_YEARS), abs=1e-4)
    assert hnerv["arxiv_id"] == "2304.02633"  # from eprint with archivePrefix = arXiv
    by_title = {seed["title"]: seed for seed in library.seeds}
    # The NeRV proceedings entry took the arXiv id of its preprint, listed later.
    assert by_title["NeRV: Neural Representations for Videos"]["arxiv_id"] == "2110.13903"
    assert by_title["COIN: COmpression with Implicit Neural representations"]["arxiv_id"] == (
        "2103.03123"
    )
    assert "abstract" not in by_title["DVC: An End-to-end Deep Video Compression Framework"]


@pytest.mark.parametrize("name", ["ada.ris", "ada.json"])
def test_ris_and_csl_json_exports_of_the_same_library_give_the_same_seeds(name: str) -> None:
    bibtex = parsed(EXAMPLE)
    other = parsed(FIXTURES / name)

    def comparable(library: Library) -> list[tuple[str, float, str | None, bool]]:
        return [
            (s["title"], s["weight"], s.get("arxiv_id"), "abstract" in s) for s in library.seeds
        ]

    assert comparable(other) == comparable(bibtex)
    assert (other.entries, other.duplicates, other.skipped) == (9, 1, [])


# --- BibTeX ---------------------------------------------------------------------------------


def test_bibtex_latex_accents_braces_commands_and_math_become_text(tmp_path: Path) -> None:
    library = written(
        tmp_path,
        "quirks.bib",
        r"""
@string{icml = "International Conference on Machine Learning"}
@inproceedings{muller,
  title = {{\"U}ber {M}{\"u}ller's caf\'{e} na\"ive {\ss}traße and Erd\H{o}s},
  abstract = {We reach $O(n \log n)$ time, 50\% faster, with \emph{attention
              is all} you need \& more.},
  booktitle = icml,
  year = 2019,
}
""",
    )
    (seed,) = library.seeds
    assert seed["title"] == "Über Müller's café naïve ßtraße and Erdős"
    assert seed["abstract"] == (
        "We reach O(n log n) time, 50% faster, with attention is all you need & more."
    )


def test_a_broken_bibtex_entry_is_skipped_and_named_by_its_line(tmp_path: Path) -> None:
    library = written(
        tmp_path,
        "broken.bib",
        """@article{good, title = {Attention Is All You Need}, year = {2017}}

@misc{broken,
  title = {Unclosed
@article{next, title = {Deep Residual Learning for Image Recognition}, year = 2016}
""",
    )
    assert titles(library) == [
        "Attention Is All You Need",
        "Deep Residual Learning for Image Recognition",
    ]
    (skipped,) = library.skipped
    assert skipped.startswith(f"{tmp_path / 'broken.bib'}:3: cannot be read: ")


def test_entries_without_a_title_are_skipped_and_named(tmp_path: Path) -> None:
    library = written(
        tmp_path,
        "notitle.bib",
        "@article{a, title = {A Title}}\n@misc{website, url = {https://example.org}}\n",
    )
    assert titles(library) == ["A Title"]
    assert library.skipped == [f"{tmp_path / 'notitle.bib'}:2: entry 'website': no title"]


def test_duplicates_by_doi_arxiv_id_or_title_merge_into_the_first(tmp_path: Path) -> None:
    library = written(
        tmp_path,
        "dups.bib",
        """
@article{a, title = {Attention Is All You Need}, year = {2017}}
@misc{a, title = {Attention is all you need.}, abstract = {The dominant sequence models.},
  year = {2017}}
@article{b, title = {BERT}, doi = {10.18653/V1/N19-1423}, year = {2019}}
@inproceedings{c, title = {BERT: Pre-training of Deep Bidirectional Transformers},
  doi = {10.18653/v1/n19-1423}, year = {2019}}
@misc{d, title = {Language Models are Few-Shot Learners}, eprint = {2005.14165v4},
  archiveprefix = {arXiv}, year = {2020}}
@article{e, title = {GPT-3}, url = {https://arxiv.org/abs/2005.14165}, year = {2021}}
""",
    )
    assert (library.entries, library.duplicates) == (6, 3)
    by_title = {seed["title"]: seed for seed in library.seeds}
    assert set(by_title) == {
        "Attention Is All You Need",
        "BERT",
        "Language Models are Few-Shot Learners",
    }
    # The repeated citation key is still read, and lends the first its abstract.
    assert by_title["Attention Is All You Need"]["abstract"] == "The dominant sequence models."
    # The latest date of the two counts: 2021 is the newest, so weight 1.
    assert by_title["Language Models are Few-Shot Learners"] == {
        "title": "Language Models are Few-Shot Learners",
        "weight": 1.0,
        "arxiv_id": "2005.14165",
    }


@pytest.mark.parametrize(
    "field",
    [
        "doi = {10.48550/arXiv.2304.02633}",
        "url = {http://arxiv.org/pdf/2304.02633v2}",
        "note = {arXiv: 2304.02633 [cs.CV]}",
        "eprint = {2304.02633}, eprinttype = {arxiv}",
        "journal = {arXiv preprint arXiv:2304.02633}",
    ],
)
def test_an_arxiv_id_is_found_where_exports_write_it(tmp_path: Path, field: str) -> None:
    library = written(tmp_path, "ids.bib", f"@misc{{a, title = {{HNeRV}}, {field}}}")
    assert library.seeds[0]["arxiv_id"] == "2304.02633"


@pytest.mark.parametrize(
    ("fields", "year"),
    [
        ("year = {2020}, month = dec", 2020 + 11 / 12),
        ("year = {2020}, month = {December}", 2020 + 11 / 12),
        ("year = {2020}, month = {12}", 2020 + 11 / 12),
        ("date = {2020-12-24}", 2020 + 11 / 12),
        ("date = {2020-12/2021-01}, year = {1999}", 2020 + 11 / 12),
        ("year = {2020}", 2020.0),
    ],
)
def test_bibtex_dates_from_year_month_or_date(tmp_path: Path, fields: str, year: float) -> None:
    library = written(
        tmp_path,
        "dates.bib",
        f"@misc{{new, title = {{New}}, {fields}}}\n"
        "@misc{old, title = {Old}, year = {2016}}\n",
    )
    old = library.seeds[1]
    assert old["title"] == "Old"
    assert old["weight"] == pytest.approx(
        max(MIN_WEIGHT, 0.5 ** ((year - 2016) / HALF_LIFE_YEARS)), abs=1e-4
    )


# --- RIS ------------------------------------------------------------------------------------


def test_ris_with_a_bom_crlf_and_records_missing_their_end_lines(tmp_path: Path) -> None:
    text = (
        "TY  - JOUR\r\nT1  - First Paper\r\nN2  - Its abstract,\r\n  on two lines.\r\n"
        "PY  - 2019///\r\n"
        # No ER line: the next TY starts a record of its own.
        "TY  - CONF\r\nTI  - Second Paper\r\nDA  - 2021/06/01/\r\nER  - \r\n"
        "TY  - GEN\r\nTI  - Third Paper\r\nY1  - 2020\r\n"  # the file ends inside it
    )
    library = written(tmp_path, "bom.ris", text, encoding="utf-8-sig")

    assert titles(library) == ["Second Paper", "Third Paper", "First Paper"]
    assert library.seeds[2]["abstract"] == "Its abstract, on two lines."
    assert [seed["weight"] for seed in library.seeds] == pytest.approx(
        [1.0, 0.5 ** ((1 + 5 / 12) / HALF_LIFE_YEARS), 0.5 ** ((2 + 5 / 12) / HALF_LIFE_YEARS)],
        abs=1e-4,
    )


def test_a_ris_record_without_a_title_is_named_by_its_line(tmp_path: Path) -> None:
    library = written(
        tmp_path,
        "untitled.ris",
        "TY  - JOUR\nTI  - Titled\nER  - \n\nTY  - JOUR\nPY  - 2020\nER  -\n",
    )
    assert titles(library) == ["Titled"]
    assert library.skipped == [f"{tmp_path / 'untitled.ris'}:5: reference: no title"]


# --- CSL-JSON -------------------------------------------------------------------------------


def test_csl_json_dates_rich_text_and_odd_items(tmp_path: Path) -> None:
    items = [
        {
            "id": "a",
            "title": '<i>E. coli</i> at <span class="nocase">Scale</span>',
            "issued": {"date-parts": [["2022", "3"]]},
        },
        {"id": "b", "title": "Raw Date", "issued": {"raw": "2020-03-01"}},
        {"id": "c", "title": "Undated", "abstract": "No date at all."},
        "not an item",
        {"id": 7, "type": "webpage"},
    ]
    library = written(tmp_path, "items.json", json.dumps(items))

    path = tmp_path / "items.json"
    assert library.skipped == [f"{path}: item #4: not an object", f"{path}: item #5 (7): no title"]
    assert titles(library) == ["E. coli at Scale", "Undated", "Raw Date"]
    # An undated paper weighs as the library's median dated paper (here, their mean).
    two_years = 0.5 ** (2 / HALF_LIFE_YEARS)
    assert [seed["weight"] for seed in library.seeds] == pytest.approx(
        [1.0, 0.5 ** (1 / HALF_LIFE_YEARS), two_years], abs=1e-4
    )


def test_a_library_without_dates_weighs_every_paper_the_same(tmp_path: Path) -> None:
    items = [{"title": f"Paper {n}"} for n in range(3)]
    library = written(tmp_path, "undated.json", json.dumps(items))
    assert [seed["weight"] for seed in library.seeds] == [1.0, 1.0, 1.0]


# --- size -----------------------------------------------------------------------------------


def test_thousands_of_entries_keep_the_most_recent(tmp_path: Path) -> None:
    entries = [
        f"@article{{k{n}, title = {{Paper number {n}}}, year = {{{1990 + n % 35}}}, "
        f"abstract = {{Words about topic {n} with caf\\'{{e}}.}}}}"
        for n in range(5000)
    ]
    library = written(tmp_path, "big.bib", "\n".join(entries))

    assert library.entries == 5000
    assert len(library.seeds) == MAX_SEEDS
    assert str(library) == (
        f"5000 entries, 0 duplicates, 0 skipped: {MAX_SEEDS} seeds "
        f"(at most {MAX_SEEDS}: the most recent)"
    )
    years = [1990 + int(seed["title"].split()[-1]) % 35 for seed in library.seeds]
    assert years == sorted(years, reverse=True)
    assert min(years) >= 2024 - MAX_SEEDS // (5000 // 35)
    assert library.seeds[0]["abstract"] == "Words about topic 34 with café."


# --- files that cannot be read --------------------------------------------------------------


def test_a_missing_file_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(LibraryError, match=f"^{tmp_path / 'gone.bib'}: no such library file$"):
        read_export(tmp_path / "gone.bib")


def test_an_unknown_kind_of_file_says_which_ones_are_read(tmp_path: Path) -> None:
    (tmp_path / "library.enl").write_bytes(b"")
    with pytest.raises(LibraryError, match=r"BibTeX \(\.bib\), RIS \(\.ris\) or CSL-JSON"):
        read_export(tmp_path / "library.enl")


def test_text_that_is_not_utf8_names_its_line(tmp_path: Path) -> None:
    message = error(tmp_path, "latin.ris", "TY  - JOUR\nTI  - Caf\xe9\nER  - \n".encode("latin-1"))
    assert message.startswith(f"{tmp_path / 'latin.ris'}:2: not UTF-8 text (byte 0xe9)")


def test_utf16_with_a_bom_is_read(tmp_path: Path) -> None:
    library = written(tmp_path, "wide.ris", "TY  - JOUR\nTI  - Über Alles\nER  - \n", "utf-16")
    assert titles(library) == ["Über Alles"]


def test_invalid_json_names_its_line(tmp_path: Path) -> None:
    message = error(tmp_path, "bad.json", b'[\n  {"title": "A"},\n  {"title": }\n]\n')
    assert message.startswith(f"{tmp_path / 'bad.json'}:3: not valid JSON")


def test_csl_json_must_be_a_list(tmp_path: Path) -> None:
    message = error(tmp_path, "object.json", b'{"items": []}')
    assert message == f"{tmp_path / 'object.json'}: CSL-JSON is a list of items, not a dict"


@pytest.mark.parametrize(
    ("name", "data", "problem"),
    [
        ("empty.bib", b"", "no entries in it"),
        ("comment.bib", b"% just a comment\n", "no entries in it"),
        ("empty.ris", b"\n\n", "no entries in it"),
        ("empty.json", b"[]", "no entries in it"),
        ("untitled.bib", b"@misc{a, year = 2020}", "1: entry 'a': no title"),
    ],
)
def test_a_file_without_papers_is_an_error(
    tmp_path: Path, name: str, data: bytes, problem: str
) -> None:
    message = error(tmp_path, name, data)
    assert message.startswith(f"{tmp_path / name}")
    assert problem in message
    assert message.endswith("(no paper read from the library)")


# --- the three formats agree, whatever the papers --------------------------------------------

# Words of letters from several scripts, digits and the punctuation titles use; BibTeX's
# own special characters ({, }, \, $, %, @, #, ~, ^, &, _) are escaped in real exports.
_WORDS = st.text(
    alphabet=st.characters(
        whitelist_categories=("Lu", "Ll", "Nd"), whitelist_characters="-:,.?!'()+/"
    ),
    min_size=1,
    max_size=12,
).filter(lambda word: any(character.isalnum() for character in word))
_PAPERS = st.lists(
    st.tuples(
        st.lists(_WORDS, min_size=1, max_size=8).map(" ".join),
        st.none() | st.integers(1990, 2025),
        st.none() | st.integers(1, 12),
    ),
    min_size=1,
    max_size=8,
)


def _as_bibtex(papers: list[tuple[str, int | None, int | None]]) -> str:
    entries = []
    for number, (title, year, month) in enumerate(papers):
        date = f", year = {{{year}}}" if year else ""
        date += f", month = {{{month}}}" if year and month else ""
        entries.append(f"@article{{k{number}, title = {{{title}}}{date}}}")
    return "\n".join(entries)


def _as_ris(papers: list[tuple[str, int | None, int | None]]) -> str:
    records = []
    for title, year, month in papers:
        date = f"DA  - {year}/{month:02d}//\n" if year and month else ""
        date += f"PY  - {year}\n" if year else ""
        records.append(f"TY  - JOUR\nTI  - {title}\n{date}ER  - \n")
    return "\n".join(records)


def _as_csl(papers: list[tuple[str, int | None, int | None]]) -> str:
    items = []
    for title, year, month in papers:
        item: dict[str, object] = {"title": title}
        if year:
            item["issued"] = {"date-parts": [[year, month] if month else [year]]}
        items.append(item)
    return json.dumps(items)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(papers=_PAPERS)
def test_the_three_formats_read_the_same_papers_alike(tmp_path: Path, papers) -> None:
    read = [
        written(tmp_path, "drawn.bib", _as_bibtex(papers)),
        written(tmp_path, "drawn.ris", _as_ris(papers)),
        written(tmp_path, "drawn.json", _as_csl(papers)),
    ]
    bibtex, ris, csl = ([(s["title"], s["weight"]) for s in lib.seeds] for lib in read)
    assert bibtex == ris == csl
    assert {title for title, _ in bibtex} <= {" ".join(title.split()) for title, _, _ in papers}
    assert all(MIN_WEIGHT <= weight <= 1.0 for _, weight in bibtex)
    assert max(weight for _, weight in bibtex) == 1.0
