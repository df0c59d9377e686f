"""Profiles that say more: seed papers in the profile file, and the subscriber's history."""

from __future__ import annotations

import dataclasses
import email
import email.policy
import re
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from digest.candidates import corpus
from digest.compose import SEED_CHARS, clipped
from digest.db import make_engine, unit_of_work
from digest.errors import ProfileError
from digest.feedback import DOWN, UP, Ballot, record_vote
from digest.models import Delivery, DeliveryItem, Paper, Subscriber
from digest.planning import HISTORY_DAYS, SENT_WEIGHT, Planned, history_positives, plan_digests
from digest.profiles import load_profiles, sync_profiles
from digest.ranking import Document, Interest, InterestModel
from digest.typography import typeset
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
    # The seed that counts most, shortened; what the reader subscribed with.
    assert f"   Close to a paper you chose: {NERV[:40]}" in text
    assert "Key terms:" in text
    assert "subscribed with papers they chose." in text


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


# --- votes -------------------------------------------------------------------------------------


def run_day(cli, lab, day: str, pages: list[Path]) -> None:
    """The day's pages in the inbox, then `digest run` for that day."""
    lab.inbox.mkdir(exist_ok=True)
    for page in pages:
        (lab.inbox / page.name).write_bytes(page.read_bytes())
    result = cli("run", "--date", day, settings_=lab)
    assert result.exit_code == 0, result.output


def sent_papers(engine, day: date) -> list[tuple[int, str]]:
    """The papers of the day's digest to ada, in order: (id, title)."""
    with unit_of_work(engine) as session:
        rows = session.execute(
            select(Paper.id, Paper.title)
            .join(DeliveryItem, DeliveryItem.paper_id == Paper.id)
            .join(Delivery, DeliveryItem.delivery_id == Delivery.id)
            .where(Delivery.digest_date == day)
            .order_by(DeliveryItem.rank)
        )
        return [(row.id, row.title) for row in rows]


def cast(engine, paper_id: int, vote: str) -> None:
    with unit_of_work(engine) as session:
        assert record_vote(session, Ballot("ada@example.org", paper_id, vote))


def mail_of(lab, day: date) -> str:
    """The plain-text part of the day's email, from the outbox folder."""
    texts = []
    for path in lab.outbox.glob("*.eml"):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        part = message.get_body(preferencelist=("plain",))
        assert part is not None
        texts.append(str(part.get_content()))
    (text,) = [text for text in texts if f"{day.day} {day:%B %Y}" in text]
    return text


def test_a_liked_paper_is_named_in_the_next_digest_and_voted_papers_are_never_sent(
    cli, settings, tmp_path
):
    """Day one sends papers; the reader likes one, and likes a paper of day two before it is
    sent (a preview's link). Day two names the liked paper as a reason and sends neither."""
    profiles = write(
        tmp_path,
        '[[subscriber]]\nemail = "ada@example.org"\nkeywords = ["video", "diffusion"]\n'
        "max_papers = 5\n",
    )
    lab = dataclasses.replace(settings, profiles=profiles)
    pages = sorted(PAGES.glob("*.txt"))
    engine = make_engine(lab.database_url)
    first, second = date(2026, 3, 20), date(2026, 3, 21)
    run_day(cli, lab, f"{first}", pages[:3])
    (liked_id, liked_title), *_ = sent_papers(engine, first)
    cast(engine, liked_id, UP)
    previewed = cli("ingest", *map(str, pages[3:]), "--date", f"{second}", settings_=lab)
    assert previewed.exit_code == 0, previewed.output
    with unit_of_work(engine) as session:
        (would_send, *_), *_ = [p.picks for p in planned_for(session, lab, second)]
    # Liked, it would be the first pick of all, were it not known to the reader.
    cast(engine, would_send.paper_id, UP)

    run_day(cli, lab, f"{second}", [])

    sent = [paper_id for paper_id, _ in sent_papers(engine, second)]
    assert sent
    assert liked_id not in sent and would_send.paper_id not in sent
    text = mail_of(lab, second)
    assert f"Because you liked: {clipped(typeset(liked_title), SEED_CHARS)}" in text


def planned_for(session, lab, day: date) -> list[Planned]:
    subscribers = list(session.scalars(select(Subscriber)))
    return plan_digests(session, lab, day, subscribers)


def test_a_vote_replaces_the_papers_weak_positive(cli, settings, tmp_path, monkeypatch):
    """A paper sent and then disliked is no positive of the reader's interest, and a paper
    sent and liked is a liked paper, not a weak positive too."""
    profiles = write(
        tmp_path, '[[subscriber]]\nemail = "ada@example.org"\nkeywords = ["video compression"]\n'
    )
    lab = dataclasses.replace(settings, profiles=profiles)
    pages = sorted(PAGES.glob("*.txt"))
    engine = make_engine(lab.database_url)
    day = date(2026, 3, 20)
    run_day(cli, lab, f"{day}", pages[:3])
    (up, _), (down, _), *rest = sent_papers(engine, day)
    assert rest
    cast(engine, up, UP)
    cast(engine, down, DOWN)
    seen: list[Interest] = []
    rank_many = InterestModel.rank_many

    def recording(model, interests, *args, **kwargs):
        seen.extend(interests)
        return rank_many(model, interests, *args, **kwargs)

    monkeypatch.setattr(InterestModel, "rank_many", recording)
    later = cli(
        "ingest", *map(str, pages[3:]), "--date", f"{day + timedelta(days=1)}", settings_=lab
    )
    assert later.exit_code == 0, later.output
    with unit_of_work(engine) as session:
        subscribers = list(session.scalars(select(Subscriber)))
        stored = {doc.id: doc for doc in corpus(session, day)}
        history = history_positives(session, stored, day + timedelta(days=1))
        planned_for(session, lab, day + timedelta(days=1))

    (interest,) = seen
    assert [doc.id for doc in interest.liked] == [up]
    assert [doc.id for doc in interest.disliked] == [down]
    positives = {doc.id for doc, _ in interest.positives}
    assert positives == {paper_id for paper_id, _ in rest}
    assert {doc.id for doc, _ in history[subscribers[0].id]} == {up, down} | positives
