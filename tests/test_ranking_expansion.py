"""Term expansion of short profiles with words related through the corpus' titles."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pytest

from digest.ranking import Document, Interest, InterestModel

# Eight topics of six words; every title is two words of one topic, so words are related
# exactly when they share a topic.
TOPICS = {
    "language": ["transformer", "attention", "token", "translation", "decoding", "parsing"],
    "vision": ["image", "convolution", "pixel", "segmentation", "detection", "camera"],
    "biology": ["protein", "folding", "enzyme", "genome", "sequencing", "cell"],
    "robotics": ["robot", "grasping", "locomotion", "manipulation", "legged", "gripper"],
    "speech": ["speech", "acoustic", "phoneme", "speaker", "recognition", "audio"],
    "graph": ["graph", "node", "edge", "message", "citation", "molecule"],
    "finance": ["market", "stock", "portfolio", "trading", "price", "volatility"],
    "climate": ["climate", "weather", "rainfall", "ocean", "carbon", "forecast"],
}


def titles_corpus() -> list[Document]:
    """One title-only paper per pair of words within a topic: 120 papers, ids from 1."""
    titles = [f"{a} {b}" for topic in TOPICS.values() for a, b in combinations(topic, 2)]
    return [Document(n + 1, title.capitalize(), "") for n, title in enumerate(titles)]


def picked_titles(model: InterestModel, interest: Interest) -> list[str]:
    by_id = {doc.id: doc.title.lower() for doc in titles_corpus()}
    return [by_id[pick.paper_id] for pick in model.rank(interest, titles_corpus())]


@pytest.fixture
def no_expansion(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("digest.ranking.expansion.EXPANSION_WEIGHT", 0.0)


def test_every_title_word_used_twice_has_a_unit_term_vector() -> None:
    model = InterestModel(titles_corpus(), [])

    names = set(model.corpus.names[model.term_vectors.columns])
    assert names == {word for topic in TOPICS.values() for word in topic}
    assert np.allclose(np.linalg.norm(model.term_vectors.vectors, axis=1), 1, atol=1e-5)


def test_a_related_word_pulls_up_papers_without_the_profile_word() -> None:
    """A seed titled "Transformer" alone: its topic mates lead to papers that never say it."""
    seed = Document(0, "Transformer", "")
    interest = Interest(keywords={}, seeds=[seed], max_papers=15)

    picks = picked_titles(InterestModel(titles_corpus(), []), interest)

    assert picks
    assert {word for title in picks for word in title.split()} <= set(TOPICS["language"])
    assert any("transformer" not in title.split() for title in picks)


def test_without_expansion_only_papers_with_the_profile_word_are_picked(
    no_expansion: None,
) -> None:
    seed = Document(0, "Transformer", "")
    interest = Interest(keywords={}, seeds=[seed], max_papers=15)

    picks = picked_titles(InterestModel(titles_corpus(), []), interest)

    assert picks
    assert all("transformer" in title.split() for title in picks)


def test_a_long_profile_is_left_unexpanded(monkeypatch: pytest.MonkeyPatch) -> None:
    """A stored paper of a thousand distinct words as the only seed: well past
    EXPANSION_SHORT terms, its profile is exactly its own vector."""
    filler = " ".join(f"w{n:04d}" for n in range(1000))
    long_paper = Document(999, "Transformer attention", f"Transformer attention {filler}.")
    docs = [*titles_corpus(), long_paper]
    long_profile = Interest(keywords={}, seeds=[long_paper])
    short_profile = Interest(keywords={}, seeds=[Document(0, "Transformer", "")])
    model = InterestModel(docs, [])
    expanded = [model.profile_vector(p).toarray() for p in (long_profile, short_profile)]

    monkeypatch.setattr("digest.ranking.expansion.EXPANSION_WEIGHT", 0.0)
    plain = [model.profile_vector(p).toarray() for p in (long_profile, short_profile)]

    assert np.count_nonzero(plain[0]) > 1000
    assert np.array_equal(expanded[0], plain[0])
    assert np.count_nonzero(expanded[1]) > np.count_nonzero(plain[1])


def test_expanded_words_explain_a_pick_but_are_never_matched_keywords() -> None:
    model = InterestModel(titles_corpus(), [])

    picks = model.rank(Interest(keywords={"transformer": 1.0}, max_papers=5), titles_corpus())

    assert len(picks) == 5
    assert all(pick.matched == ["transformer"] for pick in picks)
    assert any(set(pick.terms) - {"transformer"} for pick in picks)


def test_calibration_sees_the_expanded_vector(monkeypatch: pytest.MonkeyPatch) -> None:
    """The mean and spread are those of the vector that scores: a paper holding every topic
    mate of the seed's word, but not the word, stands above the mean with expansion (whichever
    mates it chose), at most at it without."""
    # Five of this small corpus' words make a generic paper: no penalty, the expansion alone.
    monkeypatch.setattr("digest.ranking.scoring.GENERIC_PENALTY", 0.0)
    interest = Interest(keywords={}, seeds=[Document(0, "Transformer", "")])
    related_only = [Document(1, "Attention, token, translation, decoding and parsing", "")]
    model = InterestModel(titles_corpus(), [])
    expanded = model.standard_scores(interest, related_only)
    profiles = model.profiles([interest])

    monkeypatch.setattr("digest.ranking.expansion.EXPANSION_WEIGHT", 0.0)
    plain = model.standard_scores(interest, related_only)

    vector = model.vectors(profiles, np.zeros(1, dtype=int))
    papers = model.calibration.matrix
    reference = (papers @ vector.T).toarray().ravel()
    reference -= model.generic(papers)
    assert profiles.mean[0] == pytest.approx(reference.mean())
    assert expanded[0] > 1
    assert plain[0] <= 0


def test_a_phrase_among_the_terms_leaves_every_word_its_term_vector() -> None:
    """A profile's phrase becomes a feature of the papers holding it; the title words' term
    vectors are learnt from the words alone, the same with the phrase as without."""
    docs = [*titles_corpus(), Document(200, "Attention for decoding", "")]
    plain = InterestModel(docs, [])
    phrased = InterestModel(docs, ["attention for decoding"])

    assert "attention for decoding" in phrased.corpus.vocabulary
    assert "attention for decoding" not in plain.corpus.vocabulary
    words = list(plain.corpus.names[plain.term_vectors.columns])
    assert list(phrased.corpus.names[phrased.term_vectors.columns]) == words
    assert np.allclose(phrased.term_vectors.vectors, plain.term_vectors.vectors, atol=1e-6)
