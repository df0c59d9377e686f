"""A reader's reference library: what a 5,000-entry export costs the sync and the run.

    python -m benchmarks.library                  # 5,000 entries, 1,000 papers, 1,000 readers
    python -m benchmarks.library --entries 500 --json

The export is a generated BibTeX file as Zotero writes one: braced words, LaTeX accents,
abstracts, years over a quarter of a century. Each line runs in a fresh process on a
migrated SQLite file of its own.

- sync: `sync_profiles` of one reader with the export against the same reader without it,
  at the first sync (the export parsed) and at a later one (the export unchanged: hashed,
  not parsed).
- rank: `plan_digests` (candidates, profiles, scores, explanations) for the day's papers and
  every subscriber, one of whom has the library; the baseline is the same reader without
  it. A third line lifts the cap on seeds (digest.library.MAX_SEEDS) to show what it saves.

On a shared machine wall time follows the neighbours' load: each line is the best of
REPEATS runs in its process, and the rank lines also report CPU seconds, whose ratios are
printed after the table. BLAS runs on one thread there: its idle threads spin, which
counts as CPU time under load.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from sqlalchemy import select
from threadpoolctl import threadpool_limits

import digest.library
from benchmarks.harness import Measurement, Timing, measure, scratch, table
from benchmarks.synthetic import Synthetic, profiles_toml, write_pages
from digest.config import Settings
from digest.db import make_engine, unit_of_work, upgrade
from digest.models import Subscriber
from digest.planning import plan_digests
from digest.profiles import sync_profiles
from digest.store import ingest

DAY = date(2026, 3, 20)
READER = "reader@bench.example"
REPEATS = 5
# Some of a real export's LaTeX: accents in names and words, braced acronyms.
_ACCENTS = [r"M{\"u}ller", r"caf\'{e}", r"na\"ive", r"Erd\H{o}s", r"{\ss}"]


def write_export(path: Path, entries: int, seed: int = 0) -> None:
    """A BibTeX export of `entries` papers unlike the day's (another stretch of the stream)."""
    synthetic = Synthetic(seed)
    blocks = []
    for number, paper in enumerate(synthetic.papers(entries, start=1_000_000)):
        rng = random.Random(f"{seed}:entry:{number}")
        head, _, rest = paper.title.partition(" ")
        title = f"{{{head}}} {rest}"
        abstract = paper.abstract
        if number % 10 == 0:
            abstract = f"{abstract} {rng.choice(_ACCENTS)}"
        blocks.append(
            f"@article{{entry{number},\n\ttitle = {{{title}}},\n"
            f"\tauthor = {{{rng.choice(_ACCENTS)}, Anna and Doe, Jan}},\n"
            f"\tyear = {{{rng.randint(2000, 2025)}}},\n\tmonth = {{{rng.randint(1, 12)}}},\n"
            f"\tabstract = {{{abstract}}},\n}}\n"
        )
    path.write_text("\n".join(blocks), encoding="utf-8")


def _reader_toml(library: bool) -> str:
    entry = f'[[subscriber]]\nemail = "{READER}"\nkeywords = ["neural network", "video"]\n'
    return entry + ('library = "export.bib"\n' if library else "")


def _sync(folder: Path, entries: int, library: bool, again: bool) -> Timing:
    if library:
        write_export(folder / "export.bib", entries)
    profiles = folder / "profiles.toml"
    profiles.write_text(_reader_toml(library))
    engine = make_engine(f"sqlite:///{folder / 'digest.sqlite3'}")
    upgrade(engine)
    if again:
        sync_profiles(engine, profiles)
    # A first sync happens once; a later one is the best of REPEATS.
    seconds = float("inf")
    for _ in range(REPEATS if again else 1):
        started = time.perf_counter()
        report = sync_profiles(engine, profiles)
        seconds = min(seconds, time.perf_counter() - started)
    if report.library_errors:
        raise RuntimeError(str(report.library_errors[0]))
    return Timing(seconds, 1)


