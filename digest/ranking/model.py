"""`InterestModel`: the interest model's parts fitted on the stored papers, behind one face.

Fitting makes every part once, and none changes afterwards: the corpus' TF-IDF
(`vocabulary`), its term vectors and dense space (`dense`), the neighbourhoods
(`neighbours`), the reference papers (`calibration`) and, with an embedder, the meaning
(`meaning`). Profiles are built from interests (`interests`), scored (`scoring`, `topk`) and
their picks explained (`explain`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import scipy.sparse as sp

from digest.embeddings import Embedder
from digest.ranking.analyzer import Document
from digest.ranking.calibration import Calibration
from digest.ranking.dense import DenseSpace, TermVectors
from digest.ranking.explain import Pick, explain
from digest.ranking.interests import Interest, ProfileBuilder, Profiles
from digest.ranking.meaning import Meaning
from digest.ranking.neighbours import Neighbourhoods
from digest.ranking.scoring import Papers, ScoredPapers, raw_scores
from digest.ranking.topk import Picked, top
from digest.ranking.vocabulary import Corpus


class InterestModel:
    """TF-IDF over the corpus (title weighted, unigrams, bigrams and the profiles' phrases),
    with dense, neighbourhood and meaning parts; profiles, scores and explained picks."""

    def __init__(
        self,
        corpus: Sequence[Document],
        terms: Iterable[str],
        embedder: Embedder | None = None,
    ) -> None:
        """Learn term weights from `corpus`; `terms` are the profiles' keywords and exclusions.

        With an `embedder`, scores also weigh the papers' meaning (see `meaning`); the
        stored papers are embedded when first needed, once each.
        Raises ValueError for an empty corpus: there is nothing to weigh terms by.
        """
        self.corpus = Corpus.fit(corpus, terms)
        self.term_vectors = TermVectors.fit(self.corpus)
        self.dense = DenseSpace.fit(self.corpus, self.term_vectors)
        self.neighbourhoods = Neighbourhoods(self.corpus)
        self.papers = Papers(self.corpus, self.dense, self.neighbourhoods)
        self.calibration = Calibration(self.corpus, self.papers)
        self._meaning = Meaning(embedder, self.corpus) if embedder is not None else None
        self._profiles = ProfileBuilder(
            self.corpus, self.term_vectors, self.dense, self.calibration, self._meaning
        )

    @property
    def corpus_matrix(self) -> sp.csr_matrix:
        """`transform(corpus)`, in corpus order, without analyzing the corpus again."""
        return self.corpus.matrix

    def transform(self, docs: Sequence[Document]) -> sp.csr_matrix:
        """Rows of L2-normalized TF-IDF vectors, one per document."""
        return self.corpus.transform(docs)

    def keyword_feature(self, term: str) -> str | None:
        """The feature that says `term` occurs whole (see `Corpus.keyword_feature`)."""
        return self.corpus.keyword_feature(term)

    def embedding(self, matrix: sp.csr_matrix) -> np.ndarray:
        """The dense vectors of TF-IDF rows (`transform`'s papers), one unit row each."""
        return self.dense.embedding(matrix)

    def generic(self, matrix: sp.csr_matrix) -> np.ndarray:
        """What each of the TF-IDF rows loses from its raw score as a generic paper."""
        return self.papers.generic(matrix)

    def meaning(self, docs: Sequence[Document]) -> np.ndarray | None:
        """The papers' unit meaning vectors (stored papers' embedded once), or None without
        an embedder."""
        return None if self._meaning is None else self._meaning.papers(docs)

    def scored(self, matrix: sp.csr_matrix, meaning: np.ndarray | None = None) -> ScoredPapers:
        """The TF-IDF rows (`transform`'s papers) as raw scores see them: each paper's
        vectors and penalty blended with its neighbours', then its meaning if any.

        Raises ValueError for a model with an embedder and no `meaning`.
        """
        if self._meaning is None:
            return self.papers.scored(matrix)
        if meaning is None:
            raise ValueError("a model with an embedder needs the papers' meaning vectors")
        return self.papers.scored(matrix).with_meaning(meaning)

    def profiles(self, interests: Sequence[Interest]) -> Profiles:
        """Every interest as one unit vector and what scoring needs besides (see
        `ProfileBuilder.build`), built for all of them at once."""
        return self._profiles.build(interests)

    def profile_vector(self, interest: Interest) -> sp.csr_matrix:
        """The profile as one unit vector: keywords (with their best matches), seeds and positives,
        expanded with related title words when it is short."""
        return self.vectors(self.profiles([interest]), np.zeros(1, dtype=int))

    def vectors(self, profiles: Profiles, rows: np.ndarray) -> sp.csr_matrix:
        """The unit vectors of the profiles at `rows`, term by term (interests x terms)."""
        return profiles.vectors(rows).explicit(self.corpus)

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
        return np.asarray((raw.ravel() - profiles.mean[0]) / profiles.spread[0])

    def raw_scores(
        self, profiles: Profiles, matrix: sp.csr_matrix, meaning: np.ndarray | None = None
    ) -> np.ndarray:
        """The float64 raw scores of every profile against every row of `matrix`, at once.

        One dense (profiles x rows) array: for a few profiles; `top` scores many in blocks.
        `meaning` is `meaning(papers)` for the rows, needed when the model has an embedder.
        """
        papers = self.scored(matrix, meaning)
        return raw_scores(papers, profiles.direct, profiles.mix, profiles.dense)

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
        return explain(self.corpus, self.neighbourhoods, profiles, matrix, ids, chosen, candidates)

    def top(
        self,
        profiles: Profiles,
        matrix: sp.csr_matrix,
        ids: np.ndarray,
        allowed: Mapping[int, Sequence[int]] | None = None,
        meaning: np.ndarray | None = None,
    ) -> list[Picked]:
        """For each profile, the rows of `matrix` it picks (best first) and their raw scores.

        `ids` are the rows' paper ids: among equal scores the smaller id comes first.
        `meaning` is `meaning(papers)` for the rows, needed when the model has an embedder.
        """
        return top(profiles, self.scored(matrix, meaning), matrix, ids, allowed)
