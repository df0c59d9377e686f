"""Plain text as a message writes it: cut or wrapped to the widths it gives each thing, and
the few phrases its head says (a day, a count, a list of words).

Pure functions of strings, as fast as the composer needs them: a message calls them for
every paper, and a run composes tens of thousands of messages.
"""

from __future__ import annotations

import functools
import re
from datetime import date

SUMMARY_CHARS = 600


def clipped(text: str, width: int) -> str:
    """`text` cut after a whole word to at most `width` characters, an ellipsis included."""
    if len(text) <= width:
        return text
    cut = text.rfind(" ", 0, width)
    return (text[:cut] if cut > 0 else text[: width - 1]).rstrip(" ,;:-·") + "…"


def shorten(text: str, width: int = SUMMARY_CHARS, placeholder: str = " …") -> str:
    """`text` with its whitespace collapsed, cut after a whole word to at most `width`
    characters (the placeholder included), as `textwrap.shorten` does without breaking words.
    """
    # textwrap.shorten wraps the whole abstract into lines to find the first one, which
    # took most of a message's composing time; a cut at the last space is the same result.
    collapsed = " ".join(text.split())
    if len(collapsed) <= width:
        return collapsed
    cut = collapsed.rfind(" ", 0, width - len(placeholder) + 1)
    return collapsed[:cut] + placeholder if cut > 0 else placeholder.lstrip()


def wrap(text: str, width: int = 72) -> list[str]:
    """`text` (whitespace collapsed) in lines of at most `width` characters, breaking only
    between words; a longer word has a line of its own."""
    # textwrap (and Jinja's wordwrap filter over it) took a third of a message's rendering
    # time; greedy filling at spaces is all a summary needs, and one regular expression
    # does it in C.
    return [short or long for short, long in _line_pattern(width).findall(text)]


@functools.cache
def _line_pattern(width: int) -> re.Pattern[str]:
    # The longest run of at most `width` characters that ends before a space or the end,
    # else one word longer than that.
    return re.compile(rf"(.{{1,{width}}})(?: |\Z)|([^ ]+)(?: |\Z)")


@functools.lru_cache(maxsize=64)
def date_label(day: date, weekly: bool) -> str:
    """The digest's day in words ("Saturday, 1 March 2025"), "week of" it when `weekly`."""
    # A run's digests are of a few days: each label is built once.
    label = f"{day:%A}, {day.day} {day:%B %Y}"
    return f"week of {label}" if weekly else label


def counted(number: int, noun: str) -> str:
    """`number` and `noun`, plural unless one ("3 new papers")."""
    return f"{number} {noun}{'s' if number != 1 else ''}"


def and_joined(words: list[str]) -> str:
    """`words` joined by commas, the last by "and"."""
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"
