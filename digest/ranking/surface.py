"""How a paper writes the model's terms, for explanations a reader can trust.

The model's terms are lowercased, their plurals folded ("modalitie" for "modalities"), and
its word pairs may join two words the paper keeps apart ("INR-based video" makes "inr
based" and "based video"). An explanation shows a term only as the paper itself writes it:
whole words, joined by spaces alone, never a piece of a hyphenated or dotted word, and said
in the title or more than once in the abstract. Terms that the corpus or plain English use
everywhere say nothing about one paper and are not shown at all.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from digest.ranking.analyzer import Document, fold_plural

# A word held by more than this share of the stored papers describes none of them, nor
# does a phrase held by more than PHRASE_SHARE; in a small corpus, where shares say little,
# a term held by at most COMMON_FLOOR papers is kept.
WORD_SHARE = 0.1
PHRASE_SHARE = 0.2
COMMON_FLOOR = 5
# A pair of words is a phrase, not two words that happen to meet ("tasks related"), when
# more than this share of the papers holding its rarer word hold the pair.
COHESION = 0.1
# The words of research prose that every paper uses and that no reader asked about. The
# model keeps them (its stop list is short on purpose), an explanation does not. English
# function words come from scikit-learn's list.
FILLER = (
    frozenset(
        """
    ability able according achieve achieved achieves achieving across address addresses
    advance advanced allow allows approach approache based better called capability
    challenge challenging common consider considered conventional corresponding current
    demonstrate demonstrated design designed despite different directly effective
    effectively efficient enable enables enhance enhanced enhancing entirely existing
    extensive even finding first furthermore future given good high however improve
    improved improvement improving including inconsistent information input introduce
    key large leverage leveraging like long low make making method methodology moreover
    need new novel numerous often operation overall paper particular particularly pattern
    performance potential present previous prior process promising propose proposed
    provide providing question reason recent recently relying remain remains require
    requiring research response result rethinking reveal revisiting role rule scaling
    secretly several significant significantly simple simply solely space specific state
    step strong structured study substantial such take three toward towards two
    typically understanding unified unifying unleashing unlike use used using value
    various via way well wide widely work
    """.split()  # noqa: SIM905 - a word list reads better as prose
    )
    | ENGLISH_STOP_WORDS
)
# Papers whose word indexes are kept: a day's picks are among a few thousand papers.
PAPERS_CACHED = 8192

_TOKEN = re.compile(r"\S+")
_WORD = re.compile(r"\w+")
# A chunk of text between spaces is a word when it is one run of letters and digits,
# whatever punctuation stands around it (a comma, brackets, quotes).
_EDGES = re.compile(r"^\W*(.*?)\W*$", re.DOTALL)


@dataclass(frozen=True)
class _Word:
    """One word of a paper as written, and where it stands."""

    written: str
    folded: str
    # Punctuation stands between it and the next word: no term runs on across it.
    breaks_after: bool
    in_title: bool


@dataclass(frozen=True)
class _Index:
    """A paper's whole words and, by folded word, where each occurs."""

    words: tuple[_Word, ...]
    where: dict[str, list[int]]


class Distinctive:
    """Which terms may explain a pick: words and phrases held by few enough stored papers,
    phrases whose words belong together, no filler, and each word a word, not a number.

    A term is judged once, when an explanation first names it: a corpus has hundreds of
    thousands of terms, of which a day's explanations name a few thousand.
    """

    def __init__(
        self, names: np.ndarray, vocabulary: Mapping[str, int], frequency: np.ndarray, papers: int
    ) -> None:
        self._names = names
        self._vocabulary = vocabulary
        self._frequency = frequency
        self._most = {
            1: max(WORD_SHARE * papers, COMMON_FLOOR),
            2: max(PHRASE_SHARE * papers, COMMON_FLOOR),
        }
        # -1: not judged yet; else 0 or 1.
        self._judged = np.full(len(names), -1, dtype=np.int8)

    def __call__(self, columns: np.ndarray) -> np.ndarray:
        """Which of the terms at `columns` may explain a pick."""
        new = np.unique(columns[self._judged[columns] < 0])
        if new.size:
            self._judged[new] = [self._judge(column) for column in new.tolist()]
        return self._judged[columns] > 0

    def _judge(self, column: int) -> bool:
        words = str(self._names[column]).split(" ")
        held = int(self._frequency[column])
        if held > self._most[min(len(words), 2)]:
            return False
        if len(words) == 1:
            # "7b", "r1", "0": a model size or a version says nothing alone.
            return words[0] not in FILLER and sum(c.isalpha() for c in words[0]) >= 2
        # A phrase may hold a function word inside ("learning to rank"), not at either end,
        # and one filler word ("long context"), not only filler ("proposed method").
        if words[0] in ENGLISH_STOP_WORDS or words[-1] in ENGLISH_STOP_WORDS:
            return False
        if all(word in FILLER for word in words):
            return False
        if not all(any(c.isalpha() for c in word) for word in words):
            return False
        if len(words) > 2:  # a profile's own phrase
            return True
        parts = [self._vocabulary.get(word) for word in words]
        rarer = min(int(self._frequency[c]) if c is not None else held for c in parts)
        return held > COHESION * rarer


