"""The optional semantic part: WordLlama's vectors, and the interest model weighing them."""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence

import numpy as np
import pytest

from digest import embeddings
from digest.config import load_settings
from digest.embeddings import WordLlamaEmbedder, load_embedder
from digest.errors import ConfigError
from digest.ranking import Document, Interest, InterestModel
from digest.ranking.meaning import MEANING_SHORT, MEANING_WEIGHT

# Four topics in plain words, a few titles each: a profile's topic shows in the meaning of
# titles that share none of its words.
TITLES = {
    "vision": [
        "Convolutional networks for image classification",
        "Object detection in street photographs",
        "Semantic segmentation of satellite images",
        "Recognizing faces in video frames",
        "Visual transformers for picture recognition",
    ],
    "proteins": [
        "Predicting protein structure from amino acid sequences",
        "Folding of enzymes simulated with molecular dynamics",
        "Binding sites of antibodies located by docking",
        "Genome sequencing errors corrected by alignment",
        "Gene expression in yeast cells under stress",
    ],
    "speech": [
        "Speech recognition with recurrent acoustic models",
        "Spoken language translation for low resource dialects",
        "Voice conversion between speakers",
        "Automatic transcription of recorded lectures",
        "Text to speech synthesis with natural prosody",
    ],
    "markets": [
        "Stock price forecasting with volatility models",
        "Monetary policy and inflation expectations",
        "Credit risk of corporate bonds",
        "Portfolio allocation under transaction costs",
        "Auction design for electricity markets",
    ],
}


def corpus() -> list[Document]:
    """Every title, ids from 1 in topic order."""
    titles = [title for group in TITLES.values() for title in group]
    return [Document(n, title, "") for n, title in enumerate(titles, start=1)]


class Counting:
    """The real embedder, counting the texts it is asked to embed."""

    def __init__(self, inner: WordLlamaEmbedder) -> None:
        self._inner = inner
        self.texts: list[str] = []

    @property
    def dimensions(self) -> int:
        return self._inner.dimensions

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.texts += texts
        return self._inner.embed(texts)


@pytest.fixture(scope="module")
def wordllama() -> WordLlamaEmbedder:
    if importlib.util.find_spec("wordllama") is None:
        pytest.skip("the embeddings extra is not installed")
    return WordLlamaEmbedder()


def test_vectors_are_unit_rows_in_the_texts_order(wordllama: WordLlamaEmbedder) -> None:
    texts = ["a much longer text about graph neural networks and message passing", "", "graphs"]

    together = wordllama.embed(texts)
    alone = np.vstack([wordllama.embed([text]) for text in texts])

    assert together.shape == (3, embeddings.WORDLLAMA_DIMENSIONS)
    assert together.dtype == np.float32
    assert np.allclose(np.linalg.norm(together[[0, 2]], axis=1), 1, atol=1e-5)
    assert not together[1].any()  # no tokens, no meaning
    assert np.allclose(together, alone, atol=1e-6)


def test_alike_texts_are_closer_than_unrelated_ones(wordllama: WordLlamaEmbedder) -> None:
    seed, alike, unrelated = wordllama.embed(
        ["Speech recognition", "Transcribing spoken words automatically", "Corporate bond prices"]
    )
    assert seed @ alike > seed @ unrelated + 0.1


