"""Votes on papers: signed ballots, the last vote standing, and `digest feedback list`."""

from __future__ import annotations

import json
from datetime import date

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from digest.db import unit_of_work
from digest.errors import NotFoundError
from digest.feedback import Ballot, list_votes, record_vote, standing, vote_signer
from digest.models import Paper, Vote
from digest.profiles import sync_profiles
from digest.store import ingest
from digest.tokens import TokenError
from digest.unsubscribe import make_token
from tests.support import PAGES, PROFILES

SECRET = "test-secret-not-for-production"


@pytest.fixture
def stored(engine):
    """The example subscribers and pages stored; the first papers' ids."""
    sync_profiles(engine, PROFILES)
    assert ingest(engine, [PAGES], date(2026, 3, 20)).errors == []
    with unit_of_work(engine) as session:
        return list(session.scalars(select(Paper.id).order_by(Paper.id).limit(3)))


def vote(engine, email: str, paper_id: int, choice: str) -> bool:
    with unit_of_work(engine) as session:
        return record_vote(session, Ballot(email, paper_id, choice))


def test_a_ballot_round_trips_through_its_token_and_nothing_else_reads_it():
    signer = vote_signer(SECRET)
    ballot = Ballot("ada@example.org", 42, "down")
    assert Ballot.read(signer, ballot.token(signer)) == ballot
    with pytest.raises(TokenError, match="not valid here"):
        Ballot.read(signer, make_token(SECRET, "ada@example.org"))
    # Signed, but not a ballot: a vote other than up or down is refused all the same.
    with pytest.raises(TokenError, match="not a vote token"):
        Ballot.read(signer, signer.sign(b"maybe:42:ada@example.org"))


def test_the_last_vote_stands_and_repeating_it_changes_nothing(engine, stored):
    paper = stored[0]
    assert vote(engine, "ada@example.org", paper, "up") is True
    first = list_votes_of(engine, "ada@example.org")
    assert vote(engine, "ada@example.org", paper, "up") is False
    assert list_votes_of(engine, "ada@example.org") == first  # not even its time moved

    assert vote(engine, "ada@example.org", paper, "down") is True
    (now,) = list_votes_of(engine, "ada@example.org")
    assert now.vote == "down"
    assert now.at >= first[0].at
    with unit_of_work(engine) as session:
        assert session.scalar(select(Vote.vote).where(Vote.paper_id == paper)) == "down"
        shown = standing(session, Ballot("ada@example.org", paper, "up"))
    assert (shown.paper.id, shown.vote, shown.voted_at) == (paper, "down", now.at)


def list_votes_of(engine, email: str | None = None):
    with unit_of_work(engine) as session:
        return list_votes(session, email)


def test_votes_are_one_per_subscriber_and_paper(engine, stored):
    vote(engine, "ada@example.org", stored[0], "up")
    vote(engine, "alan@example.org", stored[0], "down")
    vote(engine, "ada@example.org", stored[1], "down")
    with unit_of_work(engine) as session:
        rows = session.execute(select(Vote.subscriber_id, Vote.paper_id, Vote.vote)).all()
        assert len(rows) == 3
    # The database itself refuses a second row for the same subscriber and paper.
    with pytest.raises(IntegrityError), unit_of_work(engine) as session:
        subscriber_id, paper_id, _ = rows[0]
        session.add(Vote(subscriber_id=subscriber_id, paper_id=paper_id, vote="up"))
    with pytest.raises(IntegrityError), unit_of_work(engine) as session:
        session.add(Vote(subscriber_id=rows[0][0], paper_id=stored[2], vote="meh"))


def test_a_vote_for_a_paper_or_subscriber_not_stored_is_refused(engine, stored):
    with pytest.raises(NotFoundError, match="no longer stored"):
        vote(engine, "ada@example.org", 10**9, "up")
    with pytest.raises(NotFoundError, match="no longer stored"):
        vote(engine, "eve@example.org", stored[0], "up")
    assert list_votes_of(engine) == []


def test_feedback_list_shows_every_vote_and_ends_with_json(cli, settings, engine, stored):
    vote(engine, "ada@example.org", stored[0], "up")
    vote(engine, "alan@example.org", stored[1], "down")
    with unit_of_work(engine) as session:
        title, arxiv_id = session.execute(
            select(Paper.title, Paper.arxiv_id).where(Paper.id == stored[0])
        ).one()

    result = cli("feedback", "list", "--json")
    assert result.exit_code == 0, result.output
    *lines, last = result.stdout.splitlines()
    assert len(lines) == 2
    assert "up    ada@example.org" in lines[0]
    assert title in lines[0]
    listed = json.loads(last)
    assert [(v["email"], v["vote"]) for v in listed] == [
        ("ada@example.org", "up"),
        ("alan@example.org", "down"),
    ]
    assert set(listed[0]) == {"email", "title", "arxiv_id", "vote", "at"}
    assert (listed[0]["title"], listed[0]["arxiv_id"]) == (title, arxiv_id)
    assert listed[0]["at"].endswith("+00:00")

    mine = cli("feedback", "list", "ALAN@example.org", "--json")
    assert [v["email"] for v in json.loads(mine.stdout.splitlines()[-1])] == ["alan@example.org"]
    none = cli("feedback", "list", "grace@example.org", "--json")
    assert none.stdout.splitlines() == ["no votes yet", "[]"]


def test_feedback_list_of_an_unknown_address_is_an_error(cli, engine, stored):
    result = cli("feedback", "list", "eve@example.org")
    assert result.exit_code == 1
    assert result.stderr.strip() == "error: no subscriber eve@example.org"
