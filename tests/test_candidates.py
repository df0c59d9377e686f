"""Which stored papers are new for which subscriber on a given day (real SQLite, real pages)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, select

from digest.candidates import candidates, corpus
from digest.db import unit_of_work
from digest.models import Paper, Subscriber
from digest.store import ingest
from tests.support import add_delivery, sqlite_only

DAY1 = date(2025, 3, 1)
DAY2 = date(2025, 3, 5)
DAY3 = date(2025, 3, 9)


@pytest.fixture(autouse=True, params=["by id", "by day and paper"])
def lookup(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test twice: with a few subscribers looked up by id, and as if they were many
    (by day for the previous digest, by paper for what was sent); IN lists split small."""
    if request.param == "by day and paper":
        monkeypatch.setattr("digest.candidates.LOOKUP_BY_ID", 0)
        monkeypatch.setattr("digest.db.CHUNK", 7)
    else:
        monkeypatch.setattr("digest.db.CHUNK", 1)


@pytest.fixture
def batches(engine: Engine, pages: Path) -> dict[date, set[int]]:
    """Three sample pages ingested on three days; the ids of the papers first seen each day."""
    files = sorted(pages.glob("*.txt"))
    for day, name in ((DAY1, "000_"), (DAY2, "003_"), (DAY3, "004_")):
        (path,) = [f for f in files if f.name.startswith(name)]
        report = ingest(engine, [path], day)
        assert report.errors == []
        assert report.papers_new > 0
    by_day: defaultdict[date, set[int]] = defaultdict(set)
    with unit_of_work(engine) as session:
        for paper_id, first_seen in session.execute(select(Paper.id, Paper.first_seen)):
            by_day[first_seen].add(paper_id)
    assert set(by_day) == {DAY1, DAY2, DAY3}
    return dict(by_day)


def add_subscribers(engine: Engine, *emails: str) -> list[Subscriber]:
    with unit_of_work(engine) as session:
        rows = [Subscriber(email=email, keywords={"video": 1.0}) for email in emails]
        session.add_all(rows)
        session.flush()
        return rows


def new_for(
    engine: Engine, subscribers: list[Subscriber], day: date, lookback_days: int = 30
) -> dict[int, set[int]]:
    with unit_of_work(engine) as session:
        return candidates(session, subscribers, day, lookback_days)


def test_papers_first_seen_after_the_digest_date_are_not_candidates(
    engine: Engine, batches: dict[date, set[int]]
) -> None:
    (ada,) = add_subscribers(engine, "ada@example.org")

    assert new_for(engine, [ada], DAY2) == {ada.id: batches[DAY1] | batches[DAY2]}
    assert new_for(engine, [ada], DAY1) == {ada.id: batches[DAY1]}
    assert new_for(engine, [ada], DAY1 - timedelta(days=1)) == {ada.id: set()}
    assert new_for(engine, [ada], DAY3) == {ada.id: batches[DAY1] | batches[DAY2] | batches[DAY3]}


def test_papers_older_than_the_lookback_are_not_candidates(
    engine: Engine, batches: dict[date, set[int]]
) -> None:
    (ada,) = add_subscribers(engine, "ada@example.org")
    everything = batches[DAY1] | batches[DAY2] | batches[DAY3]

    # DAY1 is 8 days before DAY3, DAY2 4 days before.
    assert new_for(engine, [ada], DAY3, lookback_days=1) == {ada.id: batches[DAY3]}
    assert new_for(engine, [ada], DAY3, lookback_days=3) == {ada.id: batches[DAY3]}
    assert new_for(engine, [ada], DAY3, lookback_days=5) == {ada.id: batches[DAY2] | batches[DAY3]}
    assert new_for(engine, [ada], DAY3, lookback_days=9) == {ada.id: everything}
    # "the last 7 days" is DAY3 and the six days before it: DAY2 is in, DAY1 is out.
    assert new_for(engine, [ada], DAY3, lookback_days=7) == {ada.id: batches[DAY2] | batches[DAY3]}
    # The boundary: a paper exactly `lookback_days` old is out, one day younger is in.
    assert new_for(engine, [ada], DAY3, lookback_days=8) == {ada.id: batches[DAY2] | batches[DAY3]}
    assert new_for(engine, [ada], DAY2, lookback_days=4) == {ada.id: batches[DAY2]}
    assert new_for(engine, [ada], DAY2, lookback_days=5) == {ada.id: batches[DAY1] | batches[DAY2]}


def test_sent_papers_are_never_candidates_again_for_that_subscriber(
    engine: Engine, batches: dict[date, set[int]]
) -> None:
    ada, grace = add_subscribers(engine, "ada@example.org", "grace@example.org")
    sent = sorted(batches[DAY3])[:3]
    # An earlier run on DAY3 already recorded (and sent) three papers to Ada.
    add_delivery(engine, ada.id, DAY3, sent)

    new = new_for(engine, [ada, grace], DAY3)
    assert new[ada.id] == batches[DAY1] | batches[DAY2] | batches[DAY3] - set(sent)
    assert set(sent) <= new[grace.id]
    assert new[grace.id] == batches[DAY1] | batches[DAY2] | batches[DAY3]


def test_sent_papers_stay_excluded_when_planning_an_earlier_day(
    engine: Engine, batches: dict[date, set[int]]
) -> None:
    """Planning an earlier day afterwards (a backfill) does not bring sent papers back."""
    ada, grace = add_subscribers(engine, "ada@example.org", "grace@example.org")
    old = sorted(batches[DAY2])[:2]
    add_delivery(engine, ada.id, DAY3 + timedelta(days=1), old)

    new = new_for(engine, [ada, grace], DAY3, lookback_days=30)
    assert not set(old) & new[ada.id]
    assert set(old) <= new[grace.id]


