"""Neighbourhoods: a paper with an abstract scores as a blend of itself and its nearest stored
papers (the cluster hypothesis: papers close to each other interest the same people).

A paper whose own words miss a profile then still scores where its neighbours meet it.
"""

from __future__ import annotations

import hashlib

import numpy as np
import scipy.sparse as sp

from digest.ranking.arrays import chunk, threaded
from digest.ranking.vocabulary import Corpus

# A paper's blend: its NEIGHBOURS nearest stored papers (by TF-IDF cosine, each weighted by
# it) take NEIGHBOUR_SHARE of it, the paper itself the rest. Fewer neighbours are too few to
# outvote a paper's own noise, many more reach into other topics.
NEIGHBOURS = 30
NEIGHBOUR_SHARE = 2 / 3
# Only a paper with an abstract has neighbours worth the name: the share rises from nothing
# at NEIGHBOUR_TERMS[0] terms to its full value at NEIGHBOUR_TERMS[1] (a title alone has about
# ten, and its nearest titles share a word or two; an abstract a hundred or so).
NEIGHBOUR_TERMS = (20, 50)
# And only in a corpus dense enough that a paper's neighbours are near: the share rises from
# nothing at NEIGHBOUR_CORPUS[0] stored papers to its full value at NEIGHBOUR_CORPUS[1].
NEIGHBOUR_CORPUS = (1000, 2000)
# A stored paper at least this close to a paper is that paper itself (or a copy of it), not
# a neighbour of it.
_SAME = 1 - 1e-9

Nearest = tuple[np.ndarray, np.ndarray]


class Neighbourhoods:
    """Each paper's share of its own blend and its neighbours' shares, over one corpus.

    A paper's neighbours are a pure function of its TF-IDF row and the corpus, so they are
    found once per distinct row and remembered: many picks hold the same paper, and the
    stored papers are scored again every run.
    """

    def __init__(self, corpus: Corpus) -> None:
        self._corpus = corpus
        # Found neighbours by a digest of the paper's row: a memo that never changes an
        # answer, only saves finding it again.
        self._found: dict[bytes, Nearest] = {}

    def shares(self, matrix: sp.csr_matrix) -> tuple[np.ndarray, sp.csr_matrix]:
        """Each paper's own share of its blend, and its neighbours' shares (papers x stored
        papers): at most NEIGHBOURS a paper, by cosine, adding up to the rest."""
        count, papers = matrix.shape[0], len(self._corpus)
        share = (
            NEIGHBOUR_SHARE
            * _ramp(np.array(papers), NEIGHBOUR_CORPUS)
            * _ramp(np.diff(matrix.indptr), NEIGHBOUR_TERMS)
        )
        wanted = np.flatnonzero(share > 0)
        keys = [_row_key(matrix, row) for row in wanted.tolist()]
        # Each distinct paper once: many picks may hold the same.
        missing = {key: n for n, key in enumerate(keys) if key not in self._found}
        if missing:
            found = self._nearest(matrix[wanted[list(missing.values())]])
            self._found.update(zip(missing, found, strict=True))
        nearest = [self._found[key] for key in keys]
        counts = np.array([rows.size for rows, _ in nearest], dtype=np.int64)
        share[wanted[counts == 0]] = 0  # nothing near it: the paper is all its own
        indptr = np.zeros(count + 1, dtype=np.int64)
        indptr[wanted + 1] = counts
        columns = [rows for rows, _ in nearest]
        weights = [w * share[row] for (_, w), row in zip(nearest, wanted.tolist(), strict=True)]
        neighbours = sp.csr_matrix(
            (
                np.concatenate(weights) if weights else np.zeros(0),
                np.concatenate(columns) if columns else np.zeros(0, dtype=np.int64),
                np.cumsum(indptr),
            ),
            shape=(count, papers),
        )
        return 1 - share, neighbours

    def _nearest(self, rows: sp.csr_matrix) -> list[Nearest]:
        """For each row, its NEIGHBOURS most similar stored papers with a positive cosine
        (itself, or a copy of it, left out) and their cosines as weights adding up to 1."""
        take = min(NEIGHBOURS, len(self._corpus))
        step = chunk(len(self._corpus))

        def block(start: int) -> list[Nearest]:
            similarity = (rows[start : start + step] @ self._corpus.matrix_t).toarray()
            similarity[similarity >= _SAME] = 0
            best = np.argpartition(-similarity, take - 1, axis=1)[:, :take]
            values = np.take_along_axis(similarity, best, axis=1)
            out = []
            for columns, weights in zip(best, values, strict=True):
                near = weights > 0
                total = weights[near].sum()
                out.append((columns[near], weights[near] / total if total else weights[near]))
            return out

        return [pair for part in threaded(block, range(0, rows.shape[0], step)) for pair in part]


def similarities(vectors: sp.csr_matrix, corpus: Corpus, neighbours: sp.csr_matrix) -> np.ndarray:
    """The neighbours' part of TF-IDF `vectors`' dot products with blended papers (rows x
    papers): their similarities with the stored papers that are neighbours, by the shares
    in `neighbours` (stored papers x papers)."""
    stored = np.flatnonzero(np.diff(neighbours.indptr))
    similar = vectors @ corpus.matrix[stored].T
    return np.asarray((similar @ neighbours[stored]).toarray())


def _ramp(values: np.ndarray, bounds: tuple[int, int]) -> np.ndarray:
    """0 up to the first bound, 1 from the second, linear in between."""
    low, high = bounds
    return np.clip((values - low) / (high - low), 0.0, 1.0)


def _row_key(matrix: sp.csr_matrix, row: int) -> bytes:
    """A digest of a sparse row's terms and weights: equal rows, equal digests."""
    span = slice(matrix.indptr[row], matrix.indptr[row + 1])
    digest = hashlib.blake2b(digest_size=16)
    digest.update(np.ascontiguousarray(matrix.indices[span], dtype=np.int64).tobytes())
    digest.update(np.ascontiguousarray(matrix.data[span], dtype=np.float64).tobytes())
    return digest.digest()
