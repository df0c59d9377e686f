"""One bad entry never stops the day: an inbox with poison entries beside real pages, and a
profile file with one oversized entry, through `digest run` on SQLite and PostgreSQL.

Every good paper goes in, every subscriber gets a digest, the bad entries are named, no
traceback is printed, the next day's run is not stopped by the same files, and a page with
one withdrawn paper keeps all its other papers.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import shutil
from datetime import date, timedelta
from pathlib import Path

import pytest
from click.testing import Result
from sqlalchemy import select

from digest.config import Settings
from digest.db import make_engine, unit_of_work
from digest.models import Page, Paper
from digest.pages import parse_page
from tests.smtp_servers import SmtpServer
from tests.support import PAGES, PROFILES

DAY = date(2026, 3, 20)
ROOT = Path(__file__).resolve().parent
API_DAY = ROOT / "data" / "hf-api" / "2025-06-13.json"
# The real page of 224 papers; the paper whose abstract becomes a withdrawal notice is on
# no other sample page, so its absence shows.
WITHDRAWN_PAGE = "001_3bb45698569393bd.txt"
WITHDRAWN_TITLE = "StableAnimator: High-Quality Identity-Preserving Human Image Animation"
WITHDRAWN = "This paper has been withdrawn by the author due to a crucial error in the proof."
FILLER = (
    "We study xylophonic signals with a careful method, report experiments on several "
    "benchmarks, compare against strong baselines, and release code and data so that "
    "others can reproduce every number in this paper without asking us."
)
LIGATURES = "\ufdfa" * 268  # 268 characters that NFKC makes 4,518


def poisoned_api_day() -> tuple[bytes, list[str], list[str]]:
    """A real API answer with six entries made to overflow a column or a paper's sizes:
    the bytes, the good titles, the poisoned titles."""
    entries = json.loads(API_DAY.read_text(encoding="utf-8"))
    poisoned = copy.deepcopy(entries)
    poisoned[1]["paper"]["upvotes"] = 10**20  # over SQLite's 64 bits
    poisoned[2]["paper"]["upvotes"] = 3_000_000_000  # over PostgreSQL's integer
    poisoned[3]["paper"]["title"] = poisoned[3]["title"] = "Long " * 120  # 600 characters
    poisoned[4]["paper"]["githubRepo"] = "https://github.com/" + "r" * 600
    poisoned[5]["paper"]["id"] = "a" * 40 + "/0101001"
    poisoned[6]["paper"]["authors"].append({"name": "A" * 300})
    bad = {1, 2, 3, 4, 5, 6}
    titles = [" ".join(e["paper"]["title"].split()) for e in entries]
    good = [title for n, title in enumerate(titles) if n not in bad]
    lost = [title for n, title in enumerate(titles) if n in bad]
    return json.dumps(poisoned).encode(), good, lost


def ligature_page() -> bytes:
    return (
        "Get trending papers in your email inbox!\n\nMar 19\n\n"
        f"Xylophonic Signals Done Right\n\n{FILLER}\n\n{LIGATURES}\n\n{FILLER}\n"
    ).encode()


def withdrawn_page() -> tuple[bytes, list[str]]:
    """The real page with one abstract replaced by a withdrawal notice, and its other titles."""
    lines = (PAGES / WITHDRAWN_PAGE).read_text(encoding="utf-8").split("\n")
    at = lines.index(WITHDRAWN_TITLE)
    lines[at + 1] = WITHDRAWN
    page = parse_page((PAGES / WITHDRAWN_PAGE).read_bytes(), WITHDRAWN_PAGE, DAY)
    return "\n".join(lines).encode(), [p.title for p in page.papers if p.title != WITHDRAWN_TITLE]


@pytest.fixture
def poisoned(tmp_path: Path, settings: Settings, smtp_server: SmtpServer) -> Settings:
    inbox = settings.inbox
    inbox.mkdir()
    for page in PAGES.glob("*.txt"):
        if page.name != WITHDRAWN_PAGE:
            shutil.copy(page, inbox)
    (inbox / WITHDRAWN_PAGE).write_bytes(withdrawn_page()[0])
    (inbox / "2025-06-13.json").write_bytes(poisoned_api_day()[0])
    (inbox / "ligatures.txt").write_bytes(ligature_page())
    profiles = tmp_path / "profiles.toml"
    profiles.write_text(
        PROFILES.read_text(encoding="utf-8")
        + f'\n[[subscriber]]\nemail = "long@example.org"\nname = "{"N" * 201}"\n'
        'keywords = ["audio"]\n',
        encoding="utf-8",
    )
    return smtp_server.settings(dataclasses.replace(settings, profiles=profiles))


def run(cli, settings: Settings, day: date) -> tuple[Result, dict]:
    result = cli("run", "--date", day.isoformat(), "--json", settings_=settings)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    assert "Traceback" not in result.output
    return result, json.loads(result.stdout.splitlines()[-1])


def stored_titles(settings: Settings) -> set[str]:
    engine = make_engine(settings.database_url)
    try:
        with unit_of_work(engine) as session:
            return set(session.scalars(select(Paper.title)))
    finally:
        engine.dispose()


def recorded_pages(settings: Settings) -> list[str]:
    engine = make_engine(settings.database_url)
    try:
        with unit_of_work(engine) as session:
            return sorted(Path(s).name for s in session.scalars(select(Page.source)))
    finally:
        engine.dispose()


def test_poison_entries_are_named_and_skipped_and_the_day_goes_on(cli, poisoned, smtp_server):
    result, report = run(cli, poisoned, DAY)

    # Every subscriber of the file gets a digest; the oversized entry is named by field.
    assert sorted(report["sent"]) == ["ada@example.org", "alan@example.org", "grace@example.org"]
    assert sorted(r for e in smtp_server.log.accepted for r in e.rcpt_tos) == sorted(report["sent"])
    (problem,) = report["problems"]
    assert "subscriber #4 (long@example.org): name: 201 characters" in problem
    assert result.exit_code == 1  # the operator's own file needs fixing

    # Every page went in and is recorded; the bad entries are named by file and position.
    ingest = report["ingest"]
    assert ingest["errors"] == []
    assert ingest["pages_new"] == 7
    assert len(recorded_pages(poisoned)) == 7
    skipped = {(Path(e["source"]).name, e["line"], e["error"]) for e in ingest["skipped"]}
    api = "2025-06-13.json"
    assert {(name, line) for name, line, _ in skipped} == {
        (api, None),
        ("ligatures.txt", 9),
        (WITHDRAWN_PAGE, 43),
    }
    problems = sorted(error for name, _, error in skipped if name == api)
    assert problems == [
        "entry 2: upvote count of 21 digits out of range: paper skipped",
        "entry 3: upvote count 3000000000 out of range: paper skipped",
        "entry 4: title of 599 characters: paper skipped",
        "entry 5: code link of over 512 characters: paper skipped",
        "entry 6: arXiv id longer than an arXiv id: paper skipped",
        "entry 7: author name of over 200 characters: paper skipped",
    ]

    # Every good paper is in, the withdrawn one and the poisoned ones are not.
    _, good_api, lost_api = poisoned_api_day()
    _, others = withdrawn_page()
    titles = stored_titles(poisoned)
    assert set(good_api) <= titles
    assert set(others) <= titles
    assert "Xylophonic Signals Done Right" in titles
    assert titles.isdisjoint([*lost_api, WITHDRAWN_TITLE, LIGATURES, "Long " * 120])

    # The next day, the same files are known pages: nothing is read again or named again.
    result, again = run(cli, poisoned, DAY + timedelta(days=1))
    assert again["ingest"]["errors"] == again["ingest"]["skipped"] == []
    assert (again["ingest"]["pages"], again["ingest"]["pages_new"]) == (7, 0)
    assert again["problems"] == [problem]
    assert again["failed"] == again["deferred"] == []
