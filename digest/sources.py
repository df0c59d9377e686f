"""Find the inputs to ingest: files, folders of pages, or standard input."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from digest.errors import PageError
from digest.formats import SUFFIXES

STDIN = "-"


@dataclass(frozen=True)
class Input:
    """One input: a file on disk, or standard input when `path` is None."""

    source: str
    path: Path | None

    def read(self, max_bytes: int) -> bytes:
        """The input's bytes, at most `max_bytes` of them.

        An input that cannot be read, or is larger, raises PageError naming it: a real page
        is a few hundred kilobytes, and a larger one is refused before it is read whole.
        """
        try:
            if self.path is None:
                data = sys.stdin.buffer.read(max_bytes + 1)
            else:
                with self.path.open("rb") as handle:
                    data = handle.read(max_bytes + 1)
        except OSError as exc:
            raise PageError(self.source, f"cannot read: {exc.strerror or exc}") from None
        if len(data) > max_bytes:
            raise PageError(
                self.source,
                f"larger than {max_bytes // (1024 * 1024)} MB, the most a page may be "
                "(DIGEST_MAX_PAGE_MB)",
            )
        return data


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
            yield from _folder(path)
        elif path.exists():
            yield Input(str(path), path)
        else:
            yield PageError(str(path), "no such file or folder")


def _folder(folder: Path) -> Iterator[Input | PageError]:
    """The page files of `folder`, sorted by name; a symbolic link that leads out of it is
    a PageError, never read: an inbox is not a window onto the rest of the machine."""
    inside = folder.resolve()
    for path in sorted(p for p in folder.iterdir() if p.suffix.lower() in SUFFIXES):
        try:
            outside = path.is_symlink() and not path.resolve().is_relative_to(inside)
        except (OSError, RuntimeError):  # a loop of links, or one that cannot be read
            outside = True
        if outside:
            yield PageError(str(path), "a symbolic link out of the folder: not read")
        elif path.is_file():
            yield Input(str(path), path)
