"""The LaTeX source idioms that authors paste into titles and abstracts, in the typographic
forms a reader expects: ``quotes'' as “quotes”, \\etc as "etc.", Embeddings~(HyDE) with a
no-break space, \\emph{word} as the word, \\% as %, -- as an en dash.

Written here rather than with pylatexenc's LatexNodes2Text: that reads the whole text as
LaTeX, and an abstract is plain text with a few LaTeX idioms in it, so it turned the plain
text's own "R&D" into "R   D", "--help" into an en dash and "help", a path's backslashes
into nothing, dropped the papers' own macros ("we propose \\ModelName," became "we propose ,"), and
failed on braces it could not pair. Mathematics ($...$) and web addresses are left as
written, and so is any macro not named here.
"""

from __future__ import annotations

import functools
import re

# Abbreviations that papers define as macros (CVPR's and NeurIPS' style files).
ABBREVIATIONS = {
    "eg": "e.g.",
    "ie": "i.e.",
    "etc": "etc.",
    "etal": "et al.",
    "vs": "vs.",
    "wrt": "w.r.t.",
    "cf": "cf.",
    "aka": "a.k.a.",
}
# Macros whose one argument is their text.
TEXT_MACROS = (
    "emph",
    "textit",
    "textbf",
    "textsc",
    "texttt",
    "textrm",
    "textsf",
    "underline",
    "mbox",
    "url",
)
ESCAPED = "%&_#${}"
NO_BREAK_SPACE = "\u00a0"
EN_DASH, EM_DASH = "\u2013", "\u2014"
OPENING_SINGLE, CLOSING_SINGLE = "\u2018", "\u2019"
OPENING_DOUBLE, CLOSING_DOUBLE = "\u201c", "\u201d"
# Titles and abstracts of a day's papers, each converted once however many digests show it.
TEXTS_CACHED = 8192

# What is left as written: web addresses and inline mathematics.
_KEPT = re.compile(r"https?://\S+|(?<!\\)\$[^$\n]{1,200}(?<!\\)\$")
_ABBREVIATION = re.compile(
    r"\\(" + "|".join(sorted(ABBREVIATIONS, key=len, reverse=True)) + r")(?![A-Za-z])(\{\}|\\ )?"
)
_TEXT_MACRO = re.compile(r"\\(?:" + "|".join(TEXT_MACROS) + r")\{([^{}]*)\}")
_HREF = re.compile(r"\\href\{[^{}]*\}\{([^{}]*)\}")
_ESCAPE = re.compile(r"\\([" + re.escape(ESCAPED) + r"])")
_DOUBLE_QUOTED = re.compile(r"(?:``|\")([^\"`]*?)''|``([^\"`]*?)\"")
_SINGLE_QUOTED = re.compile(r"(?<![\w`])`([^`'\n]{1,80})'(?!\w)")
_TIE = re.compile(r"(?<=\S)~(?=\S)")
_EM_DASH = re.compile(r"(?<=[\w\s])---(?=[\w\s])")
_EN_DASH = re.compile(r"(?<=\s)--(?=\s)|(?<=\d)--(?=\d)")
_THIN_SPACE = re.compile(r"\\,")


@functools.lru_cache(maxsize=TEXTS_CACHED)
def typeset(text: str) -> str:
    """`text` with its LaTeX idioms in typographic form; mathematics, web addresses and
    unknown macros as written."""
    if not any(mark in text for mark in ("\\", "`", "'", "~", "--")):
        return text
    # Before the web addresses are set apart: an \href's address is not shown.
    text = _HREF.sub(r"\1", text)
    pieces: list[str] = []
    position = 0
    for kept in _KEPT.finditer(text):
        pieces.append(_converted(text[position : kept.start()]))
        pieces.append(kept.group())
        position = kept.end()
    pieces.append(_converted(text[position:]))
    return "".join(pieces)


def _converted(text: str) -> str:
    # Inside out: \emph{\textbf{x}} loses one macro a pass.
    while (unwrapped := _TEXT_MACRO.sub(r"\1", text)) != text:
        text = unwrapped
    text = _ABBREVIATION.sub(_abbreviation, text)
    text = _ESCAPE.sub(r"\1", text)
    text = _THIN_SPACE.sub("\u202f", text)
    # Opened by `` or a plain ", closed by '' or a plain ".
    text = _DOUBLE_QUOTED.sub(
        lambda m: f"{OPENING_DOUBLE}{m.group(1) or m.group(2) or ''}{CLOSING_DOUBLE}", text
    )
    text = text.replace("''", CLOSING_DOUBLE).replace("``", OPENING_DOUBLE)
    text = _SINGLE_QUOTED.sub(rf"{OPENING_SINGLE}\1{CLOSING_SINGLE}", text)
    text = _TIE.sub(NO_BREAK_SPACE, text)
    text = _EM_DASH.sub(EM_DASH, text)
    return _EN_DASH.sub(EN_DASH, text)


def _abbreviation(match: re.Match[str]) -> str:
    written = ABBREVIATIONS[match.group(1)]
    following = match.string[match.end() : match.end() + 1]
    # "\etc." must not end in two dots.
    return written.removesuffix(".") if following == "." else written
