"""The float32 screen: blocks of scores in float32, each within a proven bound of its float64
score (`Scorer`'s), and the float64 scores of chosen (profile, paper) pairs bit for bit.

A block's products stream the papers' arrays once per term of each profile: in float32 they
move half the bytes. The float64 scores are then needed only where they decide a pick, a
few per profile.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from digest.ranking.arrays import lengths, row_sums, spans
from digest.ranking.scoring import ScoredPapers, Scorer

# Papers per tile of the float32 product.
_TILE_PAPERS = 256
# Float32's unit roundoff: the bound on a float32 rounding's relative error.
UNIT32 = 2.0**-24


@dataclass(frozen=True)
class Screened:
    """A block's float32 scores, and the parts its float64 scores are made of."""

    scores: np.ndarray  # profiles x papers, float32
    direct: sp.csr_matrix  # the profiles' own terms over the dense papers' terms
    mix: sp.csr_matrix  # their stored papers over those `Scorer.similar` holds
    dense: np.ndarray  # the dense part of their scores, float32 as `Scorer.scores` adds it


class Screen:
    """Float32 blocks of the raw scores of profiles against `ScoredPapers`, and the float64
    scores of any of their cells as `Scorer.scores` gives them."""

    def __init__(self, papers: ScoredPapers, direct: sp.csr_matrix, mix: sp.csr_matrix) -> None:
        """Ready to screen the profiles `direct + mix @ corpus` (or blocks of them)."""
        self._scorer = scorer = Scorer(papers, direct, mix)
        terms = scorer.terms.dense
        # One float32 product per block: the papers' terms, the stored papers'
        # similarities, and the penalty for generic papers as a row every profile takes once.
        rows = terms.shape[0] + scorer.stored.size + 1
        stacked = np.empty((rows, len(papers)), dtype=np.float32)
        stacked[: terms.shape[0]] = terms
        stacked[terms.shape[0] : -1] = scorer.similar
        stacked[-1] = -papers.generic
        # Kept as tiles of _TILE_PAPERS columns: a block's product streams a row of the
        # array per term of each profile, and a tile's rows stay in the cache where the
        # whole array's would not (7,500 terms x 2,000 papers are 60 MB).
        self._tiles = [
            np.ascontiguousarray(stacked[:, start : start + _TILE_PAPERS])
            for start in range(0, len(papers), _TILE_PAPERS)
        ]
        longest = papers.longest
        # A paper's column of the dense array is at most its row's length, a similarity at
        # most the product of the two rows' lengths.
        self._sizes = (
            longest,
            longest * float(lengths(papers.corpus.matrix[scorer.stored]).max(initial=0)),
            float(np.linalg.norm(scorer.embedding, axis=0).max(initial=0)),
            float(np.abs(papers.generic).max(initial=0)),
        )

    def margin(self, direct: sp.csr_matrix, mix: sp.csr_matrix, dense: np.ndarray) -> float:
        """A bound on the distance between any float32 score of the profiles (`screened`)
        and its float64 one (`Scorer.scores`)."""
        terms, similar, embedding, generic = self._sizes
        # A float32 sum of n addends, each a product of two float32-rounded factors, is
        # within gamma(n + 2) = (n + 2) u / (1 - (n + 2) u) of the exact sum times the sum
        # of the addends' magnitudes (u = 2**-24; Higham, Accuracy and Stability of
        # Numerical Algorithms, 3.1 and 3.3); float64's error is 2**29 times smaller.
        # Twice (n + 4) u covers both for any n below 2**22, and the float32 lengths'
        # rounding. The magnitudes add up to at most `size`: Cauchy-Schwarz for the terms
        # and the dense part, the stored papers' weights times the largest similarity, and
        # the penalty.
        addends = np.diff(direct.indptr) + np.diff(mix.indptr) + 2
        size = (
            lengths(direct) * terms
            + row_sums(direct.shape[0], mix.indptr, np.abs(mix.data)) * similar
            + np.linalg.norm(dense, axis=1) * embedding
            + generic
        )
        return float((2 * (addends + 4) * UNIT32 * size).max(initial=0))

    def screened(self, direct: sp.csr_matrix, mix: sp.csr_matrix, dense: np.ndarray) -> Screened:
        """A block of float32 scores, each within `margin` of its float64 one."""
        scorer = self._scorer
        own, stored = scorer.terms.local(direct), scorer.local(mix)
        count = direct.shape[0]
        penalty = sp.csr_matrix(
            (np.ones(count), np.zeros(count, dtype=np.int32), np.arange(count + 1)),
            shape=(count, 1),
        )
        operand = sp.hstack([own, stored, penalty], format="csr", dtype=np.float32)
        scores = np.empty((count, scorer.embedding.shape[1]), dtype=np.float32)
        for number, tile in enumerate(self._tiles):
            start = number * _TILE_PAPERS
            scores[:, start : start + tile.shape[1]] = operand @ tile
        part = dense @ scorer.embedding
        scores += part
        return Screened(scores, own, stored, part)

    def exact(self, block: Screened, rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
        """The float64 scores of the block's pairs (`rows`, `columns`), as `Scorer.scores`
        gives them: the same products added in the same order."""
        scorer = self._scorer
        raw = _pair_sums(block.direct, scorer.terms.dense, rows, columns)
        raw += block.dense[rows, columns]
        raw -= scorer.generic[columns]
        if block.mix.nnz:
            raw += _pair_sums(block.mix, scorer.similar, rows, columns)
        return raw


def screen_all(
    scores: np.ndarray, floor: np.ndarray, least: np.ndarray, margin: float, keep: np.ndarray | None
) -> np.ndarray:
    """Minus infinity in a block of float32 `scores` (each within `margin` of its float64
    one) but where `keep` (None: everywhere) and the float64 score is surely above its
    row's `floor` and its column's `least`; the cells (flat, in order) of `keep` where it
    may be, not surely."""
    least_high, least_low = _thresholds(least, margin)
    sure, may = scores > least_high, scores > least_low
    floor_high, floor_low = _thresholds(floor, margin)
    # Where every score clears every floor (a keyword profile's, mostly), the floor decides
    # nothing.
    if scores.min(initial=np.inf) <= floor_high.max(initial=-np.inf):
        sure &= scores > floor_high[:, None]
        may &= scores > floor_low[:, None]
    if keep is not None:
        sure &= keep
        may &= keep
    _keep(scores, sure)
    return np.flatnonzero(np.greater(may, sure, out=may))


def screen_cells(
    scores: np.ndarray, floor: np.ndarray, least: np.ndarray, margin: float, cells: np.ndarray
) -> np.ndarray:
    """`screen_all` where only `cells` (flat, some twice) may be kept: the few cells'
    scores compared, instead of the block's."""
    values = scores.ravel()[cells]
    least_high, least_low = _thresholds(least, margin)
    columns = cells % scores.shape[1]
    sure, may = values > least_high[columns], values > least_low[columns]
    floor_high, floor_low = _thresholds(floor, margin)
    if values.min(initial=np.inf) <= floor_high.max(initial=-np.inf):
        rows = cells // scores.shape[1]
        sure &= values > floor_high[rows]
        may &= values > floor_low[rows]
    scores.fill(-np.inf)
    scores.ravel()[cells[sure]] = values[sure]
    return np.unique(cells[may > sure])


def _thresholds(values: np.ndarray, margin: float) -> tuple[np.ndarray, np.ndarray]:
    """The float32 thresholds for float32 scores within `margin` of their float64 ones: a
    score above the first has its float64 score surely above the value, one at or below the
    second surely not."""
    return _float32_above(values + margin), _float32_below(values - margin)


def _keep(scores: np.ndarray, keep: np.ndarray) -> None:
    """Minus infinity in `scores` (float32) where not `keep`."""
    # A minimum with plus or minus infinity costs the same whatever the mask, where
    # np.putmask slows down several times on a mask of mixed values.
    cap = keep.astype(np.float32)
    cap -= 0.5
    cap *= np.inf
    np.minimum(scores, cap, out=scores)


def _float32_above(values: np.ndarray) -> np.ndarray:
    """The smallest float32 at or above each value."""
    rounded = values.astype(np.float32)
    return np.where(rounded < values, np.nextafter(rounded, np.float32(np.inf)), rounded)


def _float32_below(values: np.ndarray) -> np.ndarray:
    """The largest float32 at or below each value."""
    rounded = values.astype(np.float32)
    return np.where(rounded > values, np.nextafter(rounded, np.float32(-np.inf)), rounded)


def _pair_sums(
    local: sp.csr_matrix, table: np.ndarray, rows: np.ndarray, columns: np.ndarray
) -> np.ndarray:
    """For each pair, row `rows[n]` of `local` times column `columns[n]` of `table`, its
    products added one by one from zero in the row's order, as `local @ table` adds them."""
    counts = np.diff(local.indptr)[rows]
    entries = spans(local.indptr[rows], counts)
    terms = local.indices[entries]
    cells = terms.astype(np.int64) * table.shape[1] + np.repeat(columns, counts)
    products = local.data[entries] * table.ravel()[cells]
    # scipy's product of a sparse matrix and a vector adds each row's entries in order,
    # as its product with a dense matrix does; times ones, each entry is its product.
    summed = sp.csr_matrix(
        (products, terms, np.concatenate(([0], np.cumsum(counts)))),
        shape=(rows.size, table.shape[0]),
    )
    return np.asarray(summed @ np.ones(table.shape[0]))
