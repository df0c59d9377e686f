"""Calibration: a raw score as how many standard deviations it stands above the subscriber's
average stored paper, mapped into (0, 1), so that `min_score` means the same for a
subscriber with one rare keyword as for one with five broad ones."""

from __future__ import annotations

import math

import numpy as np

from digest.ranking.arrays import chunk, threaded
from digest.ranking.scoring import Papers, ScoredPapers, Scorer
from digest.ranking.vocabulary import Corpus, Mixed

# The subscriber's scores on (at most) this many stored papers, spread evenly over the
# corpus, give their mean and spread.
REFERENCE_PAPERS = 1000
# A calibrated score is 1 / (1 + exp(-(z - SCORE_MIDPOINT) / SCORE_SPREAD)), where z is the
# number of standard deviations above the subscriber's mean: 0.5 is three of them.
SCORE_MIDPOINT = 3.0
SCORE_SPREAD = 2.0
# Below this spread (in cosine units) the corpus says nothing about a profile's scale.
MIN_SPREAD = 1e-3
# Scores stay strictly inside (0, 1), so a min_score of 1 always means "nothing".
_SCORE_CEILING = 0.9999


def calibrated(z: np.ndarray) -> np.ndarray:
    """Standard scores (deviations above a subscriber's mean) mapped into (0, 1)."""
    exponent = np.clip(-(np.asarray(z, dtype=float) - SCORE_MIDPOINT) / SCORE_SPREAD, -50, 50)
    return np.minimum(1.0 / (1.0 + np.exp(exponent)), _SCORE_CEILING)


def standard(score: np.ndarray) -> np.ndarray:
    """The standard score whose calibrated score is `score`: the inverse of `calibrated`."""
    score = np.clip(np.asarray(score, dtype=float), 1e-300, None)
    with np.errstate(divide="ignore"):
        return np.asarray(SCORE_MIDPOINT + SCORE_SPREAD * (np.log(score) - np.log1p(-score)))


def standard_of(score: float) -> float:
    """`standard` of one score, in plain floats: numpy's calls on a single number cost
    more than the formula, and composing asks for every paper of every message. It may
    differ from `standard` in the last bit; a score in words does not (the tests compare
    both on every score a pick carries, four decimals, and beside the thresholds)."""
    score = max(score, 1e-300)
    if score >= 1.0:
        # As numpy has it: infinitely many deviations at 1, none defined above it.
        return math.inf if score == 1.0 else math.nan
    return SCORE_MIDPOINT + SCORE_SPREAD * (math.log(score) - math.log1p(-score))


class Calibration:
    """The reference papers of one corpus, and the profiles' raw-score moments over them."""

    def __init__(self, corpus: Corpus, papers: Papers) -> None:
        self.rows = np.arange(0, len(corpus), math.ceil(len(corpus) / REFERENCE_PAPERS))
        self.matrix = corpus.matrix[self.rows]
        self.papers: ScoredPapers = papers.scored(self.matrix)

    def moments(
        self, vectors: Mixed, dense: np.ndarray, meaning: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Each profile's mean and spread (at least MIN_SPREAD) of raw scores over the
        reference papers; `meaning` is theirs where the profiles' dense vectors hold one."""
        papers = self.papers if meaning is None else self.papers.with_meaning(meaning)
        scorer = Scorer(papers, vectors.direct, vectors.mix)
        step = chunk(self.matrix.shape[0])

        def measured(start: int) -> tuple[np.ndarray, np.ndarray]:
            block = slice(start, start + step)
            scores = scorer.scores(vectors.direct[block], vectors.mix[block], dense[block])
            return scores.mean(axis=1), np.maximum(scores.std(axis=1), MIN_SPREAD)

        parts = threaded(measured, range(0, len(vectors), step))
        if not parts:
            return np.zeros(0), np.zeros(0)
        return np.concatenate([m for m, _ in parts]), np.concatenate([s for _, s in parts])
