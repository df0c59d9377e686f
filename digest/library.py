"""A reader's reference library (a BibTeX, RIS or CSL-JSON export) read as seed papers.

Zotero, Mendeley and most reference managers export these three formats. Each paper with a
title becomes a seed: its title, its abstract when the export has one, its arXiv id when
one is found, and a weight that favours recent papers when the export has dates. Papers
listed twice (the same DOI, arXiv id or title) count once. Only the MAX_SEEDS heaviest are
kept: see the constant.
"""

from __future__ import annotations

import codecs
import json
import logging
import re
import statistics
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import rispy
from bibtexparser.entrypoint import parse_string
from bibtexparser.exceptions import BlockAbortedException
from bibtexparser.model import Entry, ParsingFailedBlock
from pylatexenc.latex2text import LatexNodes2Text

from digest.errors import LibraryError
from digest.hf_api import arxiv_id
from digest.limits import MAX_ABSTRACT_CHARS, MAX_TITLE_CHARS
from digest.pages import paper_key
from digest.sanitize import excerpt, one_line

log = logging.getLogger(__name__)
# The splitter logs each broken block with its line counted from 0; they are reported here,
# counted from 1, with the file's name.
logging.getLogger("bibtexparser.splitter").setLevel(logging.ERROR)

# A seed published HALF_LIFE_YEARS before the library's newest paper weighs half as much,
# twice that a quarter, and never less than MIN_WEIGHT: what a reader collects lately says
# most about what they read now, and the classics they keep still say something.
HALF_LIFE_YEARS = 2.0
MIN_WEIGHT = 0.1
# Seeds kept per library, heaviest first. Every seed the model reads is analysed at every
# run and compared with every pick to explain it, so its cost grows with them; the profile
# is their weighted mean, which a few hundred recent papers already fix (see
# benchmarks/library.py for the cost of a 5,000-paper export with and without the cap).
MAX_SEEDS = 500
SUFFIXES = {".bib": "BibTeX", ".bibtex": "BibTeX", ".ris": "RIS", ".json": "CSL-JSON"}
# How many skipped entries a warning names before it only counts them.
NAMED_PROBLEMS = 5

_MONTHS = {
    name: number
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
        start=1,
    )
}
# The date shapes exports write: "2017", "2017-12-06", RIS's "2017/12/06/", "2017.12".
_DATE = re.compile(r"\s*(\d{4})(?:[-/.](\d{1,2}))?")
# An arXiv id as exports write it: arxiv.org/abs/ID, arXiv:ID, the DOI 10.48550/arXiv.ID.
_ARXIV = re.compile(
    r"(?:arxiv\.org/(?:abs|pdf)/|arxiv[:.]\s*)"
    r"(\d{4}\.\d{4,5}(?:v\d+)?|[a-z-]+(?:\.[a-z]{2})?/\d{7})",
    re.IGNORECASE,
)
# A whitespace-delimited run holding a LaTeX command or math, matched from its start only.
_LATEX_RUN = re.compile(r"(?<!\S)[^\s\\$]*[\\$]\S*")
# CSL-JSON's rich text is a fixed list of tags (the CSL-JSON schema's "rich text"), not HTML.
_CSL_MARKUP = re.compile(r"</?(?:i|b|sup|sub|span)(?:\s[^<>]*)?>", re.IGNORECASE)
_RIS_START = re.compile(r"TY  -")
_RIS_END = re.compile(r"ER  -")


@dataclass(frozen=True)
class Library:
    """What an export gave: its seeds, heaviest first, ready to store; how many entries it
    held, how many repeated another, and the entries skipped (each named by its line or
    number, and why)."""

    seeds: list[dict[str, Any]]
    entries: int
    duplicates: int
    skipped: list[str]

    def __str__(self) -> str:
        kept = f"{len(self.seeds)} seeds" + (
            f" (at most {MAX_SEEDS}: the most recent)" if len(self.seeds) == MAX_SEEDS else ""
        )
        return (
            f"{self.entries} entries, {self.duplicates} duplicates, "
            f"{len(self.skipped)} skipped: {kept}"
        )


@dataclass(frozen=True)
class _Paper:
    """One entry of an export, before duplicates are merged and weights given."""

    title: str
    abstract: str
    year: float | None  # the year with the month as a fraction, when the export dates it
    arxiv_id: str | None
    doi: str | None


