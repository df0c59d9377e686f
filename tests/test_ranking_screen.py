"""`top` screens scores in float32 and decides on float64 ones: its picks and their scores are
those of the plain float64 rule, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from benchmarks.synthetic import Synthetic
from digest.ranking import Document, Interest, InterestModel, Profiles
from digest.ranking.calibration import standard
from digest.ranking.screen import Screen
from digest.ranking.topk import TIE_STEP

Picks = list[tuple[np.ndarray, np.ndarray]]


def plain_top(
    model: InterestModel,
    profiles: Profiles,
    matrix: sp.csr_matrix,
    ids: np.ndarray,
    allowed: dict[int, list[int]] | None = None,
) -> Picks:
    """Every profile's picks by the float64 scores of the whole block and one sort each."""
    # The penalty of each paper blended with its neighbours', as its score holds it.
    generic = model.scored(matrix).generic
    raw = model.raw_scores(profiles, matrix)
    floor = profiles.mean + profiles.spread * standard(profiles.min_score)
    floor = np.where(profiles.needs_keyword, floor, np.maximum(floor, profiles.mean))
    present = (matrix.toarray() != 0).T.astype(float)
    hits = profiles.keyword_columns.toarray() @ present > 0
    excluded = profiles.exclude_columns.toarray() @ present > 0
    keep = (raw > floor[:, None]) & (raw > -generic) & ~excluded
    keep &= hits | ~profiles.needs_keyword[:, None]
    for row, columns in (allowed or {}).items():
        keep[row, np.setdiff1d(np.arange(len(ids)), columns)] = False
    rank = np.empty(len(ids))
    rank[np.argsort(ids, kind="stable")] = np.arange(len(ids))
    keys = raw - rank * TIE_STEP
    picks = []
    for row in range(len(profiles)):
        allowed = np.flatnonzero(keep[row])
        best = allowed[np.argsort(-keys[row, allowed], kind="stable")][: profiles.max_papers[row]]
        picks.append((best, raw[row, best]))
    return picks


def interests(papers: list[Document], count: int) -> list[Interest]:
    """Keywords alone, with seeds, with history, with exclusions, with liked and disliked
    papers (a profile with negative entries); several limits and floors."""
    rng = np.random.default_rng(0)
    made = []
    for n, profile in enumerate(Synthetic(0).profiles(count)):
        kind = n % 6
        chosen = [papers[i] for i in rng.choice(len(papers), size=3, replace=False)]
        made.append(
            Interest(
                keywords=dict.fromkeys(profile.keywords, 1.0),
                exclude=(profile.keywords[0],) if kind == 3 else (),
                max_papers=int(rng.choice([1, 5, 10, 20])),
                min_score=float(rng.choice([0.0, 0.3, 0.6])),
                seeds=chosen[:2] if kind == 1 else (),
                positives=[(doc, 0.5) for doc in chosen] if kind == 2 else (),
                liked=chosen[:1] if kind == 4 else (),
                # Stored disliked papers weigh on stored papers, others on terms.
                disliked={4: chosen[1:], 5: [unstored(d) for d in chosen[1:]]}.get(kind, ()),
            )
        )
    return made


def unstored(doc: Document) -> Document:
    """The same paper under an id the corpus does not hold: analyzed, not a stored row."""
    return Document(-1 - doc.id, doc.title, doc.abstract)


@pytest.fixture(scope="module")
def fitted() -> tuple[InterestModel, list[Document], list[Interest]]:
    papers = [Document(n, p.title, p.abstract) for n, p in enumerate(Synthetic(0).papers(300))]
    wanted = interests(papers, 400)
    terms = {t for interest in wanted for t in (*interest.keywords, *interest.exclude)}
    return InterestModel(papers, terms), papers, wanted


def assert_same(found: Picks, expected: Picks) -> None:
    assert len(found) == len(expected)
    for (columns, scores), (want_columns, want_scores) in zip(found, expected, strict=True):
        assert columns.tolist() == want_columns.tolist()
        assert np.array_equal(scores, want_scores)


