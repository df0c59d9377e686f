"""The interest model (pure, no database) and the `rank` command."""

from __future__ import annotations

import json
import re
from datetime import date

import pytest

from digest.pages import paper_key, parse_page
from digest.profiles import load_profiles
from digest.ranking import Document, Interest, InterestModel, Pick, phrase_feature, words
from tests.support import PAGES, PROFILES

# Papers that match nothing, so that document frequencies look like a real corpus.
FILLER = [
    Document(101, "Graph neural networks for molecules", "We learn molecular graphs at scale."),
    Document(102, "Scaling laws for language models", "Larger models trained longer do better."),
    Document(103, "Robust image classification", "Adversarial training improves robustness."),
    Document(104, "Reinforcement learning for robots", "Policies learned in simulation transfer."),
    Document(105, "Efficient attention kernels", "Fused kernels make transformers faster."),
    Document(106, "Protein structure prediction", "Folding proteins with deep networks."),
]


def rank(
    docs: list[Document],
    keywords: dict[str, float] | list[str],
    *,
    corpus: list[Document] | None = None,
    **options: object,
) -> list[Pick]:
    """Rank `docs` for the keywords, the model fitted on `corpus` (default: docs + FILLER)."""
    weighted = keywords if isinstance(keywords, dict) else dict.fromkeys(keywords, 1.0)
    interest = Interest(keywords=weighted, **options)  # type: ignore[arg-type]
    model = InterestModel(
        corpus if corpus is not None else [*docs, *FILLER],
        [*weighted, *interest.exclude],
    )
    return model.rank(interest, docs)


def ids(picks: list[Pick]) -> list[int]:
    return [pick.paper_id for pick in picks]


# --- phrases ---------------------------------------------------------------------------------


def test_two_word_keyword_matches_only_as_a_phrase() -> None:
    apart = Document(
        1,
        "Video understanding with learned compression of features",
        "We classify video clips; a compression module shrinks the features.",
    )
    together = Document(
        2,
        "Learned video compression",
        "A neural codec for video compression at low bitrates.",
    )
    reversed_ = Document(3, "Compression video tricks", "Compression video is not a phrase here.")
    picks = rank([apart, together, reversed_], ["video compression"])

    assert ids(picks) == [2]
    assert picks[0].matched == ["video compression"]


def test_two_words_in_different_sentences_are_not_a_phrase() -> None:
    """The phrase must not be found across a sentence boundary ("... video. Compression ...")."""
    across = Document(
        1,
        "Action recognition in the wild",
        "We label every frame of the video. Compression artifacts are ignored by the model.",
    )
    assert rank([across], ["video compression"]) == []


def test_three_word_phrase_matches_whole_and_in_plural() -> None:
    keyword = "implicit neural representation"
    singular = Document(1, "An implicit neural representation of scenes", "Fit a network.")
    plural = Document(2, "Implicit neural representations for videos", "Fit a network per video.")
    shuffled = Document(3, "Neural implicit representation of audio", "Fit a network to audio.")
    apart = Document(
        4, "An implicit prior for neural representation learning", "Representation learning."
    )
    only_two = Document(5, "Neural representation of shapes", "Implicit shapes are common.")
    docs = [singular, plural, shuffled, apart, only_two]
    picks = rank(docs, [keyword])

    assert sorted(ids(picks)) == [1, 2]
    assert all(pick.matched == [keyword] for pick in picks)


def test_phrase_feature_folds_plurals_and_function_words() -> None:
    assert phrase_feature("Implicit Neural Representations") == "implicit neural representation"
    assert phrase_feature("text-to-speech") == "text to speech"
    assert phrase_feature("NeRV") == "nerv"
    assert phrase_feature("the of and") is None
    assert words("The analysis of a class, and Videos") == [
        "the",
        "analysis",
        "of",
        "a",
        "class",
        "and",
        "video",
    ]


# --- exclude, weights, title, matched terms ---------------------------------------------------


def test_excluded_term_is_never_picked_even_when_it_scores_highest() -> None:
    best = Document(
        1,
        "Video compression for medical imaging",
        "Video compression of medical scans: a video compression benchmark.",
    )
    other = Document(2, "Fast decoding", "A codec for video compression on phones and laptops.")
    docs = [best, other]

    without = rank(docs, ["video compression"])
    assert ids(without)[0] == 1  # it would be the top pick

    picks = rank(docs, ["video compression"], exclude=["medical"])
    assert ids(picks) == [2]