def read_export(path: Path) -> bytes:
    """The bytes of the export at `path`; LibraryError when it cannot be read."""
    if path.suffix.lower() not in SUFFIXES:
        raise LibraryError(
            f"{path}: not a library export I can read; export as BibTeX (.bib), RIS (.ris) "
            "or CSL-JSON (.json)"
        )
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise LibraryError(f"{path}: no such library file") from None
    except OSError as exc:
        raise LibraryError(f"{path}: cannot read: {exc.strerror or exc}") from None


def parse_export(data: bytes, path: Path) -> Library:
    """The seeds of an export (`data`, read from `path`, whose suffix says the format).

    Entries that cannot be read or have no title are skipped and listed; LibraryError when
    the file is not text, not that format, or holds no paper at all.
    """
    reader = _READERS[SUFFIXES[path.suffix.lower()]]
    papers, skipped = reader(_text(data, path), path)
    if not papers:
        reason = skipped[0] if skipped else f"{path}: no entries in it"
        raise LibraryError(f"{reason} (no paper read from the library)")
    merged = _merged(papers)
    library = Library(_seeds(merged), len(papers), len(papers) - len(merged), skipped)
    if skipped:
        named = "; ".join(skipped[:NAMED_PROBLEMS])
        more = len(skipped) - NAMED_PROBLEMS
        log.warning(
            "%s: %d entries skipped: %s%s", path, len(skipped), named, f"; {more} more" * (more > 0)
        )
    return library


def _text(data: bytes, path: Path) -> str:
    """The export as text: UTF-8 (with or without a byte order mark) or UTF-16 with one."""
    codec = "utf-16" if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) else None
    try:
        return data.decode(codec or "utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise LibraryError(
            f"{path}:{line}: not UTF-8 text (byte {data[exc.start]:#04x}); export the library "
            "again with the UTF-8 encoding"
        ) from None


def _bibtex(text: str, path: Path) -> tuple[list[_Paper], list[str]]:
    """The papers of a BibTeX export, and the entries skipped."""
    try:
        parsed = parse_string(text)
    except Exception as exc:
        # bibtexparser raises only on states it calls its own bugs; one reader's file must
        # not stop the other readers' sync.
        raise LibraryError(f"{path}: bibtexparser cannot read it: {exc!r}") from None
    papers: list[_Paper] = []
    skipped: list[str] = []
    entries: list[Entry] = list(parsed.entries)
    for block in parsed.failed_blocks:
        # A repeated citation key or field is still an entry; anything else is broken.
        if isinstance(block.ignore_error_block, Entry):
            entries.append(block.ignore_error_block)
        else:
            skipped.append(f"{_line(path, block)}: cannot be read: {_reason(block)}")
    for entry in sorted(entries, key=lambda e: e.start_line or 0):
        fields = {f.key.lower(): f.value for f in entry.fields if isinstance(f.value, str)}
        where = f"{_line(path, entry)}: entry {entry.key!r}"
        date = _year(fields.get("date", "")) or _year(fields.get("year", ""), fields.get("month"))
        found = " ".join(fields.get(k, "") for k in ("journal", "url", "doi", "note"))
        # biblatex names the archive in eprinttype, BibTeX's arXiv styles in archiveprefix.
        archive = fields.get("archiveprefix") or fields.get("eprinttype") or ""
        if archive.strip().lower() == "arxiv":
            found = f"arXiv:{fields.get('eprint', '')} {found}"
        paper = _paper(
            _latex(fields.get("title", "")),
            _latex(fields.get("abstract", "")),
            date,
            found,
            fields.get("doi"),
        )
        _keep(paper, where, papers, skipped)
    return papers, skipped


def _ris(text: str, path: Path) -> tuple[list[_Paper], list[str]]:
    """The papers of a RIS export, and the records skipped."""
    papers: list[_Paper] = []
    skipped: list[str] = []
    for line, record in _ris_records(text):
        where = f"{path}:{line}: reference"
        (fields,) = rispy.loads(record)
        date = _year(_first(fields.get("date"))) or _year(
            _first(fields.get("year")) or _first(fields.get("publication_year"))
        )
        found = " ".join(
            _all(fields.get(k))
            for k in ("doi", "urls", "notes", "note", "journal_name", "secondary_title", "number")
        )
        paper = _paper(
            _first(fields.get("title")) or _first(fields.get("primary_title")),
            _first(fields.get("abstract")) or _first(fields.get("notes_abstract")),
            date,
            found,
            _first(fields.get("doi")) or None,
        )
        _keep(paper, where, papers, skipped)
    return papers, skipped


