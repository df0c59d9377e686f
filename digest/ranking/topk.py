"""Each profile's picks among a set of papers: the float32 screen, a bounded partial sort, then
the float64 scores that decide (`Scorer`'s, bit for bit), blocks of profiles in threads.

A paper is picked when its raw score is above the profile's floor (its `min_score`, and its
mean where no keyword is required) and positive before the penalty for generic papers, it
holds no excluded term and, for a keyword profile, holds a keyword whole; the best
`max_papers` of those, equal scores by paper id.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

import numpy as np
import scipy.sparse as sp

from digest.ranking.arrays import chunk, spans, threaded
from digest.ranking.calibration import standard
from digest.ranking.interests import Profiles
from digest.ranking.scoring import ScoredPapers
from digest.ranking.screen import Screen, screen_all, screen_cells

# Equal scores are ordered by paper id through a penalty of this much per rank: far below
# the difference between two distinct cosines, far above float64's resolution near 1.
TIE_STEP = 1e-15
# Columns per group when a partial sort looks for a lower bound of each row's cut first.
_GROUP = 8

Picked = tuple[np.ndarray, np.ndarray]


def floors(profiles: Profiles) -> np.ndarray:
    """The lowest raw score each profile may pick: at least its min_score (calibrated), and
    above its mean where no keyword is required."""
    floor = profiles.mean + profiles.spread * standard(profiles.min_score)
    return np.asarray(np.where(profiles.needs_keyword, floor, np.maximum(floor, profiles.mean)))


def top(
    profiles: Profiles,
    papers: ScoredPapers,
    matrix: sp.csr_matrix,
    ids: np.ndarray,
    allowed: Mapping[int, Sequence[int]] | None = None,
) -> list[Picked]:
    """For each profile, the rows of `matrix` (the papers' own TF-IDF rows, scored as
    `papers`) it picks, best first, and their raw scores.

    `ids` are the rows' paper ids: among equal scores the smaller id comes first.
    `allowed` restricts some profiles (by position) to some rows; the others may have any.
    """
    count = matrix.shape[0]
    generic = papers.generic
    screen = Screen(papers, profiles.direct, profiles.mix)
    present = sp.csr_matrix(matrix.T, dtype=np.float32, copy=True)
    present.data[:] = 1
    # Ranks of the ids as a tiny penalty, so that one partial sort orders equal scores
    # by id; far below any difference between two distinct cosines.
    order = np.empty(count, dtype=float)
    order[np.argsort(ids, kind="stable")] = np.arange(count)
    penalty = order * TIE_STEP
    floor = floors(profiles)
    restricted: dict[int, list[tuple[int, Sequence[int]]]] = {}
    step = chunk(count)
    for profile, rows in (allowed or {}).items():
        restricted.setdefault(profile // step, []).append((profile % step, rows))

    def barred(block: slice) -> np.ndarray | None:
        """Which papers the block's profiles may not pick whatever their scores (None:
        none): those with an excluded term, and those not allowed."""
        shape = (block.stop - block.start, count)
        out: np.ndarray | None = None
        if profiles.exclude_columns[block].nnz:
            out = _marked(_reached(profiles.exclude_columns[block], present), shape)
        for row, rows in restricted.get(block.start // step, []):
            if out is None:
                out = np.zeros(shape, dtype=bool)
            mask = np.ones(count, dtype=bool)
            mask[np.asarray(rows, dtype=int)] = False
            out[row] |= mask
        return out

    def screened(block: slice, scores: np.ndarray, margin: float) -> np.ndarray:
        """Minus infinity in the block's float32 `scores` where its profile may not pick
        the paper or may only on its float64 score; the cells (flat, in order) of the
        latter, the border cases."""
        # And positive before the penalty for generic papers: the paper shares terms with
        # the profile, or words like its words. The penalty orders such papers without
        # dropping them, so a keyword alert still sends every paper that holds a keyword
        # whole (min_score aside).
        wanted = profiles.needs_keyword[block]
        no = barred(block)
        if wanted.all():
            # Only the papers holding a keyword whole, a few per profile: their cells.
            cells = _reached(profiles.keyword_columns[block], present)
            if no is not None:
                cells = cells[~no.ravel()[cells]]
            return screen_cells(scores, floor[block], -generic, margin, cells)
        keep = None if no is None else ~no
        if wanted.any():
            hits = _marked(_reached(profiles.keyword_columns[block], present), scores.shape)
            hits |= ~wanted[:, None]
            keep = hits if keep is None else np.logical_and(keep, hits, out=keep)
        return screen_all(scores, floor[block], -generic, margin, keep)

    def picks(start: int) -> list[Picked]:
        block = slice(start, min(start + step, len(profiles)))
        limits = profiles.max_papers[block]
        take = min(int(limits.max(initial=0)), count)
        if take == 0:
            return [(np.zeros(0, dtype=int), np.zeros(0))] * (block.stop - block.start)
        parts = profiles.direct[block], profiles.mix[block], profiles.dense[block]
        found = screen.screened(*parts)
        margin = screen.margin(*parts)
        # What a profile may not pick (or may only on its float64 score) leaves the
        # partial sort; the float64 scores of its candidates and of the border cases
        # decide, and its picks carry them.
        border = screened(block, found.scores, margin)
        rows, columns = _candidates(found.scores, take, penalty, 2 * margin)
        rows, columns = _joined_cells(rows, columns, *np.divmod(border, count))
        raw = screen.exact(found, rows, columns)
        kept = (raw > floor[block][rows]) & (raw > -generic[columns])
        rows, columns, raw = rows[kept], columns[kept], raw[kept]
        order, rank = _sorted_by_row(rows, penalty[columns] - raw, block.stop - block.start)
        rows, columns, raw = rows[order], columns[order], raw[order]
        chosen = rank < limits[rows]
        rows, columns, scores = rows[chosen], columns[chosen], raw[chosen]
        bounds = np.searchsorted(rows, np.arange(block.stop - block.start + 1)).tolist()
        return [
            (columns[first:last], scores[first:last]) for first, last in itertools.pairwise(bounds)
        ]

    blocks = threaded(picks, range(0, len(profiles), step))
    return [pick for part in blocks for pick in part]


def _candidates(
    scores: np.ndarray, take: int, penalty: np.ndarray, slack: float
) -> tuple[np.ndarray, np.ndarray]:
    """The rows and columns, row by row, of the finite scores within `slack` of each row's
    `take` largest keys (`scores - penalty`) or above: every cell whose key is at least its
    row's take-th largest less `slack`, and a few more."""
    count, width = scores.shape
    # A lower bound for each row's cut from the maxima of groups of columns: the take-th
    # largest maximum has `take` scores at or above it. A partial sort of a few maxima per
    # row, then a look inside the groups that reach it, cost far less than a partial sort
    # of every score.
    size = min(_GROUP, max(1, width // max(take, 1)))
    stride = width // size
    split = stride * size
    # Group g holds columns g, g + stride, g + 2 * stride...; each column past `split` is a
    # group of its own.
    maxima = np.empty((count, stride + width - split), dtype=scores.dtype)
    grouped = scores[:, :split].reshape(count, size, stride)
    np.copyto(maxima[:, :stride], grouped[:, 0])
    for part in range(1, size):
        np.maximum(maxima[:, :stride], grouped[:, part], out=maxima[:, :stride])
    maxima[:, stride:] = scores[:, split:]
    groups = maxima.shape[1]
    bound = np.full(count, -np.inf)
    if take < groups:
        bound = np.partition(maxima, groups - take, axis=1)[:, groups - take].astype(float)
    # A key is at most its score, and the take-th largest key at least the bound less the
    # largest penalty; the scores of papers a profile may not pick (minus infinity) never
    # reach it, however low the slack takes it.
    bound = np.maximum(bound - penalty.max(initial=0) - slack, -np.finfo(float).max)
    rows, group = np.divmod(np.flatnonzero(maxima >= bound[:, None]), groups)
    inside = group < stride
    members = np.where(
        inside[:, None],
        group[:, None] + stride * np.arange(size),
        (group + split - stride)[:, None],
    )
    reach = np.take(scores, (rows * width)[:, None] + members) >= bound[rows, None]
    if not inside.all():
        reach &= inside[:, None] | (np.arange(size) == 0)
    return np.broadcast_to(rows[:, None], members.shape)[reach], members[reach]


def _joined_cells(
    rows: np.ndarray, columns: np.ndarray, more_rows: np.ndarray, more_columns: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Two lists of cells, each row by row, as one: a row's cells of the first list, then
    its cells of the second."""
    if not more_rows.size:
        return rows, columns
    rows = np.concatenate([rows, more_rows])
    order = np.argsort(rows, kind="stable")
    return rows[order], np.concatenate([columns, more_columns])[order]


def _sorted_by_row(rows: np.ndarray, keys: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """The order that sorts entries (their rows ascending, from 0 to `count`) row by row,
    smallest key first, equal keys as they come; and each sorted entry's rank in its row."""
    # Sorted row by row in a (rows x most entries) array: a few keys per row.
    counts = np.bincount(rows, minlength=count)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    rank = np.arange(rows.size) - starts[rows]
    table = np.full((count, int(counts.max(initial=0))), np.inf)
    table[rows, rank] = keys
    order = np.argsort(table, axis=1, kind="stable")
    return (starts[:, None] + order)[order < counts[:, None]], rank


def _reached(selection: sp.csr_matrix, holders: sp.csr_matrix) -> np.ndarray:
    """The cells (flat, row by row, some twice) where `(selection @ holders) > 0` for
    nonnegative matrices: some term a row selects has an entry for the column.

    The cells are written out, without the sparse product's two passes and sums.
    """
    positive = selection.data > 0
    rows = np.repeat(np.arange(selection.shape[0], dtype=np.int64), np.diff(selection.indptr))
    rows, terms = rows[positive], selection.indices[positive]
    counts = np.diff(holders.indptr)[terms]
    entries = spans(holders.indptr[terms], counts)
    cells = np.repeat(rows * holders.shape[1], counts) + holders.indices[entries]
    return np.asarray(cells[holders.data[entries] > 0])


def _marked(cells: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A boolean array of `shape`, true at the `cells` (flat)."""
    marked = np.zeros(shape, dtype=bool)
    marked.ravel()[cells] = True
    return marked
