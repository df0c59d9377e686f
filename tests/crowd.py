"""A crowd of subscribers over two days of the sample pages, for the end-to-end delivery
tests with real `digest` processes, and the check that each got each digest once."""

from __future__ import annotations

import json
import random
import re
import shutil
from collections import Counter
from datetime import date
from pathlib import Path

from digest.config import Settings
from digest.pages import parse_page
from tests.smtp_servers import Log
from tests.support import PAGES

DAY1, DAY2 = "2026-03-20", "2026-03-21"
PAGE_FILES = sorted(PAGES.glob("*.txt"))
PAGES_OF_DAY = {DAY1: PAGE_FILES[:3], DAY2: PAGE_FILES[3:]}
_COMMON = frozenset(
    {
        "towards", "through", "without", "learning", "between", "improving", "language",
        "models", "network", "networks", "efficient", "effective", "approach", "framework",
        "method", "methods", "analysis",
    }
)  # fmt: skip


def title_words(files: list[Path], skip: set[str] | None = None) -> list[str]:
    """Distinctive words of the titles of the papers on `files` (not those keyed in `skip`)."""
    words: set[str] = set()
    for path in files:
        for paper in parse_page(path.read_bytes(), str(path), date(2026, 3, 20)).papers:
            if skip is not None and paper.key in skip:
                continue
            words.update(w.lower() for w in re.findall(r"[A-Za-z]{7,}", paper.title))
    return sorted(words - _COMMON)


def paper_keys(files: list[Path]) -> set[str]:
    """The keys of the papers on `files`."""
    return {
        paper.key
        for path in files
        for paper in parse_page(path.read_bytes(), str(path), date(2026, 3, 20)).papers
    }


def write_crowd(path: Path, count: int, seed: int = 7) -> list[str]:
    """A profile file of `count` subscribers with varied keywords from the pages' titles.

    Each has a word of a first-day title and one of a second-day title, so most get a digest
    both days; some weight their keywords, some exclude a word, sizes vary.
    """
    rng = random.Random(seed)
    first = title_words(PAGES_OF_DAY[DAY1])
    second = title_words(PAGES_OF_DAY[DAY2], skip=paper_keys(PAGES_OF_DAY[DAY1]))
    emails, blocks = [], []
    for number in range(count):
        email = f"reader{number:03d}@lab{number % 7}.example.org"
        emails.append(email)
        terms = list(dict.fromkeys([rng.choice(first), rng.choice(second), rng.choice(first)]))
        if rng.random() < 0.3:
            weights = ", ".join(f'"{t}" = {rng.choice([0.5, 1.0, 2.0])}' for t in terms)
            keywords = f"{{ {weights} }}"
        else:
            keywords = json.dumps(terms)
        lines = [
            "[[subscriber]]",
            f'email = "{email}"',
            f'name = "Reader {number}"',
            f"keywords = {keywords}",
            f"max_papers = {rng.randint(1, 4)}",
        ]
        if rng.random() < 0.1:
            lines.append('exclude = ["medical"]')
        blocks.append("\n".join(lines))
    path.write_text("\n\n".join(blocks) + "\n")
    return emails


def fill_inbox(settings: Settings, day: str) -> None:
    """Put the pages of `day` (DAY1 or DAY2) into the inbox."""
    settings.inbox.mkdir(exist_ok=True)
    for page in PAGES_OF_DAY[day]:
        shutil.copy(page, settings.inbox)


def assert_once_each(log: Log, report: dict) -> None:
    """The relay accepted exactly one message per sent delivery, with its Message-ID, and
    nothing else: counted by envelope recipient and the day of the delivery it belongs to."""
    deliveries = {d["message_id"]: d for d in report["deliveries"]}
    per_day: Counter[tuple[str, str]] = Counter()
    for accepted in log.accepted:
        delivery = deliveries[accepted.message_id]  # every message is a recorded delivery
        assert accepted.rcpt_tos == (delivery["email"],)
        assert accepted.message["To"].addresses[0].addr_spec == delivery["email"]
        per_day[(delivery["email"], delivery["date"])] += 1
    assert {key: n for key, n in per_day.items() if n != 1} == {}
    sent = {(d["email"], d["date"]) for d in report["deliveries"] if d["status"] == "sent"}
    assert set(per_day) == sent
