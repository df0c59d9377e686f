"""Pretrained text embeddings: the optional semantic part of the interest model.

Off by default (`DIGEST_EMBEDDINGS=off`). With the `embeddings` extra installed
(`pip install 'digest[embeddings]'`), `DIGEST_EMBEDDINGS=wordllama` turns it on: WordLlama's
static token embeddings (distilled from a large language model's, MIT licensed, shipped in
the wheel: no model download, no torch), averaged over a text's tokens. That is a table
lookup and a mean per text, thousands of abstracts a second on one core, where a
transformer encoder takes minutes for a day's papers.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from digest.errors import ConfigError

# The names DIGEST_EMBEDDINGS takes; "off" is the default.
CHOICES = ("off", "wordllama")
# The wheel ships the 256-dimensional model (the larger ones are downloads). Its vectors are
# Matryoshka-trained, so 64 or 128 would keep most of the meaning for less memory; on the
# bench they kept most, not all, of the gain, and a profile's 256 floats cost 1 kB.
WORDLLAMA_DIMENSIONS = 256
# Texts are tokenized in batches padded to their longest text: sorted by length first, a
# batch of abstracts pads a few tokens instead of hundreds (eight times faster on the bench).
_BATCH = 64


class Embedder(Protocol):
    """Turns texts into unit vectors whose dot products say how alike they are in meaning."""

    @property
    def dimensions(self) -> int:
        """The length of every vector `embed` returns."""
        ...

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """One unit float32 row per text (a zero row for a text with no tokens)."""
        ...


class WordLlamaEmbedder:
    """WordLlama's bundled 256-dimensional model, loaded from the installed package only."""

    def __init__(self) -> None:
        import wordllama

        # Never a download: the model ships inside the package.
        self._model = wordllama.WordLlama.load(
            trunc_dim=WORDLLAMA_DIMENSIONS,
            cache_dir=Path(wordllama.__file__).parent,
            disable_download=True,
        )

    @property
    def dimensions(self) -> int:
        return WORDLLAMA_DIMENSIONS

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """One unit float32 row per text (a zero row for a text with no tokens)."""
        out = np.zeros((len(texts), WORDLLAMA_DIMENSIONS), dtype=np.float32)
        if not texts:
            return out
        order = np.argsort([len(text) for text in texts], kind="stable")
        vectors = self._model.embed([texts[i] for i in order], batch_size=_BATCH)
        out[order] = vectors
        return _unit(out)


def _unit(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length; rows that are zero (or not finite) become zero."""
    vectors[~np.isfinite(vectors).all(axis=1)] = 0
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)


def require(name: str) -> None:
    """Check that DIGEST_EMBEDDINGS names an embedder this installation can load.

    Raises ConfigError naming the setting, or the extra to install.
    """
    if name not in CHOICES:
        raise ConfigError(f"DIGEST_EMBEDDINGS must be one of {', '.join(CHOICES)}, not {name!r}")
    if name == "wordllama" and importlib.util.find_spec("wordllama") is None:
        raise ConfigError(
            "DIGEST_EMBEDDINGS=wordllama needs the embeddings extra: "
            "pip install 'digest[embeddings]' (or set DIGEST_EMBEDDINGS=off)"
        )


@functools.cache
def load_embedder(name: str) -> Embedder | None:
    """The embedder DIGEST_EMBEDDINGS names (None for "off"), loaded once per process.

    Raises ConfigError as `require` does.
    """
    require(name)
    return None if name == "off" else WordLlamaEmbedder()
