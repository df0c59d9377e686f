"""The score of a paper for a profile: the one place to read the formula.

A profile is a unit TF-IDF vector p (its own terms plus a weighted sum of stored papers, see
`digest.ranking.interests`) and a dense vector d_p (`DenseSpace.profiles`, with the meaning
vector appended when there is an embedder). A paper is its unit TF-IDF vector x, its unit
dense vector d_x (with its meaning vector appended) and its cosine g_x with the stored
papers' unit centroid. Its raw score is

    raw(p, x) = p . x' + d_p . d_x' - GENERIC_PENALTY * g_x'

where x' = (1 - s) x + sum_n w_n x_n blends the paper with its stored neighbours x_n
(`digest.ranking.neighbours`: shares w_n adding up to s, none for a title alone), and d_x' and
g_x' are the same blend of the neighbours' (the meaning vector is never blended). Every term
is linear in the paper's vectors, so the blend of scores is the score of the blend.

The score a pick carries is calibrated (`digest.ranking.calibration`):
z = (raw - mean) / spread over the profile's reference papers, then 1 / (1 + exp(-(z - 3) / 2)).

`Scorer` computes raw scores in float64 and is the reference: `digest.ranking.topk` screens
with float32 products and decides on these very scores, bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from digest.ranking.arrays import chunk, lengths
from digest.ranking.dense import DenseSpace
from digest.ranking.neighbours import Neighbourhoods, similarities
from digest.ranking.vocabulary import Corpus

# A paper made of the corpus' common words (a title like "a new method for data analysis")
# loses GENERIC_PENALTY times its cosine with the stored papers' centroid, as if that much of
# the unit centroid were taken from every profile: it then needs more of a profile's own
# terms to rank high. Larger penalties start to cost papers with abstracts, which share
# more of the centroid's words.
GENERIC_PENALTY = 0.3


@dataclass(frozen=True)
class ScoredPapers:
    """Papers as their raw scores see them: each paper's TF-IDF vector, dense vector and
    penalty as a generic paper blended with its neighbours', and its meaning vector appended
    to the dense one, with an embedder.

    A blended TF-IDF vector holds the terms of some thirty papers: it is written out only
    over the terms a scoring reads, as columns (terms x papers), the way the products read it.
    """

    own: sp.csr_matrix  # terms x papers: the papers' own vectors times their own shares
    neighbours: sp.csr_matrix  # stored papers x papers: each paper's neighbours' shares
    corpus: Corpus
    dense: np.ndarray  # papers x dense dimensions, float32
    generic: np.ndarray  # papers: the penalty as a generic paper
    longest: float  # at least the length of any paper's blended TF-IDF vector

    def __len__(self) -> int:
        return int(self.own.shape[1])

    def terms(self, rows: np.ndarray) -> sp.csr_matrix:
        """The blended TF-IDF vectors over the terms `rows` (rows x papers)."""
        part = self.own[rows]
        if self.neighbours.nnz:
            part = part + self.corpus.matrix_t[rows] @ self.neighbours
        return sp.csr_matrix(part)

    def similarities(self, vectors: sp.csr_matrix) -> np.ndarray:
        """The dot products of TF-IDF `vectors` (rows x terms) with the papers' blended
        ones, as a dense (rows x papers) array."""
        if not self.neighbours.nnz:
            return np.asarray((vectors @ self.own).toarray())
        stored = np.flatnonzero(np.diff(self.neighbours.indptr))
        # Through the neighbours' similarities for a few vectors (a seed's picks), through
        # the blended vectors written out for many (all profiles' stored papers): whichever
        # product is the smaller.
        through_neighbours = vectors.shape[0] * stored.size
        matrix = self.corpus.matrix
        written_out = self.neighbours.nnz * matrix.nnz / max(matrix.shape[0], 1)
        if through_neighbours < written_out:
            near = similarities(vectors, self.corpus, self.neighbours)
            return np.asarray((vectors @ self.own).toarray() + near)
        blend = self.terms(np.arange(self.own.shape[0]))
        return np.asarray((vectors @ blend).toarray())

    def with_meaning(self, meaning: np.ndarray) -> ScoredPapers:
        """The papers with their meaning vectors appended to their dense ones."""
        return ScoredPapers(
            self.own,
            self.neighbours,
            self.corpus,
            np.hstack([self.dense, meaning]),
            self.generic,
            self.longest,
        )


class Papers:
    """Makes `ScoredPapers` of TF-IDF rows over one corpus."""

    def __init__(self, corpus: Corpus, dense: DenseSpace, neighbourhoods: Neighbourhoods) -> None:
        self._corpus = corpus
        self._dense = dense
        self._neighbourhoods = neighbourhoods
        # The stored papers' own penalties, which blends with them read.
        self._stored_generic = self.generic(corpus.matrix)

    def generic(self, matrix: sp.csr_matrix) -> np.ndarray:
        """What each of the TF-IDF rows (`Corpus.transform`'s papers) loses from its raw
        score as a generic paper: GENERIC_PENALTY times its cosine with the stored papers'
        centroid.

        One product with one vector per set of papers, the same for every profile.
        """
        cosines = np.asarray(sp.csr_matrix(matrix) @ self._corpus.centroid).ravel()
        return GENERIC_PENALTY * cosines

    def scored(self, matrix: sp.csr_matrix) -> ScoredPapers:
        """The papers' TF-IDF vectors, dense vectors and penalties, each paper's blended with
        its neighbours': scores are linear in them, so a paper's score is the same blend of
        its own score and its neighbours'."""
        own, near = self._neighbourhoods.shares(matrix)
        # Kept as columns, the way the products read them.
        neighbours = sp.csr_matrix(near.T)
        dense = self._dense.embedding(matrix)
        generic = self.generic(matrix)
        if neighbours.nnz:
            dense *= own[:, None].astype(np.float32)
            dense += np.asarray(neighbours.T @ self._dense.stored, dtype=np.float32)
            generic = own * generic + neighbours.T @ self._stored_generic
        # By the triangle inequality: a blend of vectors is at most as long as the same
        # blend of their lengths.
        longest = own * lengths(matrix) + neighbours.T @ self._corpus.lengths
        return ScoredPapers(
            own=sp.csr_matrix(sp.csr_matrix(matrix.T) @ sp.diags(own)),
            neighbours=neighbours,
            corpus=self._corpus,
            dense=dense,
            generic=generic,
            longest=float(longest.max(initial=0)),
        )


class DensePapers:
    """Papers as a dense (terms x papers) array, over the terms that some rows use.

    A sparse row times it adds up the rows of its terms in the row's order, the very sums
    of the sparse product (a term no paper holds adds exact zeros and is left out), without
    the sparse product's bookkeeping or a conversion of its result to dense: a day's papers
    leave few of a block's scores zero.
    """

    def __init__(self, papers: ScoredPapers, rows: sp.csr_matrix) -> None:
        # Marked, not sorted out with np.unique: a million profiles hold a hundred million
        # entries.
        marked = np.zeros(papers.own.shape[0], dtype=bool)
        marked[rows.indices] = True
        used = np.flatnonzero(marked)
        block = papers.terms(used)
        held = np.diff(block.indptr) > 0
        self._terms = used[held]
        self._position = np.full(papers.own.shape[0], -1)
        self._position[self._terms] = np.arange(self._terms.size)
        self.dense = block[held].toarray()

    def local(self, rows: sp.csr_matrix) -> sp.csr_matrix:
        """`rows` over the dense array's terms (its rows), each row's entries in their order."""
        position = self._position[rows.indices]
        kept = position >= 0
        data, indptr = rows.data, rows.indptr
        if not kept.all():
            data, position = data[kept], position[kept]
            indptr = np.concatenate(([0], np.cumsum(kept)))[indptr]
        return sp.csr_matrix((data, position, indptr), shape=(rows.shape[0], self._terms.size))

    def product(self, rows: sp.csr_matrix) -> np.ndarray:
        """`rows @ papers.T` as a dense (rows x papers) array."""
        return np.asarray(self.local(rows) @ self.dense)


class Scorer:
    """Float64 raw scores of profiles (`direct + mix @ corpus`, and a dense vector) against
    a set of `ScoredPapers`: the formula above, block by block.

    A profile's stored-paper part is scored through the similarities of those stored papers
    with the scored ones, computed once for all profiles: a few weights per profile, where
    its terms would be hundreds.
    """

    def __init__(self, papers: ScoredPapers, direct: sp.csr_matrix, mix: sp.csr_matrix) -> None:
        """Ready to score the profiles `direct + mix @ corpus` (or blocks of them)."""
        corpus = papers.corpus
        self.terms = DensePapers(papers, direct)
        self.embedding = np.ascontiguousarray(papers.dense.T)  # dimensions x papers
        self.generic = papers.generic
        # The stored papers the profiles hold, and their similarities with the papers.
        self.stored = np.unique(mix.indices)
        self._position = np.full(len(corpus), -1)
        self._position[self.stored] = np.arange(self.stored.size)
        self.similar = papers.similarities(corpus.matrix[self.stored])

    def scores(self, direct: sp.csr_matrix, mix: sp.csr_matrix, dense: np.ndarray) -> np.ndarray:
        """A dense (profiles x papers) block of raw scores."""
        raw = self.terms.product(direct)
        raw += dense @ self.embedding
        raw -= self.generic
        if mix.nnz:
            raw += self.local(mix) @ self.similar
        return raw

    def local(self, mix: sp.csr_matrix) -> sp.csr_matrix:
        """`mix` over the stored papers the profiles hold (the rows of `similar`)."""
        return sp.csr_matrix(
            (mix.data, self._position[mix.indices], mix.indptr),
            shape=(mix.shape[0], self.stored.size),
        )


def raw_scores(
    papers: ScoredPapers, direct: sp.csr_matrix, mix: sp.csr_matrix, dense: np.ndarray
) -> np.ndarray:
    """The float64 raw scores of every profile (`direct + mix @ corpus`, `dense`) against
    every paper, as one dense (profiles x papers) array: for a few profiles.

    The profiles are scored in the screen's blocks, so that the dense part's float32
    products are those the screen computes bit for bit: BLAS sums a cell's products in an
    order that depends on the shape of the whole product (OpenBLAS has kernels of its own
    for small ones).
    """
    scorer = Scorer(papers, direct, mix)
    step = chunk(len(papers))
    blocks = [slice(start, start + step) for start in range(0, direct.shape[0], step)]
    if not blocks:
        return np.zeros((0, len(papers)))
    return np.vstack([scorer.scores(direct[b], mix[b], dense[b]) for b in blocks])
