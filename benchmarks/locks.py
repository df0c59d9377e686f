"""How long `status` and `unsubscribe` wait while a `digest run` ranks and records a day.

    python -m benchmarks.locks                                   # SQLite, 5,000 subscribers
    python -m benchmarks.locks --subscribers 20000 --database postgresql+psycopg://...

A database gets S synthetic subscribers (synced from a profile file) and a day of 1,000
papers in the inbox; then `digest run --no-send` runs as a process of its own (sync,
ingest, rank, record) while this process calls the library functions under `digest
status` and `digest unsubscribe` in a loop, each timed. Status asks for the day before,
which has no digests, so that its own work stays the same while the run records the day's
(listing thousands of digests with their papers takes seconds of its own). The baseline
is the same calls on the same database with no run going, measured first in the same run:
the figures are the worst and the median wait during the run, and their ratio to the idle
median.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

from benchmarks.synthetic import Synthetic, profiles_toml, write_pages
from digest.db import make_engine, upgrade
from digest.outbox.history import status
from digest.profiles import sync_profiles
from digest.unsubscribe import make_token, unsubscribe

DAY = date(2026, 3, 2)
SECRET = "benchmark-secret-0123456789"


def timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def measure(database: str, subscribers: int, papers: int, folder: Path) -> dict[str, object]:
    """The idle and the during-run latencies of status and unsubscribe, in seconds."""
    synthetic = Synthetic(0)
    profiles = folder / "profiles.toml"
    people = synthetic.profiles(subscribers)
    profiles.write_text(profiles_toml(people))
    engine = make_engine(database)
    upgrade(engine)
    sync_profiles(engine, profiles)
    write_pages(folder / "inbox", synthetic.papers(papers), DAY)
    emails = iter(profile.email for profile in people)

    def calls() -> tuple[float, float]:
        token = make_token(SECRET, next(emails))
        return timed(lambda: status(engine, DAY - timedelta(days=1))), timed(
            lambda: unsubscribe(engine, SECRET, token)
        )

    idle = [calls() for _ in range(20)]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DIGEST_", "SMTP_"))}
    env |= {
        "DIGEST_DATABASE_URL": database,
        "DIGEST_PROFILES": str(profiles),
        "DIGEST_INBOX": str(folder / "inbox"),
        "DIGEST_SECRET": SECRET,
    }
    started = time.perf_counter()
    run = subprocess.Popen(
        [sys.executable, "-m", "digest", "run", "--no-send", "--date", DAY.isoformat()],
        env=env,
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    during: list[tuple[float, float]] = []
    while run.poll() is None:
        during.append(calls())
        time.sleep(0.05)
    run_seconds = time.perf_counter() - started
    _, errors = run.communicate()
    engine.dispose()
    if run.returncode != 0:
        raise RuntimeError(f"the run failed: {errors}")
    idle_median = statistics.median(max(pair) for pair in idle)
    return {
        "database": database.partition(":")[0],
        "subscribers": subscribers,
        "run_seconds": round(run_seconds, 2),
        "samples_during_run": len(during),
        "idle_median_ms": round(1000 * idle_median, 1),
        **{
            f"{name}_during_{kind}_ms": round(1000 * value, 1)
            for index, name in enumerate(("status", "unsubscribe"))
            for kind, value in (
                ("median", statistics.median(pair[index] for pair in during)),
                ("worst", max(pair[index] for pair in during)),
            )
        },
        "worst_over_idle_median": round(max(max(pair) for pair in during) / idle_median, 1),
    }


def main() -> None:
    """Measure once and print the figures as one JSON object."""
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--subscribers", type=int, default=5_000)
    options.add_argument("--papers", type=int, default=1_000)
    options.add_argument("--database", help="A database URL (default: a new SQLite file).")
    args = options.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        database = args.database or f"sqlite:///{folder / 'digest.sqlite3'}"
        print(json.dumps(measure(database, args.subscribers, args.papers, folder)))


if __name__ == "__main__":
    main()
