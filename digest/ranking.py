"""The interest model: TF-IDF over the stored papers, a profile vector per subscriber, cosine.

Pure computation on plain data: which papers are candidates is decided by the caller
(`digest.candidates`), so the model can be tested and benchmarked without a database.

A profile is built from up to three sources, each a TF-IDF vector in the same space:

- keywords: the sum of the keywords' vectors (by weight), expanded with the terms of the
  stored papers that match it best (pseudo-relevance feedback);
- seeds: papers the subscriber liked (title and abstract, or a title alone);
- positives: papers from the subscriber's history, each with a weight (weak for a paper
  sent and not disliked, strong for one they said they liked).

A short profile is then expanded with related terms: words that share contexts with its
own in the stored papers' titles (PPMI co-occurrence reduced by a truncated SVD), so that
a paper saying "neural network" can match a profile that says "deep learning".

A paper's raw score is its cosine with the profile, plus a small dense part: the cosine of
the two averaged term vectors (weighted by smooth inverse frequency), which meets papers
that say the same thing in other words, less a small penalty for a paper close to the
corpus' centroid (made of its common words). A paper with an abstract, in a corpus large
enough, scores as a blend of itself and its nearest stored papers: one whose own words miss
a profile still scores where its neighbours meet it. The score a pick carries is calibrated
against the stored corpus: how many standard deviations the paper stands above the
subscriber's average stored paper, mapped into (0, 1), so that `min_score` means the same
for a subscriber with one rare keyword as for one with five broad ones.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import os
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import TypeVar

import numpy as np
import scipy.sparse as sp
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.preprocessing import normalize

from digest.embeddings import Embedder

# How many times a title's terms count against the abstract's once.
TITLE_WEIGHT = 2
# The weight of the keyword part of a profile against its seed part (seeds and positives)
# when it has both: seed papers say more than a few words, and keywords refine them.
KEYWORD_SHARE_WITH_SEEDS = 0.3
# How much a keyword profile leans towards the papers the subscriber was sent before (weak
# positives): a nudge, not measured on the bench, which has no history.
HISTORY_SHARE = 0.2
# Pseudo-relevance feedback: a keyword profile also leans towards the terms of the stored
# papers it matches best (how many papers, and their weight against the keywords').
FEEDBACK_PAPERS = 5
FEEDBACK_WEIGHT = 0.5
# Term expansion: each title word used in at least TERM_MIN_DF titles gets a TERM_DIM-wide
# vector from the SVD of its PPMI co-occurrence within titles (context distribution smoothed
# by TERM_CDS). Titles only: counted within abstracts, the associations blurred the long
# profiles of abstracts and hurt them on the bench.
TERM_DIM = 100
TERM_MIN_DF = 2
TERM_CDS = 0.75
# A profile is expanded with the EXPANSION_TERMS words nearest its terms' mean vector, at
# EXPANSION_WEIGHT (a unit vector against the unit profile) times min(1, (EXPANSION_SHORT /
# its number of terms) ** 2): short profiles (a few titles or keywords) lack vocabulary, long
# ones (abstracts) already have it. Rows whose weight is under EXPANSION_MIN are left alone:
# at 0.05 the bench's abstract profiles gained 0.001 to 0.002 nDCG@10 (noise) for five times
# the own terms of a keyword profile, which scoring pays for.
EXPANSION_TERMS = 60
EXPANSION_WEIGHT = 1.0
EXPANSION_SHORT = 150
EXPANSION_MIN = 0.1
# And never more than this share of the words that have a vector: in a small corpus the
# EXPANSION_TERMS nearest words are all of them, related or not.
EXPANSION_SHARE = 0.1
# Dense part of the score: a paper's (or a profile's) words with a term vector averaged into
# one vector, each by its TF-IDF weight times its smooth inverse frequency SIF_SMOOTHING /
# (SIF_SMOOTHING + the share of stored papers holding it), then the corpus' common direction
# removed (Arora et al. 2017), unit length. Its cosine with the profile's joins the TF-IDF
# cosine at DENSE_WEIGHT, so the sparse score still leads: on the bench, 0.07 and 0.15 both
# did worse with seeds, and without the common direction's removal seeds lost 0.005.
DENSE_WEIGHT = 0.1
SIF_SMOOTHING = 1e-3
# Generic papers: a paper's raw score loses GENERIC_PENALTY times its cosine with the stored
# papers' centroid, as if that much of the unit centroid were taken from every profile. A
# paper made of the corpus' common words (a title like "a new method for data analysis")
# then needs more of a profile's own terms to rank high. On the bench, 0.3 gained 0.007 and
# 0.011 nDCG@10 on titles with seeds (and seeds and keywords) and left abstracts alone; at
# 0.5 and above abstracts with seeds began to lose.
GENERIC_PENALTY = 0.3
# Neighbourhoods (the cluster hypothesis: papers close to each other interest the same
# people): a paper scores as a blend of itself and its NEIGHBOURS nearest stored papers (by
# TF-IDF cosine, each weighted by it), their share NEIGHBOUR_SHARE of the blend, so that a
# paper whose own words miss a profile still scores where its neighbours meet it. Only a
# paper with an abstract has neighbours worth the name: the share rises from nothing at
# NEIGHBOUR_TERMS[0] terms to its full value at NEIGHBOUR_TERMS[1] (a title alone has about
# ten, and its nearest titles share a word or two; an abstract a hundred or so). And only
# in a corpus dense enough that a paper's neighbours are near: the share rises from nothing
# at NEIGHBOUR_CORPUS[0] stored papers to its full value at NEIGHBOUR_CORPUS[1]. On the
# bench (abstracts, 1,929 papers) 30 neighbours at 2 / 3 gained 0.008 to 0.013 nDCG@10 in
# every mode (10 and 15 lost, 20 to 60 gained, 100 and more gained less); titles alone
# gained nothing at any setting; with neighbours taken from only a half or a quarter of the
# abstracts, the gain fell to nothing and to a loss of 0.013. The embeddings extra's meaning
# vectors are not blended: blended too, they moved nothing but the cost of embedding every
# neighbour.
NEIGHBOURS = 30
NEIGHBOUR_SHARE = 2 / 3
NEIGHBOUR_TERMS = (20, 50)
NEIGHBOUR_CORPUS = (1000, 2000)
# Meaning (with an embedder, see digest.embeddings): a profile's and a paper's pretrained
# text vectors join the dense part, their cosine scaled per profile so that its spread over
# the reference papers is a fixed share of that of the rest of the score, however the
# profile's sparse scores spread: MEANING_WEIGHT for a long profile, rising to MEANING_SHORT
# for a short one as expansion does (by min(1, (EXPANSION_SHORT / its terms) ** 2)): a few
# titles or keywords say little in TF-IDF terms, and their meaning more. On the bench, one
# weight for all did best at 0.5 on abstracts (0.3: -0.001 to -0.002 nDCG@10; 1.0: seeds
# -0.003) and at 1.0 to 2.0 on titles (+0.004 to +0.006 over 0.5); a vector's part along
# the corpus' mean direction removed gained titles up to 0.012 and cost abstracts up to
# 0.004, and the meaning of a keyword profile's feedback papers added nothing.
MEANING_WEIGHT = 0.5
MEANING_SHORT = 1.5
# The dense part needs at least this many words with a term vector: with fewer, the SVD keeps
# (nearly) every dimension of their co-occurrences, and the vectors are what a handful of
# titles happened to pair, not learnt likeness.
DENSE_MIN_WORDS = 2 * TERM_DIM
# Calibration: the subscriber's scores on (at most) this many stored papers, spread evenly
# over the corpus, give their mean and spread.
REFERENCE_PAPERS = 1000
# A calibrated score is 1 / (1 + exp(-(z - SCORE_MIDPOINT) / SCORE_SPREAD)), where z is the
# number of standard deviations above the subscriber's mean: 0.5 is three of them.
SCORE_MIDPOINT = 3.0
SCORE_SPREAD = 2.0
# Scores stay strictly inside (0, 1), so a min_score of 1 always means "nothing".
_SCORE_CEILING = 0.9999
# Scoring works on dense blocks of (papers x profiles) scores of at most this many cells,
# so memory stays bounded however many subscribers there are.
_BLOCK_CELLS = 4_000_000
# Blocks worked on at once, each in a thread of its own (a block of scores, its masks and
# its partial sort take about 20 bytes a cell).
_THREADS = min(os.cpu_count() or 1, 4)
_T = TypeVar("_T")
# Papers per tile of the float32 product (see _Screen).
_TILE_PAPERS = 256
# Columns per group when a partial sort looks for a lower bound of each row's cut first.
_GROUP = 8
# Profiles written out term by term (for their lengths) this many at a time, and picks
# explained this many at a time: a profile with history holds thousands of terms.
_EXPLICIT_ROWS = 10_000
_EXPLAIN_PICKS = 5_000
# Equal scores are ordered by paper id through a penalty of this much per rank: far below
# the difference between two distinct cosines, far above float64's resolution near 1.
_TIE_STEP = 1e-15
# A stored paper at least this close to a paper is that paper itself (or a copy of it), not
# a neighbour of it.
_SAME = 1 - 1e-9
# Float32's unit roundoff: the bound on a float32 rounding's relative error.
_UNIT32 = 2.0**-24
# Below this spread (in cosine units) the corpus says nothing about a profile's scale.
_MIN_SPREAD = 1e-3
# Explanations: at most this many seed papers and terms per pick; a seed paper is named when
# its similarity to the pick is at least this share of the most similar seed's.
BECAUSE_MAX = 3
TERMS_MAX = 5
BECAUSE_SHARE = 0.5
# A small list of function words. scikit-learn's built-in English list also drops content
# words our users search for ("system", "interest", "computer"), so it is not used.
STOP_WORDS = frozenset(
    """
    a about above after again against all also am an and any are as at be because
    been before being below between both but by can could did do does doing down
    during each few for from further had has have having here how i if in into is it
    its itself just may me might more most must my no nor not of off on once only or
    other our ours out over own same should so some such than that the their theirs
    them then there these they this those through to too under until up upon very
    via was we were what when where which while who whom why will with within
    without would you your
    """.split()  # noqa: SIM905 - a word list reads better as prose
)
_WORD = re.compile(r"\w+")
# Where a phrase cannot run on: the end of a sentence or clause, brackets.
_CLAUSE_BREAK = re.compile(r"[.!?;:]+(?=\s|$)|[()\[\]{}]")
# The shortest part of a run-together keyword ("breastcancer" is "breast cancer").
_MIN_COMPOUND_PART = 2


@dataclass(frozen=True)
class Document:
    """A paper as the model sees it."""

    id: int
    title: str
    abstract: str


@dataclass(frozen=True)
class Interest:
    """A subscriber's profile as the model sees it.

    `seeds` are papers the subscriber liked; `positives` are papers from their history with
    a weight each (for example 0.3 for a paper sent and not disliked, 1.0 for one they
    liked). Either may be empty, and so may `keywords` when there are seeds or positives.
    """

    keywords: dict[str, float]
    exclude: Sequence[str] = ()
    max_papers: int = 10
    min_score: float = 0.0
    seeds: Sequence[Document] = ()
    positives: Sequence[tuple[Document, float]] = ()


@dataclass(frozen=True)
class Pick:
    """A paper chosen for a subscriber, its calibrated score, and why.

    `matched`: the profile's keywords the paper contains whole, heaviest first.
    `because`: the titles of the seed papers most like it, most similar first.
    `terms`: the terms that contributed most to its score, largest share first.
    """

    paper_id: int
    score: float
    matched: list[str]
    because: list[str] = field(default_factory=list)
    terms: list[str] = field(default_factory=list)


def words(text: str) -> list[str]:
    """Lowercased words, plurals folded ("representations" is "representation")."""
    return [fold_plural(w) for w in _WORD.findall(unicodedata.normalize("NFKC", text).casefold())]


def fold_plural(word: str) -> str:
    """The singular of a lowercase English plural, roughly; other words unchanged."""
    # A light plural fold instead of a stemmer: "representations" and "representation" meet,
    # while words stay readable and "analysis" or "class" stay whole.
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def phrase_feature(term: str) -> str | None:
    """The one feature that says `term` occurs as a whole (a word, or a phrase in order).

    None for a term of function words only, which can never match.
    """
    found = words(term)
    if all(word in STOP_WORDS for word in found):
        return None
    return " ".join(found)


def _phrase_heads(phrases: set[tuple[str, ...]]) -> dict[str, list[tuple[str, ...]]]:
    """The phrases that are not plain bigrams of content words, by their first word."""
    heads: dict[str, list[tuple[str, ...]]] = {}
    for phrase in sorted(phrases):
        if len(phrase) > 2 or any(word in STOP_WORDS for word in phrase):
            heads.setdefault(phrase[0], []).append(phrase)
    return heads


def _standard(score: np.ndarray) -> np.ndarray:
    """The standard score whose calibrated score is `score`: the inverse of `calibrated`."""
    score = np.clip(np.asarray(score, dtype=float), 1e-300, None)
    with np.errstate(divide="ignore"):
        return SCORE_MIDPOINT + SCORE_SPREAD * (np.log(score) - np.log1p(-score))


def calibrated(z: np.ndarray) -> np.ndarray:
    """Standard scores (deviations above a subscriber's mean) mapped into (0, 1)."""
    exponent = np.clip(-(np.asarray(z, dtype=float) - SCORE_MIDPOINT) / SCORE_SPREAD, -50, 50)
    return np.minimum(1.0 / (1.0 + np.exp(exponent)), _SCORE_CEILING)


@dataclass(frozen=True)
class Profiles:
    """Interests turned into matrices, one row per interest: what scoring and explaining need.

    Built once by `InterestModel.profiles` and valid for that model (and corpus): a
    deployment can keep it between runs while neither profiles nor the corpus change.
    """

    # Each profile's unit vector is `direct + mix @ corpus`: its own terms (keywords, papers
    # not stored) plus a weighted sum of stored papers (seeds, history, feedback), which is
    # scored through the papers' similarities instead of hundreds of terms per profile.
    direct: sp.csr_matrix  # interests x terms
    mix: sp.csr_matrix  # interests x stored papers
    dense: np.ndarray  # interests x term dimensions: the dense vector times DENSE_WEIGHT
    mean: np.ndarray  # each profile's mean raw score over the reference papers
    spread: np.ndarray  # and their standard deviation (at least _MIN_SPREAD)
    keyword_columns: sp.csr_matrix  # interests x terms: 1 at each keyword's whole match
    exclude_columns: sp.csr_matrix  # interests x terms: 1 at each excluded term's feature
    needs_keyword: np.ndarray  # keywords only: a pick must contain one whole
    min_score: np.ndarray
    max_papers: np.ndarray
    keywords: list[list[str]]  # each profile's keywords, heaviest first
    keyword_features: list[list[int | None]]  # and each one's whole-match column
    seeds: list[sp.csr_matrix | None]  # the seed papers' unit vectors, one row each
    seed_titles: list[list[str]]

    def __len__(self) -> int:
        return int(self.direct.shape[0])


@dataclass(frozen=True)
class _Mixed:
    """Rows of vectors kept as `direct + mix @ corpus`: own terms plus weighted stored papers."""

    direct: sp.csr_matrix  # rows x terms
    mix: sp.csr_matrix  # rows x stored papers

    def scaled(self, factors: np.ndarray) -> _Mixed:
        """Each row times its factor."""
        diagonal = sp.diags(factors)
        return _Mixed(sp.csr_matrix(diagonal @ self.direct), sp.csr_matrix(diagonal @ self.mix))

    def __add__(self, other: _Mixed) -> _Mixed:
        return _Mixed(
            sp.csr_matrix(self.direct + other.direct), sp.csr_matrix(self.mix + other.mix)
        )

    def nonzero_rows(self) -> np.ndarray:
        """Which rows hold anything."""
        return (np.diff(self.direct.indptr) > 0) | (np.diff(self.mix.indptr) > 0)

    def explicit(self, corpus: sp.csr_matrix) -> sp.csr_matrix:
        """The rows term by term."""
        return sp.csr_matrix(self.direct + self.mix @ corpus)

    def norms(self, corpus: sp.csr_matrix) -> np.ndarray:
        """Each row's length."""
        return self.rowwise(
            corpus, lambda rows: np.sqrt(np.asarray(rows.multiply(rows).sum(axis=1)).ravel())
        )

    def rowwise(
        self, corpus: sp.csr_matrix, measure: Callable[[sp.csr_matrix], np.ndarray]
    ) -> np.ndarray:
        """`measure` of the rows written out term by term, a block of rows at a time."""

        def measured(start: int) -> np.ndarray:
            block = slice(start, start + _EXPLICIT_ROWS)
            return measure(_Mixed(self.direct[block], self.mix[block]).explicit(corpus))

        out = _threaded(measured, range(0, self.direct.shape[0], _EXPLICIT_ROWS))
        return np.concatenate(out) if out else np.zeros(0)


@dataclass(frozen=True)
class _Papers:
    """Papers as their raw scores see them: each paper's TF-IDF vector, dense vector and
    penalty as a generic paper blended with its neighbours' (see NEIGHBOURS), and its meaning
    vector appended to the dense one, with an embedder.

    A blended TF-IDF vector holds the terms of some thirty papers: it is written out only
    over the terms a scoring reads, as columns (terms x papers), the way the products read it.
    """

    own: sp.csr_matrix  # terms x papers: the papers' own vectors times their own shares
    neighbours: sp.csr_matrix  # stored papers x papers: each paper's neighbours' shares
    corpus: sp.csr_matrix  # stored papers x terms
    corpus_t: sp.csr_matrix  # terms x stored papers
    dense: np.ndarray  # papers x dense dimensions, float32
    generic: np.ndarray  # papers
    longest: float  # at least the length of any paper's blended TF-IDF vector

    def __len__(self) -> int:
        return int(self.own.shape[1])

    def terms(self, rows: np.ndarray) -> sp.csr_matrix:
        """The blended TF-IDF vectors over the terms `rows` (rows x papers)."""
        part = self.own[rows]
        if self.neighbours.nnz:
            part = part + self.corpus_t[rows] @ self.neighbours
        return sp.csr_matrix(part)

    def similarities(self, vectors: sp.csr_matrix) -> np.ndarray:
        """The dot products of TF-IDF `vectors` (rows x terms) with the papers' blended
        ones, as a dense (rows x papers) array."""
        if not self.neighbours.nnz:
            return np.asarray((vectors @ self.own).toarray())
        stored = np.flatnonzero(np.diff(self.neighbours.indptr))
        # Through the neighbours' similarities for a few vectors (a seed's picks), through
        # the blended vectors written out for many (all profiles' stored papers): whichever
        # product is the smaller.
        through_neighbours = vectors.shape[0] * stored.size
        written_out = self.neighbours.nnz * self.corpus.nnz / max(self.corpus.shape[0], 1)
        if through_neighbours < written_out:
            near = _neighbour_similarities(vectors, self.corpus, self.neighbours)
            return np.asarray((vectors @ self.own).toarray() + near)
        blend = self.terms(np.arange(self.own.shape[0]))
        return np.asarray((vectors @ blend).toarray())


class _DensePapers:
    """Papers as a dense (terms x papers) array, over the terms that some rows use.

    A sparse row times it adds up the rows of its terms in the row's order, the very sums
    of the sparse product (a term no paper holds adds exact zeros and is left out), without
    the sparse product's bookkeeping or a conversion of its result to dense: a day's papers
    leave few of a block's scores zero.
    """

    def __init__(self, papers: _Papers, rows: sp.csr_matrix) -> None:
        # Marked, not sorted out with np.unique: a million profiles hold a hundred million
        # entries.
        marked = np.zeros(papers.own.shape[0], dtype=bool)
        marked[rows.indices] = True
        used = np.flatnonzero(marked)
        block = papers.terms(used)
        held = np.diff(block.indptr) > 0
        self._terms = used[held]
        self._position = np.full(papers.own.shape[0], -1)
        self._position[self._terms] = np.arange(self._terms.size)
        self.dense = block[held].toarray()

    def local(self, rows: sp.csr_matrix) -> sp.csr_matrix:
        """`rows` over the dense array's terms (its rows), each row's entries in their order."""
        position = self._position[rows.indices]
        kept = position >= 0
        data, indptr = rows.data, rows.indptr
        if not kept.all():
            data, position = data[kept], position[kept]
            indptr = np.concatenate(([0], np.cumsum(kept)))[indptr]
        return sp.csr_matrix((data, position, indptr), shape=(rows.shape[0], self._terms.size))

    def product(self, rows: sp.csr_matrix) -> np.ndarray:
        """`rows @ papers.T` as a dense (rows x papers) array."""
        return self.local(rows) @ self.dense


class _Scorer:
    """Raw scores of profiles (`direct + mix @ corpus`, and a dense vector) against a set of
    papers (`_Papers`: their TF-IDF vectors, dense vectors and penalties as generic papers).

    A profile's stored-paper part is scored through the similarities of those stored papers
    with the scored ones, computed once for all profiles: a few weights per profile, where
    its terms would be hundreds.
    """

    def __init__(
        self, corpus: sp.csr_matrix, papers: _Papers, direct: sp.csr_matrix, mix: sp.csr_matrix
    ) -> None:
        self._papers = _DensePapers(papers, direct)
        self._embedding = np.ascontiguousarray(papers.dense.T)
        self._generic = papers.generic
        self._used = np.unique(mix.indices)
        self._position = np.full(corpus.shape[0], -1)
        self._position[self._used] = np.arange(self._used.size)
        self._similar = papers.similarities(corpus[self._used])

    def scores(self, direct: sp.csr_matrix, mix: sp.csr_matrix, dense: np.ndarray) -> np.ndarray:
        """A dense (profiles x papers) block of raw scores."""
        raw = self._papers.product(direct)
        raw += dense @ self._embedding
        raw -= self._generic
        if mix.nnz:
            raw += self._local(mix) @ self._similar
        return raw

    def _local(self, mix: sp.csr_matrix) -> sp.csr_matrix:
        """`mix` over the stored papers used (the rows of `_similar`)."""
        return sp.csr_matrix(
            (mix.data, self._position[mix.indices], mix.indptr),
            shape=(mix.shape[0], self._used.size),
        )


@dataclass(frozen=True)
class _Screened:
    """A block's float32 scores, and the parts its float64 scores are made of."""

    scores: np.ndarray  # profiles x papers, float32
    direct: sp.csr_matrix  # the profiles' own terms over the dense papers' terms
    mix: sp.csr_matrix  # their stored papers over those `_similar` holds
    dense: np.ndarray  # the dense part of their scores, float32 as `_Scorer.scores` adds it


class _Screen(_Scorer):
    """A `_Scorer` that scores blocks in float32, each score within a bound of its float64
    one, and gives the float64 scores of chosen (profile, paper) pairs bit for bit.

    A block's products stream the papers' arrays once per term of each profile: in float32
    they move half the bytes. Its float64 scores are then needed only where they decide a
    pick, a few per profile.
    """

    def __init__(
        self, corpus: sp.csr_matrix, papers: _Papers, direct: sp.csr_matrix, mix: sp.csr_matrix
    ) -> None:
        super().__init__(corpus, papers, direct, mix)
        terms = self._papers.dense
        # One float32 product per block: the papers' terms, the stored papers'
        # similarities, and the penalty for generic papers as a row every profile takes once.
        rows = terms.shape[0] + self._used.size + 1
        stacked = np.empty((rows, len(papers)), dtype=np.float32)
        stacked[: terms.shape[0]] = terms
        stacked[terms.shape[0] : -1] = self._similar
        stacked[-1] = -papers.generic
        # Kept as tiles of _TILE_PAPERS columns: a block's product streams a row of the
        # array per term of each profile, and a tile's rows stay in the cache where the
        # whole array's would not (7,500 terms x 2,000 papers are 60 MB).
        self._tiles = [
            np.ascontiguousarray(stacked[:, start : start + _TILE_PAPERS])
            for start in range(0, len(papers), _TILE_PAPERS)
        ]
        longest = papers.longest
        # A paper's column of the dense array is at most its row's length, a similarity at
        # most the product of the two rows' lengths.
        self._sizes = (
            longest,
            longest * float(_lengths(corpus[self._used]).max(initial=0)),
            float(np.linalg.norm(self._embedding, axis=0).max(initial=0)),
            float(np.abs(papers.generic).max(initial=0)),
        )

    def margin(self, direct: sp.csr_matrix, mix: sp.csr_matrix, dense: np.ndarray) -> float:
        """A bound on the distance between any float32 score of the profiles (`screened`)
        and its float64 one (`scores`)."""
        terms, similar, embedding, generic = self._sizes
        # A float32 sum of n addends, each a product of two float32-rounded factors, is
        # within gamma(n + 2) = (n + 2) u / (1 - (n + 2) u) of the exact sum times the sum
        # of the addends' magnitudes (u = 2**-24; Higham, Accuracy and Stability of
        # Numerical Algorithms, 3.1 and 3.3); float64's error is 2**29 times smaller.
        # Twice (n + 4) u covers both for any n below 2**22, and the float32 lengths'
        # rounding. The magnitudes add up to at most `size`: Cauchy-Schwarz for the terms
        # and the dense part, the stored papers' weights times the largest similarity, and
        # the penalty.
        addends = np.diff(direct.indptr) + np.diff(mix.indptr) + 2
        size = (
            _lengths(direct) * terms
            + _row_sums(direct.shape[0], mix.indptr, np.abs(mix.data)) * similar
            + np.linalg.norm(dense, axis=1) * embedding
            + generic
        )
        return float((2 * (addends + 4) * _UNIT32 * size).max(initial=0))

    def screened(self, direct: sp.csr_matrix, mix: sp.csr_matrix, dense: np.ndarray) -> _Screened:
        """A block of float32 scores, each within `margin` of its float64 one."""
        own, stored = self._papers.local(direct), self._local(mix)
        count = direct.shape[0]
        penalty = sp.csr_matrix(
            (np.ones(count), np.zeros(count, dtype=np.int32), np.arange(count + 1)),
            shape=(count, 1),
        )
        operand = sp.hstack([own, stored, penalty], format="csr", dtype=np.float32)
        scores = np.empty((count, self._embedding.shape[1]), dtype=np.float32)
        for number, tile in enumerate(self._tiles):
            start = number * _TILE_PAPERS
            scores[:, start : start + tile.shape[1]] = operand @ tile
        part = dense @ self._embedding
        scores += part
        return _Screened(scores, own, stored, part)

    def exact(self, block: _Screened, rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
        """The float64 scores of the block's pairs (`rows`, `columns`), as `scores` gives
        them: the same products added in the same order."""
        raw = _pair_sums(block.direct, self._papers.dense, rows, columns)
        raw += block.dense[rows, columns]
        raw -= self._generic[columns]
        if block.mix.nnz:
            raw += _pair_sums(block.mix, self._similar, rows, columns)
        return raw


class InterestModel:
    """TF-IDF over the corpus (title weighted, unigrams, bigrams and the profiles' phrases)."""

    def __init__(
        self,
        corpus: Sequence[Document],
        terms: Iterable[str],
        embedder: Embedder | None = None,
    ) -> None:
        """Learn term weights from `corpus`; `terms` are the profiles' keywords and exclusions.

        With an `embedder`, scores also weigh the papers' meaning (see MEANING_WEIGHT); the
        stored papers are embedded when first needed, once each.
        Raises ValueError for an empty corpus: there is nothing to weigh terms by.
        """
        if not corpus:
            raise ValueError("the interest model needs at least one paper")
        # Longer phrases, and phrases with function words inside ("learning to rank"), are
        # features only where a profile names them, so they match whole without the model
        # counting every trigram of the corpus.
        self._phrases = {
            tuple(feature.split())
            for term in terms
            if (feature := phrase_feature(term)) and " " in feature
        }
        self._heads = _phrase_heads(self._phrases)
        self._documents = list(corpus)
        # TF-IDF as scikit-learn's TfidfVectorizer(sublinear_tf=True) computes it, kept in
        # parts so that `add_terms` can add a phrase without analyzing the corpus again.
        self._counter = CountVectorizer(analyzer=self._analyze)
        counts = self._counter.fit_transform([self._segments(doc) for doc in corpus]).tocsr()
        frequency = np.bincount(counts.indices, minlength=counts.shape[1])
        self._idf = np.log((1 + len(corpus)) / (1 + frequency)) + 1
        # The corpus' own vectors: pseudo-relevance feedback and calibration read them.
        self._corpus = self._weigh(counts)
        self._vocabulary: dict[str, int] = dict(self._counter.vocabulary_)
        self._names = self._feature_names()
        self._row = {doc.id: row for row, doc in enumerate(self._documents)}
        self._features: dict[str, str | None] = {}
        self._step = math.ceil(len(corpus) / REFERENCE_PAPERS)
        self._reference_rows = np.arange(0, len(corpus), self._step)
        self._reference = self._corpus[self._reference_rows]
        # Each paper's neighbours (stored rows, weights), by the paper's TF-IDF row: a pure
        # function of the row while the corpus stays the same.
        self._neighbours: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}
        self._reference_papers: _Papers | None = None
        self._transposed()
        self._centred()
        self._term_columns, self._term_vectors = self._fit_term_vectors()
        self._dense_columns, self._sif, self._common = self._fit_embedding(frequency)
        self._embedded()
        self._embedder = embedder
        width = embedder.dimensions if embedder else 0
        self._meaning = np.zeros((len(corpus), width), dtype=np.float32)
        self._meant = np.zeros(len(corpus), dtype=bool)

    def _fit_term_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """The vocabulary columns of the title words that have a term vector, and the vectors
        (one unit float32 row each); empty when the titles say too little.

        A word's vector is its row of U * sqrt(S) from a truncated SVD of the positive PMI
        between title words (binary: does a title hold both), with the words' title
        frequencies as marginals and the context's smoothed to the power TERM_CDS.
        """
        empty = (np.zeros(0, dtype=int), np.zeros((0, TERM_DIM), dtype=np.float32))
        owners: list[int] = []
        columns: list[int] = []
        for row, doc in enumerate(self._documents):
            found = {c for w in words(doc.title) if (c := self._vocabulary.get(w)) is not None}
            columns.extend(found)
            owners.extend([row] * len(found))
        if not columns:
            return empty
        titles = sp.csr_matrix(
            (np.ones(len(columns)), (owners, columns)),
            shape=(len(self._documents), len(self._vocabulary)),
        )
        frequency = np.bincount(titles.indices, minlength=titles.shape[1])
        # Stop words are never features, so every column found is a content word.
        kept = np.flatnonzero(frequency >= TERM_MIN_DF)
        if kept.size < 2:
            return empty
        binary = sp.csc_matrix(titles[:, kept])
        pairs = sp.coo_matrix(binary.T @ binary)
        counts = frequency[kept].astype(float)
        context = counts**TERM_CDS
        pmi = np.log(pairs.data * context.sum() / (counts[pairs.row] * context[pairs.col]))
        positive = (pmi > 0) & (pairs.row != pairs.col)
        ppmi = sp.csr_matrix(
            (pmi[positive], (pairs.row[positive], pairs.col[positive])), shape=pairs.shape
        )
        if not ppmi.nnz:
            return empty
        svd = TruncatedSVD(min(TERM_DIM, kept.size - 1), random_state=0)
        scaled = svd.fit_transform(ppmi) / np.sqrt(np.maximum(svd.singular_values_, 1e-12))
        return kept, normalize(scaled).astype(np.float32)

    def _fit_embedding(self, frequency: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The vocabulary columns of the dense part's words (none under DENSE_MIN_WORDS),
        their vectors weighted by smooth inverse frequency (words x dimensions), and the
        corpus' common direction that dense vectors drop.

        The words are the title words with a term vector, then every other word used in at
        least TERM_MIN_DF stored papers (abstracts' words, mostly), whose vector is the mean
        of the dense vectors of the papers holding it: one product brings in the abstracts'
        vocabulary, where their PPMI would need an SVD of a far larger co-occurrence matrix
        (up to half a minute for the bench's 1,929 abstracts, for no better ranking).
        """
        columns = self._term_columns
        if columns.size < DENSE_MIN_WORDS:
            width = self._term_vectors.shape[1]
            return columns[:0], np.zeros((0, width), np.float32), np.zeros(width, np.float32)
        sif, common = self._sif_weighted(columns, self._term_vectors, frequency)
        papers = _unit_without(self._corpus[:, columns] @ sif, common)
        vectored = np.zeros(len(self._names), dtype=bool)
        vectored[columns] = True
        unigram = np.array([" " not in name for name in self._names], dtype=bool)
        others = np.flatnonzero(unigram & ~vectored & (frequency >= TERM_MIN_DF))
        if not others.size:
            return columns, sif, common
        holders = sp.csc_matrix(self._corpus[:, others], dtype=np.float32, copy=True)
        holders.data[:] = 1
        columns = np.concatenate([columns, others])
        vectors = np.vstack([self._term_vectors, normalize(np.asarray(holders.T @ papers))])
        return columns, *self._sif_weighted(columns, vectors, frequency)

    def _sif_weighted(
        self, columns: np.ndarray, vectors: np.ndarray, frequency: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The words' vectors times their smooth inverse frequency, and the corpus' common
        direction: the top singular vector of the stored papers' unit averages of them,
        which every paper shares and which therefore tells them apart least."""
        share = frequency[columns] / len(self._documents)
        sif = vectors * (SIF_SMOOTHING / (SIF_SMOOTHING + share))[:, None]
        averages = normalize(np.asarray(self._corpus[:, columns] @ sif))
        _, directions = np.linalg.eigh(averages.T @ averages)
        return sif.astype(np.float32), directions[:, -1].astype(np.float32)

    def _embedded(self) -> None:
        """The stored papers' weighted sums of term vectors, before any normalization: a
        profile's stored-paper part is embedded through them."""
        self._corpus_sums = np.asarray(
            self._corpus[:, self._dense_columns] @ self._sif, dtype=np.float32
        )
        self._corpus_dense = self._dense_unit(self._corpus_sums)

    def _dense_unit(self, sums: np.ndarray) -> np.ndarray:
        """Weighted sums of term vectors as unit rows without the common direction."""
        return _unit_without(sums, self._common)

    def embedding(self, matrix: sp.csr_matrix) -> np.ndarray:
        """The dense vectors of TF-IDF rows (`transform`'s papers), one unit row each."""
        return self._dense_unit(sp.csr_matrix(matrix)[:, self._dense_columns] @ self._sif)

    def _profile_embedding(self, vectors: _Mixed) -> np.ndarray:
        """Each profile's dense vector times DENSE_WEIGHT, from its own terms and its stored
        papers' sums: the dense vector of the profile written out term by term."""
        sums = vectors.direct[:, self._dense_columns] @ self._sif + vectors.mix @ self._corpus_sums
        return DENSE_WEIGHT * self._dense_unit(sums)

    def meaning(self, docs: Sequence[Document]) -> np.ndarray | None:
        """The papers' unit meaning vectors (stored papers' embedded once), or None without
        an embedder."""
        if self._embedder is None:
            return None
        out = np.zeros((len(docs), self._embedder.dimensions), dtype=np.float32)
        stored, rows, fresh = self._split(docs)
        out[stored] = self._stored_meaning(np.array(rows, dtype=int))
        out[fresh] = self._embedder.embed([_text(docs[n]) for n in fresh])
        return out

    def _stored_meaning(self, rows: np.ndarray) -> np.ndarray:
        """The meaning vectors of the stored papers at `rows`, embedding those not yet."""
        assert self._embedder is not None
        missing = np.unique(rows[~self._meant[rows]])
        if missing.size:
            self._meaning[missing] = self._embedder.embed(
                [_text(self._documents[row]) for row in missing.tolist()]
            )
            self._meant[missing] = True
        return self._meaning[rows]

    def _scored(self, matrix: sp.csr_matrix, meaning: np.ndarray | None) -> _Papers:
        """The TF-IDF rows (`transform`'s papers) as raw scores see them: each paper's
        vectors and penalty blended with its neighbours', then its meaning if any."""
        if self._embedder is not None and meaning is None:
            raise ValueError("a model with an embedder needs the papers' meaning vectors")
        papers = self._blended(matrix)
        if self._embedder is None:
            return papers
        return replace(papers, dense=np.hstack([papers.dense, meaning]))

    def _blended(self, matrix: sp.csr_matrix) -> _Papers:
        """The papers' TF-IDF vectors, dense vectors and penalties, each paper's blended with
        its neighbours' (see NEIGHBOURS): scores are linear in them, so a paper's score is
        the same blend of its own score and its neighbours'."""
        own, near = self._neighbourhoods(matrix)
        # Kept as columns, the way the products read them.
        neighbours = sp.csr_matrix(near.T)
        dense = self.embedding(matrix)
        generic = self.generic(matrix)
        if neighbours.nnz:
            dense *= own[:, None].astype(np.float32)
            dense += np.asarray(neighbours.T @ self._corpus_dense, dtype=np.float32)
            generic = own * generic + neighbours.T @ self._corpus_generic
        # By the triangle inequality: a blend of vectors is at most as long as the same
        # blend of their lengths.
        longest = own * _lengths(matrix) + neighbours.T @ self._corpus_lengths
        return _Papers(
            own=sp.csr_matrix(sp.csr_matrix(matrix.T) @ sp.diags(own)),
            neighbours=neighbours,
            corpus=self._corpus,
            corpus_t=self._corpus_t,
            dense=dense,
            generic=generic,
            longest=float(longest.max(initial=0)),
        )

    def _neighbourhoods(self, matrix: sp.csr_matrix) -> tuple[np.ndarray, sp.csr_matrix]:
        """Each paper's own share of its blend, and its neighbours' shares (papers x stored
        papers): at most NEIGHBOURS a paper, by cosine, adding up to the rest."""
        count, papers = matrix.shape[0], self._corpus.shape[0]
        share = (
            NEIGHBOUR_SHARE
            * _ramp(np.array(papers), NEIGHBOUR_CORPUS)
            * _ramp(np.diff(matrix.indptr), NEIGHBOUR_TERMS)
        )
        wanted = np.flatnonzero(share > 0)
        keys = [_row_key(matrix, row) for row in wanted.tolist()]
        # Each distinct paper once: many picks may hold the same.
        missing = {key: n for n, key in enumerate(keys) if key not in self._neighbours}
        if missing:
            found = self._nearest(matrix[wanted[list(missing.values())]])
            self._neighbours.update(zip(missing, found, strict=True))
        nearest = [self._neighbours[key] for key in keys]
        lengths = np.array([rows.size for rows, _ in nearest], dtype=np.int64)
        share[wanted[lengths == 0]] = 0  # nothing near it: the paper is all its own
        indptr = np.zeros(count + 1, dtype=np.int64)
        indptr[wanted + 1] = lengths
        columns = [rows for rows, _ in nearest]
        weights = [w * share[row] for (_, w), row in zip(nearest, wanted.tolist(), strict=True)]
        neighbours = sp.csr_matrix(
            (
                np.concatenate(weights) if weights else np.zeros(0),
                np.concatenate(columns) if columns else np.zeros(0, dtype=np.int64),
                np.cumsum(indptr),
            ),
            shape=(count, papers),
        )
        return 1 - share, neighbours

    def _nearest(self, rows: sp.csr_matrix) -> list[tuple[np.ndarray, np.ndarray]]:
        """For each row, its NEIGHBOURS most similar stored papers with a positive cosine
        (itself, or a copy of it, left out) and their cosines as weights adding up to 1."""
        take = min(NEIGHBOURS, self._corpus.shape[0])
        step = _chunk(self._corpus.shape[0])

        def block(start: int) -> list[tuple[np.ndarray, np.ndarray]]:
            similarity = (rows[start : start + step] @ self._corpus_t).toarray()
            similarity[similarity >= _SAME] = 0
            best = np.argpartition(-similarity, take - 1, axis=1)[:, :take]
            values = np.take_along_axis(similarity, best, axis=1)
            out = []
            for columns, weights in zip(best, values, strict=True):
                near = weights > 0
                total = weights[near].sum()
                out.append((columns[near], weights[near] / total if total else weights[near]))
            return out

        return [pair for part in _threaded(block, range(0, rows.shape[0], step)) for pair in part]

    def _profile_meaning(
        self, interests: Sequence[Interest], seed_weight: np.ndarray, keyword_weight: np.ndarray
    ) -> np.ndarray:
        """Each profile's unit meaning vector: its seeds' and positives' (by weight) and its
        keywords' (by weight) summed, each part unit length and weighted as in the sparse
        profile; a zero row for a profile with neither.

        Float32 throughout, a block of profiles at a time: at a million profiles each
        (profiles x dimensions) temporary is a gigabyte.
        """
        assert self._embedder is not None
        count = len(interests)
        papers: list[tuple[int, Document, float]] = []
        keywords: list[tuple[int, str, float]] = []
        for number, interest in enumerate(interests):
            papers += [(number, doc, weight) for doc, weight in _weighted_papers(interest)]
            keywords += [(number, term, w) for term, w in interest.keywords.items() if w > 0]
        paper_owner, paper_found = self._owned(papers, count, self.meaning)
        keyword_owner, keyword_found = self._owned(keywords, count, self._embedder.embed)
        out = np.empty((count, self._embedder.dimensions), dtype=np.float32)
        for start in range(0, count, _EXPLICIT_ROWS):
            block = slice(start, start + _EXPLICIT_ROWS)
            seed = normalize(paper_owner[block] @ paper_found)
            keyword = normalize(keyword_owner[block] @ keyword_found)
            seed *= seed_weight[block, None].astype(np.float32)
            keyword *= keyword_weight[block, None].astype(np.float32)
            out[block] = normalize(seed + keyword)
        return out

    def _owned(
        self,
        entries: Sequence[tuple[int, _T, float]],
        count: int,
        embed: Callable[[list[_T]], np.ndarray | None],
    ) -> tuple[sp.csr_matrix, np.ndarray]:
        """The (owners x items) float32 weights of `entries` and the distinct items' meaning
        vectors, each item (a paper, a keyword) embedded once however many owners hold it."""
        assert self._embedder is not None
        distinct, owner = _ownership(entries, count, np.float32)
        found = embed(distinct) if distinct else None
        if found is None:
            return owner, np.zeros((0, self._embedder.dimensions), dtype=np.float32)
        return owner, found

    def _with_meaning(self, vectors: _Mixed, dense: np.ndarray, meaning: np.ndarray) -> np.ndarray:
        """The profiles' dense vectors with their meaning vectors appended, each scaled so
        that its cosines spread MEANING_WEIGHT (long profiles) to MEANING_SHORT (short ones)
        times as wide over the reference papers as the rest of the profile's scores."""
        _, spread = self._calibration(vectors, dense)
        reference = self._stored_meaning(self._reference_rows)
        step = _chunk(reference.shape[0])

        def spreads(start: int) -> np.ndarray:
            return (meaning[start : start + step] @ reference.T).std(axis=1)

        parts = _threaded(spreads, range(0, meaning.shape[0], step))
        own = np.concatenate(parts) if parts else np.zeros(0)
        terms = vectors.rowwise(self._corpus, lambda rows: np.diff(rows.indptr))
        short = np.minimum(1.0, (EXPANSION_SHORT / np.maximum(terms, 1)) ** 2)
        weight = MEANING_WEIGHT + (MEANING_SHORT - MEANING_WEIGHT) * short
        scale = np.divide(weight * spread, own, out=np.zeros_like(own), where=own > _MIN_SPREAD)
        out = np.empty((dense.shape[0], dense.shape[1] + meaning.shape[1]), dtype=np.float32)
        out[:, : dense.shape[1]] = dense
        out[:, dense.shape[1] :] = meaning
        out[:, dense.shape[1] :] *= scale[:, None].astype(np.float32)
        return out

    def _centred(self) -> None:
        """The unit centroid of the stored papers' vectors, which `generic` measures by, and
        the stored papers' own penalties and lengths, which blends with them read."""
        centroid = np.asarray(self._corpus.mean(axis=0)).ravel()
        norm = np.linalg.norm(centroid)
        self._centroid = centroid / norm if norm > 0 else centroid
        self._corpus_generic = self.generic(self._corpus)
        self._corpus_lengths = _lengths(self._corpus)

    def generic(self, matrix: sp.csr_matrix) -> np.ndarray:
        """What each of the TF-IDF rows (`transform`'s papers) loses from its raw score as a
        generic paper: GENERIC_PENALTY times its cosine with the stored papers' centroid.

        One product with one vector per set of papers, the same for every profile.
        """
        return GENERIC_PENALTY * np.asarray(sp.csr_matrix(matrix) @ self._centroid).ravel()

    def _transposed(self) -> None:
        """The corpus matrix as (terms x papers), for feedback's profile-major products."""
        self._corpus_t = sp.csr_matrix(self._corpus.T)

    def _weigh(self, counts: sp.csr_matrix) -> sp.csr_matrix:
        """Counts to unit TF-IDF rows: (1 + log tf) * idf, L2-normalized."""
        weighted = sp.csr_matrix(counts, dtype=float, copy=True)
        weighted.data = (1 + np.log(weighted.data)) * self._idf[weighted.indices]
        return sp.csr_matrix(normalize(weighted))

    def _feature_names(self) -> np.ndarray:
        names = np.empty(len(self._vocabulary), dtype=object)
        for name, index in self._vocabulary.items():
            names[index] = name
        return names

    @property
    def corpus_matrix(self) -> sp.csr_matrix:
        """`transform(corpus)`, in corpus order, without analyzing the corpus again."""
        return self._corpus

    def add_terms(self, terms: Iterable[str]) -> None:
        """Make the phrases among `terms` features, as if the constructor had been given them.

        Only the stored papers that hold every content word of a new phrase are analyzed
        again; matrices from `transform` made before no longer fit and must be made again.
        """
        new = {
            tuple(feature.split())
            for term in terms
            if (feature := phrase_feature(term)) and " " in feature
        } - self._phrases
        new = {phrase for phrase in new if " ".join(phrase) not in self._vocabulary}
        if not new:
            return
        self._phrases |= new
        self._features.clear()
        self._heads = _phrase_heads(self._phrases)
        affected: set[int] = set()
        for phrase in new:
            columns = [self._vocabulary.get(w) for w in phrase if w not in STOP_WORDS]
            if not columns or None in columns:
                continue  # a word the corpus never uses: no paper holds the phrase
            rows = set(self._corpus[:, columns[0]].nonzero()[0].tolist())
            for column in columns[1:]:
                rows &= set(self._corpus[:, column].nonzero()[0].tolist())
            affected |= rows
        names = sorted(" ".join(phrase) for phrase in new)
        trial = dict(self._vocabulary)
        trial.update({name: len(self._vocabulary) + n for n, name in enumerate(names)})
        rows = sorted(affected)
        counter = CountVectorizer(analyzer=self._analyze, vocabulary=trial)
        counts = counter.transform([self._segments(self._documents[r]) for r in rows]).tocsr()
        frequency = np.bincount(counts.indices, minlength=len(trial))[len(self._vocabulary) :]
        found = [name for name, count in zip(names, frequency, strict=True) if count]
        if not found:
            return
        for name in found:
            self._vocabulary[name] = len(self._vocabulary)
        self._idf = np.concatenate(
            [self._idf, np.log((1 + len(self._documents)) / (1 + frequency[frequency > 0])) + 1]
        )
        self._counter = CountVectorizer(analyzer=self._analyze, vocabulary=self._vocabulary)
        self._names = self._feature_names()
        width = len(self._vocabulary)
        fresh = self._weigh(
            self._counter.transform([self._segments(self._documents[r]) for r in rows]).tocsr()
        )
        n = len(self._documents)
        keep = np.ones(n)
        keep[rows] = 0
        place = sp.csr_matrix((np.ones(len(rows)), (rows, np.arange(len(rows)))), (n, len(rows)))
        corpus = sp.csr_matrix(self._corpus, copy=True)
        corpus.resize((n, width))
        self._corpus = sp.csr_matrix(sp.diags(keep) @ corpus + place @ fresh)
        self._reference = self._corpus[self._reference_rows]
        self._neighbours.clear()
        self._reference_papers = None
        self._transposed()
        self._centred()
        self._embedded()

    def _segments(self, doc: Document) -> tuple[str, ...]:
        return (doc.title,) * TITLE_WEIGHT + (doc.abstract,)

    def _analyze(self, segments: tuple[str, ...]) -> list[str]:
        """Unigrams and bigrams of content words, and the profiles' phrases, clause by clause."""
        # Run over every stored paper at each fit: longer n-grams are only looked at where
        # a profile's phrase starts, not built at every position for every length.
        features: list[str] = []
        heads = self._heads
        for segment in segments:
            for clause in _CLAUSE_BREAK.split(segment):
                found = words(clause)
                content = [word not in STOP_WORDS for word in found]
                features.extend(itertools.compress(found, content))
                features.extend(
                    f"{found[i]} {found[i + 1]}"
                    for i in range(len(found) - 1)
                    if content[i] and content[i + 1]
                )
                for start in (i for i, word in enumerate(found) if word in heads):
                    for phrase in heads[found[start]]:
                        if tuple(found[start : start + len(phrase)]) == phrase:
                            features.append(" ".join(phrase))
        return features

    def transform(self, docs: Sequence[Document]) -> sp.csr_matrix:
        """Rows of L2-normalized TF-IDF vectors, one per document."""
        counts = self._counter.transform([self._segments(doc) for doc in docs])
        return self._weigh(sp.csr_matrix(counts))

    # --- keywords ------------------------------------------------------------------------

    def keyword_feature(self, term: str) -> str | None:
        """The feature that says `term` occurs whole; None for function words only.

        A single run-together word unknown to the corpus stands for the two-word phrase it
        joins, when the corpus has that phrase ("breastcancer" is "breast cancer", the
        likelier split when there are several).
        """
        feature = phrase_feature(term)
        if feature is None or feature in self._vocabulary or " " in feature:
            return feature
        best: tuple[float, str] | None = None
        idf = self._idf
        for cut in range(_MIN_COMPOUND_PART, len(feature) - _MIN_COMPOUND_PART + 1):
            head, tail = feature[:cut], fold_plural(feature[cut:])
            if head in STOP_WORDS or tail in STOP_WORDS:
                continue
            index = self._vocabulary.get(f"{head} {tail}")
            if index is not None and (best is None or idf[index] < best[0]):
                best = (float(idf[index]), f"{head} {tail}")
        return feature if best is None else best[1]

    def _feature(self, term: str) -> str | None:
        """`keyword_feature`, remembered: every profile of a run asks for the same terms."""
        if term not in self._features:
            self._features[term] = self.keyword_feature(term)
        return self._features[term]

    def _column(self, term: str) -> int | None:
        return self._vocabulary.get(self._feature(term) or "")

    # --- profiles ------------------------------------------------------------------------

    def profiles(self, interests: Sequence[Interest]) -> Profiles:
        """Every interest as one unit vector (keywords with feedback, seeds, positives, then
        related title words), and what scoring needs besides, built for all of them at once.

        The cost is a few sparse products for all interests together, never a loop over
        the corpus per interest: keyword vectors are analyzed once per distinct keyword,
        stored papers (seeds, positives) are read from the corpus matrix, feedback and
        calibration are chunked products with the corpus, expansion with the term vectors.
        """
        width = len(self._vocabulary)
        explicit = np.array([bool(interest.seeds) for interest in interests], dtype=bool)
        seed_part, seeds = self._seed_parts(interests)
        keyword_part = self._keyword_parts(interests, feedback=~explicit)
        has_seed = seed_part.nonzero_rows()
        has_keyword = keyword_part.nonzero_rows()
        # With seeds the papers lead and keywords steer; without, the subscriber's history
        # only nudges what their keywords ask for.
        seed_weight = np.where(explicit | ~has_keyword, 1.0, HISTORY_SHARE)
        keyword_weight = np.where(explicit & has_seed, KEYWORD_SHARE_WITH_SEEDS, 1.0)
        vectors = self._expanded(
            self._unit(seed_part.scaled(seed_weight) + keyword_part.scaled(keyword_weight))
        )
        # After expansion: a profile's mean and spread are those of the vector it scores with.
        dense = self._profile_embedding(vectors)
        if self._embedder is not None:
            meaning = self._profile_meaning(interests, seed_weight, keyword_weight)
            dense = self._with_meaning(vectors, dense, meaning)
            del meaning  # a gigabyte at a million profiles, copied into `dense`
        mean, spread = self._calibration(vectors, dense)
        keywords = [sorted(i.keywords, key=lambda k, i=i: -i.keywords[k]) for i in interests]
        features = [[self._column(k) for k in ordered] for ordered in keywords]
        excluded = [[c for t in i.exclude if (c := self._column(t)) is not None] for i in interests]
        return Profiles(
            direct=vectors.direct,
            mix=vectors.mix,
            dense=dense,
            mean=mean,
            spread=spread,
            keyword_columns=_indicator([[c for c in f if c is not None] for f in features], width),
            exclude_columns=_indicator(excluded, width),
            # Only seed papers the subscriber chose open picks beyond their keywords; papers
            # merely sent before do not.
            needs_keyword=~explicit,
            min_score=np.array([i.min_score for i in interests], dtype=float),
            max_papers=np.array([max(i.max_papers, 0) for i in interests], dtype=int),
            keywords=keywords,
            keyword_features=features,
            seeds=seeds,
            seed_titles=[[doc.title for doc in i.seeds] for i in interests],
        )

    def profile_vector(self, interest: Interest) -> sp.csr_matrix:
        """The profile as one unit vector: keywords (with feedback), seeds and positives,
        expanded with related title words when it is short."""
        return self.vectors(self.profiles([interest]), np.zeros(1, dtype=int))

    def vectors(self, profiles: Profiles, rows: np.ndarray) -> sp.csr_matrix:
        """The unit vectors of the profiles at `rows`, term by term (interests x terms)."""
        return _Mixed(profiles.direct[rows], profiles.mix[rows]).explicit(self._corpus)

    def _unit(self, parts: _Mixed) -> _Mixed:
        """`parts` with every nonzero row scaled to unit length."""
        norms = parts.norms(self._corpus)
        return parts.scaled(np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0))

    def _stored_row(self, doc: Document) -> int | None:
        """The corpus row of `doc` when it is a stored paper (same id and text), else None."""
        row = self._row.get(doc.id)
        return row if row is not None and self._documents[row] == doc else None

    def _split(self, docs: Sequence[Document]) -> tuple[list[int], list[int], list[int]]:
        """The positions in `docs` of the stored papers, their corpus rows, and the
        positions of the others."""
        rows = [self._stored_row(doc) for doc in docs]
        known = [n for n, row in enumerate(rows) if row is not None]
        others = [n for n, row in enumerate(rows) if row is None]
        return known, [row for row in rows if row is not None], others

    def _rows(self, docs: Sequence[Document]) -> sp.csr_matrix:
        """`transform(docs)`, reading the rows of stored papers from the corpus matrix."""
        known, rows, others = self._split(docs)
        parts = [self._corpus[rows]]
        if others:
            parts.append(self.transform([docs[n] for n in others]))
        order = np.empty(len(docs), dtype=int)
        order[known + others] = np.arange(len(docs))
        return sp.csr_matrix(sp.vstack(parts)[order])

    def _seed_parts(
        self, interests: Sequence[Interest]
    ) -> tuple[_Mixed, list[sp.csr_matrix | None]]:
        """The seed part of each profile (zero rows where none): the sum of the seeds'
        vectors (each a positive of weight 1) and the positives' by weight, unit length; and
        each interest's seed vectors, for explanations."""
        # (profile, corpus row, weight) for stored papers, (profile, paper, weight) for others.
        stored: list[tuple[int, int, float]] = []
        fresh: list[tuple[int, Document, float]] = []
        for number, interest in enumerate(interests):
            for doc, weight in _weighted_papers(interest):
                row = self._stored_row(doc)
                if row is None:
                    fresh.append((number, doc, weight))
                else:
                    stored.append((number, row, weight))
        count, width, papers = len(interests), len(self._vocabulary), len(self._documents)
        owners, rows, weights = zip(*stored, strict=True) if stored else ((), (), ())
        mix = sp.csr_matrix((weights, (owners, rows)), shape=(count, papers))
        direct = sp.csr_matrix((count, width))
        if fresh:
            # Each distinct paper not stored is analyzed once, however many profiles hold it.
            distinct, owner = _ownership(fresh, count, np.float64)
            direct = sp.csr_matrix(owner @ self.transform(distinct))
        seeds = [self._rows(i.seeds) if i.seeds else None for i in interests]
        return self._unit(_Mixed(direct, mix)), seeds

    def _keyword_parts(self, interests: Sequence[Interest], feedback: np.ndarray) -> _Mixed:
        """The keyword part of each profile (interests x terms; zero rows where none): the
        keywords' vectors summed by weight, unit length; where `feedback`, leaning towards
        the stored papers that match them best (pseudo-relevance feedback)."""
        features: dict[str, int] = {}
        owners: list[int] = []
        columns: list[int] = []
        weights: list[float] = []
        for number, interest in enumerate(interests):
            for term, weight in interest.keywords.items():
                feature = self._feature(term)
                if feature is None:
                    continue
                owners.append(number)
                columns.append(features.setdefault(feature, len(features)))
                weights.append(weight)
        width, papers = len(self._vocabulary), len(self._documents)
        no_mix = sp.csr_matrix((len(interests), papers))
        if not features:
            return _Mixed(sp.csr_matrix((len(interests), width)), no_mix)
        vectors = normalize(
            self._weigh(sp.csr_matrix(self._counter.transform([(f,) for f in features])))
        )
        owner = sp.csr_matrix((weights, (owners, columns)), shape=(len(interests), len(features)))
        summed = _Mixed(sp.csr_matrix(normalize(owner @ vectors)), no_mix)
        wanted = np.flatnonzero(feedback & summed.nonzero_rows())
        if not (FEEDBACK_PAPERS and FEEDBACK_WEIGHT) or not wanted.size:
            return summed
        # The expansion, the mean of the best stored papers, joins the profile as papers.
        place = sp.csr_matrix(
            (np.ones(wanted.size), (wanted, np.arange(wanted.size))),
            shape=(len(interests), wanted.size),
        )
        selection = place @ self._feedback(summed.direct[wanted])
        expansion = self._unit(_Mixed(sp.csr_matrix((len(interests), width)), selection))
        return self._unit(summed + expansion.scaled(np.full(len(interests), FEEDBACK_WEIGHT)))

    def _feedback(self, vectors: sp.csr_matrix) -> sp.csr_matrix:
        """For each row, the FEEDBACK_PAPERS stored papers it matches best (among those it
        matches at all), as weights of their mean (rows x stored papers)."""
        papers = self._corpus.shape[0]
        take = min(FEEDBACK_PAPERS, papers)
        means: list[sp.csr_matrix] = []
        for start in range(0, vectors.shape[0], _chunk(papers)):
            block = vectors[start : start + _chunk(papers)]
            scores = (block @ self._corpus_t).toarray()
            best = np.argpartition(-scores, take - 1, axis=1)[:, :take]
            chosen = np.take_along_axis(scores, best, axis=1) > 0
            counts = np.maximum(chosen.sum(axis=1, keepdims=True), 1)
            owners = np.broadcast_to(np.arange(block.shape[0])[:, None], best.shape)
            selection = sp.csr_matrix(
                ((chosen / counts).ravel(), (owners.ravel(), best.ravel())),
                shape=(block.shape[0], papers),
            )
            means.append(selection)
        return sp.csr_matrix(sp.vstack(means))

    def _expanded(self, vectors: _Mixed) -> _Mixed:
        """Each short row plus its weight times the unit vector of its EXPANSION_TERMS nearest
        title words (by cosine of term vectors, positive only), unit length again.

        A row's query is the mean of its terms' vectors, weighted as in the row; the
        nearest words come from one dense (rows x words) float32 block per chunk and a
        partial sort, never a loop per profile.
        """
        terms = self._term_columns.size
        take = min(EXPANSION_TERMS, int(EXPANSION_SHARE * terms))
        count, width = vectors.direct.shape
        if not take or not count:
            return vectors
        owners: list[np.ndarray] = []
        parts: list[sp.csr_matrix] = []
        weights: list[np.ndarray] = []
        step = min(_chunk(terms), _EXPLICIT_ROWS)
        for start in range(0, count, step):
            block = slice(start, start + step)
            explicit = _Mixed(vectors.direct[block], vectors.mix[block]).explicit(self._corpus)
            lengths = np.diff(explicit.indptr)
            weight = EXPANSION_WEIGHT * np.minimum(
                1.0, (EXPANSION_SHORT / np.maximum(lengths, 1)) ** 2
            )
            wanted = np.flatnonzero((lengths > 0) & (weight >= EXPANSION_MIN))
            if not wanted.size:
                continue
            query = np.asarray(
                (explicit[wanted][:, self._term_columns] @ self._term_vectors), dtype=np.float32
            )
            query = normalize(query)  # a row of words without a term vector stays zero
            similarity = query @ self._term_vectors.T
            best = np.argpartition(-similarity, take - 1, axis=1)[:, :take]
            values = np.maximum(np.take_along_axis(similarity, best, axis=1), 0)
            rows = np.broadcast_to(np.arange(wanted.size)[:, None], best.shape)
            nearest = sp.csr_matrix(
                (values.ravel(), (rows.ravel(), self._term_columns[best].ravel())),
                shape=(wanted.size, width),
            )
            nearest.eliminate_zeros()
            owners.append(wanted + start)
            weights.append(weight[wanted])
            parts.append(sp.csr_matrix(normalize(nearest)))
        if not parts:
            return vectors
        chosen = np.concatenate(owners)
        place = sp.csr_matrix(
            (np.concatenate(weights), (chosen, np.arange(chosen.size))),
            shape=(count, chosen.size),
        )
        added = _Mixed(sp.csr_matrix(place @ sp.vstack(parts)), sp.csr_matrix(vectors.mix.shape))
        return self._unit(vectors + added)

    def _calibration(self, vectors: _Mixed, dense: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each profile's mean and spread of raw scores over the reference papers."""
        if self._reference_papers is None:
            self._reference_papers = self._blended(self._reference)
        reference = self._reference_papers
        # Profiles with their meaning vectors appended (`_with_meaning`) meet the reference
        # papers' meaning vectors.
        embedding = reference.dense
        if dense.shape[1] > embedding.shape[1]:
            embedding = np.hstack([embedding, self._stored_meaning(self._reference_rows)])
        scorer = _Scorer(
            self._corpus,
            replace(reference, dense=embedding),
            vectors.direct,
            vectors.mix,
        )
        step = _chunk(self._reference.shape[0])

        def moments(start: int) -> tuple[np.ndarray, np.ndarray]:
            block = slice(start, start + step)
            scores = scorer.scores(vectors.direct[block], vectors.mix[block], dense[block])
            return scores.mean(axis=1), np.maximum(scores.std(axis=1), _MIN_SPREAD)

        parts = _threaded(moments, range(0, vectors.direct.shape[0], step))
        if not parts:
            return np.zeros(0), np.zeros(0)
        return np.concatenate([m for m, _ in parts]), np.concatenate([s for _, s in parts])

    # --- scoring -------------------------------------------------------------------------

    def standard_scores(
        self,
        interest: Interest,
        candidates: Sequence[Document],
        matrix: sp.csr_matrix | None = None,
    ) -> np.ndarray:
        """Every candidate's score in standard deviations above the subscriber's mean.

        `calibrated` maps it to a pick's score; picks are chosen by `rank`.
        """
        if not candidates:
            return np.zeros(0)
        matrix = self.transform(candidates) if matrix is None else matrix
        profiles = self.profiles([interest])
        raw = self.raw_scores(profiles, matrix, self.meaning(candidates))
        return (raw.ravel() - profiles.mean[0]) / profiles.spread[0]

    def raw_scores(
        self, profiles: Profiles, matrix: sp.csr_matrix, meaning: np.ndarray | None = None
    ) -> np.ndarray:
        """The float64 raw scores of every profile against every row of `matrix`, at once.

        One dense (profiles x rows) array: for a few profiles; `top` scores many in blocks.
        `meaning` is `meaning(papers)` for the rows, needed when the model has an embedder.
        The profiles are scored in `top`'s blocks, so that the dense part's float32 products
        are those `top` computes bit for bit: BLAS sums a cell's products in an order that
        depends on the shape of the whole product (OpenBLAS has kernels of its own for small
        ones).
        """
        scorer = _Scorer(self._corpus, self._scored(matrix, meaning), profiles.direct, profiles.mix)
        step = _chunk(matrix.shape[0])
        blocks = [slice(start, start + step) for start in range(0, len(profiles), step)]
        parts = [(profiles.direct[b], profiles.mix[b], profiles.dense[b]) for b in blocks]
        if not parts:
            return np.zeros((0, matrix.shape[0]))
        return np.vstack([scorer.scores(*part) for part in parts])

    def rank(
        self,
        interest: Interest,
        candidates: Sequence[Document],
        matrix: sp.csr_matrix | None = None,
    ) -> list[Pick]:
        """The best candidates for `interest`, best first.

        A paper is picked when its raw score before the penalty for generic papers is
        positive (it shares terms with the profile, or words like its words), contains none
        of the excluded terms, and has a calibrated score of at least `min_score`. A profile of
        keywords only also needs the paper to contain at least one keyword whole; a profile
        with seeds or positives needs it to score above the subscriber's average stored
        paper instead (keywords then weigh in without being required). Ties go to the
        paper stored first. `matrix` is `transform(candidates)`, passed in when several
        interests share it.
        """
        return self.rank_many([interest], candidates, matrix)[0]

    def rank_many(
        self,
        interests: Sequence[Interest] | Profiles,
        candidates: Sequence[Document],
        matrix: sp.csr_matrix | None = None,
        allowed: Mapping[int, Sequence[int]] | None = None,
    ) -> list[list[Pick]]:
        """`rank` for many interests (or their built `profiles`) over the same candidates.

        `allowed` restricts some interests (by position) to some candidates (by position);
        the others may have any. All interests are scored by one sparse product per chunk of
        them; only the picks are explained.
        """
        profiles = interests if isinstance(interests, Profiles) else self.profiles(interests)
        if not candidates or not len(profiles):
            return [[] for _ in range(len(profiles))]
        matrix = self.transform(candidates) if matrix is None else sp.csr_matrix(matrix)
        ids = np.array([doc.id for doc in candidates])
        chosen = self.top(profiles, matrix, ids, allowed, self.meaning(candidates))
        return self._explain(profiles, matrix, ids, chosen)

    def top(
        self,
        profiles: Profiles,
        matrix: sp.csr_matrix,
        ids: np.ndarray,
        allowed: Mapping[int, Sequence[int]] | None = None,
        meaning: np.ndarray | None = None,
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """For each profile, the rows of `matrix` it picks (best first) and their raw scores.

        `ids` are the rows' paper ids: among equal scores the smaller id comes first.
        `meaning` is `meaning(papers)` for the rows, needed when the model has an embedder.
        """
        papers = matrix.shape[0]
        scored = self._scored(matrix, meaning)
        generic = scored.generic
        scorer = _Screen(self._corpus, scored, profiles.direct, profiles.mix)
        present = sp.csr_matrix(matrix.T, dtype=np.float32, copy=True)
        present.data[:] = 1
        # Ranks of the ids as a tiny penalty, so that one partial sort orders equal scores
        # by id; far below any difference between two distinct cosines.
        order = np.empty(papers, dtype=float)
        order[np.argsort(ids, kind="stable")] = np.arange(papers)
        penalty = order * _TIE_STEP
        # The lowest raw score each profile may pick: at least its min_score (calibrated),
        # and above its mean where no keyword is required.
        floor = profiles.mean + profiles.spread * _standard(profiles.min_score)
        floor = np.where(profiles.needs_keyword, floor, np.maximum(floor, profiles.mean))
        restricted: dict[int, list[tuple[int, Sequence[int]]]] = {}
        step = _chunk(papers)
        for profile, rows in (allowed or {}).items():
            restricted.setdefault(profile // step, []).append((profile % step, rows))

        def barred(block: slice) -> np.ndarray | None:
            """Which papers the block's profiles may not pick whatever their scores (None:
            none): those with an excluded term, and those not allowed."""
            shape = (block.stop - block.start, papers)
            out: np.ndarray | None = None
            if profiles.exclude_columns[block].nnz:
                out = _marked(_reached(profiles.exclude_columns[block], present), shape)
            for row, rows in restricted.get(block.start // step, []):
                if out is None:
                    out = np.zeros(shape, dtype=bool)
                mask = np.ones(papers, dtype=bool)
                mask[np.asarray(rows, dtype=int)] = False
                out[row] |= mask
            return out

        def screen(block: slice, scores: np.ndarray, margin: float) -> np.ndarray:
            """Minus infinity in the block's float32 `scores` where its profile may not pick
            the paper or may only on its float64 score; the cells (flat, in order) of the
            latter, the border cases."""
            # And positive before the penalty for generic papers: the paper shares terms with
            # the profile, or words like its words. The penalty orders such papers without
            # dropping them, so a keyword alert still sends every paper that holds a keyword
            # whole (min_score aside).
            wanted = profiles.needs_keyword[block]
            no = barred(block)
            if wanted.all():
                # Only the papers holding a keyword whole, a few per profile: their cells.
                cells = _reached(profiles.keyword_columns[block], present)
                if no is not None:
                    cells = cells[~no.ravel()[cells]]
                return _screen_cells(scores, floor[block], -generic, margin, cells)
            keep = None if no is None else ~no
            if wanted.any():
                hits = _marked(_reached(profiles.keyword_columns[block], present), scores.shape)
                hits |= ~wanted[:, None]
                keep = hits if keep is None else np.logical_and(keep, hits, out=keep)
            return _screen_all(scores, floor[block], -generic, margin, keep)

        def picks(start: int) -> list[tuple[np.ndarray, np.ndarray]]:
            block = slice(start, min(start + step, len(profiles)))
            limits = profiles.max_papers[block]
            take = min(int(limits.max(initial=0)), papers)
            if take == 0:
                return [(np.zeros(0, dtype=int), np.zeros(0))] * (block.stop - block.start)
            parts = profiles.direct[block], profiles.mix[block], profiles.dense[block]
            screened = scorer.screened(*parts)
            margin = scorer.margin(*parts)
            # What a profile may not pick (or may only on its float64 score) leaves the
            # partial sort; the float64 scores of its candidates and of the border cases
            # decide, and its picks carry them.
            border = screen(block, screened.scores, margin)
            rows, columns = _candidates(screened.scores, take, penalty, 2 * margin)
            rows, columns = _with(rows, columns, *np.divmod(border, papers))
            raw = scorer.exact(screened, rows, columns)
            kept = (raw > floor[block][rows]) & (raw > -generic[columns])
            rows, columns, raw = rows[kept], columns[kept], raw[kept]
            order, rank = _in_order(rows, penalty[columns] - raw, block.stop - block.start)
            rows, columns, raw = rows[order], columns[order], raw[order]
            chosen = rank < limits[rows]
            rows, columns, scores = rows[chosen], columns[chosen], raw[chosen]
            bounds = np.searchsorted(rows, np.arange(block.stop - block.start + 1)).tolist()
            return [
                (columns[first:last], scores[first:last])
                for first, last in itertools.pairwise(bounds)
            ]

        blocks = _threaded(picks, range(0, len(profiles), step))
        return [pick for part in blocks for pick in part]

    # --- explanations --------------------------------------------------------------------

    def _explain(
        self,
        profiles: Profiles,
        matrix: sp.csr_matrix,
        ids: np.ndarray,
        chosen: list[tuple[np.ndarray, np.ndarray]],
    ) -> list[list[Pick]]:
        """The picks with their calibrated scores and why: keywords, seed papers, terms."""
        owners = np.repeat(np.arange(len(chosen)), [len(rows) for rows, _ in chosen])
        rows = np.concatenate([rows for rows, _ in chosen]) if chosen else np.zeros(0, int)
        raw = np.concatenate([scores for _, scores in chosen]) if chosen else np.zeros(0)
        if not rows.size:
            return [[] for _ in chosen]
        scores = calibrated((raw - profiles.mean[owners]) / profiles.spread[owners])
        keywords = _Keywords(profiles, np.unique(owners), matrix)
        hiding = _Hiding(self._names, self._vocabulary)
        picks: list[list[Pick]] = [[] for _ in chosen]
        # A few thousand picks at a time: their papers and profiles written out term by term
        # would take gigabytes for a million picks.
        for start in range(0, rows.size, _EXPLAIN_PICKS):
            block = slice(start, start + _EXPLAIN_PICKS)
            papers = matrix[rows[block]]
            # Each profile written out once, however many picks it has.
            distinct, inverse = np.unique(owners[block], return_inverse=True)
            terms = self._terms(self.vectors(profiles, distinct)[inverse], papers, hiding)
            matched = keywords.matched(owners[block], rows[block])
            because = self._seed_reasons(profiles, owners[block], papers)
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
                        because=because[n],
                        terms=terms[n],
                    )
                )
        return picks

    def _seed_reasons(
        self, profiles: Profiles, owners: np.ndarray, papers: sp.csr_matrix
    ) -> list[list[str]]:
        """For each pick (its profile in `owners`, ascending as `_explain` makes them, and its
        paper's row in `papers`), the seed papers most like it: by their cosines with the
        paper blended with its neighbours, as its score measured it."""
        # One product per profile for all its picks: one per pick cost milliseconds each.
        reasons: list[list[str]] = [[] for _ in range(len(owners))]
        if all(profiles.seeds[owner] is None for owner in np.unique(owners).tolist()):
            return reasons
        distinct, first, counts = np.unique(owners, return_index=True, return_counts=True)
        own, near = self._neighbourhoods(papers)
        for owner, start, count in zip(
            distinct.tolist(), first.tolist(), counts.tolist(), strict=True
        ):
            seeds = profiles.seeds[owner]
            if seeds is None:
                continue
            picked = slice(start, start + count)
            similarities = (seeds @ papers[picked].T).toarray() * own[picked]
            neighbours = near[picked]
            if neighbours.nnz:
                similarities += _neighbour_similarities(
                    seeds, self._corpus, sp.csr_matrix(neighbours.T)
                )
            for n in range(count):
                reasons[start + n] = _because(similarities[:, n], profiles.seed_titles[owner])
        return reasons

    def _terms(
        self, vectors: sp.csr_matrix, rows: sp.csr_matrix, hiding: _Hiding
    ) -> list[list[str]]:
        """For each (profile, paper) pair, the terms with the largest share of its score, a
        phrase before its words, at most TERMS_MAX; all pairs in one elementwise product."""
        contribution = sp.csr_matrix(rows.multiply(vectors))
        pairs = contribution.shape[0]
        keep = _top_entries(contribution, 3 * TERMS_MAX)
        owner = np.repeat(np.arange(pairs), np.diff(contribution.indptr))[keep]
        named = contribution.indices[keep]
        shown = np.flatnonzero(hiding.visible(owner, named))
        # The first TERMS_MAX shown of each pair, in order.
        rank = np.arange(shown.size) - np.searchsorted(owner[shown], owner[shown])
        shown = shown[rank < TERMS_MAX]
        # One list sliced per pair: a numpy slice and its tolist per pair cost several times
        # as much at a million picks.
        names = self._names[named[shown]].tolist()
        bounds = np.searchsorted(owner[shown], np.arange(pairs + 1)).tolist()
        return [names[first:last] for first, last in itertools.pairwise(bounds)]


class _Hiding:
    """Which terms a phrase stands for in an explanation: its words and the shorter phrases
    inside it ("graph neural network" hides "graph neural", "network" and "graph").

    Each term is looked at once, however many explanations name it.
    """

    def __init__(self, names: np.ndarray, vocabulary: Mapping[str, int]) -> None:
        self._names = names
        self._vocabulary = vocabulary
        # Term t hides self._inside[self._start[t] : self._start[t] + self._count[t]].
        self._start = np.full(len(names), -1, dtype=np.int64)
        self._count = np.zeros(len(names), dtype=np.int64)
        self._inside = np.zeros(0, dtype=np.int64)

    def _of(self, column: int) -> list[int]:
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
            inside = [self._of(column) for column in new.tolist()]
            counts = np.array([len(c) for c in inside], dtype=np.int64)
            self._start[new] = self._inside.size + np.cumsum(counts) - counts
            self._count[new] = counts
            flat = np.array([c for cs in inside for c in cs], dtype=np.int64)
            self._inside = np.concatenate([self._inside, flat])
        counts = self._count[columns]
        slot = np.repeat(self._start[columns] - np.cumsum(counts) + counts, counts)
        slot += np.arange(slot.size)
        width = len(self._names)
        hidden = np.repeat(owner, counts) * width + self._inside[slot]
        return ~_among(owner * width + columns, np.sort(hidden))


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
        found = (columns >= 0) & _among(rows[pick] * self._width + columns, self._held)
        words = self._words[slot[found]].tolist()
        bounds = np.searchsorted(pick[found], np.arange(owners.size + 1)).tolist()
        return [words[first:last] for first, last in itertools.pairwise(bounds)]


def _because(similarity: np.ndarray, titles: list[str]) -> list[str]:
    """The seed papers most like a paper (by their cosines with it), most similar first."""
    if not similarity.size or similarity.max() <= 0:
        return []
    floor = BECAUSE_SHARE * similarity.max()
    order = np.argsort(-similarity, kind="stable")
    return list(dict.fromkeys(titles[i] for i in order if similarity[i] >= floor))[:BECAUSE_MAX]


def _candidates(
    scores: np.ndarray, take: int, penalty: np.ndarray, slack: float
) -> tuple[np.ndarray, np.ndarray]:
    """The rows and columns, row by row, of the finite scores within `slack` of each row's
    `take` largest keys (`scores - penalty`) or above: every cell whose key is at least its
    row's take-th largest less `slack`, and a few more."""
    count, width = scores.shape
    # A lower bound for each row's cut from the maxima of groups of columns: the take-th
    # largest maximum has `take` scores at or above it. A partial sort of a few maxima per
    # row, then a look inside the groups that reach it, cost far less than a partial sort
    # of every score.
    size = min(_GROUP, max(1, width // max(take, 1)))
    stride = width // size
    split = stride * size
    # Group g holds columns g, g + stride, g + 2 * stride...; each column past `split` is a
    # group of its own.
    maxima = np.empty((count, stride + width - split), dtype=scores.dtype)
    grouped = scores[:, :split].reshape(count, size, stride)
    np.copyto(maxima[:, :stride], grouped[:, 0])
    for part in range(1, size):
        np.maximum(maxima[:, :stride], grouped[:, part], out=maxima[:, :stride])
    maxima[:, stride:] = scores[:, split:]
    groups = maxima.shape[1]
    bound = np.full(count, -np.inf)
    if take < groups:
        bound = np.partition(maxima, groups - take, axis=1)[:, groups - take].astype(float)
    # A key is at most its score, and the take-th largest key at least the bound less the
    # largest penalty; the scores of papers a profile may not pick (minus infinity) never
    # reach it, however low the slack takes it.
    bound = np.maximum(bound - penalty.max(initial=0) - slack, -np.finfo(float).max)
    rows, group = np.divmod(np.flatnonzero(maxima >= bound[:, None]), groups)
    inside = group < stride
    members = np.where(
        inside[:, None],
        group[:, None] + stride * np.arange(size),
        (group + split - stride)[:, None],
    )
    reach = np.take(scores, (rows * width)[:, None] + members) >= bound[rows, None]
    if not inside.all():
        reach &= inside[:, None] | (np.arange(size) == 0)
    return np.broadcast_to(rows[:, None], members.shape)[reach], members[reach]


def _with(
    rows: np.ndarray, columns: np.ndarray, more_rows: np.ndarray, more_columns: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Two lists of cells, each row by row, as one: a row's cells of the first list, then
    its cells of the second."""
    if not more_rows.size:
        return rows, columns
    rows = np.concatenate([rows, more_rows])
    order = np.argsort(rows, kind="stable")
    return rows[order], np.concatenate([columns, more_columns])[order]


def _in_order(rows: np.ndarray, keys: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """The order that sorts entries (their rows ascending, from 0 to `count`) row by row,
    smallest key first, equal keys as they come; and each sorted entry's rank in its row."""
    # Sorted row by row in a (rows x most entries) array: a few keys per row.
    counts = np.bincount(rows, minlength=count)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    rank = np.arange(rows.size) - starts[rows]
    table = np.full((count, int(counts.max(initial=0))), np.inf)
    table[rows, rank] = keys
    order = np.argsort(table, axis=1, kind="stable")
    return (starts[:, None] + order)[order < counts[:, None]], rank


def _screen_all(
    scores: np.ndarray, floor: np.ndarray, least: np.ndarray, margin: float, keep: np.ndarray | None
) -> np.ndarray:
    """Minus infinity in a block of float32 `scores` (each within `margin` of its float64
    one) but where `keep` (None: everywhere) and the float64 score is surely above its
    row's `floor` and its column's `least`; the cells (flat, in order) of `keep` where it
    may be, not surely."""
    least_high, least_low = _thresholds(least, margin)
    sure, may = scores > least_high, scores > least_low
    floor_high, floor_low = _thresholds(floor, margin)
    # Where every score clears every floor (a keyword profile's, mostly), the floor decides
    # nothing.
    if scores.min(initial=np.inf) <= floor_high.max(initial=-np.inf):
        sure &= scores > floor_high[:, None]
        may &= scores > floor_low[:, None]
    if keep is not None:
        sure &= keep
        may &= keep
    _keep(scores, sure)
    return np.flatnonzero(np.greater(may, sure, out=may))


def _screen_cells(
    scores: np.ndarray, floor: np.ndarray, least: np.ndarray, margin: float, cells: np.ndarray
) -> np.ndarray:
    """`_screen_all` where only `cells` (flat, some twice) may be kept: the few cells'
    scores compared, instead of the block's."""
    values = scores.ravel()[cells]
    least_high, least_low = _thresholds(least, margin)
    columns = cells % scores.shape[1]
    sure, may = values > least_high[columns], values > least_low[columns]
    floor_high, floor_low = _thresholds(floor, margin)
    if values.min(initial=np.inf) <= floor_high.max(initial=-np.inf):
        rows = cells // scores.shape[1]
        sure &= values > floor_high[rows]
        may &= values > floor_low[rows]
    scores.fill(-np.inf)
    scores.ravel()[cells[sure]] = values[sure]
    return np.unique(cells[may > sure])


def _thresholds(values: np.ndarray, margin: float) -> tuple[np.ndarray, np.ndarray]:
    """The float32 thresholds for float32 scores within `margin` of their float64 ones: a
    score above the first has its float64 score surely above the value, one at or below the
    second surely not."""
    return _float32_above(values + margin), _float32_below(values - margin)


def _keep(scores: np.ndarray, keep: np.ndarray) -> None:
    """Minus infinity in `scores` (float32) where not `keep`."""
    # A minimum with plus or minus infinity costs the same whatever the mask, where
    # np.putmask slows down several times on a mask of mixed values.
    cap = keep.astype(np.float32)
    cap -= 0.5
    cap *= np.inf
    np.minimum(scores, cap, out=scores)


def _reached(selection: sp.csr_matrix, holders: sp.csr_matrix) -> np.ndarray:
    """The cells (flat, row by row, some twice) where `(selection @ holders) > 0` for
    nonnegative matrices: some term a row selects has an entry for the column.

    The cells are written out, without the sparse product's two passes and sums.
    """
    positive = selection.data > 0
    rows = np.repeat(np.arange(selection.shape[0], dtype=np.int64), np.diff(selection.indptr))
    rows, terms = rows[positive], selection.indices[positive]
    lengths = np.diff(holders.indptr)[terms]
    entries = _spans(holders.indptr[terms], lengths)
    cells = np.repeat(rows * holders.shape[1], lengths) + holders.indices[entries]
    return cells[holders.data[entries] > 0]


def _marked(cells: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A boolean array of `shape`, true at the `cells` (flat)."""
    marked = np.zeros(shape, dtype=bool)
    marked.ravel()[cells] = True
    return marked


def _spans(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The positions from each of `starts` on, `lengths` of them, one span after another."""
    ends = np.cumsum(lengths)
    positions = np.repeat(starts + lengths - ends, lengths)
    positions += np.arange(positions.size)
    return positions


def _neighbour_similarities(
    vectors: sp.csr_matrix, corpus: sp.csr_matrix, neighbours: sp.csr_matrix
) -> np.ndarray:
    """The neighbours' part of TF-IDF `vectors`' dot products with blended papers (rows x
    papers): their similarities with the stored papers that are neighbours, by the shares
    in `neighbours` (stored papers x papers)."""
    stored = np.flatnonzero(np.diff(neighbours.indptr))
    similar = vectors @ corpus[stored].T
    return np.asarray((similar @ neighbours[stored]).toarray())


def _ramp(values: np.ndarray, bounds: tuple[int, int]) -> np.ndarray:
    """0 up to the first bound, 1 from the second, linear in between."""
    low, high = bounds
    return np.clip((values - low) / (high - low), 0.0, 1.0)


def _row_key(matrix: sp.csr_matrix, row: int) -> bytes:
    """A digest of a sparse row's terms and weights: equal rows, equal digests."""
    span = slice(matrix.indptr[row], matrix.indptr[row + 1])
    digest = hashlib.blake2b(digest_size=16)
    digest.update(np.ascontiguousarray(matrix.indices[span], dtype=np.int64).tobytes())
    digest.update(np.ascontiguousarray(matrix.data[span], dtype=np.float64).tobytes())
    return digest.digest()


def _lengths(matrix: sp.csr_matrix) -> np.ndarray:
    """The rows' Euclidean lengths."""
    return np.sqrt(_row_sums(matrix.shape[0], matrix.indptr, matrix.data**2))


def _row_sums(count: int, indptr: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The sums of a sparse matrix's `values` (in the order of its data) by row."""
    # From the raw arrays: scipy's own sums may put a matrix's entries in order in place,
    # and its data may be shared with a matrix that keeps its entries' order.
    rows = np.repeat(np.arange(count), np.diff(indptr))
    return np.bincount(rows, weights=values, minlength=count)


def _float32_above(values: np.ndarray) -> np.ndarray:
    """The smallest float32 at or above each value."""
    rounded = values.astype(np.float32)
    return np.where(rounded < values, np.nextafter(rounded, np.float32(np.inf)), rounded)


def _float32_below(values: np.ndarray) -> np.ndarray:
    """The largest float32 at or below each value."""
    rounded = values.astype(np.float32)
    return np.where(rounded > values, np.nextafter(rounded, np.float32(-np.inf)), rounded)


def _pair_sums(
    local: sp.csr_matrix, table: np.ndarray, rows: np.ndarray, columns: np.ndarray
) -> np.ndarray:
    """For each pair, row `rows[n]` of `local` times column `columns[n]` of `table`, its
    products added one by one from zero in the row's order, as `local @ table` adds them."""
    lengths = np.diff(local.indptr)[rows]
    entries = _spans(local.indptr[rows], lengths)
    terms = local.indices[entries]
    cells = terms.astype(np.int64) * table.shape[1] + np.repeat(columns, lengths)
    products = local.data[entries] * table.ravel()[cells]
    # scipy's product of a sparse matrix and a vector adds each row's entries in order,
    # as its product with a dense matrix does; times ones, each entry is its product.
    summed = sp.csr_matrix(
        (products, terms, np.concatenate(([0], np.cumsum(lengths)))),
        shape=(rows.size, table.shape[0]),
    )
    return summed @ np.ones(table.shape[0])


def _top_entries(matrix: sp.csr_matrix, most: int) -> np.ndarray:
    """Positions in `matrix.data` of each row's `most` largest entries (all positive), row
    by row, largest first."""
    lengths = np.diff(matrix.indptr)
    if not matrix.nnz:
        return np.zeros(0, dtype=int)
    owner = np.repeat(np.arange(matrix.shape[0]), lengths)
    # One sort on row + (1 - share of the largest entry) orders rows, then entries within a
    # row largest first; much faster than a lexsort on the two keys.
    order = np.argsort(owner - matrix.data / (matrix.data.max() * (1 + 1e-9)), kind="stable")
    rank = np.arange(order.size) - np.repeat(matrix.indptr[:-1], lengths)
    return order[rank < most]


def _weighted_papers(interest: Interest) -> list[tuple[Document, float]]:
    """The interest's seeds (weight 1) and its positives of positive weight."""
    return [(doc, 1.0) for doc in interest.seeds] + [
        (doc, weight) for doc, weight in interest.positives if weight > 0
    ]


def _ownership(
    entries: Sequence[tuple[int, _T, float]], count: int, dtype: type[np.floating]
) -> tuple[list[_T], sp.csr_matrix]:
    """The distinct items of (owner, item, weight) entries, first seen first, and the
    (`count` owners x items) matrix of their weights."""
    distinct = list(dict.fromkeys(item for _, item, _ in entries))
    position = {item: n for n, item in enumerate(distinct)}
    owner = sp.csr_matrix(
        (
            np.array([weight for _, _, weight in entries], dtype=dtype),
            ([n for n, _, _ in entries], [position[item] for _, item, _ in entries]),
        ),
        shape=(count, len(distinct)),
    )
    return distinct, owner


def _text(doc: Document) -> str:
    """A paper's text as its meaning is read from: the title, then the abstract."""
    return f"{doc.title}. {doc.abstract}" if doc.abstract else doc.title


def _unit_without(sums: np.ndarray, common: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length, their part along the unit vector `common` removed, unit
    length again (a zero row stays zero)."""
    unit = normalize(np.asarray(sums, dtype=np.float32))
    unit -= np.outer(unit @ common, common)
    return normalize(unit)


def _among(values: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Which `values` are among `keys` (sorted integers): a binary search, many times faster
    than numpy's isin on these sizes."""
    found = np.searchsorted(keys, values)
    return keys[np.minimum(found, keys.size - 1)] == values if keys.size else found < 0


def _indicator(columns: list[list[int]], width: int) -> sp.csr_matrix:
    """A 0/1 matrix with one row per list, 1 at the list's columns."""
    rows = np.repeat(np.arange(len(columns)), [len(c) for c in columns])
    flat = np.array([c for cs in columns for c in cs], dtype=int)
    matrix = sp.csr_matrix(
        (np.ones(flat.size, dtype=np.float32), (rows, flat)), shape=(len(columns), width)
    )
    matrix.data[:] = 1  # a column listed twice is still one
    return matrix


def _threaded(work: Callable[[int], _T], starts: range) -> list[_T]:
    """`work(start)` for each of `starts`, in order, in a pool of threads: scipy's sparse
    products and numpy's array work release the GIL, so blocks run on every core at once."""
    if len(starts) < 2 or _THREADS < 2:
        return [work(start) for start in starts]
    with ThreadPoolExecutor(_THREADS) as pool:
        return list(pool.map(work, starts))


def _chunk(rows: int) -> int:
    """How many profiles to score at once against `rows` papers: a dense block of at most
    _BLOCK_CELLS scores bounds the memory whatever the number of subscribers."""
    return max(1, _BLOCK_CELLS // max(rows, 1))