def _rank(
    folder: Path, entries: int, papers: int, subscribers: int, library: bool, cap: int
) -> Timing:
    # The cap applies when the export is read: it is what a sync stores.
    digest.library.MAX_SEEDS = cap
    synthetic = Synthetic(0)
    if library:
        write_export(folder / "export.bib", entries)
    profiles = folder / "profiles.toml"
    profiles.write_text(
        profiles_toml(synthetic.profiles(subscribers)) + "\n" + _reader_toml(library)
    )
    database = f"sqlite:///{folder / 'digest.sqlite3'}"
    engine = make_engine(database)
    upgrade(engine)
    sync_profiles(engine, profiles)
    write_pages(folder / "inbox", synthetic.papers(papers), DAY)
    ingest(engine, [folder / "inbox"], DAY, 100 * 2**20)
    settings = Settings(database_url=database, profiles=profiles, outbox=folder / "outbox")
    seconds = cpu = float("inf")
    with unit_of_work(engine) as session, threadpool_limits(1):
        everyone = session.scalars(select(Subscriber).order_by(Subscriber.id)).all()
        for _ in range(REPEATS):
            started, started_cpu = time.perf_counter(), time.process_time()
            planned = plan_digests(session, settings, DAY, everyone)
            seconds = min(seconds, time.perf_counter() - started)
            cpu = min(cpu, time.process_time() - started_cpu)
    reader = next(s.id for s in everyone if s.email == READER)
    picks = next((p.picks for p in planned if p.subscriber_id == reader), [])
    return Timing(
        seconds,
        len(everyone),
        {
            "cpu_seconds": round(cpu, 3),
            "reader_picks": len(picks),
            "named_library_papers": sum(bool(p.because) for p in picks),
        },
    )


def measurements(entries: int, papers: int, subscribers: int, root: Path) -> list[Measurement]:
    """The sync and rank lines at one scale."""
    export = f"{entries:,}-entry export"
    first, later = f"first sync, {export}", f"later sync, {export} unchanged"
    scale = f"{subscribers + 1:,} x {papers:,}, {export}"
    cap = digest.library.MAX_SEEDS

    def folder(name: str) -> Path:
        return scratch(root, name)

    return [
        measure(
            "sync", "one reader, no library", first, "syncs", _sync,
            folder("sync-first-none"), entries, False, False, baseline=True,
        ),
        measure(
            "sync", "one reader with the export (parsed)", first, "syncs", _sync,
            folder("sync-first"), entries, True, False,
        ),
        measure(
            "sync", "one reader, no library", later, "syncs", _sync,
            folder("sync-later-none"), entries, False, True, baseline=True,
        ),
        measure(
            "sync", "one reader with the export (hashed only)", later, "syncs", _sync,
            folder("sync-later"), entries, True, True,
        ),
        measure(
            "rank", "plan_digests, reader without library", scale, "subscribers", _rank,
            folder("rank-none"), entries, papers, subscribers, False, cap, baseline=True,
        ),
        measure(
            "rank", f"plan_digests, reader with library ({cap} seeds)", scale, "subscribers",
            _rank, folder("rank-capped"), entries, papers, subscribers, True, cap,
        ),
        measure(
            "rank", "plan_digests, reader with library (no cap)", scale, "subscribers", _rank,
            folder("rank-uncapped"), entries, papers, subscribers, True, entries,
        ),
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    """Run the measurements and print their table (and JSON with --json)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=5_000)
    parser.add_argument("--papers", type=int, default=1_000)
    parser.add_argument("--subscribers", type=int, default=1_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as root:
        lines = measurements(args.entries, args.papers, args.subscribers, Path(root))
    print(table(lines))
    baselines = {line.scale: line for line in lines if line.baseline}
    for line in lines:
        base = baselines[line.scale]
        if "cpu_seconds" in line.extra and not line.baseline:
            ratio = line.extra["cpu_seconds"] / base.extra["cpu_seconds"]
            print(f"{line.variant}, {line.scale}: {ratio:.2f}x the CPU time of the baseline")
    if args.json:
        print(json.dumps([line.as_json() for line in lines]))


if __name__ == "__main__":
    main(sys.argv[1:])
