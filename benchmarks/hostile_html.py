"""Parse time of hostile input against a real page of the same size.

    python -m benchmarks.hostile_html            # 40 KB and 20 MB (DIGEST_MAX_PAGE_MB)
    python -m benchmarks.hostile_html --json

Any input that starts with "<" is read by `digest.hf_html`. Each line is the CPU time of
`parse_input` on one input, and its ratio to the real page (tests/data/hf-html, repeated
to the same size) parsed in the same run: a linear parser keeps every ratio near 1 at
every size. The standard library's `html.parser`, which digest used before, is measured
too on the first hostile input at a few small sizes, to show its quadratic growth (it takes
16 s of CPU at 40 KB, so larger sizes are left out). Text dumps of a million short lines
(blank, header-like, or titles without an abstract) are measured against a real text page
repeated to the same size.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
from collections.abc import Callable
from datetime import date
from html.parser import HTMLParser
from pathlib import Path

from digest.errors import PageError
from digest.formats import parse_input

ROOT = Path(__file__).resolve().parent.parent
REAL = ROOT / "tests" / "data" / "hf-html" / "2024-08-01.html"
REAL_TEXT = ROOT / "examples" / "pages" / "000_d067d0052f9a516d.txt"
SIZES = {"40 KB": 40_000, "20 MB": 20 * 1024 * 1024}
# Repeated units that send a naive HTML tokenizer back over the input.
HOSTILE = {
    "'<a ' repeated": "<a ",
    "'<' repeated": "<",
    "'<!--' repeated": "<!--",
    "'<a b=\"' repeated": '<a b="',
    "'<![' repeated": "<![",
}
STDLIB_SIZES = (2_500, 5_000, 10_000)
# A text dump's header and one paper, then a million short lines of each kind.
TEXT_HEADER = b"Get trending papers in your email inbox!\n\nSubscribe\n\nMar 19\n\n"
TEXT_PAPER = (
    b"Xylophonic Lines\n" + b"We study xylophonic signals with a careful method. " * 6 + b"\n"
)
MILLION_LINES = {
    "a million blank lines": TEXT_HEADER + b" \n\t\n" * 500_000 + TEXT_PAPER,
    "a million header lines": b"new\n" * 1_000_000 + TEXT_HEADER + TEXT_PAPER,
    "a million titles alone": TEXT_HEADER + TEXT_PAPER + b"ok\n" * 1_000_000,
}


def cpu_seconds(work: Callable[[], object]) -> float:
    """CPU time of one call of `work`, whatever it raises."""
    started = time.process_time()
    with contextlib.suppress(PageError):
        work()
    return time.process_time() - started


def sized(unit: str, size: int) -> bytes:
    return (unit * (size // len(unit) + 1))[:size].encode()


def real_page(size: int) -> bytes:
    page = REAL.read_bytes()
    return (page * (size // len(page) + 1))[:size] if size > len(page) else page[:size]


def repeated(page: bytes, size: int) -> bytes:
    return (page * (size // len(page) + 1))[:size]


def parse(data: bytes, name: str = "bench.html") -> Callable[[], object]:
    return lambda: parse_input(data, name, date(2026, 3, 2))


def stdlib(data: bytes) -> Callable[[], object]:
    def feed() -> None:
        parser = HTMLParser(convert_charrefs=True)
        parser.feed(data.decode())
        parser.close()

    return feed


def measure() -> list[dict[str, object]]:
    """Every line: input, size, CPU seconds, ratio to the real page of that size."""
    rows: list[dict[str, object]] = []
    for label, size in SIZES.items():
        baseline = cpu_seconds(parse(real_page(size)))
        rows.append({"input": "real page", "size": label, "seconds": baseline, "ratio": 1.0})
        for name, unit in HOSTILE.items():
            seconds = cpu_seconds(parse(sized(unit, size)))
            rows.append(
                {"input": name, "size": label, "seconds": seconds, "ratio": seconds / baseline}
            )
    for name, data in MILLION_LINES.items():
        baseline = cpu_seconds(parse(repeated(REAL_TEXT.read_bytes(), len(data)), "bench.txt"))
        seconds = cpu_seconds(parse(data, "bench.txt"))
        size = f"{len(data) / 1e6:.0f} MB"
        rows.append({"input": "real text page", "size": size, "seconds": baseline, "ratio": 1.0})
        rows.append({"input": name, "size": size, "seconds": seconds, "ratio": seconds / baseline})
    for size in STDLIB_SIZES:
        real = cpu_seconds(stdlib(real_page(size)))
        hostile = cpu_seconds(stdlib(sized("<a ", size)))
        rows.append(
            {
                "input": "html.parser, '<a ' repeated",
                "size": f"{size / 1000:g} KB",
                "seconds": hostile,
                "ratio": hostile / real if real else float("inf"),
            }
        )
    return rows


def main() -> None:
    """Print the table, or with --json one JSON list of its lines."""
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--json", action="store_true", help="One JSON list on stdout.")
    rows = measure()
    if options.parse_args().json:
        print(json.dumps(rows))
        return
    print(f"{'input':<30} {'size':>7} {'CPU s':>9} {'x real page':>12}")
    for row in rows:
        print(f"{row['input']:<30} {row['size']:>7} {row['seconds']:>9.4f} {row['ratio']:>12.1f}")


if __name__ == "__main__":
    main()
