"""The quality benchmark's page: the command it shows names the data, never a local path."""

from __future__ import annotations

from benchmarks.quality import section, shown


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
