"""The product's interest model behind the shared quality bench's `--scorer` contract.

`fit(corpus)` fits `digest.ranking.InterestModel` on the track's papers, as `digest run`
fits it on the stored papers; `score(profile, candidates)` ranks the candidates for the
profile (keywords and/or seed papers, and in the bench's feedback rounds the papers the
reader liked and disliked, as `digest run` passes a reader's votes) with the model's picks,
exactly as `digest run` does. The bench wants a score for every candidate, but the product
only sends its picks: the picks come first, in the product's order, and the candidates it
would not send follow, best standard score first (they only fill ranks past the picks).

`digest run` fits the model with every subscriber's keywords, whose phrases become features;
here the profiles arrive one at a time, so the model is fitted again, with every profile's
keywords so far, when a profile brings a phrase that some paper holds and the model lacks.

Usage, from the repository root, with the CiteULike bench's folder at EVAL (the data stays
outside the repository; `python -m benchmarks.quality` runs this for the page):

    python EVAL/quality_bench.py --scorer benchmarks.citeulike_scorer:score

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
from digest.ranking.analyzer import STOP_WORDS, Analyzer, Phrase, phrases, segments
from digest.ranking.scoring import raw_scores
from digest.ranking.topk import top
from digest.ranking.vocabulary import Corpus

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
    _state["documents"] = documents
    # As `digest run` reads it: DIGEST_EMBEDDINGS, off unless set (loaded once per process).
    _state["embedder"] = load_embedder(load_settings().embeddings)
    _state["terms"] = {}  # every profile's keywords so far, in order, once each
    _state["model"] = InterestModel(documents, (), _state["embedder"])
    _state["row"] = {doc.id: row for row, doc in enumerate(documents)}
    _state["by_id"] = {doc.id: doc for doc in documents}


def _model_for(keywords: Sequence[str]) -> InterestModel:
    """The model fitted with every profile's keywords so far, fitted again only when
    `keywords` bring a phrase that some paper holds and the model lacks: any other phrase
    leaves the features of the stored papers, all the bench ranks, as they are."""
    model: InterestModel = _state["model"]
    terms: dict[str, None] = _state["terms"]
    terms.update(dict.fromkeys(keywords))
    vocabulary = model.corpus.vocabulary
    new = [phrase for phrase in phrases(keywords) if " ".join(phrase) not in vocabulary]
    if any(_held(model.corpus, phrase) for phrase in new):
        model = InterestModel(_state["documents"], terms, _state["embedder"])
        _state["model"] = model
    return model


def _held(corpus: Corpus, phrase: Phrase) -> bool:
    """Whether some stored paper holds `phrase` whole: only the papers holding each of its
    content words are analyzed (a refit costs seconds, this a few milliseconds)."""
    columns = [corpus.vocabulary.get(word) for word in phrase if word not in STOP_WORDS]
    if not columns or None in columns:
        return False  # a word no paper uses
    rows = set(corpus.matrix_t[columns[0]].indices.tolist())
    for column in columns[1:]:
        rows &= set(corpus.matrix_t[column].indices.tolist())
    analyzer, feature = Analyzer([phrase]), " ".join(phrase)
    return any(feature in analyzer(segments(corpus.documents[row])) for row in sorted(rows))


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
        liked=[_document(paper) for paper in profile.get("liked") or []],
        disliked=[_document(paper) for paper in profile.get("disliked") or []],
    )


def score(profile: dict[str, Any], candidates: Sequence[dict[str, Any]]) -> list[float]:
    """One number per candidate, higher first: the product's picks, then the rest."""
    if "model" not in _state:
        fit(candidates)
    model = _model_for(profile.get("keywords") or [])
    docs = [_document(paper) for paper in candidates]
    if not docs:
        return []
    matrix = _rows(docs)
    interest = interest_of(profile, min(DEPTH, len(docs)))
    ids = np.array([doc.id for doc in docs])
    # `InterestModel.rank` and `standard_scores` in one: the profile built and the papers
    # scored once for both, and the picks left unexplained (explaining changes no order).
    profiles = model.profiles([interest])
    papers = model.scored(matrix, model.meaning(docs))
    ((picked, _),) = top(profiles, papers, matrix, ids)
    raw = raw_scores(papers, profiles.direct, profiles.mix, profiles.dense).ravel()
    z = (raw - profiles.mean[0]) / profiles.spread[0]
    chosen = set(picked.tolist())
    rest = [i for i in np.lexsort((ids, -z)).tolist() if i not in chosen]
    result = np.zeros(len(docs))
    result[[*picked.tolist(), *rest]] = np.arange(len(docs), 0, -1)
    return result.tolist()