def test_excluded_phrase_and_plural() -> None:
    docs = [
        Document(1, "Speech recognition for medical records", "Transcribe doctors' notes."),
        Document(2, "Speech recognition in the car", "Medical terms are rare in the car."),
        Document(3, "Speech recognition of music lyrics", "Lyrics from songs, not records."),
    ]
    picks = rank(docs, ["speech recognition"], exclude=["medical records", "lyric"])
    assert ids(picks) == [2]


def test_weights_change_the_order() -> None:
    graphs = Document(1, "Graph coloring heuristics", "We color large sparse graphs quickly.")
    audio = Document(2, "Audio tagging heuristics", "We tag large sparse audio clips quickly.")
    docs = [graphs, audio]

    assert ids(rank(docs, {"graph": 3.0, "audio": 1.0})) == [1, 2]
    assert ids(rank(docs, {"graph": 1.0, "audio": 3.0})) == [2, 1]


def test_title_counts_more_than_abstract() -> None:
    in_title = Document(
        2,
        "Speaker diarization for meetings",
        "We present a method that segments recordings of meetings into turns.",
    )
    in_abstract = Document(
        1,
        "A method for meetings",
        "We present speaker diarization that segments recordings of meetings into turns.",
    )
    picks = rank([in_abstract, in_title], ["speaker diarization"])

    assert ids(picks) == [2, 1]  # despite the higher id
    assert picks[0].score > picks[1].score


def test_matched_terms_are_reported_per_pick_by_weight() -> None:
    keywords = {"audio": 1.0, "speech recognition": 3.0, "text-to-speech": 2.0}
    docs = [
        Document(
            1,
            "Text-to-speech and speech recognition in one model",
            "Audio in, audio out: one network for both tasks.",
        ),
        Document(2, "Audio event detection", "Dogs barking and doors slamming in audio clips."),
        Document(3, "Text to speech for low-resource languages", "A small TTS model."),
    ]
    picks = {pick.paper_id: pick.matched for pick in rank(docs, keywords)}

    assert picks == {
        1: ["speech recognition", "text-to-speech", "audio"],
        2: ["audio"],
        3: ["text-to-speech"],
    }


def test_max_papers_and_min_score() -> None:
    docs = [
        Document(i, f"Speech recognition study {word}", f"Speech recognition of {word} speakers.")
        for i, word in enumerate(["children", "elderly", "accented", "whispered", "noisy"], 1)
    ]
    docs.append(
        Document(
            9,
            "Speech recognition",
            "Speech recognition speech recognition, only speech recognition.",
        )
    )
    everything = rank(docs, ["speech recognition"])
    assert len(everything) == 6
    scores = [pick.score for pick in everything]
    assert scores == sorted(scores, reverse=True)

    assert ids(rank(docs, ["speech recognition"], max_papers=2)) == ids(everything)[:2]

    threshold = (scores[0] + scores[1]) / 2
    strict = rank(docs, ["speech recognition"], min_score=threshold)
    assert ids(strict) == ids(everything)[:1]
    assert all(pick.score >= threshold for pick in strict)
    assert rank(docs, ["speech recognition"], min_score=1.0) == []


def test_papers_matching_no_keyword_are_never_picked() -> None:
    partial = Document(1, "Video games", "Compression of nothing; we play video games all day.")
    unrelated = Document(2, "Protein folding", "Nothing about the keyword at all.")
    match = Document(3, "Scalable video compression", "A codec.")
    picks = rank([partial, unrelated, match], ["video compression"], max_papers=10)

    assert ids(picks) == [3]
    assert rank([partial, unrelated], ["video compression"]) == []


def test_keyword_unknown_to_the_corpus_picks_nothing() -> None:
    assert rank(FILLER[:3], ["quantum chromodynamics"], corpus=FILLER) == []


def test_ties_go_to_the_lower_id() -> None:
    twin = ("Neural audio codecs", "We compress audio with a neural codec.")
    docs = [Document(9, *twin), Document(4, *twin), Document(7, *twin)]
    picks = rank(docs, ["audio"])

    assert ids(picks) == [4, 7, 9]
    assert len({pick.score for pick in picks}) == 1