class Surfaces:
    """The written form of terms in the candidate papers (`documents`, by row)."""

    def __init__(self, documents: Sequence[Document]) -> None:
        self._documents = documents
        self._index = functools.lru_cache(maxsize=PAPERS_CACHED)(self._indexed)

    def form(self, row: int, term: str) -> str | None:
        """How the paper at `row` writes `term` (a model term: folded words joined by
        spaces), or None when it does not write it as whole words, nor often enough to be
        one of its subjects."""
        index = self._index(row)
        wanted = term.split(" ")
        found: list[tuple[int, ...]] = []
        for first in index.where.get(wanted[0], ()):
            span = tuple(range(first, first + len(wanted)))
            if span[-1] < len(index.words) and all(
                index.words[at].folded == word
                and (at == span[-1] or not index.words[at].breaks_after)
                for at, word in zip(span, wanted, strict=True)
            ):
                found.append(span)
        in_title = any(index.words[span[0]].in_title for span in found)
        if not found or (not in_title and len(found) < 2):
            return None
        return _spelling([[index.words[at] for at in span] for span in found])

    def _indexed(self, row: int) -> _Index:
        document = self._documents[row]
        words = [*_words(document.title, in_title=True), *_words(document.abstract)]
        where: dict[str, list[int]] = {}
        for position, word in enumerate(words):
            where.setdefault(word.folded, []).append(position)
        return _Index(tuple(words), where)


def _words(text: str, *, in_title: bool = False) -> list[_Word]:
    """The whole words of `text`: a chunk between spaces that is one run of letters and
    digits within its punctuation. A chunk that is not ("INR-based", "Qwen2.5") breaks the
    run of words on both sides and is no word of any term."""
    words: list[_Word] = []
    for chunk in _TOKEN.findall(unicodedata.normalize("NFKC", text)):
        match = _EDGES.match(chunk)
        core = match.group(1) if match else ""
        whole = bool(_WORD.fullmatch(core))
        if whole:
            if words and chunk[0] != core[0]:
                words[-1] = _with_break(words[-1])
            words.append(
                _Word(
                    written=core,
                    folded=fold_plural(core.casefold()),
                    breaks_after=chunk[-1] != core[-1],
                    in_title=in_title,
                )
            )
        elif words:
            words[-1] = _with_break(words[-1])
    if words:
        words[-1] = _with_break(words[-1])
    return words


def _with_break(word: _Word) -> _Word:
    return _Word(word.written, word.folded, True, word.in_title)


def _spelling(occurrences: list[list[_Word]]) -> str:
    """The written form of a term from its occurrences: the most frequent, capitalized words
    in lower case, acronyms and names as they are ("NeRV", "LLMs")."""
    written = [" ".join(_uncapitalized(w.written) for w in words) for words in occurrences]
    return Counter(written).most_common(1)[0][0]


def _uncapitalized(word: str) -> str:
    """A capitalized word ("Video") in lower case; "NeRV", "LLMs", "GPT" as they are."""
    # Papers capitalize their methods' and subjects' names as they please ("Orthogonal
    # Equivalence Transformation"), and a list of key terms reads as one voice.
    return word.lower() if word[:1].isupper() and word[1:].islower() else word
