"""A reader's library as their profile: its papers are seeds, named in the email's "why",
never sent back to them; a library that cannot be read fails nobody's digest."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from pathlib import Path

from digest.compose import SEED_CHARS, clipped
from digest.config import Settings
from digest.library import parse_export, read_export
from digest.typography import typeset
from tests.support import PAGES, ROOT

DAY = "2026-03-20"
EXAMPLE = ROOT / "examples" / "library" / "ada.bib"
HNERV = "HNeRV: A Hybrid Neural Representation for Videos"
LIBRARY = [seed["title"] for seed in parse_export(read_export(EXAMPLE), EXAMPLE).seeds]


def reader(settings: Settings, tmp_path: Path, entry: str) -> Settings:
    """Settings whose profile file holds one reader, lee@example.org, as `entry` says."""
    profiles = tmp_path / "profiles.toml"
    profiles.write_text(f'[[subscriber]]\nemail = "lee@example.org"\n{entry}\n')
    return dataclasses.replace(settings, profiles=profiles)


def picks(cli, settings: Settings) -> tuple[list[str], str]:
    """The titles lee's digest would hold today, and its text."""
    assert cli("ingest", str(PAGES), "--date", DAY, settings_=settings).exit_code == 0
    synced = cli("subscribers", "sync", str(settings.profiles), settings_=settings)
    assert synced.exit_code == 0, synced.output
    ranked = cli("rank", "lee@example.org", "--date", DAY, "--json", settings_=settings)
    assert ranked.exit_code == 0, ranked.output
    titles = [pick["title"] for pick in json.loads(ranked.stdout.splitlines()[-1])["picks"]]
    result = cli("preview", "lee@example.org", "--date", DAY, "--text", settings_=settings)
    assert result.exit_code == 0, result.output
    return titles, result.stdout


def test_a_library_alone_is_a_profile_and_its_papers_are_named_as_seeds(cli, settings, tmp_path):
    shutil.copy(EXAMPLE, tmp_path / "mine.bib")
    titles, text = picks(cli, reader(settings, tmp_path, 'library = "mine.bib"'))

    assert titles
    assert any("Neural Representation" in t or "Video" in t for t in titles[:3])
    named = re.findall(r"^   Close to a paper you chose: (.+)$", text, flags=re.MULTILINE)
    # No keywords: every pick is named by the paper of the library it is most like.
    assert len(named) == len(titles)
    assert set(named) <= {clipped(typeset(title), SEED_CHARS) for title in LIBRARY}
    assert len(set(named)) > 1


def test_a_library_paper_that_is_stored_is_never_a_pick(cli, settings, tmp_path):
    keywords = 'keywords = ["HNeRV"]'
    without, _ = picks(cli, reader(settings, tmp_path, keywords))
    assert HNERV in without  # the day's pages list it

    (tmp_path / "mine.json").write_text(json.dumps([{"title": HNERV, "issued": {"raw": "2023"}}]))
    with_library, _ = picks(cli, reader(settings, tmp_path, f'{keywords}\nlibrary = "mine.json"'))
    assert with_library
    assert HNERV not in with_library


def test_an_unreadable_library_fails_no_digest(cli, lab, tmp_path):
    (tmp_path / "library" / "ada.bib").write_text("@article{ada, title = {Unclosed\n")

    result = cli("run", "--date", DAY, "--json", settings_=lab)

    report = json.loads(result.stdout.splitlines()[-1])
    assert result.exit_code == 1  # a partial failure
    assert sorted(report["sent"]) == ["ada@example.org", "alan@example.org", "grace@example.org"]
    (problem,) = report["problems"]
    assert problem.startswith(f"ada@example.org: {tmp_path / 'library' / 'ada.bib'}:1: ")
    assert problem.endswith("no library seeds until it can be read")
