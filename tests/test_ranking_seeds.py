"""Profiles with seed papers and history, explanations and calibrated scores (small corpora)."""

from __future__ import annotations

import numpy as np
import pytest

from digest.ranking import Document, Interest, InterestModel, Pick, calibrated
from digest.ranking.calibration import SCORE_MIDPOINT

TOPICS = {
    "speech": [
        "Speech recognition for children",
        "Robust speech recognition in noise",
        "Speech recognition with transformers",
        "Accented speech recognition datasets",
        "Low resource speech recognition",
    ],
    "graph": [
        "Graph neural networks for molecules",
        "Scalable graph neural networks",
        "Graph neural networks explained",
        "Graph attention for citation graphs",
        "Graph pooling layers",
    ],
    "protein": [
        "Protein structure prediction",
        "Protein folding with deep networks",
        "Protein design by diffusion",
        "Protein language models",
        "Protein docking at scale",
    ],
    "robot": [
        "Robot grasping from pixels",
        "Robot navigation in crowds",
        "Sim to real robot learning",
        "Robot manipulation benchmarks",
        "Legged robot locomotion",
    ],
}


def corpus() -> list[Document]:
    """Twenty papers, five per topic, numbered 1 to 20 in topic order."""
    docs: list[Document] = []
    for titles in TOPICS.values():
        for title in titles:
            docs.append(Document(len(docs) + 1, title, f"We study {title.lower()}."))
    return docs


def topic_ids(topic: str) -> set[int]:
    start = list(TOPICS).index(topic) * 5
    return set(range(start + 1, start + 6))


def ids(picks: list[Pick]) -> list[int]:
    return [pick.paper_id for pick in picks]


def ordered(model: InterestModel, interest: Interest, docs: list[Document]) -> list[int]:
    """Every candidate, best first, as the benchmark adapter orders them."""
    z = model.standard_scores(interest, docs)
    return [docs[i].id for i in np.lexsort(([d.id for d in docs], -z))]


# --- seeds -------------------------------------------------------------------------------------


def test_seed_profile_ranks_the_seeds_topic_first_without_keywords() -> None:
    docs = corpus()
    seeds = [
        Document(0, "Speech recognition for the elderly", "Older voices, speech recognition."),
        Document(0, "Speech recognition on phones", "Small models recognize speech."),
    ]
    model = InterestModel(docs, [])
    picks = model.rank(Interest(keywords={}, seeds=seeds, max_papers=5), docs)

    assert set(ids(picks)) == topic_ids("speech")
    assert all(pick.matched == [] for pick in picks)  # no keywords, none required
    scores = [pick.score for pick in picks]
    assert scores == sorted(scores, reverse=True)
    assert all(0 < s < 1 for s in scores)


def test_a_seed_profile_picks_nothing_unrelated() -> None:
    """With seeds there is no keyword to require: a pick must beat the subscriber's average."""
    docs = corpus()
    seed = Document(0, "Graph neural networks for molecules", "Message passing on molecules.")
    model = InterestModel(docs, [])
    picks = model.rank(Interest(keywords={}, seeds=[seed], max_papers=20), docs)

    assert picks
    assert set(ids(picks)) <= topic_ids("graph")


def test_seeds_of_two_interests_cover_both() -> None:
    docs = corpus()
    seeds = [
        Document(0, "Protein structure prediction with language models", ""),
        Document(0, "Robot learning for grasping", ""),
    ]
    model = InterestModel(docs, [])
    top = ordered(model, Interest(keywords={}, seeds=seeds), docs)[:10]

    assert set(top) == topic_ids("protein") | topic_ids("robot")


def test_seed_weights_pull_towards_the_heavier_seed() -> None:
    docs = corpus()
    model = InterestModel(docs, [])
    robot = Document(0, "Robot grasping in clutter", "A robot picks objects.")
    protein = Document(0, "Protein folding in cells", "How proteins fold.")

    def top(weights: list[float]) -> list[int]:
        return ordered(model, Interest({}, seeds=[robot, protein], seed_weights=weights), docs)

    assert top([1.0, 0.2])[0] == 16  # "Robot grasping from pixels"
    assert top([0.2, 1.0])[0] == 12  # "Protein folding with deep networks"
    assert top([1.0, 1.0]) == ordered(model, Interest({}, seeds=[robot, protein]), docs)
    with pytest.raises(ValueError, match="1 seed weights for 2 seeds"):
        Interest({}, seeds=[robot, protein], seed_weights=[1.0])


