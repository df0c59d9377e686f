"""The product's interest model behind the shared quality bench's `--scorer` contract.

`fit(corpus)` fits `digest.ranking.InterestModel` on the track's papers, as `digest run`
fits it on the stored papers; `score(profile, candidates)` ranks the candidates for the
profile (keywords and/or seed papers) with `InterestModel.rank`, exactly as `digest run`
does. The bench wants a score for every candidate, but the product only sends its picks:
the picks come first, in the product's order, and the candidates it would not send follow,
best standard score first (they only fill ranks past the picks).

Usage, from the repository root (the data stays outside the repository):

    python ../shared/eval/quality_bench.py --scorer benchmarks.citeulike_scorer:score

With the `embeddings` extra installed, `DIGEST_EMBEDDINGS=wordllama` in the environment
scores with the model's semantic part, as it does for `digest run`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from digest.config import load_settings
from digest.embeddings import load_embedder
from digest.ranking import Document, Interest, InterestModel

# The bench reads nDCG@10, P@10, R@50 and MRR: the product's own order decides the first
# DEPTH ranks (explaining 1,000 picks per profile would only cost time), standard scores
# the rest.
DEPTH = 100
# One model per fitted corpus; the module-level functions are what the bench calls.
_state: dict[str, Any] = {}


def _document(paper: dict[str, Any]) -> Document:
    return Document(int(paper["id"]), str(paper["title"]), str(paper.get("abstract") or ""))


def fit(corpus: Sequence[dict[str, Any]]) -> None:
    """Fit the interest model on every paper of the track, as `digest run` does."""
    documents = [_document(paper) for paper in corpus]
    _state.clear()
    # As `digest run` reads it: DIGEST_EMBEDDINGS, off unless set (loaded once per process).
    _state["model"] = InterestModel(documents, (), load_embedder(load_settings().embeddings))
    _state["row"] = {doc.id: row for row, doc in enumerate(documents)}
    _state["by_id"] = {doc.id: doc for doc in documents}


def _rows(candidates: list[Document]) -> sp.csr_matrix:
    """The candidates' vectors: rows of the fitted corpus when the paper is the stored one
    (`digest run` ranks stored papers: the same rows as `transform`, analyzed once)."""
    model: InterestModel = _state["model"]
    if all(_state["by_id"].get(doc.id) == doc for doc in candidates):
        return model.corpus_matrix[[_state["row"][doc.id] for doc in candidates]]
    return model.transform(candidates)


def interest_of(profile: dict[str, Any], max_papers: int) -> Interest:
    """The bench's profile as the product's Interest (keywords weigh the same)."""
    return Interest(
        keywords=dict.fromkeys(profile.get("keywords") or [], 1.0),
        max_papers=max_papers,
        min_score=0.0,
        seeds=[_document(seed) for seed in profile.get("seeds") or []],
    )


def score(profile: dict[str, Any], candidates: Sequence[dict[str, Any]]) -> list[float]:
    """One number per candidate, higher first: the product's picks, then the rest."""
    if "model" not in _state:
        fit(candidates)
    model: InterestModel = _state["model"]
    # `digest run` fits the model with every profile's phrases; here they arrive one
    # profile at a time.
    model.add_terms(profile.get("keywords") or [])
    docs = [_document(paper) for paper in candidates]
    if not docs:
        return []
    matrix = _rows(docs)
    interest = interest_of(profile, min(DEPTH, len(docs)))
    picks = model.rank(interest, docs, matrix)
    z = model.standard_scores(interest, docs, matrix)
    ids = np.array([doc.id for doc in docs])
    picked = {pick.paper_id: n for n, pick in enumerate(picks)}
    rest = [i for i in np.lexsort((ids, -z)) if int(ids[i]) not in picked]
    result = np.zeros(len(docs))
    for position, i in enumerate([*(np.flatnonzero(ids == p)[0] for p in picked), *rest]):
        result[i] = len(docs) - position
    return result.tolist()
