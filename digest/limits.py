"""How long a paper's fields may be: the schema's column sizes and integer ranges (read
from digest.models, so they are stated once), and the sizes real papers never exceed.

PostgreSQL refuses a `varchar(n)` value over n characters and an `integer` over 2^31 - 1;
SQLite stores what it is given, up to 2^63 - 1. A record is checked against these before
anything is stored, on every database, so that one entry that does not fit is skipped
instead of failing its page's transaction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import BigInteger, ColumnElement, Integer, SmallInteger, String

from digest.models import Page, Paper, Subscriber

if TYPE_CHECKING:
    from digest.pages import PaperRecord


def length(column: ColumnElement[Any]) -> int:
    """The most characters a string column holds."""
    kind = column.type
    assert isinstance(kind, String) and kind.length is not None, column
    return kind.length


def integer_range(column: ColumnElement[Any]) -> tuple[int, int]:
    """The smallest and largest value an integer column holds on every database."""
    kind = column.type
    assert isinstance(kind, Integer), column
    bits = 64 if isinstance(kind, BigInteger) else 16 if isinstance(kind, SmallInteger) else 32
    return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1


PAPER_KEY = length(Paper.__table__.c.key)
ARXIV_ID = length(Paper.__table__.c.arxiv_id)
CODE_URL = length(Paper.__table__.c.code_url)
PROJECT_URL = length(Paper.__table__.c.project_url)
UPVOTES = integer_range(Paper.__table__.c.upvotes)
PAGE_SOURCE = length(Page.__table__.c.source)
SUBSCRIBER_EMAIL = length(Subscriber.__table__.c.email)
SUBSCRIBER_NAME = length(Subscriber.__table__.c.name)
SUBSCRIBER_LIBRARY = length(Subscriber.__table__.c.library)

# Real titles run to 23 words and 176 characters.
MAX_TITLE_CHARS = 300
# arXiv takes abstracts of up to 1,920 characters; five times that is no paper's.
MAX_ABSTRACT_CHARS = 10_000
# The longest real author names are under a hundred characters.
MAX_AUTHOR_CHARS = 200


def misfit(record: PaperRecord) -> str | None:
    """What in `record` is too long or too large to be a paper, or to be stored; None if
    nothing is."""
    key = record.key
    checks = (
        (len(record.title) > MAX_TITLE_CHARS, f"title of {len(record.title)} characters"),
        (not key, "title without a letter or digit"),
        (len(key) > PAPER_KEY, f"title of {len(key)} characters once normalized"),
        (
            len(record.abstract) > MAX_ABSTRACT_CHARS,
            f"abstract of {len(record.abstract)} characters",
        ),
        (len(record.arxiv_id or "") > ARXIV_ID, "arXiv id longer than an arXiv id"),
        (len(record.code_url or "") > CODE_URL, f"code link of over {CODE_URL} characters"),
        (
            len(record.project_url or "") > PROJECT_URL,
            f"project link of over {PROJECT_URL} characters",
        ),
        (
            any(len(name) > MAX_AUTHOR_CHARS for name in record.authors),
            f"author name of over {MAX_AUTHOR_CHARS} characters",
        ),
        (
            record.upvotes is not None and not UPVOTES[0] <= record.upvotes <= UPVOTES[1],
            f"upvote count {_shown(record.upvotes)} out of range",
        ),
    )
    return next((problem for failed, problem in checks if failed), None)


def _shown(number: int | None) -> str:
    text = str(number)
    return text if len(text) <= 20 else f"of {len(text)} digits"