def test_shared_matrix_gives_the_same_picks() -> None:
    docs = [Document(1, "Audio codecs", "Neural audio."), Document(2, "Speech", "Audio speech.")]
    model = InterestModel([*docs, *FILLER], ["audio"])
    interest = Interest(keywords={"audio": 1.0})
    assert model.rank(interest, docs, model.transform(docs)) == model.rank(interest, docs)
    assert model.rank(interest, []) == []


def test_empty_corpus_is_refused_clearly() -> None:
    """With no paper there are no term weights; callers rank only when papers are new."""
    with pytest.raises(ValueError, match="at least one paper"):
        InterestModel([], ["video compression"])


def test_a_function_word_between_does_not_make_a_phrase() -> None:
    apart = Document(1, "Video and compression", "Video and compression " * 10)
    together = Document(2, "Neural video compression", "We compress video. " * 10)
    model = InterestModel([apart, together], ["video compression", "learning to rank"])
    picks = model.rank(Interest(keywords={"video compression": 1.0}), [apart, together])
    assert [p.paper_id for p in picks] == [2]


def test_a_phrase_with_a_function_word_inside_matches_whole() -> None:
    whole = Document(1, "Learning to rank with transformers", "An abstract. " * 5)
    apart = Document(2, "Learning to schedule", "We rank items by learning. " * 5)
    model = InterestModel([whole, apart], ["learning to rank"])
    picks = model.rank(Interest(keywords={"learning to rank": 1.0}), [whole, apart])
    assert [(p.paper_id, p.matched) for p in picks] == [(1, ["learning to rank"])]


def test_keyword_picks_explain_with_terms_and_calibrated_scores() -> None:
    """Keyword-only profiles: no seed to name, the driving terms listed, scores in (0, 1)."""
    docs = [
        Document(1, "Neural video compression", "A codec for video compression."),
        Document(2, "Video understanding", "Classify video clips."),
    ]
    picks = rank(docs, ["video compression"])
    assert ids(picks) == [1]
    assert picks[0].because == []
    assert "video compression" in picks[0].terms
    assert 0 < picks[0].score < 1


def test_interest_positional_fields_are_unchanged() -> None:
    """Callers build Interest positionally (keywords, exclude, max_papers, min_score)."""
    interest = Interest({"audio": 1.0}, ["music"], 3, 0.2)
    assert (interest.exclude, interest.max_papers, interest.min_score) == (["music"], 3, 0.2)
    assert interest.seeds == () and interest.positives == ()


# --- the real sample pages --------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample_papers() -> list[Document]:
    """Every distinct paper of the five sample pages, numbered in order of appearance."""
    seen: dict[str, Document] = {}
    for path in sorted(PAGES.glob("*.txt")):
        page = parse_page(path.read_bytes(), str(path), date(2025, 4, 20))
        for record in page.papers:
            if record.key not in seen:
                seen[record.key] = Document(len(seen) + 1, record.title, record.abstract)
    return list(seen.values())


@pytest.fixture(scope="module")
def sample_model(sample_papers: list[Document]) -> InterestModel:
    terms = [t for p in load_profiles(PROFILES) for t in (*p.keywords, *p.exclude)]
    return InterestModel(sample_papers, terms)


def contains_phrase(doc: Document, term: str) -> bool:
    """Whether the words of `term` occur consecutively in the title or the abstract."""
    wanted = (phrase_feature(term) or "").split()
    for text in (doc.title, doc.abstract):
        found = words(text)
        if any(found[i : i + len(wanted)] == wanted for i in range(len(found))):
            return True
    return False


def test_sample_pages_ada_gets_nerv_and_video_compression_first(
    sample_papers: list[Document], sample_model: InterestModel
) -> None:
    ada = next(p for p in load_profiles(PROFILES) if p.email == "ada@example.org")
    interest = Interest(ada.keywords, ada.exclude, ada.max_papers, ada.min_score)
    picks = sample_model.rank(interest, sample_papers)
    by_id = {doc.id: doc for doc in sample_papers}
    titles = [by_id[pick.paper_id].title for pick in picks]

    assert len(picks) == 5
    assert "NeRV" in titles[0] or "Video" in titles[0]
    assert any("NERV++" in title or "NeRV" in title for title in titles)
    assert all(set(pick.matched) == set(ada.keywords) for pick in picks[:2])
    title_terms = ("nerv", "video", "implicit neural representation")
    assert all(any(term in t.lower() for term in title_terms) for t in titles)
    assert all(not re.search(r"\bmedical\b", by_id[p.paper_id].abstract, re.I) for p in picks)


