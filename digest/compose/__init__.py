"""Composing: a subscriber's picks as an email, Jinja templates rendered into text and HTML
alternatives, within the size mail clients show whole."""

from digest.compose.composer import (
    SEED_CHARS,
    SUBJECT_CHARS,
    Composer,
    Digest,
    Entry,
    PaperFields,
    Recipient,
    RecipientFields,
    entry,
    make_composer,
    make_digest,
    new_message_id,
)
from digest.compose.fitting import MESSAGE_BYTES, MOST_PAPERS
from digest.compose.text import SUMMARY_CHARS, clipped, shorten, wrap

__all__ = [
    "MESSAGE_BYTES",
    "MOST_PAPERS",
    "SEED_CHARS",
    "SUBJECT_CHARS",
    "SUMMARY_CHARS",
    "Composer",
    "Digest",
    "Entry",
    "PaperFields",
    "Recipient",
    "RecipientFields",
    "clipped",
    "entry",
    "make_composer",
    "make_digest",
    "new_message_id",
    "shorten",
    "wrap",
]
