"""Profiles that say more: seed papers in the profile file, and the subscriber's history."""

from __future__ import annotations

import dataclasses
import re
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from digest.candidates import corpus
from digest.db import make_engine, unit_of_work
from digest.errors import ProfileError
from digest.models import DeliveryItem, Subscriber
from digest.planning import HISTORY_DAYS, SENT_WEIGHT, history_positives
from digest.profiles import load_profiles, sync_profiles
from digest.ranking import Document
from tests.support import PAGES

DAY = "2026-03-20"
NERV = "NERV++: An Enhanced Implicit Neural Video Representation"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "profiles.toml"
    path.write_text(text)
    return path


def test_seeds_by_title_or_inline_and_keywords_become_optional(tmp_path):
    (profile,) = load_profiles(
        write(
            tmp_path,
            f"""
[[subscriber]]
email = "lee@example.org"
seeds = ["{NERV}", {{ title = "My own paper", abstract = "We compress   video." }}]
""",
        )
    )
    assert profile.keywords == {}
    assert profile.seeds == [
        {"title": NERV},
        {"title": "My own paper", "abstract": "We compress video."},
    ]


@pytest.mark.parametrize(
    ("seeds", "problem"),
    [
        ('"a title"', "seeds: must be a list"),
        ("[42]", "seeds #1: must be a title or a { title, abstract } table"),
        ('[{ abstract = "text" }]', "seeds #1: title: missing"),
        ('[{ title = "T", doi = "x" }]', "seeds #1: unknown key 'doi'"),
        ('[{ title = "..." }]', "seeds #1: title: must be text"),
    ],
)
def test_bad_seeds_are_named(tmp_path, seeds, problem):
    path = write(tmp_path, f'[[subscriber]]\nemail = "lee@example.org"\nseeds = {seeds}\n')
    with pytest.raises(ProfileError) as caught:
        load_profiles(path)
    assert f"subscriber #1 (lee@example.org): {problem}" in str(caught.value)


def test_no_keywords_and_no_seeds_is_still_an_error(tmp_path):
    with pytest.raises(ProfileError, match="keywords: missing"):
        load_profiles(write(tmp_path, '[[subscriber]]\nemail = "lee@example.org"\n'))


def test_a_seed_only_subscriber_gets_papers_like_their_seed_and_is_told_why(
    cli, settings, tmp_path
):
    profiles = write(tmp_path, f'[[subscriber]]\nemail = "lee@example.org"\nseeds = ["{NERV}"]\n')
    lab = dataclasses.replace(settings, profiles=profiles)
    assert cli("ingest", str(PAGES), "--date", DAY, settings_=lab).exit_code == 0
    assert cli("subscribers", "sync", str(profiles), settings_=lab).exit_code == 0
    result = cli("preview", "lee@example.org", "--date", DAY, "--text", settings_=lab)
    assert result.exit_code == 0, result.output
    text = result.stdout
    titles = re.findall(r"^\d+\. (.+)$", text, flags=re.MULTILINE)
    assert (titles and NERV not in titles[:1]) or len(titles) > 1
    assert any("Neural" in t or "Video" in t or "NeRV" in t for t in titles[:3])
    assert f"Why: like {NERV}" in text
    assert "Key terms:" in text


def test_history_gives_the_papers_sent_before_as_weak_positives(cli, settings, tmp_path):
    profiles = write(
        tmp_path, '[[subscriber]]\nemail = "ada@example.org"\nkeywords = ["video compression"]\n'
    )
    lab = dataclasses.replace(settings, profiles=profiles)
    (lab.inbox).mkdir()
    for page in sorted(PAGES.glob("*.txt")):
        (lab.inbox / page.name).write_bytes(page.read_bytes())
    assert cli("run", "--date", DAY, settings_=lab).exit_code == 0

    engine = make_engine(lab.database_url)
    with unit_of_work(engine) as session:
        sent = session.scalars(select(DeliveryItem).order_by(DeliveryItem.rank)).all()
        subscriber_id = sent[0].subscriber_id
        stored = {doc.id: doc for doc in corpus(session, date(2026, 3, 20))}

        def positives(day: date) -> dict[int, list[tuple[Document, float]]]:
            return history_positives(session, stored, day)

        same_day = positives(date(2026, 3, 20))
        later = positives(date(2026, 3, 21))
        last_counted = positives(date(2026, 3, 20) + timedelta(days=HISTORY_DAYS))
        too_old = positives(date(2026, 3, 21) + timedelta(days=HISTORY_DAYS))
        # Papers outside the model's corpus (older than its window) are read from the store.
        read_here = history_positives(session, {}, date(2026, 3, 21))
        titles = [item.paper.title for item in sent]
    assert same_day == {}
    assert [doc.id for doc, _ in later[subscriber_id]] == [item.paper_id for item in sent]
    assert [doc.title for doc, _ in later[subscriber_id]] == titles
    assert {weight for _, weight in later[subscriber_id]} == {SENT_WEIGHT}
    assert last_counted == later
    assert read_here == later
    assert too_old == {}


def test_seeds_sync_to_the_database(engine, tmp_path):
    path = write(
        tmp_path,
        '[[subscriber]]\nemail = "lee@example.org"\nkeywords = ["video"]\n'
        'seeds = [{ title = "T", abstract = "A" }]\n',
    )
    sync_profiles(engine, path)
    with unit_of_work(engine) as session:
        (lee,) = session.scalars(select(Subscriber)).all()
        assert lee.seeds == [{"title": "T", "abstract": "A"}]
