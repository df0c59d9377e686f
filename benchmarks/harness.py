"""Measure one variant of one stage in a fresh process: wall time of its work, peak memory.

Each measurement runs in a child process of its own, so its peak resident memory (RSS) is
its own and not what an earlier stage left behind. A stage's function does its own setup
(a database, a corpus, an SMTP sink), times only the work the stage is about, and returns
a `Timing`.
"""

from __future__ import annotations

import multiprocessing
import resource
import sys
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Timing:
    """What a stage's function measured: seconds of work over `items` things."""

    seconds: float
    items: int
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Measurement:
    """One line of a stage's table."""

    stage: str
    variant: str
    scale: str
    seconds: float
    items: int
    unit: str
    peak_rss_mb: float
    baseline: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def throughput(self) -> float:
        """Items per second."""
        return self.items / self.seconds if self.seconds > 0 else float("inf")

    def as_json(self) -> dict[str, Any]:
        """Plain data, throughput included."""
        return {**asdict(self), "throughput": round(self.throughput, 1)}


Work = Callable[..., Timing]


def _child(work: Work, args: tuple[Any, ...], pipe: Any) -> None:
    try:
        timing = work(*args)
        peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        pipe.send(("ok", timing, peak_kb / 1024))
    except BaseException:
        pipe.send(("error", traceback.format_exc(), 0.0))
    finally:
        pipe.close()


def isolated(work: Work, *args: Any) -> tuple[Timing, float]:
    """Run `work(*args)` in a fresh process; its Timing and the process' peak RSS in MB."""
    # fork: the child starts from this small process (imports only) without importing
    # everything again, and its peak RSS is its own.
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(work, args, sender))
    process.start()
    sender.close()
    try:
        status, payload, peak = receiver.recv()
    except EOFError:
        process.join()
        raise RuntimeError(f"benchmark process died (exit code {process.exitcode})") from None
    process.join()
    if status != "ok":
        raise RuntimeError(f"benchmark failed:\n{payload}")
    return payload, peak


def measure(
    stage: str,
    variant: str,
    scale: str,
    unit: str,
    work: Work,
    *args: Any,
    baseline: bool = False,
) -> Measurement:
    """`work(*args)` in a fresh process, as one line of `stage`'s table."""
    timing, peak = isolated(work, *args)
    print(f"  {stage:8} {variant:44} {scale:28} {timing.seconds:9.2f} s", file=sys.stderr)
    return line(stage, variant, scale, unit, timing, peak, baseline=baseline)


def line(
    stage: str,
    variant: str,
    scale: str,
    unit: str,
    timing: Timing,
    peak: float,
    *,
    baseline: bool = False,
) -> Measurement:
    """A table line for what `isolated` measured."""
    return Measurement(
        stage=stage,
        variant=variant,
        scale=scale,
        seconds=timing.seconds,
        items=timing.items,
        unit=unit,
        peak_rss_mb=round(peak, 1),
        baseline=baseline,
        extra=timing.extra,
    )


def table(measurements: list[Measurement]) -> str:
    """A Markdown table: each line's time, throughput, peak memory and its speed-up over
    the baseline of the same stage and scale (its throughput / the baseline's)."""
    baselines = {(m.stage, m.scale): m for m in measurements if m.baseline}
    lines = [
        "| stage | variant | scale | wall s | throughput | peak RSS MB | vs baseline |",
        "|---|---|---|---|---|---|---|",
    ]
    for m in measurements:
        base = baselines.get((m.stage, m.scale))
        ratio = "1.00 (baseline)" if m.baseline else "-"
        # A line that measures a part of the stage (headline false) has no like to compare.
        comparable = m.extra.get("headline", True)
        if base is not None and not m.baseline and m.seconds > 0 and comparable:
            ratio = f"{m.throughput / base.throughput:.2f}x"
        lines.append(
            f"| {m.stage} | {m.variant} | {m.scale} | {m.seconds:.2f} | "
            f"{m.throughput:,.0f} {m.unit}/s | {m.peak_rss_mb:,.0f} | {ratio} |"
        )
    return "\n".join(lines)


def scratch(root: Path, name: str) -> Path:
    """A fresh folder for one measurement's files under `root`."""
    folder = root / name
    folder.mkdir(parents=True, exist_ok=False)
    return folder


@dataclass(frozen=True)
class Point:
    """A scale point: how many papers (new ones, for a day) and subscribers."""

    papers: int
    subscribers: int
    seed: int = 0
    # Days of delivery history already in the database before the measured day.
    history_days: int = 0

    @property
    def label(self) -> str:
        """How the tables name it."""
        label = f"{self.subscribers:,} x {self.papers:,}"
        return f"{label}, day {self.history_days + 1}" if self.history_days else label
