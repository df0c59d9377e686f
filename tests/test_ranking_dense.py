"""The dense part of the score: averaged term vectors meet papers that share no word."""

from __future__ import annotations

import numpy as np
import pytest

from digest.ranking import Document, Interest, InterestModel
from digest.ranking.dense import DENSE_MIN_WORDS, DENSE_WEIGHT, TERM_DIM

# Eight topics of 30 made-up words; every title is three words of one topic, so words are
# related exactly when they share a topic, and there are enough of them (240) for a dense part.
TOPICS = [f"topic{t}" for t in range(8)]
WORDS = {topic: [f"{topic}w{n}" for n in range(30)] for topic in TOPICS}


def corpus() -> list[Document]:
    """60 titles per topic, ids from 1 in topic order."""
    rng = np.random.default_rng(0)
    docs: list[Document] = []
    for topic in TOPICS:
        for _ in range(60):
            title = " ".join(rng.choice(WORDS[topic], size=3, replace=False))
            docs.append(Document(len(docs) + 1, title, ""))
    return docs


def with_abstracts() -> list[Document]:
    """`corpus()` with an abstract of one word no title uses ("topic3a7"), ten per topic."""
    return [Document(doc.id, doc.title, f"{topic_of(doc)}a{doc.id % 10}.") for doc in corpus()]


def topic_of(doc: Document) -> str:
    return doc.title.split()[0].split("w")[0]


@pytest.fixture
def no_expansion(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the dense part can relate words that papers do not share (and no penalty for
    generic papers tells apart the papers that share none)."""
    monkeypatch.setattr("digest.ranking.expansion.EXPANSION_WEIGHT", 0.0)
    monkeypatch.setattr("digest.ranking.scoring.GENERIC_PENALTY", 0.0)


def test_papers_of_the_seeds_topic_without_its_words_come_first(
    no_expansion: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = corpus()
    model = InterestModel(docs, [])
    seed_words = WORDS["topic3"][:3]
    interest = Interest(keywords={}, seeds=[Document(0, " ".join(seed_words), "")])
    others = [doc for doc in docs if not set(doc.title.split()) & set(seed_words)]
    same = np.array([topic_of(doc) == "topic3" for doc in others])

    dense = model.standard_scores(interest, others)
    monkeypatch.setattr("digest.ranking.dense.DENSE_WEIGHT", 0.0)
    sparse = model.standard_scores(interest, others)

    assert same.sum() > 10
    # Nearly all of them above every paper of another topic (a few titles pair words whose
    # vectors the SVD placed apart).
    assert np.mean(dense[same] > dense[~same].max()) > 0.9
    assert np.ptp(sparse) == pytest.approx(0)  # no shared word: TF-IDF alone ties them all


def test_words_only_abstracts_use_join_through_the_papers_holding_them(
    no_expansion: None,
) -> None:
    docs = with_abstracts()
    model = InterestModel(docs, [])
    words = set(model.corpus.names[model.dense.columns])
    seed = Document(0, "", "topic3a1 and topic3a2.")
    others = [doc for doc in docs if not doc.abstract.startswith(("topic3a1", "topic3a2"))]
    same = np.array([topic_of(doc) == "topic3" for doc in others])

    z = model.standard_scores(Interest(keywords={}, seeds=[seed]), others)

    assert {f"topic{t}a{n}" for t in range(8) for n in range(10)} <= words
    assert np.mean(z[same] > z[~same].max()) > 0.9


def test_paper_vectors_are_unit_and_without_the_common_direction() -> None:
    model = InterestModel(corpus(), [])

    embedding = model.embedding(model.corpus_matrix)

    assert embedding.shape == (480, TERM_DIM)
    assert np.allclose(np.linalg.norm(embedding, axis=1), 1, atol=1e-5)
    assert np.allclose(embedding @ model.dense.common, 0, atol=1e-5)


def test_a_stored_seed_scores_as_its_text_does() -> None:
    """A stored seed joins the profile through the stored papers' sums, a new one through its
    terms: the same dense vector, and calibration sees it either way."""
    docs = corpus()
    model = InterestModel(docs, [])
    stored = Interest(keywords={}, seeds=[docs[100]])
    fresh = Interest(keywords={}, seeds=[Document(0, docs[100].title, "")])
    profiles = model.profiles([stored, fresh])

    assert profiles.mix[0].nnz and not profiles.mix[1].nnz
    assert np.allclose(profiles.dense[0], profiles.dense[1], atol=1e-6)
    assert np.linalg.norm(profiles.dense[0]) == pytest.approx(DENSE_WEIGHT)
    assert np.allclose(model.standard_scores(stored, docs), model.standard_scores(fresh, docs))
    vector = model.vectors(profiles, np.zeros(1, dtype=int))
    papers = model.calibration.matrix
    reference = (papers @ vector.T).toarray().ravel()
    reference += model.embedding(papers) @ profiles.dense[0]
    reference -= model.generic(papers)
    assert profiles.mean[0] == pytest.approx(reference.mean(), abs=1e-6)


def test_a_small_corpus_has_no_dense_part() -> None:
    """Under DENSE_MIN_WORDS words with a term vector, the SVD learns nothing to average."""
    docs = corpus()[:: 60 // 4]  # four titles per topic: far fewer words used twice
    model = InterestModel(docs, [])
    profiles = model.profiles([Interest(keywords={}, seeds=[docs[0]])])

    assert model.term_vectors.columns.size < DENSE_MIN_WORDS
    assert not profiles.dense.any()
    assert not model.embedding(model.corpus_matrix).any()
