"""Unsubscribe tokens: signed per subscriber, so nobody can unsubscribe someone else."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from sqlalchemy import Engine, select

from digest.db import unit_of_work
from digest.errors import DigestError
from digest.models import Subscriber, utcnow

_PURPOSE = b"digest-unsubscribe\x00"


class TokenError(DigestError):
    """An unsubscribe token that is malformed or not signed with this installation's secret."""


def make_token(secret: str, email: str) -> str:
    """A token that unsubscribes `email`, and only it."""
    return f"{_b64(email.encode())}.{_b64(_signature(secret, email))}"


def read_token(secret: str, token: str) -> str:
    """The address a token unsubscribes; TokenError unless its signature is ours."""
    payload, _, signature = token.strip().partition(".")
    try:
        email = _unb64(payload).decode("utf-8")
        given = _unb64(signature)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise TokenError("not an unsubscribe token") from None
    if not hmac.compare_digest(given, _signature(secret, email)):
        raise TokenError("this unsubscribe token is not valid here (wrong or forged signature)")
    return email


def unsubscribe(engine: Engine, secret: str, token: str) -> tuple[str, bool]:
    """Apply a token: the subscriber gets no more digests. Returns (email, newly unsubscribed).

    Applying a token twice is harmless; a later profile sync does not undo it.
    """
    email = read_token(secret, token)
    with unit_of_work(engine) as session:
        subscriber = session.scalar(select(Subscriber).where(Subscriber.email == email))
        if subscriber is None:
            raise TokenError(f"no subscriber {email} in this database")
        if subscriber.unsubscribed_at is not None:
            return email, False
        subscriber.unsubscribed_at = utcnow()
        return email, True


def _signature(secret: str, email: str) -> bytes:
    # 128 bits of HMAC-SHA256 keep links short and are far beyond guessing.
    digest = hmac.new(secret.encode(), _PURPOSE + email.encode(), hashlib.sha256).digest()
    return digest[:16]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    if not text:
        raise ValueError("empty")
    raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    if _b64(raw) != text:  # spare bits set in the last character: not a token we made
        raise ValueError("not canonical")
    return raw