def _ris_records(text: str) -> Iterable[tuple[int, str]]:
    """Each record of a RIS text with the number of its TY line.

    rispy reads a record whose ER line is missing into the next one, and drops it at the
    end of the file, naming no line: records are cut at their TY lines here, so that each
    is read alone (its ER line added when missing) and named by its line.
    """
    start: int | None = None
    lines: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if _RIS_START.match(line):
            if start is not None:
                yield start, "\n".join([*lines, "ER  - "])
            start, lines = number, []
        if start is not None:
            lines.append(line)
            if _RIS_END.match(line):
                yield start, "\n".join(lines)
                start = None
    if start is not None:
        yield start, "\n".join([*lines, "ER  - "])


def _csl_json(text: str, path: Path) -> tuple[list[_Paper], list[str]]:
    """The papers of a CSL-JSON export (a list of items), and the items skipped."""
    try:
        items = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LibraryError(f"{path}:{exc.lineno}: not valid JSON: {exc.msg}") from None
    if not isinstance(items, list):
        raise LibraryError(f"{path}: CSL-JSON is a list of items, not a {type(items).__name__}")
    papers: list[_Paper] = []
    skipped: list[str] = []
    for number, item in enumerate(items, start=1):
        where = f"{path}: item #{number}"
        if not isinstance(item, dict):
            skipped.append(f"{where}: not an object")
            continue
        if isinstance(item.get("id"), str | int):
            where += f" ({excerpt(str(item['id']), 40)})"
        found = " ".join(
            _string(item, k) for k in ("DOI", "URL", "number", "note", "archive_location")
        )
        paper = _paper(
            _CSL_MARKUP.sub("", _string(item, "title")),
            _CSL_MARKUP.sub("", _string(item, "abstract")),
            _csl_year(item.get("issued")),
            found,
            _string(item, "DOI") or None,
        )
        _keep(paper, where, papers, skipped)
    return papers, skipped


def _string(item: Mapping[str, Any], key: str) -> str:
    """A CSL item's text field: "" when missing or not text."""
    value = item.get(key)
    return value if isinstance(value, str) else ""


def _csl_year(issued: Any) -> float | None:
    """The year (and month) of a CSL date: {"date-parts": [[2017, 12, 6]]} or {"raw": ...}."""
    if not isinstance(issued, dict):
        return None
    parts = issued.get("date-parts")
    if isinstance(parts, list) and parts and isinstance(parts[0], list) and parts[0]:
        # Exports write the parts as numbers or as strings of digits.
        year, month = (str(part) for part in [*parts[0], ""][:2])
        return _year(year, month)
    for key in ("raw", "literal"):
        if isinstance(issued.get(key), str):
            return _year(issued[key])
    return None


def _paper(title: str, abstract: str, year: float | None, found: str, doi: str | None) -> _Paper:
    match = _ARXIV.search(found)
    return _Paper(
        title=one_line(title),
        # The model reads words: a pasted full text weighs like the abstract it stands for.
        abstract=one_line(abstract)[:MAX_ABSTRACT_CHARS],
        year=year,
        arxiv_id=arxiv_id(match[1]) if match else None,
        doi=doi.strip().lower() if doi and doi.strip() else None,
    )


def _keep(paper: _Paper, where: str, papers: list[_Paper], skipped: list[str]) -> None:
    """Add `paper` to `papers` if it can be a seed, else say why in `skipped`."""
    if not paper_key(paper.title):
        skipped.append(f"{where}: no title")
    elif len(paper.title) > MAX_TITLE_CHARS:
        skipped.append(
            f"{where}: a title of {len(paper.title)} characters (at most {MAX_TITLE_CHARS})"
        )
    else:
        papers.append(paper)


