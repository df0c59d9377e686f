"""Unsubscribing, undoing it from the page that did it, and the operator's resubscribe."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from digest.db import unit_of_work
from digest.models import Subscriber
from digest.profiles import sync_profiles
from digest.tokens import TokenError
from digest.unsubscribe import (
    make_undo_token,
    read_token,
    read_undo_token,
    undo_unsubscribe,
    unsubscribe_address,
)
from tests.support import PROFILES

SECRET = "test-secret-not-for-production"


@pytest.fixture
def readers(engine):
    sync_profiles(engine, PROFILES)
    return engine


def unsubscribe_now(engine, email: str):
    with unit_of_work(engine) as session:
        return unsubscribe_address(session, email)


def undo(engine, token: str):
    email, stamp = read_undo_token(SECRET, token)
    with unit_of_work(engine) as session:
        return undo_unsubscribe(session, email, stamp)


def unsubscribed(engine, email: str) -> bool:
    with unit_of_work(engine) as session:
        moment = session.scalar(select(Subscriber.unsubscribed_at).where(Subscriber.email == email))
    return moment is not None


def test_unsubscribing_is_immediate_and_idempotent(readers):
    first = unsubscribe_now(readers, "ada@example.org")
    assert first.changed and first.unsubscribed_at is not None
    again = unsubscribe_now(readers, "ADA@example.org")
    assert not again.changed
    assert again.unsubscribed_at == first.unsubscribed_at
    assert unsubscribe_now(readers, "eve@example.org") is None


def test_the_undo_token_resubscribes_once_and_only_that_unsubscription(readers):
    first = unsubscribe_now(readers, "ada@example.org")
    token = make_undo_token(SECRET, first)

    undone = undo(readers, token)
    assert undone is not None and undone.changed
    assert not unsubscribed(readers, "ada@example.org")
    assert not undo(readers, token).changed  # undoing twice is harmless

    # Unsubscribed again later: the first page's button cannot undo that.
    unsubscribe_now(readers, "ada@example.org")
    with pytest.raises(TokenError, match="earlier unsubscription"):
        undo(readers, token)
    assert unsubscribed(readers, "ada@example.org")


def test_an_undo_token_is_no_unsubscribe_token_and_needs_our_secret(readers):
    token = make_undo_token(SECRET, unsubscribe_now(readers, "ada@example.org"))
    with pytest.raises(TokenError, match="not valid here"):
        read_token(SECRET, token)
    with pytest.raises(TokenError, match="not valid here"):
        read_undo_token("another-secret-of-16+-chars", token)
    assert read_undo_token("another-secret-of-16+-chars", token, previous=SECRET)[0] == (
        "ada@example.org"
    )


def test_the_operator_resubscribes_by_address(cli, settings, readers):
    unsubscribe_now(readers, "ada@example.org")
    result = cli("subscribers", "resubscribe", "Ada@Example.org")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "ada@example.org resubscribed"
    assert not unsubscribed(readers, "ada@example.org")

    again = cli("subscribers", "resubscribe", "ada@example.org")
    assert again.stdout.strip() == "ada@example.org was not unsubscribed"

    listing = cli("subscribers", "list", "--json")
    ada = next(
        s for s in json.loads(listing.stdout.splitlines()[-1]) if s["email"].startswith("ada")
    )
    assert ada["unsubscribed"] is False


def test_resubscribing_someone_unknown_or_no_longer_listed_says_so(
    cli, settings, readers, tmp_path
):
    unknown = cli("subscribers", "resubscribe", "eve@example.org")
    assert unknown.exit_code == 1
    assert "no subscriber eve@example.org" in unknown.stderr

    unsubscribe_now(readers, "alan@example.org")
    only_ada = tmp_path / "ada.toml"
    only_ada.write_text('[[subscriber]]\nemail = "ada@example.org"\nkeywords = ["video"]\n')
    assert cli("subscribers", "sync", str(only_ada)).exit_code == 0
    result = cli("subscribers", "resubscribe", "alan@example.org")
    assert result.exit_code == 0
    assert result.stdout.strip() == "alan@example.org resubscribed"
    assert "not in the profile file" in result.stderr