def test_a_seed_finds_its_topic_in_other_words(
    wordllama: WordLlamaEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The seed shares no word with any title: TF-IDF alone ties them all (a corpus this
    small has no dense part), and ties go to the smallest ids; meaning ranks the market
    titles, the last ones, first."""
    # The penalty for generic papers would order the ties otherwise.
    monkeypatch.setattr("digest.ranking.scoring.GENERIC_PENALTY", 0.0)
    docs = corpus()
    interest = Interest(
        keywords={}, seeds=[Document(100, "Trading strategies for equity investors", "")]
    )
    markets = {doc.id for doc in docs if doc.title in TITLES["markets"]}

    plain = InterestModel(docs, []).standard_scores(interest, docs)
    meant = InterestModel(docs, [], wordllama).standard_scores(interest, docs)

    assert np.ptp(plain) == pytest.approx(0)
    assert {docs[n].id for n in np.argsort(-meant)[: len(markets)]} == markets


def test_meaning_reorders_a_keyword_alert_within_its_keyword(
    wordllama: WordLlamaEmbedder,
) -> None:
    """A keyword profile still needs its keyword whole; among the papers that hold it, the
    ones whose other words mean what the profile means gain on the others."""
    docs = [
        *corpus(),
        Document(30, "Models of recorded speech for hearing aids", ""),
        Document(31, "Models of bond yields for pension funds", ""),
    ]
    interest = Interest(keywords={"models": 1.0, "voice recognition": 1.0}, max_papers=10)
    terms = ["models", "voice recognition"]

    plain = {p.paper_id: p.score for p in InterestModel(docs, terms).rank(interest, docs)}
    meant = {
        p.paper_id: p.score for p in InterestModel(docs, terms, wordllama).rank(interest, docs)
    }

    assert set(plain) == set(meant) == {11, 16, 30, 31}  # the titles holding "models"
    # Speech (11, 30) against markets (16, 31): the gaps widen.
    assert meant[30] - meant[31] > plain[30] - plain[31] + 0.05
    assert meant[11] - meant[16] > plain[11] - plain[16] + 0.05


def test_scores_stay_calibrated_with_meaning(wordllama: WordLlamaEmbedder) -> None:
    """Over the reference papers (all of them, in a corpus this small) a profile's standard
    scores have mean 0 and spread 1 with the semantic part as without."""
    docs = corpus()
    interest = Interest(keywords={"speech": 1.0}, seeds=[docs[0]])
    for model in (InterestModel(docs, ["speech"]), InterestModel(docs, ["speech"], wordllama)):
        z = model.standard_scores(interest, docs)
        assert z.mean() == pytest.approx(0, abs=1e-6)
        assert z.std() == pytest.approx(1, abs=1e-6)


@pytest.mark.parametrize("short", [True, False])
def test_meaning_weighs_a_share_of_the_rest_of_the_score(
    wordllama: WordLlamaEmbedder, monkeypatch: pytest.MonkeyPatch, short: bool
) -> None:
    """The profile's meaning vector is scaled so that its cosines spread over the reference
    papers MEANING_SHORT times as wide as the TF-IDF and dense parts' scores for a short
    profile (a title), MEANING_WEIGHT times for a long one."""
    if not short:  # every profile counts as long
        monkeypatch.setattr("digest.ranking.expansion.EXPANSION_SHORT", 1e-3)
    docs = corpus()
    interest = Interest(keywords={}, seeds=[docs[10]])
    sparse = InterestModel(docs, [])
    plain = sparse.profiles([interest])
    model = InterestModel(docs, [], wordllama)
    meant = model.profiles([interest])
    width = plain.dense.shape[1]

    semantic = meant.dense[0, width:] @ model.meaning(docs).T
    rest = sparse.raw_scores(plain, sparse.corpus_matrix)[0]

    share = MEANING_SHORT if short else MEANING_WEIGHT
    assert MEANING_SHORT != MEANING_WEIGHT
    assert np.array_equal(meant.dense[:, :width], plain.dense)
    assert semantic.std() == pytest.approx(share * rest.std(), rel=1e-4)


def test_each_stored_paper_is_embedded_once_and_only_when_needed(
    wordllama: WordLlamaEmbedder,
) -> None:
    docs = corpus()  # every paper a reference paper: all are needed
    counting = Counting(wordllama)
    model = InterestModel(docs, ["speech"], counting)
    assert counting.texts == []  # nothing before the first profile

    interest = Interest(keywords={"speech": 1.0}, seeds=[docs[0]])
    model.rank(interest, docs[:5])
    model.rank(interest, docs[5:])

    papers = [text for text in counting.texts if text != "speech"]
    assert sorted(papers) == sorted(doc.title for doc in docs)


def test_a_model_with_an_embedder_refuses_papers_without_their_meaning(
    wordllama: WordLlamaEmbedder,
) -> None:
    docs = corpus()
    model = InterestModel(docs, [], wordllama)
    profiles = model.profiles([Interest(keywords={}, seeds=[docs[0]])])
    ids = np.array([doc.id for doc in docs])

    with pytest.raises(ValueError, match="meaning"):
        model.top(profiles, model.corpus_matrix, ids)


def test_papers_blended_with_their_neighbours_keep_their_own_meaning(
    wordllama: WordLlamaEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only a paper's TF-IDF vector, dense part and penalty are blended with its neighbours';
    its meaning vector stays its own, and the seed's topic still comes first."""
    monkeypatch.setattr("digest.ranking.neighbours.NEIGHBOURS", 2)
    monkeypatch.setattr("digest.ranking.neighbours.NEIGHBOUR_TERMS", (0, 1))
    monkeypatch.setattr("digest.ranking.neighbours.NEIGHBOUR_CORPUS", (0, 1))
    docs = corpus()
    model = InterestModel(docs, [], wordllama)
    meaning = model.meaning(docs)

    papers = model.scored(model.corpus_matrix, meaning)
    picks = model.rank(Interest(keywords={}, seeds=[docs[0]]), docs[1:])

    assert papers.neighbours.nnz
    assert np.array_equal(papers.dense[:, -meaning.shape[1] :], meaning)
    vision = {doc.id for doc in docs[1:5]}
    assert picks[0].paper_id in vision


def test_embeddings_are_off_unless_asked_for() -> None:
    assert load_settings({}).embeddings == "off"
    assert load_embedder("off") is None
    assert load_settings({"DIGEST_EMBEDDINGS": "WordLlama"}).embeddings == "wordllama"


def test_an_unknown_embedder_names_the_setting() -> None:
    with pytest.raises(ConfigError, match="DIGEST_EMBEDDINGS must be one of off, wordllama"):
        load_settings({"DIGEST_EMBEDDINGS": "minilm"})


def test_a_missing_extra_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        embeddings.importlib.util,
        "find_spec",
        lambda name, *rest: None if name == "wordllama" else real(name, *rest),
    )
    load_embedder.cache_clear()
    try:
        with pytest.raises(ConfigError, match=r"pip install 'digest\[embeddings\]'"):
            load_embedder("wordllama")
        # And the settings say so first, before a run ingests anything.
        with pytest.raises(ConfigError, match="DIGEST_EMBEDDINGS=wordllama needs"):
            load_settings({"DIGEST_EMBEDDINGS": "wordllama"})
    finally:
        load_embedder.cache_clear()


def test_a_disliked_paper_moves_the_meaning_away_from_it(wordllama: WordLlamaEmbedder) -> None:
    """The profile's meaning turns away from a disliked paper as its TF-IDF vector does, and
    a profile of dislikes alone means nothing."""
    docs = corpus()
    model = InterestModel(docs, [], wordllama)
    seeds = [docs[0], docs[15]]  # vision and markets
    disliked = Document(200, "Forecasting bond spreads with volatility", "")
    away = wordllama.embed([disliked.title])[0]
    plain, less, alone = model.profiles(
        [
            Interest(keywords={}, seeds=seeds),
            Interest(keywords={}, seeds=seeds, disliked=[disliked]),
            Interest(keywords={}, disliked=[disliked]),
        ]
    ).dense[:, -wordllama.dimensions :]

    def cosine(vector: np.ndarray) -> float:
        return float(vector @ away / np.linalg.norm(vector))

    assert cosine(less) < cosine(plain) - 0.05
    assert not alone.any()
