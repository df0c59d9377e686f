"""Synthetic papers, pages and profiles from the real vocabulary of the sample pages.

Papers are sentences resampled from the real abstracts of `examples/pages/`, under titles
spliced from real titles; profiles are 3 to 10 of the corpus' own words and phrases. The
same seed gives the same data, so two runs (or two rankers) see the same input.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cached_property
from pathlib import Path

from digest.formats import parse_input
from digest.pages import paper_key
from digest.ranking import STOP_WORDS

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_PAGES = ROOT / "examples" / "pages"
_WORD = re.compile(r"[^\W_]+")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z(])")
# A profile term is a word or two-word phrase used by at least this many and at most this
# share of the sample papers: specific enough to mean an interest, common enough to match.
_MIN_PAPERS = 3
_MAX_SHARE = 0.05


@dataclass(frozen=True)
class SyntheticPaper:
    """A paper as a page lists it."""

    title: str
    abstract: str


@dataclass(frozen=True)
class SyntheticProfile:
    """A subscriber as the profile file holds them."""

    email: str
    keywords: tuple[str, ...]


class Synthetic:
    """A deterministic source of papers, pages and profiles, by seed."""

    def __init__(self, seed: int = 0, pages: Path = SAMPLE_PAGES) -> None:
        self.seed = seed
        self._records = [
            record
            for path in sorted(pages.glob("*.txt"))
            for record in parse_input(path.read_bytes(), path.name, date(2025, 1, 1)).papers
        ]

    @cached_property
    def _sentences(self) -> list[str]:
        found = {s.strip() for r in self._records for s in _SENTENCE.split(r.abstract)}
        return sorted(s for s in found if len(s.split()) >= 5)

    @cached_property
    def _title_parts(self) -> tuple[list[str], list[str]]:
        """Heads (before a colon, or a title's first half) and tails of real titles."""
        heads: set[str] = set()
        tails: set[str] = set()
        for record in self._records:
            head, colon, tail = record.title.partition(": ")
            if not colon:
                split = record.title.split()
                half = max(1, len(split) // 2)
                head, tail = " ".join(split[:half]), " ".join(split[half:])
            if head and tail:
                heads.add(head.strip())
                tails.add(tail.strip())
        return sorted(heads), sorted(tails)

    @cached_property
    def terms(self) -> list[str]:
        """The corpus' words and two-word phrases that make plausible keywords."""
        frequency: Counter[str] = Counter()
        for record in self._records:
            found: set[str] = set()
            for text in (record.title, record.abstract):
                # Surface words as people type them; a phrase is two content words in a row.
                tokens = _WORD.findall(text.lower())
                content = [t not in STOP_WORDS and t.isalpha() for t in tokens]
                found.update(t for t, keep in zip(tokens, content, strict=True) if keep)
                found.update(
                    f"{tokens[i]} {tokens[i + 1]}"
                    for i in range(len(tokens) - 1)
                    if content[i] and content[i + 1]
                )
            frequency.update(t for t in found if len(t) > 3)
        ceiling = _MAX_SHARE * len(self._records)
        return sorted(t for t, n in frequency.items() if _MIN_PAPERS <= n <= ceiling)

    def papers(self, count: int, start: int = 0) -> list[SyntheticPaper]:
        """`count` distinct papers; `start` picks another stretch of the same stream."""
        heads, tails = self._title_parts
        sentences = self._sentences
        out: list[SyntheticPaper] = []
        seen: set[str] = set()
        for number in range(start, start + count):
            rng = random.Random(f"{self.seed}:paper:{number}")
            title = f"{rng.choice(heads)}: {rng.choice(tails)}"
            if paper_key(title) in seen:
                title = f"{title} ({number})"
            seen.add(paper_key(title))
            abstract = " ".join(rng.sample(sentences, rng.randint(5, 9)))
            out.append(SyntheticPaper(title, abstract))
        return out

    def profiles(self, count: int) -> list[SyntheticProfile]:
        """`count` subscribers with 3 to 10 keywords each."""
        terms = self.terms
        out: list[SyntheticProfile] = []
        for number in range(count):
            rng = random.Random(f"{self.seed}:profile:{number}")
            keywords = tuple(rng.sample(terms, rng.randint(3, 10)))
            out.append(SyntheticProfile(f"user{number}@bench.example", keywords))
        return out


def page_text(papers: list[SyntheticPaper], day: date) -> str:
    """A text dump in the Hugging Face page's layout: header, date line, title and abstract."""
    lines = ["new", "Get trending papers in your email inbox!", "Subscribe"]
    lines += ["byAK and the research community", f"{day:%b} {day.day}"]
    for paper in papers:
        lines += [paper.title, paper.abstract]
    return "\n\n".join(lines) + "\n"


def write_pages(
    folder: Path, papers: list[SyntheticPaper], day: date, per_page: int = 1000
) -> list[Path]:
    """Write `papers` as pages of `per_page` papers each, dated `day`; their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for number, first in enumerate(range(0, len(papers), per_page)):
        path = folder / f"{day.isoformat()}-{number:04d}.txt"
        path.write_text(page_text(papers[first : first + per_page], day), encoding="utf-8")
        paths.append(path)
    return paths


def profiles_toml(profiles: list[SyntheticProfile]) -> str:
    """The profile file for `profiles`, as people write it."""
    blocks = []
    for profile in profiles:
        keywords = ", ".join(f'"{k}"' for k in profile.keywords)
        blocks.append(f'[[subscriber]]\nemail = "{profile.email}"\nkeywords = [{keywords}]\n')
    return "\n".join(blocks)


def days(first: date, count: int) -> list[date]:
    """`count` consecutive days from `first`."""
    return [first + timedelta(days=n) for n in range(count)]
