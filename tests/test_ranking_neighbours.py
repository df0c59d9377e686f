"""Neighbourhoods: a paper with an abstract scores as a blend of itself and the stored papers
nearest it, so a paper whose own words miss a profile still scores where its neighbours
meet it."""

from __future__ import annotations

import numpy as np
import pytest

from digest.ranking import Document, Interest, InterestModel, Pick
from digest.ranking.neighbours import NEIGHBOUR_CORPUS, NEIGHBOUR_SHARE, NEIGHBOUR_TERMS

FOLDING = [
    Document(
        1,
        "Protein folding kinetics",
        "Molecular dynamics of protein folding with an all-atom force field.",
    ),
    Document(
        2,
        "Folding of small proteins",
        "Force field molecular dynamics simulations of protein folding pathways.",
    ),
]
# Shares "force field" and "molecular dynamics" with the folding papers, not a word with the
# seed.
WATER = Document(
    3, "Force field water models", "Molecular dynamics force field parameters for water."
)
GALAXIES = [
    Document(4, "Galaxy cluster lensing", "Weak gravitational lensing of galaxy clusters."),
    Document(5, "Dark matter halos", "Gravitational lensing maps dark matter halos of clusters."),
    Document(6, "Galaxy surveys", "Photometric redshifts for galaxy surveys of dark matter."),
]
PAPERS = [*FOLDING, WATER, *GALAXIES]
SEED = Document(99, "Protein folding", "")
INTEREST = Interest(keywords={}, seeds=[SEED])


@pytest.fixture
def blending(monkeypatch: pytest.MonkeyPatch) -> None:
    """Neighbourhoods at their full share in a corpus of a few short papers."""
    monkeypatch.setattr("digest.ranking.neighbours.NEIGHBOURS", 2)
    monkeypatch.setattr("digest.ranking.neighbours.NEIGHBOUR_TERMS", (0, 1))
    monkeypatch.setattr("digest.ranking.neighbours.NEIGHBOUR_CORPUS", (0, 1))


def picked(model: InterestModel) -> list[Pick]:
    return model.rank(INTEREST, [WATER, *GALAXIES])


def test_without_neighbours_a_paper_of_other_words_is_not_picked() -> None:
    assert picked(InterestModel(PAPERS, [])) == []


@pytest.mark.usefixtures("blending")
def test_a_paper_is_picked_where_its_neighbours_meet_the_profile() -> None:
    (pick,) = picked(InterestModel(PAPERS, []))

    # The water paper, through the folding papers it resembles; never a galaxy paper, whose
    # neighbours are galaxy papers. It is like the seed through them, and holds none of its
    # terms.
    assert pick.paper_id == WATER.id
    assert pick.because == [SEED.title]
    assert pick.terms == []


@pytest.mark.usefixtures("blending")
def test_a_score_is_the_blend_of_the_paper_s_own_and_its_neighbours(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    blended = InterestModel(PAPERS, [])
    scores = blended.raw_scores(blended.profiles([INTEREST]), blended.corpus_matrix)[0]
    share = NEIGHBOUR_SHARE
    monkeypatch.setattr("digest.ranking.neighbours.NEIGHBOUR_SHARE", 0.0)
    plain = InterestModel(PAPERS, [])
    own = plain.raw_scores(plain.profiles([INTEREST]), plain.corpus_matrix)[0]

    # Each paper's two nearest other papers, weighted by their cosines.
    cosines = (plain.corpus_matrix @ plain.corpus_matrix.T).toarray()
    np.fill_diagonal(cosines, 0)
    nearest = np.argsort(-cosines, axis=1)[:, :2]
    weights = np.take_along_axis(cosines, nearest, axis=1)
    weights /= weights.sum(axis=1, keepdims=True)
    expected = (1 - share) * own + share * (weights * own[nearest]).sum(axis=1)
    assert np.allclose(scores, expected)
    assert not np.allclose(scores, own)


@pytest.mark.usefixtures("blending")
def test_a_paper_is_not_its_own_neighbour_nor_is_its_copy() -> None:
    copy = Document(7, WATER.title, WATER.abstract)
    model = InterestModel([*PAPERS, copy], [])

    _, near = model.neighbourhoods.shares(model.corpus_matrix[[2]])

    assert sorted(near.indices.tolist()) == [0, 1]


@pytest.mark.parametrize(
    ("corpus", "terms"),
    [((0, 1), NEIGHBOUR_TERMS), (NEIGHBOUR_CORPUS, (0, 1))],
    ids=["titles and short abstracts", "a small corpus"],
)
def test_short_papers_and_small_corpora_have_no_neighbours(
    monkeypatch: pytest.MonkeyPatch, corpus: tuple[int, int], terms: tuple[int, int]
) -> None:
    monkeypatch.setattr("digest.ranking.neighbours.NEIGHBOUR_CORPUS", corpus)
    monkeypatch.setattr("digest.ranking.neighbours.NEIGHBOUR_TERMS", terms)
    model = InterestModel(PAPERS, [])

    own, near = model.neighbourhoods.shares(model.corpus_matrix)

    assert own.tolist() == [1.0] * len(PAPERS)
    assert near.nnz == 0


def test_the_share_rises_with_the_paper_s_terms_and_the_corpus(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("digest.ranking.neighbours.NEIGHBOURS", 2)
    monkeypatch.setattr("digest.ranking.neighbours.NEIGHBOUR_CORPUS", (0, 2 * len(PAPERS)))
    model = InterestModel(PAPERS, [])
    matrix = model.corpus_matrix
    terms = np.diff(matrix.indptr)
    monkeypatch.setattr("digest.ranking.neighbours.NEIGHBOUR_TERMS", (0, int(terms.max())))

    own, near = model.neighbourhoods.shares(matrix)

    # Half the full share in a corpus half as large as the full one, times each paper's
    # share of the most terms; the neighbours' weights make up the rest.
    expected = NEIGHBOUR_SHARE / 2 * terms / terms.max()
    assert np.allclose(1 - own, expected)
    assert np.allclose(np.asarray(near.sum(axis=1)).ravel(), expected)
