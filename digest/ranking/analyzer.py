"""How the model reads text: words with plurals folded, stop words, and the features of a
paper (unigrams and bigrams of content words, and the profiles' longer phrases)."""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

# How many times a title's terms count against the abstract's once.
TITLE_WEIGHT = 2
# A small list of function words. scikit-learn's built-in English list also drops content
# words our users search for ("system", "interest", "computer"), so it is not used.
STOP_WORDS = frozenset(
    """
    a about above after again against all also am an and any are as at be because
    been before being below between both but by can could did do does doing down
    during each few for from further had has have having here how i if in into is it
    its itself just may me might more most must my no nor not of off on once only or
    other our ours out over own same should so some such than that the their theirs
    them then there these they this those through to too under until up upon very
    via was we were what when where which while who whom why will with within
    without would you your
    """.split()  # noqa: SIM905 - a word list reads better as prose
)
_WORD = re.compile(r"\w+")
# Where a phrase cannot run on: the end of a sentence or clause, brackets.
_CLAUSE_BREAK = re.compile(r"[.!?;:]+(?=\s|$)|[()\[\]{}]")

Phrase = tuple[str, ...]


@dataclass(frozen=True)
class Document:
    """A paper as the model sees it."""

    id: int
    title: str
    abstract: str


def words(text: str) -> list[str]:
    """Lowercased words, plurals folded ("representations" is "representation")."""
    return [fold_plural(w) for w in _WORD.findall(unicodedata.normalize("NFKC", text).casefold())]


def fold_plural(word: str) -> str:
    """The singular of a lowercase English plural, roughly; other words unchanged."""
    # A light plural fold instead of a stemmer: "representations" and "representation" meet,
    # while words stay readable and "analysis" or "class" stay whole.
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def phrase_feature(term: str) -> str | None:
    """The one feature that says `term` occurs as a whole (a word, or a phrase in order).

    None for a term of function words only, which can never match.
    """
    found = words(term)
    if all(word in STOP_WORDS for word in found):
        return None
    return " ".join(found)


def phrases(terms: Iterable[str]) -> frozenset[Phrase]:
    """The phrases (features of two words or more) among the profiles' `terms`."""
    return frozenset(
        tuple(feature.split())
        for term in terms
        if (feature := phrase_feature(term)) and " " in feature
    )


def segments(doc: Document) -> tuple[str, ...]:
    """A paper's text as the analyzer reads it: the title TITLE_WEIGHT times, the abstract."""
    return (doc.title,) * TITLE_WEIGHT + (doc.abstract,)


class Analyzer:
    """Unigrams and bigrams of content words, and the profiles' phrases, clause by clause.

    Longer phrases, and phrases with function words inside ("learning to rank"), are
    features only where a profile names them, so they match whole without the model
    counting every trigram of the corpus. An instance is what scikit-learn's vectorizers
    call as their `analyzer`, on a paper's `segments` or on one keyword's feature.
    """

    def __init__(self, known: Collection[Phrase]) -> None:
        self._heads = _phrase_heads(known)

    def __call__(self, texts: tuple[str, ...]) -> list[str]:
        """The features of `texts`, in order."""
        # Run over every stored paper at each fit: longer n-grams are only looked at where
        # a profile's phrase starts, not built at every position for every length.
        features: list[str] = []
        heads = self._heads
        for text in texts:
            for clause in _CLAUSE_BREAK.split(text):
                found = words(clause)
                content = [word not in STOP_WORDS for word in found]
                features.extend(itertools.compress(found, content))
                features.extend(
                    f"{found[i]} {found[i + 1]}"
                    for i in range(len(found) - 1)
                    if content[i] and content[i + 1]
                )
                for start in (i for i, word in enumerate(found) if word in heads):
                    for phrase in heads[found[start]]:
                        if tuple(found[start : start + len(phrase)]) == phrase:
                            features.append(" ".join(phrase))
        return features


def _phrase_heads(known: Collection[Phrase]) -> Mapping[str, list[Phrase]]:
    """The phrases that are not plain bigrams of content words, by their first word."""
    heads: dict[str, list[Phrase]] = {}
    for phrase in sorted(known):
        if len(phrase) > 2 or any(word in STOP_WORDS for word in phrase):
            heads.setdefault(phrase[0], []).append(phrase)
    return heads