def test_explanations_name_the_seed_and_the_terms() -> None:
    docs = corpus()
    speech = Document(0, "Children's speech recognition", "Speech recognition for kids.")
    robots = Document(0, "Robot navigation with maps", "A robot finds its way.")
    model = InterestModel(docs, [])
    picks = model.rank(Interest(keywords={}, seeds=[speech, robots]), docs)
    by_id = {pick.paper_id: pick for pick in picks}

    children = by_id[1]  # "Speech recognition for children"
    assert children.because[0] == "Children's speech recognition"
    assert "Robot navigation with maps" not in children.because
    assert "speech recognition" in children.terms
    # A phrase stands for its words: "speech" and "recognition" are not listed again.
    assert "speech" not in children.terms and "recognition" not in children.terms

    crowds = by_id[17]  # "Robot navigation in crowds"
    assert crowds.because == ["Robot navigation with maps"]
    assert "robot navigation" in crowds.terms


def test_keyword_picks_explain_their_terms_and_name_no_seed() -> None:
    docs = corpus()
    model = InterestModel(docs, ["graph neural network"])
    picks = model.rank(Interest({"graph neural network": 1.0}), docs)

    assert set(ids(picks)) == {6, 7, 8}
    for pick in picks:
        assert pick.matched == ["graph neural network"]
        assert pick.because == []
        # As the papers write it (all three in the plural), never its parts.
        assert "graph neural networks" in pick.terms
        parts = {"graph neural", "graph", "neural", "networks", "neural networks"}
        assert not parts & set(pick.terms)


def test_keywords_and_seeds_never_below_the_better_alone() -> None:
    """Interest: speech recognition for children. The keyword finds all speech papers, the
    seed finds children's papers of any topic; both together put the wanted ones first."""
    docs = [
        *corpus(),
        Document(21, "Child speech recognition benchmark", "Speech recognition for children."),
        Document(22, "Speech recognition for kids in class", "Children read aloud to a model."),
        Document(23, "Children drawing robots", "Children and robots draw together."),
        Document(24, "Protein games for children", "Children learn protein folding."),
    ]
    wanted = {1, 21, 22}
    seed = Document(0, "Children's speech in the classroom", "Recognizing what children say.")
    model = InterestModel(docs, ["speech recognition"])

    def precision(interest: Interest) -> float:
        return len(set(ordered(model, interest, docs)[:3]) & wanted) / 3

    keywords = precision(Interest({"speech recognition": 1.0}))
    seeds = precision(Interest({}, seeds=[seed]))
    both = precision(Interest({"speech recognition": 1.0}, seeds=[seed]))

    assert both >= max(keywords, seeds)
    assert both == 1.0


def test_keywords_with_seeds_are_reported_but_not_required() -> None:
    docs = corpus()
    seed = Document(0, "Graph neural networks for proteins", "Graphs of residues.")
    model = InterestModel(docs, ["graph attention"])
    picks = model.rank(Interest({"graph attention": 1.0}, seeds=[seed], max_papers=20), docs)
    by_id = {pick.paper_id: pick for pick in picks}

    assert by_id[9].matched == ["graph attention"]  # "Graph attention for citation graphs"
    assert 6 in by_id and by_id[6].matched == []  # no keyword, picked through the seed


def test_exclusions_apply_to_seed_profiles() -> None:
    docs = corpus()
    seed = Document(0, "Speech recognition", "Speech recognition of all kinds.")
    model = InterestModel(docs, ["noise"])
    picks = model.rank(Interest({}, exclude=["noise"], seeds=[seed]), docs)

    assert 2 not in ids(picks)  # "Robust speech recognition in noise"
    assert {1, 3, 4, 5} <= set(ids(picks))


# --- history -----------------------------------------------------------------------------------


