"""Unsubscribing and undoing it: tokens signed per subscriber, and the changes they make.

An unsubscribe token never expires (the link must work long after the mail was sent), so
nobody can unsubscribe someone else. Undoing takes a token of its own, which the
unsubscribed page hands out, bound to the unsubscription it undoes: an unsubscribe link
cannot resubscribe by itself, and a page left open cannot undo a later unsubscription.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from digest.db import unit_of_work
from digest.errors import NotFoundError
from digest.models import Subscriber, as_utc, utcnow
from digest.tokens import Signer, TokenError

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Subscription:
    """A subscriber's state after a change: unsubscribed since when, and whether it changed."""

    email: str
    unsubscribed_at: datetime | None
    changed: bool
    # Listed in the profile file: only then do digests go out, whatever the above says.
    active: bool = True


def make_token(secret: str, email: str) -> str:
    """A token that unsubscribes `email`, and only it."""
    return Signer("unsubscribe", secret).sign(email.encode())


def read_token(secret: str, token: str, previous: str | None = None) -> str:
    """The address a token unsubscribes; TokenError unless `secret` (or `previous`) signed it."""
    payload = Signer("unsubscribe", secret, previous).check(token)
    return payload.decode("utf-8")


def unsubscribe(
    engine: Engine, secret: str, token: str, previous: str | None = None
) -> tuple[str, bool]:
    """Apply a token: the subscriber gets no more digests. Returns (email, newly unsubscribed).

    Applying a token twice is harmless; a later profile sync does not undo it.
    """
    email = read_token(secret, token, previous)
    with unit_of_work(engine) as session:
        subscription = unsubscribe_address(session, email)
    if subscription is None:
        raise TokenError(f"no subscriber {email} in this database")
    return email, subscription.changed


def subscription_of(session: Session, email: str) -> Subscription | None:
    """`email`'s state as it stands; None when no subscriber has that address."""
    subscriber = _subscriber(session, email)
    return None if subscriber is None else _state(subscriber, changed=False)


def unsubscribe_address(session: Session, email: str) -> Subscription | None:
    """Unsubscribe `email` (at once, idempotent); None when no subscriber has that address."""
    subscriber = _subscriber(session, email)
    if subscriber is None:
        return None
    changed = subscriber.unsubscribed_at is None
    if changed:
        subscriber.unsubscribed_at = utcnow()
    return _state(subscriber, changed)


def resubscribe(session: Session, email: str) -> Subscription:
    """Lift `email`'s unsubscription (the operator's command); NotFoundError if unknown."""
    subscriber = _subscriber(session, email)
    if subscriber is None:
        raise NotFoundError(f"no subscriber {email}; run 'digest subscribers sync' first")
    changed = subscriber.unsubscribed_at is not None
    subscriber.unsubscribed_at = None
    return _state(subscriber, changed)


def make_undo_token(secret: str, subscription: Subscription) -> str:
    """A token that undoes this unsubscription, and no later one."""
    assert subscription.unsubscribed_at is not None
    stamp = _stamp(subscription.unsubscribed_at)
    return Signer("resubscribe", secret).sign(f"{stamp}:{subscription.email}".encode())


def read_undo_token(secret: str, token: str, previous: str | None = None) -> tuple[str, int]:
    """The address and unsubscription an undo token is for; TokenError unless ours."""
    payload = Signer("resubscribe", secret, previous).check(token).decode("utf-8")
    stamp, _, email = payload.partition(":")
    return email, int(stamp)


def undo_unsubscribe(session: Session, email: str, stamp: int) -> Subscription | None:
    """Resubscribe `email` if still unsubscribed by the unsubscription `stamp` names.

    None when no subscriber has that address. One already subscribed stays so (undoing
    twice is harmless); one unsubscribed again since is left alone: TokenError.
    """
    subscriber = _subscriber(session, email)
    if subscriber is None:
        return None
    if subscriber.unsubscribed_at is None:
        return _state(subscriber, changed=False)
    if _stamp(subscriber.unsubscribed_at) != stamp:
        raise TokenError(f"this resubscribe token is for an earlier unsubscription of {email}")
    subscriber.unsubscribed_at = None
    return _state(subscriber, changed=True)


def _subscriber(session: Session, email: str) -> Subscriber | None:
    return session.scalar(select(Subscriber).where(Subscriber.email == email.lower()))


def _state(subscriber: Subscriber, changed: bool) -> Subscription:
    moment = subscriber.unsubscribed_at
    return Subscription(
        subscriber.email, as_utc(moment) if moment else None, changed, subscriber.active
    )


def _stamp(moment: datetime) -> int:
    """A stored time in whole microseconds, exact on both databases."""
    return (as_utc(moment) - _EPOCH) // timedelta(microseconds=1)
