"""Why a paper was picked: its calibrated score, the profile's keywords it holds whole, the
seed papers and liked papers most like it and the terms that weigh most in its score, as
the paper writes them."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from digest.ranking.analyzer import Document
from digest.ranking.arrays import among
from digest.ranking.calibration import calibrated, standard_of
from digest.ranking.interests import Profiles
from digest.ranking.neighbours import Neighbourhoods, similarities
from digest.ranking.surface import Distinctive, Surfaces
from digest.ranking.topk import Picked
from digest.ranking.vocabulary import Corpus

# At most this many papers (seed and liked ones) and terms per pick; a paper is named when
# its similarity to the pick is at least this share of the most similar one's.
BECAUSE_MAX = 3
TERMS_MAX = 5
BECAUSE_SHARE = 0.5
# The heaviest terms of a pick looked at for the TERMS_MAX shown: many of them are not
# shown (see digest.ranking.surface).
TERMS_LOOKED_AT = 4 * TERMS_MAX
# A pick's score in words: a strong match stands at least STRONG_MATCH standard deviations
# above the subscriber's average paper (a score of 0.5), a good one at least GOOD_MATCH
# (0.27); below that it is a weak match, barely above their average paper.
STRONG_MATCH = 3.0
GOOD_MATCH = 1.0
# Picks explained this many at a time: their papers and profiles written out term by term
# would take gigabytes for a million picks.
_EXPLAIN_PICKS = 5_000


@dataclass(frozen=True)
class Pick:
    """A paper chosen for a subscriber, its calibrated score, and why.

    `matched`: the profile's keywords the paper contains whole, heaviest first.
    `because`: the titles of the seed papers most like it, most similar first.
    `liked`: the titles of the papers the reader liked most like it, most similar first.
    `terms`: the terms that contributed most to its score, largest share first, as the
    paper writes them; only distinctive ones, which it says in its title or more than once.
    """

    paper_id: int
    score: float
    matched: list[str]
    because: list[str] = field(default_factory=list)
    terms: list[str] = field(default_factory=list)
    liked: list[str] = field(default_factory=list)


def match_strength(score: float) -> str:
    """A pick's calibrated score in words: "strong", "good" or "weak" (a match)."""
    deviations = standard_of(score)
    if deviations >= STRONG_MATCH:
        return "strong"
    return "good" if deviations >= GOOD_MATCH else "weak"


def explain(
    corpus: Corpus,
    neighbourhoods: Neighbourhoods,
    profiles: Profiles,
    matrix: sp.csr_matrix,
    ids: np.ndarray,
    chosen: list[Picked],
    documents: Sequence[Document],
) -> list[list[Pick]]:
    """The picks (`topk.top`'s, rows of `matrix` with raw scores) with their calibrated
    scores and why: keywords, seed papers, liked papers, terms. `documents` are the papers
    of `matrix`'s rows, whose words the terms are shown in."""
    owners = np.repeat(np.arange(len(chosen)), [len(rows) for rows, _ in chosen])
    rows = np.concatenate([rows for rows, _ in chosen]) if chosen else np.zeros(0, int)
    raw = np.concatenate([scores for _, scores in chosen]) if chosen else np.zeros(0)
    if not rows.size:
        return [[] for _ in chosen]
    scores = calibrated((raw - profiles.mean[owners]) / profiles.spread[owners])
    keywords = _Keywords(profiles, np.unique(owners), matrix)
    hiding = _Hiding(corpus.names, corpus.vocabulary)
    shown = _Shown(corpus, documents)
    picks: list[list[Pick]] = [[] for _ in chosen]
    for start in range(0, rows.size, _EXPLAIN_PICKS):
        block = slice(start, start + _EXPLAIN_PICKS)
        papers = matrix[rows[block]]
        # Each profile written out once, however many picks it has.
        distinct, inverse = np.unique(owners[block], return_inverse=True)
        vectors = profiles.vectors(distinct).explicit(corpus)[inverse]
        terms = _terms(vectors, papers, rows[block], hiding, shown)
        matched = keywords.matched(owners[block], rows[block])
        reasons = _paper_reasons(corpus, neighbourhoods, profiles, owners[block], papers)
        for n, (owner, paper, score) in enumerate(
            zip(
                owners[block].tolist(),
                ids[rows[block]].tolist(),
                scores[block].tolist(),
                strict=True,
            )
        ):
            picks[owner].append(
                Pick(
                    paper_id=paper,
                    score=round(score, 4),
                    matched=matched[n],
                    because=reasons[n][0],
                    liked=reasons[n][1],
                    terms=terms[n],
                )
            )
    return picks


