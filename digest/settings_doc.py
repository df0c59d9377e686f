"""The settings table of docs/settings.md, made from the declarations in digest.config.

`python -m digest.settings_doc docs/settings.md` writes the table into the page, between
its two marker lines; the test suite fails while the page holds another table.
"""

from __future__ import annotations

import sys
from pathlib import Path

from digest.config import Settings, declared

BEGIN = "<!-- settings table: made by `python -m digest.settings_doc docs/settings.md` -->"
END = "<!-- end of settings table -->"


def settings_table() -> str:
    """Every setting as a Markdown table row: variable, default, what it accepts, meaning."""
    defaults = Settings()
    rows = ["| setting | default | accepts | meaning |", "|---|---|---|---|"]
    for name, declaration in declared():
        value = getattr(defaults, name)
        if declaration.shown_default is not None:
            default = declaration.shown_default
        elif value is None:
            default = "(none)"
        else:
            default = f"`{declaration.kind.format(value)}`"
        rows.append(
            f"| `{declaration.env}` | {default} | {declaration.kind.describe()} "
            f"| {declaration.meaning} |"
        )
    return "\n".join(rows) + "\n"


def with_table(page: str) -> str:
    """`page` with the text between its marker lines replaced by the current table."""
    before, begin, rest = page.partition(BEGIN + "\n")
    _, end, after = rest.partition(END)
    if not begin or not end:
        raise ValueError(f"the page lacks the marker lines {BEGIN!r} and {END!r}")
    return before + begin + settings_table() + end + after


def main(arguments: list[str]) -> int:
    """Rewrite the table in the page named by the one argument."""
    if len(arguments) != 1:
        print("usage: python -m digest.settings_doc docs/settings.md", file=sys.stderr)
        return 2
    page = Path(arguments[0])
    page.write_text(with_table(page.read_text(encoding="utf-8")), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
