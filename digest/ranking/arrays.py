"""Array helpers the model's parts share: blocks of work in threads, row sums and lengths of
sparse matrices, spans, sorted look-ups and weight matrices."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import numpy as np
import scipy.sparse as sp
from sklearn.preprocessing import normalize

# Scoring works on dense blocks of (papers x profiles) scores of at most this many cells,
# so memory stays bounded however many subscribers there are.
BLOCK_CELLS = 4_000_000
# Blocks worked on at once, each in a thread of its own (a block of scores, its masks and
# its partial sort take about 20 bytes a cell).
THREADS = min(os.cpu_count() or 1, 4)
# Profiles written out term by term (for their lengths) this many at a time: a profile with
# history holds thousands of terms.
EXPLICIT_ROWS = 10_000

T = TypeVar("T")


def threaded(work: Callable[[int], T], starts: range) -> list[T]:
    """`work(start)` for each of `starts`, in order, in a pool of threads.

    scipy's sparse products and numpy's array work release the GIL, so blocks run on every
    core at once.
    """
    if len(starts) < 2 or THREADS < 2:
        return [work(start) for start in starts]
    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(work, starts))


def chunk(rows: int) -> int:
    """How many profiles to score at once against `rows` papers: a dense block of at most
    BLOCK_CELLS scores bounds the memory whatever the number of subscribers."""
    return max(1, BLOCK_CELLS // max(rows, 1))


def lengths(matrix: sp.csr_matrix) -> np.ndarray:
    """The rows' Euclidean lengths."""
    return np.sqrt(row_sums(matrix.shape[0], matrix.indptr, matrix.data**2))


def row_sums(count: int, indptr: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The sums of a sparse matrix's `values` (in the order of its data) by row."""
    # From the raw arrays: scipy's own sums may put a matrix's entries in order in place,
    # and its data may be shared with a matrix that keeps its entries' order.
    rows = np.repeat(np.arange(count), np.diff(indptr))
    return np.bincount(rows, weights=values, minlength=count)


def spans(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The positions from each of `starts` on, `counts` of them, one span after another."""
    ends = np.cumsum(counts)
    positions = np.repeat(starts + counts - ends, counts)
    positions += np.arange(positions.size)
    return positions


def among(values: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Which `values` are among `keys` (sorted integers).

    A binary search: many times faster than numpy's isin on these sizes.
    """
    found = np.searchsorted(keys, values)
    return keys[np.minimum(found, keys.size - 1)] == values if keys.size else found < 0


def ownership(
    entries: Sequence[tuple[int, T, float]], count: int, dtype: type[np.floating]
) -> tuple[list[T], sp.csr_matrix]:
    """The distinct items of (owner, item, weight) entries, first seen first, and the
    (`count` owners x items) matrix of their weights."""
    distinct = list(dict.fromkeys(item for _, item, _ in entries))
    position = {item: n for n, item in enumerate(distinct)}
    owner = sp.csr_matrix(
        (
            np.array([weight for _, _, weight in entries], dtype=dtype),
            ([n for n, _, _ in entries], [position[item] for _, item, _ in entries]),
        ),
        shape=(count, len(distinct)),
    )
    return distinct, owner


def indicator(columns: list[list[int]], width: int) -> sp.csr_matrix:
    """A 0/1 matrix with one row per list, 1 at the list's columns."""
    rows = np.repeat(np.arange(len(columns)), [len(c) for c in columns])
    flat = np.array([c for cs in columns for c in cs], dtype=int)
    matrix = sp.csr_matrix(
        (np.ones(flat.size, dtype=np.float32), (rows, flat)), shape=(len(columns), width)
    )
    matrix.data[:] = 1  # a column listed twice is still one
    return matrix


def unit_without(sums: np.ndarray, common: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length, their part along the unit vector `common` removed, unit
    length again (a zero row stays zero)."""
    unit = normalize(np.asarray(sums, dtype=np.float32))
    unit -= np.outer(unit @ common, common)
    return np.asarray(normalize(unit))