def _paper_reasons(
    corpus: Corpus,
    neighbourhoods: Neighbourhoods,
    profiles: Profiles,
    owners: np.ndarray,
    papers: sp.csr_matrix,
) -> list[tuple[list[str], list[str]]]:
    """For each pick (its profile in `owners`, ascending as `explain` makes them, and its
    paper's row in `papers`), the seed papers and the liked papers most like it: by their
    cosines with the paper blended with its neighbours, as its score measured it."""
    # One product per profile for all its picks: one per pick cost milliseconds each.
    reasons: list[tuple[list[str], list[str]]] = [([], []) for _ in range(len(owners))]
    distinct, first, counts = np.unique(owners, return_index=True, return_counts=True)
    own, near = neighbourhoods.shares(papers)
    for owner, start, count in zip(distinct.tolist(), first.tolist(), counts.tolist(), strict=True):
        parts = [p for p in (profiles.seeds[owner], profiles.liked[owner]) if p is not None]
        if not parts:
            continue
        # Seeds and liked papers share the few places: the closest to the pick are named,
        # each as what it is.
        chosen = sp.vstack(parts, format="csr")
        titles = profiles.seed_titles[owner] + profiles.liked_titles[owner]
        seeds = len(profiles.seed_titles[owner])
        picked = slice(start, start + count)
        cosines = (chosen @ papers[picked].T).toarray() * own[picked]
        neighbours = near[picked]
        if neighbours.nnz:
            cosines += similarities(chosen, corpus, sp.csr_matrix(neighbours.T))
        for n in range(count):
            reasons[start + n] = _because(cosines[:, n], titles, seeds)
    return reasons


def _because(similarity: np.ndarray, titles: list[str], seeds: int) -> tuple[list[str], list[str]]:
    """The papers most like a paper (by their cosines with it, one per title; the first
    `seeds` titles are seed papers, the rest liked ones), most similar first: the seed
    papers' titles and the liked papers', at most BECAUSE_MAX in all."""
    if not similarity.size or similarity.max() <= 0:
        return [], []
    floor = BECAUSE_SHARE * similarity.max()
    order = np.argsort(-similarity, kind="stable")
    named = dict.fromkeys((i >= seeds, titles[i]) for i in order.tolist() if similarity[i] >= floor)
    first = list(named)[:BECAUSE_MAX]
    return [title for liked, title in first if not liked], [t for liked, t in first if liked]


