"""Dense vectors of words and papers, learnt from the stored papers alone.

Term vectors: each title word used in at least TERM_MIN_DF titles gets a TERM_DIM-wide vector
from the SVD of its positive PMI co-occurrence within titles (`TermVectors`). A paper's (or a
profile's) dense vector is its words' vectors averaged by TF-IDF weight times smooth inverse
frequency, without the corpus' common direction (Arora et al. 2017; `DenseSpace`): its
cosine meets papers that say the same thing in other words.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from sklearn.decomposition import TruncatedSVD
from sklearn.preprocessing import normalize

from digest.ranking.analyzer import words
from digest.ranking.arrays import unit_without
from digest.ranking.vocabulary import Corpus, Mixed

# Titles only: counted within abstracts, the associations blurred the long profiles of
# abstracts. Context distribution smoothing (TERM_CDS) keeps rare contexts from dominating.
TERM_DIM = 100
TERM_MIN_DF = 2
TERM_CDS = 0.75
# Each word's weight in an average is its TF-IDF weight times SIF_SMOOTHING / (SIF_SMOOTHING
# + the share of stored papers holding it): the common words, which every paper has, say
# least about what a paper is about.
SIF_SMOOTHING = 1e-3
# A profile's dense vector joins its score at this length against the unit TF-IDF vector:
# small, so that the sparse score still leads and the dense part breaks its near-ties.
DENSE_WEIGHT = 0.1
# The dense part needs at least this many words with a term vector: with fewer, the SVD keeps
# (nearly) every dimension of their co-occurrences, and the vectors are what a handful of
# titles happened to pair, not learnt likeness.
DENSE_MIN_WORDS = 2 * TERM_DIM


@dataclass(frozen=True)
class TermVectors:
    """The title words that have a term vector (their corpus columns) and the vectors, one
    unit float32 row each; none when the titles say too little."""

    columns: np.ndarray
    vectors: np.ndarray

    @classmethod
    def fit(cls, corpus: Corpus) -> TermVectors:
        """Each word's row of U * sqrt(S) from a truncated SVD of the positive PMI between
        title words (binary: does a title hold both), with the words' title frequencies as
        marginals and the context's smoothed to the power TERM_CDS."""
        empty = cls(np.zeros(0, dtype=int), np.zeros((0, TERM_DIM), dtype=np.float32))
        owners: list[int] = []
        columns: list[int] = []
        for row, doc in enumerate(corpus.documents):
            found = {c for w in words(doc.title) if (c := corpus.vocabulary.get(w)) is not None}
            columns.extend(found)
            owners.extend([row] * len(found))
        if not columns:
            return empty
        titles = sp.csr_matrix(
            (np.ones(len(columns)), (owners, columns)), shape=(len(corpus), corpus.width)
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
        return cls(kept, normalize(scaled).astype(np.float32))


@dataclass(frozen=True)
class DenseSpace:
    """The words of the dense part (corpus columns), their vectors times their smooth
    inverse frequency, the corpus' common direction, and the stored papers' sums and unit
    dense vectors; no words under DENSE_MIN_WORDS words with a term vector."""

    columns: np.ndarray
    sif: np.ndarray  # words x dimensions, float32
    common: np.ndarray
    stored_sums: np.ndarray  # stored papers x dimensions: weighted sums, not normalized
    stored: np.ndarray  # stored papers x dimensions: unit dense vectors

    @classmethod
    def fit(cls, corpus: Corpus, terms: TermVectors) -> DenseSpace:
        """The words are the title words with a term vector, then every other word used in
        at least TERM_MIN_DF stored papers (abstracts' words, mostly), whose vector is the
        mean of the dense vectors of the papers holding it.

        One product brings in the abstracts' vocabulary, where their PPMI would need an SVD
        of a far larger co-occurrence matrix (up to half a minute for a few thousand
        abstracts, for no better ranking).
        """
        columns, sif, common = _weighted_words(corpus, terms)
        stored_sums = np.asarray(corpus.matrix[:, columns] @ sif, dtype=np.float32)
        return cls(columns, sif, common, stored_sums, unit_without(stored_sums, common))

    @property
    def width(self) -> int:
        """How many dimensions."""
        return int(self.sif.shape[1])

    def embedding(self, matrix: sp.csr_matrix) -> np.ndarray:
        """The dense vectors of TF-IDF rows (`Corpus.transform`'s papers), one unit row each."""
        return unit_without(sp.csr_matrix(matrix)[:, self.columns] @ self.sif, self.common)

    def profiles(self, vectors: Mixed) -> np.ndarray:
        """Each profile's dense vector times DENSE_WEIGHT, from its own terms and its stored
        papers' sums: the dense vector of the profile written out term by term."""
        sums = vectors.direct[:, self.columns] @ self.sif + vectors.mix @ self.stored_sums
        return DENSE_WEIGHT * unit_without(sums, self.common)


def _weighted_words(
    corpus: Corpus, terms: TermVectors
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The dense part's words (corpus columns), their weighted vectors and the common
    direction (see `DenseSpace.fit`)."""
    columns = terms.columns
    if columns.size < DENSE_MIN_WORDS:
        width = terms.vectors.shape[1]
        return columns[:0], np.zeros((0, width), np.float32), np.zeros(width, np.float32)
    sif, common = _sif_weighted(corpus, columns, terms.vectors)
    papers = unit_without(corpus.matrix[:, columns] @ sif, common)
    vectored = np.zeros(corpus.width, dtype=bool)
    vectored[columns] = True
    unigram = np.array([" " not in name for name in corpus.names], dtype=bool)
    others = np.flatnonzero(unigram & ~vectored & (corpus.frequency >= TERM_MIN_DF))
    if not others.size:
        return columns, sif, common
    holders = sp.csc_matrix(corpus.matrix[:, others], dtype=np.float32, copy=True)
    holders.data[:] = 1
    columns = np.concatenate([columns, others])
    vectors = np.vstack([terms.vectors, normalize(np.asarray(holders.T @ papers))])
    return columns, *_sif_weighted(corpus, columns, vectors)


def _sif_weighted(
    corpus: Corpus, columns: np.ndarray, vectors: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The words' vectors times their smooth inverse frequency, and the corpus' common
    direction: the top singular vector of the stored papers' unit averages of them, which
    every paper shares and which therefore tells them apart least."""
    share = corpus.frequency[columns] / len(corpus)
    sif = vectors * (SIF_SMOOTHING / (SIF_SMOOTHING + share))[:, None]
    averages = normalize(np.asarray(corpus.matrix[:, columns] @ sif))
    _, directions = np.linalg.eigh(averages.T @ averages)
    return sif.astype(np.float32), directions[:, -1].astype(np.float32)