def _merged(papers: list[_Paper]) -> list[_Paper]:
    """The papers with duplicates (the same DOI, arXiv id or title) merged into the first:
    it takes the abstract, ids and latest date the others add."""
    kept: list[_Paper] = []
    known: dict[str, int] = {}
    for paper in papers:
        keys = [f"title:{paper_key(paper.title)}"]
        keys += [f"arxiv:{paper.arxiv_id}"] * bool(paper.arxiv_id)
        keys += [f"doi:{paper.doi}"] * bool(paper.doi)
        index = next((known[key] for key in keys if key in known), None)
        if index is None:
            index = len(kept)
            kept.append(paper)
        else:
            first = kept[index]
            years = [y for y in (first.year, paper.year) if y is not None]
            kept[index] = replace(
                first,
                abstract=first.abstract or paper.abstract,
                year=max(years) if years else None,
                arxiv_id=first.arxiv_id or paper.arxiv_id,
                doi=first.doi or paper.doi,
            )
        for key in keys:
            known.setdefault(key, index)
    return kept


def _seeds(papers: list[_Paper]) -> list[dict[str, Any]]:
    """The MAX_SEEDS heaviest papers as seeds, heaviest first (equal weights as listed).

    A paper's weight halves every HALF_LIFE_YEARS it is older than the newest, down to
    MIN_WEIGHT; an undated paper in a dated library weighs as its median paper; in a library
    without dates every paper weighs 1.
    """
    years = [paper.year for paper in papers if paper.year is not None]
    newest = max(years, default=0.0)

    def weight(year: float) -> float:
        return max(MIN_WEIGHT, 0.5 ** ((newest - year) / HALF_LIFE_YEARS))

    undated = weight(statistics.median(years)) if years else 1.0
    weights = [undated if p.year is None else weight(p.year) for p in papers]
    order = sorted(range(len(papers)), key=lambda i: -weights[i])[:MAX_SEEDS]
    seeds: list[dict[str, Any]] = []
    for index in order:
        paper = papers[index]
        seed: dict[str, Any] = {"title": paper.title, "weight": round(weights[index], 4)}
        if paper.abstract:
            seed["abstract"] = paper.abstract
        if paper.arxiv_id:
            seed["arxiv_id"] = paper.arxiv_id
        seeds.append(seed)
    return seeds


def _year(text: str, month: str | None = None) -> float | None:
    """A date as a year with its month as a fraction ("2017-12-06" is 2017.92), or None.

    The exports write dates in a few fixed shapes (ISO 8601, RIS's slashes, a bare year with
    a month number or name); a general date parser would guess at day and month order.
    """
    match = _DATE.match(text)
    if match is None:
        return None
    number = match[2] or (month or "").strip()
    named = _MONTHS.get(number[:3].lower())
    value = named or (int(number) if number.isdigit() else 0)
    return int(match[1]) + ((value - 1) / 12 if 1 <= value <= 12 else 0.0)


def _latex(text: str) -> str:
    """A BibTeX field as plain text: LaTeX accents and commands decoded, braces dropped."""
    if "\\" in text or "$" in text:
        text = _LATEX_RUN.sub(lambda run: _decoded(run[0]), text)
    return text.replace("{", "").replace("}", "")


@lru_cache(maxsize=4096)
def _decoded(run: str) -> str:
    # pylatexenc takes about 4 µs a character, plain text included: decoding whole
    # abstracts took 30 s for 5,000 entries. Only the runs holding a command are decoded,
    # and the same few accents recur across a library.
    return str(_DECODER.latex_to_text(run))


_DECODER = LatexNodes2Text()


def _first(value: Any) -> str:
    """A RIS field's text: the first of a repeated tag, "" when missing."""
    if isinstance(value, list):
        value = value[0] if value else ""
    return value if isinstance(value, str) else ""


def _all(value: Any) -> str:
    """A RIS field's text: every line of a repeated tag, "" when missing."""
    texts = value if isinstance(value, list) else [value]
    return " ".join(text for text in texts if isinstance(text, str))


def _line(path: Path, block: Entry | ParsingFailedBlock) -> str:
    # bibtexparser counts lines from 0.
    return f"{path}:{(block.start_line or 0) + 1}"


def _reason(block: ParsingFailedBlock) -> str:
    error = block.error
    reason = error.abort_reason if isinstance(error, BlockAbortedException) else str(error)
    return excerpt(reason or type(error).__name__, 120)


_READERS: dict[str, Callable[[str, Path], tuple[list[_Paper], list[str]]]] = {
    "BibTeX": _bibtex,
    "RIS": _ris,
    "CSL-JSON": _csl_json,
}
