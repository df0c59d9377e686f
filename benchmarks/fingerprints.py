"""Fingerprints of composed messages: proof that a change made for speed left every byte of
them as it was.

    python -m benchmarks.fingerprints OUT    # one line a message, the last the whole run's

Run it on two checkouts and compare the files: they are the same exactly when every message
is. The messages: the compose stage's digests, two more sets of digests of the real papers in
`examples/hf-api` (1 to 40 papers each, real titles and abstracts, key terms taken from them,
names in quotes and in other scripts: every form, the size fitting, marks and typography),
with and without feedback links, and the README's first command on the bundled example. The
boundary, the Date and the Message-ID are the only parts of a message that change from run
to run: the boundary is replaced, the two headers left out.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from datetime import UTC, date, datetime
from email.headerregistry import Address
from pathlib import Path

from benchmarks.compose import SECRET, SENDER, digests
from benchmarks.harness import Point
from digest.compose import Composer, Digest, Entry, Recipient
from digest.hf_api import parse_api
from digest.pages import PaperRecord
from digest.resources import resource_dir

ROOT = Path(__file__).resolve().parent.parent
ARCHIVE = ROOT / "examples" / "hf-api" / "2025-03-17_2025-06-13.tar.xz"
NOW = datetime(2025, 6, 2, 7, 30, tzinfo=UTC)
NAMES = ("", "Ada", "Zoë Ünïcode", 'Quote "Me", Jr.', "李雷", "A" * 80)
_BOUNDARY = re.compile(rb'boundary="(=_[0-9a-f]+)"')
_CHANGING = re.compile(rb"^(?:Date|Message-ID): .*\r\n", re.MULTILINE)


def steady(data: bytes) -> bytes:
    """A message without what changes from run to run: its boundary and two headers."""
    boundary = _BOUNDARY.search(data)
    assert boundary is not None
    return _CHANGING.sub(b"", data.replace(boundary.group(1), b"=_boundary"))


def real_digests(papers: list[PaperRecord], count: int, seed: int) -> list[Digest]:
    """`count` digests of 1 to 40 of `papers`, with terms from their own abstracts."""
    rng = random.Random(seed)
    out = []
    for number in range(count):
        entries = []
        for rank, paper in enumerate(rng.sample(papers, rng.choice((1, 2, 5, 10, 20, 40)))):
            words = re.findall(r"[A-Za-z]{4,}", paper.abstract)
            terms = [" ".join(rng.sample(words, rng.choice((1, 1, 2)))) for _ in range(3)]
            entries.append(
                Entry(
                    title=paper.title,
                    abstract=paper.abstract,
                    score=rng.random(),
                    matched=terms[:1] if rng.random() < 0.6 else [],
                    terms=terms,
                    because=[rng.choice(papers).title] if rng.random() < 0.3 else [],
                    liked=[rng.choice(papers).title] if rng.random() < 0.2 else [],
                    code_url=paper.code_url,
                    arxiv_id=paper.arxiv_id if rng.random() < 0.9 else None,
                    authors=paper.authors,
                    upvotes=paper.upvotes,
                    project_url=paper.project_url,
                    paper_id=rank + 1 if rng.random() < 0.8 else None,
                )
            )
        out.append(
            Digest(
                recipient=Recipient(f"reader{number}@example.org", rng.choice(NAMES)),
                digest_date=rng.choice((date(2025, 6, 2), date(2024, 12, 31))),
                entries=entries,
                message_id=f"<{number}.fingerprint@example.org>",
                keywords=entries[0].terms[:2] if rng.random() < 0.7 else [],
            )
        )
    return out


def composed() -> Iterator[tuple[str, bytes]]:
    """Every message, named by its set and number."""
    templates = resource_dir("templates")
    papers: list[PaperRecord] = []
    with tarfile.open(ARCHIVE) as archive:
        for member in archive.getmembers():
            page = archive.extractfile(member) if member.name.endswith(".json") else None
            if page is not None:
                papers += parse_api(page.read(), member.name).papers
    sender = Address("Paper digest", "digest", "example.org")
    sets = {
        "bench": (Composer(templates, SENDER, secret=SECRET), digests(Point(1000, 2000, 0))),
        "real": (
            Composer(templates, sender, secret=SECRET, base_url="https://digest.example.org"),
            real_digests(papers, 600, seed=7),
        ),
        "real-unsigned": (
            Composer(templates, Address("", "digest", "example.org")),
            real_digests(papers, 100, seed=8),
        ),
    }
    for name, (composer, batch) in sets.items():
        for number, digest in enumerate(batch):
            yield f"{name} {number}", composer.compose(digest, NOW).data
    yield from example_run()


def example_run() -> Iterator[tuple[str, bytes]]:
    """The messages of `digest run` on the bundled example, as the README has it: for
    today's date, so compare two checkouts' fingerprints made on the same day."""
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        shutil.copytree(ROOT / "examples", work / "examples")
        shutil.copy(ROOT / ".env.example", work / ".env.example")
        subprocess.run(
            [sys.executable, "-m", "digest", "--env-file", ".env.example", "run"],
            cwd=work,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            check=True,
            capture_output=True,
        )
        # Named "<time>-<recipient>-<tag>.eml": by recipient, whatever second each was written.
        written = sorted((work / "outbox").glob("*.eml"), key=lambda path: path.name[16:])
        for number, path in enumerate(written):
            yield f"example {number}", path.read_bytes()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fingerprints", description=__doc__)
    parser.add_argument("out", type=Path, help="the file of fingerprints to write")
    args = parser.parse_args(argv)
    whole = hashlib.sha256()
    lines = []
    for name, data in composed():
        data = steady(data)
        whole.update(data)
        lines.append(f"{name} {len(data)} {hashlib.sha256(data).hexdigest()}")
    lines.append(f"all {len(lines)} {whole.hexdigest()}")
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(lines[-1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
