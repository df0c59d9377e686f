"""Meaning: pretrained text vectors (an `Embedder`, see `digest.embeddings`) joining the dense
part of a profile and of a paper, when the model is given one.

A profile's meaning vector is scaled so that its cosines spread over the reference papers a
fixed share of the rest of its scores: calibration, `min_score`, the keyword requirement and
the float32 screening then work unchanged, the whole score still one sparse product plus
dense ones.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

import numpy as np
import scipy.sparse as sp
from sklearn.preprocessing import normalize

from digest.embeddings import Embedder
from digest.ranking.analyzer import Document
from digest.ranking.arrays import EXPLICIT_ROWS, chunk, ownership, threaded
from digest.ranking.calibration import MIN_SPREAD
from digest.ranking.expansion import shortness
from digest.ranking.vocabulary import Corpus

# The meaning's share of a profile's spread: MEANING_WEIGHT for a long profile, rising to
# MEANING_SHORT for a short one as expansion does (`shortness`): a few titles or keywords say
# little in TF-IDF terms, and their meaning more. A long profile's abstracts already say it.
MEANING_WEIGHT = 0.5
MEANING_SHORT = 1.5

_Item = TypeVar("_Item")
# (profile, item, weight): an item (a paper, a keyword) a profile holds, and its weight.
Entries = Sequence[tuple[int, _Item, float]]


class Meaning:
    """The meaning vectors of papers and profiles from one embedder, over one corpus.

    A stored paper is embedded when first needed and remembered: a run reads the day's
    papers, the reference papers and the subscribers' seeds and history, each once.
    """

    def __init__(self, embedder: Embedder, corpus: Corpus) -> None:
        self._embedder = embedder
        self._corpus = corpus
        # A memo of the stored papers' vectors, filled as they are needed; it never changes
        # an answer, only saves embedding a paper twice.
        self._stored = np.zeros((len(corpus), embedder.dimensions), dtype=np.float32)
        self._embedded = np.zeros(len(corpus), dtype=bool)

    @property
    def width(self) -> int:
        """How many dimensions."""
        return self._embedder.dimensions

    def papers(self, docs: Sequence[Document]) -> np.ndarray:
        """The papers' unit meaning vectors (a stored paper's embedded once)."""
        out = np.zeros((len(docs), self.width), dtype=np.float32)
        stored, rows, fresh = self._corpus.split(docs)
        out[stored] = self.stored(np.array(rows, dtype=int))
        out[fresh] = self._embedder.embed([text(docs[n]) for n in fresh])
        return out

    def stored(self, rows: np.ndarray) -> np.ndarray:
        """The meaning vectors of the stored papers at `rows`."""
        missing = np.unique(rows[~self._embedded[rows]])
        if missing.size:
            self._stored[missing] = self._embedder.embed(
                [text(self._corpus.documents[row]) for row in missing.tolist()]
            )
            self._embedded[missing] = True
        return self._stored[rows]

    def profiles(
        self,
        papers: Entries[Document],
        keywords: Entries[str],
        paper_weight: np.ndarray,
        keyword_weight: np.ndarray,
        disliked: Entries[Document] = (),
        disliked_weight: float = 0.0,
    ) -> np.ndarray:
        """Each profile's unit meaning vector: its papers' (by weight) and its keywords' (by
        weight) summed, each part unit length and weighted as in the sparse profile, less
        `disliked_weight` times the unit centroid of its `disliked` papers, as the sparse
        profile is; a zero row for a profile with neither papers nor keywords.

        Float32 throughout, a block of profiles at a time: at a million profiles each
        (profiles x dimensions) temporary is a gigabyte.
        """
        count = paper_weight.size
        paper_owner, paper_found = self._owned(papers, count, self.papers)
        keyword_owner, keyword_found = self._owned(keywords, count, self._embedder.embed)
        disliked_owner, disliked_found = self._owned(disliked, count, self.papers)
        out = np.empty((count, self.width), dtype=np.float32)
        for start in range(0, count, EXPLICIT_ROWS):
            block = slice(start, start + EXPLICIT_ROWS)
            seed = normalize(paper_owner[block] @ paper_found)
            keyword = normalize(keyword_owner[block] @ keyword_found)
            seed *= paper_weight[block, None].astype(np.float32)
            keyword *= keyword_weight[block, None].astype(np.float32)
            wanted = normalize(seed + keyword)
            # Only the rows with dislikes change: the others stay bit for bit as they were.
            rows = np.flatnonzero(disliked_owner[block].getnnz(axis=1))
            # A profile of dislikes alone asks for nothing, as its sparse vector does.
            rows = rows[wanted[rows].any(axis=1)]
            if rows.size:
                away = normalize(disliked_owner[block][rows] @ disliked_found)
                wanted[rows] = normalize(wanted[rows] - np.float32(disliked_weight) * away)
            out[block] = wanted
        return out

    def _owned(
        self,
        entries: Entries[_Item],
        count: int,
        embed: Callable[[list[_Item]], np.ndarray],
    ) -> tuple[sp.csr_matrix, np.ndarray]:
        """The (owners x items) float32 weights of `entries` and the distinct items' meaning
        vectors, each item (a paper, a keyword) embedded once however many owners hold it."""
        distinct, owner = ownership(entries, count, np.float32)
        if not distinct:
            return owner, np.zeros((0, self.width), dtype=np.float32)
        return owner, embed(distinct)


def joined(
    dense: np.ndarray,
    meaning: np.ndarray,
    reference: np.ndarray,
    spread: np.ndarray,
    terms: np.ndarray,
) -> np.ndarray:
    """The profiles' dense vectors with their meaning vectors appended, each scaled so that
    its cosines with the `reference` papers' meaning spread MEANING_WEIGHT (long profiles) to
    MEANING_SHORT (short ones) times as wide as the rest of the profile's scores (`spread`).

    `terms` is each profile's number of terms, which says how short it is.
    """
    step = chunk(reference.shape[0])

    def spreads(start: int) -> np.ndarray:
        return np.asarray((meaning[start : start + step] @ reference.T).std(axis=1))

    parts = threaded(spreads, range(0, meaning.shape[0], step))
    own = np.concatenate(parts) if parts else np.zeros(0)
    weight = MEANING_WEIGHT + (MEANING_SHORT - MEANING_WEIGHT) * shortness(terms)
    scale = np.divide(weight * spread, own, out=np.zeros_like(own), where=own > MIN_SPREAD)
    out = np.empty((dense.shape[0], dense.shape[1] + meaning.shape[1]), dtype=np.float32)
    out[:, : dense.shape[1]] = dense
    out[:, dense.shape[1] :] = meaning
    out[:, dense.shape[1] :] *= scale[:, None].astype(np.float32)
    return out


def text(doc: Document) -> str:
    """A paper's text as its meaning is read from: the title, then the abstract."""
    return f"{doc.title}. {doc.abstract}" if doc.abstract else doc.title
