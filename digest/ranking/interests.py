"""Profiles: what a subscriber is interested in, as the vectors that score papers.

A profile is built from these sources, each a TF-IDF vector in the same space:

- keywords: the sum of the keywords' vectors (by weight), leaning towards the stored papers
  that match them best (pseudo-relevance feedback) when there are no seeds;
- seeds: papers the subscriber chose (title and abstract, or a title alone);
- liked: papers the reader marked "more like this", which join the seeds;
- positives: papers from the subscriber's history, each with a weight;
- disliked: papers the reader marked "less like this", a negative part.

The papers' part and the keywords' part are weighed against each other, the sum made unit
length and expanded when short (`digest.ranking.expansion`); the disliked papers' part is
then taken from it. Its dense vector, meaning and calibration follow from that one vector.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from sklearn.preprocessing import normalize

from digest.ranking.analyzer import Document
from digest.ranking.arrays import chunk, indicator, ownership
from digest.ranking.calibration import Calibration
from digest.ranking.dense import DenseSpace, TermVectors
from digest.ranking.expansion import expanded
from digest.ranking.meaning import Meaning, joined
from digest.ranking.vocabulary import Corpus, Mixed

# The weight of the keyword part of a profile against its papers' part when it has both and
# seeds: seed papers say more than a few words, and keywords refine them.
KEYWORD_SHARE_WITH_SEEDS = 0.3
# How much a keyword profile leans towards the papers the subscriber was sent before (weak
# positives): a nudge, so that history never outweighs what the keywords ask for.
HISTORY_SHARE = 0.2
# Pseudo-relevance feedback: a keyword profile also leans towards the mean of the
# PSEUDO_FEEDBACK_PAPERS stored papers it matches best, at PSEUDO_FEEDBACK_WEIGHT of the
# keywords' own vector: a few words name a topic, the papers that match them speak its
# vocabulary.
PSEUDO_FEEDBACK_PAPERS = 5
PSEUDO_FEEDBACK_WEIGHT = 0.5
# A liked paper weighs as much as a seed: the reader chose it as they chose their seeds.
LIKED_WEIGHT = 1.0
# The disliked papers' unit centroid is taken from the unit profile at this weight: "less
# like this" often means "not today" or "not this one" rather than "not this topic", so it
# pushes the profile away from them without undoing the topic that brought them.
DISLIKED_WEIGHT = 0.25


@dataclass(frozen=True)
class Interest:
    """A subscriber's profile as the model sees it.

    `seeds` are papers the subscriber named, each of weight 1 unless `seed_weights` gives
    one weight per seed (a reference library's older papers weigh less); `liked` are papers
    they marked "more like this", which count as seeds; `disliked` those they marked "less
    like this", which the profile is pushed away from; `positives` are papers from their
    history with a weight each (for example 0.3 for a paper sent and not voted on). Any may
    be empty, and so may `keywords` when there are papers.
    """

    keywords: dict[str, float]
    exclude: Sequence[str] = ()
    max_papers: int = 10
    min_score: float = 0.0
    seeds: Sequence[Document] = ()
    positives: Sequence[tuple[Document, float]] = ()
    liked: Sequence[Document] = ()
    disliked: Sequence[Document] = ()
    seed_weights: Sequence[float] = ()

    def __post_init__(self) -> None:
        if self.seed_weights and len(self.seed_weights) != len(self.seeds):
            raise ValueError(f"{len(self.seed_weights)} seed weights for {len(self.seeds)} seeds")


@dataclass(frozen=True)
class Profiles:
    """Interests turned into matrices, one row per interest: what scoring and explaining need.

    Built once by `ProfileBuilder.build` and valid for that model (and corpus): a deployment
    can keep it between runs while neither profiles nor the corpus change.
    """

    # Each profile's unit vector is `direct + mix @ corpus`: its own terms (keywords, papers
    # not stored) plus a weighted sum of stored papers (seeds, history, the keywords' best
    # matches), which is scored through the papers' similarities instead of hundreds of
    # terms per profile.
    direct: sp.csr_matrix  # interests x terms
    mix: sp.csr_matrix  # interests x stored papers
    dense: np.ndarray  # interests x dense dimensions: see `DenseSpace.profiles`
    mean: np.ndarray  # each profile's mean raw score over the reference papers
    spread: np.ndarray  # and their standard deviation (at least MIN_SPREAD)
    keyword_columns: sp.csr_matrix  # interests x terms: 1 at each keyword's whole match
    exclude_columns: sp.csr_matrix  # interests x terms: 1 at each excluded term's feature
    needs_keyword: np.ndarray  # keywords only: a pick must contain one whole
    min_score: np.ndarray
    max_papers: np.ndarray
    keywords: list[list[str]]  # each profile's keywords, heaviest first
    keyword_features: list[list[int | None]]  # and each one's whole-match column
    seeds: list[sp.csr_matrix | None]  # the seed papers' unit vectors, one row each
    seed_titles: list[list[str]]
    liked: list[sp.csr_matrix | None]  # the liked papers' unit vectors, one row each
    liked_titles: list[list[str]]

    def __len__(self) -> int:
        return int(self.direct.shape[0])

    def vectors(self, rows: np.ndarray | slice) -> Mixed:
        """The unit vectors of the profiles at `rows`."""
        return Mixed(self.direct[rows], self.mix[rows])


class ProfileBuilder:
    """Builds `Profiles` over one fitted corpus, for many interests at once.

    The cost is a few sparse products for all interests together, never a loop over the
    corpus per interest: keyword vectors are analyzed once per distinct keyword, stored
    papers (seeds, positives) are read from the corpus matrix, pseudo-relevance feedback and
    calibration are chunked products with the corpus, expansion with the term vectors.
    """

    def __init__(
        self,
        corpus: Corpus,
        terms: TermVectors,
        dense: DenseSpace,
        calibration: Calibration,
        meaning: Meaning | None,
    ) -> None:
        self._corpus = corpus
        self._terms = terms
        self._dense = dense
        self._calibration = calibration
        self._meaning = meaning

    def build(self, interests: Sequence[Interest]) -> Profiles:
        """Every interest as one vector of unit length (keywords with their best matches,
        seeds, liked papers and positives, then related title words, less the disliked
        papers), and what scoring needs besides."""
        corpus = self._corpus
        # Only papers the subscriber chose (seeds, liked papers) open picks beyond their
        # keywords and turn pseudo-relevance feedback off; papers merely sent before do not.
        chosen = np.array([bool(i.seeds or i.liked) for i in interests], dtype=bool)
        papers, analyzed = self._papers(interests, _weighted_papers)
        paper_part = papers.unit(corpus)
        keyword_part = self._keyword_parts(interests, pseudo_feedback=~chosen)
        has_paper = paper_part.nonzero_rows()
        has_keyword = keyword_part.nonzero_rows()
        # With chosen papers the papers lead and keywords steer; without, the subscriber's
        # history only nudges what their keywords ask for.
        paper_weight = np.where(chosen | ~has_keyword, 1.0, HISTORY_SHARE)
        keyword_weight = np.where(chosen & has_paper, KEYWORD_SHARE_WITH_SEEDS, 1.0)
        summed = paper_part.scaled(paper_weight) + keyword_part.scaled(keyword_weight)
        vectors = expanded(corpus, self._terms, summed.unit(corpus))
        # After expansion, which widens what the reader asked for, not what they refused.
        vectors = self._less_disliked(interests, vectors)
        # After expansion: a profile's mean and spread are those of the vector it scores with.
        dense = self._dense.profiles(vectors)
        meaning = None
        if self._meaning is not None:
            dense = self._with_meaning(interests, vectors, dense, paper_weight, keyword_weight)
            meaning = self._meaning.stored(self._calibration.rows)
        mean, spread = self._calibration.moments(vectors, dense, meaning)
        keywords = [_heaviest_first(interest.keywords) for interest in interests]
        features = [[corpus.column(k) for k in ordered] for ordered in keywords]
        whole = [[c for c in columns if c is not None] for columns in features]
        excluded = [
            [c for t in i.exclude if (c := corpus.column(t)) is not None] for i in interests
        ]
        return Profiles(
            direct=vectors.direct,
            mix=vectors.mix,
            dense=dense,
            mean=mean,
            spread=spread,
            keyword_columns=indicator(whole, corpus.width),
            exclude_columns=indicator(excluded, corpus.width),
            needs_keyword=~chosen,
            min_score=np.array([i.min_score for i in interests], dtype=float),
            max_papers=np.array([max(i.max_papers, 0) for i in interests], dtype=int),
            keywords=keywords,
            keyword_features=features,
            seeds=[_seed_rows(corpus, i.seeds, *analyzed) if i.seeds else None for i in interests],
            seed_titles=[[doc.title for doc in i.seeds] for i in interests],
            liked=[_seed_rows(corpus, i.liked, *analyzed) if i.liked else None for i in interests],
            liked_titles=[[doc.title for doc in i.liked] for i in interests],
        )

    def _papers(
        self,
        interests: Sequence[Interest],
        weighted: Callable[[Interest], list[tuple[Document, float]]],
    ) -> tuple[Mixed, tuple[sp.csr_matrix, dict[Document, int]]]:
        """Each interest's `weighted` papers summed by weight (zero rows where none), and
        the papers not stored, analyzed: their rows, and each one's position among them."""
        corpus = self._corpus
        # (profile, corpus row, weight) for stored papers, (profile, paper, weight) for others.
        stored: list[tuple[int, int, float]] = []
        fresh: list[tuple[int, Document, float]] = []
        for number, interest in enumerate(interests):
            for doc, weight in weighted(interest):
                row = corpus.stored_row(doc)
                if row is None:
                    fresh.append((number, doc, weight))
                else:
                    stored.append((number, row, weight))
        count = len(interests)
        owners, rows, weights = zip(*stored, strict=True) if stored else ((), (), ())
        mix = sp.csr_matrix((weights, (owners, rows)), shape=(count, len(corpus)))
        direct = sp.csr_matrix((count, corpus.width))
        analyzed = sp.csr_matrix((0, corpus.width))
        position: dict[Document, int] = {}
        if fresh:
            # Each distinct paper not stored is analyzed once, however many profiles hold it,
            # and its row serves the explanations too: a library's seeds are hundreds.
            distinct, owner = ownership(fresh, count, np.float64)
            analyzed = corpus.transform(distinct)
            position = {doc: n for n, doc in enumerate(distinct)}
            direct = sp.csr_matrix(owner @ analyzed)
        return Mixed(direct, mix), (analyzed, position)

    def _less_disliked(self, interests: Sequence[Interest], vectors: Mixed) -> Mixed:
        """The unit `vectors` less DISLIKED_WEIGHT times the unit centroid of each
        interest's disliked papers, unit length again."""
        if not any(interest.disliked for interest in interests):
            return vectors
        disliked, _ = self._papers(interests, _disliked_papers)
        centroid = disliked.unit(self._corpus)
        # A profile of dislikes alone asks for nothing: it stays empty, and picks nothing.
        weight = np.where(vectors.nonzero_rows(), -DISLIKED_WEIGHT, 0.0)
        return (vectors + centroid.scaled(weight)).unit(self._corpus)

    def _keyword_parts(self, interests: Sequence[Interest], pseudo_feedback: np.ndarray) -> Mixed:
        """The keyword part of each profile (zero rows where none): the keywords' vectors
        summed by weight, unit length; where `pseudo_feedback`, leaning towards the stored
        papers that match them best."""
        corpus = self._corpus
        count = len(interests)
        features: dict[str, int] = {}
        owners: list[int] = []
        columns: list[int] = []
        weights: list[float] = []
        for number, interest in enumerate(interests):
            for term, weight in interest.keywords.items():
                feature = corpus.keyword_feature(term)
                if feature is None:
                    continue
                owners.append(number)
                columns.append(features.setdefault(feature, len(features)))
                weights.append(weight)
        nothing = Mixed.empty(count, corpus)
        if not features:
            return nothing
        vectors = corpus.feature_vectors(list(features))
        owner = sp.csr_matrix((weights, (owners, columns)), shape=(count, len(features)))
        summed = Mixed(sp.csr_matrix(normalize(owner @ vectors)), nothing.mix)
        wanted = np.flatnonzero(pseudo_feedback & summed.nonzero_rows())
        if not (PSEUDO_FEEDBACK_PAPERS and PSEUDO_FEEDBACK_WEIGHT) or not wanted.size:
            return summed
        # The mean of the best stored papers joins the profile as papers.
        place = sp.csr_matrix(
            (np.ones(wanted.size), (wanted, np.arange(wanted.size))), shape=(count, wanted.size)
        )
        selection = place @ self._best_matches(summed.direct[wanted])
        leaning = Mixed(nothing.direct, sp.csr_matrix(selection)).unit(corpus)
        return (summed + leaning.scaled(np.full(count, PSEUDO_FEEDBACK_WEIGHT))).unit(corpus)

    def _best_matches(self, vectors: sp.csr_matrix) -> sp.csr_matrix:
        """For each row, the PSEUDO_FEEDBACK_PAPERS stored papers it matches best (among those
        it matches at all), as weights of their mean (rows x stored papers)."""
        papers = len(self._corpus)
        take = min(PSEUDO_FEEDBACK_PAPERS, papers)
        means: list[sp.csr_matrix] = []
        for start in range(0, vectors.shape[0], chunk(papers)):
            block = vectors[start : start + chunk(papers)]
            scores = (block @ self._corpus.matrix_t).toarray()
            best = np.argpartition(-scores, take - 1, axis=1)[:, :take]
            found = np.take_along_axis(scores, best, axis=1) > 0
            counts = np.maximum(found.sum(axis=1, keepdims=True), 1)
            owners = np.broadcast_to(np.arange(block.shape[0])[:, None], best.shape)
            means.append(
                sp.csr_matrix(
                    ((found / counts).ravel(), (owners.ravel(), best.ravel())),
                    shape=(block.shape[0], papers),
                )
            )
        return sp.csr_matrix(sp.vstack(means))

    def _with_meaning(
        self,
        interests: Sequence[Interest],
        vectors: Mixed,
        dense: np.ndarray,
        paper_weight: np.ndarray,
        keyword_weight: np.ndarray,
    ) -> np.ndarray:
        """The profiles' dense vectors with their meaning vectors appended (see `joined`)."""
        assert self._meaning is not None
        papers = [
            (number, doc, weight)
            for number, interest in enumerate(interests)
            for doc, weight in _weighted_papers(interest)
        ]
        keywords = [
            (number, term, weight)
            for number, interest in enumerate(interests)
            for term, weight in interest.keywords.items()
            if weight > 0
        ]
        disliked = [
            (number, doc, weight)
            for number, interest in enumerate(interests)
            for doc, weight in _disliked_papers(interest)
        ]
        meaning = self._meaning.profiles(
            papers, keywords, paper_weight, keyword_weight, disliked, DISLIKED_WEIGHT
        )
        _, spread = self._calibration.moments(vectors, dense)
        terms = vectors.rowwise(self._corpus, _term_counts)
        reference = self._meaning.stored(self._calibration.rows)
        return joined(dense, meaning, reference, spread, terms)


def _weighted_papers(interest: Interest) -> list[tuple[Document, float]]:
    """The papers a profile is made of, each with its weight: its seeds (1, or their own
    weights), its liked papers (LIKED_WEIGHT) and its positives of positive weight."""
    weights = interest.seed_weights or [1.0] * len(interest.seeds)
    return (
        list(zip(interest.seeds, weights, strict=True))
        + [(doc, LIKED_WEIGHT) for doc in interest.liked]
        + [(doc, weight) for doc, weight in interest.positives if weight > 0]
    )


def _disliked_papers(interest: Interest) -> list[tuple[Document, float]]:
    """The papers a profile is pushed away from, each weighing the same."""
    return [(doc, 1.0) for doc in interest.disliked]


def _seed_rows(
    corpus: Corpus,
    seeds: Sequence[Document],
    analyzed: sp.csr_matrix,
    position: dict[Document, int],
) -> sp.csr_matrix:
    """The papers' unit vectors (seeds, or liked papers), one row each: a stored paper's row
    of the corpus, another's row of `analyzed` (at its `position`), the papers the profile
    analyzed already."""
    known, rows, others = corpus.split(seeds)
    parts = [corpus.matrix[rows], analyzed[[position[seeds[n]] for n in others]]]
    order = np.empty(len(seeds), dtype=int)
    order[known + others] = np.arange(len(seeds))
    return sp.csr_matrix(sp.vstack(parts)[order])


def _heaviest_first(keywords: dict[str, float]) -> list[str]:
    """The keywords by weight, heaviest first (equal weights as listed)."""
    return sorted(keywords, key=lambda keyword: -keywords[keyword])


def _term_counts(rows: sp.csr_matrix) -> np.ndarray:
    """How many terms each row holds."""
    return np.diff(rows.indptr)
