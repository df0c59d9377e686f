"""Untrusted text made safe to show: on a terminal, in an email, in a log line.

Titles, abstracts and names come from pages anyone can write. Control characters (C0,
DEL, C1) drive terminals (colours, window titles, cursor moves) and have no place in a
title; bidirectional overrides and isolates reorder what a reader sees ("Trojan Source");
zero-width spaces hide text. They are replaced by a space, and runs of whitespace folded.
Right-to-left text itself, and the joiners that Persian, Indic scripts and emoji
sequences need (U+200C, U+200D), are kept.
"""

from __future__ import annotations

from itertools import chain

# Embeddings and overrides (LRE, RLE, PDF, LRO, RLO), isolates (LRI, RLI, FSI, PDI).
BIDI_CONTROLS = frozenset(chain(range(0x202A, 0x202F), range(0x2066, 0x206A)))
# Zero-width space, word joiner, the byte order mark inside text, Mongolian vowel separator.
ZERO_WIDTH = frozenset({0x200B, 0x2060, 0xFEFF, 0x180E})
_CONTROLS = frozenset(chain(range(0x00, 0x20), range(0x7F, 0xA0)))
# str.translate with a table: one pass in C over each text.
_TABLE = {code: " " for code in _CONTROLS | BIDI_CONTROLS | ZERO_WIDTH} | {
    # A lone surrogate ("\ud800" is valid JSON) cannot even be encoded to UTF-8.
    code: "\ufffd"
    for code in range(0xD800, 0xE000)
}


def one_line(text: str) -> str:
    """`text` on one line: unsafe characters made spaces, whitespace runs folded to one."""
    return " ".join(text.translate(_TABLE).split())


def excerpt(text: str, width: int = 60) -> str:
    """A short, safe quotation of untrusted text for an error message."""
    line = one_line(text)
    return line if len(line) <= width else line[: width - 1] + "…"
