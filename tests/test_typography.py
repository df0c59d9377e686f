"""LaTeX source idioms in titles and abstracts, in typographic form; plain text, mathematics
and web addresses as written."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from digest.typography import typeset


@pytest.mark.parametrize(
    ("written", "shown"),
    [
        # Each from a real abstract of the bundled Hugging Face days or sample pages.
        ("representations (NeRV, E-NeRV, \\etc) reconstruct", "(NeRV, E-NeRV, etc.) reconstruct"),
        ("at smaller values of k (\\eg, k=1), base", "(e.g., k=1), base"),
        ("also referred to as ``test-time computing'' has", "as “test-time computing” has"),
        ("leading to \"dominant modality bias.'' This bias", "to “dominant modality bias.” This"),
        ("Hypothetical Document Embeddings~(HyDE) generate", "Embeddings\u00a0(HyDE) generate"),
        ("a peak performance of 53\\%; models", "a peak performance of 53%; models"),
        ("namely, Knights \\& Knaves (K\\&K) logic", "namely, Knights & Knaves (K&K) logic"),
        ("which we name the \\emph{Uni-Instruct}. Uni", "which we name the Uni-Instruct. Uni"),
        ("we propose \\textsc{FastCuRL}, a simple", "we propose FastCuRL, a simple"),
        ("under the \\textbf{Distribution Alignment}", "under the Distribution Alignment"),
        ("on Hugging Face: \\href{https://hf.co/d}{here}.", "on Hugging Face: here."),
        ("mechanism -- its capability", "mechanism \u2013 its capability"),
        ("a claim --- and a proof", "a claim \u2014 and a proof"),
        ("pages 10--20", "pages 10\u201320"),
        ("the `best' one", "the \u2018best\u2019 one"),
        ("and so on \\etc. Then", "and so on etc. Then"),
    ],
)
def test_latex_idioms_take_their_typographic_form(written: str, shown: str) -> None:
    assert shown in typeset(written)


@pytest.mark.parametrize(
    "kept",
    [
        "we use $\\alpha$-divergence in $O(n^2)$ time",
        "code at https://example.org/~me/a--b_c and more",
        "we develop \\ModelName, a multimodal model",  # the paper's own macro: no hole
        "R&D costs 50% less; C# and --help and don't and 'single' and \"double\"",
        "about ~10% of the ~ cases",
        "C:\\Users\\me",
    ],
)
def test_plain_text_mathematics_addresses_and_unknown_macros_stay_as_written(kept: str) -> None:
    assert typeset(kept) == kept


@given(st.text(alphabet=st.characters(blacklist_characters="\\`'~-")))
def test_text_without_latex_marks_is_unchanged(text: str) -> None:
    assert typeset(text) == text
