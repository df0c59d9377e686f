"""The stored papers as TF-IDF: an immutable `Corpus` (terms, idf, unit rows, lengths and
centroid), and rows kept as their own terms plus weighted stored papers (`Mixed`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

from digest.ranking.analyzer import (
    STOP_WORDS,
    Analyzer,
    Document,
    fold_plural,
    phrase_feature,
    phrases,
    segments,
)
from digest.ranking.arrays import EXPLICIT_ROWS, lengths, threaded

# The shortest part of a run-together keyword ("breastcancer" is "breast cancer").
_MIN_COMPOUND_PART = 2


@dataclass(frozen=True, eq=False)
class Corpus:
    """The stored papers' TF-IDF: title weighted, unigrams, bigrams and the profiles' phrases.

    Made once by `Corpus.fit` and never changed: a corpus with other papers or other
    phrases is another corpus.
    """

    documents: tuple[Document, ...]
    vectorizer: TfidfVectorizer  # fitted; the analyzer knows the profiles' phrases
    matrix: sp.csr_matrix  # stored papers x terms, unit rows
    matrix_t: sp.csr_matrix  # terms x stored papers, for profile-major products
    vocabulary: Mapping[str, int]
    names: np.ndarray  # each term's text, by column
    idf: np.ndarray
    frequency: np.ndarray  # how many stored papers hold each term
    lengths: np.ndarray  # each stored paper's row length (1, or 0 for a paper of no term)
    centroid: np.ndarray  # the unit mean of the stored papers' rows
    _rows: Mapping[int, int]  # stored paper id -> row
    # `keyword_feature` remembered: every profile of a run asks for the same terms.
    _features: dict[str, str | None] = field(default_factory=dict, compare=False)

    @classmethod
    def fit(cls, documents: Sequence[Document], terms: Iterable[str]) -> Corpus:
        """Learn the terms and their weights from `documents`; `terms` are the profiles'
        keywords and exclusions, whose phrases become features.

        Raises ValueError for no documents: there is nothing to weigh terms by.
        """
        if not documents:
            raise ValueError("the interest model needs at least one paper")
        # TF-IDF as (1 + log tf) * idf, rows of unit length.
        vectorizer = TfidfVectorizer(analyzer=Analyzer(phrases(terms)), sublinear_tf=True)
        matrix = sp.csr_matrix(vectorizer.fit_transform([segments(doc) for doc in documents]))
        vocabulary: dict[str, int] = dict(vectorizer.vocabulary_)
        names = np.empty(len(vocabulary), dtype=object)
        for name, index in vocabulary.items():
            names[index] = name
        centroid = np.asarray(matrix.mean(axis=0)).ravel()
        norm = np.linalg.norm(centroid)
        return cls(
            documents=tuple(documents),
            vectorizer=vectorizer,
            matrix=matrix,
            matrix_t=sp.csr_matrix(matrix.T),
            vocabulary=vocabulary,
            names=names,
            idf=vectorizer.idf_,
            frequency=np.bincount(matrix.indices, minlength=matrix.shape[1]),
            lengths=lengths(matrix),
            centroid=centroid / norm if norm > 0 else centroid,
            _rows={doc.id: row for row, doc in enumerate(documents)},
        )

    def __len__(self) -> int:
        return len(self.documents)

    @property
    def width(self) -> int:
        """How many terms."""
        return len(self.vocabulary)

    def transform(self, docs: Sequence[Document]) -> sp.csr_matrix:
        """Rows of L2-normalized TF-IDF vectors, one per document."""
        return sp.csr_matrix(self.vectorizer.transform([segments(doc) for doc in docs]))

    def feature_vectors(self, features: Sequence[str]) -> sp.csr_matrix:
        """The unit TF-IDF vector of each feature (a keyword's) read alone."""
        return sp.csr_matrix(normalize(self.vectorizer.transform([(f,) for f in features])))

    def stored_row(self, doc: Document) -> int | None:
        """The row of `doc` when it is a stored paper (same id and text), else None."""
        row = self._rows.get(doc.id)
        return row if row is not None and self.documents[row] == doc else None

    def split(self, docs: Sequence[Document]) -> tuple[list[int], list[int], list[int]]:
        """The positions in `docs` of the stored papers, their rows, and the positions of
        the others."""
        rows = [self.stored_row(doc) for doc in docs]
        known = [n for n, row in enumerate(rows) if row is not None]
        others = [n for n, row in enumerate(rows) if row is None]
        return known, [row for row in rows if row is not None], others

    def keyword_feature(self, term: str) -> str | None:
        """The feature that says `term` occurs whole; None for function words only.

        A single run-together word unknown to the corpus stands for the two-word phrase it
        joins, when the corpus has that phrase ("breastcancer" is "breast cancer", the
        likelier split when there are several).
        """
        if term not in self._features:
            self._features[term] = self._split_feature(term)
        return self._features[term]

    def column(self, term: str) -> int | None:
        """The column of `term`'s whole match, if the corpus has it."""
        return self.vocabulary.get(self.keyword_feature(term) or "")

    def _split_feature(self, term: str) -> str | None:
        feature = phrase_feature(term)
        if feature is None or feature in self.vocabulary or " " in feature:
            return feature
        best: tuple[float, str] | None = None
        for cut in range(_MIN_COMPOUND_PART, len(feature) - _MIN_COMPOUND_PART + 1):
            head, tail = feature[:cut], fold_plural(feature[cut:])
            if head in STOP_WORDS or tail in STOP_WORDS:
                continue
            index = self.vocabulary.get(f"{head} {tail}")
            if index is not None and (best is None or self.idf[index] < best[0]):
                best = (float(self.idf[index]), f"{head} {tail}")
        return feature if best is None else best[1]


@dataclass(frozen=True)
class Mixed:
    """Rows of vectors kept as `direct + mix @ corpus`: own terms plus weighted stored papers.

    A profile's seeds and history are stored papers: a few weights, where their terms
    written out would be hundreds.
    """

    direct: sp.csr_matrix  # rows x terms
    mix: sp.csr_matrix  # rows x stored papers

    @classmethod
    def empty(cls, rows: int, corpus: Corpus) -> Mixed:
        """`rows` rows of nothing."""
        return cls(sp.csr_matrix((rows, corpus.width)), sp.csr_matrix((rows, len(corpus))))

    def __len__(self) -> int:
        return int(self.direct.shape[0])

    def __getitem__(self, rows: slice | np.ndarray) -> Mixed:
        return Mixed(self.direct[rows], self.mix[rows])

    def scaled(self, factors: np.ndarray) -> Mixed:
        """Each row times its factor."""
        diagonal = sp.diags(factors)
        return Mixed(sp.csr_matrix(diagonal @ self.direct), sp.csr_matrix(diagonal @ self.mix))

    def __add__(self, other: Mixed) -> Mixed:
        return Mixed(sp.csr_matrix(self.direct + other.direct), sp.csr_matrix(self.mix + other.mix))

    def nonzero_rows(self) -> np.ndarray:
        """Which rows hold anything."""
        return np.asarray((np.diff(self.direct.indptr) > 0) | (np.diff(self.mix.indptr) > 0))

    def explicit(self, corpus: Corpus) -> sp.csr_matrix:
        """The rows term by term."""
        return sp.csr_matrix(self.direct + self.mix @ corpus.matrix)

    def unit(self, corpus: Corpus) -> Mixed:
        """The rows scaled to unit length (a zero row stays zero)."""
        norms = self.rowwise(
            corpus, lambda rows: np.sqrt(np.asarray(rows.multiply(rows).sum(axis=1)).ravel())
        )
        return self.scaled(np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0))

    def rowwise(self, corpus: Corpus, measure: Callable[[sp.csr_matrix], np.ndarray]) -> np.ndarray:
        """`measure` of the rows written out term by term, a block of rows at a time."""

        def measured(start: int) -> np.ndarray:
            return measure(self[start : start + EXPLICIT_ROWS].explicit(corpus))

        out = threaded(measured, range(0, len(self), EXPLICIT_ROWS))
        return np.concatenate(out) if out else np.zeros(0)