@pytest.mark.parametrize("keywords_only", [True, False])
def test_picks_and_scores_are_those_of_float64_in_blocks(
    fitted: tuple[InterestModel, list[Document], list[Interest]],
    monkeypatch: pytest.MonkeyPatch,
    keywords_only: bool,
) -> None:
    """Several blocks in threads, some profiles allowed only some papers; the blocks of
    keyword profiles screened cell by cell."""
    model, papers, wanted = fitted
    chosen = [i for i in wanted if not i.seeds] if keywords_only else wanted
    profiles = model.profiles(chosen)
    ids = np.array([doc.id for doc in papers])[::-1].copy()
    rng = np.random.default_rng(1)
    allowed = {row: rng.choice(len(papers), 50).tolist() for row in range(0, len(chosen), 7)}
    monkeypatch.setattr("digest.ranking.arrays.BLOCK_CELLS", 100 * len(papers))
    matrix = model.corpus_matrix
    found = model.top(profiles, matrix, ids, allowed)
    assert_same(found, plain_top(model, profiles, matrix, ids, allowed))


def test_papers_blended_with_their_neighbours_are_picked_as_float64_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The synthetic papers' abstracts, each blended with its neighbours' in a corpus taken as
    large enough: every profile's picks and scores still those of the plain rule."""
    monkeypatch.setattr("digest.ranking.neighbours.NEIGHBOUR_CORPUS", (0, 1))
    papers = [Document(n, p.title, p.abstract) for n, p in enumerate(Synthetic(0).papers(300))]
    wanted = interests(papers, 200)
    model = InterestModel(papers, {t for i in wanted for t in (*i.keywords, *i.exclude)})
    profiles = model.profiles(wanted)
    ids = np.array([doc.id for doc in papers])
    matrix = model.corpus_matrix

    found = model.top(profiles, matrix, ids)

    assert model.neighbourhoods.shares(matrix)[1].nnz
    assert_same(found, plain_top(model, profiles, matrix, ids))


def test_a_wide_margin_only_adds_float64_work(
    fitted: tuple[InterestModel, list[Document], list[Interest]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With a bound on float32's error a thousand times too large, many scores are border
    cases and candidates: the float64 scores still decide alone."""
    model, papers, wanted = fitted
    profiles = model.profiles(wanted)
    ids = np.array([doc.id for doc in papers])
    monkeypatch.setattr("digest.ranking.screen.UNIT32", 2.0**-14)
    matrix = model.corpus_matrix
    assert_same(model.top(profiles, matrix, ids), plain_top(model, profiles, matrix, ids))


def test_scores_closer_than_float32_come_in_float64_order(
    fitted: tuple[InterestModel, list[Document], list[Interest]],
) -> None:
    """A profile's best paper and its twin scaled by 1 +- 1e-10 score the same in float32, and
    the twin would follow on its larger id; in float64 it scores higher and comes first."""
    model, _, wanted = fitted
    interest = next(
        i for i in wanted if not (i.seeds or i.exclude or i.min_score) and i.max_papers > 1
    )
    profiles = model.profiles([interest])
    corpus = model.corpus_matrix
    best = int(np.argmax(raw_scores(model, profiles, corpus)))
    others = corpus[np.delete(np.arange(corpus.shape[0]), best)]
    ids = np.array([1, 2, *range(10, 10 + others.shape[0])])
    for factor in (1 + 1e-10, 1 - 1e-10):
        matrix = sp.csr_matrix(sp.vstack([corpus[best], corpus[best] * factor, others]))
        raw = raw_scores(model, profiles, matrix)
        if raw[1] > raw[0]:
            break
    ((columns, scores),) = model.top(profiles, matrix, ids)

    assert np.float32(raw[0]) == np.float32(raw[1])
    assert columns[:2].tolist() == [1, 0]
    assert scores[:2].tolist() == [raw[1], raw[0]]
    assert_same([(columns, scores)], plain_top(model, profiles, matrix, ids))


def test_float32_scores_are_within_the_margin_of_float64_with_negative_parts(
    fitted: tuple[InterestModel, list[Document], list[Interest]],
) -> None:
    """Profiles less their disliked papers hold negative weights, in their own terms and on
    stored papers: every float32 score is still within the screen's bound of its float64 one."""
    model, _, wanted = fitted
    profiles = model.profiles([i for i in wanted if i.disliked])
    assert (profiles.direct.data < 0).any() and (profiles.mix.data < 0).any()
    scored = model.scored(model.corpus_matrix)
    screen = Screen(scored, profiles.direct, profiles.mix)
    parts = profiles.direct, profiles.mix, profiles.dense
    block = screen.screened(*parts)
    exact = model.raw_scores(profiles, model.corpus_matrix)

    error = np.abs(block.scores.astype(float) - exact)
    assert 0 < error.max() <= screen.margin(*parts)


def raw_scores(model: InterestModel, profiles: Profiles, matrix: sp.csr_matrix) -> np.ndarray:
    """The float64 raw scores of a single profile over the rows of `matrix`."""
    return model.raw_scores(profiles, matrix)[0]
