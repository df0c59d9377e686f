"""The compose stage: complete messages (headers, text and HTML, serialized) per second.

The product renders with templates compiled and their CSS inlined once per process; the
baseline builds the same messages the plain way, compiling the templates and inlining the
CSS for every message, as a script that renders one email at a time does.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime
from email.headerregistry import Address
from pathlib import Path

from benchmarks.harness import Measurement, Point, Timing, measure
from benchmarks.synthetic import Synthetic
from digest.compose import Composer, Digest, Entry, Recipient
from digest.resources import resource_dir

SENDER = Address("Paper digest", "digest", "bench.example")
SECRET = "bench-secret-0123456789"
PER_MESSAGE = 10
# The baseline is slow: it composes this many of the messages and is compared by throughput.
BASELINE_MOST = 500
DAY = date(2025, 6, 2)


def digests(point: Point) -> list[Digest]:
    """One digest of PER_MESSAGE papers for each of `point.subscribers` subscribers."""
    synthetic = Synthetic(point.seed)
    papers = synthetic.papers(max(point.papers, PER_MESSAGE))
    out: list[Digest] = []
    for number, profile in enumerate(synthetic.profiles(point.subscribers)):
        chosen = [(number * 7 + k) % len(papers) for k in range(PER_MESSAGE)]
        entries = [
            Entry(
                title=papers[index].title,
                abstract=papers[index].abstract,
                score=0.9 - k * 0.05,
                matched=list(profile.keywords[:2]),
                terms=list(profile.keywords[:4]),
                arxiv_id=f"2506.{index:05d}",
                authors=("A. Author", "B. Author"),
            )
            for k, index in enumerate(chosen)
        ]
        out.append(
            Digest(
                recipient=Recipient(profile.email, f"User {number}"),
                digest_date=DAY,
                entries=entries,
                message_id=f"<{number}.bench@bench.example>",
                keywords=list(profile.keywords),
            )
        )
    return out


def _product(point: Point) -> Timing:
    batch = digests(point)
    now = datetime.now(UTC)
    started = time.perf_counter()
    composer = Composer(resource_dir("templates"), SENDER, secret=SECRET)
    size = sum(len(composer.compose(d, now).data) for d in batch)
    return Timing(time.perf_counter() - started, len(batch), {"bytes_mean": size // len(batch)})


def _per_message(point: Point) -> Timing:
    batch = digests(point)[:BASELINE_MOST]
    now = datetime.now(UTC)
    started = time.perf_counter()
    size = 0
    for d in batch:
        composer = Composer(resource_dir("templates"), SENDER, secret=SECRET)
        size += len(composer.compose(d, now).data)
    return Timing(time.perf_counter() - started, len(batch), {"bytes_mean": size // len(batch)})


def measurements(point: Point, root: Path) -> list[Measurement]:
    """Messages composed per second, against templates compiled for every message."""
    scale = f"{point.subscribers:,} messages"
    return [
        measure(
            "compose",
            "baseline: templates compiled per message",
            scale,
            "messages",
            _per_message,
            point,
            baseline=True,
        ),
        measure(
            "compose", "digest: compiled once, CSS inlined once", scale, "messages", _product, point
        ),
    ]
