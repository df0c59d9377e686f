"""Term expansion: a short profile widened with the title words nearest its own (by their
term vectors), so that a paper saying "neural network" can match a profile that says "deep
learning"."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.preprocessing import normalize

from digest.ranking.arrays import EXPLICIT_ROWS, chunk
from digest.ranking.dense import TermVectors
from digest.ranking.vocabulary import Corpus, Mixed

# A profile gains the EXPANSION_TERMS words nearest its terms' mean vector, at
# EXPANSION_WEIGHT (a unit vector against the unit profile) times its `shortness`: short
# profiles (a few titles or keywords) lack vocabulary, long ones (abstracts) already have it.
EXPANSION_TERMS = 60
EXPANSION_WEIGHT = 1.0
# A profile of EXPANSION_SHORT terms or fewer is short; past it, shortness falls with the
# square of its length.
EXPANSION_SHORT = 150
# Rows whose expansion would weigh less than this are left alone: what little they would
# gain costs scoring the many terms it adds.
EXPANSION_MIN = 0.1
# And never more than this share of the words that have a vector: in a small corpus the
# EXPANSION_TERMS nearest words are all of them, related or not.
EXPANSION_SHARE = 0.1


def shortness(terms: np.ndarray) -> np.ndarray:
    """How short profiles of `terms` terms each are, from 1 (EXPANSION_SHORT terms or
    fewer) down towards 0: min(1, (EXPANSION_SHORT / terms) ** 2)."""
    return np.minimum(1.0, (EXPANSION_SHORT / np.maximum(terms, 1)) ** 2)


def expanded(corpus: Corpus, terms: TermVectors, vectors: Mixed) -> Mixed:
    """Each short row plus its weight times the unit vector of its EXPANSION_TERMS nearest
    title words (by cosine of term vectors, positive only), unit length again.

    A row's query is the mean of its terms' vectors, weighted as in the row; the nearest
    words come from one dense (rows x words) float32 block per chunk and a partial sort,
    never a loop per profile.
    """
    take = min(EXPANSION_TERMS, int(EXPANSION_SHARE * terms.columns.size))
    count, width = vectors.direct.shape
    if not take or not count:
        return vectors
    owners: list[np.ndarray] = []
    parts: list[sp.csr_matrix] = []
    weights: list[np.ndarray] = []
    step = min(chunk(terms.columns.size), EXPLICIT_ROWS)
    for start in range(0, count, step):
        explicit = vectors[start : start + step].explicit(corpus)
        lengths = np.diff(explicit.indptr)
        weight = EXPANSION_WEIGHT * shortness(lengths)
        wanted = np.flatnonzero((lengths > 0) & (weight >= EXPANSION_MIN))
        if not wanted.size:
            continue
        query = np.asarray((explicit[wanted][:, terms.columns] @ terms.vectors), dtype=np.float32)
        query = normalize(query)  # a row of words without a term vector stays zero
        similarity = query @ terms.vectors.T
        best = np.argpartition(-similarity, take - 1, axis=1)[:, :take]
        values = np.maximum(np.take_along_axis(similarity, best, axis=1), 0)
        rows = np.broadcast_to(np.arange(wanted.size)[:, None], best.shape)
        nearest = sp.csr_matrix(
            (values.ravel(), (rows.ravel(), terms.columns[best].ravel())),
            shape=(wanted.size, width),
        )
        nearest.eliminate_zeros()
        owners.append(wanted + start)
        weights.append(weight[wanted])
        parts.append(sp.csr_matrix(normalize(nearest)))
    if not parts:
        return vectors
    chosen = np.concatenate(owners)
    place = sp.csr_matrix(
        (np.concatenate(weights), (chosen, np.arange(chosen.size))),
        shape=(count, chosen.size),
    )
    added = Mixed(sp.csr_matrix(place @ sp.vstack(parts)), sp.csr_matrix(vectors.mix.shape))
    return (vectors + added).unit(corpus)
