"""The interest model: TF-IDF over the stored papers, a profile vector per subscriber, cosine.

Pure computation on plain data: which papers are candidates is decided by the caller
(`digest.candidates`), so the model can be tested and benchmarked without a database.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

# How many times a title's terms count against the abstract's once.
TITLE_WEIGHT = 2
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


@dataclass(frozen=True)
class Document:
    """A paper as the model sees it."""

    id: int
    title: str
    abstract: str


@dataclass(frozen=True)
class Interest:
    """A subscriber's profile as the model sees it."""

    keywords: dict[str, float]
    exclude: Sequence[str] = ()
    max_papers: int = 10
    min_score: float = 0.0


@dataclass(frozen=True)
class Pick:
    """A paper chosen for a subscriber: its score and the profile terms it matched."""

    paper_id: int
    score: float
    matched: list[str]


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


class InterestModel:
    """TF-IDF over the corpus (title weighted, unigrams, bigrams and the profiles' phrases)."""

    def __init__(self, corpus: Sequence[Document], terms: Iterable[str]) -> None:
        """Learn term weights from `corpus`; `terms` are the profiles' keywords and exclusions.

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
        self._longest = max((len(p) for p in self._phrases), default=2)
        self._vectorizer = TfidfVectorizer(analyzer=self._analyze, sublinear_tf=True)
        self._vectorizer.fit([self._segments(doc) for doc in corpus])
        self._vocabulary: dict[str, int] = self._vectorizer.vocabulary_

    def _segments(self, doc: Document) -> tuple[str, ...]:
        return (doc.title,) * TITLE_WEIGHT + (doc.abstract,)

    def _analyze(self, segments: tuple[str, ...]) -> list[str]:
        """Unigrams and bigrams of content words, and the profiles' phrases, clause by clause."""
        features: list[str] = []
        for segment in segments:
            for clause in _CLAUSE_BREAK.split(segment):
                found = words(clause)
                content = [word not in STOP_WORDS for word in found]
                features.extend(word for word, keep in zip(found, content, strict=True) if keep)
                for n in range(2, self._longest + 1):
                    for start in range(len(found) - n + 1):
                        gram = tuple(found[start : start + n])
                        if gram in self._phrases or (
                            n == 2 and content[start] and content[start + 1]
                        ):
                            features.append(" ".join(gram))
        return features

    def transform(self, docs: Sequence[Document]) -> sp.csr_matrix:
        """Rows of L2-normalized TF-IDF vectors, one per document."""
        return self._vectorizer.transform([self._segments(doc) for doc in docs]).tocsr()

    def profile_vector(self, interest: Interest) -> sp.csr_matrix:
        """The sum of the keywords' TF-IDF vectors, each scaled by its weight, normalized."""
        terms = list(interest.keywords)
        vectors = self._vectorizer.transform([(term,) for term in terms])
        weights = sp.diags(np.array([interest.keywords[t] for t in terms], dtype=float))
        summed = sp.csr_matrix((weights @ normalize(vectors)).sum(axis=0))
        return normalize(summed).tocsr()

    def _presence(self, matrix: sp.csr_matrix, terms: Sequence[str]) -> np.ndarray:
        """A (documents x terms) boolean array: does each term occur whole in each document."""
        present = np.zeros((matrix.shape[0], len(terms)), dtype=bool)
        for column, term in enumerate(terms):
            index = self._vocabulary.get(phrase_feature(term) or "")
            if index is not None:
                present[:, column] = matrix[:, index].toarray().ravel() > 0
        return present

    def rank(
        self,
        interest: Interest,
        candidates: Sequence[Document],
        matrix: sp.csr_matrix | None = None,
    ) -> list[Pick]:
        """The best candidates for `interest`, best first.

        A paper is picked when it contains at least one keyword whole, none of the excluded
        terms, and scores at least `min_score`; ties go to the paper stored first.
        `matrix` is `transform(candidates)`, passed in when several interests share it.
        """
        if not candidates:
            return []
        matrix = self.transform(candidates) if matrix is None else matrix
        scores = (matrix @ self.profile_vector(interest).T).toarray().ravel()
        keywords = list(interest.keywords)
        hits = self._presence(matrix, keywords)
        keep = hits.any(axis=1) & (scores >= interest.min_score) & (scores > 0)
        if interest.exclude:
            keep &= ~self._presence(matrix, interest.exclude).any(axis=1)
        ids = np.array([doc.id for doc in candidates])
        order = np.lexsort((ids, -scores))
        chosen = [i for i in order if keep[i]][: interest.max_papers]
        by_weight = sorted(range(len(keywords)), key=lambda k: -interest.keywords[keywords[k]])
        return [
            Pick(
                paper_id=int(ids[i]),
                score=round(float(scores[i]), 4),
                matched=[keywords[k] for k in by_weight if hits[i, k]],
            )
            for i in chosen
        ]
