"""Ranking quality of the product's interest model on the CiteULike bench.

    python -m benchmarks.quality --data DATA    # DATA: the CiteULike dev data folder

Runs the bench's `quality_bench.py` (beside the data folder, or `--bench PATH`) with the
product's scorer (`benchmarks.citeulike_scorer`: the model exactly as `digest run` uses it)
and the bench's own references, prints the table of the public reference rankers with our
rows added, and writes it to BENCHMARKS.md ("Ranking quality"). With the `embeddings` extra
installed it runs the scorer a second time with DIGEST_EMBEDDINGS=wordllama (the extra's
own row; `--embeddings off` skips it). With `--feedback-rounds 3` the bench simulates a
reader's votes instead, and the page's section "Ranking quality with the reader's votes" is
written (without the embeddings' run). The data is read from the given path and never
copied into the repository.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import sys
import time
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from types import ModuleType
from typing import Any

SCORER = "benchmarks.citeulike_scorer:score"
# The same scorer with the semantic part on, as its results are filed in the summary.
EMBEDDED = SCORER + " (DIGEST_EMBEDDINGS=wordllama)"
RANKERS = (
    ("tfidf", "bench tfidf"),
    (SCORER, "digest"),
    (EMBEDDED, "digest + wordllama"),
)
ROOT = Path(__file__).resolve().parent.parent
TRACKS = ("abstracts", "titles")
MODES = ("keywords", "seeds", "seeds+keywords")
METRICS = ("ndcg@10", "p@10", "r@50", "mrr")
# nDCG@10 of the public reference rankers, re-implemented and measured on all users of the
# data, not on the dev split.
# Columns: abstracts keywords, abstracts seeds, titles keywords, titles seeds.
REFERENCES: tuple[tuple[str, tuple[float | None, ...], bool], ...] = (
    ("keyword match (email alerts)", (0.117, None, 0.326, None), False),
    ("plain TF-IDF cosine", (0.156, 0.261, 0.378, 0.509), False),
    ("BM25 (keyword-alert engines)", (0.164, 0.234, 0.392, 0.526), False),
    ("per-user linear SVM on TF-IDF (arxiv-sanity)", (0.141, 0.257, 0.361, 0.490), False),
    (
        "MiniLM embeddings, similarity to seeds (zotero-arxiv-daily)",
        (0.194, 0.277, 0.466, 0.598),
        True,
    ),
)
COLUMNS = (
    ("abstracts", "keywords"),
    ("abstracts", "seeds"),
    ("titles", "keywords"),
    ("titles", "seeds"),
)
SECTION = "## Ranking quality"
FEEDBACK_SECTION = "## Ranking quality with the reader's votes"
FEEDBACK_MODES = tuple((t, m) for t in TRACKS for m in ("seeds", "keywords", "seeds+keywords"))
# hits@shown of the bench's reference rankers without and with feedback (R = 3, dev split),
# as its README gives them; columns as FEEDBACK_MODES.
FEEDBACK_REFERENCES: tuple[tuple[str, tuple[tuple[float, float], ...]], ...] = (
    (
        "tfidf, Rocchio (liked - 0.25 x disliked)",
        (
            (0.120, 0.137),
            (0.077, 0.103),
            (0.108, 0.118),
            (0.277, 0.341),
            (0.206, 0.280),
            (0.282, 0.318),
        ),
    ),
    (
        "arxiv-sanity SVM (seeds + liked positive)",
        (
            (0.118, 0.141),
            (0.070, 0.105),
            (0.121, 0.140),
            (0.266, 0.340),
            (0.203, 0.288),
            (0.283, 0.348),
        ),
    ),
    (
        "BM25 (liked text added to the query)",
        (
            (0.105, 0.117),
            (0.077, 0.103),
            (0.106, 0.119),
            (0.292, 0.342),
            (0.220, 0.295),
            (0.304, 0.342),
        ),
    ),
)
# Options whose value is a path on the machine that ran the bench: the page shows a name.
PATH_OPTIONS = {"--data": "DATA", "--bench": "BENCH", "--output": "OUTPUT"}


def load_bench(path: Path) -> ModuleType:
    """The shared bench as a module, from its file."""
    spec = importlib.util.spec_from_file_location("quality_bench", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"error: cannot load the bench from {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["quality_bench"] = module
    spec.loader.exec_module(module)
    return module


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _row(*cells: str) -> str:
    """A row of a Markdown table."""
    return "| " + " | ".join(cells) + " |"


def tables(summary: dict[str, Any]) -> str:
    """The issue's table with the measured rows added, then every metric of ours."""
    tracks = summary["tracks"]

    def measured(ranker: str, track: str, mode: str) -> float | None:
        result = tracks.get(track, {}).get(ranker, {}).get(mode)
        return None if result is None else float(result["ndcg@10"])

    split = summary.get("split", "all")
    lines = [
        "nDCG@10. Quoted rows: public rankers, re-implemented and measured on all users of the "
        "data;",
        f"measured rows: this run ({split} split).",
        "",
        "| ranker | abstracts keywords | abstracts seeds | titles keywords | titles seeds |",
        "|---|---|---|---|---|",
    ]
    for name, values, _embedding in REFERENCES:
        lines.append(_row(f"{name} (quoted)", *map(_cell, values)))
    best = [
        max(value for _, v, emb in REFERENCES if not emb and (value := v[i]) is not None)
        for i in range(len(COLUMNS))
    ]
    lines.append(
        _row("target: +10% over the best non-embedding quoted row", *(_cell(1.1 * b) for b in best))
    )
    lines.append(
        _row(
            f"bench tfidf (measured, {split})",
            *(_cell(measured("tfidf", t, m)) for t, m in COLUMNS),
        )
    )
    lines.append(
        _row(
            f"**digest interest model (measured, {split})**",
            *(f"**{_cell(measured(SCORER, t, m))}**" for t, m in COLUMNS),
        )
    )
    if any(EMBEDDED in rankers for rankers in tracks.values()):
        lines.append(
            _row(
                f"**digest + wordllama, the embeddings extra (measured, {split})**",
                *(f"**{_cell(measured(EMBEDDED, t, m))}**" for t, m in COLUMNS),
            )
        )
    lines += [
        "",
        f"Every mode and metric, mean ± standard error over users ({split} split):",
        "",
        _row("ranker", "track", "mode", *METRICS),
        "|---|---|---|" + "---|" * len(METRICS),
    ]
    for track in TRACKS:
        for ranker, label in RANKERS:
            for mode in MODES:
                result = tracks.get(track, {}).get(ranker, {}).get(mode)
                if result is None:
                    continue
                cells = [f"{result[m]:.4f} ± {result[m + '_se']:.4f}" for m in METRICS]
                lines.append(_row(label, track, mode, *cells))
    return "\n".join(lines)


