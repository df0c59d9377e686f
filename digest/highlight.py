"""Where a reader's terms occur in a summary: the pieces of text to mark."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from digest.ranking.analyzer import fold_plural


def highlight(text: str, terms: list[str]) -> list[tuple[str, bool]]:
    """Split `text` into (piece, is_match) runs, marking where any of `terms` occurs.

    A term matches its words in order, whole words only, in any case, each word also with
    a plural ending, with any punctuation or spaces between them. Where matches overlap,
    the one that starts first wins, and of those the longest.
    """
    # Matched word by word against the text's words (found once per summary, which many
    # digests share) rather than with a regular expression per term: compiling one took
    # longer than a message's rendering, and every subscriber brings terms of their own.
    words = _words(text)
    found = sorted(
        (words.spans[first][0], -words.spans[last][1])
        for term in terms
        for first, last in _occurrences(words, term_words(term))
    )
    pieces: list[tuple[str, bool]] = []
    position = 0
    for start, negative_end in found:
        if start < position:
            continue
        if start > position:
            pieces.append((text[position:start], False))
        pieces.append((text[start:-negative_end], True))
        position = -negative_end
    if position < len(text) or not pieces:
        pieces.append((text[position:], False))
    return pieces


@dataclass(frozen=True)
class _Words:
    """A text's words (runs of letters and digits): where each is, lowercased, and whether
    it starts or ends a whole word (`\\w` run: an underscore joins words into one); and, by
    each word and each word less an -s or -es ending, where it and its plurals are."""

    spans: list[tuple[int, int]]
    lowered: list[str]
    opens: list[bool]
    closes: list[bool]
    forms: dict[str, list[int]]


@functools.lru_cache(maxsize=8192)
def _words(text: str) -> _Words:
    matches = list(_ALPHANUMERIC.finditer(text))
    spans = [match.span() for match in matches]
    lowered = [match.group().lower() for match in matches]
    if "_" in text:
        opens = [start == 0 or text[start - 1] != "_" for start, _ in spans]
        closes = [end == len(text) or text[end] != "_" for _, end in spans]
    else:
        # Without an underscore every word is whole: the usual case, and much cheaper.
        opens = closes = [True] * len(spans)
    # Found once per summary, so that a term's first word is looked up once, not as three
    # spellings for every subscriber's every term.
    forms: dict[str, list[int]] = {}
    for index, word in enumerate(lowered):
        forms.setdefault(word, []).append(index)
        if word[-1] == "s":
            forms.setdefault(word[:-1], []).append(index)
            if word[-2:] == "es":
                forms.setdefault(word[:-2], []).append(index)
    return _Words(spans, lowered, opens, closes, forms)


_ALPHANUMERIC = re.compile(r"[^\W_]+")


@functools.lru_cache(maxsize=65536)
def term_words(term: str) -> tuple[str, ...]:
    """`term`'s words, lowercased and singular: what the text's words are compared with,
    and what makes two spellings of a term the same ("Language Models", "language model")."""
    # lower(), not casefold(): the text's own spelling must still match ("ß").
    # The model folds plurals, so "representation" also marks "representations".
    return tuple(fold_plural(word) for word in _ALPHANUMERIC.findall(term.lower()))


def _is_form(word: str, singular: str) -> bool:
    """`word` is `singular` or its plural with -s or -es."""
    return word == singular or (word.startswith(singular) and word[len(singular) :] in _ENDINGS)


_ENDINGS = frozenset({"s", "es"})


def _occurrences(words: _Words, term: tuple[str, ...]) -> list[tuple[int, int]]:
    """Where `term` occurs in `words`: (first, last) word indices of each occurrence."""
    if not term:
        return []
    tail = term[1:]
    found: list[tuple[int, int]] = []
    for first in words.forms.get(term[0], ()):
        last = first + len(tail)
        if not words.opens[first] or last >= len(words.lowered) or not words.closes[last]:
            continue
        # Consecutive words always have something between them that the term's own
        # separators (any punctuation, spaces or underscores) allow.
        if all(map(_is_form, words.lowered[first + 1 : last + 1], tail)):
            found.append((first, last))
    return found
