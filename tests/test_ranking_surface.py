"""Explanations a reader can trust: key terms as the paper writes them (whole words, never
across punctuation, distinctive), a score said in words, and explaining a pick never
changes its score or its place."""

from __future__ import annotations

import re
import tarfile

import numpy as np
import pytest

from digest.hf_api import parse_api
from digest.ranking import Document, Interest, InterestModel, calibrated, match_strength
from digest.ranking.calibration import standard
from digest.ranking.explain import GOOD_MATCH, STRONG_MATCH
from digest.ranking.surface import Surfaces
from tests.support import ROOT

ARCHIVE = ROOT / "examples" / "hf-api" / "2025-03-17_2025-06-13.tar.xz"
DAYS = ("2025-05-26", "2025-05-27", "2025-05-28", "2025-05-29", "2025-05-30")


@pytest.fixture(scope="module")
def week() -> list[Document]:
    """A real week of Hugging Face daily papers, as the model reads them."""
    docs: list[Document] = []
    with tarfile.open(ARCHIVE) as archive:
        for day in DAYS:
            member = archive.extractfile(f"./{day}.json")
            assert member is not None
            for record in parse_api(member.read(), day).papers:
                docs.append(Document(len(docs) + 1, record.title, record.abstract))
    return docs


def form(title: str, abstract: str, term: str) -> str | None:
    return Surfaces([Document(1, title, abstract)]).form(0, term)


def test_a_term_is_shown_as_written_not_as_the_model_folds_it() -> None:
    abstract = "We align modalities. Two modalities meet; speeches and queries differ."
    assert form("Omni models", abstract, "modalitie") == "modalities"
    assert form("LLMs as judges", "LLMs judge.", "llm") == "LLMs"


def test_capitalized_words_read_in_lower_case_acronyms_and_names_as_written() -> None:
    title = "NeRV: Neural Representations for Videos"
    assert form(title, "", "neural representation") == "neural representations"
    assert form(title, "", "nerv") == "NeRV"


def test_a_term_never_runs_across_punctuation_or_inside_a_hyphenated_word() -> None:
    title = "INR-based video coding with Qwen2.5-Omni"
    abstract = "An INR-based video codec. Qwen2.5-Omni helps. Video, coding and more video coding."
    for term in ("inr based", "based video", "5 omni", "qwen2 5", "omni", "inr"):
        assert form(title, abstract, term) is None, term
    assert form(title, abstract, "video coding") == "video coding"
    # "Video, coding" is no occurrence of the phrase; the title's and the last one are.
    assert form("Other", "Video, coding. Fast video coding and video coding.", "video coding")


def test_a_term_said_once_in_passing_is_not_one_of_the_papers_subjects() -> None:
    assert form("Sparse attention", "It is solely a detail.", "solely") is None
    assert form("Sparse attention", "Sparse attention is fast.", "attention") == "attention"
    assert form("Other", "Sparse attention. Attention again.", "attention") == "attention"


def test_real_key_terms_are_words_of_their_paper_distinctive_and_never_noise(
    week: list[Document],
) -> None:
    model = InterestModel(week, ["language model", "video"])
    broad = Interest({"language model": 1.0, "video": 1.0}, max_papers=40)
    seeds = Interest(keywords={}, seeds=week[:2], max_papers=10)
    shown = 0
    for picks in model.rank_many([broad, seeds], week):
        for pick in picks:
            paper = week[pick.paper_id - 1]
            text = f"{paper.title} {paper.abstract}"
            for term in pick.terms:
                shown += 1
                # Whole words of the paper, spaces between them, as it spells them.
                spaced = r"\s+".join(map(re.escape, term.split(" ")))
                assert re.search(rf"(?<![\w.+-]){spaced}(?![\w+-]|\.\w)", text, re.I), term
                assert term.casefold() not in {"model", "based", "propose", "low", "system"}
    assert shown > 50


def test_explaining_a_pick_changes_neither_its_score_nor_its_place(week: list[Document]) -> None:
    model = InterestModel(week, ["reinforcement learning", "agent"])
    interests = [
        Interest({"reinforcement learning": 1.0, "agent": 0.5}, max_papers=40),
        Interest(keywords={}, seeds=week[10:12], max_papers=10),
    ]
    profiles = model.profiles(interests)
    ids = np.array([doc.id for doc in week])
    chosen = model.top(profiles, model.corpus_matrix, ids)

    explained = model.rank_many(profiles, week, model.corpus_matrix)

    for number, (rows, raw) in enumerate(chosen):
        expected = calibrated((raw - profiles.mean[number]) / profiles.spread[number])
        assert [p.paper_id for p in explained[number]] == ids[rows].tolist()
        assert [p.score for p in explained[number]] == np.round(expected, 4).tolist()


def test_a_score_reads_as_a_strong_good_or_weak_match_by_its_standard_deviations() -> None:
    def at(deviations: float) -> str:
        return match_strength(float(calibrated(np.array(deviations))))

    assert [at(z) for z in (5.0, 3.0, 2.99, 1.0, 0.99, 0.0, -2.0)] == [
        "strong",
        "strong",
        "good",
        "good",
        "weak",
        "weak",
        "weak",
    ]
    assert match_strength(0.5) == "strong"
    assert match_strength(0.27) == "good"
    assert match_strength(0.26) == "weak"


def test_a_score_in_words_is_what_the_array_formula_says_for_every_score_a_pick_carries() -> None:
    # Picks carry scores of four decimals; the floats beside each threshold are where the
    # plain-float formula and numpy's could part.
    thresholds = calibrated(np.array([STRONG_MATCH, GOOD_MATCH]))
    beside = (
        thresholds[:, None] + np.arange(-64, 65) * np.spacing(thresholds)[:, None] / 2
    ).ravel()
    scores = np.concatenate(
        [
            np.linspace(0.0, 1.0, 10_001),
            beside,
            calibrated(np.linspace(-10.0, 10.0, 20_001)),
            [-0.5, 1.5, 1e-320],
        ]
    )

    def in_words(deviations: float) -> str:
        if deviations >= STRONG_MATCH:
            return "strong"
        return "good" if deviations >= GOOD_MATCH else "weak"

    with np.errstate(invalid="ignore"):
        expected = [in_words(float(z)) for z in standard(scores)]
    assert [match_strength(float(score)) for score in scores] == expected
