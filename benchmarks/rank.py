"""The rank stage: every subscriber's scores and top 10 over a day's papers.

The product scores all profiles with one sparse product per chunk of them and a partial
sort (`InterestModel.top`); the baseline is the straightforward loop, one product and one
sort per subscriber, over the same profile vectors. Building the profiles (keywords,
feedback, calibration) and explaining the picks are measured on lines of their own, and so,
with the `embeddings` extra installed, is the cost of its semantic part: embedding the
day's papers, and building and scoring the profiles with it.
"""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import numpy as np

from benchmarks.harness import Measurement, Point, Timing, measure
from benchmarks.synthetic import Synthetic
from digest.embeddings import Embedder, load_embedder
from digest.ranking import Document, Interest, InterestModel, Profiles

# The baseline loop takes minutes at 100,000 subscribers and more: it runs over this many
# and is compared by throughput.
BASELINE_MOST = 10_000
TOP = 10
# Profiles whose terms are counted for the mean length a profile line reports.
TERMS_SAMPLE = 10_000


def setup(
    point: Point, embedder: Embedder | None = None
) -> tuple[InterestModel, list[Document], list[Interest]]:
    """The model fitted on the day's papers, and the subscribers' interests."""
    synthetic = Synthetic(point.seed)
    papers = [
        Document(n, p.title, p.abstract) for n, p in enumerate(synthetic.papers(point.papers))
    ]
    interests = [
        Interest(keywords=dict.fromkeys(profile.keywords, 1.0), max_papers=TOP)
        for profile in synthetic.profiles(point.subscribers)
    ]
    terms = {k for interest in interests for k in interest.keywords}
    return InterestModel(papers, terms, embedder), papers, interests


def _profiles(point: Point) -> Timing:
    model, _, interests = setup(point)
    started = time.perf_counter()
    profiles = model.profiles(interests)
    seconds = time.perf_counter() - started
    # A sample: all profiles written out term by term at once, which the product never
    # does, were the line's peak (17 GB at a million, where building them peaks at 2.9).
    sample = np.arange(min(len(profiles), TERMS_SAMPLE))
    terms = np.diff(model.vectors(profiles, sample).indptr)
    return Timing(seconds, len(profiles), {"headline": False, "terms_mean": float(terms.mean())})


def _top(point: Point) -> Timing:
    model, papers, interests = setup(point)
    profiles = model.profiles(interests)
    ids = np.array([doc.id for doc in papers])
    started = time.perf_counter()
    chosen = model.top(profiles, model.corpus_matrix, ids)
    seconds = time.perf_counter() - started
    return Timing(seconds, len(profiles), {"picks": int(sum(len(rows) for rows, _ in chosen))})


def _explained(point: Point) -> Timing:
    model, papers, interests = setup(point)
    profiles = model.profiles(interests)
    started = time.perf_counter()
    picks = model.rank_many(profiles, papers, model.corpus_matrix)
    seconds = time.perf_counter() - started
    return Timing(seconds, len(profiles), {"headline": False, "picks": sum(map(len, picks))})


def _loop(point: Point) -> Timing:
    model, _, interests = setup(point)
    profiles: Profiles = model.profiles(interests[:BASELINE_MOST])
    vectors = model.vectors(profiles, np.arange(len(profiles)))
    matrix = model.corpus_matrix
    started = time.perf_counter()
    picks = 0
    for number in range(len(profiles)):
        raw = (matrix @ vectors[number].T).toarray().ravel()
        order = np.argsort(-raw, kind="stable")[:TOP]
        picks += int((raw[order] > 0).sum())
    return Timing(time.perf_counter() - started, len(profiles), {"picks": picks})


def _wordllama() -> Embedder:
    embedder = load_embedder("wordllama")
    assert embedder is not None
    return embedder


def _embedded(point: Point) -> Timing:
    model, papers, _ = setup(point, _wordllama())
    started = time.perf_counter()
    model.meaning(papers)
    return Timing(time.perf_counter() - started, len(papers), {"headline": False})


def _meaning_profiles(point: Point) -> Timing:
    model, papers, interests = setup(point, _wordllama())
    model.meaning(papers)  # embedding the papers is a line of its own
    started = time.perf_counter()
    model.profiles(interests)
    return Timing(time.perf_counter() - started, len(interests), {"headline": False})


def _meaning_top(point: Point) -> Timing:
    model, papers, interests = setup(point, _wordllama())
    meaning = model.meaning(papers)
    profiles = model.profiles(interests)
    ids = np.array([doc.id for doc in papers])
    started = time.perf_counter()
    chosen = model.top(profiles, model.corpus_matrix, ids, meaning=meaning)
    seconds = time.perf_counter() - started
    picks = int(sum(len(rows) for rows, _ in chosen))
    return Timing(seconds, len(profiles), {"headline": False, "picks": picks})


def _with_meaning(point: Point) -> list[Measurement]:
    """The semantic part's lines (none without the embeddings extra)."""
    if importlib.util.find_spec("wordllama") is None:
        return []
    scale = point.label
    return [
        measure("rank", "wordllama: embed the day's papers", scale, "papers", _embedded, point),
        measure(
            "rank",
            "digest + wordllama: build profiles",
            scale,
            "subscribers",
            _meaning_profiles,
            point,
        ),
        measure(
            "rank",
            "digest + wordllama: scored blocks + partial sort",
            scale,
            "subscribers",
            _meaning_top,
            point,
        ),
    ]


def measurements(point: Point, root: Path) -> list[Measurement]:
    """Scores and top 10 for every subscriber, against the per-subscriber loop."""
    scale = point.label
    return [
        measure(
            "rank",
            "baseline: per-subscriber loop",
            scale,
            "subscribers",
            _loop,
            point,
            baseline=True,
        ),
        measure(
            "rank",
            "digest: scored blocks + bounded partial sort",
            scale,
            "subscribers",
            _top,
            point,
        ),
        measure(
            "rank",
            "digest: build profiles (feedback, calibration)",
            scale,
            "subscribers",
            _profiles,
            point,
        ),
        measure(
            "rank", "digest: top 10 with explanations", scale, "subscribers", _explained, point
        ),
        *_with_meaning(point),
    ]
