"""The interest model: TF-IDF over the stored papers, a profile vector per subscriber, cosine.

Pure computation on plain data: which papers are candidates is decided by the caller
(`digest.candidates`), so the model can be tested and benchmarked without a database.

A profile is built from up to three sources, each a TF-IDF vector in the same space:

- keywords: the sum of the keywords' vectors (by weight), expanded with the terms of the
  stored papers that match it best (pseudo-relevance feedback);
- seeds: papers the subscriber liked (title and abstract, or a title alone);
- positives: papers from the subscriber's history, each with a weight (weak for a paper
  sent and not disliked, strong for one they said they liked).

A paper's raw score is its cosine with the profile. The score a pick carries is calibrated
against the stored corpus: how many standard deviations the paper stands above the
subscriber's average stored paper, mapped into (0, 1), so that `min_score` means the same
for a subscriber with one rare keyword as for one with five broad ones.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.preprocessing import normalize

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
# Calibration: the subscriber's scores on (at most) this many stored papers, spread evenly
# over the corpus, give their mean and spread.
REFERENCE_PAPERS = 1000
# A calibrated score is 1 / (1 + exp(-(z - SCORE_MIDPOINT) / SCORE_SPREAD)), where z is the
# number of standard deviations above the subscriber's mean: 0.5 is three of them.
SCORE_MIDPOINT = 3.0
SCORE_SPREAD = 2.0
# Scores stay strictly inside (0, 1), so a min_score of 1 always means "nothing".
_SCORE_CEILING = 0.9999
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


def calibrated(z: np.ndarray) -> np.ndarray:
    """Standard scores (deviations above a subscriber's mean) mapped into (0, 1)."""
    exponent = np.clip(-(np.asarray(z, dtype=float) - SCORE_MIDPOINT) / SCORE_SPREAD, -50, 50)
    return np.minimum(1.0 / (1.0 + np.exp(exponent)), _SCORE_CEILING)


@dataclass(frozen=True)
class _Profile:
    """An interest turned into vectors: what scoring and explaining a pick need."""

    vector: sp.csr_matrix  # 1 x terms, unit length (all zeros for an empty profile)
    mean: float  # the profile's mean raw score over the reference papers
    spread: float  # and their standard deviation (at least _MIN_SPREAD)
    seeds: sp.csr_matrix | None  # the seed papers' unit vectors, one row each
    seed_titles: list[str]
    keywords: list[str]  # the profile's keywords, heaviest first
    keyword_columns: list[int | None]  # each keyword's whole-match feature
    exclude_columns: list[int]  # the excluded terms' features (those known to the corpus)
    needs_keyword: bool  # keywords only: a pick must contain one whole


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
        self._step = math.ceil(len(corpus) / REFERENCE_PAPERS)
        self._reference = self._corpus[:: self._step]

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
        self._longest = max(self._longest, *(len(p) for p in new))
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
        self._reference = self._corpus[:: self._step]

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

    def _column(self, term: str) -> int | None:
        return self._vocabulary.get(self.keyword_feature(term) or "")

    def _keyword_vector(
        self, keywords: dict[str, float], feedback: bool = True
    ) -> sp.csr_matrix | None:
        """The keywords' vectors summed by weight, unit length; with `feedback`, leaning
        towards the stored papers that match them best (pseudo-relevance feedback)."""
        terms = [t for t in keywords if self.keyword_feature(t)]
        if not terms:
            return None
        vectors = self._weigh(
            sp.csr_matrix(
                self._counter.transform([(self.keyword_feature(t) or "",) for t in terms])
            )
        )
        weights = sp.diags(np.array([keywords[t] for t in terms], dtype=float))
        summed = sp.csr_matrix((weights @ normalize(vectors)).sum(axis=0))
        if summed.nnz == 0:
            return None
        vector = normalize(summed)
        if feedback and FEEDBACK_PAPERS and FEEDBACK_WEIGHT:
            scores = (self._corpus @ vector.T).toarray().ravel()
            count = min(FEEDBACK_PAPERS, int((scores > 0).sum()))
            if count:
                best = np.argpartition(-scores, count - 1)[:count]
                expansion = normalize(sp.csr_matrix(self._corpus[best].mean(axis=0)))
                vector = normalize(vector + FEEDBACK_WEIGHT * expansion)
        return sp.csr_matrix(vector)

    # --- profiles ------------------------------------------------------------------------

    def _seed_rows(self, interest: Interest) -> tuple[sp.csr_matrix | None, sp.csr_matrix | None]:
        """The seed papers' unit vectors, and the seed part of the profile: the sum of the
        seeds' vectors (each counts as a positive of weight 1) and the positives' by weight."""
        seeds = self.transform(interest.seeds) if interest.seeds else None
        parts: list[sp.csr_matrix] = []
        if seeds is not None:
            parts.append(sp.csr_matrix(seeds.sum(axis=0)))
        positives = [(doc, weight) for doc, weight in interest.positives if weight > 0]
        if positives:
            rows = self.transform([doc for doc, _ in positives])
            weights = sp.diags(np.array([weight for _, weight in positives], dtype=float))
            parts.append(sp.csr_matrix((weights @ rows).sum(axis=0)))
        if not parts:
            return seeds, None
        summed = sp.csr_matrix(sum(parts[1:], parts[0]))
        return seeds, (normalize(summed) if summed.nnz else None)

    def _profile(self, interest: Interest) -> _Profile:
        seeds, seed_part = self._seed_rows(interest)
        explicit = bool(interest.seeds)
        # Feedback widens a keyword profile; seed papers already give a profile its breadth.
        keyword_part = (
            self._keyword_vector(interest.keywords, feedback=not explicit)
            if interest.keywords
            else None
        )
        if seed_part is not None and keyword_part is not None:
            # With seeds the papers lead and keywords steer; without, the subscriber's
            # history only nudges what their keywords ask for.
            vector = (
                normalize(seed_part + KEYWORD_SHARE_WITH_SEEDS * keyword_part)
                if explicit
                else normalize(keyword_part + HISTORY_SHARE * seed_part)
            )
        elif seed_part is not None:
            vector = seed_part
        elif keyword_part is not None:
            vector = keyword_part
        else:
            vector = sp.csr_matrix((1, len(self._vocabulary)))
        vector = sp.csr_matrix(vector)
        reference = (self._reference @ vector.T).toarray().ravel()
        keywords = sorted(interest.keywords, key=lambda k: -interest.keywords[k])
        excluded = [self._column(term) for term in interest.exclude]
        return _Profile(
            vector=vector,
            mean=float(reference.mean()),
            spread=max(float(reference.std()), _MIN_SPREAD),
            seeds=seeds,
            seed_titles=[doc.title for doc in interest.seeds],
            keywords=keywords,
            keyword_columns=[self._column(k) for k in keywords],
            exclude_columns=[c for c in excluded if c is not None],
            # Only seed papers the subscriber chose open picks beyond their keywords; papers
            # merely sent before do not.
            needs_keyword=not explicit,
        )

    def profile_vector(self, interest: Interest) -> sp.csr_matrix:
        """The profile as one unit vector: keywords (with feedback), seeds and positives."""
        return self._profile(interest).vector

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
        profile = self._profile(interest)
        raw = (matrix @ profile.vector.T).toarray().ravel()
        return (raw - profile.mean) / profile.spread

    def rank(
        self,
        interest: Interest,
        candidates: Sequence[Document],
        matrix: sp.csr_matrix | None = None,
    ) -> list[Pick]:
        """The best candidates for `interest`, best first.

        A paper is picked when it shares terms with the profile, contains none of the
        excluded terms, and has a calibrated score of at least `min_score`. A profile of
        keywords only also needs the paper to contain at least one keyword whole; a profile
        with seeds or positives needs it to score above the subscriber's average stored
        paper instead (keywords then weigh in without being required). Ties go to the
        paper stored first. `matrix` is `transform(candidates)`, passed in when several
        interests share it.
        """
        return self.rank_many([interest], candidates, matrix)[0]

    def rank_many(
        self,
        interests: Sequence[Interest],
        candidates: Sequence[Document],
        matrix: sp.csr_matrix | None = None,
    ) -> list[list[Pick]]:
        """`rank` for many interests over the same candidates: one sparse product for all."""
        if not candidates or not interests:
            return [[] for _ in interests]
        matrix = self.transform(candidates) if matrix is None else matrix
        profiles = [self._profile(interest) for interest in interests]
        raw = (matrix @ sp.vstack([p.vector for p in profiles]).T).toarray()
        ids = np.array([doc.id for doc in candidates])
        return [
            self._picks(interest, profile, matrix, raw[:, column], ids)
            for column, (interest, profile) in enumerate(zip(interests, profiles, strict=True))
        ]

    def _picks(
        self,
        interest: Interest,
        profile: _Profile,
        matrix: sp.csr_matrix,
        raw: np.ndarray,
        ids: np.ndarray,
    ) -> list[Pick]:
        z = (raw - profile.mean) / profile.spread
        scores = calibrated(z)
        hits = self._presence(matrix, profile.keyword_columns)
        keep = (raw > 0) & (scores >= interest.min_score)
        keep &= hits.any(axis=1) if profile.needs_keyword else z > 0
        if profile.exclude_columns:
            keep &= ~self._presence(matrix, profile.exclude_columns).any(axis=1)
        order = np.lexsort((ids, -raw))
        chosen = [i for i in order if keep[i]][: max(interest.max_papers, 0)]
        return [
            Pick(
                paper_id=int(ids[i]),
                score=round(float(scores[i]), 4),
                matched=[k for k, hit in zip(profile.keywords, hits[i], strict=True) if hit],
                because=self._because(profile, matrix[i]),
                terms=self._terms(profile, matrix[i]),
            )
            for i in chosen
        ]

    @staticmethod
    def _presence(matrix: sp.csr_matrix, columns: Sequence[int | None]) -> np.ndarray:
        """A (documents x columns) boolean array: does each feature occur in each document."""
        present = np.zeros((matrix.shape[0], len(columns)), dtype=bool)
        for position, column in enumerate(columns):
            if column is not None:
                present[:, position] = matrix[:, column].toarray().ravel() > 0
        return present

    # --- explanations --------------------------------------------------------------------

    def _because(self, profile: _Profile, row: sp.csr_matrix) -> list[str]:
        """The seed papers most like this paper (by cosine), most similar first."""
        if profile.seeds is None:
            return []
        similarity = (profile.seeds @ row.T).toarray().ravel()
        if not similarity.size or similarity.max() <= 0:
            return []
        floor = BECAUSE_SHARE * similarity.max()
        order = np.argsort(-similarity, kind="stable")
        titles = [profile.seed_titles[i] for i in order if similarity[i] >= floor]
        return list(dict.fromkeys(titles))[:BECAUSE_MAX]

    def _terms(self, profile: _Profile, row: sp.csr_matrix) -> list[str]:
        """The terms with the largest share of the paper's score, a phrase before its words."""
        contribution = row.multiply(profile.vector).tocsr()
        if contribution.nnz == 0:
            return []
        order = np.argsort(-contribution.data, kind="stable")[: 3 * TERMS_MAX]
        names = [str(self._names[contribution.indices[i]]) for i in order]
        padded = [f" {name} " for name in names]
        # A phrase stands for its words and shorter phrases: "graph neural network" hides
        # "graph neural", "network" and "graph".
        kept = [
            name
            for name, inside in zip(names, padded, strict=True)
            if not any(inside in other and inside != other for other in padded)
        ]
        return kept[:TERMS_MAX]
