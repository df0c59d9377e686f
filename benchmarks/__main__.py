"""Speed and memory of every stage of the daily cycle, against baselines in the same run.

    python -m benchmarks                      # every stage at the issue's scale points
    python -m benchmarks --quick              # about a minute in all
    python -m benchmarks --stage rank --papers 1000 --subscribers 100000 --json

Each stage measures the product's code and a baseline doing the same work the plain way,
in the same run, each in a fresh process; the table reports wall time, throughput, peak
memory (RSS) and the speed-up over the baseline. With `--json` the last line of stdout is
one JSON object: `<stage>_seconds`, `<stage>_throughput` and `<stage>_peak_rss_mb` for each
stage run (at its largest scale point), and every measurement.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks import compose, due, history, ingest, rank, run, send
from benchmarks.harness import Measurement, Point, table

Stage = Callable[[Point, Path], list[Measurement]]
STAGES: dict[str, Stage] = {
    "ingest": ingest.measurements,
    "rank": rank.measurements,
    "compose": compose.measurements,
    "send": send.measurements,
    "run": run.measurements,
    "history": history.measurements,
    "due": due.measurements,
}
# (papers, subscribers, days of history) per stage: the targets, and a quick run.
FULL: dict[str, list[tuple[int, int, int]]] = {
    "ingest": [(100_000, 0, 0)],
    "rank": [(1_000, 100_000, 0), (2_000, 1_000_000, 0)],
    "compose": [(1_000, 20_000, 0)],
    "send": [(1_000, 10_000, 0)],
    "run": [(1_000, 10_000, 29), (1_000, 100_000, 0)],
    "history": [(1_000, 100_000, 29)],
    "due": [(1_000, 10_000, 0)],
}
QUICK: dict[str, list[tuple[int, int, int]]] = {
    "ingest": [(10_000, 0, 0)],
    "rank": [(1_000, 5_000, 0)],
    "compose": [(1_000, 500, 0)],
    "send": [(1_000, 500, 0)],
    "run": [(300, 500, 4)],
    "history": [(300, 2_000, 29)],
    "due": [(300, 500, 0)],
}


def points(stage: str, args: argparse.Namespace) -> list[Point]:
    """The scale points of `stage`: the defaults, or the one the options give."""
    if args.papers is not None or args.subscribers is not None:
        default_papers, default_subscribers, _ = (QUICK if args.quick else FULL)[stage][0]
        return [
            Point(
                papers=args.papers if args.papers is not None else default_papers,
                subscribers=args.subscribers
                if args.subscribers is not None
                else default_subscribers,
                seed=args.seed,
                history_days=args.history_days,
            )
        ]
    chosen = QUICK if args.quick else FULL
    return [Point(p, s, args.seed, h) for p, s, h in chosen[stage]]


def summary(measurements: list[Measurement]) -> dict[str, Any]:
    """The JSON line: per stage, the product's figures at its largest scale point.

    A line that measures only a part of the stage (`headline` false), or the product in a
    setting other than its default (`summary` false), is left to the table.
    """
    out: dict[str, Any] = {}
    for m in measurements:
        if not m.baseline and m.extra.get("headline", True) and m.extra.get("summary", True):
            out[f"{m.stage}_seconds"] = round(m.seconds, 3)
            out[f"{m.stage}_throughput"] = round(m.throughput, 1)
            out[f"{m.stage}_peak_rss_mb"] = m.peak_rss_mb
    out["measurements"] = [m.as_json() for m in measurements]
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the chosen stages and print their tables (and the JSON line)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--stage", choices=[*STAGES, "all"], default="all")
    parser.add_argument("--papers", type=int, help="papers (a day's new papers) at one point")
    parser.add_argument("--subscribers", type=int, help="subscribers at one point")
    parser.add_argument(
        "--history-days", type=int, default=0, help="days of history before the measured one"
    )
    parser.add_argument("--quick", action="store_true", help="small scale, about a minute")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic data")
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    parser.add_argument("--workdir", type=Path, help="where the databases go (default: temp)")
    args = parser.parse_args(argv)
    stages = list(STAGES) if args.stage == "all" else [args.stage]
    measurements: list[Measurement] = []
    with tempfile.TemporaryDirectory(dir=args.workdir, prefix="digest-bench-") as folder:
        for stage in stages:
            print(f"== {stage}", file=sys.stderr)
            for number, point in enumerate(points(stage, args)):
                root = Path(folder) / f"{stage}-{number}"
                root.mkdir()
                measurements += STAGES[stage](point, root)
    print(table(measurements))
    if args.json:
        print(json.dumps(summary(measurements)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
