"""The quality benchmark's page: the command it shows names the data, never a local path."""

from __future__ import annotations

from benchmarks.quality import SCORER, section, shown, write


def test_paths_are_shown_by_name() -> None:
    argv = ["--data", "/home/me/eval/citeulike-dev", "--bench=/home/me/b.py", "--n-users", "50"]

    assert shown(argv) == "python -m benchmarks.quality --data DATA --bench=BENCH --n-users 50"


def test_the_section_says_what_the_data_is_and_holds_no_path() -> None:
    summary = {"split": "dev", "tracks": {"titles": {"stats": {"users": 3}}}}
    command = shown(["--data", "/home/me/eval/citeulike-dev"])

    text = section(summary, command, 12.0)

    assert text.startswith("## Ranking quality\n")
    assert (
        "`python -m benchmarks.quality --data DATA`, where DATA is the CiteULike dev data" in text
    )
    assert "/home/me" not in text


def test_a_run_with_votes_writes_its_own_section_against_the_targets(tmp_path) -> None:
    figures = {
        "hits@shown": 0.2,
        "hits@shown_se": 0.01,
        "static_hits@shown": 0.15,
        "static_hits@shown_se": 0.01,
        "hits@shown_gain": 0.05,
        "hits@shown_gain_se": 0.005,
        "ndcg@10_final": 0.1,
        "static_ndcg@10_final": 0.09,
    }
    ours = {"seeds": {"ndcg@10": 0.3, "feedback": figures}}
    rocchio = {"seeds": {"ndcg@10": 0.2, "feedback": {**figures, "hits@shown": 0.1}}}
    summary = {
        "split": "dev",
        "tracks": {"abstracts": {"stats": {"users": 3}, SCORER: ours, "tfidf": rocchio}},
    }
    page = tmp_path / "BENCHMARKS.md"
    page.write_text("# Benchmarks\n\n## Ranking quality\n\nstatic\n\n## Speed\n\nfast\n")

    write(page, section(summary, "python -m benchmarks.quality", 1.0))

    text = page.read_text()
    assert text.index("## Ranking quality\n\nstatic") < text.index("## Speed")
    assert text.index("## Speed") < text.index("## Ranking quality with the reader's votes")
    target = next(line for line in text.splitlines() if line.startswith("| target"))
    assert target.split(" | ")[1:] == ["0.155", "0.116", "0.154", "0.376", "0.325", "0.383 |"]
    assert "| **digest interest model (measured, dev)** | **0.150 -> 0.200** | **-** |" in text
    assert (
        "| abstracts | seeds | 0.2000 ± 0.0100 | 0.1500 ± 0.0100 | +0.0500 ± 0.0050 | 2.00 | 1.289 "
        "| 0.3000 |"
    ) in text
