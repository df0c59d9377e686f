"""Composing: a subscriber's picks as an email, Jinja templates rendered into text and HTML
alternatives, within the size mail clients show whole.

- `composer`: the Composer, a digest as a complete message: headers, preheader, bodies;
- `fitting`: the forms papers take so that a message stays within MESSAGE_BYTES;
- `views`: what the templates show of a paper (rendered once a run) and of an entry;
- `digests`: what a digest says (to whom, which day, which papers and why), and its subject;
- `templates`: the Jinja environment, the stylesheet inlined once as templates load;
- `links`: a paper's links and their labels;
- `text`: text cut and wrapped to width, and the phrases of a message's head.

Each module imports only modules listed after it.
"""

from digest.compose.composer import SEED_CHARS, Composer, make_composer
from digest.compose.digests import (
    SUBJECT_CHARS,
    Digest,
    Entry,
    PaperFields,
    Recipient,
    RecipientFields,
    entry,
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
