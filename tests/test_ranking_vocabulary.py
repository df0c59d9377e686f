"""The stored papers' TF-IDF: (1 + log tf) * smoothed idf, titles counted twice, unit rows."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from digest.ranking import Document
from digest.ranking.vocabulary import Corpus

PAPERS = [
    Document(1, "Speech models", "Speech recognition with small models."),
    Document(2, "Graph models", "Graphs of citations."),
    Document(3, "Protein folding", "Folding proteins."),
]


def test_a_term_weighs_sublinear_tf_times_smoothed_idf_in_unit_rows() -> None:
    corpus = Corpus.fit(PAPERS, [])

    def weight(tf: int, df: int) -> float:
        return (1 + math.log(tf)) * (math.log((1 + len(PAPERS)) / (1 + df)) + 1)

    # Paper 1's title counts twice; "models" is "model", which paper 2 holds too; "with"
    # is a function word, so "recognition with" is no bigram.
    expected = {
        "speech": weight(3, 1),
        "model": weight(3, 2),
        "speech model": weight(2, 1),
        "recognition": weight(1, 1),
        "small": weight(1, 1),
        "speech recognition": weight(1, 1),
        "small model": weight(1, 1),
    }
    length = math.sqrt(sum(value**2 for value in expected.values()))
    row = corpus.matrix[0].toarray().ravel()

    found = {str(corpus.names[column]): row[column] for column in np.flatnonzero(row)}
    assert found.keys() == expected.keys()
    for term, value in expected.items():
        assert found[term] == pytest.approx(value / length)


def test_a_profile_phrase_is_a_feature_of_the_papers_that_hold_it_whole() -> None:
    corpus = Corpus.fit(PAPERS, ["recognition with small models"])

    column = corpus.vocabulary["recognition with small model"]
    assert corpus.matrix[:, column].nonzero()[0].tolist() == [0]
    assert "recognition with small model" not in Corpus.fit(PAPERS, []).vocabulary


def test_a_fitted_corpus_cannot_be_changed() -> None:
    corpus = Corpus.fit(PAPERS, [])

    with pytest.raises(dataclasses.FrozenInstanceError):
        corpus.matrix = corpus.matrix[:1]  # type: ignore[misc]
