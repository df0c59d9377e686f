"""The penalty for generic papers: a paper made of the corpus' common words ranks lower."""

from __future__ import annotations

import numpy as np
import pytest

from digest.ranking import Document, Interest, InterestModel
from digest.ranking.scoring import GENERIC_PENALTY

# Titles that keep saying the same few words, and a few that say something of their own.
COMMON = [
    "a new method for data analysis",
    "data analysis with a new model",
    "a model for data",
    "method and model of analysis",
    "new data, new method",
    "analysis of data models",
]
SPECIFIC = [
    "chaperone kinetics in yeast",
    "ribosome stalling in bacteria",
    "galaxy cluster lensing",
    "dark matter halo mergers",
    "protein folding funnels",
    "folding of membrane protein",
]
INTEREST = Interest(keywords={}, seeds=[Document(0, "Protein folding", "")])
# Both hold the seed's two words; the first fills the rest of its title with common words.
GENERIC = Document(100, "Protein folding: a new method for data analysis", "")
SPECIAL = Document(101, "Protein folding and chaperone kinetics", "")


def model() -> InterestModel:
    titles = COMMON * 3 + SPECIFIC
    return InterestModel([Document(n + 1, t, "") for n, t in enumerate(titles)], [])


def picked(fitted: InterestModel) -> list[int]:
    return [pick.paper_id for pick in fitted.rank(INTEREST, [GENERIC, SPECIAL])]


def test_a_paper_of_common_words_ranks_below_one_of_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fitted = model()
    assert picked(fitted) == [101, 100]
    # Without the penalty the common words, weighing little, leave the seed's words more of
    # the generic paper's unit vector: it would come first.
    monkeypatch.setattr("digest.ranking.scoring.GENERIC_PENALTY", 0.0)
    assert picked(fitted) == [100, 101]


def test_the_penalty_is_the_cosine_with_the_corpus_centroid() -> None:
    fitted = model()
    matrix = fitted.transform([GENERIC, SPECIAL])
    centroid = np.asarray(fitted.corpus_matrix.mean(axis=0)).ravel()
    cosine = matrix @ centroid / np.linalg.norm(centroid)

    assert np.allclose(fitted.generic(matrix), GENERIC_PENALTY * cosine)
    assert fitted.generic(matrix)[0] > 2 * fitted.generic(matrix)[1] > 0