def _terms(
    vectors: sp.csr_matrix,
    papers: sp.csr_matrix,
    rows: np.ndarray,
    hiding: _Hiding,
    shown: _Shown,
) -> list[list[str]]:
    """For each (profile, paper) pair, the terms with the largest share of its score, as
    the paper (at `rows` of the candidates) writes them, a phrase before its words, at most
    TERMS_MAX; all pairs in one elementwise product."""
    contribution = sp.csr_matrix(papers.multiply(vectors))
    # A term the profile holds less of for a disliked paper lowers the score: never a reason.
    contribution.data[contribution.data < 0] = 0
    contribution.eliminate_zeros()
    pairs = contribution.shape[0]
    keep = _top_entries(contribution, TERMS_LOOKED_AT)
    owner = np.repeat(np.arange(pairs), np.diff(contribution.indptr))[keep]
    named = contribution.indices[keep]
    written = shown.forms(rows[owner], named)
    showable = np.flatnonzero(written >= 0)
    owner, named, written = owner[showable], named[showable], written[showable]
    # Hidden by a phrase among the terms shown, not by one the paper does not write.
    visible = np.flatnonzero(hiding.visible(owner, named))
    # The first TERMS_MAX visible of each pair, in order.
    rank = np.arange(visible.size) - np.searchsorted(owner[visible], owner[visible])
    visible = visible[rank < TERMS_MAX]
    # One list sliced per pair: a numpy slice and its tolist per pair cost several times
    # as much at a million picks.
    found = shown.strings(written[visible]).tolist()
    bounds = np.searchsorted(owner[visible], np.arange(pairs + 1)).tolist()
    return [found[first:last] for first, last in itertools.pairwise(bounds)]