def test_positives_pull_towards_their_topic_by_weight() -> None:
    docs = corpus()
    model = InterestModel(docs, [])
    robot = Document(0, "Robot grasping in clutter", "A robot picks objects.")
    protein = Document(0, "Protein folding in cells", "How proteins fold.")

    strong_robot = Interest({}, positives=[(robot, 1.0), (protein, 0.3)])
    strong_protein = Interest({}, positives=[(robot, 0.3), (protein, 1.0)])

    assert ordered(model, strong_robot, docs)[0] == 16  # "Robot grasping from pixels"
    assert ordered(model, strong_protein, docs)[0] == 12  # "Protein folding with deep networks"
    robot_first = ordered(model, strong_robot, docs)
    protein_first = ordered(model, strong_protein, docs)
    assert robot_first.index(17) < protein_first.index(17)  # another robot paper rises
    assert protein_first.index(13) < robot_first.index(13)  # and another protein paper


def test_positives_add_to_keywords() -> None:
    docs = corpus()
    model = InterestModel(docs, [])
    liked = Document(0, "Robot navigation among people", "Crowd navigation for robots.")
    top = ordered(model, Interest({"robot": 1.0}, positives=[(liked, 1.0)]), docs)

    assert top[0] == 17  # "Robot navigation in crowds"


def test_non_positive_weights_are_ignored() -> None:
    docs = corpus()
    model = InterestModel(docs, [])
    unrelated = Document(0, "Protein docking", "Docking.")
    assert model.rank(Interest({}, positives=[(unrelated, 0.0)]), docs) == []
    assert ids(model.rank(Interest({"robot": 1.0}, positives=[(unrelated, -1.0)]), docs)) == ids(
        model.rank(Interest({"robot": 1.0}), docs)
    )


# --- votes -------------------------------------------------------------------------------------


def test_a_liked_paper_counts_as_a_seed() -> None:
    docs = corpus()
    model = InterestModel(docs, [])
    liked = Document(0, "Protein folding in cells", "How proteins fold.")

    as_seed = model.rank(Interest({}, seeds=[liked], max_papers=5), docs)
    as_liked = model.rank(Interest({}, liked=[liked], max_papers=5), docs)

    assert set(ids(as_liked)) == topic_ids("protein")
    assert ids(as_liked) == ids(as_seed)
    assert [p.score for p in as_liked] == [p.score for p in as_seed]


def test_a_liked_paper_opens_picks_beyond_the_keywords() -> None:
    """A keyword profile sends only papers holding a keyword; once the reader likes a paper
    of another topic, papers like it come too, as with a seed."""
    docs = corpus()
    model = InterestModel(docs, ["speech recognition"])
    liked = Document(0, "Robot navigation among people", "Crowd navigation for robots.")
    keywords = {"speech recognition": 1.0}

    before = set(ids(model.rank(Interest(keywords, max_papers=20), docs)))
    after = set(ids(model.rank(Interest(keywords, max_papers=20, liked=[liked]), docs)))

    assert before == topic_ids("speech")
    assert 17 in after  # "Robot navigation in crowds"
    assert topic_ids("speech") & after


def test_a_disliked_paper_lowers_the_papers_like_it() -> None:
    """Two topics in the profile: disliking a paper of one moves that topic's papers down,
    and the other's up, without taking the disliked topic out of the picks."""
    docs = corpus()
    model = InterestModel(docs, [])
    seeds = [
        Document(0, "Protein structure prediction with language models", ""),
        Document(0, "Robot learning for grasping", ""),
    ]
    disliked = Document(0, "Protein folding by simulation", "Simulated protein folding.")
    plain = model.standard_scores(Interest({}, seeds=seeds), docs)
    less = model.standard_scores(Interest({}, seeds=seeds, disliked=[disliked]), docs)
    protein, robot = sorted(topic_ids("protein")), sorted(topic_ids("robot"))

    def gap(z: np.ndarray) -> float:
        return float(np.mean(z[[i - 1 for i in robot]]) - np.mean(z[[i - 1 for i in protein]]))

    assert gap(less) > gap(plain)
    picked = set(ids(model.rank(Interest({}, seeds=seeds, disliked=[disliked]), docs)))
    assert picked & topic_ids("protein")


def test_dislikes_weigh_less_than_likes() -> None:
    """One liked and one disliked paper of the same topic: the topic still comes first."""
    docs = corpus()
    model = InterestModel(docs, [])
    liked = Document(0, "Graph neural networks for chemistry", "Molecules as graphs.")
    disliked = Document(0, "Graph neural networks for traffic", "Roads as graphs.")
    top = ordered(model, Interest({}, liked=[liked], disliked=[disliked]), docs)

    assert set(top[:5]) == topic_ids("graph")


