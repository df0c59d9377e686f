"""Find the inputs to ingest: files, folders of pages, or standard input."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from digest.errors import PageError

PAGE_SUFFIXES = frozenset({".txt"})
STDIN = "-"


@dataclass(frozen=True)
class Input:
    """One input: a file on disk, or standard input when `path` is None."""

    source: str
    path: Path | None

    def read(self) -> bytes:
        """The input's bytes; a file that cannot be read raises PageError naming it."""
        if self.path is None:
            return sys.stdin.buffer.read()
        try:
            return self.path.read_bytes()
        except OSError as exc:
            raise PageError(self.source, f"cannot read: {exc.strerror or exc}") from None


def find_inputs(paths: Iterable[str | Path]) -> Iterator[Input | PageError]:
    """Expand files and folders (their page files, sorted by name) into inputs.

    A path that does not exist is yielded as a PageError, so the others still go in.
    """
    for raw in paths:
        if str(raw) == STDIN:
            yield Input("<stdin>", None)
            continue
        path = Path(raw)
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix in PAGE_SUFFIXES and p.is_file())
            yield from (Input(str(p), p) for p in files)
        elif path.exists():
            yield Input(str(path), path)
        else:
            yield PageError(str(path), "no such file or folder")