def feedback_tables(summary: dict[str, Any]) -> str:
    """hits@shown without and with the simulated votes, against the quoted references and
    the target (1.1 times the best reference with votes); then every figure of ours."""
    tracks = summary["tracks"]

    def measured(ranker: str, track: str, mode: str) -> dict[str, Any] | None:
        result = tracks.get(track, {}).get(ranker, {}).get(mode)
        return None if result is None else result.get("feedback")

    def pair(feedback: dict[str, Any] | None) -> str:
        if feedback is None:
            return "-"
        return f"{feedback['static_hits@shown']:.3f} -> {feedback['hits@shown']:.3f}"

    split = summary.get("split", "all")
    lines = [
        f"hits@shown, static -> with votes. Quoted rows: the bench's references; measured rows: "
        f"this run ({split} split).",
        "",
        _row("ranker", *(f"{track} {mode}" for track, mode in FEEDBACK_MODES)),
        "|---|" + "---|" * len(FEEDBACK_MODES),
    ]
    for name, values in FEEDBACK_REFERENCES:
        cells = [f"{static:.3f} -> {voted:.3f}" for static, voted in values]
        lines.append(_row(f"{name} (quoted)", *cells))
    best = [
        max(values[i][1] for _, values in FEEDBACK_REFERENCES) for i in range(len(FEEDBACK_MODES))
    ]
    lines.append(
        _row("target: 1.1 x the best quoted row with votes", *(_cell(1.1 * b) for b in best))
    )
    lines.append(
        _row(
            f"bench tfidf, Rocchio (measured, {split})",
            *(pair(measured("tfidf", t, m)) for t, m in FEEDBACK_MODES),
        )
    )
    lines.append(
        _row(
            f"**digest interest model (measured, {split})**",
            *(f"**{pair(measured(SCORER, t, m))}**" for t, m in FEEDBACK_MODES),
        )
    )
    lines += [
        "",
        f"Ours in full, mean ± standard error over users ({split} split): with votes, "
        "without, the paired gain; with votes against the bench's tfidf with votes in the "
        "same run and against the target; nDCG@10 without votes, as in the table above:",
        "",
        "| track | mode | hits@shown | static | gain | x tfidf | x target | nDCG@10 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for (track, mode), target in zip(FEEDBACK_MODES, best, strict=True):
        result = tracks.get(track, {}).get(SCORER, {}).get(mode)
        if result is None or "feedback" not in result:
            continue
        f = result["feedback"]
        reference = measured("tfidf", track, mode)
        cells = [
            f"{f['hits@shown']:.4f} ± {f['hits@shown_se']:.4f}",
            f"{f['static_hits@shown']:.4f} ± {f['static_hits@shown_se']:.4f}",
            f"{f['hits@shown_gain']:+.4f} ± {f['hits@shown_gain_se']:.4f}",
            "-" if reference is None else f"{f['hits@shown'] / reference['hits@shown']:.2f}",
            f"{f['hits@shown'] / (1.1 * target):.3f}",
            f"{result['ndcg@10']:.4f}",
        ]
        lines.append(_row(track, mode, *cells))
    return "\n".join(lines)


def section(summary: dict[str, Any], command: str, seconds: float) -> str:
    """The BENCHMARKS.md section: how it was run, then the tables."""
    users = ", ".join(
        f"{track}: {summary['tracks'][track]['stats']['users']} users"
        for track in TRACKS
        if track in summary["tracks"]
    )
    feedback = any(
        "feedback" in result
        for rankers in summary["tracks"].values()
        for ranker, modes in rankers.items()
        if ranker != "stats"
        for result in modes.values()
    )
    return "\n".join(
        [
            FEEDBACK_SECTION if feedback else SECTION,
            "",
            f"`{command}`, where DATA is the CiteULike dev data, run on "
            f"{date.today().isoformat()} on a {os.cpu_count()}-core machine ({users}; "
            f"{seconds:.0f} s in all).",
            "",
            feedback_tables(summary) if feedback else tables(summary),
            "",
        ]
    )


def shown(argv: Sequence[str]) -> str:
    """The command as BENCHMARKS.md shows it, paths replaced by names (DATA...)."""
    words = ["python", "-m", "benchmarks.quality"]
    hidden: str | None = None
    for word in argv:
        option, equals, _ = word.partition("=")
        if hidden is not None:
            words.append(hidden)
            hidden = None
        elif option in PATH_OPTIONS and equals:
            words.append(f"{option}={PATH_OPTIONS[option]}")
        else:
            words.append(word)
            hidden = PATH_OPTIONS.get(word)
    return " ".join(words)


def write(path: Path, text: str) -> None:
    """Replace the section of `path` that `text` is (its first line) or add it after the
    others (or start the file with it)."""
    if path.exists():
        old = path.read_text(encoding="utf-8")
        title = text.split("\n", 1)[0]
        pattern = re.compile(rf"^{re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)
        if pattern.search(old):
            new = pattern.sub(lambda _: text + "\n", old, count=1).rstrip("\n") + "\n"
        else:
            new = old.rstrip("\n") + "\n\n" + text
    else:
        new = "# Benchmarks\n\n" + text
    path.write_text(new, encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, type=Path, help="the citeulike-dev folder")
    parser.add_argument("--bench", type=Path, help="quality_bench.py (default: beside --data)")
    parser.add_argument("--n-users", type=int, default=500)
    parser.add_argument("--tracks", default=",".join(TRACKS))
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument("--no-write", action="store_true", help="print the table only")
    parser.add_argument(
        "--feedback-rounds",
        type=int,
        default=0,
        help="simulate this many rounds of votes: the page's section with votes, not without",
    )
    parser.add_argument(
        "--embeddings",
        choices=("auto", "off"),
        default="auto",
        help="also run with DIGEST_EMBEDDINGS=wordllama (auto: when the extra is installed)",
    )
    args = parser.parse_args(argv)
    bench_path = args.bench or args.data.resolve().parent / "quality_bench.py"
    if not bench_path.is_file():
        raise SystemExit(f"error: no bench at {bench_path}; pass --bench PATH")
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    bench = load_bench(bench_path)
    started = time.perf_counter()
    common = ["--data-dir", str(args.data), "--n-users", str(args.n_users), "--tracks"]
    common += [args.tracks, "--scorer", SCORER, "--feedback-rounds", str(args.feedback_rounds)]
    summary: dict[str, Any] = _run(bench, common, "off")
    embedded = args.embeddings == "auto" and not args.feedback_rounds
    if embedded and importlib.util.find_spec("wordllama") is not None:
        embedded = _run(bench, [*common, "--no-baselines"], "wordllama")
        for track, rankers in embedded["tracks"].items():
            summary["tracks"][track][EMBEDDED] = rankers[SCORER]
    seconds = time.perf_counter() - started
    command = shown(argv if argv is not None else sys.argv[1:])
    text = section(summary, command, seconds)
    print("\n" + text)
    if not args.no_write:
        write(args.output, text)
        print(f"written to {args.output}")
    return summary


def _run(bench: ModuleType, argv: list[str], embeddings: str) -> dict[str, Any]:
    """The bench's summary for `argv`, with DIGEST_EMBEDDINGS set to `embeddings`."""
    before = os.environ.get("DIGEST_EMBEDDINGS")
    os.environ["DIGEST_EMBEDDINGS"] = embeddings
    try:
        summary: dict[str, Any] = bench.main(argv)
        return summary
    finally:
        if before is None:
            del os.environ["DIGEST_EMBEDDINGS"]
        else:
            os.environ["DIGEST_EMBEDDINGS"] = before


if __name__ == "__main__":
    main()