def test_papers_up_to_the_previous_delivery_are_not_candidates(
    engine: Engine, batches: dict[date, set[int]]
) -> None:
    ada, grace, alan = add_subscribers(
        engine, "ada@example.org", "grace@example.org", "alan@example.org"
    )
    add_delivery(engine, ada.id, DAY2, sorted(batches[DAY2])[:1])  # on the day of the 2nd batch
    add_delivery(engine, alan.id, DAY2 - timedelta(days=1), [])  # between the 1st and 2nd batch

    new = new_for(engine, [ada, grace, alan], DAY3, lookback_days=30)

    assert new[ada.id] == batches[DAY3]
    assert new[alan.id] == batches[DAY2] | batches[DAY3]
    assert new[grace.id] == batches[DAY1] | batches[DAY2] | batches[DAY3]


def test_previous_delivery_older_than_the_lookback_does_not_widen_it(
    engine: Engine, batches: dict[date, set[int]]
) -> None:
    (ada,) = add_subscribers(engine, "ada@example.org")
    add_delivery(engine, ada.id, date(2025, 1, 1), [])
    assert new_for(engine, [ada], DAY3, lookback_days=5) == {ada.id: batches[DAY2] | batches[DAY3]}


def test_subscriber_set_only_contains_those_asked_about(
    engine: Engine, batches: dict[date, set[int]]
) -> None:
    ada, grace = add_subscribers(engine, "ada@example.org", "grace@example.org")
    assert set(new_for(engine, [grace], DAY3)) == {grace.id}
    assert set(new_for(engine, [ada, grace], DAY3)) == {ada.id, grace.id}
    assert new_for(engine, [], DAY3) == {}


def test_corpus_has_only_papers_first_seen_by_the_date(
    engine: Engine, batches: dict[date, set[int]]
) -> None:
    with unit_of_work(engine) as session:
        before = corpus(session, DAY1 - timedelta(days=1))
        first = corpus(session, DAY1)
        second = corpus(session, DAY2 + timedelta(days=2))
        everything = corpus(session, DAY3)
        titles = dict(session.execute(select(Paper.id, Paper.title)).all())

    assert before == []
    assert {doc.id for doc in first} == batches[DAY1]
    assert {doc.id for doc in second} == batches[DAY1] | batches[DAY2]
    assert {doc.id for doc in everything} == batches[DAY1] | batches[DAY2] | batches[DAY3]
    assert [doc.id for doc in everything] == sorted(doc.id for doc in everything)
    assert all(doc.title == titles[doc.id] and doc.abstract for doc in everything)


def test_corpus_keeps_the_most_recent_papers_and_the_days_candidates(
    engine: Engine, batches: dict[date, set[int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    newest = len(batches[DAY3]) + 2
    monkeypatch.setattr("digest.candidates.MODEL_PAPERS", newest)
    oldest = sorted(batches[DAY1])[:3]
    with unit_of_work(engine) as session:
        recent = corpus(session, DAY3)
        with_old = corpus(session, DAY3, include=[*oldest, *batches[DAY3]])
        all_titles = dict(session.execute(select(Paper.id, Paper.title)).all())

    # All of the last day, and the two newest of the day before (ties by id, newest first).
    ids = [doc.id for doc in recent]
    assert len(ids) == newest and ids == sorted(ids)
    assert batches[DAY3] <= set(ids)
    assert set(ids) - batches[DAY3] == set(sorted(batches[DAY2])[-2:])
    # Candidates older than the window are read as well, each once.
    assert [doc.id for doc in with_old] == sorted({*ids, *oldest})
    assert all(doc.title == all_titles[doc.id] for doc in with_old)


def test_a_paper_listed_again_keeps_its_first_day(
    engine: Engine, batches: dict[date, set[int]]
) -> None:
    """Page 004 repeats papers of page 000: they belong to DAY1, not DAY3."""
    with unit_of_work(engine) as session:
        lossless = session.scalar(
            select(Paper).where(Paper.title == "Lossless Compression with Probabilistic Circuits")
        )
    assert lossless is not None
    assert lossless.first_seen == DAY1
    assert lossless.id in batches[DAY1]
    (ada,) = add_subscribers(engine, "ada@example.org")
    assert lossless.id not in new_for(engine, [ada], DAY3, lookback_days=3)[ada.id]


@sqlite_only
def test_no_lookup_reads_a_whole_table(engine: Engine, batches: dict[date, set[int]]) -> None:
    """Every query candidates() makes searches an index: none scans the papers or the history,
    which grow by a thousand papers and a million items a day."""
    ada, grace = add_subscribers(engine, "ada@example.org", "grace@example.org")
    add_delivery(engine, ada.id, DAY2, sorted(batches[DAY2])[:2])
    later = sorted(batches[DAY3])[:2]
    add_delivery(engine, grace.id, DAY3 + timedelta(days=1), later)
    statements: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, sql: str, parameters: Any, *args: Any) -> None:
        statements.append((sql, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        new = new_for(engine, [ada, grace], DAY3, lookback_days=30)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert new[ada.id] == batches[DAY3]
    assert new[grace.id] == (batches[DAY1] | batches[DAY2] | batches[DAY3]) - set(later)
    queries = [(sql, p) for sql, p in statements if sql.lstrip().upper().startswith("SELECT")]
    assert len(queries) >= 3
    with engine.connect() as connection:
        for sql, parameters in queries:
            plan = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", parameters).all()
            steps = [row[-1] for row in plan]
            assert not [s for s in steps if s.startswith("SCAN")], (sql, steps)