def test_only_dislikes_pick_nothing() -> None:
    docs = corpus()
    model = InterestModel(docs, [])
    disliked = Document(0, "Graph pooling layers", "Pooling on graphs.")
    assert model.rank(Interest({}, disliked=[disliked]), docs) == []


def test_explanations_name_liked_papers_apart_from_seeds() -> None:
    docs = corpus()
    seed = Document(0, "Children's speech recognition", "Speech recognition for kids.")
    liked = Document(0, "Robot navigation with maps", "A robot finds its way.")
    model = InterestModel(docs, [])
    picks = model.rank(Interest(keywords={}, seeds=[seed], liked=[liked]), docs)
    by_id = {pick.paper_id: pick for pick in picks}

    crowds = by_id[17]  # "Robot navigation in crowds"
    assert crowds.liked == ["Robot navigation with maps"]
    assert crowds.because == []
    children = by_id[1]  # "Speech recognition for children"
    assert children.because == ["Children's speech recognition"]
    assert children.liked == []


# --- calibration -------------------------------------------------------------------------------


def test_calibration_makes_min_score_comparable_across_subscribers() -> None:
    """A subscriber with one precise keyword and one with four broad ones: the raw cosine of
    their best papers differs twofold, the calibrated scores do not."""
    docs = corpus()
    model = InterestModel(docs, ["graph neural network"])
    narrow = Interest({"graph neural network": 1.0})
    broad = Interest({"graph": 1.0, "protein": 1.0, "speech": 1.0, "robot": 1.0})
    matrix = model.transform(docs)

    def best_raw(interest: Interest) -> float:
        return float((matrix @ model.profile_vector(interest).T).toarray().max())

    assert best_raw(narrow) > 1.8 * best_raw(broad)
    best = [model.rank(i, docs, matrix)[0].score for i in (narrow, broad)]
    assert abs(best[0] - best[1]) < 0.1

    # The same min_score keeps both subscribers' best papers.
    threshold = min(best) - 0.01
    for interest in (narrow, broad):
        strict = Interest(interest.keywords, min_score=threshold)
        assert model.rank(strict, docs, matrix)
        assert all(p.score >= threshold for p in model.rank(strict, docs, matrix))


def test_min_score_is_a_threshold_on_standard_deviations() -> None:
    docs = corpus()
    model = InterestModel(docs, [])
    interest = Interest({"robot": 1.0, "graph": 0.5}, max_papers=20)
    z = model.standard_scores(interest, docs)
    cut = float(np.sort(z)[-4])  # the fourth best paper's standing
    picks = model.rank(
        Interest(interest.keywords, max_papers=20, min_score=float(calibrated(cut))), docs
    )
    expected = {docs[i].id for i in np.flatnonzero(z >= cut)}
    assert set(ids(picks)) == expected


def test_calibrated_is_monotone_and_inside_zero_one() -> None:
    z = np.array([-100.0, -3.0, 0.0, SCORE_MIDPOINT, 6.0, 50.0, 1e6])
    scores = calibrated(z)
    assert np.all(np.diff(scores) >= 0)
    assert np.all((scores > 0) & (scores < 1))
    assert scores[3] == pytest.approx(0.5)


# --- keywords ----------------------------------------------------------------------------------


def test_a_run_together_keyword_matches_its_phrase() -> None:
    docs = corpus()
    model = InterestModel(docs, ["speechrecognition"])
    picks = model.rank(Interest({"speechrecognition": 1.0}), docs)

    assert set(ids(picks)) == topic_ids("speech")
    assert all(pick.matched == ["speechrecognition"] for pick in picks)
    assert model.keyword_feature("SpeechRecognition") == "speech recognition"
    assert model.keyword_feature("proteinfolding") == "protein folding"
    assert model.keyword_feature("zzzqqq") == "zzzqqq"  # no split: unknown, matches nothing


def test_feedback_finds_papers_like_the_best_matches() -> None:
    """Pseudo-relevance feedback: "docking" alone is one paper; its topic comes next."""
    docs = corpus()
    model = InterestModel(docs, [])
    top = ordered(model, Interest({"docking": 1.0}), docs)

    assert top[0] == 15  # "Protein docking at scale"
    assert set(top[1:5]) == topic_ids("protein") - {15}