class _Shown:
    """How the candidate papers write the terms that may explain them, as codes into the
    written forms: -1 where a term is not distinctive, or the paper does not write it whole
    and often enough.

    Each (paper, term) is looked at once, however many picks name it: the pairs looked at
    are kept as sorted keys (paper row x terms + term) with their codes.
    """

    def __init__(self, corpus: Corpus, documents: Sequence[Document]) -> None:
        self._names = corpus.names
        self._width = corpus.width
        self._distinctive = Distinctive(
            corpus.names, corpus.vocabulary, corpus.frequency, len(corpus)
        )
        self._surfaces = Surfaces(documents)
        self._keys = np.zeros(0, dtype=np.int64)
        self._codes = np.zeros(0, dtype=np.int64)
        self._written: dict[str, int] = {}
        self._strings = np.zeros(0, dtype=object)

    def forms(self, rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
        """The code of each term's (`columns`) written form in the paper at its `rows`."""
        codes = np.full(columns.size, -1, dtype=np.int64)
        candidate = np.flatnonzero(self._distinctive(columns))
        keys, inverse = np.unique(
            rows[candidate].astype(np.int64) * self._width + columns[candidate],
            return_inverse=True,
        )
        new = keys[~among(keys, self._keys)]
        if new.size:
            found = [
                self._code(
                    self._surfaces.form(key // self._width, str(self._names[key % self._width]))
                )
                for key in new.tolist()
            ]
            order = np.argsort(np.concatenate([self._keys, new]), kind="stable")
            self._keys = np.concatenate([self._keys, new])[order]
            self._codes = np.concatenate([self._codes, np.array(found, dtype=np.int64)])[order]
        codes[candidate] = self._codes[np.searchsorted(self._keys, keys)][inverse]
        return codes

    def strings(self, codes: np.ndarray) -> np.ndarray:
        """The written forms that `codes` stand for."""
        if len(self._strings) < len(self._written):
            self._strings = np.array(list(self._written), dtype=object)
        return self._strings[codes]

    def _code(self, written: str | None) -> int:
        if written is None:
            return -1
        return self._written.setdefault(written, len(self._written))


def _top_entries(matrix: sp.csr_matrix, most: int) -> np.ndarray:
    """Positions in `matrix.data` of each row's `most` largest entries (all positive), row
    by row, largest first."""
    counts = np.diff(matrix.indptr)
    if not matrix.nnz:
        return np.zeros(0, dtype=int)
    owner = np.repeat(np.arange(matrix.shape[0]), counts)
    # One sort on row + (1 - share of the largest entry) orders rows, then entries within a
    # row largest first; much faster than a lexsort on the two keys.
    order = np.argsort(owner - matrix.data / (matrix.data.max() * (1 + 1e-9)), kind="stable")
    rank = np.arange(order.size) - np.repeat(matrix.indptr[:-1], counts)
    return np.asarray(order[rank < most])


class _Hiding:
    """Which terms a phrase stands for in an explanation: its words and the shorter phrases
    inside it ("graph neural network" hides "graph neural", "network" and "graph").

    Each term is looked at once, however many explanations name it: what a term hides is
    remembered as explanations ask, for one call of `explain`.
    """

    def __init__(self, names: np.ndarray, vocabulary: Mapping[str, int]) -> None:
        self._names = names
        self._vocabulary = vocabulary
        # Term t hides self._inside[self._start[t] : self._start[t] + self._count[t]].
        self._start = np.full(len(names), -1, dtype=np.int64)
        self._count = np.zeros(len(names), dtype=np.int64)
        self._inside: list[np.ndarray] = []

    def _parts_of(self, column: int) -> list[int]:
        words = str(self._names[column]).split(" ")
        # Its words and its shorter runs of words: a word (most terms) hides nothing.
        if len(words) < 2:
            return []
        parts = [
            " ".join(words[first : first + size])
            for size in range(1, len(words))
            for first in range(len(words) - size + 1)
        ]
        return sorted({c for part in parts if (c := self._vocabulary.get(part)) is not None})

    def visible(self, owner: np.ndarray, columns: np.ndarray) -> np.ndarray:
        """Which of the terms (`columns`, each named for an `owner`) no other term of the
        same owner stands for."""
        new = np.unique(columns)
        new = new[self._start[new] < 0]
        if new.size:
            inside = [self._parts_of(column) for column in new.tolist()]
            counts = np.array([len(c) for c in inside], dtype=np.int64)
            known = sum(part.size for part in self._inside)
            self._start[new] = known + np.cumsum(counts) - counts
            self._count[new] = counts
            self._inside.append(np.array([c for cs in inside for c in cs], dtype=np.int64))
        flat = np.concatenate(self._inside) if self._inside else np.zeros(0, dtype=np.int64)
        counts = self._count[columns]
        slot = np.repeat(self._start[columns] - np.cumsum(counts) + counts, counts)
        slot += np.arange(slot.size)
        width = len(self._names)
        hidden = np.repeat(owner, counts) * width + flat[slot]
        return ~among(owner * width + columns, np.sort(hidden))


class _Keywords:
    """The profiles' keywords, heaviest first, with their whole-match columns (-1: none),
    flat, for the matched keywords of many picks at once."""

    def __init__(self, profiles: Profiles, owners: np.ndarray, matrix: sp.csr_matrix) -> None:
        self._start = np.zeros(len(profiles), dtype=np.int64)
        self._count = np.zeros(len(profiles), dtype=np.int64)
        counts = [len(profiles.keywords[owner]) for owner in owners.tolist()]
        self._count[owners] = counts
        self._start[owners] = np.cumsum(counts) - counts
        self._words = np.array(
            [k for owner in owners.tolist() for k in profiles.keywords[owner]], dtype=object
        )
        self._columns = np.array(
            [
                -1 if c is None else c
                for owner in owners.tolist()
                for c in profiles.keyword_features[owner]
            ],
            dtype=np.int64,
        )
        # Which (paper row, term) the papers hold, as sorted keys.
        self._width = matrix.shape[1]
        row = np.repeat(np.arange(matrix.shape[0], dtype=np.int64), np.diff(matrix.indptr))
        self._held = np.sort((row * self._width + matrix.indices)[matrix.data != 0])

    def matched(self, owners: np.ndarray, rows: np.ndarray) -> list[list[str]]:
        """For each pick (its profile, its paper's row), the profile's keywords the paper
        contains whole, heaviest first."""
        counts = self._count[owners]
        pick = np.repeat(np.arange(owners.size), counts)
        slot = np.repeat(self._start[owners] - np.cumsum(counts) + counts, counts)
        slot += np.arange(slot.size)
        columns = self._columns[slot]
        found = (columns >= 0) & among(rows[pick] * self._width + columns, self._held)
        words = self._words[slot[found]].tolist()
        bounds = np.searchsorted(pick[found], np.arange(owners.size + 1)).tolist()
        return [words[first:last] for first, last in itertools.pairwise(bounds)]
