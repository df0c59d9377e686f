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
    advance advanced advancing ahead algorithm allow allows approach approache based
    better beyond boosting bridging called capability challenge challenging common
    consider considered conventional correct corresponding current demonstrate
    demonstrated design designed despite different directly easy effective effectively
    efficient empowering enable enables enabling enhance enhanced enhancing entirely
    even existing exploring extensive finding first furthermore future given good guide
    high however improve improved improvement improving including inconsistent
    information input intermediate introduce key large leverage leveraging like long low
    made make making method methodology moreover need new novel numerous often operation
    optimal overall paper particular particularly pattern perform performance potential
    present previous prior process promising propose proposed provide providing pure
    question reason recent recently relying remain remains require requiring research
    response result rethinking reveal revisiting role rule safe scaling secretly several
    significant significantly simple simply solely space specific state step strong
    structured study substantial such take think three toward towards two typically
    understanding unified unifying unleashing unlike unlocking use used using value
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
class _Words:
    """A text's whole words, in parallel lists (a paper has a few hundred, and a day's
    picks thousands of papers): as written (a capitalized word in lower case), as the model
    folds them, and whether punctuation stands before the next word."""

    written: list[str]
    folded: list[str]
    breaks: list[bool]


@dataclass(frozen=True)
class _Index:
    """A paper's whole words (the title's first), where each folded word starts, and the
    written form of each of its words and pairs of words that may explain it."""

    words: _Words
    titled: int
    where: dict[str, list[int]]
    short: dict[str, str]


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
        if len(wanted) <= 2:
            return index.short.get(term)
        # A profile's longer phrase: looked for where its first word is.
        words = index.words
        size = len(wanted)
        starts = [
            first
            for first in index.where.get(wanted[0], ())
            if words.folded[first : first + size] == wanted
            and not any(words.breaks[first : first + size - 1])
        ]
        return _spelling(words, starts, size, index.titled)

    def _indexed(self, row: int) -> _Index:
        document = self._documents[row]
        title, abstract = _words(document.title), _words(document.abstract)
        words = _Words(
            title.written + abstract.written,
            title.folded + abstract.folded,
            title.breaks + abstract.breaks,
        )
        where: dict[str, list[int]] = {}
        pairs: dict[str, list[int]] = {}
        folded, breaks = words.folded, words.breaks
        for position, word in enumerate(folded):
            where.setdefault(word, []).append(position)
            if not breaks[position]:
                pairs.setdefault(f"{word} {folded[position + 1]}", []).append(position)
        # Every word and pair of words written whole, found in one pass: a day's picks ask
        # for hundreds of thousands of them.
        titled = len(title.folded)
        short = {
            term: written
            for spans, size in ((where, 1), (pairs, 2))
            for term, starts in spans.items()
            if (written := _spelling(words, starts, size, titled)) is not None
        }
        return _Index(words, titled, where, short)


def _words(text: str) -> _Words:
    """The whole words of `text`: a chunk between spaces that is one run of letters and
    digits within its punctuation. A chunk that is not ("INR-based", "Qwen2.5") breaks the
    run of words on both sides and is no word of any term; the last word breaks it too."""
    written: list[str] = []
    folded: list[str] = []
    breaks: list[bool] = []
    for chunk in _TOKEN.findall(unicodedata.normalize("NFKC", text)):
        match = _EDGES.match(chunk)
        core = match.group(1) if match else ""
        if _WORD.fullmatch(core):
            if breaks and chunk[0] != core[0]:
                breaks[-1] = True
            written.append(_uncapitalized(core))
            folded.append(fold_plural(core.casefold()))
            breaks.append(chunk[-1] != core[-1])
        elif breaks:
            breaks[-1] = True
    if breaks:
        breaks[-1] = True
    return _Words(written, folded, breaks)


def _spelling(words: _Words, starts: list[int], size: int, titled: int) -> str | None:
    """The written form of the term of `size` words at `starts`: the most frequent. None
    when it is not in the title (its first `titled` words) and said only once: no subject
    of the paper."""
    if not starts or (len(starts) < 2 and starts[0] >= titled):
        return None
    if size == 1:
        forms = [words.written[start] for start in starts]
    else:
        forms = [" ".join(words.written[start : start + size]) for start in starts]
    return forms[0] if len(forms) == 1 else Counter(forms).most_common(1)[0][0]


def _uncapitalized(word: str) -> str:
    """A capitalized word ("Video") in lower case; "NeRV", "LLMs", "GPT" as they are."""
    # Papers capitalize their methods' and subjects' names as they please ("Orthogonal
    # Equivalence Transformation"), and a list of key terms reads as one voice.
    return word.lower() if word[:1].isupper() and word[1:].islower() else word