# --- the API -----------------------------------------------------------------------------------


def test_rank_many_is_rank_for_each() -> None:
    docs = corpus()
    model = InterestModel(docs, ["graph neural network"])
    seed = Document(0, "Robot grasping", "Grasping.")
    interests = [
        Interest({"graph neural network": 1.0}),
        Interest({}, seeds=[seed]),
        Interest({"protein": 1.0}, seeds=[seed], max_papers=3),
        Interest({}),
    ]
    matrix = model.transform(docs)
    assert model.rank_many(interests, docs, matrix) == [
        model.rank(i, docs, matrix) for i in interests
    ]
    assert model.rank_many(interests, [], matrix) == [[], [], [], []]


def test_an_empty_profile_picks_nothing() -> None:
    docs = corpus()
    model = InterestModel(docs, [])
    assert model.rank(Interest({}), docs) == []
    assert model.rank(Interest({"the of": 1.0}), docs) == []
    assert model.rank(Interest({}, seeds=[Document(0, "", "")]), docs) == []


def test_corpus_matrix_is_transform_of_the_corpus() -> None:
    docs = corpus()
    model = InterestModel(docs, ["graph neural network"])
    assert abs(model.corpus_matrix - model.transform(docs)).max() < 1e-12


# --- the benchmark adapter (on the small corpus here; never on the eval data) ------------------


def test_bench_adapter_ranks_the_product_picks_first() -> None:
    from benchmarks import citeulike_scorer

    docs = corpus()
    papers = [{"id": d.id, "title": d.title, "abstract": d.abstract} for d in docs]
    citeulike_scorer.fit(papers)
    keywords = {"keywords": ["graph neural network"], "seeds": []}
    scores = citeulike_scorer.score(keywords, papers)

    assert len(scores) == len(papers) and len(set(scores)) == len(scores)
    best = [papers[i]["id"] for i in np.argsort(scores)[::-1]]
    assert set(best[:3]) == {6, 7, 8}  # the papers holding the phrase, as `rank` picks them

    seeds = {"keywords": [], "seeds": [papers[15]]}  # "Robot grasping from pixels"
    best = [papers[i]["id"] for i in np.argsort(citeulike_scorer.score(seeds, papers))[::-1]]
    assert set(best[:5]) == topic_ids("robot")


def test_bench_adapter_fits_again_for_a_phrase_a_paper_holds() -> None:
    """A profile's phrase, unknown when the adapter fitted the papers, matches whole as in a
    model fitted with it: the paper that says it comes first, not the one with its words."""
    from benchmarks import citeulike_scorer

    docs = [
        *corpus(),
        Document(21, "Learning to rank papers", "We learn to order papers for readers."),
        Document(22, "Rank learning: ranking papers", "Learning which papers rank first."),
    ]
    papers = [{"id": d.id, "title": d.title, "abstract": d.abstract} for d in docs]
    citeulike_scorer.fit(papers)
    scores = citeulike_scorer.score({"keywords": ["learning to rank"], "seeds": []}, papers)

    interest = Interest({"learning to rank": 1.0}, max_papers=len(docs))
    assert ids(InterestModel(docs, ["learning to rank"]).rank(interest, docs)) == [21]
    assert [papers[i]["id"] for i in np.argsort(scores)[::-1][:2]] == [21, 22]


def test_bench_adapter_passes_the_liked_and_disliked_papers() -> None:
    from benchmarks import citeulike_scorer

    docs = corpus()
    papers = [{"id": d.id, "title": d.title, "abstract": d.abstract} for d in docs]
    citeulike_scorer.fit(papers)
    keywords = {"keywords": ["graph neural network"], "seeds": []}
    voted = {**keywords, "liked": [papers[15]], "disliked": [papers[5]]}

    def best(profile: dict[str, object]) -> list[int]:
        scores = citeulike_scorer.score(profile, papers)
        return [papers[i]["id"] for i in np.argsort(scores)[::-1]]

    before, after = best(keywords), best(voted)
    assert before.index(17) > 5  # "Robot navigation in crowds": no keyword
    assert after.index(17) < 5  # like the liked "Robot grasping from pixels"
    assert after.index(6) > before.index(6)  # the disliked paper itself falls