def test_sample_pages_every_pick_matches_a_keyword(
    sample_papers: list[Document], sample_model: InterestModel
) -> None:
    by_id = {doc.id: doc for doc in sample_papers}
    matrix = sample_model.transform(sample_papers)
    for profile in load_profiles(PROFILES):
        interest = Interest(profile.keywords, profile.exclude, profile.max_papers)
        picks = sample_model.rank(interest, sample_papers, matrix)
        assert picks, profile.email
        assert len(picks) <= profile.max_papers
        assert [p.score for p in picks] == sorted((p.score for p in picks), reverse=True)
        for pick in picks:
            doc = by_id[pick.paper_id]
            assert pick.matched, (profile.email, doc.title)
            assert set(pick.matched) <= set(profile.keywords)
            for term in pick.matched:
                assert contains_phrase(doc, term), (profile.email, term, doc.title)
            for term in profile.exclude:
                assert not contains_phrase(doc, term), (profile.email, term, doc.title)


def test_sample_pages_keys_are_distinct(sample_papers: list[Document]) -> None:
    keys = [paper_key(doc.title) for doc in sample_papers]
    assert len(keys) == len(set(keys))


# --- the rank command -------------------------------------------------------------------------


def test_cli_rank_json(cli, pages) -> None:
    assert cli("ingest", str(pages), "--date", "2025-04-20").exit_code == 0
    assert cli("subscribers", "sync", str(PROFILES)).exit_code == 0

    result = cli("rank", "ada@example.org", "--date", "2025-04-20", "--json")
    assert result.exit_code == 0, result.output
    lines = result.stdout.rstrip("\n").splitlines()
    data = json.loads(lines[-1])

    assert data["email"] == "ada@example.org"
    assert data["date"] == "2025-04-20"
    picks = data["picks"]
    assert 1 <= len(picks) <= 5
    assert "NeRV" in picks[0]["title"] or "Video" in picks[0]["title"]
    scores = [p["score"] for p in picks]
    assert scores == sorted(scores, reverse=True)
    assert all(0 < s <= 1 for s in scores)
    keywords = {"implicit neural representation", "video compression", "NeRV"}
    for pick in picks:
        assert isinstance(pick["paper_id"], int)
        assert pick["matched"] and set(pick["matched"]) <= keywords
    # The human-readable lines come first: "  1. 0.123  Title" then "matched: ...".
    assert lines[0].startswith("  1. ")
    assert picks[0]["title"] in lines[0]
    assert lines[1].strip() == "matched: " + ", ".join(picks[0]["matched"])


def test_cli_rank_is_case_insensitive_on_email(cli, pages) -> None:
    assert cli("ingest", str(pages), "--date", "2025-04-20").exit_code == 0
    assert cli("subscribers", "sync", str(PROFILES)).exit_code == 0
    result = cli("rank", "Alan@Example.org", "--date", "2025-04-20", "--json")
    assert result.exit_code == 0, result.output
    picks = json.loads(result.stdout.strip().splitlines()[-1])["picks"]
    assert picks
    assert all(
        set(p["matched"]) <= {"speech recognition", "text-to-speech", "audio"} for p in picks
    )


def test_cli_rank_nothing_new(cli, pages) -> None:
    assert cli("ingest", str(pages), "--date", "2025-04-20").exit_code == 0
    assert cli("subscribers", "sync", str(PROFILES)).exit_code == 0
    # Ten days later the pages are out of the 7-day lookback.
    result = cli("rank", "ada@example.org", "--date", "2025-04-30", "--json")
    assert result.exit_code == 0, result.output
    assert "nothing new for ada@example.org on 2025-04-30" in result.stdout
    assert json.loads(result.stdout.strip().splitlines()[-1])["picks"] == []


def test_cli_rank_unknown_email(cli) -> None:
    assert cli("subscribers", "sync", str(PROFILES)).exit_code == 0
    result = cli("rank", "nobody@example.org", "--json")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.strip() == (
        "error: no subscriber nobody@example.org; run 'digest subscribers sync' first"
    )


def test_cli_rank_before_any_page_is_ingested(cli) -> None:
    """A fresh installation with subscribers but no papers has nothing new, not a crash."""
    assert cli("subscribers", "sync", str(PROFILES)).exit_code == 0
    result = cli("rank", "ada@example.org", "--date", "2025-04-20", "--json")
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.exit_code == 0, result.output
    assert "nothing new for ada@example.org" in result.stdout
